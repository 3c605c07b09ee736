//! Rateless set coding (a rateless invertible Bloom lookup table, Yang, Gilad and Alizadeh, SIGCOMM 2024) over
//! `u64` keys, with a fixed hash, so that a replica keeps a prefix of its coded symbols up to date as it grows.
//!
//! # Cells
//! A *cell* (coded symbol) summarises a subset of the keys: `sum` is the XOR of the keys, `tag` packs the XOR of
//! their 24-bit checksums (low 24 bits) and their count modulo 256 (high 8 bits). Key `x` belongs to cell `i` when
//! `i` is in its *index sequence* ([`Indices`]): 0 first, then gaps drawn from a PRNG seeded by `mix64(x ^ MAP)`,
//! such that cell `i` holds each key with probability about `1 / (1 + i/2)`. So the first `m` cells hold each key
//! about `2·ln(m/2)` times (15 for the 4096 cells of a [`CodedPrefix`]), the first cell holds every key, and a
//! prefix of any length is a valid code: *rateless*.
//!
//! # Differences and peeling
//! The cell-wise difference of two replicas' prefixes (XOR the sums and checksums, subtract the counts) is the
//! coding of their symmetric difference: keys held by both cancel. A difference cell holding exactly one key has
//! count ±1 (+1: the peer holds it, −1: we do), a sum equal to the key, a checksum equal to the key's checksum,
//! and its index in the key's sequence. [`Decoder`] repeatedly takes such a *pure* cell, records the key and
//! removes it from every other cell it belongs to; it has decoded everything when every cell is zero. About 1.35
//! to 2 cells per difference suffice (measured in benches/README.md).
//!
//! # What can go wrong, and why it is harmless
//! A cell holding several keys can pass the pure test by chance (its sum's checksum matches: probability 2^-24,
//! times the chance that its count is ±1 and its index is in the sum's sequence). The decoder would then record a
//! wrong key. Callers never trust a decode on its own: they check it against both replicas' element counts and
//! 64-bit set hashes ([`SetHash`]), and a decode that does not check out counts as a failure (more cells are
//! asked for, or the state is sent). Count fields are modulo 256: a difference cell holding 256 more keys of one
//! side than the other reads as count 0; it is then not pure, and cannot look zero unless its sum and checksum
//! also cancel, which the set hash check catches as well.
//!
//! # Key spaces
//! A replica may code keys of two kinds ([`Space`]): *integer* keys, which are the elements themselves (a
//! [`crate::GSet`], the integers of a [`crate::JsonSet`]), and *hashed* keys, 64-bit hashes of an item's wire
//! record (a JSON value, a counter entry), which stand for the item and are exchanged for it once decoded. The two
//! spaces share the cells and index sequences but use different checksums and set hashes, so a pure cell says
//! which kind of key it holds (a cell passing both checksums is taken for impure).
//!
//! All hashing is fixed integer arithmetic plus IEEE-754 double operations that are correctly rounded on every
//! platform (`sqrt`, `*`, `/`, `ceil`); golden-value tests pin the sequences.

use crate::fingerprint::mix64;

/// Cells in the prefix every replica keeps up to date. At about 1.4 cells per difference, a prefix decodes up to
/// ~2 800 differences without walking the set; beyond it, cells are computed from the elements ([`cells_from`]).
pub const PREFIX_CELLS: usize = 4096;
/// Bytes of one cell on the wire: the 8-byte sum and the 4-byte tag, little-endian.
pub const CELL_BYTES: usize = 12;
/// Width of the per-key checksum.
pub const CHECK_BITS: u32 = 24;
const CHECK_MASK: u32 = (1 << CHECK_BITS) - 1;

const MAP: u64 = 0x6f73_6d6f_7369_734d; // "osmosisM"
const CHECK: u64 = 0x6f73_6d6f_7369_7343; // "osmosisC"
const SET_HASH: u64 = 0x6f73_6d6f_7369_7348; // "osmosisH"
const SIGNS: u64 = 0x6f73_6d6f_7369_7353; // "osmosisS"
const CHECK_HASHED: u64 = 0x6f73_6d6f_7369_7363; // "osmosisc"
const SET_HASH_HASHED: u64 = 0x6f73_6d6f_7369_7368; // "osmosish"
const RECORD: u64 = 0x6f73_6d6f_7369_7352; // "osmosisR"

/// The kind of a key (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// The key is the element itself.
    Int,
    /// The key is the hash of an item's record ([`record_key`]).
    Hashed,
}

/// The hashed key of an item's wire record.
pub(crate) fn record_key(record: &[u8]) -> u64 {
    crate::fingerprint::hash_bytes(record, RECORD)
}

/// Entries of a replica's tug-of-war sketch (see [`Tow`]).
pub const TOW: usize = 20;

/// The 24-bit checksum of an integer key; never zero for key 0, so a pure cell holding key 0 is not a zero cell.
pub(crate) fn checksum(x: u64) -> u32 {
    ((mix64(x ^ CHECK) >> 40) as u32) | u32::from(x == 0 && mix64(CHECK) >> 40 == 0)
}

/// The 24-bit checksum of a key of `space` (never zero for key 0).
pub(crate) fn checksum_in(space: Space, x: u64) -> u32 {
    match space {
        Space::Int => checksum(x),
        Space::Hashed => ((mix64(x ^ CHECK_HASHED) >> 40) as u32) | u32::from(x == 0 && mix64(CHECK_HASHED) >> 40 == 0),
    }
}

/// The keyed hash a [`SetHash`] sums.
fn element_hash(space: Space, x: u64) -> u64 {
    match space {
        Space::Int => mix64(x ^ SET_HASH),
        Space::Hashed => mix64(x ^ SET_HASH_HASHED),
    }
}

/// The index sequence of a key: the cells it belongs to, ascending, 0 first (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Indices {
    state: u64,
    next: u64,
}

impl Indices {
    pub(crate) fn of(x: u64) -> Indices {
        Indices { state: mix64(x ^ MAP), next: 0 }
    }
}

impl Iterator for Indices {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        const TWO_32: f64 = 4_294_967_296.0;
        let current = self.next;
        self.state = self.state.wrapping_mul(0xda94_2042_e4dd_58b5);
        let r = self.state as f64;
        let gap = ((current as f64 + 1.5) * (TWO_32 / (r + 1.0).sqrt() - 1.0)).ceil();
        // `as` saturates: a huge gap ends the sequence at u64::MAX, far beyond any cell.
        self.next = current.saturating_add((gap as u64).max(1));
        Some(current)
    }
}

/// One cell (see the module docs). `tag` = count mod 256 (high byte) | XOR of 24-bit checksums (low 24 bits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    sum: u64,
    tag: u32,
}

impl Cell {
    /// Adds (`up`) or removes one key.
    fn toggle(&mut self, x: u64, check: u32, up: bool) {
        let count = (self.tag >> CHECK_BITS) as u8;
        let count = if up { count.wrapping_add(1) } else { count.wrapping_sub(1) };
        self.sum ^= x;
        self.tag = (u32::from(count) << CHECK_BITS) | ((self.tag ^ check) & CHECK_MASK);
    }

    /// `self − mine`: the coding of the symmetric difference (count positive for keys only `self` holds).
    pub(crate) fn minus(self, mine: Cell) -> Cell {
        let count = ((self.tag >> CHECK_BITS) as u8).wrapping_sub((mine.tag >> CHECK_BITS) as u8);
        Cell { sum: self.sum ^ mine.sum, tag: (u32::from(count) << CHECK_BITS) | ((self.tag ^ mine.tag) & CHECK_MASK) }
    }

    fn count(self) -> i8 {
        (self.tag >> CHECK_BITS) as u8 as i8
    }

    fn is_zero(self) -> bool {
        self.sum == 0 && self.tag == 0
    }

    /// The XOR of the keys.
    pub(crate) fn sum(self) -> u64 {
        self.sum
    }

    /// Writes the sum in its low `width` bytes (the caller checked that it fits) and the tag in 4, little-endian.
    pub(crate) fn write(self, out: &mut Vec<u8>, width: usize) {
        out.extend_from_slice(&self.sum.to_le_bytes()[..width]);
        out.extend_from_slice(&self.tag.to_le_bytes());
    }

    /// Reads a record written with `width` (`record.len() == width + 4`, width ≤ 8); any bytes are a valid cell.
    pub(crate) fn read(record: &[u8], width: usize) -> Cell {
        let mut sum = [0u8; 8];
        sum[..width].copy_from_slice(&record[..width]);
        let mut tag = [0u8; 4];
        tag.copy_from_slice(&record[width..width + 4]);
        Cell { sum: u64::from_le_bytes(sum), tag: u32::from_le_bytes(tag) }
    }
}

/// An order-independent 64-bit hash of a set of keys with its size: equal sets have equal hashes, and a decoded
/// difference is checked against both sides' hashes before anything is applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetHash {
    /// Number of keys.
    pub len: u64,
    /// Wrapping sum of the keys' keyed hashes.
    pub hash: u64,
}

impl SetHash {
    pub(crate) fn add(&mut self, space: Space, x: u64) {
        self.len = self.len.wrapping_add(1);
        self.hash = self.hash.wrapping_add(element_hash(space, x));
    }

    pub(crate) fn remove(&mut self, space: Space, x: u64) {
        self.len = self.len.wrapping_sub(1);
        self.hash = self.hash.wrapping_sub(element_hash(space, x));
    }
}

/// A tug-of-war sketch (Alon, Matias and Szegedy 1996): entry `j` is `Σ s_j(x)` over the keys, with signs
/// `s_j(x) = ±1` from bit `j` of `mix64(x ^ S)`, modulo 256. The entry-wise difference of two replicas' sketches is
/// a sum of ±1 over their symmetric difference, so its mean square estimates the number of differing keys `d`
/// (relative standard deviation `sqrt(2/TOW)` ≈ 32 %), as long as `|difference|` stays below 128 (d up to a few
/// thousand). It lets the first reply of a round size its batch for a symmetric difference that counts cannot
/// see (two replicas with equally many elements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tow(pub [u8; TOW]);

impl Tow {
    fn toggle(&mut self, x: u64, up: bool) {
        let signs = mix64(x ^ SIGNS);
        for (j, e) in self.0.iter_mut().enumerate() {
            let plus = (signs >> j) & 1 == 1;
            *e = if plus == up { e.wrapping_add(1) } else { e.wrapping_sub(1) };
        }
    }

    /// The estimated size of the symmetric difference between the two sketched sets.
    pub fn estimate(&self, other: &Tow) -> f64 {
        let sum: f64 = self.0.iter().zip(&other.0).map(|(a, b)| f64::from(a.wrapping_sub(*b) as i8).powi(2)).sum();
        sum / TOW as f64
    }
}

/// The first [`PREFIX_CELLS`] cells of a replica's keys, its [`SetHash`] and its [`Tow`] sketch, kept up to date
/// key by key (about 15 cells and 20 sketch entries touched per key).
#[derive(Clone, PartialEq, Eq)]
pub struct CodedPrefix {
    cells: Vec<Cell>,
    set: SetHash,
    tow: Tow,
}

impl std::fmt::Debug for CodedPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodedPrefix({} keys)", self.set.len)
    }
}

impl Default for CodedPrefix {
    fn default() -> Self {
        CodedPrefix { cells: vec![Cell::default(); PREFIX_CELLS], set: SetHash::default(), tow: Tow::default() }
    }
}

impl CodedPrefix {
    /// The prefix of `keys` (each key once).
    pub(crate) fn from_keys(keys: impl Iterator<Item = (Space, u64)>) -> CodedPrefix {
        let mut p = CodedPrefix::default();
        for (space, x) in keys {
            p.add(space, x);
        }
        p
    }

    /// Adds a key that was not in the set.
    pub(crate) fn add(&mut self, space: Space, x: u64) {
        self.toggle(space, x, true);
        self.set.add(space, x);
    }

    /// Removes a key that was in the set (a counter entry's key, when the entry grows).
    pub(crate) fn remove(&mut self, space: Space, x: u64) {
        self.toggle(space, x, false);
        self.set.remove(space, x);
    }

    fn toggle(&mut self, space: Space, x: u64, up: bool) {
        self.tow.toggle(x, up);
        let check = checksum_in(space, x);
        for i in Indices::of(x).take_while(|&i| i < PREFIX_CELLS as u64) {
            self.cells[i as usize].toggle(x, check, up);
        }
    }

    /// The cells.
    pub(crate) fn cells(&self) -> &[Cell] {
        &self.cells
    }

    /// Count and hash of the keys.
    pub(crate) fn set_hash(&self) -> SetHash {
        self.set
    }

    /// The tug-of-war sketch of the keys.
    pub(crate) fn tow(&self) -> Tow {
        self.tow
    }
}

/// A replica's [`CodedPrefix`], built on first use and kept up to date from then on. It is derived data: two
/// replicas are equal whatever their prefixes (its `PartialEq` always holds), and a delta never builds one.
#[derive(Clone, Default)]
pub(crate) struct LazyPrefix(std::sync::OnceLock<Box<CodedPrefix>>);

impl LazyPrefix {
    /// The prefix, built from `keys` if this is its first use.
    pub(crate) fn get_or_build<I: Iterator<Item = (Space, u64)>>(&self, keys: impl FnOnce() -> I) -> &CodedPrefix {
        self.0.get_or_init(|| Box::new(CodedPrefix::from_keys(keys())))
    }

    /// The prefix, if built (to update it).
    pub(crate) fn get_mut(&mut self) -> Option<&mut CodedPrefix> {
        self.0.get_mut().map(|p| &mut **p)
    }

    /// The prefix, if built (to check it).
    pub(crate) fn get(&self) -> Option<&CodedPrefix> {
        self.0.get().map(|p| &**p)
    }
}

impl PartialEq for LazyPrefix {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LazyPrefix {}

impl std::fmt::Debug for LazyPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() { "LazyPrefix(built)" } else { "LazyPrefix(unbuilt)" })
    }
}

/// Cells `from..to` of `keys`, computed by walking them (for cells beyond the prefix).
pub(crate) fn cells_from(keys: impl Iterator<Item = (Space, u64)>, from: usize, to: usize) -> Vec<Cell> {
    let mut cells = vec![Cell::default(); to.saturating_sub(from)];
    for (space, x) in keys {
        let check = checksum_in(space, x);
        for i in Indices::of(x).skip_while(|&i| i < from as u64).take_while(|&i| i < to as u64) {
            cells[i as usize - from].toggle(x, check, true);
        }
    }
    cells
}

/// Keys of both spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// Integer keys (elements).
    pub ints: Vec<u64>,
    /// Hashed keys (standing for records).
    pub hashed: Vec<u64>,
}

impl Keys {
    /// The keys of `space`.
    pub fn of(&self, space: Space) -> &[u64] {
        match space {
            Space::Int => &self.ints,
            Space::Hashed => &self.hashed,
        }
    }

    fn push(&mut self, space: Space, x: u64) {
        match space {
            Space::Int => self.ints.push(x),
            Space::Hashed => self.hashed.push(x),
        }
    }

    /// Every key with its space.
    pub fn iter(&self) -> impl Iterator<Item = (Space, u64)> + '_ {
        let ints = self.ints.iter().map(|&x| (Space::Int, x));
        ints.chain(self.hashed.iter().map(|&x| (Space::Hashed, x)))
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.ints.len() + self.hashed.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The keys a peeled difference holds, by side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Difference {
    /// Keys only the peer holds.
    pub theirs: Keys,
    /// Keys only we hold.
    pub mine: Keys,
}

/// The space of the key a cell would hold if it were pure: the one whose checksum matches, if exactly one does.
fn pure_space(cell: Cell) -> Option<Space> {
    let check = cell.tag & CHECK_MASK;
    match (checksum(cell.sum) == check, checksum_in(Space::Hashed, cell.sum) == check) {
        (true, false) => Some(Space::Int),
        (false, true) => Some(Space::Hashed),
        _ => None,
    }
}

/// Peels a difference (`theirs.minus(mine)` cell by cell). Returns the keys if every cell peeled to zero, or `None`
/// (more cells are needed). The result is *not* verified: check it against both sides' [`SetHash`].
pub(crate) fn peel(mut cells: Vec<Cell>) -> Option<Difference> {
    let k = cells.len() as u64;
    let mut out = Difference::default();
    let mut stack: Vec<usize> = (0..cells.len()).rev().collect();
    let mut budget = cells.len().saturating_mul(64).max(1024); // a corrupt input cannot loop for long
    while let Some(i) = stack.pop() {
        budget = budget.checked_sub(1)?;
        let cell = cells[i];
        let count = cell.count();
        if count.unsigned_abs() != 1 {
            continue;
        }
        let Some(space) = pure_space(cell) else { continue };
        let x = cell.sum;
        let indices: Vec<u64> = Indices::of(x).take_while(|&j| j < k).collect();
        if !indices.contains(&(i as u64)) {
            continue;
        }
        let (check, theirs) = (checksum_in(space, x), count == 1);
        for &j in &indices {
            // Removing a key of the peer lowers the count; removing one of ours raises it.
            cells[j as usize].toggle(x, check, !theirs);
            stack.push(j as usize);
        }
        if theirs { out.theirs.push(space, x) } else { out.mine.push(space, x) }
    }
    cells.iter().all(|c| c.is_zero()).then_some(out)
}

/// Estimates how many keys differ from difference cells that did not peel: in cell `i ≥ 1` the count is the sum
/// of ±1 over the differing keys it holds, each present with probability `p_i ≈ 1/(1 + i/2)`, so its variance is
/// `d·p_i·(1 − p_i)` around the mean `δ·p_i` (`δ` = cell 0's count, the net difference). Counts are read as
/// signed bytes, so the estimate is good while `d·p_i` stays well below 128² per cell.
pub(crate) fn estimate_differences(cells: &[Cell], net: i64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for (i, c) in cells.iter().enumerate().skip(1) {
        let p = 1.0 / (1.0 + i as f64 / 2.0);
        let dev = f64::from(c.count()) - net as f64 * p;
        num += dev * dev;
        den += p * (1.0 - p);
    }
    if den == 0.0 { 0.0 } else { num / den }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(keys: &[u64], k: usize) -> Vec<Cell> {
        cells_from(keys.iter().map(|&x| (Space::Int, x)), 0, k)
    }

    fn difference(theirs: &[u64], mine: &[u64], k: usize) -> Vec<Cell> {
        coded(theirs, k).into_iter().zip(coded(mine, k)).map(|(t, m)| t.minus(m)).collect()
    }

    #[test]
    fn index_sequences_are_pinned_to_golden_values_so_peers_agree_across_builds() {
        let first: Vec<u64> = Indices::of(0).take(8).collect();
        let second: Vec<u64> = Indices::of(12_345).take(8).collect();
        assert_eq!(first[0], 0);
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((first, second), (GOLDEN_0.to_vec(), GOLDEN_12345.to_vec()));
        assert_eq!(checksum(0), GOLDEN_CHECK_0);
    }

    /// Computed independently from the module docs' formula (Python floats are IEEE-754 doubles).
    const GOLDEN_0: [u64; 8] = [0, 2, 10, 33, 59, 69, 103, 113];
    const GOLDEN_12345: [u64; 8] = [0, 1, 2, 16, 20, 34, 59, 62];
    const GOLDEN_CHECK_0: u32 = 5_926_805;

    #[test]
    fn cell_i_holds_a_key_with_probability_about_one_over_one_plus_half_i() {
        let keys = 20_000u64;
        let mut hits = [0u32; 64];
        for x in 0..keys {
            for i in Indices::of(x).take_while(|&i| i < 64) {
                hits[i as usize] += 1;
            }
        }
        for (i, &h) in hits.iter().enumerate() {
            let p = f64::from(h) / keys as f64;
            let expected = 1.0 / (1.0 + i as f64 / 2.0);
            assert!((p - expected).abs() < 0.02 + expected * 0.1, "cell {i}: {p} vs {expected}");
        }
    }

    #[test]
    fn the_prefix_kept_key_by_key_equals_the_cells_computed_from_the_set() {
        let keys: Vec<u64> = (0..3000u64).map(|i| mix64(i) >> (i % 40)).collect();
        let mut p = CodedPrefix::default();
        for &x in &keys {
            p.add(Space::Int, x);
        }
        assert_eq!(p.cells(), &coded(&keys, PREFIX_CELLS)[..]);
        p.add(Space::Hashed, 7_777_777);
        p.remove(Space::Hashed, 7_777_777);
        assert_eq!(p.cells(), &coded(&keys, PREFIX_CELLS)[..]);
        let beyond = cells_from(keys.iter().map(|&x| (Space::Int, x)), PREFIX_CELLS - 5, PREFIX_CELLS + 5);
        assert_eq!(&beyond[..5], &p.cells()[PREFIX_CELLS - 5..]);
    }

    #[test]
    fn peeling_recovers_a_symmetric_difference_with_enough_cells() {
        let shared: Vec<u64> = (0..5000u64).map(mix64).collect();
        let theirs: Vec<u64> = shared.iter().copied().chain((0..40u64).map(|i| mix64((i + 1) << 40))).collect();
        let mine: Vec<u64> = shared.iter().copied().chain([0u64, 5, u64::MAX]).collect();
        let d = peel(difference(&theirs, &mine, 120)).expect("120 cells decode 43 differences");
        let mut t = d.theirs.ints.clone();
        t.sort_unstable();
        let mut expected: Vec<u64> = (0..40u64).map(|i| mix64((i + 1) << 40)).collect();
        expected.sort_unstable();
        assert_eq!(t, expected);
        let mut m = d.mine.ints;
        m.sort_unstable();
        assert_eq!(m, vec![0, 5, u64::MAX]);
    }

    #[test]
    fn peeling_tells_integer_keys_from_hashed_keys_by_their_checksums() {
        let theirs = [(Space::Int, 5u64), (Space::Hashed, 6u64), (Space::Hashed, mix64(9))];
        let mine = [(Space::Int, mix64(3))];
        let t = cells_from(theirs.into_iter(), 0, 20);
        let m = cells_from(mine.into_iter(), 0, 20);
        let d = peel(t.into_iter().zip(m).map(|(a, b)| a.minus(b)).collect()).expect("20 cells decode 4 keys");
        let mut hashed = d.theirs.hashed.clone();
        hashed.sort_unstable();
        assert_eq!((d.theirs.ints, hashed, d.mine.ints), (vec![5], vec![6, mix64(9)], vec![mix64(3)]));
        assert!(d.mine.hashed.is_empty());
    }

    #[test]
    fn peeling_fails_without_enough_cells_and_equal_sets_decode_to_nothing() {
        let theirs: Vec<u64> = (0..200u64).collect();
        assert!(peel(difference(&theirs, &[], 20)).is_none());
        assert_eq!(peel(difference(&theirs, &theirs, 1)), Some(Difference::default()));
    }

    #[test]
    fn the_count_variance_estimates_a_hidden_symmetric_difference() {
        let shared: Vec<u64> = (0..1000u64).map(mix64).collect();
        let theirs: Vec<u64> = shared.iter().copied().chain((0..500u64).map(|i| mix64(i + 10_000))).collect();
        let mine: Vec<u64> = shared.iter().copied().chain((0..500u64).map(|i| mix64(i + 20_000))).collect();
        let cells = difference(&theirs, &mine, 64);
        let estimate = estimate_differences(&cells, 0);
        assert!((500.0..2000.0).contains(&estimate), "{estimate}");
    }
}

#[cfg(test)]
#[allow(clippy::print_stdout)]
mod sizing {
    use super::*;

    /// Prints quantiles of the cells needed to peel `d` differences (run with `--ignored --nocapture`).
    #[test]
    #[ignore]
    fn print_cells_needed() {
        for d in [1usize, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000] {
            for split in [1.0f64, 0.5] {
                let mut needed = Vec::new();
                for trial in 0..300u64 {
                    let keys: Vec<u64> = (0..d as u64).map(|i| mix64(trial << 32 | i)).collect();
                    let theirs_n = (d as f64 * split) as usize;
                    let (theirs, mine) = keys.split_at(theirs_n);
                    let mut k = 1;
                    loop {
                        let t = cells_from(theirs.iter().map(|&x| (Space::Int, x)), 0, k);
                        let m = cells_from(mine.iter().map(|&x| (Space::Int, x)), 0, k);
                        let diff: Vec<Cell> = t.into_iter().zip(m).map(|(a, b)| a.minus(b)).collect();
                        if peel(diff).is_some_and(|r| r.theirs.len() + r.mine.len() == d) {
                            break;
                        }
                        k += 1 + k / 64;
                    }
                    needed.push(k);
                }
                needed.sort_unstable();
                let q = |f: f64| needed[((needed.len() as f64 * f) as usize).min(needed.len() - 1)];
                println!(
                    "d={d} split={split}: p50 {} p90 {} p99 {} max {} (ratio p50 {:.2})",
                    q(0.5),
                    q(0.9),
                    q(0.99),
                    needed[needed.len() - 1],
                    q(0.5) as f64 / d as f64
                );
            }
        }
    }
}
