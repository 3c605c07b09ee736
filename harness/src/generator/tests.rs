use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

const MS: Nanos = 1_000_000;
const S: Nanos = 1_000_000_000;

fn config(workload: Workload, concurrency: usize, rate: f64, time_limit: Nanos) -> SchedulerConfig {
    SchedulerConfig {
        workload,
        nodes: (1..=5).map(|i| format!("n{i}")).collect(),
        concurrency,
        rate,
        time_limit,
        nemesis: None,
        recovery: SchedulerConfig::RECOVERY,
    }
}

/// One run in virtual time: `(now, action)` pairs, every action except `Wait`.
#[derive(Debug, PartialEq)]
struct Run {
    log: Vec<(Nanos, Action)>,
    end: Nanos,
}

impl Run {
    fn invokes(&self) -> impl Iterator<Item = (Nanos, usize, u64, &Invocation)> {
        self.log.iter().filter_map(|(_, a)| match a {
            Action::Invoke { at, thread, process, op } => Some((*at, *thread, *process, op)),
            _ => None,
        })
    }

    fn nemesis(&self) -> Vec<(Nanos, &NemesisOp)> {
        self.log
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Nemesis { at, op } => Some((*at, op)),
                _ => None,
            })
            .collect()
    }
}

/// Drives a scheduler the way the driver does: `next` until `Wait`/`Done`, then advance virtual time to the
/// earlier of the wake-up time and the next completion. `outcome(op, thread)` gives each op's duration and
/// completion type; a duration of 0 completes it before the next `next` call. Checks the contract as it goes.
fn simulate(
    config: SchedulerConfig,
    seed: u64,
    start: Nanos,
    mut outcome: impl FnMut(&Invocation, usize) -> (Nanos, OpType),
) -> Run {
    let mut sched = Scheduler::new(config, seed);
    let mut now = start;
    let mut pending: BTreeSet<(Nanos, usize)> = BTreeSet::new();
    let mut types: BTreeMap<usize, OpType> = BTreeMap::new();
    let mut busy: BTreeSet<usize> = BTreeSet::new();
    let mut log = Vec::new();
    let mut woke_at: Option<Nanos> = None;
    for _ in 0..10_000_000 {
        let action = sched.next(now);
        match &action {
            Action::Invoke { at, thread, op, .. } => {
                assert!(*at <= now, "invocation scheduled after now");
                assert!(busy.insert(*thread), "thread {thread} got a second op while one is outstanding");
                let (d, ty) = outcome(op, *thread);
                if d == 0 {
                    busy.remove(thread);
                    sched.complete(*thread, ty);
                } else {
                    pending.insert((now + d, *thread));
                    types.insert(*thread, ty);
                }
            }
            Action::Nemesis { at, .. } => assert!(*at <= now),
            Action::Log(_) => {}
            Action::Wait { until } => {
                if let Some(u) = until {
                    assert!(*u > now, "Wait until {u} is not after now {now}");
                    assert_ne!(woke_at, Some(*u), "woken at the promised time, but nothing happened");
                }
                let next_done = pending.first().map(|(t, _)| *t);
                let t = match (until, next_done) {
                    (Some(u), Some(c)) => (*u).min(c),
                    (Some(u), None) => *u,
                    (None, Some(c)) => c,
                    (None, None) => {
                        panic!("deadlock: waiting for a completion with nothing outstanding")
                    }
                };
                woke_at = (Some(t) == *until && next_done != Some(t)).then_some(t);
                now = t;
                while let Some(&(c, thread)) = pending.first().filter(|(c, _)| *c <= now) {
                    pending.remove(&(c, thread));
                    busy.remove(&thread);
                    sched.complete(thread, types[&thread]);
                }
                continue;
            }
            Action::Done => {
                assert!(pending.is_empty() && busy.is_empty(), "Done with operations outstanding");
                assert_eq!(sched.phase(), "done");
                return Run { log, end: now };
            }
        }
        woke_at = None;
        log.push((now, action));
    }
    panic!("the run did not finish");
}

fn ok_after(d: Nanos) -> impl FnMut(&Invocation, usize) -> (Nanos, OpType) {
    move |_, _| (d, OpType::Ok)
}

#[test]
fn client_op_count_tracks_rate_times_time_limit_from_the_first_call() {
    let start = 123 * MS;
    let run = simulate(config(Workload::Broadcast, 5, 100.0, 20 * S), 1, start, ok_after(MS));
    let main: Vec<_> = run.invokes().filter(|(_, _, _, op)| !op.final_read).collect();
    assert!((1850..=2150).contains(&main.len()), "{} ops for 100/s × 20 s", main.len());
    assert_eq!(main[0].0, start, "the first op is due at the first call's now");
    assert!(main.iter().all(|(at, ..)| *at < start + 20 * S), "no op at or past the cutoff");
}

#[test]
fn client_gaps_are_uniform_below_twice_the_period() {
    let run = simulate(config(Workload::UniqueIds, 5, 50.0, 100 * S), 2, 0, ok_after(0));
    let times: Vec<Nanos> = run.invokes().map(|x| x.0).collect();
    let gaps: Vec<Nanos> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|&g| g < 40 * MS), "gaps are below 2/rate");
    let mean = gaps.iter().sum::<Nanos>() as f64 / gaps.len() as f64;
    assert!((mean - 20e6).abs() < 1e6, "mean gap {mean} ns, want 20 ms");
    let short = gaps.iter().filter(|&&g| g < 10 * MS).count() as f64 / gaps.len() as f64;
    assert!((short - 0.25).abs() < 0.03, "a quarter of the gaps are below 10 ms, got {short}");
}

#[test]
fn broadcast_mixes_half_broadcasts_with_consecutive_values_and_half_reads() {
    let run = simulate(config(Workload::Broadcast, 5, 1000.0, 20 * S), 3, 0, ok_after(0));
    let main: Vec<&Invocation> = run.invokes().filter(|x| !x.3.final_read).map(|x| x.3).collect();
    let values: Vec<u64> = main.iter().filter(|op| op.f == F::Broadcast).map(|op| op.value.as_u64().unwrap()).collect();
    assert_eq!(values, (0..values.len() as u64).collect::<Vec<_>>(), "consecutive from 0, in issue order");
    let frac = values.len() as f64 / main.len() as f64;
    assert!((frac - 0.5).abs() < 0.02, "broadcast fraction {frac}");
    assert!(main.iter().all(|op| op.f == F::Broadcast || (op.f == F::Read && op.value.is_null())));
}

#[test]
fn g_set_adds_count_up_and_its_final_reads_carry_no_final_flag() {
    let run = simulate(config(Workload::GSet, 3, 200.0, 5 * S), 4, 0, ok_after(MS));
    let adds: Vec<u64> = run.invokes().filter(|x| x.3.f == F::Add).map(|x| x.3.value.as_u64().unwrap()).collect();
    assert_eq!(adds, (0..adds.len() as u64).collect::<Vec<_>>());
    let tail: Vec<_> = run.invokes().skip(run.invokes().count() - 3).collect();
    assert!(tail.iter().all(|x| x.3 == &Invocation { f: F::Read, value: Value::Null, final_read: false }));
    assert_eq!(tail.iter().map(|x| x.1).collect::<BTreeSet<_>>(), BTreeSet::from([0, 1, 2]));
}

#[test]
fn pn_counter_is_half_adds_with_deltas_uniform_from_minus_five_to_four() {
    let run = simulate(config(Workload::PnCounter, 5, 1000.0, 40 * S), 5, 0, ok_after(0));
    let main: Vec<&Invocation> = run.invokes().filter(|x| !x.3.final_read).map(|x| x.3).collect();
    let deltas: Vec<i64> = main.iter().filter(|op| op.f == F::Add).map(|op| op.value.as_i64().unwrap()).collect();
    let frac = deltas.len() as f64 / main.len() as f64;
    assert!((frac - 0.5).abs() < 0.02, "add fraction {frac}");
    for d in -5..=4 {
        let share = deltas.iter().filter(|&&x| x == d).count() as f64 / deltas.len() as f64;
        assert!((share - 0.1).abs() < 0.01, "delta {d} share {share}");
    }
    assert!(deltas.iter().all(|d| (-5..=4).contains(d)));
}

#[test]
fn g_counter_is_one_third_adds_with_deltas_from_zero_to_four() {
    let run = simulate(config(Workload::GCounter, 5, 1000.0, 40 * S), 6, 0, ok_after(0));
    let main: Vec<&Invocation> = run.invokes().filter(|x| !x.3.final_read).map(|x| x.3).collect();
    let deltas: Vec<i64> = main.iter().filter(|op| op.f == F::Add).map(|op| op.value.as_i64().unwrap()).collect();
    let frac = deltas.len() as f64 / main.len() as f64;
    assert!((frac - 1.0 / 3.0).abs() < 0.02, "add fraction {frac}");
    for d in 0..=4 {
        let share = deltas.iter().filter(|&&x| x == d).count() as f64 / deltas.len() as f64;
        assert!((share - 0.2).abs() < 0.015, "delta {d} share {share}");
    }
}

#[test]
fn echo_asks_to_echo_0_to_127_and_ends_without_heal_or_final_reads() {
    let mut cfg = config(Workload::Echo, 4, 500.0, 10 * S);
    cfg.nemesis = Some(NemesisConfig::partitions(S));
    let run = simulate(cfg, 7, 0, ok_after(3 * MS));
    let mut seen = BTreeSet::new();
    for (_, _, _, op) in run.invokes() {
        assert_eq!(op.f, F::Echo);
        let k: u32 = op.value.as_str().unwrap().strip_prefix("Please echo ").unwrap().parse().unwrap();
        assert!(k < 128);
        seen.insert(k);
    }
    assert!(seen.len() > 120, "values spread over 0..128");
    assert!(!run.log.iter().any(|(_, a)| matches!(a, Action::Log(_))));
    let last_nemesis = run.nemesis().last().map(|x| x.0).unwrap();
    assert!(last_nemesis < 10 * S, "no end-of-test heal for echo");
    assert!(run.end < 10 * S + 3 * MS, "done once the last in-flight echo completed");
    // each-thread: threads are picked at random among the free ones, not in rotation
    let threads: Vec<usize> = run.invokes().map(|x| x.1).collect();
    assert!(threads.windows(2).any(|w| w[0] == w[1] && w[0] != 0));
}

#[test]
fn unique_ids_generate_with_nil_values() {
    let run = simulate(config(Workload::UniqueIds, 2, 100.0, S), 8, 0, ok_after(MS));
    assert!(run.invokes().count() > 50);
    assert!(run.invokes().all(|x| x.3 == &Invocation { f: F::Generate, value: Value::Null, final_read: false }));
}

#[test]
fn free_threads_are_chosen_by_jepsens_rotating_pointer() {
    // With every thread free, the pointer runs over C + 1 slots (the nemesis is slot C); from slot C the search
    // wraps to thread 0, so thread 0 gets two ops per cycle.
    let run = simulate(config(Workload::Broadcast, 5, 100.0, 2 * S), 9, 0, ok_after(0));
    let threads: Vec<usize> = run.invokes().filter(|x| !x.3.final_read).map(|x| x.1).take(18).collect();
    assert_eq!(threads, [0, 1, 2, 3, 4, 0].repeat(3));
}

#[test]
fn busy_threads_are_skipped_and_a_delayed_op_leaves_when_a_thread_frees_up() {
    // One thread, 10 ms per op, an op due every ~1 ms: each op goes out the moment the previous one completes.
    let run = simulate(config(Workload::UniqueIds, 1, 1000.0, S), 10, 0, ok_after(10 * MS));
    let times: Vec<Nanos> = run.invokes().map(|x| x.0).collect();
    assert_eq!(times, (0..100).map(|k| k * 10 * MS).collect::<Vec<_>>());
}

#[test]
fn the_schedule_never_catches_up_after_threads_were_busy() {
    // One thread; the first op takes 1 s, the others complete at once. The ~100 ops due during that second are
    // not sent in a burst afterwards: one goes out at 1 s, then the stagger resumes from there.
    let mut first = true;
    let run = simulate(config(Workload::UniqueIds, 1, 100.0, 3 * S), 11, 0, |_, _| {
        (if std::mem::take(&mut first) { S } else { 0 }, OpType::Ok)
    });
    let times: Vec<Nanos> = run.invokes().map(|x| x.0).collect();
    assert_eq!(&times[..2], [0, S]);
    let next_second = times.iter().filter(|&&t| (S..2 * S).contains(&t)).count();
    assert!((70..=130).contains(&next_second), "{next_second} ops in the second after the block");
}

#[test]
fn info_completions_bump_the_thread_process_by_the_concurrency() {
    let mut count: BTreeMap<usize, u64> = BTreeMap::new();
    let run = simulate(config(Workload::PnCounter, 3, 100.0, 5 * S), 12, 0, |_, t| {
        let k = count.entry(t).or_default();
        *k += 1;
        (MS, if k.is_multiple_of(2) { OpType::Info } else { OpType::Ok })
    });
    let mut seen: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (_, thread, process, _) in run.invokes() {
        seen.entry(thread).or_default().push(process);
    }
    for (thread, processes) in seen {
        // ops 1, 2 as p; op 2 was info, so ops 3, 4 as p + 3; and so on — final read included
        let want: Vec<u64> = (0..processes.len() as u64).map(|k| thread as u64 + 3 * (k / 2)).collect();
        assert_eq!(processes, want, "thread {thread}");
    }
}

#[test]
fn final_reads_come_after_the_barrier_a_heal_the_log_and_the_recovery_sleep() {
    let mut cfg = config(Workload::Broadcast, 5, 20.0, 10 * S);
    cfg.nemesis = Some(NemesisConfig::partitions(2 * S));
    let mut sched = Scheduler::new(cfg.clone(), 13);
    assert_eq!(sched.phase(), "main");
    let _ = sched.next(0);
    let run = simulate(cfg, 13, 0, ok_after(400 * MS));
    let heal = run.log.iter().rposition(|(_, a)| matches!(a, Action::Nemesis { op: NemesisOp::Heal, .. })).unwrap();
    let last_main_done = run.invokes().filter(|x| !x.3.final_read).map(|x| x.0 + 400 * MS).max().unwrap();
    let (t_heal, _) = run.log[heal];
    assert_eq!(t_heal, last_main_done, "heal as soon as the last main op completed");
    assert_eq!(run.log[heal + 1].1, Action::Log(RECOVERY_LOG));
    let finals: Vec<_> = run.log[heal + 2..].iter().collect();
    assert_eq!(finals.len(), 5);
    let mut threads = BTreeSet::new();
    for (now, a) in finals {
        let Action::Invoke { at, thread, op, .. } = a else { panic!("only final reads after the log: {a:?}") };
        assert_eq!((*at, *now), (t_heal + 10 * S, t_heal + 10 * S));
        assert_eq!(op, &Invocation { f: F::Read, value: Value::Null, final_read: true });
        threads.insert(*thread);
    }
    assert_eq!(threads.len(), 5, "one final read per thread");
    assert!(run.log[..heal].iter().all(|(_, a)| !matches!(a, Action::Invoke { op, .. } if op.final_read)));
}

#[test]
fn without_a_nemesis_there_is_no_heal_before_the_final_reads() {
    let run = simulate(config(Workload::GCounter, 2, 10.0, 3 * S), 14, 0, ok_after(MS));
    assert!(run.nemesis().is_empty());
    let log = run.log.iter().position(|(_, a)| matches!(a, Action::Log(_))).unwrap();
    assert_eq!(run.log.len() - log - 1, 2, "two final reads follow the log line");
}

#[test]
fn phases_advance_main_heal_recovery_final_done() {
    let mut cfg = config(Workload::Broadcast, 1, 1.0, S);
    cfg.nemesis = Some(NemesisConfig::partitions(100 * S));
    let mut s = Scheduler::new(cfg, 15);
    let mut phases = vec![s.phase()];
    let mut now = 0;
    loop {
        let a = s.next(now);
        if phases.last() != Some(&s.phase()) {
            phases.push(s.phase());
        }
        match a {
            Action::Invoke { thread, .. } => s.complete(thread, OpType::Ok),
            Action::Wait { until: Some(u) } => now = u,
            Action::Wait { until: None } => panic!("nothing outstanding"),
            Action::Done => break,
            _ => {}
        }
    }
    assert_eq!(phases, ["main", "heal", "recovery", "final", "done"]);
    assert!(s.ops_invoked() >= 2, "at least one main op and one final read");
}

#[test]
fn nemesis_starts_at_the_first_call_then_stops_and_starts_alternately() {
    let mut cfg = config(Workload::PnCounter, 5, 10.0, 200 * S);
    cfg.nemesis = Some(NemesisConfig::partitions(S));
    let run = simulate(cfg.clone(), 16, 5 * S, ok_after(MS));
    let ops = run.nemesis();
    assert_eq!(ops[0].0, 5 * S, "first start at the first call");
    let main = &ops[..ops.len() - 1];
    for (k, (at, op)) in main.iter().enumerate() {
        assert_eq!(matches!(op, NemesisOp::StartPartition(..)), k % 2 == 0, "op {k} is {op:?}");
        assert!(*at < 205 * S);
        if let NemesisOp::StartPartition(_, grudge) = op {
            assert!(grudge.keys().all(|n| cfg.nodes.contains(n)));
        }
    }
    let gaps: Vec<Nanos> = main.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.iter().all(|&g| g < 2 * S));
    let mean = gaps.iter().sum::<Nanos>() as f64 / gaps.len() as f64;
    assert!((mean - 1e9).abs() < 0.15e9, "mean nemesis gap {mean}");
    assert_eq!(ops.last().unwrap().1, &NemesisOp::Heal, "the final heal");
}

#[test]
fn rate_zero_issues_no_main_ops_and_final_reads_follow_the_time_limit() {
    let mut cfg = config(Workload::Broadcast, 3, 0.0, 30 * S);
    cfg.nemesis = Some(NemesisConfig::partitions(5 * S));
    let run = simulate(cfg, 17, 2 * S, ok_after(MS));
    let invokes: Vec<_> = run.invokes().collect();
    assert_eq!(invokes.len(), 3);
    assert!(invokes.iter().all(|x| x.3.final_read && x.0 == 2 * S + 30 * S + 10 * S));
    assert!(run.nemesis().len() > 3, "the nemesis still runs during the main phase");
    let heal = run.nemesis().last().map(|x| x.0);
    assert_eq!(heal, Some(32 * S), "heal when the main phase's sleep ends");
}

#[test]
fn rate_zero_without_final_reads_ends_at_the_time_limit() {
    let run = simulate(config(Workload::Echo, 3, 0.0, 7 * S), 18, S, ok_after(MS));
    assert_eq!(run.invokes().count(), 0);
    assert_eq!(run.end, 8 * S);
}

#[test]
fn main_ends_once_all_client_threads_are_busy_and_the_next_nemesis_op_is_past_the_cutoff() {
    // Jepsen's any(): a pending client side loses to any nemesis op, and time_limit ends the phase on it.
    let mut cfg = config(Workload::UniqueIds, 1, 10.0, 60 * S);
    cfg.nemesis = Some(NemesisConfig::partitions(1_000_000 * S));
    let run = simulate(cfg.clone(), 19, 0, ok_after(100 * MS));
    assert_eq!(run.nemesis().len(), 1, "the start at t = 0; the next one is far past the cutoff");
    assert_eq!(run.invokes().count(), 1, "the first op filled the only thread: main is over");
    assert_eq!(run.end, 100 * MS);
    // Without the nemesis the same run goes on for the whole time limit.
    cfg.nemesis = None;
    let run = simulate(cfg, 19, 0, ok_after(100 * MS));
    assert!(run.invokes().count() > 400);
}

#[test]
fn configs_are_validated_like_maelstroms_cli() {
    let good = config(Workload::Echo, 1, 0.0, S);
    assert!(good.validate().is_ok());
    assert!(SchedulerConfig { concurrency: 0, ..good.clone() }.validate().is_err());
    assert!(SchedulerConfig { rate: -1.0, ..good.clone() }.validate().is_err());
    assert!(SchedulerConfig { rate: f64::NAN, ..good.clone() }.validate().is_err());
    assert!(SchedulerConfig { nemesis: Some(NemesisConfig::partitions(0)), ..good.clone() }.validate().is_err());
    assert!(SchedulerConfig { nodes: vec![], ..good }.validate().is_err());
}

#[test]
fn completions_for_idle_or_unknown_threads_are_ignored() {
    let mut s = Scheduler::new(config(Workload::UniqueIds, 2, 1.0, S), 20);
    s.complete(0, OpType::Info);
    s.complete(7, OpType::Ok);
    assert_eq!(s.process(0), Some(0));
    assert!(matches!(s.next(0), Action::Invoke { thread: 0, process: 0, .. }));
    assert_eq!(s.in_flight(), 1);
}

fn workload() -> impl Strategy<Value = Workload> {
    prop::sample::select(Workload::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_same_seed_gives_the_same_actions(
        workload in workload(),
        concurrency in 1usize..6,
        rate in prop_oneof![Just(0.0), 1.0f64..200.0],
        nemesis in prop::option::of(1u64..5),
        seed: u64,
        durations in prop::collection::vec((0u64..300, 0u8..4), 1..20),
    ) {
        let mut cfg = config(workload, concurrency, rate, 5 * S);
        cfg.nemesis = nemesis.map(|s| NemesisConfig::partitions(s * S));
        let outcome = |durations: Vec<(u64, u8)>| {
            let mut k = 0;
            move |_: &Invocation, _: usize| {
                let (ms, ty) = durations[k % durations.len()];
                k += 1;
                (ms * MS, if ty == 0 { OpType::Info } else { OpType::Ok })
            }
        };
        let a = simulate(cfg.clone(), seed, 0, outcome(durations.clone()));
        let b = simulate(cfg, seed, 0, outcome(durations));
        prop_assert_eq!(&a, &b);
        let finals = a.invokes().filter(|x| x.3.f == F::Read && (x.3.final_read || workload == Workload::GSet)).count();
        if workload.has_final_reads() {
            prop_assert!(finals >= concurrency);
        } else {
            prop_assert_eq!(finals, 0);
        }
    }
}

#[test]
fn kill_and_pause_flip_flops_take_a_node_and_give_the_same_node_back() {
    let mut cfg = config(Workload::Broadcast, 5, 10.0, 100 * S);
    cfg.nemesis = Some(NemesisConfig { interval: S, kinds: vec![FaultKind::Kill, FaultKind::Pause], targeted: vec![] });
    let run = simulate(cfg, 4, 0, ok_after(MS));
    let ops = run.nemesis();
    assert!(ops[0].0 > 0, "the extensions wait for their first gap");
    let (mut killed, mut paused) = (None::<String>, None::<String>);
    for (_, op) in &ops[..ops.len() - 1] {
        match op {
            NemesisOp::Kill(n) => assert!(killed.replace(n.clone()).is_none(), "one kill at a time"),
            NemesisOp::Start(n) => assert_eq!(killed.take().as_ref(), Some(n), "the killed node comes back"),
            NemesisOp::Pause(n) => assert!(paused.replace(n.clone()).is_none()),
            NemesisOp::Resume(n) => assert_eq!(paused.take().as_ref(), Some(n)),
            other => panic!("only kill and pause are on: {other:?}"),
        }
    }
    let count = |f: fn(&NemesisOp) -> bool| ops.iter().filter(|(_, op)| f(op)).count();
    assert!(count(|op| matches!(op, NemesisOp::Kill(_))) > 20 && count(|op| matches!(op, NemesisOp::Pause(_))) > 20);
    assert_eq!(ops.last().unwrap().1, &NemesisOp::Heal);
}

#[test]
fn targeted_faults_begin_and_end_at_their_history_times() {
    let mut cfg = config(Workload::GSet, 5, 10.0, 10 * S);
    let cut: TargetedFault = "cut:n2:2-3.5".parse().unwrap();
    let late: TargetedFault = "kill:n1:9-30".parse().unwrap();
    cfg.nemesis = Some(NemesisConfig { interval: S, kinds: vec![], targeted: vec![cut.clone(), late.clone()] });
    let run = simulate(cfg, 4, 0, ok_after(MS));
    let ops = run.nemesis();
    let want = [
        (2 * S, NemesisOp::Targeted(cut.clone(), true)),
        (3_500 * MS, NemesisOp::Targeted(cut, false)),
        (9 * S, NemesisOp::Targeted(late, true)),
    ];
    let got: Vec<(Nanos, NemesisOp)> = ops.iter().map(|(t, op)| (*t, (*op).clone())).collect();
    assert_eq!(got[..3], want, "the end past the time limit is left to the final heal");
    assert_eq!(got[3].1, NemesisOp::Heal);
}
