"""Supervise one process of a multi-process run: JAX's distributed client *aborts* the
process (a C++ ``CHECK`` failure, SIGABRT, a stack trace) when a peer never joins or dies;
the parent runs the real command as a child, and turns such an end into exit code 2 and one
line naming the peer and what to check.

The child marks the start and the end of ``jax.distributed.initialize`` on stderr; the
parent holds the child's stderr back (JAX's abort writes C++ log lines, frames and bare
status lines there) and writes it out when the child ends — unless the end was JAX's abort,
which becomes the one line. The child's stdout passes through as it comes. A child that has
not finished initializing ``timeout + GRACE`` seconds after starting it is killed, so no
process outlives the init timeout by much, whatever JAX does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

__all__ = ["INIT_DONE", "INIT_START", "SUPERVISED", "mark", "supervise"]

SUPERVISED = "JAXATTR_SUPERVISED"
INIT_START = "\x1bjaxattr:init-start"
INIT_DONE = "\x1bjaxattr:init-done"
GRACE = 2.0  # seconds past the init timeout before the parent ends a stuck child


def mark(what: str) -> None:
    """Child side: tell the supervising parent where initialization stands."""
    if os.environ.get(SUPERVISED) == "1":
        print(what, file=sys.stderr, flush=True)


def _peers(args) -> str:
    p, i = args.num_processes, args.process_id
    if p is None or i is None:
        return "its peers (the processes SLURM / Open MPI started with it)"
    if i == 0:
        others = ", ".join(str(k) for k in range(1, p)) if p <= 9 else f"1..{p - 1}"
        return (
            f"process{'es' if p > 2 else ''} {others} of {p} (one or more never joined "
            f"the coordinator it runs at {args.coordinator})"
        )
    return f"process 0 (the coordinator at {args.coordinator})"


def _advice(args) -> str:
    where = (
        f"that every process was started with --num-processes {args.num_processes} and "
        "its own --process-id, that the coordinator's HOST:PORT is reachable from every "
        "host (firewall, the right interface), and that no peer crashed (see its log)"
        if args.coordinator
        else "that srun/mpirun started every task, that the tasks can reach each other, and "
        "that no task crashed (see its log)"
    )
    return f"check {where}"


def supervise(args, argv: list[str], name: str) -> int:
    """Run ``jaxattr ARGV`` as a supervised child; returns the exit code to use."""
    env = {**os.environ, SUPERVISED: "1", "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "jaxattr", *argv],
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=env,
    )
    state = {"start": None, "done": False}
    held: list[str] = []
    child_stderr = child.stderr
    if child_stderr is None:  # stderr=PIPE always opens one
        raise RuntimeError("supervise: the child process has no stderr pipe")

    def pump():
        for line in child_stderr:
            s = line.rstrip("\n")
            if s == INIT_START:
                state["start"] = time.monotonic()
            elif s == INIT_DONE:
                state["done"] = True
            else:
                held.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timeout = float(args.init_timeout)
    stuck = False
    while child.poll() is None:
        t0 = state["start"]
        if t0 is not None and not state["done"] and time.monotonic() - t0 > timeout + GRACE:
            stuck = True
            child.kill()
            break
        time.sleep(0.05)
    rc = child.wait()
    reader.join(timeout=5)
    native = "".join(held)
    fatal = (
        "DEADLINE_EXCEEDED" in native
        or "distributed service" in native
        or "Barrier timed out" in native
        or rc in (-6, 134)
    )
    if rc == 0:
        if native.strip():
            sys.stderr.write(native)
        return 0
    if not state["done"] and state["start"] is not None and (fatal or stuck):
        why = (
            "DEADLINE_EXCEEDED"
            if "DEADLINE_EXCEEDED" in native
            else ("no answer" if stuck else "aborted")
        )
        print(
            f"{name}: error: process {args.process_id if args.process_id is not None else '?'}"
            f" gave up after --init-timeout {args.init_timeout} s waiting for "
            f"{_peers(args)} ({why}); {_advice(args)}",
            file=sys.stderr,
        )
        return 2
    if state["done"] and fatal:
        print(
            f"{name}: error: a peer of process "
            f"{args.process_id if args.process_id is not None else '?'} died or became "
            f"unreachable mid-run (no heartbeat for {max(int(args.init_timeout), 10)} s); "
            f"{_advice(args)}",
            file=sys.stderr,
        )
        return 2
    if native.strip():  # not JAX's abort: show everything
        sys.stderr.write(native)
    return rc if rc > 0 else 1
