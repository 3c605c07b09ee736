#!/usr/bin/env python3
"""Runs a Maelstrom node binary and injects one fault into one named node, for measuring the eager path's healing
through the harness until the harness has a targeted nemesis of its own.

    fault-wrapper.py NODE KIND FROM TO -- BINARY [ARGS...]

Every node of the test runs through the wrapper (pass it as the harness's --bin with a small shell script, see
benches/README.md); the node whose `init` names it NODE gets the fault, the others are passed through untouched.
Times are seconds after the first client message the node sees (the test's start, within a few milliseconds).

KIND:
  cut    the node's traffic with other servers is dropped both ways between FROM and TO (clients still reach it);
  kill   the node's process is killed at FROM; lines sent to it until TO are dropped; at TO a new process starts with
         an empty replica and gets the saved `init` (its `init_ok` is swallowed);
  pause  the process is stopped (SIGSTOP) at FROM and continued (SIGCONT) at TO; its input waits in the pipe.

Fault times and events go to stderr (the node's log in the harness store).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time


def log(msg):
    sys.stderr.write(f"fault-wrapper: {msg}\n")
    sys.stderr.flush()


def main():
    args = sys.argv[1:]
    if "--" not in args or len(args[: args.index("--")]) != 4:
        sys.exit(__doc__)
    node, kind, start, end = args[: args.index("--")]
    command = args[args.index("--") + 1 :]
    start, end = float(start), float(end)
    assert kind in ("cut", "kill", "pause"), kind
    Wrapper(node, kind, start, end, command).run()


class Wrapper:
    def __init__(self, node, kind, start, end, command):
        self.node, self.kind, self.start, self.end, self.command = node, kind, start, end, command
        self.t0 = None  # monotonic time of the first client message
        self.init_line = None
        self.target = False
        self.out_lock = threading.Lock()
        self.child = self.spawn()
        self.dead = False

    def spawn(self):
        child = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        threading.Thread(target=self.pump_out, args=(child,), daemon=True).start()
        return child

    def now(self):
        return None if self.t0 is None else time.monotonic() - self.t0

    def in_fault(self):
        t = self.now()
        return t is not None and self.start <= t < self.end

    def pump_out(self, child, swallow_first=False):
        for line in child.stdout:
            if swallow_first:
                swallow_first = False
                continue
            if self.target and self.kind == "cut" and self.in_fault() and not dest_is_client(line):
                continue
            with self.out_lock:
                sys.stdout.buffer.write(line)
                sys.stdout.buffer.flush()

    def write_child(self, line):
        try:
            self.child.stdin.write(line)
            self.child.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def run(self):
        if self.kind in ("kill", "pause"):
            threading.Thread(target=self.scheduler, daemon=True).start()
        for line in sys.stdin.buffer:
            if self.init_line is None and b'"init"' in line:
                self.init_line = line
                try:
                    self.target = json.loads(line)["body"].get("node_id") == self.node
                except (ValueError, KeyError, AttributeError):
                    pass
                if self.target:
                    log(f"{self.node}: {self.kind} from {self.start} s to {self.end} s after the first client message")
            if self.t0 is None and b'"src":"c' in line.replace(b" ", b"") and self.init_line is not None:
                if b'"init"' not in line and b'"topology"' not in line:
                    self.t0 = time.monotonic()
            if self.target and self.in_fault():
                if self.kind == "cut" and not src_is_client(line):
                    continue
                if self.kind == "kill":
                    continue
            self.write_child(line)
        try:
            self.child.stdin.close()
        except OSError:
            pass
        self.child.wait()

    def scheduler(self):
        while self.t0 is None or not self.target:
            if self.init_line is not None and not self.target:
                return
            time.sleep(0.005)
        self.sleep_until(self.start)
        if self.kind == "kill":
            self.child.kill()
            self.child.wait()
            log(f"killed at {self.now():.3f} s")
        else:
            self.child.send_signal(signal.SIGSTOP)
            log(f"paused at {self.now():.3f} s")
        self.sleep_until(self.end)
        if self.kind == "kill":
            child = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
            child.stdin.write(self.init_line)
            child.stdin.flush()
            self.child = child
            threading.Thread(target=self.pump_out, args=(child, True), daemon=True).start()
            log(f"restarted empty at {self.now():.3f} s")
        else:
            self.child.send_signal(signal.SIGCONT)
            log(f"continued at {self.now():.3f} s")

    def sleep_until(self, t):
        while self.now() < t:
            time.sleep(min(0.005, max(0.0, t - self.now())))


def src_is_client(line):
    return b'"src":"c' in line.replace(b" ", b"")


def dest_is_client(line):
    return b'"dest":"c' in line.replace(b" ", b"")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        os._exit(1)
