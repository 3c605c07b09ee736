#!/usr/bin/env bash
# Client writes during periodic snapshots of a large replica: one daemon holding N scattered integers (set "big",
# written in batches of 10,000) with a snapshot every second (--snapshot-secs 1, --fsync never), then wrk adds a
# new element per request for SECONDS; prints wrk's latency distribution (its maximum is the longest write, which
# waits for a snapshot if one holds the replica's lock) and the snapshots taken meanwhile. Usage (repository root,
# after cargo build --release -p osmosis-daemon):
#   daemon/bench/stall.sh [N] [SECONDS] [CONNECTIONS]
set -euo pipefail
n=${1:-1000000}
secs=${2:-12}
conns=${3:-8}
bin=${OSMOSISD:-target/release/osmosisd}
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$dir/key"
python3 - "$n" "$dir" <<'PY'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
for b in range(0, n, 10000):
    xs = ((i * 0x9E3779B97F4A7C15) % (1 << 63) for i in range(b, min(b + 10000, n)))
    open(f"{d}/body.{b // 10000}", "w").write('{"elements": [' + ",".join(map(str, xs)) + "]}")
PY
"$bin" --name solo --listen 127.0.0.1:7401 --http 127.0.0.1:8401 --cluster-key-file "$dir/key" \
    --data-dir "$dir/data" --fsync never --snapshot-secs 1 --max-body-bytes 4000000 2>"$dir/log" &
pid=$!
until curl -sf 127.0.0.1:8401/health >/dev/null; do sleep 0.05; done
for f in "$dir"/body.*; do curl -sf -X POST 127.0.0.1:8401/v1/sets/big --data-binary @"$f" >/dev/null; done
snaps() { curl -s 127.0.0.1:8401/metrics | grep '^osmosis_snapshots_total' | cut -d' ' -f2; }
s0=$(snaps)
echo "$n scattered integers, $conns connections, ${secs} s (load average $(cut -d' ' -f1 /proc/loadavg)):"
wrk -t1 -c"$conns" -d"${secs}s" --latency -s daemon/bench/post.lua http://127.0.0.1:8401 |
    grep -E "Latency|Requests/sec|requests in|Non-2xx|^ +(50|90|99)%"
echo "snapshots during the run: $(( $(snaps) - s0 ))"
