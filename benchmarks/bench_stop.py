"""How `lenet5 serve` stops when a signal comes at a random moment of its start-up.

    python benchmarks/bench_stop.py [--tries 60] [--signal TERM|INT] [--within 0.3 3.0] [--workers 1] [--src DIR]

Each try starts `python -m lenet5 serve` (the bundled model) on a free port, in a session of its own,
sends the signal to its PID after a random delay, and measures: the exit status (143 for SIGTERM,
130 for SIGINT), the seconds from the signal to the exit, whether stderr holds a traceback, and
whether any process of its session is still there 10 s later. A stop must take under 2 s. `--src`
runs another checkout's `src` (e.g. a `git worktree` of an older commit) to compare.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

from lenet5.errors import run_script

STOP_WITHIN_S = 2.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_gone(pid: int, seconds: float) -> bool:
    for _ in range(int(seconds / 0.1)):
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    return False


def one_try(sig: int, delay: float, workers: int, src: str | None) -> dict:
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    p = subprocess.Popen([sys.executable, "-m", "lenet5", "serve", "--port", str(free_port()), "--workers", str(workers)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    time.sleep(delay)
    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    seconds = time.monotonic() - t0
    return {"delay": delay, "status": p.returncode, "seconds": seconds, "traceback": "Traceback" in err,
            "left_behind": not group_gone(p.pid, 10), "last_line": (err.strip().splitlines() or [""])[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tries", type=int, default=60)
    ap.add_argument("--signal", choices=["TERM", "INT"], default="TERM")
    ap.add_argument("--within", type=float, nargs=2, default=(0.3, 3.0), metavar=("FROM", "TO"),
                    help="seconds after the start that the signal is sent between")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--src", help="the src folder of another checkout to run instead of the installed lenet5")
    a = ap.parse_args()
    sig = getattr(signal, "SIG" + a.signal)
    rng = random.Random(a.seed)
    tries = [one_try(sig, rng.uniform(*a.within), a.workers, a.src) for _ in range(a.tries)]
    slow = [t for t in tries if t["seconds"] >= STOP_WITHIN_S]
    print(f"command: python benchmarks/bench_stop.py --tries {a.tries} --signal {a.signal} "
          f"--within {a.within[0]:g} {a.within[1]:g} --workers {a.workers} --seed {a.seed}"
          + (f" --src {a.src}" if a.src else ""))
    print(f"| exit statuses | stopped in (median, max) | {STOP_WITHIN_S:g} s or more | traceback | left a process |")
    print("|---|---:|---:|---:|---:|")
    statuses = ", ".join(f"{s}: {n}" for s, n in collections.Counter(t["status"] for t in tries).most_common())
    seconds = [t["seconds"] for t in tries]
    print(f"| {statuses} | {statistics.median(seconds):.2f} s, {max(seconds):.2f} s | {len(slow)} | "
          f"{sum(t['traceback'] for t in tries)} | {sum(t['left_behind'] for t in tries)} |")
    for t in tries:
        if t["status"] != 128 + sig or t in slow or t["traceback"] or t["left_behind"]:
            print(f"  at {t['delay']:.2f} s: exit {t['status']} after {t['seconds']:.2f} s; {t['last_line'][:120]}")


if __name__ == "__main__":
    run_script(main)
