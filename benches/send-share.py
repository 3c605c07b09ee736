#!/usr/bin/env python3
"""Reads a run's net-journal.jsonl (osmosis-harness store) and prints how server-to-server messages are spread over
their senders: the total, and the largest senders with their share.

    send-share.py RUN_DIR [TOP]
"""

import collections
import json
import sys


def main():
    run, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    sent = collections.Counter()
    with open(f"{run}/net-journal.jsonl") as journal:
        for line in journal:
            event = json.loads(line)
            if event.get("type") == "send" and event["src"].startswith("n") and event["dest"].startswith("n"):
                sent[event["src"]] += 1
    total = sum(sent.values())
    print(f"{total} server messages from {len(sent)} nodes")
    for node, count in sent.most_common(top):
        print(f"  {node}: {count} ({100 * count / total:.2f} %)")


if __name__ == "__main__":
    main()
