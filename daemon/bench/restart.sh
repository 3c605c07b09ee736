#!/usr/bin/env bash
# Restart with a large replica: fill one daemon with N integers (sequential, or spread over the 63-bit range) in
# batches of 10,000, stop it (kill -9, or a clean SIGTERM that writes a snapshot), start it again and time until
# (1) GET /v1/sets answers with all N elements (the daemon serves reads) and (2) a full GET /v1/sets/big.
# Usage (repository root, after cargo build --release -p osmosis-daemon):
#   daemon/bench/restart.sh [N] [kill|term] [seq|sparse]
set -euo pipefail
n=${1:-1000000}
how=${2:-kill}
pattern=${3:-seq}
bin=${OSMOSISD:-target/release/osmosisd}
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$dir/key"
start() { "$bin" --name solo --listen 127.0.0.1:7201 --http 127.0.0.1:8201 --cluster-key-file "$dir/key" --data-dir "$dir/data" --max-body-bytes 4000000 2>>"$dir/log" & pid=$!; }
python3 - "$n" "$pattern" "$dir" <<'PY'
import sys
n, pattern, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for b in range(0, n, 10000):
    xs = range(b, min(b + 10000, n))
    if pattern == "sparse":
        xs = ((i * 0x9E3779B97F4A7C15) % (1 << 63) for i in xs)
    open(f"{d}/body.{b // 10000}", "w").write('{"elements": [' + ",".join(map(str, xs)) + "]}")
PY
start
until curl -sf 127.0.0.1:8201/health >/dev/null; do sleep 0.05; done
for f in "$dir"/body.*; do curl -sf -X POST 127.0.0.1:8201/v1/sets/big --data-binary @"$f" >/dev/null; done
if [ "$how" = kill ]; then kill -9 "$pid"; else kill -TERM "$pid"; fi
wait "$pid" 2>/dev/null || true
echo "data directory: $(du -sh "$dir/data" | cut -f1)"
t0=$(date +%s.%N)
start
until curl -sf 127.0.0.1:8201/v1/sets 2>/dev/null | grep -q "\"len\":$n"; do sleep 0.005; done
t1=$(date +%s.%N)
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' /proc/$pid/stat)
full=$(curl -s -o /dev/null -w '%{time_total}' 127.0.0.1:8201/v1/sets/big)
echo "restart after $how, $n $pattern elements: serving reads $(python3 -c "print(round($t1 - $t0, 3))") s after the start (the daemon used $cpu CPU-seconds until then); a full read of the set then takes ${full} s"
grep "loaded" "$dir/log" | tail -1 | sed 's/.*INFO //'
