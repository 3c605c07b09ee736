//! Node ids: what the engine needs of the names of the cluster's members.

use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A node id: ordered (the overlay orders members by id, and everything iterated is iterated in id order),
/// cloneable (an engine keeps one copy per member it knows and clones one into each outgoing message's address),
/// encodable (a push names the members its sender routes around) and printable for diagnostics. Maelstrom's `String` names (`"n1"`) are the default; the simulator uses
/// indices; a deployment may use socket addresses or an interned name. Implemented for every type with these
/// traits, in the style of foca's `Identity`.
///
/// Every node of a cluster must order ids the same way, so `Ord` must be a fixed function of the id (not of
/// memory addresses or of a per-process random state).
pub trait NodeId: Ord + Clone + Debug + Serialize + DeserializeOwned {}

impl<T: Ord + Clone + Debug + Serialize + DeserializeOwned> NodeId for T {}
