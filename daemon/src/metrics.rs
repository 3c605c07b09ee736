//! What `GET /metrics` reports, in Prometheus' text format (the `prometheus-client` crate).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `osmosis_datagrams_sent_total`, `osmosis_bytes_sent_total` | `kind` | datagrams and their bytes (framing and MAC included) by kind: `ae_push`, `ae_summary`, `ae_reply`, `ae_repair`, `swim` |
//! | `osmosis_datagrams_received_total`, `osmosis_bytes_received_total` | `kind` | the same for authentic datagrams received |
//! | `osmosis_datagrams_dropped_total` | `reason` | datagrams refused unread or unmerged (see [`crate::wire::DropReason`]) |
//! | `osmosis_send_errors_total` | `reason` | outgoing messages not sent: `oversize` (one element over the byte budget), `no_address`, `socket` |
//! | `osmosis_rounds_total` | `cause` | anti-entropy rounds started: `timer`, `gap` |
//! | `osmosis_objects` | `kind` | sets and counters held |
//! | `osmosis_set_elements`, `osmosis_counter_entries` | | elements over all sets, replica entries over all counters |
//! | `osmosis_peers` | `state` | other members SWIM holds `alive` or `suspect` |
//! | `osmosis_membership_events_total`, `osmosis_member_set_changes_total` | | members up/down/renamed; changes of the engine's member set |
//! | `osmosis_swim_probes_answered_by_traffic_total` | | SWIM probes answered by recent engine traffic instead of a ping ([`crate::membership`]) |
//! | `osmosis_http_requests_total` | `route`, `status` | API requests by route and HTTP status |
//! | `osmosis_log_appends_total`, `osmosis_log_fsyncs_total`, `osmosis_snapshots_total` | | persistence |

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label sets: a list of (name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

type Counters = Family<Labels, Counter<u64, AtomicU64>>;
type Gauges = Family<Labels, Gauge<i64>>;

/// Every metric of the daemon (cheap to update from any thread: atomics).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Datagrams sent, by `kind`.
    pub sent: Counters,
    /// Bytes sent, by `kind`.
    pub sent_bytes: Counters,
    /// Datagrams received, by `kind`.
    pub received: Counters,
    /// Bytes received, by `kind`.
    pub received_bytes: Counters,
    /// Datagrams dropped, by `reason`.
    pub dropped: Counters,
    /// Messages not sent, by `reason`.
    pub send_errors: Counters,
    /// Rounds, by `cause`.
    pub rounds: Counters,
    /// Objects, by `kind`.
    pub objects: Gauges,
    /// Elements over all sets.
    pub elements: Gauge<i64>,
    /// Counter entries over all counters.
    pub counter_entries: Gauge<i64>,
    /// Peers, by `state`.
    pub peers: Gauges,
    /// Membership notifications.
    pub membership_events: Counter,
    /// Changes of the engine's member set.
    pub rebuilds: Counter,
    /// SWIM probes answered by engine traffic.
    pub probes_by_traffic: Counter,
    /// HTTP requests, by `route` and `status`.
    pub http: Counters,
    /// Log records appended.
    pub log_appends: Counter,
    /// fsync calls on the log.
    pub log_fsyncs: Counter,
    /// Snapshots written.
    pub snapshots: Counter,
}

/// One label.
pub fn label(name: &'static str, value: &str) -> Labels {
    vec![(name, value.to_string())]
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("osmosis");
        let m = Metrics {
            registry: Registry::default(),
            sent: Counters::default(),
            sent_bytes: Counters::default(),
            received: Counters::default(),
            received_bytes: Counters::default(),
            dropped: Counters::default(),
            send_errors: Counters::default(),
            rounds: Counters::default(),
            objects: Gauges::default(),
            elements: Gauge::default(),
            counter_entries: Gauge::default(),
            peers: Gauges::default(),
            membership_events: Counter::default(),
            rebuilds: Counter::default(),
            probes_by_traffic: Counter::default(),
            http: Counters::default(),
            log_appends: Counter::default(),
            log_fsyncs: Counter::default(),
            snapshots: Counter::default(),
        };
        registry.register("datagrams_sent", "Datagrams sent, by kind", m.sent.clone());
        registry.register("bytes_sent", "Bytes of datagrams sent, by kind", m.sent_bytes.clone());
        registry.register("datagrams_received", "Authentic datagrams received, by kind", m.received.clone());
        registry.register("bytes_received", "Bytes of authentic datagrams received, by kind", m.received_bytes.clone());
        registry.register("datagrams_dropped", "Datagrams dropped without merging, by reason", m.dropped.clone());
        registry.register("send_errors", "Outgoing messages not sent, by reason", m.send_errors.clone());
        registry.register("rounds", "Anti-entropy rounds started, by cause", m.rounds.clone());
        registry.register("objects", "Named objects held, by kind", m.objects.clone());
        registry.register("set_elements", "Elements over all sets", m.elements.clone());
        registry.register("counter_entries", "Replica entries over all counters", m.counter_entries.clone());
        registry.register("peers", "Other members by SWIM state", m.peers.clone());
        registry.register("membership_events", "Members up, down or renamed", m.membership_events.clone());
        registry.register("member_set_changes", "Changes of the engine's member set", m.rebuilds.clone());
        let by_traffic = m.probes_by_traffic.clone();
        registry.register("swim_probes_answered_by_traffic", "SWIM probes answered by engine traffic", by_traffic);
        registry.register("http_requests", "HTTP API requests, by route and status", m.http.clone());
        registry.register("log_appends", "Records appended to the delta log", m.log_appends.clone());
        registry.register("log_fsyncs", "fsync calls on the delta log", m.log_fsyncs.clone());
        registry.register("snapshots", "Snapshots written", m.snapshots.clone());
        for reason in crate::wire::DropReason::ALL {
            let _ = m.dropped.get_or_create(&label("reason", reason.label()));
        }
        Metrics { registry, ..m }
    }

    /// Counts one datagram sent.
    pub fn on_sent(&self, kind: &'static str, bytes: usize) {
        let l = label("kind", kind);
        self.sent.get_or_create(&l).inc();
        self.sent_bytes.get_or_create(&l).inc_by(bytes as u64);
    }

    /// Counts one authentic datagram received.
    pub fn on_received(&self, kind: &'static str, bytes: usize) {
        let l = label("kind", kind);
        self.received.get_or_create(&l).inc();
        self.received_bytes.get_or_create(&l).inc_by(bytes as u64);
    }

    /// The value of a counter of a family, 0 if never touched (for tests and the health endpoint).
    pub fn count(family: &Counters, name: &'static str, value: &str) -> u64 {
        family.get(&label(name, value)).map(|c| c.get()).unwrap_or(0)
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!("metrics encoding failed: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_every_family_with_the_prefix() {
        let m = Metrics::new();
        m.on_sent("ae_push", 120);
        m.dropped.get_or_create(&label("reason", "bad_mac")).inc();
        let text = m.render();
        assert!(text.contains("osmosis_datagrams_sent_total{kind=\"ae_push\"} 1"), "{text}");
        assert!(text.contains("osmosis_bytes_sent_total{kind=\"ae_push\"} 120"), "{text}");
        assert!(text.contains("osmosis_datagrams_dropped_total{reason=\"bad_mac\"} 1"), "{text}");
        assert!(text.contains("osmosis_datagrams_dropped_total{reason=\"malformed\"} 0"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(Metrics::count(&m.sent, "kind", "ae_push"), 1);
    }
}
