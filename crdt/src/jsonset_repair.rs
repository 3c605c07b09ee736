//! [`JsonSet`] reconciliation ([`crate::Reconcile`]): integers are integer keys, as in a [`GSet`]; every other
//! value is the hashed key of its canonical text (its record). A round where only integers differ costs what a
//! [`GSet`] round costs; a decoder that lacks other values asks for them by key (one exchange more).

use roaring::RoaringTreemap;

use crate::coding::{CodedPrefix, Space};
use crate::gset::GSet;
use crate::jsonset::{CanonicalJson, JsonSet, value_key};
use crate::key_session::width_of;
use crate::ordgset::OrdGSet;
use crate::reconcile::KeySet;
use crate::repair::{Keyed, membership_of, reconcile_by_keys, runs_bytes};
use crate::traits::Lattice;
use crate::wire::{WireError, err, varint_len};

impl KeySet for JsonSet {
    fn prefix(&self) -> &CodedPrefix {
        JsonSet::prefix(self)
    }

    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_> {
        Box::new(self.coded_keys())
    }

    fn membership(&self) -> Box<dyn Fn(Space, u64) -> bool + '_> {
        membership_of(self)
    }

    fn key_width(&self) -> usize {
        if self.other().is_empty() { self.ints().max().map_or(1, width_of) } else { 8 }
    }

    fn keys_are_items(&self) -> bool {
        true
    }

    fn state_bytes(&self) -> usize {
        let other: usize = self.other().iter().map(|c| varint_len(c.as_str().len() as u64) + c.as_str().len()).sum();
        1 + runs_bytes(self.ints().as_treemap()) + other
    }
}

impl Keyed for JsonSet {
    fn records(&self) -> Vec<(u64, Vec<u8>)> {
        let mut out: Vec<(u64, Vec<u8>)> =
            self.other().iter().map(|c| (value_key(c), c.as_str().as_bytes().to_vec())).collect();
        out.sort_unstable();
        out
    }

    fn int_elements(&self) -> Option<&GSet> {
        Some(self.ints())
    }

    fn parse(ints: &GSet, records: &[Vec<u8>]) -> Result<JsonSet, WireError> {
        let mut out = JsonSet::from_halves(ints.clone(), OrdGSet::new());
        for r in records {
            let value: serde_json::Value =
                serde_json::from_slice(r).map_err(|e| err(format!("a record that is not a JSON value: {e}")))?;
            out.insert_canonical(CanonicalJson::new(&value));
        }
        Ok(out)
    }

    fn absorb(&mut self, delta: &JsonSet) -> JsonSet {
        let other: OrdGSet<CanonicalJson> =
            delta.other().iter().filter(|c| !self.other().contains(c)).cloned().collect();
        let new = JsonSet::from_halves(self.ints().news(delta.ints()), other);
        self.join(&new);
        new
    }

    fn lacking(&self, received: &JsonSet) -> (RoaringTreemap, Vec<Vec<u8>>) {
        let ints = self.ints().as_treemap() - received.ints().as_treemap();
        let other = self.other().iter().filter(|c| !received.other().contains(c));
        (ints, other.map(|c| c.as_str().as_bytes().to_vec()).collect())
    }
}

reconcile_by_keys!(JsonSet);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::reconcile::Reconcile;
    use crate::repair::{Repair, Session};

    /// Runs a round `a` → `b` to its end through JSON; returns (messages, state parts).
    fn round(a: &mut JsonSet, b: &mut JsonSet) -> (usize, usize) {
        let budget = 8000;
        let Some((mut sb, first)) = b.open(&a.summary(), budget) else { return (1, 0) };
        let mut sa = Session::<JsonSet>::default();
        let (mut msgs, mut states) = (1, 0);
        let mut queue: std::collections::VecDeque<(bool, Repair)> = first.into_iter().map(|m| (true, m)).collect();
        while let Some((to_a, m)) = queue.pop_front() {
            assert!(msgs < 1000, "the round ends");
            msgs += 1;
            states += usize::from(matches!(m, Repair::State(_)));
            let m: Repair = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            let step = if to_a { a.step(&mut sa, &m, budget) } else { b.step(&mut sb, &m, budget) };
            queue.extend(step.expect("a valid message").send.into_iter().map(|m| (!to_a, m)));
        }
        (msgs, states)
    }

    #[test]
    fn an_integer_equal_to_a_values_hashed_key_does_not_cancel_it_so_the_round_decodes() {
        // A client can add the integer that a string hashes to: both are the same 64-bit key, one in each space.
        let text = json!("a string value");
        let h = value_key(&CanonicalJson::new(&text));
        let mut base = JsonSet::new();
        for i in 0..2000u64 {
            base.insert(&json!(crate::fingerprint::mix64(i) >> 1));
        }
        let (mut a, mut b) = (base.clone(), base);
        a.insert(&json!(h));
        b.insert(&text);
        assert_ne!(a.summary(), b.summary());
        let (msgs, states) = round(&mut a, &mut b);
        assert_eq!(a, b, "both end at the join");
        assert!(a.contains(&json!(h)) && a.contains(&text));
        assert_eq!(states, 0, "decoded from cells, not sent as the state ({msgs} messages)");
        assert!(msgs <= 5, "{msgs} messages");
    }
}
