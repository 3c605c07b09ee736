//! # osmosis-crdt
//!
//! Delta-state CRDTs with compact digests, for push-pull anti-entropy. No async runtime, no I/O: plain data
//! types, each a join-semilattice ([`Lattice`]) whose mutators return the delta they produced, and whose
//! [`DeltaCrdt::digest_seeded`] / [`DeltaCrdt::delta_since`] / [`DeltaCrdt::apply_delta`] let two replicas find
//! and ship their difference. Deltas are states of the same type (delta-state CRDTs), so applying one is a join.
//!
//! | type | elements / value | digest | `delta_since` precision |
//! |---|---|---|---|
//! | [`GSet`] | `u64`, on a roaring treemap | one fingerprint per 2^16 chunk | whole differing chunks |
//! | [`OrdGSet`] | any ordered [`StableHash`] element | ≤ 4096 bucket fingerprints | whole differing buckets |
//! | [`JsonSet`] | any JSON value (integers on [`GSet`]) | both of the above | as its halves |
//! | [`GCounter`] | `u128` read, `u64` per replica | the version vector | exact |
//! | [`PNCounter`] | `i128` read (checked `i64`) | both version vectors | exact |
//!
//! Hashed digests are keyed by a per-round seed carried in the digest; a fingerprint collision delays one chunk
//! by one round and is repaired by the next seed. The digest formats, size formulas and the collision argument are
//! written down in [`gset`] and [`ordgset`]. All hashing is a fixed integer function (SplitMix64), stable across
//! platforms and builds.
//!
//! Besides digests, [`GSet`], [`JsonSet`], [`GCounter`] and [`PNCounter`] implement [`Reconcile`]: a round that
//! costs what two replicas differ by (a 64-byte summary at any size, then coded cells and only the missing items),
//! on a rateless coding of each replica's keys that the replica keeps up to date as it changes.
//!
//! Modules: [`traits`] (the contracts), [`gset`] + `gset_codec` (roaring set and its adaptive wire encoding),
//! [`ordgset`], [`jsonset`], [`gcounter`], [`pncounter`], [`split`] (cutting a delta to a byte budget), [`error`], `fingerprint` (stable hashing);
//! reconciliation: [`coding`] (the rateless code), [`reconcile`] (the trait and the key session), [`repair`] (its
//! messages and driver), `gset_repair`, `jsonset_repair`, `counter_repair` (what each type's keys stand for),
//! [`wire`] (bounded byte readers).
//!
//! Every type and every digest/delta implements serde. Decoding treats its input as a peer's, i.e. untrusted:
//! malformed data is an error, never a panic; no allocation is sized from a length field; and whatever decodes
//! passes the type's hidden `validate()` (the invariant check the tests call). `tests/decoding.rs` feeds random
//! JSON, mutated encodings and mutated roaring payloads to every deserializer to hold them to that.

pub mod coding;
mod counter_repair;
pub mod error;
mod fingerprint;
pub mod gcounter;
pub mod gset;
mod gset_buffer;
mod gset_codec;
mod gset_repair;
pub mod jsonset;
mod jsonset_repair;
mod key_session;
pub mod ordgset;
pub mod pncounter;
pub mod reconcile;
pub mod repair;
mod sketch;
pub mod split;
pub mod traits;
pub mod wire;

pub use error::{CounterOverflow, ReadOverflow};
pub use fingerprint::StableHash;
pub use gcounter::{GCounter, ReplicaId};
pub use gset::{GSet, GSetDigest};
pub use gset_codec::GSetEncoding;
pub use jsonset::{CanonicalJson, JsonSet, JsonSetDigest};
pub use ordgset::{OrdElement, OrdGSet, OrdGSetDigest};
pub use pncounter::PNCounter;
pub use reconcile::{Reconcile, Step};
pub use repair::Repair;
pub use split::{Split, json_len};
pub use traits::{DeltaCrdt, Lattice};
pub use wire::WireError;

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
