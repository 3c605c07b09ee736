//! Counters behind the `:net` checker (spec §4.4), kept live by the network instead of re-reading a journal.
//!
//! Besides Maelstrom's counts the network adds up the bytes of what it carries (an osmosis extension, `:bytes`):
//! each payload says its size through [`WireSize`].

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What a payload weighs on the wire, for the `:bytes` counts.
pub trait WireSize {
    /// Bytes this payload carries: for a message body, the JSON text its sender printed.
    fn wire_size(&self) -> u64;
}

impl WireSize for RawValue {
    fn wire_size(&self) -> u64 {
        self.get().len() as u64
    }
}

impl WireSize for str {
    fn wire_size(&self) -> u64 {
        self.len() as u64
    }
}

impl WireSize for [u8] {
    fn wire_size(&self) -> u64 {
        self.len() as u64
    }
}

impl<T: WireSize + ?Sized> WireSize for Box<T> {
    fn wire_size(&self) -> u64 {
        (**self).wire_size()
    }
}

impl<T: WireSize + ?Sized> WireSize for std::sync::Arc<T> {
    fn wire_size(&self) -> u64 {
        (**self).wire_size()
    }
}

impl WireSize for String {
    fn wire_size(&self) -> u64 {
        self.len() as u64
    }
}

impl WireSize for Vec<u8> {
    fn wire_size(&self) -> u64 {
        self.len() as u64
    }
}

/// The empty payload weighs nothing.
impl WireSize for () {
    fn wire_size(&self) -> u64 {
        0
    }
}

/// Numbers stand in for payloads in tests and benches; they weigh their in-memory size.
impl WireSize for u32 {
    fn wire_size(&self) -> u64 {
        4
    }
}

/// Numbers stand in for payloads in tests and benches; they weigh their in-memory size.
impl WireSize for u64 {
    fn wire_size(&self) -> u64 {
        8
    }
}

/// Counts for one group of journal events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStats {
    /// `:send-count`: messages handed to the network.
    pub send_count: u64,
    /// `:recv-count`: messages delivered.
    pub recv_count: u64,
    /// `:msg-count`: distinct message ids among the group's events. Every message is sent exactly once and
    /// journaled at send, so this equals `send_count`; kept separate to mirror Maelstrom's definition.
    pub msg_count: u64,
    /// `:bytes` (an osmosis extension): the sum of the sent payloads' [`WireSize`], i.e. of the message bodies as
    /// their senders printed them (the envelope, `src`, `dest` and the network's `id`, is not counted).
    #[serde(default)]
    pub bytes: u64,
}

/// `:net` counts for the three groups of spec §4.4.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetStats {
    /// Every event.
    pub all: GroupStats,
    /// Events whose message has a client (`c…`) as source or destination.
    pub clients: GroupStats,
    /// Events whose message has neither end a client (node↔node, node↔service).
    pub servers: GroupStats,
}

impl NetStats {
    /// Records a send of a message of `bytes` bytes between `src` and `dest`; `involves_client` is true when
    /// either is a client.
    pub fn on_send(&mut self, involves_client: bool, bytes: u64) {
        self.all.send_count += 1;
        self.all.msg_count += 1;
        self.all.bytes += bytes;
        let g = self.group(involves_client);
        g.send_count += 1;
        g.msg_count += 1;
        g.bytes += bytes;
    }

    /// Records a delivery.
    pub fn on_recv(&mut self, involves_client: bool) {
        self.all.recv_count += 1;
        self.group(involves_client).recv_count += 1;
    }

    fn group(&mut self, involves_client: bool) -> &mut GroupStats {
        if involves_client { &mut self.clients } else { &mut self.servers }
    }
}
