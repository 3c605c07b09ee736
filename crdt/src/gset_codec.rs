//! The wire encoding of a [`GSet`] (also its delta encoding), chosen by measurement (benches/README.md).
//!
//! A set is encoded as whichever of these two forms is shorter, ties going to the roaring form:
//! - a sequence of integers, `[1,2,3]` in JSON: best for a few scattered elements;
//! - a string: standard base64 (with padding) of roaring's portable `RoaringTreemap` serialization, run-optimized
//!   first (`"AQAAAAAAAAAAAAAAOjAAAA…"`): best as soon as elements share containers (1M sequential elements take
//!   tens of bytes instead of ~6.9 MB).
//!
//! The lengths compared are those of the JSON text (digits and commas versus base64 characters), computed without
//! encoding twice. Decoding accepts both forms from any self-describing serde format (JSON and the like; not
//! bincode-style formats, which cannot tell the two forms apart).
//!
//! # Decoding untrusted input
//! A set comes from a peer, so decoding never panics, never trusts a length field for an allocation, and only
//! returns sets that pass [`GSet::validate`]:
//! - the array form collects the integers (capacity from the format's size hint capped at 4096, then growing with
//!   the elements actually read), sorts and deduplicates them and builds the treemap from the sorted run: time
//!   `O(n log n)` whatever the order (inserting an adversarial order one by one into roaring's container `Vec` is
//!   quadratic), and duplicates are accepted as in any set;
//! - the roaring form is read here, not by `RoaringTreemap::deserialize_from`, because that one accepts duplicate,
//!   unordered and empty inner bitmaps (a duplicate key silently replaces data). The treemap layout is
//!   `count: u64 LE`, then `count` times `(high: u32 LE, portable RoaringBitmap)`; we require strictly ascending
//!   `high` keys, non-empty bitmaps and no trailing bytes, and never reserve `count` entries (each one must be
//!   read from the input). Each bitmap is read by roaring's checked `RoaringBitmap::deserialize_from`, which
//!   checks container keys, array order, bitmap cardinalities and run overlaps, and bounds its allocations by the
//!   format (at most 2^16 containers, 8 KiB per container) before reading them.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roaring::{RoaringBitmap, RoaringTreemap};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::gset::GSet;

/// Which wire form [`GSet`]'s serde encoding picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GSetEncoding {
    /// A sequence of integers.
    Array,
    /// A base64 string of the portable roaring serialization.
    Roaring,
}

/// The digits of `x` in decimal.
pub(crate) fn decimal_len(x: u64) -> usize {
    x.checked_ilog10().map_or(1, |d| d as usize + 1)
}

impl GSet {
    /// The length in bytes of the JSON array form (`[1,2]` is 5).
    pub fn json_array_len(&self) -> usize {
        let digits: usize = self.iter().map(decimal_len).sum();
        2 + digits + (self.len() as usize).saturating_sub(1)
    }

    /// The run-optimized treemap and the length of its base64 string form in JSON (quotes included). The set
    /// itself when optimizing would change nothing (see [`GSet::optimize_is_noop`]); a copy otherwise.
    fn optimized(&self) -> (Cow<'_, RoaringTreemap>, usize) {
        let opt = if self.optimize_is_noop() {
            Cow::Borrowed(self.as_treemap())
        } else {
            let mut opt = self.as_treemap().clone();
            opt.optimize();
            Cow::Owned(opt)
        };
        let raw = opt.serialized_size();
        (opt, 2 + raw.div_ceil(3) * 4)
    }

    /// Whether roaring's `optimize` would leave every container as it is, checked without copying the set (a
    /// copy of a set of scattered `u64`s costs three allocations per element; encoding a push or a hub's batch
    /// copied it twice). True when no two elements are consecutive and no container is a run container: each
    /// run then holds one element, so a run container (2 + 4·c bytes for c elements) is larger than the array
    /// (2·c bytes) or bitmap (8 KiB, for c > 4096) that holds the container now, and roaring keeps that.
    fn optimize_is_noop(&self) -> bool {
        let no_runs = self.as_treemap().bitmaps().all(|(_, b)| b.statistics().n_run_containers == 0);
        let mut before: Option<u64> = None;
        no_runs
            && self.iter().all(|x| {
                let apart = before.is_none_or(|b| x - b > 1);
                before = Some(x);
                apart
            })
    }

    /// The wire form [`Serialize`] will use, and its JSON length in bytes.
    pub fn encoding(&self) -> (GSetEncoding, usize) {
        let (_, roaring) = self.optimized();
        match self.array_len_if_shorter(roaring) {
            Some(array) => (GSetEncoding::Array, array),
            None => (GSetEncoding::Roaring, roaring),
        }
    }

    /// The array form's length if it is shorter than `roaring`; skips the O(n) digit count when even the
    /// shortest possible array (`2·len + 1` bytes: one digit and one comma per element) is not shorter.
    fn array_len_if_shorter(&self, roaring: usize) -> Option<usize> {
        let lower_bound = 2 * self.len() as usize + 1;
        if lower_bound >= roaring {
            return None;
        }
        let array = self.json_array_len();
        (array < roaring).then_some(array)
    }

    /// The base64 string of the run-optimized portable roaring serialization.
    pub fn to_roaring_base64(&self) -> String {
        let (opt, _) = self.optimized();
        roaring_base64(&opt)
    }
}

fn roaring_base64(set: &RoaringTreemap) -> String {
    let mut bytes = Vec::with_capacity(set.serialized_size());
    set.serialize_into(&mut bytes).expect("writing into a Vec cannot fail");
    STANDARD.encode(bytes)
}

/// The most elements whose array form is always the shorter one: the smallest roaring form (one element) is 42
/// bytes of JSON, an array of one `u64` at most 22 (a push of one client update takes this shortcut).
const ALWAYS_ARRAY: u64 = 1;

impl Serialize for GSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.len() > ALWAYS_ARRAY {
            let (opt, roaring) = self.optimized();
            if self.array_len_if_shorter(roaring).is_none() {
                return serializer.serialize_str(&roaring_base64(&opt));
            }
        }
        let mut seq = serializer.serialize_seq(Some(self.len() as usize))?;
        for x in self.iter() {
            seq.serialize_element(&x)?;
        }
        seq.end()
    }
}

struct GSetVisitor;

impl<'de> Visitor<'de> for GSetVisitor {
    type Value = GSet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of unsigned 64-bit integers or a base64 portable roaring treemap")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<GSet, A::Error> {
        let mut elements: Vec<u64> = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(x) = seq.next_element::<u64>()? {
            elements.push(x);
        }
        elements.sort_unstable();
        elements.dedup();
        let set = RoaringTreemap::from_sorted_iter(elements).map_err(|e| de::Error::custom(format!("gset: {e}")))?;
        Ok(GSet::from_treemap(set))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<GSet, E> {
        let bytes = STANDARD.decode(text).map_err(|e| E::custom(format!("gset: bad base64: {e}")))?;
        let set = read_treemap(&bytes).map_err(|e| E::custom(format!("gset: bad roaring treemap: {e}")))?;
        Ok(GSet::from_treemap(set))
    }
}

/// Reads a portable `RoaringTreemap` strictly (see the module docs): ascending high keys, no empty bitmap, every
/// bitmap checked by roaring, no trailing bytes.
fn read_treemap(mut bytes: &[u8]) -> Result<RoaringTreemap, String> {
    fn take<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], String> {
        let (head, rest) = bytes.split_first_chunk::<N>().ok_or("truncated")?;
        *bytes = rest;
        Ok(*head)
    }
    let count = u64::from_le_bytes(take::<8>(&mut bytes)?);
    let mut bitmaps = Vec::new();
    let mut last: Option<u32> = None;
    for _ in 0..count {
        let high = u32::from_le_bytes(take::<4>(&mut bytes)?);
        if last.is_some_and(|l| l >= high) {
            return Err(format!("high keys not strictly ascending at {high}"));
        }
        last = Some(high);
        let bitmap = RoaringBitmap::deserialize_from(&mut bytes).map_err(|e| format!("bitmap {high}: {e}"))?;
        if bitmap.is_empty() {
            return Err(format!("empty bitmap under high key {high}"));
        }
        bitmaps.push((high, bitmap));
    }
    if !bytes.is_empty() {
        return Err(format!("{} trailing bytes", bytes.len()));
    }
    Ok(RoaringTreemap::from_bitmaps(bitmaps))
}

impl<'de> Deserialize<'de> for GSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GSet, D::Error> {
        deserializer.deserialize_any(GSetVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_scattered_sets_encode_as_arrays_and_runs_as_roaring() {
        let small: GSet = [3u64, 1 << 40].into_iter().collect();
        assert_eq!(serde_json::to_string(&small).unwrap(), "[3,1099511627776]");
        assert_eq!(small.encoding(), (GSetEncoding::Array, 17));
        let run: GSet = (0..100_000u64).collect();
        let text = serde_json::to_string(&run).unwrap();
        assert!(text.starts_with('"'), "{text}");
        assert_eq!(run.encoding(), (GSetEncoding::Roaring, text.len()));
        assert_eq!(serde_json::from_str::<GSet>(&text).unwrap(), run);
    }

    #[test]
    fn empty_set_encodes_as_an_empty_array() {
        assert_eq!(serde_json::to_string(&GSet::new()).unwrap(), "[]");
        assert_eq!(serde_json::from_str::<GSet>("[]").unwrap(), GSet::new());
    }

    #[test]
    fn decoding_rejects_garbage_without_panicking() {
        for text in [r#""not base64!""#, r#""AAAA""#, "[-1]", "[1.5]", "{}", r#""""#] {
            assert!(serde_json::from_str::<GSet>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn the_uncopied_encoding_is_the_optimized_one() {
        let scattered: GSet = (0..5000u64).map(|i| i * 3 + (i % 7) * (1 << 33)).collect();
        let mut runs: Vec<u64> = (0..5000u64).map(|i| i * 3).collect();
        runs.extend(1 << 40..(1 << 40) + 100);
        let sets = [scattered, runs.into_iter().collect(), (0..70_000u64).collect(), GSet::new()];
        for (set, noop) in sets.iter().zip([true, false, false, true]) {
            assert_eq!(set.optimize_is_noop(), noop);
            let mut opt = set.as_treemap().clone();
            assert_eq!(!opt.optimize(), noop || set.is_empty());
            assert_eq!(roaring_base64(&set.optimized().0), roaring_base64(&opt));
        }
        // A run container of single elements (a peer may send one) is optimized, not encoded as it is.
        let mut single_runs: RoaringTreemap = (0..100u64).collect();
        single_runs.optimize();
        for x in (1..100).step_by(2) {
            single_runs.remove(x);
        }
        let set = GSet::from_treemap(single_runs.clone());
        assert!(!set.optimize_is_noop());
        assert!(single_runs.optimize(), "roaring turns the run container back into an array");
        assert_eq!(roaring_base64(&set.optimized().0), roaring_base64(&single_runs));
    }

    #[test]
    fn array_length_is_exact() {
        let s: GSet = [0u64, 9, 10, u64::MAX].into_iter().collect();
        assert_eq!(s.json_array_len(), serde_json::to_string(&s.iter().collect::<Vec<_>>()).unwrap().len());
    }
}
