//! What several test binaries share: a set whose reconciliation is made to fail its first decodes.

use osmosis_crdt::reconcile::KeySummary;
use osmosis_crdt::repair::Session;
use osmosis_crdt::{DeltaCrdt, GSet, GSetDigest, Lattice, Reconcile, Repair, Split, Step, WireError};
use serde::{Deserialize, Serialize};

/// A [`GSet`] whose responder sizes its first batch of cells as if the peer's sketch matched its own: for two
/// differences, or for the count difference alone. Symmetric differences then fail to decode at first, and the
/// decoder must ask for more cells (reconcile.rs, step 3) to finish.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Understated(pub(crate) GSet);

impl Lattice for Understated {
    fn join(&mut self, other: &Self) -> bool {
        self.0.join(&other.0)
    }
}

impl Split for Understated {
    fn halve(&self) -> Option<(Self, Self)> {
        self.0.halve().map(|(a, b)| (Understated(a), Understated(b)))
    }
}

impl DeltaCrdt for Understated {
    type Digest = GSetDigest;
    type Delta = Understated;
    fn digest_seeded(&self, seed: u64) -> GSetDigest {
        self.0.digest_seeded(seed)
    }
    fn digest_matching(&self, theirs: &GSetDigest) -> GSetDigest {
        self.0.digest_matching(theirs)
    }
    fn delta_since(&self, digest: &GSetDigest) -> Understated {
        Understated(self.0.delta_since(digest))
    }
    fn apply_delta(&mut self, delta: &Understated) -> bool {
        self.0.apply_delta(&delta.0)
    }
    fn delta_is_empty(delta: &Understated) -> bool {
        delta.0.is_empty()
    }
}

impl Reconcile for Understated {
    type Summary = KeySummary;
    type Repair = Repair;
    type Session = Session<GSet>;
    fn summary(&self) -> KeySummary {
        self.0.summary()
    }
    fn open(&self, theirs: &KeySummary, budget: usize) -> Option<(Session<GSet>, Vec<Repair>)> {
        let understated = KeySummary { set: theirs.set, sketch: self.0.summary().sketch };
        self.0.open(&understated, budget)
    }
    fn step(
        &mut self,
        session: &mut Session<GSet>,
        msg: &Repair,
        budget: usize,
    ) -> Result<Step<Repair, Understated>, WireError> {
        let Step { send, done, delta } = self.0.step(session, msg, budget)?;
        Ok(Step { send, done, delta: Understated(delta) })
    }
}
