//! [`Split`]: cutting a state (a delta) into parts that each fit a byte budget.
//!
//! A delta-state CRDT's delta is a state, and a state is the join of any parts that cover it, so a delta too
//! large for one message can travel as several smaller ones, in any order, each applied on its own. Budgets count
//! bytes of the JSON encoding (serde_json), the encoding the osmosis node sends; other encodings are smaller or
//! about the same for these types.
//!
//! A part is indivisible when it holds one element (one replica entry for counters); an element whose encoding
//! alone exceeds the budget comes back as a part of its own, over the budget, and callers decide what to do with
//! it (the node refuses such elements when a client adds them, so they never need splitting).

use std::collections::BTreeMap;
use std::io;

use roaring::RoaringTreemap;

use serde::Serialize;

use crate::gcounter::{GCounter, ReplicaId};
use crate::gset::GSet;
use crate::gset_codec::{GSetEncoding, decimal_len};
use crate::jsonset::JsonSet;
use crate::ordgset::{OrdElement, OrdGSet};
use crate::pncounter::PNCounter;
use crate::traits::Lattice;

/// A state that can be cut into parts whose join is the whole (see the module docs).
///
/// # Contract (implementors must)
/// - make [`Split::halve`] return two parts, each smaller (fewer elements or entries) than `self`, whose join
///   equals `self`, or `None` exactly when `self` holds at most one indivisible element.
pub trait Split: Lattice + Serialize + Sized {
    /// Cuts `self` into two smaller parts whose join is `self`, or `None` if it is at most one element.
    fn halve(&self) -> Option<(Self, Self)>;

    /// The length of `self`'s JSON encoding, in bytes (without building the text).
    fn json_len(&self) -> usize {
        json_len(self)
    }

    /// Parts whose join is `self`, each encoded in at most `budget` bytes of JSON — except indivisible elements
    /// larger than that, each returned as a part of its own. One part (`self`) when it fits.
    fn split_to(self, budget: usize) -> Vec<Self> {
        split_by_halves(self, budget)
    }

    /// The parts [`Split::split_to`] makes, cut from a state that stays where it is (a batch that several peers
    /// share is cut once for all of them), with how many of them are still over `budget`; `None` when `self`
    /// fits as it is. Measures once: by default a copy of `self` is cut and each part measured, while the sets
    /// measure and cut in one go without copying themselves first.
    fn parts_within(&self, budget: usize) -> Option<(Vec<Self>, usize)>
    where
        Self: Clone,
    {
        cut_copy(self, budget)
    }
}

/// [`Split::parts_within`] by cutting a copy: `None` if `x` fits, else the parts of [`Split::split_to`].
fn cut_copy<T: Split + Clone>(x: &T, budget: usize) -> Option<(Vec<T>, usize)> {
    if x.json_len() <= budget {
        return None;
    }
    Some(counted(x.clone().split_to(budget), budget))
}

/// `parts`, with how many of them are still over `budget`.
fn counted<T: Split>(parts: Vec<T>, budget: usize) -> (Vec<T>, usize) {
    let over = parts.iter().filter(|p| p.json_len() > budget).count();
    (parts, over)
}

/// [`Split::split_to`] by halving: parts that do not fit are halved until they do.
fn split_by_halves<T: Split>(whole: T, budget: usize) -> Vec<T> {
    let mut parts = Vec::new();
    let mut todo = vec![whole];
    while let Some(part) = todo.pop() {
        if part.json_len() <= budget {
            parts.push(part);
            continue;
        }
        match part.halve() {
            Some((a, b)) => {
                todo.push(b);
                todo.push(a);
            }
            None => parts.push(part),
        }
    }
    parts
}

/// The length of any value's JSON encoding (0 if it cannot be encoded, which none of the osmosis types can fail).
pub fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// An `io::Write` that only counts.
struct Count(usize);

impl io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Split for GSet {
    /// From the lengths of both forms, without writing either.
    fn json_len(&self) -> usize {
        self.encoding().1
    }

    /// At the median element.
    fn halve(&self) -> Option<(Self, Self)> {
        let set = self.as_treemap();
        let mid = set.select(set.len() / 2).filter(|_| set.len() > 1)?;
        let (mut low, mut high) = (set.clone(), set.clone());
        low.remove_range(mid..);
        high.remove_range(..mid);
        Some((GSet::from_treemap(low), GSet::from_treemap(high)))
    }

    /// A set sent as a JSON array (scattered elements: a hub's batch of hash ids) is cut in one pass, in element
    /// order, each part as long as its array still fits: linear, where halving encodes and copies every level
    /// (a hub spent most of its time there), and never more parts. A part's encoding is the shorter of its array
    /// and roaring forms, so it fits too. A set sent in roaring form (runs) is halved, each half then encoded.
    fn split_to(self, budget: usize) -> Vec<Self> {
        match self.encoding() {
            (_, len) if len <= budget => vec![self],
            (GSetEncoding::Roaring, _) => split_by_halves(self, budget),
            (GSetEncoding::Array, _) => self.array_parts(budget).0,
        }
    }

    /// Copies `self` only in roaring form (to halve it); a part cut from the array form is over the budget only
    /// if it is one element whose array is.
    fn parts_within(&self, budget: usize) -> Option<(Vec<Self>, usize)> {
        match self.encoding() {
            (_, len) if len <= budget => None,
            (GSetEncoding::Roaring, _) => Some(counted(split_by_halves(self.clone(), budget), budget)),
            (GSetEncoding::Array, _) => Some(self.array_parts(budget)),
        }
    }
}

impl GSet {
    /// The elements in order, cut into parts whose arrays are each as long as `budget` allows (one element per part
    /// at least), and how many parts are over it (single elements whose array is longer). Each part's encoding is
    /// the shorter of its array and roaring forms, so a part whose array fits fits.
    fn array_parts(&self, budget: usize) -> (Vec<GSet>, usize) {
        let (mut parts, mut over) = (Vec::new(), 0);
        let mut part: Vec<u64> = Vec::new();
        let mut len = 2; // "[]"
        for x in self.iter() {
            if !part.is_empty() && len + 1 + decimal_len(x) > budget {
                over += usize::from(len > budget);
                parts.push(sorted_part(std::mem::take(&mut part)));
                len = 2;
            }
            len += decimal_len(x) + usize::from(!part.is_empty());
            part.push(x);
        }
        if !part.is_empty() {
            over += usize::from(len > budget);
            parts.push(sorted_part(part));
        }
        (parts, over)
    }
}

/// The set of these ascending, distinct elements.
fn sorted_part(elements: Vec<u64>) -> GSet {
    GSet::from_treemap(RoaringTreemap::from_sorted_iter(elements).expect("the elements of a set, in order"))
}

impl<T: OrdElement> Split for OrdGSet<T> {
    /// At the median element.
    fn halve(&self) -> Option<(Self, Self)> {
        let n = self.len();
        (n > 1).then(|| (self.iter().take(n / 2).cloned().collect(), self.iter().skip(n / 2).cloned().collect()))
    }
}

/// The bytes around the integers of a [`JsonSet`] without other values: `{"ints":` and `,"other":[]}`.
const INTS_ENVELOPE: usize = r#"{"ints":,"other":[]}"#.len();

impl Split for JsonSet {
    /// A set of integers only is cut as its [`GSet`] is (one pass for scattered integers); others by halves.
    fn split_to(self, budget: usize) -> Vec<Self> {
        if !self.other().is_empty() {
            return split_by_halves(self, budget);
        }
        // The integers' own cut returns them whole when they fit: no measuring here first.
        let (ints, _) = self.into_halves();
        ints.split_to(budget.saturating_sub(INTS_ENVELOPE))
            .into_iter()
            .map(|part| JsonSet::from_halves(part, OrdGSet::new()))
            .collect()
    }

    /// A set of integers only as its [`GSet`] is (a part is over the budget exactly when its integers are over
    /// the budget less the envelope); others by the default.
    fn parts_within(&self, budget: usize) -> Option<(Vec<Self>, usize)> {
        if !self.other().is_empty() {
            return cut_copy(self, budget); // split_to halves such a set
        }
        let (parts, over) = self.ints().parts_within(budget.saturating_sub(INTS_ENVELOPE))?;
        Some((parts.into_iter().map(|part| JsonSet::from_halves(part, OrdGSet::new())).collect(), over))
    }

    /// A set of integers only from its [`GSet`]'s length (no pass over the elements to write them).
    fn json_len(&self) -> usize {
        if self.other().is_empty() { INTS_ENVELOPE + self.ints().json_len() } else { json_len(self) }
    }

    /// Integers and other values apart, then each half on its own.
    fn halve(&self) -> Option<(Self, Self)> {
        let (ints, other) = (self.ints(), self.other());
        if !ints.is_empty() && !other.is_empty() {
            return Some((
                JsonSet::from_halves(ints.clone(), OrdGSet::new()),
                JsonSet::from_halves(GSet::new(), other.clone()),
            ));
        }
        if let Some((a, b)) = ints.halve() {
            return Some((JsonSet::from_halves(a, OrdGSet::new()), JsonSet::from_halves(b, OrdGSet::new())));
        }
        let (a, b) = other.halve()?;
        Some((JsonSet::from_halves(GSet::new(), a), JsonSet::from_halves(GSet::new(), b)))
    }
}

impl<K: ReplicaId> Split for GCounter<K> {
    /// At the median replica entry.
    fn halve(&self) -> Option<(Self, Self)> {
        let entries = self.entries();
        let n = entries.len();
        if n < 2 {
            return None;
        }
        let part = |skip: usize, take: usize| {
            let entries = entries.iter().skip(skip).take(take).map(|(k, &v)| (k.clone(), v));
            GCounter::try_from(entries.collect::<BTreeMap<K, u64>>()).expect("a valid counter's entries are non-zero")
        };
        Some((part(0, n / 2), part(n / 2, n)))
    }
}

impl<K: ReplicaId> Split for PNCounter<K> {
    /// Increments and decrements apart, then each half on its own.
    fn halve(&self) -> Option<(Self, Self)> {
        let (p, n) = (self.increments(), self.decrements());
        if !p.is_empty() && !n.is_empty() {
            return Some((
                PNCounter::of_halves(p.clone(), GCounter::new()),
                PNCounter::of_halves(GCounter::new(), n.clone()),
            ));
        }
        if let Some((a, b)) = p.halve() {
            return Some((PNCounter::of_halves(a, GCounter::new()), PNCounter::of_halves(b, GCounter::new())));
        }
        let (a, b) = n.halve()?;
        Some((PNCounter::of_halves(GCounter::new(), a), PNCounter::of_halves(GCounter::new(), b)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn joined<T: Split + Default + Clone>(parts: &[T]) -> T {
        let mut all = T::default();
        for p in parts {
            all.join(p);
        }
        all
    }

    #[test]
    fn a_sparse_set_is_cut_into_parts_that_fit_and_join_back() {
        let set: GSet = (0..50_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        assert!(set.json_len() > 500_000);
        let parts = set.clone().split_to(60_000);
        assert!(parts.len() >= 9, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.json_len() <= 60_000));
        assert_eq!(joined(&parts), set);
    }

    #[test]
    fn scattered_integers_are_cut_in_one_pass_into_full_parts() {
        let set: GSet = (0..20_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        let halved = split_by_halves(set.clone(), 60_000);
        let parts = set.clone().split_to(60_000);
        assert!(parts.iter().all(|p| p.json_len() <= 60_000));
        assert_eq!(joined(&parts), set);
        // Every part but the last is full: one more element would not have fitted.
        assert_eq!(parts.len(), set.json_len().div_ceil(60_000 - 21));
        assert!(parts.len() <= halved.len(), "{} parts, halving makes {}", parts.len(), halved.len());
        let mut json = JsonSet::new();
        for x in set.iter() {
            json.insert(&json!(x));
        }
        let parts = json.clone().split_to(60_000);
        assert!(parts.iter().all(|p| p.json_len() <= 60_000 && p.other().is_empty()));
        assert_eq!(joined(&parts), json);
        // Runs go in roaring form and are halved; one element over the budget comes back alone.
        let runs: GSet = (0..200_000u64).map(|i| i * 3 / 2).collect();
        let parts = runs.clone().split_to(1_000);
        assert!(parts.iter().all(|p| p.json_len() <= 1_000));
        assert_eq!(joined(&parts), runs);
        let big: GSet = [u64::MAX, u64::MAX - 7].into_iter().collect();
        assert_eq!(big.split_to(10).len(), 2);
    }

    #[test]
    fn a_shared_state_is_cut_as_an_owned_one() {
        let scattered: GSet = (0..20_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).collect();
        let runs: GSet = (0..200_000u64).map(|i| i * 3 / 2).collect();
        fn same_cut<T: Split + Clone + PartialEq + std::fmt::Debug>(x: &T, budget: usize) {
            let parts = x.clone().split_to(budget);
            let over = parts.iter().filter(|p| p.json_len() > budget).count();
            let expected = (parts.len() > 1 || over > 0).then_some((parts, over));
            assert_eq!(x.parts_within(budget), expected);
        }
        let big: GSet = [u64::MAX, u64::MAX - 7, 5].into_iter().collect();
        let cases = [(scattered.clone(), 60_000), (runs, 1_000), (scattered.clone(), 10_000_000), (big, 10)];
        for (set, budget) in cases {
            same_cut(&set, budget);
            let mut json = JsonSet::new();
            for x in set.iter() {
                json.insert(&json!(x));
            }
            same_cut(&json, budget);
            json.insert(&json!("x"));
            same_cut(&json, budget);
        }
        assert_eq!(GSet::new().insert(u64::MAX).parts_within(10).map(|(p, over)| (p.len(), over)), Some((1, 1)));
        let mut json = JsonSet::new();
        for x in scattered.iter().take(100) {
            json.insert(&json!(x));
        }
        assert_eq!(json.json_len(), serde_json::to_string(&json).unwrap().len());
        json.insert(&json!({"k": 1}));
        assert_eq!(json.json_len(), serde_json::to_string(&json).unwrap().len());
    }

    #[test]
    fn a_value_that_fits_is_one_part() {
        let mut s = JsonSet::new();
        s.insert(&json!(42));
        assert_eq!(s.clone().split_to(100), vec![s]);
    }

    #[test]
    fn an_element_larger_than_the_budget_comes_back_alone() {
        let mut s = JsonSet::new();
        s.insert(&json!("x".repeat(5_000)));
        s.insert(&json!(42));
        s.insert(&json!("y"));
        let parts = s.clone().split_to(1_000);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.iter().filter(|p| p.json_len() > 1_000).count(), 1);
        assert_eq!(joined(&parts), s);
    }

    #[test]
    fn json_len_is_the_length_of_the_text() {
        let mut c = PNCounter::<String>::new();
        c.add("n1".into(), 5).unwrap();
        c.add("n2".into(), -3).unwrap();
        assert_eq!(c.json_len(), serde_json::to_string(&c).unwrap().len());
        let parts = c.clone().split_to(20);
        assert_eq!(parts.len(), 2);
        assert_eq!(joined(&parts), c);
        let g: GCounter<u8> = serde_json::from_str(r#"{"1":1,"2":2,"3":3}"#).unwrap();
        assert_eq!(joined(&g.clone().split_to(8)), g);
    }
}
