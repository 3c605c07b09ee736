//! [`GSet`] reconciliation ([`crate::Reconcile`]): the keys are the elements themselves ([`Space::Int`]), so a
//! peeled cell *is* a missing element and nothing but cells and the elements the peer lacks ever travel. The
//! protocol is in [`crate::reconcile`], the messages in [`crate::repair`].

use roaring::RoaringTreemap;

use crate::coding::{CodedPrefix, Space};
use crate::gset::GSet;
use crate::key_session::width_of;
use crate::reconcile::KeySet;
use crate::repair::{Keyed, reconcile_by_keys, runs_bytes};
use crate::traits::Lattice;
use crate::wire::{WireError, err};

impl KeySet for GSet {
    fn prefix(&self) -> &CodedPrefix {
        GSet::prefix(self)
    }

    fn keys(&self) -> Box<dyn Iterator<Item = (Space, u64)> + '_> {
        Box::new(self.iter().map(|x| (Space::Int, x)))
    }

    fn membership(&self) -> Box<dyn Fn(Space, u64) -> bool + '_> {
        Box::new(|space, x| space == Space::Int && self.contains(x))
    }

    fn state_bytes(&self) -> usize {
        1 + runs_bytes(self.as_treemap())
    }

    fn key_width(&self) -> usize {
        self.max().map_or(1, width_of)
    }

    fn keys_are_items(&self) -> bool {
        true
    }
}

impl GSet {
    /// What `part` would add to this set: looked up element by element (O(d log n)) for a part much smaller than
    /// the set, by roaring's difference otherwise.
    pub(crate) fn news(&self, part: &GSet) -> GSet {
        if part.len() <= (self.len() / 64).max(64) {
            part.iter().filter(|&x| !self.contains(x)).collect()
        } else {
            GSet::from_treemap(part.as_treemap() - self.as_treemap())
        }
    }
}

impl Keyed for GSet {
    fn records(&self) -> Vec<(u64, Vec<u8>)> {
        Vec::new()
    }

    fn int_elements(&self) -> Option<&GSet> {
        Some(self)
    }

    fn parse(ints: &GSet, records: &[Vec<u8>]) -> Result<GSet, WireError> {
        if !records.is_empty() {
            return Err(err("records for a set of integers"));
        }
        Ok(ints.clone())
    }

    fn absorb(&mut self, delta: &GSet) -> GSet {
        let new = self.news(delta);
        self.join(&new);
        new
    }

    fn lacking(&self, received: &GSet) -> (RoaringTreemap, Vec<Vec<u8>>) {
        (self.as_treemap() - received.as_treemap(), Vec::new())
    }
}

reconcile_by_keys!(GSet);
