//! Membership and failure detection: SWIM as the `foca` crate implements it, driven sans-IO.
//!
//! foca is a state machine like our engine: it takes datagrams and timer events and hands back datagrams to send,
//! timers to schedule and notifications. [`Membership`] keeps its timers in a queue ordered by due time (time is
//! passed in, as everywhere in osmosis), collects what it sends, and tells the daemon when the set of live members
//! changed. A member is *live* while SWIM holds it alive or suspect (SWIM treats a suspect as alive until it is
//! declared down); down members leave the engine's member set.
//!
//! Joining: a daemon announces itself to its seed addresses at start, and again every `announce_every` for as long
//! as it knows no other member (a seed that starts later is found when it comes up). Leaving: [`Membership::leave`]
//! declares this identity down to a few members, so the others drop it at once instead of after suspicion.
//!
//! **Traffic as liveness evidence.** An authentic engine datagram from a member (its MAC checked under the
//! cluster key, its sender — named inside the authenticated payload — a live member) shows it alive as well as a
//! SWIM ack would. (Not the datagram's source address: a NAT or a relay may change it.) When foca starts a probe of a member heard from that way within `traffic_window` (by default the probe
//! rtt: no older than the ack a real ping would have waited for), and the ping carries no membership updates,
//! the ping is not sent: the daemon hands foca the member's ack itself (`Header { src: member, dst: me,
//! message: Ack(probe number) }`, through foca's own codec). A member that stops, stops sending: its next probe
//! after `traffic_window` is a real ping, so detection is delayed by at most the window. Pings that carry updates
//! (suspicions, joins, refutations) always go out, so dissemination is unchanged. On the star under load, the
//! hub hears every leaf and every leaf hears the hub: their probes along the star's edges cost nothing.
//!
//! Identities ([`NodeId`]) are a node name, its address, and a *bump* that orders the incarnations of one address:
//! a restarted daemon takes the current time in milliseconds, so its new identity wins over the one the cluster
//! remembers (foca's `Rename`), and a daemon declared down renews itself with `bump + 1` and rejoins.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use foca::{
    AccumulatingRuntime, Codec, Foca, Header, Identity, Message, NoCustomBroadcast, OwnedNotification, PostcardCodec,
    State, Timer,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A member's identity: its node name (the engine's id for it), its UDP address, and its bump.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId {
    /// The node name: unique in the cluster, stable across restarts.
    pub name: String,
    /// Where its datagrams go.
    pub addr: SocketAddr,
    /// Orders identities of the same address: the larger wins.
    pub bump: u64,
}

impl Identity for NodeId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(NodeId { bump: self.bump.wrapping_add(1), ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// SWIM's knobs, as the daemon exposes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwimConfig {
    /// How often each member probes one random member.
    pub probe_period: Duration,
    /// How long a probe waits for its direct answer before asking others to probe indirectly.
    pub probe_rtt: Duration,
    /// How long a suspect has to refute the suspicion before it is declared down.
    pub suspect_to_down: Duration,
    /// How often to announce to the seeds while no other member is known.
    pub announce_every: Duration,
    /// A probe of a member whose authentic engine traffic arrived within this window is answered by that
    /// evidence instead of a ping (see the module docs); zero: never.
    pub traffic_window: Duration,
}

impl Default for SwimConfig {
    fn default() -> Self {
        SwimConfig {
            probe_period: Duration::from_millis(1500),
            probe_rtt: Duration::from_millis(500),
            suspect_to_down: Duration::from_secs(3),
            announce_every: Duration::from_secs(1),
            traffic_window: Duration::from_millis(500),
        }
    }
}

impl SwimConfig {
    /// Checks what foca requires: a positive probe rtt strictly shorter than the probe period, a positive suspicion
    /// time and announce interval.
    pub fn validate(&self) -> Result<(), String> {
        if self.probe_rtt.is_zero() || self.probe_rtt >= self.probe_period {
            return Err(format!(
                "the probe rtt ({:?}) must be positive and shorter than the probe period ({:?})",
                self.probe_rtt, self.probe_period
            ));
        }
        if self.suspect_to_down.is_zero() || self.announce_every.is_zero() {
            return Err("the suspicion time and the announce interval must be positive".into());
        }
        if self.traffic_window > self.probe_period {
            return Err(format!(
                "the traffic liveness window ({:?}) must not be longer than the probe period ({:?})",
                self.traffic_window, self.probe_period
            ));
        }
        Ok(())
    }

    fn foca(&self) -> foca::Config {
        let mut c = foca::Config::simple();
        c.probe_period = self.probe_period;
        c.probe_rtt = self.probe_rtt;
        c.suspect_to_down_after = self.suspect_to_down;
        c.max_transmissions = NonZeroU8::new(6).unwrap_or(NonZeroU8::MIN);
        c.max_packet_size = NonZeroUsize::new(MAX_SWIM_PACKET).unwrap_or(NonZeroUsize::MIN);
        c.notify_down_members = true;
        c
    }
}

/// The largest SWIM packet foca produces and accepts (below a 1500-byte MTU with IP, UDP and our framing).
pub const MAX_SWIM_PACKET: usize = 1400;

/// A live member and what SWIM thinks of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Its identity.
    pub id: NodeId,
    /// Alive or suspect.
    pub suspect: bool,
}

type Swim = Foca<NodeId, PostcardCodec, ChaCha8Rng, NoCustomBroadcast>;

/// SWIM membership, sans-IO (see the module docs).
pub struct Membership {
    foca: Swim,
    runtime: AccumulatingRuntime<NodeId>,
    /// (due, tie-breaker) → the foca timer to hand back.
    timers: BTreeMap<(Duration, u64), Timer<NodeId>>,
    timer_seq: u64,
    seeds: Vec<SocketAddr>,
    announce_every: Duration,
    next_announce: Duration,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    changed: bool,
    events: u64,
    traffic_window: Duration,
    /// Member name → when authentic engine traffic from it last arrived.
    heard: BTreeMap<String, Duration>,
    /// Probes answered by traffic instead of a ping.
    answered: u64,
}

impl fmt::Debug for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Membership")
            .field("me", self.foca.identity())
            .field("members", &self.foca.num_members())
            .field("timers", &self.timers.len())
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// This node as `me`, joining through `seeds` (its own address among them is skipped) at `now`.
    pub fn new(me: NodeId, config: &SwimConfig, seeds: &[SocketAddr], seed: u64, now: Duration) -> Membership {
        let seeds = seeds.iter().copied().filter(|a| *a != me.addr).collect();
        let foca = Foca::new(me, config.foca(), ChaCha8Rng::seed_from_u64(seed), PostcardCodec);
        let mut m = Membership {
            foca,
            runtime: AccumulatingRuntime::new(),
            timers: BTreeMap::new(),
            timer_seq: 0,
            seeds,
            announce_every: config.announce_every,
            next_announce: now,
            outbox: Vec::new(),
            changed: false,
            events: 0,
            traffic_window: config.traffic_window,
            heard: BTreeMap::new(),
            answered: 0,
        };
        m.on_tick(now);
        m
    }

    /// This node's identity.
    pub fn me(&self) -> &NodeId {
        self.foca.identity()
    }

    /// Handles a SWIM packet. Errors are foca's (a packet that does not decode, is too large, or comes from this
    /// node): the caller counts the packet as dropped.
    pub fn on_packet(&mut self, now: Duration, packet: &[u8]) -> Result<(), String> {
        let result = self.foca.handle_data(packet, &mut self.runtime).map_err(|e| e.to_string());
        self.drain(now);
        result
    }

    /// Records that authentic engine traffic from member `name` arrived at `now` (see the module docs).
    pub fn heard_from(&mut self, now: Duration, name: &str) {
        match self.heard.get_mut(name) {
            Some(at) => *at = now,
            None => {
                self.heard.insert(name.to_string(), now);
            }
        }
    }

    /// Probes answered by traffic rather than by a ping, so far.
    pub fn probes_answered_by_traffic(&self) -> u64 {
        self.answered
    }

    /// Fires the timers that are due and announces to the seeds if due.
    pub fn on_tick(&mut self, now: Duration) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            if let Err(e) = self.foca.handle_timer(timer, &mut self.runtime) {
                tracing::debug!("swim timer: {e}");
            }
        }
        if self.foca.num_members() == 0 && now >= self.next_announce && !self.seeds.is_empty() {
            for addr in self.seeds.clone() {
                let placeholder = NodeId { name: String::new(), addr, bump: 0 };
                if let Err(e) = self.foca.announce(placeholder, &mut self.runtime) {
                    tracing::debug!("announce to {addr}: {e}");
                }
            }
            self.next_announce = now.saturating_add(self.announce_every);
        }
        self.drain(now);
    }

    /// When [`Membership::on_tick`] has work next.
    pub fn next_deadline(&self) -> Option<Duration> {
        let timer = self.timers.keys().next().map(|k| k.0);
        let announce = (self.foca.num_members() == 0 && !self.seeds.is_empty()).then_some(self.next_announce);
        timer.into_iter().chain(announce).min()
    }

    /// Declares this node down to a few members (a clean shutdown).
    pub fn leave(&mut self, now: Duration) {
        if let Err(e) = self.foca.leave_cluster(&mut self.runtime) {
            tracing::debug!("leave: {e}");
        }
        self.drain(now);
    }

    /// The packets to send, with their destinations.
    pub fn take_outbox(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outbox)
    }

    /// Whether the live member set changed since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Membership notifications seen so far (members up, down, renamed).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The other live members (alive or suspect), by name; of two identities with one name, the larger bump.
    pub fn live(&self) -> BTreeMap<String, Live> {
        let mut out: BTreeMap<String, Live> = BTreeMap::new();
        for m in self.foca.iter_members() {
            let id = m.id();
            let live = Live { id: id.clone(), suspect: m.state() == State::Suspect };
            match out.get(&id.name) {
                Some(old) if old.id.bump >= id.bump => {}
                _ => {
                    out.insert(id.name.clone(), live);
                }
            }
        }
        out
    }

    /// The probe number of `data` if it is a ping to `to` carrying nothing else, and `to` was heard from within
    /// the traffic window.
    fn answerable_ping(&self, now: Duration, to: &NodeId, data: &[u8]) -> Option<foca::ProbeNumber> {
        let &at = self.heard.get(&to.name)?;
        if now.saturating_sub(at) > self.traffic_window || self.traffic_window.is_zero() {
            return None;
        }
        let mut rest = data;
        let header: Header<NodeId> = PostcardCodec.decode_header(&mut rest).ok()?;
        let bare = rest.is_empty() || rest == [0, 0];
        match header.message {
            Message::Ping(n) if bare && header.dst == *to => Some(n),
            _ => None,
        }
    }

    /// Hands foca `to`'s ack of probe `n`, as `to` would have sent it.
    fn ack_for(&mut self, to: NodeId, n: foca::ProbeNumber) {
        let Some(incarnation) = self.foca.iter_members().find(|m| *m.id() == to).map(|m| m.incarnation()) else {
            return;
        };
        let header = Header { src: to, src_incarnation: incarnation, dst: self.me().clone(), message: Message::Ack(n) };
        let mut buf = Vec::new();
        if PostcardCodec.encode_header(&header, &mut buf).is_ok() {
            match self.foca.handle_data(&buf, &mut self.runtime) {
                Ok(()) => self.answered += 1,
                Err(e) => tracing::debug!("swim: the ack from traffic was refused: {e}"),
            }
        }
    }

    fn drain(&mut self, now: Duration) {
        let mut acks = Vec::new();
        while let Some((to, data)) = self.runtime.to_send() {
            match self.answerable_ping(now, &to, &data) {
                Some(n) => acks.push((to, n)),
                None => self.outbox.push((to.addr, data.to_vec())),
            }
        }
        for (to, n) in acks {
            self.ack_for(to, n);
            while let Some((to, data)) = self.runtime.to_send() {
                self.outbox.push((to.addr, data.to_vec()));
            }
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            self.timer_seq += 1;
            self.timers.insert((now.saturating_add(after), self.timer_seq), timer);
        }
        while let Some(n) = self.runtime.to_notify() {
            match n {
                OwnedNotification::MemberUp(id) => tracing::info!("member up: {} at {}", id.name, id.addr),
                OwnedNotification::MemberDown(id) => tracing::info!("member down: {} at {}", id.name, id.addr),
                OwnedNotification::Rename(a, b) => tracing::info!("member {} at {} is now {:?}", a.name, a.addr, b),
                OwnedNotification::Rejoin(id) => tracing::warn!("this node was declared down; rejoined as {id:?}"),
                OwnedNotification::Defunct => tracing::warn!("this node was declared down"),
                _ => continue,
            }
            self.events += 1;
            self.changed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, port: u16) -> NodeId {
        NodeId { name: name.into(), addr: SocketAddr::from(([127, 0, 0, 1], port)), bump: 1 }
    }

    /// Delivers every packet between the members until nothing is left (a perfect network), ticking at `now`;
    /// returns every packet sent.
    /// Memberships for `(name, port)`, each joining through the first one, "a" on port 1.
    fn joined_through_a(config: &SwimConfig, members: &[(&str, u16)]) -> Vec<Membership> {
        let seeds = [id("a", 1).addr];
        members
            .iter()
            .enumerate()
            .map(|(i, (n, p))| Membership::new(id(n, *p), config, &seeds, i as u64, Duration::ZERO))
            .collect()
    }

    fn settle(nodes: &mut [Membership], now: Duration) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        for _ in 0..100 {
            let mut sent = Vec::new();
            for n in nodes.iter_mut() {
                n.on_tick(now);
                sent.extend(n.take_outbox());
            }
            if sent.is_empty() {
                break;
            }
            for (to, data) in sent {
                if let Some(n) = nodes.iter_mut().find(|n| n.me().addr == to) {
                    let _ = n.on_packet(now, &data);
                }
                all.push(data);
            }
        }
        all
    }

    /// Of these packets: the pings, and the pings that carry no membership update.
    fn pings(sent: &[Vec<u8>]) -> (usize, usize) {
        let (mut pings, mut bare) = (0, 0);
        for data in sent {
            let mut rest = &data[..];
            let header: Header<NodeId> = PostcardCodec.decode_header(&mut rest).unwrap();
            if matches!(header.message, Message::Ping(_)) {
                pings += 1;
                bare += usize::from(rest.len() < 2 || rest[..2] == [0, 0]);
            }
        }
        (pings, bare)
    }

    #[test]
    fn probes_of_members_heard_from_lately_are_answered_by_that_traffic_and_a_silent_one_still_goes_down() {
        for window in [Duration::ZERO, Duration::from_millis(500)] {
            let config = SwimConfig { traffic_window: window, ..SwimConfig::default() };
            let mut nodes = joined_through_a(&config, &[("a", 1), ("b", 2), ("c", 3)]);
            let mut now = Duration::ZERO;
            for _ in 0..20 {
                settle(&mut nodes, now);
                now += Duration::from_millis(250);
            }
            // Engine traffic flows between every pair, every 250 ms, for 15 s.
            let hear_all = |nodes: &mut Vec<Membership>, now: Duration, among: usize| {
                let ids: Vec<NodeId> = nodes.iter().take(among).map(|n| n.me().clone()).collect();
                for n in nodes.iter_mut().take(among) {
                    let me = n.me().name.clone();
                    for id in ids.iter().filter(|id| id.name != me) {
                        n.heard_from(now, &id.name);
                    }
                }
            };
            let mut sent = Vec::new();
            for _ in 0..60 {
                hear_all(&mut nodes, now, 3);
                sent.extend(settle(&mut nodes, now));
                now += Duration::from_millis(250);
            }
            let (pings, bare) = pings(&sent);
            let answered: u64 = nodes.iter().map(Membership::probes_answered_by_traffic).sum();
            if window.is_zero() {
                assert!(bare >= 25 && answered == 0, "{pings} pings, {bare} bare, {answered} answered by traffic");
            } else {
                // 3 nodes × 15 s / 1.5 s = 30 probes, all answered by traffic; no ping without updates was sent.
                assert!(bare == 0 && answered >= 25, "{pings} pings, {bare} bare, {answered} answered by traffic");
            }
            for n in &nodes {
                assert_eq!(n.live().len(), 2, "{} sees {:?}", n.me().name, n.live().keys().collect::<Vec<_>>());
            }
            // "c" stops, and its traffic with it: a and b declare it down as they do without the window.
            nodes.pop();
            for _ in 0..60 {
                hear_all(&mut nodes, now, 2);
                settle(&mut nodes, now);
                now += Duration::from_millis(250);
            }
            for n in &mut nodes {
                let others = if n.me().name == "a" { "b" } else { "a" };
                assert_eq!(n.live().keys().cloned().collect::<Vec<_>>(), vec![others], "window {window:?}");
            }
        }
    }

    #[test]
    fn traffic_from_a_name_that_is_not_the_probed_member_is_no_evidence() {
        let config = SwimConfig::default();
        let mut nodes = joined_through_a(&config, &[("a", 1), ("b", 2)]);
        let mut now = Duration::ZERO;
        let mut sent = Vec::new();
        for _ in 0..60 {
            nodes[0].heard_from(now, "z");
            nodes[1].heard_from(now, "b");
            sent.extend(settle(&mut nodes, now));
            now += Duration::from_millis(250);
        }
        assert!(pings(&sent).1 > 0);
        assert_eq!(nodes.iter().map(Membership::probes_answered_by_traffic).sum::<u64>(), 0);
    }

    #[test]
    fn members_join_through_a_seed_and_a_silent_one_is_declared_down() {
        let config = SwimConfig::default();
        let mut nodes = joined_through_a(&config, &[("a", 1), ("b", 2), ("c", 3)]);
        let mut now = Duration::ZERO;
        for _ in 0..20 {
            settle(&mut nodes, now);
            now += Duration::from_millis(250);
        }
        for n in &nodes {
            assert_eq!(n.live().len(), 2, "{} sees {:?}", n.me().name, n.live().keys().collect::<Vec<_>>());
        }
        // "c" stops answering: the others suspect it, then declare it down.
        nodes.pop();
        for _ in 0..60 {
            settle(&mut nodes, now);
            now += Duration::from_millis(250);
        }
        for n in &mut nodes {
            assert_eq!(n.live().keys().cloned().collect::<Vec<_>>(), vec![if n.me().name == "a" { "b" } else { "a" }]);
            assert!(n.take_changed());
        }
    }

    #[test]
    fn a_restarted_identity_wins_over_the_remembered_one() {
        let old = id("a", 1);
        let new = NodeId { bump: 2, ..old.clone() };
        assert!(new.win_addr_conflict(&old) && !old.win_addr_conflict(&new));
        assert_eq!(old.renew().unwrap().bump, 2);
    }

    #[test]
    fn garbage_packets_are_errors_not_panics() {
        let mut m = Membership::new(id("a", 1), &SwimConfig::default(), &[], 1, Duration::ZERO);
        for bad in [&b""[..], b"\x00", b"\xff\xff\xff\xff", &[7u8; 2000]] {
            assert!(m.on_packet(Duration::ZERO, bad).is_err());
        }
    }
}
