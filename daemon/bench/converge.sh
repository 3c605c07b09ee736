#!/usr/bin/env bash
# A 5-host cluster in network namespaces (root) under write load: wrk adds new elements at host n2 for SECONDS,
# then the time until every host holds the same number of elements. Usage (repository root, after
# cargo build --release -p osmosis-daemon -p osmosis-netlab): daemon/bench/converge.sh [SECONDS] [DELAY_MS]
set -euo pipefail
secs=${1:-10}
dir=$(mktemp -d)
lab=
cleanup() { [ -n "$lab" ] && kill -INT "$lab" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
target/release/osmosis-netlab cluster --dir "$dir/lab" --secs $((secs + 120)) > "$dir/out" 2>"$dir/err" &
lab=$!
until grep -q '^token' "$dir/out" 2>/dev/null; do sleep 0.2; done
ns=$(grep '^n1' "$dir/out" | sed 's/.*netns \(.*\)-h1/\1-sw/')
token=$(cat "$dir/lab/token")
len() { ip netns exec "$ns" curl -s -H "Authorization: Bearer $token" "http://198.18.0.$1:8080/v1/sets/load" | python3 -c 'import json,sys; print(json.load(sys.stdin)["len"])'; }
ip netns exec "$ns" wrk -t2 -c64 -d"${secs}s" -H "Authorization: Bearer $token" -s daemon/bench/post.lua \
    http://198.18.0.2:8080 | grep -E "Requests/sec|requests in|Non-2xx"
t0=$(date +%s.%N)
while true; do
    lens=$(for h in 1 2 3 4 5; do len $h; done | sort -u)
    [ "$(echo "$lens" | wc -l)" = 1 ] && break
    sleep 0.05
done
t1=$(date +%s.%N)
echo "every host holds $lens elements $(python3 -c "print(round($t1 - $t0, 2))") s after the load stopped"
