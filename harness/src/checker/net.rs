//! The `:net` checker (spec §4.4, §14 decision 2): message counts per group, always valid.
//!
//! Each group also carries `:bytes` and (where `:msgs-per-op` is) `:bytes-per-op`, an osmosis extension: the bytes
//! of the message bodies sent, as their senders printed them (see [`crate::net::WireSize`]).

use super::edn::Edn;
use crate::history::{History, OpType};
use crate::net::NetStats;
use crate::net::stats::GroupStats;

/// Client invocations: every `:invoke` whose process is not the nemesis, final reads and failed ops included.
pub fn op_count(history: &History) -> u64 {
    history.ops.iter().filter(|op| op.is_client() && op.op_type == OpType::Invoke).count() as u64
}

/// `msg-count / op-count` as a 32-bit float; `None` when `op_count` is 0.
pub fn msgs_per_op(msg_count: u64, op_count: u64) -> Option<f32> {
    (op_count > 0).then(|| (msg_count as f64 / op_count as f64) as f32)
}

fn group(g: &GroupStats, op_count: Option<u64>) -> Edn {
    let mut m = vec![
        ("send-count", Edn::from(g.send_count)),
        ("recv-count", Edn::from(g.recv_count)),
        ("msg-count", Edn::from(g.msg_count)),
    ];
    if let Some(per_op) = op_count.and_then(|n| msgs_per_op(g.msg_count, n)) {
        m.push(("msgs-per-op", Edn::Float32(per_op)));
    }
    // osmosis extension: bytes as well as messages.
    m.push(("bytes", Edn::from(g.bytes)));
    if let Some(per_op) = op_count.and_then(|n| msgs_per_op(g.bytes, n)) {
        m.push(("bytes-per-op", Edn::Float32(per_op)));
    }
    Edn::kw_map(m)
}

/// `{:all {…} :clients {…} :servers {…} :valid? true}`; `:msgs-per-op` and `:bytes-per-op` only under `:all` and
/// `:servers`. Group key order: `:send-count :recv-count :msg-count [:msgs-per-op] :bytes [:bytes-per-op]`.
pub fn to_edn(net: &NetStats, history: &History) -> Edn {
    let ops = op_count(history);
    Edn::kw_map([
        ("all", group(&net.all, Some(ops))),
        ("clients", group(&net.clients, None)),
        ("servers", group(&net.servers, Some(ops))),
        ("valid?", Edn::Bool(true)),
    ])
}
