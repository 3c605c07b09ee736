#!/bin/sh
# The osmosis node, run through benches/fault-wrapper.py with the fault in $FAULT ("NODE KIND FROM TO", e.g.
# "n0 cut 5 15"): pass this script as the harness's --bin, from the repository root. See benches/README.md.
exec python3 "$(dirname "$0")/fault-wrapper.py" $FAULT -- "$(dirname "$0")/../target/release/osmosis" "$@"
