#!/usr/bin/env bash
# Process mode against virtual time: the same scenario at the same seed, run once with the osmosis node's
# processes (`osmosis-harness test`) and once in process (`osmosis-sim test --sim`), compared on server messages
# per op and stable latencies. From the repository root (needs python3 to read results.json):
#
#   benches/sim-agreement.sh                  # seeds 1 2 3; headline efficiency latency g-set-25 partition-25
#   benches/sim-agreement.sh "1" "headline"   # one seed, one scenario
#
# Scenarios are lines of benches/scenarios.txt. A process run takes its full wall time (30–40 s each here).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-"1 2 3"}
scenarios=${2:-"headline efficiency latency g-set-25 partition-25"}
store=${STORE:-/tmp/osmosis-sim-agreement}
cargo build --release -p osmosis-sync -p osmosis-harness -p osmosis-sim >&2

figures() { # results.json -> "msgs_per_op p50 p95 max"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r["net"]["servers"]; ops = s["msg-count"] / s["msgs-per-op"]
q = r["workload"].get("stable-latencies", {})
print("%.4f %s %s %s" % (s["msg-count"] / round(ops), q.get("0.5", "-"), q.get("0.95", "-"), q.get("1", "-")))' "$1"
}

echo "| scenario | seed | msgs/op process | msgs/op virtual | Δ | stable p50/p95/max ms, process | virtual | Δ max |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for scenario in $scenarios; do
  for seed in $seeds; do
    for mode in process virtual; do
      rm -rf "$store/$mode"
      if [ "$mode" = process ]; then
        ./target/release/osmosis-harness bench benches/scenarios.txt --only "$scenario" --seed "$seed" --store "$store/$mode" >/dev/null
      else
        ./target/release/osmosis-sim bench benches/scenarios.txt --only "$scenario" --seed "$seed" --store "$store/$mode" --sim >/dev/null
      fi
    done
    read -r pm p50 p95 pmax <<<"$(figures "$store/process/latest/results.json")"
    read -r vm v50 v95 vmax <<<"$(figures "$store/virtual/latest/results.json")"
    python3 -c '
import sys
s, seed, pm, vm, p, v, pmax, vmax = sys.argv[1:]
d = (float(vm) - float(pm)) / float(pm) * 100
dmax = "-" if "-" in (pmax, vmax) else "%+d" % (int(vmax) - int(pmax))
print("| %s | %s | %s | %s | %+.2f %% | %s | %s | %s |" % (s, seed, pm, vm, d, p, v, dmax))' \
      "$scenario" "$seed" "$pm" "$vm" "$p50/$p95/$pmax" "$v50/$v95/$vmax" "$pmax" "$vmax"
  done
done
