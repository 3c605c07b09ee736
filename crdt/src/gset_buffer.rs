//! [`GSet`](crate::GSet)'s write buffer: inserts that would open a new roaring container wait in a sorted buffer
//! and are merged in bulk.
//!
//! roaring 0.12 keeps a bitmap's containers (one per 2^16 values, 40 bytes each) in one sorted `Vec`, so an
//! insert that opens a new container shifts every container after it. Random `u32` values open one with nearly
//! every insert until all 65 536 chunks exist: measured 3.7–11.5 µs per insert between 1e4 and 4e5 elements,
//! most of it `memmove` (benches/README.md, "GSet write buffer"). An element whose container exists is inserted
//! at once (no shift), and so is one that appends a container after its bitmap's last (sequential values), opens
//! a new inner bitmap (a treemap of scattered `u64`s, one container per bitmap, shifts nothing) or lands in a set
//! whose bitmaps hold fewer than [`DENSE_FROM`] elements on average; a set whose inserts rarely open a container
//! stops looking ([`Policy`]) and merges its buffer. The others wait in the buffer, merged when it reaches
//! [`bound`] (merging every [`SAMPLE`] inserts instead was measured to cost ~2.4 µs per insert at 65 536
//! containers, since a merge copies every container of the bitmap): a large group for one inner bitmap rebuilds that bitmap by roaring's linear
//! union of the two container lists, a small one is inserted element by element, in order. A merge costs
//! O(containers of the touched bitmaps + buffer).

use std::collections::BTreeSet;
use std::iter::Peekable;

use roaring::{RoaringBitmap, RoaringTreemap};

/// Below this many elements a set never buffers (deltas, pushes): its container `Vec` is short.
pub(crate) const BUFFER_FROM: u64 = 1024;

/// A set buffers only while its inner bitmaps hold at least this many elements on average (sets of scattered
/// `u64`s, one element per bitmap, never do: nothing would ever fill their buffer).
pub(crate) const DENSE_FROM: u64 = 64;

/// Lookups are sampled in windows of this many inserts ...
const SAMPLE: u32 = 4096;
/// ... and stop until the length doubles when fewer than one in this many would open a container (all of random
/// `u32`s' chunks exist from a few hundred thousand elements on: the lookup then costs more than the rare shift).
const RARE: u32 = 128;

/// Whether a set looks up where its inserts land (to buffer those that open a container before others): only
/// when it is large, its inner bitmaps hold many elements each, and inserts still open containers. Counted again
/// each time the length doubles (O(bitmaps): amortized O(1) per insert).
#[derive(Clone, Debug, Default)]
pub(crate) struct Policy {
    /// Inner bitmaps when last counted.
    bitmaps: u64,
    /// The length at which to count again.
    recount_at: u64,
    /// Lookups in the current window, and how many opened a container.
    seen: u32,
    opened: u32,
    /// Containers were found missing too rarely: no lookups until the next count.
    off: bool,
}

impl Policy {
    /// Whether inserts into a set of `len` elements should be looked up (and those opening containers wait).
    pub(crate) fn buffers(&self, len: u64) -> bool {
        !self.off && len >= BUFFER_FROM && len >= DENSE_FROM * self.bitmaps
    }

    /// Counts `set`'s inner bitmaps again if `len` has doubled since the last count.
    pub(crate) fn grown(&mut self, set: &RoaringTreemap, len: u64) {
        if len >= self.recount_at {
            self.recount(set, len);
        }
    }

    /// Counts `set`'s inner bitmaps (it holds `len` elements with its buffer) and starts sampling afresh.
    pub(crate) fn recount(&mut self, set: &RoaringTreemap, len: u64) {
        *self = Policy {
            bitmaps: set.bitmaps().count() as u64,
            recount_at: len.saturating_mul(2).max(BUFFER_FROM),
            ..Policy::default()
        };
    }

    /// Notes one lookup, and whether the insert opens a container (missing from the treemap and the buffer); returns whether that turned the
    /// lookups off (time to merge the buffer: nothing will be added to it until the next count).
    pub(crate) fn note(&mut self, missing: bool) -> bool {
        self.seen += 1;
        self.opened += u32::from(missing);
        if self.seen < SAMPLE {
            return false;
        }
        self.off = self.opened * RARE < SAMPLE;
        (self.seen, self.opened) = (0, 0);
        self.off
    }
}

/// A group of at least this many buffered elements for one existing inner bitmap rebuilds it (linear in its
/// containers); a smaller one is inserted element by element (one shift each).
const REBUILD_FROM: usize = 64;

/// The buffer is merged when it holds this many elements: an eighth of the set, at least 64 and at most 2^16 (so
/// a merge, linear in the touched bitmaps' containers, is paid by at least an eighth as many inserts).
pub(crate) fn bound(len: u64) -> usize {
    (len / 8).clamp(64, 1 << 16) as usize
}

/// Where `x` would land in a treemap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// In an existing container (2^16-value chunk).
    Container,
    /// In an existing inner bitmap, which has no container for it but has one above it (opening it shifts those).
    Inside,
    /// In an existing inner bitmap, above all its containers (opening it appends: nothing shifts).
    Above,
    /// In a new inner bitmap.
    Nowhere,
}

/// Where `x` would land in `set`: one descent of the treemap's `BTreeMap`, then binary searches in one bitmap.
pub(crate) fn place(set: &RoaringTreemap, x: u64) -> Place {
    let mut rest = set.iter();
    rest.advance_to(x & !0xffff_ffff);
    let Some(first) = rest.next().filter(|y| y >> 32 == x >> 32) else {
        return Place::Nowhere;
    };
    match (first >> 16).cmp(&(x >> 16)) {
        std::cmp::Ordering::Equal => return Place::Container,
        std::cmp::Ordering::Greater => return Place::Inside,
        std::cmp::Ordering::Less => {}
    }
    rest.advance_to(x & !0xffff);
    match rest.next() {
        Some(y) if y >> 16 == x >> 16 => Place::Container,
        Some(y) if y >> 32 == x >> 32 => Place::Inside,
        _ => Place::Above,
    }
}

/// Adds the ascending elements `sorted` (none in `set`) to `set`.
pub(crate) fn merge_into(set: &mut RoaringTreemap, sorted: impl IntoIterator<Item = u64>) {
    let mut elements = sorted.into_iter().peekable();
    let mut groups: Vec<(u32, RoaringBitmap)> = Vec::new();
    while let Some(&first) = elements.peek() {
        let high = (first >> 32) as u32;
        let mut lows = Vec::new();
        while let Some(x) = elements.next_if(|&x| (x >> 32) as u32 == high) {
            lows.push(x as u32);
        }
        if lows.len() < REBUILD_FROM {
            for low in lows {
                set.insert(u64::from(high) << 32 | u64::from(low));
            }
        } else {
            groups.push((high, RoaringBitmap::from_sorted_iter(lows).expect("ascending by construction")));
        }
    }
    if groups.is_empty() {
        return;
    }
    // Each group becomes its union with the existing bitmap (a linear merge of container lists); roaring's owned
    // union then takes that union as the bitmap, since it is the larger side.
    let mut existing = set.bitmaps().peekable();
    for (high, group) in &mut groups {
        while existing.next_if(|&(h, _)| h < *high).is_some() {}
        if let Some((_, bitmap)) = existing.next_if(|&(h, _)| h == *high) {
            *group = bitmap | &*group;
        }
    }
    *set |= RoaringTreemap::from_bitmaps(groups);
}

/// The ascending union of two disjoint ascending iterators (the treemap and the buffer).
pub(crate) struct Union<A: Iterator<Item = u64>, B: Iterator<Item = u64>> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<A: Iterator<Item = u64>, B: Iterator<Item = u64>> Union<A, B> {
    pub(crate) fn new(a: A, b: B) -> Self {
        Union { a: a.peekable(), b: b.peekable() }
    }
}

impl<A: Iterator<Item = u64>, B: Iterator<Item = u64>> Iterator for Union<A, B> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y < x => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// The elements of a treemap and its buffer, ascending.
pub(crate) type Elements<'a> =
    Union<roaring::treemap::Iter<'a>, std::iter::Copied<std::collections::btree_set::Iter<'a, u64>>>;

/// The set's elements as the treemap and the buffer hold them.
pub(crate) fn union<'a>(set: &'a RoaringTreemap, buffer: &'a BTreeSet<u64>) -> Elements<'a> {
    Union::new(set.iter(), buffer.iter().copied())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use crate::gset::GSet;
    use crate::key_session::KeySet;
    use crate::traits::{DeltaCrdt, Lattice};

    /// murmur3's 32-bit finaliser: scattered `u32`s, each in its own container while the set is small.
    fn scattered(i: u32) -> u64 {
        let mut h = i;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        u64::from(h ^ (h >> 16))
    }

    /// Every reader of `s` agrees with a set holding the same elements without a buffer (`plain`).
    fn readers_agree(s: &GSet, model: &BTreeSet<u64>, probes: &[u64]) -> Result<(), TestCaseError> {
        let plain = GSet::from_treemap(model.iter().copied().collect());
        s.validate().map_err(TestCaseError::fail)?;
        prop_assert_eq!(s.len(), model.len() as u64);
        prop_assert_eq!(s.is_empty(), model.is_empty());
        prop_assert_eq!(s.max(), model.last().copied());
        for &x in probes.iter().chain(model.iter().take(8)) {
            prop_assert_eq!(s.contains(x), model.contains(&x), "contains({})", x);
        }
        prop_assert!(s.iter().eq(model.iter().copied()));
        prop_assert_eq!(format!("{s:?}"), format!("{plain:?}"));
        let copy = s.clone();
        prop_assert!(*s == plain, "buffered == plain");
        prop_assert!(plain == *s, "plain == buffered");
        prop_assert!(copy == plain, "a clone keeps the buffer's elements");
        prop_assert_eq!(serde_json::to_string(s).expect("encodes"), serde_json::to_string(&plain).expect("encodes"));
        prop_assert_eq!(s.encoding(), plain.encoding());
        prop_assert_eq!(s.digest_seeded(7), plain.digest_seeded(7));
        prop_assert_eq!(s.digest_with(9, 8, 20), plain.digest_with(9, 8, 20));
        let other: GSet = probes.iter().copied().collect();
        prop_assert_eq!(s.delta_since(&other.digest_seeded(3)), plain.delta_since(&other.digest_seeded(3)));
        prop_assert_eq!(s.news(&other), plain.news(&other));
        prop_assert_eq!(KeySet::state_bytes(s), KeySet::state_bytes(&plain));
        prop_assert_eq!(KeySet::key_width(s), KeySet::key_width(&plain));
        prop_assert!(KeySet::prefix(s) == KeySet::prefix(&plain), "coded prefixes differ");
        prop_assert_eq!(s.as_treemap(), plain.as_treemap());
        s.validate().map_err(TestCaseError::fail)?;
        Ok(())
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Inserts scattered values (new containers: buffered), small ones (chunk 0: inserted at once) and
        /// 64-bit ones (new inner bitmaps).
        Insert(Vec<u64>),
        /// Joins a set built without a buffer.
        Join(Vec<u64>),
        /// Joins a large set that has a buffer of its own.
        JoinBuffered(u32, u32),
        /// Reads through every reader.
        Read(Vec<u64>),
    }

    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => any::<u32>().prop_map(scattered),
            1 => 0u64..2048,
            1 => any::<u64>(),
            1 => (0u64..3, any::<u16>()).prop_map(|(h, l)| (h << 32) | (u64::from(l) << 16)),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => proptest::collection::vec(value(), 1..300).prop_map(Op::Insert),
            1 => proptest::collection::vec(value(), 0..200).prop_map(Op::Join),
            1 => (0u32..5000, 1200u32..1500).prop_map(|(from, n)| Op::JoinBuffered(from, n)),
            2 => proptest::collection::vec(value(), 0..8).prop_map(Op::Read),
        ]
    }

    /// A set of `n` scattered values, the last ones inserted through the buffer.
    fn buffered_set(from: u32, n: u32) -> GSet {
        let mut s: GSet = (from..from + 1100).map(scattered).collect();
        for i in from + 1100..from + n {
            s.insert(scattered(i));
        }
        s
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Random interleavings of inserts, joins and reads: a set whose inserts wait in the buffer reads exactly
        /// as one that holds the same elements in its treemap, whatever the reader, before and after merges.
        #[test]
        fn a_buffered_set_reads_as_the_plain_treemap(
            base in 0u32..1_000_000,
            prefix_early in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..12),
        ) {
            let mut s: GSet = (base..base + 1100).map(scattered).collect();
            let mut model: BTreeSet<u64> = s.iter().collect();
            if prefix_early {
                let _ = KeySet::prefix(&s);
            }
            for op in ops {
                match op {
                    Op::Insert(xs) => {
                        for x in xs {
                            let delta = s.insert(x);
                            let new = model.insert(x);
                            prop_assert_eq!(delta.iter().collect::<Vec<_>>(), if new { vec![x] } else { vec![] });
                        }
                    }
                    Op::Join(xs) => {
                        let other: GSet = xs.iter().copied().collect();
                        let grew = xs.iter().any(|x| !model.contains(x));
                        prop_assert_eq!(s.join(&other), grew);
                        model.extend(xs);
                    }
                    Op::JoinBuffered(from, n) => {
                        let other = buffered_set(from, n);
                        let grew = other.iter().any(|x| !model.contains(&x));
                        prop_assert_eq!(s.join(&other), grew);
                        model.extend(other.iter());
                    }
                    Op::Read(probes) => readers_agree(&s, &model, &probes)?,
                }
            }
            readers_agree(&s, &model, &[])?;
        }
    }

    #[test]
    fn scattered_inserts_into_a_large_set_are_buffered_then_merged() {
        let mut s: GSet = (0..2000).map(scattered).collect();
        let mut model: BTreeSet<u64> = s.iter().collect();
        for i in 2000..2100 {
            s.insert(scattered(i));
            model.insert(scattered(i));
        }
        assert!(s.buffered() > 0, "new containers wait in the buffer");
        readers_agree(&s, &model, &[scattered(2050), scattered(5000)]).expect("readers agree while buffered");
        s.insert(scattered(2100));
        assert_eq!(s.buffered(), 1, "the next insert takes a reader's union as the treemap, and waits alone");
        for i in 2101..12_000 {
            s.insert(scattered(i));
            model.insert(scattered(i));
        }
        assert!(s.buffered() < super::bound(s.len()), "the buffer is merged at its bound");
        model.insert(scattered(2100));
        readers_agree(&s, &model, &[]).expect("readers agree after merges");
    }

    #[test]
    fn place_tells_an_existing_container_from_an_existing_bitmap_and_a_new_one() {
        use super::{Place, place};
        let set: roaring::RoaringTreemap = [5, 1 << 20, 3 << 32 | 7, 4 << 32 | 5 << 16].into_iter().collect();
        assert_eq!(place(&set, 6), Place::Container);
        assert_eq!(place(&set, (1 << 20) + 1), Place::Container);
        assert_eq!(place(&set, 1 << 17), Place::Inside, "between two containers");
        assert_eq!(place(&set, 1 << 30), Place::Above, "above the last container");
        assert_eq!(place(&set, 3 << 32 | 0xffff), Place::Container);
        assert_eq!(place(&set, 3 << 32 | 1 << 16), Place::Above, "above the only container");
        assert_eq!(place(&set, 4 << 32), Place::Inside, "below the only container");
        assert_eq!(place(&set, 2 << 32), Place::Nowhere);
        assert_eq!(place(&set, u64::MAX), Place::Nowhere);
        assert_eq!(place(&roaring::RoaringTreemap::new(), 0), Place::Nowhere);
    }

    #[test]
    fn sets_of_scattered_u64_never_buffer() {
        let spread = |i: u64| i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut s: GSet = (0..2000).map(spread).collect();
        for i in 2000..3000 {
            s.insert(spread(i));
        }
        assert_eq!(s.buffered(), 0, "every element opens its own inner bitmap: nothing shifts");
        s.validate().expect("valid");
    }

    #[test]
    fn small_sets_and_existing_containers_never_buffer() {
        let mut delta = GSet::new();
        for i in 0..1000 {
            delta.insert(scattered(i));
        }
        assert_eq!(delta.buffered(), 0, "below BUFFER_FROM");
        let mut s: GSet = (0..2000u64).collect();
        s.insert(5000);
        s.insert(65_535);
        assert_eq!(s.buffered(), 0, "chunk 0 has a container");
        s.insert(1 << 20);
        assert_eq!(s.buffered(), 0, "chunk 16 is appended: nothing shifts");
        s.insert(65_536);
        assert_eq!(s.buffered(), 1, "chunk 1 has none, and chunk 16 lies above it");
        s.insert(1 << 21);
        assert_eq!(s.buffered(), 2, "once one waits, every new container waits");
    }
}
