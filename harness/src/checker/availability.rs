//! Maelstrom's availability checker (spec §9.7).

use super::edn::Edn;
use super::{AvailabilityReq, Validity};
use crate::history::{History, OpType};

/// The availability result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AvailabilityResult {
    /// `:ok` entries / `:invoke` entries, as a 32-bit float; `None` when there were no invocations (Maelstrom
    /// then reports the integer `1`).
    pub ok_fraction: Option<f32>,
    /// Against `--availability`.
    pub valid: bool,
}

impl AvailabilityResult {
    /// `{:valid? :ok-fraction}`.
    pub fn to_edn(&self) -> Edn {
        Edn::kw_map([
            ("valid?", Edn::Bool(self.valid)),
            ("ok-fraction", self.ok_fraction.map_or(Edn::Int(1), Edn::Float32)),
        ])
    }

    /// `:valid?` as a [`Validity`].
    pub fn validity(&self) -> Validity {
        if self.valid { Validity::True } else { Validity::False }
    }
}

/// Runs the availability checker. Maelstrom counts `:invoke` and `:ok` entries over the whole history; nemesis
/// entries are `:info` there, so this counts client entries only, which is the same whichever type the driver
/// gives nemesis invocations.
pub fn check(history: &History, req: Option<AvailabilityReq>) -> AvailabilityResult {
    let client = || history.ops.iter().filter(|op| op.is_client());
    let invokes = client().filter(|op| op.op_type == OpType::Invoke).count();
    let oks = client().filter(|op| op.op_type == OpType::Ok).count();
    // `(float (/ ok-count invoke-count))`: the exact ratio rounded to a float.
    let ok_fraction = (invokes > 0).then(|| (oks as f64 / invokes as f64) as f32);
    let fraction = ok_fraction.map_or(1.0, f64::from);
    let valid = match req {
        None => true,
        Some(AvailabilityReq::Total) => fraction == 1.0,
        Some(AvailabilityReq::AtLeast(a)) => a <= fraction,
    };
    AvailabilityResult { ok_fraction, valid }
}
