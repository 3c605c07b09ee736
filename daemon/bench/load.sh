#!/usr/bin/env bash
# Client writes per second on one daemon over HTTP on loopback, with wrk (Debian package `wrk`): every request
# adds a new element. Besides wrk's figures it prints the daemon's CPU time during the run (user + system, from
# /proc), per write and as writes per second per core: on a shared machine the daemon gets only part of a core,
# and these say what it would do with a whole one. Usage (repository root, after cargo build --release -p
# osmosis-daemon):
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
ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
echo "fsync $fsync, $conns connections, ${secs} s (load average $(cut -d' ' -f1 /proc/loadavg)):"
t0=$(ticks)
wrk -t2 -c"$conns" -d"${secs}s" -s daemon/bench/post.lua http://127.0.0.1:8301 | grep -E "Requests/sec|Latency|Non-2xx|requests in"
t1=$(ticks)
n=$(curl -s 127.0.0.1:8301/v1/sets | python3 -c 'import json,sys; print(json.load(sys.stdin)["sets"][0]["len"])')
echo "set size: $n"
python3 -c "hz=$(getconf CLK_TCK); cpu=($t1-$t0)/hz; print(f'daemon CPU: {cpu:.2f} s = {cpu/$secs:.2f} cores; {1e6*cpu/$n:.1f} us per write; {$n/cpu:.0f} writes/s per core')"
echo "fsyncs: $(curl -s 127.0.0.1:8301/metrics | grep '^osmosis_log_fsyncs_total' | cut -d' ' -f2)"
