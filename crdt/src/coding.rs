//! Rateless set coding (a rateless invertible Bloom lookup table, Yang, Gilad and Alizadeh, SIGCOMM 2024) over
//! `u64` keys, with a fixed hash, so that a replica keeps a prefix of its coded symbols up to date as it grows.
//!
//! # Cells
//! A *cell* (coded symbol) summarises a subset of the keys: `sum` is the XOR of the keys, `check` the XOR of their
//! 24-bit checksums. Key `x` belongs to cell `i` when `i` is in its *index sequence* (`Indices`): 0 first, then
//! gaps drawn from a PRNG seeded by `mix64(x ^ MAP)` (hashed keys: another seed and stream, see [`Space`]), such
//! that cell `i` holds each key with probability about `1 / (1 + i/2)`. So the first `m` cells hold each key about `2·ln(m/2)` times (15 for the 4096 cells of a
//! [`CodedPrefix`]), the first cell holds every key, and a prefix of any length is a valid code: *rateless*.
//!
//! # Differences and peeling
//! The cell-wise XOR of two replicas' prefixes is the coding of their symmetric difference: keys held by both
//! cancel. A difference cell holding exactly one key has a sum equal to the key, a checksum equal to the key's
//! checksum, and its index in the key's sequence. The decoder (`peel`) repeatedly takes such a *pure* cell,
//! records the key and removes it from every other cell it belongs to; it has decoded everything when every cell
//! is zero. Which side a decoded key belongs to is a lookup in the decoder's own keys: a cell needs no count, so
//! it is 11 bytes for 64-bit keys (fewer for small ones). About 1.4 to 2.5 cells per difference suffice
//! (measured in benches/README.md).
//!
//! # What can go wrong, and why it is harmless
//! A cell holding several keys can pass the pure test by chance (its sum's checksum matches, probability 2^-24,
//! and its index is in the sum's sequence). The decoder would then record a wrong key. Callers never trust a decode
//! on its own: they check it against the peer's 64-bit set hash ([`SetHash`]), and a decode that does not check
//! out counts as a failure (more cells are asked for, or the state is sent). Measured: no such failure in 10^5
//! rounds of 1000 differences.
//!
//! # Key spaces
//! A replica may code keys of two kinds ([`Space`]): *integer* keys, which are the elements themselves (a
//! [`crate::GSet`], the integers of a [`crate::JsonSet`]), and *hashed* keys, 64-bit hashes of an item's wire
//! record (a JSON value, a counter entry), which stand for the item and are exchanged for it once decoded. The two
//! spaces share the cells but use different index sequences, sketch buckets, checksums and set hashes, so a pure
//! cell says which kind of key it holds (a cell passing both checksums is taken for impure), and an integer equal
//! to a hashed key (chosen by a client, or by chance) is a key of its own that cannot cancel it: it lies in other
//! cells.
//!
//! All hashing is fixed integer arithmetic plus IEEE-754 double operations that are correctly rounded on every
//! platform (`sqrt`, `*`, `/`, `ceil`); golden-value tests pin the sequences.

use crate::fingerprint::mix64;
pub use crate::sketch::{
    SKETCH_BUCKETS, SUMMARY_BUCKETS, SUMMARY_PARITIES, SetHash, Sketch, estimate, estimate_from_parities,
};
use std::collections::HashSet;

/// Cells in the prefix every replica keeps up to date. At about 1.4 cells per difference, a prefix decodes up to
/// ~2 800 differences without walking the set; beyond it, cells are computed from the elements (`cells_from`).
pub const PREFIX_CELLS: usize = 4096;
/// Bytes of the per-key checksum on the wire.
pub const CHECK_BYTES: usize = 3;
/// Bytes of one cell of 64-bit sums on the wire: the 8-byte sum and the 3-byte checksum, little-endian.
pub const CELL_BYTES: usize = 8 + CHECK_BYTES;
const CHECK_MASK: u32 = (1 << (8 * CHECK_BYTES)) - 1;

const MAP: u64 = 0x6f73_6d6f_7369_734d; // "osmosisM"
const CHECK: u64 = 0x6f73_6d6f_7369_7343; // "osmosisC"
const CHECK_HASHED: u64 = 0x6f73_6d6f_7369_7363; // "osmosisc"
const RECORD: u64 = 0x6f73_6d6f_7369_7352; // "osmosisR"
const MAP_HASHED: u64 = 0x6f73_6d6f_7369_736d; // "osmosism"
const STREAM_HASHED: u64 = 0x6f73_6d6f_7369_7374; // "osmosist"

/// The kind of a key (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// The key is the element itself.
    Int,
    /// The key is the hash of an item's record ([`record_key`]).
    Hashed,
}

/// The hashed key of an item's wire record.
pub fn record_key(record: &[u8]) -> u64 {
    crate::fingerprint::hash_bytes(record, RECORD)
}

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

/// The index sequence of a key: the cells it belongs to, ascending, 0 first (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Indices {
    state: u64,
    /// XORed into every draw: 0 for integer keys, [`STREAM_HASHED`] for hashed ones.
    stream: u64,
    next: u64,
}

impl Indices {
    /// The sequence of key `x` of `space`. The spaces draw from different streams, not merely from different
    /// seeds: the seed `mix64(x ^ MAP)` is a bijection of an integer key, so a client could pick the integer whose
    /// seed is any hashed key's seed (and a hashed key equal to an integer would share its seed outright); the two
    /// keys would then sit in exactly the same cells, never alone in one, and no round could decode them.
    pub(crate) fn of(space: Space, x: u64) -> Indices {
        match space {
            Space::Int => Indices { state: mix64(x ^ MAP), stream: 0, next: 0 },
            Space::Hashed => Indices { state: mix64(x ^ MAP_HASHED), stream: STREAM_HASHED, next: 0 },
        }
    }
}

impl Iterator for Indices {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        const TWO_32: f64 = 4_294_967_296.0;
        let current = self.next;
        self.state = self.state.wrapping_mul(0xda94_2042_e4dd_58b5);
        let r = (self.state ^ self.stream) as f64;
        let gap = ((current as f64 + 1.5) * (TWO_32 / (r + 1.0).sqrt() - 1.0)).ceil();
        // `as` saturates: a huge gap ends the sequence at u64::MAX, far beyond any cell.
        self.next = current.saturating_add((gap as u64).max(1));
        Some(current)
    }
}

/// The probability that cell `i` holds a given key (the index sequences' design, see the module docs).
fn cell_probability(i: usize) -> f64 {
    if i == 0 { 1.0 } else { 1.0 / (1.0 + i as f64 / 2.0) }
}

/// One cell (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cell {
    sum: u64,
    check: u32,
}

impl Cell {
    /// Adds or removes one key (the same operation).
    fn toggle(&mut self, x: u64, check: u32) {
        self.sum ^= x;
        self.check ^= check;
    }

    /// The coding of the symmetric difference of `self`'s keys and `mine`'s.
    pub(crate) fn minus(self, mine: Cell) -> Cell {
        Cell { sum: self.sum ^ mine.sum, check: self.check ^ mine.check }
    }

    fn is_zero(self) -> bool {
        self.sum == 0 && self.check == 0
    }

    /// The XOR of the keys.
    pub(crate) fn sum(self) -> u64 {
        self.sum
    }

    /// Writes the sum in its low `width` bytes (the caller checked that it fits) and the checksum in 3,
    /// little-endian.
    pub(crate) fn write(self, out: &mut Vec<u8>, width: usize) {
        out.extend_from_slice(&self.sum.to_le_bytes()[..width]);
        out.extend_from_slice(&self.check.to_le_bytes()[..CHECK_BYTES]);
    }

    /// Reads a record written with `width` (`record.len() == width + 3`, width ≤ 8); any bytes are a valid cell.
    pub(crate) fn read(record: &[u8], width: usize) -> Cell {
        let mut sum = [0u8; 8];
        sum[..width].copy_from_slice(&record[..width]);
        let mut check = [0u8; 4];
        check[..CHECK_BYTES].copy_from_slice(&record[width..width + CHECK_BYTES]);
        Cell { sum: u64::from_le_bytes(sum), check: u32::from_le_bytes(check) }
    }
}

/// The first [`PREFIX_CELLS`] cells of a replica's keys, its [`SetHash`] and its [`Sketch`], kept up to date key
/// by key (about 15 cells and one sketch bucket touched per key).
#[derive(Clone, PartialEq, Eq)]
pub struct CodedPrefix {
    cells: Vec<Cell>,
    set: SetHash,
    sketch: Sketch,
}

impl std::fmt::Debug for CodedPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CodedPrefix({} keys)", self.set.len)
    }
}

impl Default for CodedPrefix {
    fn default() -> Self {
        CodedPrefix { cells: vec![Cell::default(); PREFIX_CELLS], set: SetHash::default(), sketch: Sketch::default() }
    }
}

impl CodedPrefix {
    /// The prefix of `keys` (each key once).
    pub fn from_keys(keys: impl Iterator<Item = (Space, u64)>) -> CodedPrefix {
        let mut p = CodedPrefix::default();
        for (space, x) in keys {
            p.add(space, x);
        }
        p
    }

    /// Adds a key that was not in the set.
    pub fn add(&mut self, space: Space, x: u64) {
        self.toggle(space, x, true);
        self.set.add(space, x);
    }

    /// Removes a key that was in the set (a counter entry's key, when the entry grows).
    pub fn remove(&mut self, space: Space, x: u64) {
        self.toggle(space, x, false);
        self.set.remove(space, x);
    }

    fn toggle(&mut self, space: Space, x: u64, up: bool) {
        self.sketch.toggle(space, x, up);
        let check = checksum_in(space, x);
        for i in Indices::of(space, x).take_while(|&i| i < PREFIX_CELLS as u64) {
            self.cells[i as usize].toggle(x, check);
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

    /// The sketch of the keys.
    pub(crate) fn sketch(&self) -> &Sketch {
        &self.sketch
    }
}

/// A replica's [`CodedPrefix`], built on first use and kept up to date from then on. It is derived data: two
/// replicas are equal whatever their prefixes (its `PartialEq` always holds), and a delta never builds one.
#[derive(Clone, Default)]
pub struct LazyPrefix(std::sync::OnceLock<Box<CodedPrefix>>);

impl LazyPrefix {
    /// The prefix, built from `keys` if this is its first use.
    pub fn get_or_build<I: Iterator<Item = (Space, u64)>>(&self, keys: impl FnOnce() -> I) -> &CodedPrefix {
        self.0.get_or_init(|| Box::new(CodedPrefix::from_keys(keys())))
    }

    /// The prefix, if built (to update it).
    pub fn get_mut(&mut self) -> Option<&mut CodedPrefix> {
        self.0.get_mut().map(|p| &mut **p)
    }

    /// The prefix, if built (to check it).
    pub fn get(&self) -> Option<&CodedPrefix> {
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
        for i in Indices::of(space, x).skip_while(|&i| i < from as u64).take_while(|&i| i < to as u64) {
            cells[i as usize - from].toggle(x, check);
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
    let check = cell.check & CHECK_MASK;
    match (checksum(cell.sum) == check, checksum_in(Space::Hashed, cell.sum) == check) {
        (true, false) => Some(Space::Int),
        (false, true) => Some(Space::Hashed),
        _ => None,
    }
}

/// How a peel ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Peeled {
    /// Every cell peeled to zero: the difference (*not* verified: check it against the peer's [`SetHash`]).
    Done(Difference),
    /// Some cells are left: how many keys were peeled, and the estimated size of the whole difference.
    Stuck { peeled: usize, estimate: f64 },
}

/// Peels difference cells (`theirs.minus(mine)` cell by cell). `is_mine(space, key)` says whether a decoded key is
/// one of ours (otherwise it is the peer's).
///
/// The work is bounded whatever the cells hold: a cell is on the work stack at most once at a time, and a key
/// peels at most once (an honest difference never peels a key twice: the cell it peeled from stays zero), so at
/// most `k` keys peel, each toggling its `O(log k)` cells, and peeling `k` cells costs `O(k log k)` time and
/// `O(k)` memory. A key that would peel a second time, or a `k + 1`-th key, ends the peel as stuck.
pub(crate) fn peel(mut cells: Vec<Cell>, is_mine: impl Fn(Space, u64) -> bool) -> Peeled {
    let k = cells.len() as u64;
    let original = cells.clone();
    let mut out = Difference::default();
    let mut peeled: HashSet<(Space, u64)> = HashSet::new();
    let mut queued = vec![true; cells.len()];
    let mut stack: Vec<usize> = (0..cells.len()).rev().collect();
    while let Some(i) = stack.pop() {
        queued[i] = false;
        let cell = cells[i];
        if cell.is_zero() {
            continue;
        }
        let Some(space) = pure_space(cell) else { continue };
        let x = cell.sum;
        let indices: Vec<u64> = Indices::of(space, x).take_while(|&j| j < k).collect();
        if !indices.contains(&(i as u64)) {
            continue;
        }
        if peeled.len() == cells.len() || !peeled.insert((space, x)) {
            break; // forged or corrupt cells: stuck (the cells are not all zero)
        }
        let check = checksum_in(space, x);
        for &j in &indices {
            let j = j as usize;
            cells[j].toggle(x, check);
            if !queued[j] {
                queued[j] = true;
                stack.push(j);
            }
        }
        if is_mine(space, x) { out.mine.push(space, x) } else { out.theirs.push(space, x) }
    }
    if cells.iter().all(|c| c.is_zero()) {
        return Peeled::Done(out);
    }
    let peeled = out.theirs.len() + out.mine.len();
    Peeled::Stuck { peeled, estimate: estimate_differences(&original).max(peeled as f64 + 1.0) }
}

/// Estimates how many keys differ from difference cells that did not peel, by maximum likelihood on which cells
/// are zero: cell `i` holds none of `d` differing keys with probability `(1 − p_i)^d`. Without a zero cell the
/// likelihood grows with `d` for ever; the estimate is then twice the cells (enough for the next batch to decode).
pub(crate) fn estimate_differences(cells: &[Cell]) -> f64 {
    let (mut zero_log, mut nonzero) = (0.0, Vec::new());
    for (i, c) in cells.iter().enumerate().skip(1) {
        let q = 1.0 - cell_probability(i);
        if c.is_zero() { zero_log += q.ln() } else { nonzero.push(q) }
    }
    let slope = |d: f64| zero_log + nonzero.iter().map(|&q| -q.powf(d) * q.ln() / (1.0 - q.powf(d))).sum::<f64>();
    let (mut lo, mut hi) = (0.5, 2.0 * cells.len() as f64 + 2.0);
    if slope(hi) > 0.0 {
        return hi;
    }
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if slope(mid) > 0.0 { lo = mid } else { hi = mid }
    }
    (lo + hi) / 2.0
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

    fn decoded(cells: Vec<Cell>, mine: &[(Space, u64)]) -> Option<Difference> {
        match peel(cells, |space, x| mine.contains(&(space, x))) {
            Peeled::Done(d) => Some(d),
            Peeled::Stuck { .. } => None,
        }
    }

    fn ints(keys: &[u64]) -> Vec<(Space, u64)> {
        keys.iter().map(|&x| (Space::Int, x)).collect()
    }

    #[test]
    fn index_sequences_are_pinned_to_golden_values_so_peers_agree_across_builds() {
        let first: Vec<u64> = Indices::of(Space::Int, 0).take(8).collect();
        let second: Vec<u64> = Indices::of(Space::Int, 12_345).take(8).collect();
        assert_eq!(first[0], 0);
        assert!(first.windows(2).all(|w| w[0] < w[1]));
        assert_eq!((first, second), (GOLDEN_0.to_vec(), GOLDEN_12345.to_vec()));
        assert_eq!(checksum(0), GOLDEN_CHECK_0);
        let hashed: Vec<u64> = Indices::of(Space::Hashed, 0).take(8).collect();
        let hashed_12345: Vec<u64> = Indices::of(Space::Hashed, 12_345).take(8).collect();
        assert_eq!((hashed, hashed_12345), (GOLDEN_HASHED_0.to_vec(), GOLDEN_HASHED_12345.to_vec()));
    }

    #[test]
    fn an_integer_never_shares_the_cells_of_a_hashed_key_not_even_one_chosen_to_share_its_seed() {
        for h in (0..200u64).map(mix64) {
            let hashed: Vec<u64> = Indices::of(Space::Hashed, h).take_while(|&i| i < 4096).collect();
            for y in [h, h ^ MAP_HASHED ^ MAP] {
                let int: Vec<u64> = Indices::of(Space::Int, y).take_while(|&i| i < 4096).collect();
                assert_ne!(int, hashed, "key {h:#x} as an integer {y:#x}");
            }
        }
    }

    /// Computed independently from the module docs' formula (Python floats are IEEE-754 doubles).
    const GOLDEN_0: [u64; 8] = [0, 2, 10, 33, 59, 69, 103, 113];
    const GOLDEN_12345: [u64; 8] = [0, 1, 2, 16, 20, 34, 59, 62];
    const GOLDEN_CHECK_0: u32 = 5_926_805;
    /// The same keys as hashed keys: another stream, other cells.
    const GOLDEN_HASHED_0: [u64; 8] = [0, 1, 2, 5, 7, 10, 14, 28];
    const GOLDEN_HASHED_12345: [u64; 8] = [0, 2, 9, 18, 50, 69, 81, 92];

    #[test]
    fn cell_i_holds_a_key_with_probability_about_one_over_one_plus_half_i() {
        let keys = 20_000u64;
        let mut hits = [0u32; 64];
        for x in 0..keys {
            for i in Indices::of(Space::Int, x).take_while(|&i| i < 64) {
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
        let d = decoded(difference(&theirs, &mine, 120), &ints(&mine)).expect("120 cells decode 43 differences");
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
        let d =
            decoded(t.into_iter().zip(m).map(|(a, b)| a.minus(b)).collect(), &mine).expect("20 cells decode 4 keys");
        let mut hashed = d.theirs.hashed.clone();
        hashed.sort_unstable();
        assert_eq!((d.theirs.ints, hashed, d.mine.ints), (vec![5], vec![6, mix64(9)], vec![mix64(3)]));
        assert!(d.mine.hashed.is_empty());
    }

    #[test]
    fn peeling_fails_without_enough_cells_and_equal_sets_decode_to_nothing() {
        let theirs: Vec<u64> = (0..200u64).collect();
        assert!(decoded(difference(&theirs, &[], 20), &[]).is_none());
        assert_eq!(decoded(difference(&theirs, &theirs, 1), &ints(&theirs)), Some(Difference::default()));
    }

    #[test]
    fn a_forged_pure_cell_among_zero_cells_peels_its_key_once_and_is_stuck() {
        // Toggling x out of cell 0 toggles it *into* the zero cells of its sequence, which are then pure for x:
        // without the once-per-key rule x ping-pongs between them until a budget runs out (+586 MB at 2^20 cells).
        let k = 1usize << 16;
        let x = 0x1234_5678_9abc_def0u64;
        let mut cells = vec![Cell::default(); k];
        cells[0] = Cell { sum: x, check: checksum(x) };
        assert!(matches!(peel(cells, |_, _| false), Peeled::Stuck { peeled: 1, .. }));
    }

    #[test]
    fn a_difference_of_as_many_keys_as_cells_still_peels_when_it_can() {
        // The once-per-key and at-most-k-keys rules refuse nothing an honest peel needs: 1 cell, 1 key.
        let d = decoded(difference(&[7], &[], 1), &[]).expect("one key in one cell");
        assert_eq!((d.theirs.iter().collect::<Vec<_>>(), d.mine.len()), (ints(&[7]), 0));
    }

    #[test]
    fn the_zero_cells_of_a_failed_peel_estimate_the_difference() {
        let shared: Vec<u64> = (0..1000u64).map(mix64).collect();
        for d in [60u64, 600] {
            let theirs: Vec<u64> = shared.iter().copied().chain((0..d / 2).map(|i| mix64(i + 10_000))).collect();
            let mine: Vec<u64> = shared.iter().copied().chain((0..d / 2).map(|i| mix64(i + 20_000))).collect();
            let Peeled::Stuck { estimate, .. } = peel(difference(&theirs, &mine, d as usize), |_, _| false) else {
                panic!("{d} cells decoded {d} differences");
            };
            assert!((0.7 * d as f64..1.4 * d as f64).contains(&estimate), "{d}: {estimate}");
        }
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
                        if matches!(peel(diff, |_, x| mine.contains(&x)), Peeled::Done(r) if r.theirs.len() + r.mine.len() == d)
                        {
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
