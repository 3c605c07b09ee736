//! The shared law checker: every CRDT's property tests call these, so the laws are written once.

use std::fmt::Debug;

use osmosis_crdt::{DeltaCrdt, GCounter, GSet, JsonSet, OrdElement, OrdGSet, PNCounter, Reconcile, Split};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A CRDT under test: deltas are states, they can be cut to a byte budget, and invariants can be checked.
pub(crate) trait Checked:
    DeltaCrdt<Delta = Self> + Split + Clone + PartialEq + Debug + Default + Serialize + DeserializeOwned
{
    fn check(&self) -> Result<(), String>;
}

impl Checked for GSet {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}
impl<T: OrdElement> Checked for OrdGSet<T> {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}
impl Checked for JsonSet {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}
impl Checked for GCounter<String> {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}
impl Checked for PNCounter<String> {
    fn check(&self) -> Result<(), String> {
        self.validate()
    }
}

fn valid<T: Checked>(x: &T) -> Result<(), TestCaseError> {
    x.check().map_err(TestCaseError::fail)
}

fn joined<T: Checked>(a: &T, b: &T) -> T {
    let mut out = a.clone();
    out.join(b);
    out
}

/// Join is commutative, associative and idempotent; its `changed` flag is truthful; bottom is the identity.
pub(crate) fn join_laws<T: Checked>(a: &T, b: &T, c: &T) -> Result<(), TestCaseError> {
    for x in [a, b, c] {
        valid(x)?;
    }
    prop_assert_eq!(joined(a, b), joined(b, a), "commutative");
    prop_assert_eq!(joined(&joined(a, b), c), joined(a, &joined(b, c)), "associative");
    let mut aa = a.clone();
    prop_assert!(!aa.join(a), "joining itself reports no change");
    prop_assert_eq!(&aa, a, "idempotent");
    prop_assert_eq!(joined(a, &T::default()), a.clone(), "bottom is the identity");
    let mut ab = a.clone();
    let changed = ab.join(b);
    prop_assert_eq!(changed, ab != *a, "join's changed flag");
    valid(&ab)
}

/// `b.apply_delta(a.delta_since(b.digest))` is `a ⊔ b`; a replica's own digest yields an empty delta;
/// a delta adds nothing to its sender; `digest_matching` tells equal replicas from different ones; states, digests and deltas round-trip through JSON.
pub(crate) fn delta_laws<T: Checked>(a: &T, b: &T, seed: u64) -> Result<(), TestCaseError> {
    let digest = b.digest_seeded(seed);
    let delta = a.delta_since(&digest);
    valid(&delta)?;
    let mut b2 = b.clone();
    let changed = b2.apply_delta(&delta);
    prop_assert_eq!(&b2, &joined(a, b), "delta brings the digest's owner to a ⊔ b");
    prop_assert_eq!(changed, b2 != *b);
    prop_assert!(T::delta_is_empty(&a.delta_since(&a.digest_seeded(seed))), "nothing to send to an equal replica");
    prop_assert!(!a.clone().apply_delta(&delta), "a delta is below its sender");
    // 64-bit fingerprints: a collision between the random states here is out of reach.
    prop_assert_eq!(a.digest_matching(&digest) == digest, *a == *b, "digest_matching says whether replicas agree");
    prop_assert!(b.digest_matching(&digest) == digest, "a replica's own digest matches itself");
    roundtrip(a)?;
    roundtrip(&delta)?;
    split_law(a, 40 + (seed % 400) as usize)?;
    let text = serde_json::to_string(&digest).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T::Digest = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back, digest);
    Ok(())
}

/// `split_to` cuts a state into valid parts whose join is the state, each within the budget unless it is one
/// indivisible element; `json_len` is the length of the JSON text.
pub(crate) fn split_law<T: Checked>(x: &T, budget: usize) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(x).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(x.json_len(), text.len(), "json_len");
    let parts = x.clone().split_to(budget);
    let mut all = T::default();
    for part in &parts {
        valid(part)?;
        prop_assert!(part.json_len() <= budget || part.halve().is_none(), "a part over the budget is divisible");
        all.join(part);
    }
    prop_assert_eq!(&all, x, "the parts join to the whole");
    prop_assert_eq!(parts.len() == 1, x.json_len() <= budget || x.halve().is_none(), "one part when it fits");
    Ok(())
}

fn roundtrip<T: Checked>(x: &T) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(x).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    valid(&back)?;
    prop_assert_eq!(&back, x, "JSON round trip");
    // Decoding may change the internal representation (roaring run containers), never the digest.
    prop_assert_eq!(back.digest_seeded(7), x.digest_seeded(7), "digest after a round trip");
    Ok(())
}

/// Ops spread over `n` replicas, then merged three ways — states joined in the given order, deltas delivered in
/// the given order to a fresh replica, and push-pull anti-entropy along a ring with a fresh seed per exchange —
/// all converge to the same state.
pub(crate) fn convergence<T: Checked, Op: Debug>(
    n: usize,
    ops: &[(usize, Op)],
    apply: impl Fn(&mut T, usize, &Op) -> T,
    order: &[usize],
) -> Result<(), TestCaseError> {
    let mut replicas = vec![T::default(); n];
    let mut deltas = Vec::new();
    for (who, op) in ops {
        let i = who % n;
        let delta = apply(&mut replicas[i], i, op);
        valid(&replicas[i])?;
        deltas.push(delta);
    }
    let mut all = T::default();
    for r in &replicas {
        all.join(r);
    }
    let mut in_order = T::default();
    for &i in order {
        in_order.join(&replicas[i % n]);
    }
    for r in &replicas {
        in_order.join(r);
    }
    prop_assert_eq!(&in_order, &all, "state joins in any order");
    let mut from_deltas = T::default();
    let mut idx: Vec<usize> = (0..deltas.len()).collect();
    idx.sort_by_key(|&i| order.get(i).copied().unwrap_or(i).wrapping_mul(7919) ^ i);
    for i in idx {
        from_deltas.apply_delta(&deltas[i]);
    }
    prop_assert_eq!(&from_deltas, &all, "deltas delivered in any order");
    let mut seed = 0u64;
    for _pass in 0..2 {
        for i in 0..n {
            let j = (i + 1) % n;
            seed += 1;
            push_pull(&mut replicas, i, j, seed);
        }
    }
    for r in &replicas {
        prop_assert_eq!(r, &all, "anti-entropy converges");
    }
    Ok(())
}

/// One push-pull exchange: `i` sends its digest, `j` answers with a delta and its digest, `i` answers with a delta.
pub(crate) fn push_pull<T: Checked>(replicas: &mut [T], i: usize, j: usize, seed: u64) {
    let d_i = replicas[i].digest_seeded(seed);
    let to_i = replicas[j].delta_since(&d_i);
    let d_j = replicas[j].digest_seeded(seed);
    replicas[i].apply_delta(&to_i);
    let to_j = replicas[i].delta_since(&d_j);
    replicas[j].apply_delta(&to_j);
}

/// With a deliberately weak digest (`weak(state, seed)`, e.g. 4-bit fingerprints, where collisions are common),
/// rotating seeds repairs every collision: `b` reaches `a ⊔ b` within 64 rounds. Returns how many rounds
/// failed to deliver everything, so callers can assert that collisions really happened.
pub(crate) fn collision_repair<T: Checked>(
    a: &T,
    b: &T,
    weak: impl Fn(&T, u64) -> T::Digest,
) -> Result<usize, TestCaseError> {
    let target = joined(a, b);
    let mut b = b.clone();
    let mut rounds_short = 0;
    for seed in 0..64 {
        if b == target {
            return Ok(rounds_short);
        }
        b.apply_delta(&a.delta_since(&weak(&b, seed)));
        if b != target {
            rounds_short += 1;
        }
    }
    prop_assert_eq!(b, target, "collisions were not repaired by rotating seeds");
    Ok(rounds_short)
}

/// Strategy helpers shared by the property tests.
pub(crate) fn replica_count() -> impl Strategy<Value = usize> {
    2usize..=7
}

/// Merge orders over up to 7 replicas, with repeats.
pub(crate) fn merge_order() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..7, 0..20)
}

/// What one repair exchange cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RoundCost {
    /// Messages, the summary included (0 when nothing was sent at all).
    pub(crate) messages: usize,
    /// JSON bytes of the summary and of every repair message (the CRDT payload, see benches/README.md).
    pub(crate) bytes: usize,
}

fn through_json<M: Serialize + DeserializeOwned>(
    msg: &M,
    cost: &mut RoundCost,
    budget: usize,
) -> Result<M, TestCaseError> {
    let text = serde_json::to_string(msg).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(text.len() <= budget, "a {}-byte message over the {budget}-byte budget", text.len());
    cost.messages += 1;
    cost.bytes += text.len();
    serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))
}

/// The reconciliation law: one exchange — `a`'s summary (rewritten by `forge`, which tests use to make the
/// responder size its first batch wrongly and so force decode failures), `b`'s answer, and every message after it
/// delivered through JSON, each within `budget` — leaves both replicas at `a ⊔ b`, valid, with both sides done;
/// no message is addressed to a side after it said it was done (the engine drops its session); and each step's
/// delta, joined into the replica as it was before the step, gives the replica after it.
pub(crate) fn repair_law<T: Checked + Reconcile>(
    a: &T,
    b: &T,
    budget: usize,
    forge: impl Fn(&T::Summary, &T::Summary) -> T::Summary,
) -> Result<RoundCost, TestCaseError> {
    let target = joined(a, b);
    let (mut a, mut b) = (a.clone(), b.clone());
    let mut cost = RoundCost::default();
    let summary = through_json(&forge(&a.summary(), &b.summary()), &mut cost, 64)?;
    prop_assert!(cost.bytes <= 64, "summary of {} bytes", cost.bytes);
    let Some((mut b_session, first)) = b.open(&summary, budget) else {
        prop_assert_eq!(&a, &b, "only equal replicas agree");
        return Ok(RoundCost { messages: 1, bytes: cost.bytes });
    };
    let mut a_session = T::Session::default();
    let mut queue: std::collections::VecDeque<(bool, T::Repair)> = first.into_iter().map(|m| (true, m)).collect();
    let (mut a_done, mut b_done) = (false, false);
    while let Some((to_a, msg)) = queue.pop_front() {
        prop_assert!(cost.messages < 10_000, "the exchange does not end");
        let msg = through_json(&msg, &mut cost, budget)?;
        prop_assert!(!(if to_a { a_done } else { b_done }), "a message for a side that said it was done");
        let (replica, session) = if to_a { (&mut a, &mut a_session) } else { (&mut b, &mut b_session) };
        let mut before = replica.clone();
        let step = replica.step(session, &msg, budget).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(before.join(&step.delta), !T::delta_is_empty(&step.delta), "a step's delta is news");
        prop_assert_eq!(&before, &*replica, "a step's delta is what it added to the replica");
        if to_a {
            a_done |= step.done;
        } else {
            b_done |= step.done;
        }
        queue.extend(step.send.into_iter().map(|m| (!to_a, m)));
    }
    prop_assert!(a_done || b_done, "neither side finished");
    valid(&a)?;
    valid(&b)?;
    prop_assert_eq!(&a, &target, "the initiator reaches a ⊔ b");
    prop_assert_eq!(&b, &target, "the responder reaches a ⊔ b");
    Ok(cost)
}
