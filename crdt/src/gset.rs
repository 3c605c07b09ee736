//! [`GSet`]: a grow-only set of `u64` on a [`RoaringTreemap`], with a chunked, seeded digest.
//!
//! # Digest format
//! The element space is cut into *chunks* of `2^shift` consecutive values, chunk key `k = x >> shift`. The finest
//! chunk is `shift = 16`, exactly a roaring container, and that is what dense sets use. The digest's owner
//! coarsens (raises `shift`) only when its set has more than one chunk per 32 elements — sparse sets — choosing
//! the smallest `shift` whose chunk count is at most `max(1, len / 32)`. A [`GSetDigest`] holds the round `seed`,
//! the fingerprint width `bits` (1..=64, default 64), `shift` (16..=64) and, for every non-empty chunk in
//! ascending key order, the pair `(k, fp_k)` with
//!
//! ```text
//! key    = mix64(seed + 0x9e3779b97f4a7c15)
//! fp_k   = low_bits( mix64(n_k ^ rotl(key, 32)) + Σ_{runs s..=e} mix64(mix64(s ^ key) ^ e) )   (wrapping u64 sums)
//! ```
//!
//! where `mix64` is the SplitMix64 finalizer (see `fingerprint.rs`), `n_k` the chunk's cardinality and the sum runs
//! over the *maximal runs* of consecutive elements of the chunk's 2^16-value sub-chunks (a run that crosses a
//! 2^16 boundary is cut there). That decomposition is a function of the set alone, whatever roaring's container
//! representation, so two replicas holding the same elements always agree. It is plain integer arithmetic: the
//! same on every platform and build (golden-value tests pin it). Because the fingerprint is a sum, coarse chunks
//! are computed by adding the accumulators of the 2^16 chunks. The responder always uses the digest's `seed`,
//! `bits` and `shift`.
//!
//! **Cost.** Computing a digest (and the responder's side of [`GSet::delta_since`]) walks the set run by run:
//! elements one by one until a run reaches 64, then roaring's `Iter::next_range` for the rest of it. So the time is
//! at most proportional to `runs × 64`, and to the number of elements for scattered ones. A sequential set of 1M
//! elements is 16 runs (one per container); a random one is as many runs as elements.
//!
//! **Size.** `c ≤ min(containers, max(1, len/32))` entries, each 16 bytes in binary; in JSON
//! `{"seed":S,"bits":64,"shift":H,"chunks":[[k,fp],…]}` is at most `52 + 20 (seed) + 39·c` bytes (a key ≤ 15
//! digits, a fingerprint ≤ 20 digits, 4 punctuation bytes). So it is bounded both by the number of roaring
//! containers touched and by 1/32 of the element count: 1M sequential elements → 16 chunks, 428 bytes measured
//! (benches/README.md); 1M uniform 64-bit values → 31 250 chunks (≈ 1.2 bytes per element, versus ≥ 20 for the
//! set itself).
//!
//! **Precision.** [`GSet::delta_since`] sends every element of each chunk whose fingerprint differs or that the
//! digest does not list, and nothing else: it is a superset of what the owner lacks, at chunk granularity (a
//! chunk where the owner holds *more* is resent too, because a fingerprint cannot say which side is ahead). It is
//! empty when both replicas are equal.
//!
//! **Collisions.** Two different chunk contents share a fingerprint with probability about `2^-bits` per compared
//! chunk and round. The consequence is that one round fails to ship that chunk — never a wrong element, only a
//! missing one. Because the seed keys every element hash, the next round (fresh seed) computes independent
//! fingerprints, so a collision cannot persist: the probability that a difference stays hidden for `r` rounds is
//! about `2^(-bits·r)`. The seed travels in the digest, so the responder always hashes with the owner's seed.
//! Engines must rotate seeds (see [`crate::DeltaCrdt`]); tests exercise real collisions with 4-bit fingerprints.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use roaring::{RoaringBitmap, RoaringTreemap};

use crate::coding::{CodedPrefix, LazyPrefix, Space};
use crate::fingerprint::{SetFingerprint, hash_run, key};
use crate::gset_buffer::{BUFFER_FROM, Place, Policy, bound, merge_into, place, union};
use crate::traits::{DeltaCrdt, Lattice};

/// The finest chunk: `x >> 16`, a roaring container (2^16 values).
pub const CHUNK_BITS: u8 = 16;
/// The offsets inside a finest chunk.
const CHUNK_MASK: u64 = (1 << CHUNK_BITS) - 1;
/// The owner coarsens its chunks until they hold at least this many elements on average.
const TARGET_PER_CHUNK: u64 = 32;

/// A grow-only set of `u64` (state-based and delta-state CRDT), stored as a roaring treemap.
///
/// Two replicas converge by exchanging deltas:
///
/// ```
/// use osmosis_crdt::{DeltaCrdt, GSet, Lattice};
///
/// let (mut a, mut b) = (GSet::new(), GSet::new());
/// let delta = a.insert(1);            // every mutator returns its delta
/// b.insert(70_000);
/// b.apply_delta(&delta);
/// assert!(a.join(&b.delta_since(&a.digest_seeded(42))));
/// assert_eq!(a, b);
/// assert!(a.delta_since(&b.digest()).is_empty());      // equal replicas: nothing to send
/// assert_eq!(a.iter().collect::<Vec<_>>(), vec![1, 70_000]);
/// ```
///
/// Besides the elements, a replica keeps its length (roaring's `len()` walks every inner bitmap) and, once it
/// has taken part in a [`crate::Reconcile`] round, its coded prefix ([`crate::coding`]), updated by every insert
/// and join from then on (about 15 cells per new element), so that no round rebuilds it. Deltas, which never
/// reconcile, never allocate one.
///
/// An insert that would open a new roaring container before existing ones, in a set of 1024 elements or more,
/// waits in a sorted write buffer beside the treemap (`gset_buffer.rs`: roaring shifts every later container to
/// open one), merged in bulk when it is full. Every reader sees both: lookups and iteration read the two directly; a reader
/// that needs one treemap ([`GSet::as_treemap`], digests, encodings) gets their union, built once and kept in
/// `merged` until the next change, which adopts it as the treemap (so that union is never built twice).
#[derive(Clone, Default)]
pub struct GSet {
    /// The elements, except those in `buffer`.
    set: RoaringTreemap,
    /// Elements not in `set`, each in an inner bitmap of `set` that has no container for it (empty below
    /// [`BUFFER_FROM`]).
    buffer: BTreeSet<u64>,
    /// Whether inserts are looked up to go to `buffer`.
    policy: Policy,
    /// `set ∪ buffer`, once a reader asked for one treemap while `buffer` was not empty.
    merged: OnceLock<RoaringTreemap>,
    len: u64,
    prefix: LazyPrefix,
}

impl PartialEq for GSet {
    fn eq(&self, other: &Self) -> bool {
        if self.buffer.is_empty() && other.buffer.is_empty() {
            return self.len == other.len && self.set == other.set;
        }
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// The digest of a [`GSet`]: one fingerprint per non-empty chunk of `2^shift` values (format in the module docs).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "DigestWire")]
pub struct GSetDigest {
    seed: u64,
    bits: u8,
    shift: u8,
    chunks: Vec<(u64, u64)>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestWire {
    seed: u64,
    bits: u8,
    shift: u8,
    chunks: Vec<(u64, u64)>,
}

impl TryFrom<DigestWire> for GSetDigest {
    type Error = String;
    fn try_from(w: DigestWire) -> Result<Self, String> {
        let d = GSetDigest { seed: w.seed, bits: w.bits, shift: w.shift, chunks: w.chunks };
        d.validate()?;
        Ok(d)
    }
}

/// The chunk key of `x` for chunks of `2^shift` values (`shift` 64: everything is chunk 0).
fn chunk_of(x: u64, shift: u8) -> u64 {
    x.checked_shr(u32::from(shift)).unwrap_or(0)
}

/// Fingerprint accumulators of the finest chunks, filled run by run in ascending order.
struct ChunkFingerprints {
    key: u64,
    chunks: Vec<(u64, SetFingerprint)>,
}

impl ChunkFingerprints {
    /// Adds the maximal run `start..=end`, cut at 2^16 boundaries.
    fn add_run(&mut self, mut start: u64, end: u64) {
        loop {
            let piece_end = end.min(start | CHUNK_MASK);
            let c = start >> CHUNK_BITS;
            let (hash, len) = (hash_run(start, piece_end, self.key), piece_end - start + 1);
            match self.chunks.last_mut() {
                Some((last, fp)) if *last == c => fp.add_part(hash, len),
                _ => {
                    let mut fp = SetFingerprint::default();
                    fp.add_part(hash, len);
                    self.chunks.push((c, fp));
                }
            }
            if piece_end == end {
                return;
            }
            start = piece_end + 1;
        }
    }
}

/// Merges finest-chunk accumulators into chunks of `2^shift` values.
fn coarsen(fine: &[(u64, SetFingerprint)], shift: u8) -> Vec<(u64, SetFingerprint)> {
    let extra = shift - CHUNK_BITS;
    let mut out: Vec<(u64, SetFingerprint)> = Vec::new();
    for &(k, fp) in fine {
        let c = chunk_of(k, extra);
        match out.last_mut() {
            Some((last, acc)) if *last == c => acc.merge(fp),
            _ => out.push((c, fp)),
        }
    }
    out
}

/// How many distinct chunks `fine` (ascending finest keys) has at `shift`.
fn count_at(fine: &[(u64, SetFingerprint)], shift: u8) -> u64 {
    let extra = shift - CHUNK_BITS;
    let mut count = 0;
    let mut last = None;
    for &(k, _) in fine {
        let c = chunk_of(k, extra);
        if last != Some(c) {
            count += 1;
            last = Some(c);
        }
    }
    count
}

impl GSetDigest {
    /// The round seed the fingerprints are keyed by.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The fingerprint width in bits.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Chunks hold `2^shift` values (16..=64; 16 is one roaring container).
    pub fn shift(&self) -> u8 {
        self.shift
    }

    /// The `(chunk key, fingerprint)` pairs, ascending by key.
    pub fn chunks(&self) -> &[(u64, u64)] {
        &self.chunks
    }

    /// Checks the digest's invariants: `bits` in 1..=64, `shift` in 16..=64, keys strictly ascending and below
    /// `2^(64 - shift)`.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.bits) {
            return Err(format!("digest bits must be in 1..=64, got {}", self.bits));
        }
        if !(CHUNK_BITS..=64).contains(&self.shift) {
            return Err(format!("digest shift must be in 16..=64, got {}", self.shift));
        }
        if self.chunks.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("digest chunk keys must be strictly ascending".into());
        }
        if self.chunks.last().is_some_and(|&(k, _)| chunk_of(k, 64 - self.shift) != 0) {
            return Err(format!("digest chunk key exceeds {} bits", 64 - self.shift));
        }
        Ok(())
    }
}

impl GSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps an existing treemap (dropping any empty inner bitmap, so that [`GSet::validate`] holds).
    pub fn from_treemap(set: RoaringTreemap) -> Self {
        if set.bitmaps().any(|(_, b)| b.is_empty()) {
            let kept = set.bitmaps().filter(|(_, b)| !b.is_empty()).map(|(k, b)| (k, b.clone()));
            return GSet::wrap(RoaringTreemap::from_bitmaps(kept));
        }
        GSet::wrap(set)
    }

    /// A set of these elements (no empty inner bitmap).
    fn wrap(set: RoaringTreemap) -> GSet {
        let mut s = GSet { len: set.len(), set, ..GSet::default() };
        s.policy.recount(&s.set, s.len);
        s
    }

    /// The coded prefix, built from the elements on first use and kept up to date from then on.
    pub(crate) fn prefix(&self) -> &CodedPrefix {
        self.prefix.get_or_build(|| self.iter().map(|x| (Space::Int, x)))
    }

    /// Inserts `x` without building a delta; returns whether it was new.
    pub(crate) fn add(&mut self, x: u64) -> bool {
        self.adopt_merged();
        let new = if self.buffer.is_empty() && !self.policy.buffers(self.len) {
            // Small or sparse: nothing would wait, so nothing to look up.
            self.set.insert(x)
        } else {
            self.add_buffering(x)
        };
        if !new {
            return false;
        }
        self.len += 1;
        self.policy.grown(&self.set, self.len);
        if let Some(p) = self.prefix.get_mut() {
            p.add(Space::Int, x);
        }
        true
    }

    /// [`GSet::add`] for a set that buffers or has a buffer: an element of a missing container waits unless it is
    /// appended after its bitmap's last container with nothing waiting.
    fn add_buffering(&mut self, x: u64) -> bool {
        if self.buffer.contains(&x) {
            return false;
        }
        let place = place(&self.set, x);
        // Whether `x` opens a container neither the treemap nor the buffer has (what a merge saves a shift for).
        let opens = matches!(place, Place::Inside | Place::Above)
            && self.buffer.range(x & !0xffff..=x | 0xffff).next().is_none();
        if self.policy.note(opens) && !self.buffer.is_empty() {
            // Lookups stop: merge what waits (the place found may be stale now; `x` is not buffered).
            self.flush();
            return self.set.insert(x);
        }
        match place {
            Place::Container | Place::Nowhere => return self.set.insert(x),
            Place::Above if self.buffer.is_empty() => return self.set.insert(x),
            // Once one waits, every element of a missing container waits (the buffer's containers stay missing).
            Place::Inside | Place::Above => {}
        }
        self.buffer.insert(x);
        if self.buffer.len() >= bound(self.len) {
            self.flush();
        }
        true
    }

    /// Takes a union a reader built as the treemap (the buffer's elements are all in it; the bitmaps are the same).
    fn adopt_merged(&mut self) {
        if let Some(merged) = self.merged.take() {
            self.set = merged;
            self.buffer.clear();
        }
    }

    /// Merges the write buffer into the treemap.
    fn flush(&mut self) {
        self.adopt_merged();
        merge_into(&mut self.set, std::mem::take(&mut self.buffer));
    }

    /// The elements as one treemap (read-only: the set only grows through [`GSet::insert`] and joins). While
    /// inserts are buffered, the first call builds the union of the treemap and the buffer (linear in the set).
    pub fn as_treemap(&self) -> &RoaringTreemap {
        if self.buffer.is_empty() {
            return &self.set;
        }
        self.merged.get_or_init(|| {
            let mut merged = self.set.clone();
            merge_into(&mut merged, self.buffer.iter().copied());
            merged
        })
    }

    /// The largest element.
    pub fn max(&self) -> Option<u64> {
        self.set.max().max(self.buffer.last().copied())
    }

    /// Inserts `x`; returns the delta: `{x}` if it was new, empty otherwise.
    pub fn insert(&mut self, x: u64) -> GSet {
        let mut delta = GSet::new();
        if self.add(x) {
            delta.add(x);
        }
        delta
    }

    /// Whether `x` is in the set.
    pub fn contains(&self, x: u64) -> bool {
        self.set.contains(x) || (!self.buffer.is_empty() && self.buffer.contains(&x))
    }

    /// The number of elements (O(1)).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        union(&self.set, &self.buffer)
    }

    /// The digest with a chosen fingerprint width and chunk size: `bits` in 1..=64 (smaller is shorter and
    /// collides more often), `shift` in 16..=64 (chunks of `2^shift` values).
    ///
    /// # Panics
    /// If a parameter is out of range (a programming error, not peer input).
    pub fn digest_with(&self, seed: u64, bits: u8, shift: u8) -> GSetDigest {
        assert!((1..=64).contains(&bits) && (CHUNK_BITS..=64).contains(&shift), "digest parameters out of range");
        let k = key(seed);
        let chunks = coarsen(&self.fine_fingerprints(k), shift).into_iter().map(|(c, fp)| (c, fp.finish(k, bits)));
        GSetDigest { seed, bits, shift, chunks: chunks.collect() }
    }

    /// Fingerprint accumulators for every non-empty finest chunk (`x >> 16`), ascending: one pass over the set's
    /// maximal runs, each cut at 2^16 boundaries (see the module docs).
    ///
    /// Elements are read one by one (cheap on array containers, where sparse sets live) and runs detected by
    /// adjacency; once a run reaches 64 elements, roaring's `Iter::next_range` swallows the rest of it (O(1) for run
    /// containers, word scans for bitmap containers), so dense sets cost per run, not per element.
    /// (`Iter::next_many` is not used: in roaring 0.12 it overflows a `u16` on a run container covering a whole
    /// 2^16 chunk — a panic in debug builds, silently skipped elements in release — and a peer can send one.)
    fn fine_fingerprints(&self, k: u64) -> Vec<(u64, SetFingerprint)> {
        const LONG_RUN: u32 = 64;
        let mut out = ChunkFingerprints { key: k, chunks: Vec::new() };
        for (high, bitmap) in self.as_treemap().bitmaps() {
            let base = u64::from(high) << 32;
            let mut run: Option<(u32, u32)> = None;
            let close = |(s, e): (u32, u32), out: &mut ChunkFingerprints| {
                out.add_run(base | u64::from(s), base | u64::from(e));
            };
            let mut elements = bitmap.iter();
            while let Some(x) = elements.next() {
                match &mut run {
                    Some((s, e)) if e.checked_add(1) == Some(x) => {
                        *e = x;
                        if x - *s + 1 < LONG_RUN {
                            continue;
                        }
                        // A long run: let roaring say where it ends. The range it returns is maximal; if it does
                        // not continue this run, the run ended at `x` and the range is the next one.
                        if let Some(rest) = elements.next_range() {
                            if x.checked_add(1) == Some(*rest.start()) {
                                *e = *rest.end();
                            } else if let Some(done) = run.replace((*rest.start(), *rest.end())) {
                                close(done, &mut out);
                            }
                        }
                    }
                    _ => {
                        if let Some(done) = run.replace((x, x)) {
                            close(done, &mut out);
                        }
                    }
                }
            }
            if let Some(done) = run {
                close(done, &mut out);
            }
        }
        out.chunks
    }

    /// The smallest shift (finest chunks) whose chunk count is within the owner's budget `max(1, len / 32)`.
    fn own_shift(&self, fine: &[(u64, SetFingerprint)]) -> u8 {
        let budget = (self.len() / TARGET_PER_CHUNK).max(1);
        if fine.len() as u64 <= budget {
            return CHUNK_BITS;
        }
        // The count only falls as the shift grows, and is 1 at shift 64: binary search.
        let (mut lo, mut hi) = (CHUNK_BITS + 1, 64u8);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if count_at(fine, mid) <= budget {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// The elements of this set that lie in `chunks` (ascending keys of `2^shift`-value chunks).
    fn elements_in_chunks(&self, chunks: &[u64], shift: u8) -> RoaringTreemap {
        let mut out = Vec::new();
        for (high, bitmap) in self.as_treemap().bitmaps() {
            let base = u64::from(high) << 32;
            let first = chunks.partition_point(|&c| c < chunk_of(base, shift));
            let last = chunks.partition_point(|&c| c <= chunk_of(base | u64::from(u32::MAX), shift));
            let inside = &chunks[first..last];
            if inside.is_empty() {
                continue;
            }
            if shift >= 32 {
                out.push((high, bitmap.clone()));
                continue;
            }
            let mut mask = RoaringBitmap::new();
            for &c in inside {
                // shift < 32: the chunk lies inside this bitmap's 2^32 values.
                let lo = u32::try_from((c << shift) & u64::from(u32::MAX)).expect("masked to 32 bits");
                mask.insert_range(lo..=lo | ((1u32 << shift) - 1));
            }
            let part = bitmap & &mask;
            if !part.is_empty() {
                out.push((high, part));
            }
        }
        RoaringTreemap::from_bitmaps(out)
    }

    /// Checks invariants: every inner bitmap is non-empty and valid by roaring's own check (containers sorted,
    /// each store consistent with its cardinality), the treemap's cardinality matches its strictly ascending
    /// iteration, and the write buffer holds only elements of chunks the treemap has no container for (and
    /// none below [`BUFFER_FROM`] elements), which a built union holds with the treemap's.
    #[doc(hidden)]
    pub fn validate(&self) -> Result<(), String> {
        self.validate_buffer()?;
        for (high, bitmap) in self.set.bitmaps() {
            if bitmap.is_empty() {
                return Err(format!("gset: empty bitmap stored under high key {high}"));
            }
            bitmap.internal_validate().map_err(|e| format!("gset: bitmap {high}: {e}"))?;
        }
        let mut count = 0u64;
        let mut prev: Option<u64> = None;
        for x in self.iter() {
            if prev.is_some_and(|p| p >= x) {
                return Err(format!("iteration not strictly ascending at {x}"));
            }
            prev = Some(x);
            count += 1;
        }
        let counted = self.set.len() + self.buffer.len() as u64;
        if count != counted || count != self.len {
            return Err(format!("len {counted} (kept: {}) but {count} elements iterated", self.len));
        }
        if let Some(p) = self.prefix.get() {
            let fresh = CodedPrefix::from_keys(self.iter().map(|x| (Space::Int, x)));
            if *p != fresh {
                return Err(format!("gset: the coded prefix does not match the {count} elements"));
            }
        }
        Ok(())
    }

    /// The write buffer's invariants (see [`GSet::validate`]).
    fn validate_buffer(&self) -> Result<(), String> {
        if !self.buffer.is_empty() && self.len < BUFFER_FROM {
            return Err(format!("gset: {} buffered elements in a set of {}", self.buffer.len(), self.len));
        }
        if let Some(&x) = self.buffer.iter().find(|&&x| !matches!(place(&self.set, x), Place::Inside | Place::Above)) {
            return Err(format!("gset: buffered {x} is not in a treemap bitmap without its container"));
        }
        if let Some(merged) = self.merged.get()
            && !merged.iter().eq(union(&self.set, &self.buffer))
        {
            return Err("gset: the built union differs from the treemap and the buffer".into());
        }
        Ok(())
    }

    /// How many inserts wait in the write buffer (tests).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// A copy without `x` (tests only: the set only grows).
    #[cfg(test)]
    pub(crate) fn without(&self, x: u64) -> GSet {
        let mut set = self.as_treemap().clone();
        set.remove(x);
        GSet::from_treemap(set)
    }
}

impl fmt::Debug for GSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 16;
        let mut list = f.debug_set();
        list.entries(self.iter().take(SHOWN));
        if self.len > SHOWN as u64 {
            list.entry(&format_args!("… {} elements in all", self.len));
        }
        list.finish()
    }
}

impl FromIterator<u64> for GSet {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        GSet::wrap(iter.into_iter().collect())
    }
}

/// [`GSet::join`] inserts `other` element by element (O(d log n) for d elements) while it has at most this many
/// elements, or at most 1/64 of ours; above, it merges container lists (O(containers)).
const IN_PLACE_JOIN_MAX: u64 = 64;

impl Lattice for GSet {
    /// Roaring union; `other` is only borrowed. Small `other`s (deltas) are inserted in place. Roaring 0.12's
    /// in-place union inserts each new container into a `Vec`, quadratic when the two sets' containers interleave
    /// (measured: 278 ms for two random 100k-element sets), so larger joins first check whether `other` is already
    /// contained (then nothing is rebuilt) and otherwise merge the sorted container lists (linear; our containers
    /// are copied once). benches/README.md ("Sparse join") compares this with every union roaring 0.12 offers.
    fn join(&mut self, other: &Self) -> bool {
        self.join_reporting(other, None)
    }
}

impl GSet {
    /// [`Lattice::join`], calling `on_new` with every element that was new here (a [`crate::JsonSet`] keeps its own
    /// coded prefix up to date this way).
    pub(crate) fn join_reporting(&mut self, other: &GSet, mut on_new: Option<&mut dyn FnMut(u64)>) -> bool {
        if other.len <= IN_PLACE_JOIN_MAX.max(self.len / 64) {
            let mut changed = false;
            for x in other.iter() {
                if self.add(x) {
                    changed = true;
                    if let Some(f) = on_new.as_mut() {
                        f(x);
                    }
                }
            }
            return changed;
        }
        self.flush();
        let theirs = other.as_treemap();
        if theirs.is_subset(&self.set) {
            // Nothing new: no container is rebuilt. Roaring's test stops at the first container that differs.
            return false;
        }
        let merged = merge_containers(&self.set, theirs);
        if self.prefix.get().is_some() || on_new.is_some() {
            for x in (theirs - &self.set).iter() {
                if let Some(p) = self.prefix.get_mut() {
                    p.add(Space::Int, x);
                }
                if let Some(f) = on_new.as_mut() {
                    f(x);
                }
            }
        }
        self.set = RoaringTreemap::from_bitmaps(merged);
        let before = self.len;
        self.len = self.set.len();
        self.policy.recount(&self.set, self.len);
        self.len != before
    }
}

/// The union of two treemaps as a list of inner bitmaps, merged in key order (linear in containers).
fn merge_containers(a: &RoaringTreemap, b: &RoaringTreemap) -> Vec<(u32, RoaringBitmap)> {
    let mut merged = Vec::new();
    let mut mine = a.bitmaps().peekable();
    let mut theirs = b.bitmaps().peekable();
    loop {
        let next = match (mine.peek(), theirs.peek()) {
            (None, None) => break,
            (Some(&(a, _)), Some(&(b, _))) if a == b => {
                let ((k, x), (_, y)) = (mine.next().expect("peeked"), theirs.next().expect("peeked"));
                (k, x | y)
            }
            (Some(&(a, _)), Some(&(b, _))) if b < a => theirs.next().map(|(k, y)| (k, y.clone())).expect("peeked"),
            (Some(_), _) => mine.next().map(|(k, x)| (k, x.clone())).expect("peeked"),
            (None, Some(_)) => theirs.next().map(|(k, y)| (k, y.clone())).expect("peeked"),
        };
        merged.push(next);
    }
    merged
}

impl DeltaCrdt for GSet {
    type Digest = GSetDigest;
    type Delta = GSet;

    /// Chunks of 2^16 values (one roaring container), coarsened to `2^shift` only when the set has more than
    /// one chunk per 32 elements.
    fn digest_seeded(&self, seed: u64) -> GSetDigest {
        let k = key(seed);
        let fine = self.fine_fingerprints(k);
        let shift = self.own_shift(&fine);
        let chunks = coarsen(&fine, shift).into_iter().map(|(c, fp)| (c, fp.finish(k, 64)));
        GSetDigest { seed, bits: 64, shift, chunks: chunks.collect() }
    }

    fn digest_matching(&self, theirs: &GSetDigest) -> GSetDigest {
        self.digest_with(theirs.seed, theirs.bits, theirs.shift)
    }

    /// Every element of each chunk whose fingerprint (under the digest's seed, width and chunk size) differs
    /// from the digest's, or that the digest does not list.
    fn delta_since(&self, digest: &GSetDigest) -> GSet {
        let k = key(digest.seed);
        let mine = coarsen(&self.fine_fingerprints(k), digest.shift);
        let theirs = &digest.chunks;
        let mut differing = Vec::new();
        let mut j = 0;
        for (chunk, fp) in mine {
            while j < theirs.len() && theirs[j].0 < chunk {
                j += 1;
            }
            if !(j < theirs.len() && theirs[j] == (chunk, fp.finish(k, digest.bits))) {
                differing.push(chunk);
            }
        }
        if differing.is_empty() {
            return GSet::new();
        }
        GSet::wrap(self.elements_in_chunks(&differing, digest.shift))
    }

    fn apply_delta(&mut self, delta: &GSet) -> bool {
        self.join(delta)
    }

    fn delta_is_empty(delta: &GSet) -> bool {
        delta.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently from the formula in the module docs (a few lines of Python big-integer arithmetic).
    const GOLDEN_DIGEST: &str = r#"{"seed":0,"bits":64,"shift":21,"chunks":[[0,13312354968459980904]]}"#;
    const GOLDEN_FINE: &str =
        r#"{"seed":0,"bits":64,"shift":16,"chunks":[[0,15419499900002367328],[16,1535037566301674714]]}"#;

    #[test]
    fn insert_returns_the_new_element_or_an_empty_delta() {
        let mut s = GSet::new();
        assert_eq!(s.insert(5).iter().collect::<Vec<_>>(), vec![5]);
        assert!(s.insert(5).is_empty());
    }

    #[test]
    fn large_interleaved_joins_merge_containers_correctly() {
        let evens: GSet = (0..5_000u64).map(|i| (i * 2) << 16).chain([1 << 40]).collect();
        let odds: GSet = (0..5_000u64).map(|i| (i * 2 + 1) << 16).chain([(1 << 40) + 1, 7 << 50]).collect();
        let mut joined = evens.clone();
        assert!(joined.join(&odds));
        let expected: std::collections::BTreeSet<u64> = evens.iter().chain(odds.iter()).collect();
        assert!(joined.iter().eq(expected.iter().copied()));
        assert!(!joined.join(&odds));
        joined.validate().unwrap();
    }

    #[test]
    fn digest_has_one_entry_per_touched_chunk() {
        let s: GSet = (0..200_000u64).chain([1 << 40, u64::MAX]).collect();
        let d = s.digest();
        let keys: Vec<u64> = d.chunks().iter().map(|c| c.0).collect();
        assert_eq!(keys, vec![0, 1, 2, 3, 1 << 24, u64::MAX >> 16]);
    }

    #[test]
    fn delta_since_sends_only_differing_chunks() {
        let a: GSet = (0..200_000u64).collect();
        let b: GSet = (0..200_000u64).collect::<GSet>().without(70_000);
        let delta = a.delta_since(&b.digest_seeded(9));
        assert_eq!(delta.set, (65_536..131_072u64).collect::<RoaringTreemap>());
        assert!(a.delta_since(&a.digest_seeded(3)).is_empty());
    }

    #[test]
    fn digest_is_pinned_to_golden_values_so_peers_agree_across_builds() {
        let s: GSet = [5u64, 6, 7, 8, 9, 1 << 20].into_iter().collect();
        assert_eq!(serde_json::to_string(&s.digest_seeded(0)).unwrap(), GOLDEN_DIGEST);
        assert_eq!(serde_json::to_string(&s.digest_with(0, 64, 16)).unwrap(), GOLDEN_FINE);
    }

    #[test]
    fn equal_sets_have_equal_digests_whatever_their_container_representation() {
        // Runs across container boundaries, run containers (insert_range, optimize) versus arrays and bitmaps
        // (one insert at a time), and a bitmap container that is not one run.
        let mut ranged = RoaringTreemap::new();
        ranged.insert_range(60_000..140_000);
        ranged.insert_range((1 << 32) - 3..(1 << 32) + 3);
        ranged.extend((200_000..210_000u64).step_by(2));
        let mut optimized = ranged.clone();
        optimized.optimize();
        let one_by_one: GSet = ranged.iter().collect();
        let ranged = GSet::from_treemap(ranged);
        let optimized = GSet::from_treemap(optimized);
        for seed in 0..4 {
            assert_eq!(ranged.digest_seeded(seed), one_by_one.digest_seeded(seed));
            assert_eq!(optimized.digest_seeded(seed), one_by_one.digest_seeded(seed));
            assert!(ranged.delta_since(&one_by_one.digest_seeded(seed)).is_empty());
            assert!(one_by_one.delta_since(&optimized.digest_seeded(seed)).is_empty());
        }
    }

    /// The digest by definition: maximal runs found one element at a time, cut at 2^16 boundaries.
    fn reference_digest(s: &GSet, seed: u64) -> Vec<(u64, u64)> {
        let k = key(seed);
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for x in s.iter() {
            match runs.last_mut() {
                Some((_, end)) if *end + 1 == x && x & CHUNK_MASK != 0 => *end = x,
                _ => runs.push((x, x)),
            }
        }
        let mut out: Vec<(u64, SetFingerprint)> = Vec::new();
        for (start, end) in runs {
            let c = start >> CHUNK_BITS;
            if out.last().is_none_or(|(last, _)| *last != c) {
                out.push((c, SetFingerprint::default()));
            }
            out.last_mut().unwrap().1.add_part(hash_run(start, end, k), end - start + 1);
        }
        out.into_iter().map(|(c, fp)| (c, fp.finish(k, 64))).collect()
    }

    proptest::proptest! {
        #[test]
        fn run_detection_matches_the_definition(
            runs in proptest::collection::vec((0u64..3, 0u64..140_000, 0u64..700), 0..12),
            scattered in proptest::collection::vec(proptest::prelude::any::<u64>(), 0..8),
            seed in 0u64..4,
        ) {
            let mut set = RoaringTreemap::new();
            for (high, start, len) in runs {
                // Near the ends of a 2^32 bitmap too, where runs meet the treemap's boundaries.
                let start = if high == 2 { u64::from(u32::MAX) - start } else { (high << 32) + start };
                set.insert_range(start..start + len);
            }
            set.extend(scattered);
            if seed % 2 == 1 {
                set.optimize(); // run containers, as decoding a peer's roaring bytes may give
            }
            let s = GSet::from_treemap(set);
            let digest = s.digest_with(seed, 64, 16);
            proptest::prop_assert_eq!(digest.chunks(), &reference_digest(&s, seed)[..]);
        }
    }

    #[test]
    fn a_run_container_covering_a_whole_chunk_is_fingerprinted_not_skipped() {
        // roaring 0.12's `Iter::next_many` overflows on exactly this container (a run of all 2^16 values).
        let mut t = RoaringTreemap::new();
        t.insert_range(0..3 << 16);
        t.insert_range((5 << 32) + (1 << 16)..(5 << 32) + (2 << 16));
        t.optimize();
        let full = GSet::from_treemap(t.clone());
        t.remove((5 << 32) + (1 << 16) + 7);
        let holed = GSet::from_treemap(t);
        for seed in 0..3 {
            let d = full.digest_with(seed, 64, 16);
            assert_eq!(d.chunks(), &reference_digest(&full, seed)[..]);
            assert_ne!(d.chunks(), holed.digest_with(seed, 64, 16).chunks());
            // Deltas are chunk-granular: each side sends its whole differing chunk, and that repairs the hole.
            assert_eq!(holed.delta_since(&d).len(), (1 << 16) - 1);
            let to_holed = full.delta_since(&holed.digest_with(seed, 64, 16));
            assert_eq!(to_holed.len(), 1 << 16);
            let mut repaired = holed.clone();
            repaired.apply_delta(&to_holed);
            assert_eq!(repaired, full);
        }
    }

    #[test]
    fn run_detection_handles_runs_ending_exactly_at_a_block_boundary() {
        // 192 singletons, then a run of exactly 64 that ends the first 256-element block, then a separate run.
        let s: GSet = (0..192u64).map(|i| i * 2).chain(1000..1064).chain(1065..1100).chain(2000..70_000).collect();
        for seed in 0..3 {
            assert_eq!(s.digest_with(seed, 64, 16).chunks(), &reference_digest(&s, seed)[..]);
        }
    }

    #[test]
    fn digest_detects_a_run_split_in_two_or_shifted() {
        let whole: GSet = (100..200u64).collect();
        let split: GSet = (100..150u64).chain(151..201).collect(); // same length
        let shifted: GSet = (101..201u64).collect();
        for other in [&split, &shifted] {
            assert_ne!(whole.digest_seeded(3), other.digest_seeded(3));
            assert_eq!(&whole.delta_since(&other.digest_seeded(3)), &whole);
        }
    }

    #[test]
    fn validate_rejects_empty_inner_bitmaps_and_from_treemap_drops_them() {
        let raw = RoaringTreemap::from_bitmaps([(0, RoaringBitmap::new()), (1, [5u32].into_iter().collect())]);
        assert!(GSet::wrap(raw.clone()).validate().is_err());
        let s = GSet::from_treemap(raw);
        s.validate().unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![(1 << 32) | 5]);
    }

    #[test]
    fn digest_fingerprints_depend_on_the_seed() {
        let s: GSet = (0..10u64).collect();
        assert_ne!(s.digest_seeded(1).chunks(), s.digest_seeded(2).chunks());
    }

    #[test]
    fn digest_decoding_rejects_unordered_keys_and_bad_parameters() {
        let bad = [
            r#"{"seed":0,"bits":64,"shift":16,"chunks":[[2,1],[1,1]]}"#,
            r#"{"seed":0,"bits":0,"shift":16,"chunks":[]}"#,
            r#"{"seed":0,"bits":65,"shift":16,"chunks":[]}"#,
            r#"{"seed":0,"bits":64,"shift":15,"chunks":[]}"#,
            r#"{"seed":0,"bits":64,"shift":65,"chunks":[]}"#,
            r#"{"seed":0,"bits":64,"shift":16,"chunks":[[281474976710656,1]]}"#,
            r#"{"seed":0,"bits":64,"shift":64,"chunks":[[1,1]]}"#,
            r#"{"seed":0,"bits":64,"chunks":[]}"#,
        ];
        for text in bad {
            assert!(serde_json::from_str::<GSetDigest>(text).is_err(), "{text}");
        }
        let good = r#"{"seed":0,"bits":64,"shift":64,"chunks":[[0,1]]}"#;
        assert!(serde_json::from_str::<GSetDigest>(good).is_ok());
    }

    #[test]
    fn sparse_sets_get_coarser_chunks_so_the_digest_stays_small() {
        let sparse: GSet = (0..10_000u64).map(|i| i << 20).collect();
        let d = sparse.digest();
        assert!(d.chunks().len() as u64 <= 10_000 / 32, "{}", d.chunks().len());
        assert_eq!(d.shift(), 26);
        let fewer = sparse.without(5 << 20);
        let delta = sparse.delta_since(&fewer.digest_seeded(4));
        assert_eq!(delta.iter().collect::<Vec<_>>(), (0..64u64).map(|i| i << 20).collect::<Vec<_>>());
    }

    #[test]
    fn coarse_digests_split_correctly_across_treemap_bitmaps() {
        let a: GSet = [1u64, 1 << 32, (1 << 32) + 5, 3 << 40, u64::MAX].into_iter().collect();
        let b = GSet::new();
        for shift in [16, 20, 31, 32, 33, 48, 63, 64] {
            assert_eq!(a.delta_since(&b.digest_with(7, 64, shift)), a, "shift {shift}");
            assert!(a.delta_since(&a.digest_with(7, 64, shift)).is_empty());
            let c = a.without(1 << 32);
            let delta = a.delta_since(&c.digest_with(7, 64, shift));
            assert!(delta.contains(1 << 32), "shift {shift}");
            assert!(!delta.contains(u64::MAX) || shift == 64);
        }
    }
}
