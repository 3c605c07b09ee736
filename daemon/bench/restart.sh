#!/usr/bin/env bash
# Restart with a large replica: fill one daemon with N integers (batches of 10,000), stop it (kill -9, or a clean
# SIGTERM that writes a snapshot), start it again and time how long until GET /v1/sets/big answers with all N.
# Usage (from the repository root, after cargo build --release -p osmosis-daemon): daemon/bench/restart.sh [N] [kill|term]
set -euo pipefail
n=${1:-1000000}
how=${2:-kill}
bin=${OSMOSISD:-target/release/osmosisd}
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$dir/key"
start() { "$bin" --name solo --listen 127.0.0.1:7201 --http 127.0.0.1:8201 --cluster-key-file "$dir/key" --data-dir "$dir/data" "$@" 2>>"$dir/log" & pid=$!; }
start
until curl -sf 127.0.0.1:8201/health >/dev/null; do sleep 0.05; done
for ((b = 0; b < n; b += 10000)); do
    python3 -c "import sys; b=int(sys.argv[1]); print('{\"elements\": [' + ','.join(str(i) for i in range(b, min(b + 10000, int(sys.argv[2])))) + ']}')" "$b" "$n" > "$dir/body"
    curl -sf -X POST 127.0.0.1:8201/v1/sets/big --data-binary @"$dir/body" >/dev/null
done
if [ "$how" = kill ]; then kill -9 "$pid"; else kill -TERM "$pid"; fi
wait "$pid" 2>/dev/null || true
du -sh "$dir/data" | sed 's/^/data directory: /'
t0=$(date +%s.%N)
start
until [ "$(curl -sf 127.0.0.1:8201/v1/sets/big 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["len"])' 2>/dev/null)" = "$n" ]; do sleep 0.01; done
t1=$(date +%s.%N)
echo "restart after $how with $n elements: first complete read $(python3 -c "print(round($t1 - $t0, 3))") s after the start"
grep "loaded" "$dir/log" | tail -1
