#!/usr/bin/env python3
"""Reads a broadcast run's history (osmosis-harness store) and reports how the nodes other than NODE fared:

    fault-report.py RUN_DIR NODE NODE_COUNT [restarted]

- For the elements added through the other nodes, their stable latency counted over the other nodes' reads only
  (Maelstrom's definition, spec §9: from the first :ok add to the invocation of the last read that missed the
  element, zeros included): p50 / p95 / max ms.
- With `restarted` (NODE was killed and restarted empty): when its first client operation after its longest
  silence of over 2 s succeeded, and how long after that its reads held every element acknowledged before.

A client process p talks to node n(p mod NODE_COUNT) (the harness binds thread t to node t mod N, and a crashed
process is replaced by p + concurrency).
"""

import json
import sys


def main():
    run, node, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    target = int(node.lstrip("n"))
    ops = [json.loads(line) for line in open(f"{run}/history.jsonl")]
    invoke = {}
    known = {}  # element -> time of its first ok add (ns)
    added_by_others = set()
    reads = []  # (invoke time, node, set)
    for op in ops:
        p = op["process"]
        if op["type"] == "invoke":
            invoke[p] = op
            continue
        inv = invoke.pop(p, None)
        if op["type"] != "ok" or inv is None:
            continue
        who = p % n
        if op["f"] == "broadcast":
            v = op["value"]
            known.setdefault(v, op["time"])
            if who != target:
                added_by_others.add(v)
        elif op["f"] == "read":
            reads.append((inv["time"], who, set(op["value"] or [])))
    lat = []
    for v in sorted(added_by_others):
        last_absent = max((t for t, who, s in reads if who != target and v not in s and t >= 0), default=None)
        lat.append(0 if last_absent is None else max(0, (last_absent + 1 - known[v]) // 1_000_000))
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(len(lat) * f))] if lat else 0
    print(f"{len(lat)} elements added by nodes other than {node}: stable latency over the other nodes' reads, ms: "
          f"p50 {q(0.5)} p95 {q(0.95)} max {q(1.0)}")
    if sys.argv[4:] == ["restarted"]:
        restart(ops, target, n, known, reads)


def restart(ops, target, n, known, reads):
    """The first ok op at the target after its longest silence of over 2 s, and when its reads caught up."""
    oks = [op["time"] for op in ops if op["type"] == "ok" and op["process"] % n == target]
    gaps = [(b - a, b) for a, b in zip(oks, oks[1:]) if b - a > 2_000_000_000]
    if not gaps:
        return
    _, back = max(gaps)
    ever_read = set().union(*(s for _, _, s in reads)) if reads else set()
    lost = {v for v, t in known.items() if t < back and v not in ever_read}
    if lost:
        print(f"acknowledged before n{target} came back and read by no node, ever (lost): {sorted(lost)[:10]}")
    before = {v for v, t in known.items() if t < back} - lost
    mine = [(t, s) for t, who, s in reads if who == target and t >= back]
    caught = next((t for t, s in mine if before <= s and all(before <= s2 for t2, s2 in mine if t2 >= t)), None)
    if caught is None:
        print(f"{len(before)} elements acknowledged before n{target} came back; its reads never held them all")
    else:
        print(f"n{target} answered again at {back / 1e9:.2f} s; from its read invoked {(caught - back) / 1e6:.0f} ms "
              f"later on, its reads held all {len(before)} elements acknowledged before")


if __name__ == "__main__":
    main()
