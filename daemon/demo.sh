#!/usr/bin/env bash
# Starts three osmosisd on loopback, talks to them with curl, stops them. Run from the repository root after
# `cargo build --release -p osmosis-daemon`. Uses UDP ports 7101-7103 and HTTP ports 8101-8103.
set -euo pipefail
bin=${OSMOSISD:-target/release/osmosisd}
dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
head -c 32 /dev/urandom | base64 > "$dir/cluster.key"
for i in 1 2 3; do
    "$bin" --name "n$i" --listen "127.0.0.1:710$i" --http "127.0.0.1:810$i" --join 127.0.0.1:7101 \
        --join 127.0.0.1:7102 --cluster-key-file "$dir/cluster.key" --data-dir "$dir/n$i" 2>"$dir/n$i.log" &
    pids+=($!)
done
until curl -sf 127.0.0.1:8103/health | grep -q '"n1","n2","n3"'; do sleep 0.1; done
show() { echo "\$ $1"; eval "$1"; echo; }
show "curl -s -X POST 127.0.0.1:8101/v1/sets/fruits -d '{\"elements\": [\"apple\", \"pear\", 42]}'"
show "curl -s -X POST 127.0.0.1:8102/v1/counters/visits -d '{\"delta\": 5}'"
show "curl -s -X POST 127.0.0.1:8103/v1/counters/visits -d '{\"delta\": -2}'"
sleep 0.5
show "curl -s 127.0.0.1:8103/v1/sets/fruits"
show "curl -s 127.0.0.1:8101/v1/counters/visits"
show "curl -s 127.0.0.1:8102/health"
show "curl -s -X POST 127.0.0.1:8101/v1/sets/fruits -d '{\"element\": '"
show "curl -s 127.0.0.1:8101/metrics | grep '^osmosis_datagrams_sent_total'"
