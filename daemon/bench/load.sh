#!/usr/bin/env bash
# Client writes per second on one daemon over HTTP on loopback, with wrk (Debian package `wrk`): every request
# adds a new element. Usage (repository root, after cargo build --release -p osmosis-daemon):
#   daemon/bench/load.sh [always|never|interval:MS] [SECONDS] [CONNECTIONS]
set -euo pipefail
fsync=${1:-always}
secs=${2:-10}
conns=${3:-64}
bin=${OSMOSISD:-target/release/osmosisd}
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$dir/key"
"$bin" --name solo --listen 127.0.0.1:7301 --http 127.0.0.1:8301 --cluster-key-file "$dir/key" \
    --data-dir "$dir/data" --fsync "$fsync" 2>"$dir/log" &
pid=$!
until curl -sf 127.0.0.1:8301/health >/dev/null; do sleep 0.05; done
echo "fsync $fsync, $conns connections, ${secs} s:"
wrk -t2 -c"$conns" -d"${secs}s" -s daemon/bench/post.lua http://127.0.0.1:8301 | grep -E "Requests/sec|Latency|Non-2xx|requests in"
echo "set size: $(curl -s 127.0.0.1:8301/v1/sets | python3 -c 'import json,sys; print(json.load(sys.stdin)["sets"][0]["len"])')"
echo "fsyncs: $(curl -s 127.0.0.1:8301/metrics | grep '^osmosis_log_fsyncs_total' | cut -d' ' -f2)"
