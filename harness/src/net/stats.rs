//! Counters behind the `:net` checker (spec §4.4), kept live by the network instead of re-reading a journal.

use serde::{Deserialize, Serialize};

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
    /// Records a send of a message between `src` and `dest`; `involves_client` is true when either is a client.
    pub fn on_send(&mut self, involves_client: bool) {
        self.all.send_count += 1;
        self.all.msg_count += 1;
        let g = self.group(involves_client);
        g.send_count += 1;
        g.msg_count += 1;
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
