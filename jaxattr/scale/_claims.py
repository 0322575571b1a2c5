"""Per-job claims: several batch runners (processes, SLURM array tasks, cluster workers) on one
output folder, each job computed by one of them at a time.

A claim is a file ``OUT/claims/<job id>.claim`` created with ``O_CREAT | O_EXCL`` (atomic on
a local file system and on NFS v3+), holding the claimant's host, pid and runner id. Its
holder refreshes its mtime every ``timeout / 4`` seconds while it works and removes it after
the job's result (or failure record) is written. A claim is *stale* — and may be taken over —
when its holder is on this host and its pid is dead, or when it has not been refreshed for
``timeout`` seconds (a holder on another host that died or lost its node). Taking over renames
the stale file away first (``rename`` is atomic: of two runners taking over at once, one
wins), then creates a fresh claim.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid

__all__ = ["Claims"]

HOST = socket.gethostname()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claims:
    """The claims of one runner in one output folder.

    Args:
        out: the output folder (claims go to ``out/claims``).
        timeout: seconds without a refresh after which another host's claim is stale.
        create: create the claims folder (False: a read-only view, for status).
    """

    def __init__(self, out: str, timeout: float = 600.0, *, create: bool = True):
        if not timeout > 0:
            raise ValueError(f"claim timeout must be positive, got {timeout!r}")
        self.dir = os.path.join(out, "claims")
        if create:
            os.makedirs(self.dir, exist_ok=True)
        self.timeout = float(timeout)
        self.runner = uuid.uuid4().hex[:12]
        self.held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def path(self, job_id: str) -> str:
        return os.path.join(self.dir, job_id + ".claim")

    def info(self, job_id: str) -> tuple[dict | None, float] | None:
        """``(content or None if unreadable, mtime)`` of a job's claim, or None if there is
        none."""
        p = self.path(job_id)
        try:
            st = os.stat(p)
            with open(p) as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(text)
            return (doc if isinstance(doc, dict) else None), st.st_mtime
        except ValueError:
            return None, st.st_mtime

    def is_stale(self, doc: dict | None, mtime: float) -> bool:
        """A dead pid on this host, or no refresh for ``timeout`` seconds (an empty claim
        being written is given the same time)."""
        if doc is not None and doc.get("host") == HOST and isinstance(doc.get("pid"), int):
            if doc.get("runner") == self.runner:
                return False
            if not _alive(doc["pid"]):
                return True
        return time.time() - mtime > self.timeout

    def state(self, job_id: str) -> str | None:
        """None (no claim), ``"live"`` or ``"stale"``."""
        got = self.info(job_id)
        if got is None:
            return None
        return "stale" if self.is_stale(*got) else "live"

    def acquire(self, job_id: str) -> bool:
        """Claim a job: True when this runner now holds it; False when another live runner
        does."""
        p = self.path(job_id)
        for _ in range(2):
            try:
                fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                got = self.info(job_id)
                if got is None:
                    continue  # released meanwhile: try again
                doc, mtime = got
                if not self.is_stale(doc, mtime):
                    return False
                if not self._take_over(p):
                    return False
                continue
            try:
                os.write(
                    fd,
                    json.dumps(
                        {
                            "host": HOST,
                            "pid": os.getpid(),
                            "runner": self.runner,
                            "since": time.time(),
                        }
                    ).encode(),
                )
            finally:
                os.close(fd)
            with self._lock:
                self.held.add(job_id)
            return True
        return False

    def _take_over(self, p: str) -> bool:
        """Move a stale claim away; True when this runner moved it (exactly one does)."""
        try:
            ino = os.stat(p).st_ino
            aside = f"{p}.{self.runner}.stale"
            os.rename(p, aside)
        except FileNotFoundError:
            return True  # someone released or moved it: the create decides
        if os.stat(aside).st_ino != ino:  # pragma: no cover - a fresh claim raced in
            with contextlib.suppress(FileExistsError):
                os.link(aside, p)  # put it back
            os.remove(aside)
            return False
        os.remove(aside)
        return True

    def release(self, job_id: str) -> None:
        with self._lock:
            self.held.discard(job_id)
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(job_id))

    # -------------------------------------------------------------------------- heartbeat
    def __enter__(self) -> Claims:
        self._beat = threading.Thread(target=self._refresh, name="jaxattr-claims", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join()
        for job_id in list(self.held):  # an interrupted runner gives its claims back
            self.release(job_id)

    def _refresh(self) -> None:
        while not self._stop.wait(self.timeout / 4):
            with self._lock:
                held = list(self.held)
            for job_id in held:
                with contextlib.suppress(FileNotFoundError):
                    os.utime(self.path(job_id))
