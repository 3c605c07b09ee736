//! osmosis-crdt: delta-state CRDTs (work in progress).
