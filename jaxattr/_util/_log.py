"""Messages and progress: the ``logging`` module plus one progress display.

Every progress line and message of jaxattr is a ``logging`` record at INFO on a logger under
``jaxattr`` (``jaxattr.scale``, ``jaxattr.study``, ``jaxattr.deepset``, ``jaxattr.data``).
A library call shows them only where the application configured logging (the standard
library's convention); the command line configures one handler on standard error
(:func:`cli_logging`), so its output stays as it was. Results (tables, paths, JSON
summaries) are printed by the command line itself on standard output.

Long loops report through :class:`Progress`: a tqdm bar with rate and ETA when the records
end on a terminal, and plain log lines (count, rate, ETA) otherwise — in a log file, a pipe,
CI, or a library call.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import IO, Any

ROOT = "jaxattr"


def get_logger(name: str) -> logging.Logger:
    """The logger ``jaxattr.<name>``."""
    return logging.getLogger(f"{ROOT}.{name}")


def _tqdm():
    try:
        from tqdm import tqdm
    except ImportError:  # the plain-lines display needs nothing
        return None
    return tqdm


class _Handler(logging.StreamHandler):
    """A stream handler that writes above an active tqdm bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        bar = _tqdm()
        if bar is None or not Progress.active:
            super().emit(record)
            return
        try:
            bar.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must not raise (as logging.Handler)
            self.handleError(record)


def _terminal_stream(logger: logging.Logger) -> IO[str] | None:
    """The terminal a handler that shows ``logger``'s INFO records writes to, if any."""
    lg: logging.Logger | None = logger
    while lg is not None:
        for h in lg.handlers:
            stream = getattr(h, "stream", None)
            if h.level <= logging.INFO and stream is not None:
                isatty = getattr(stream, "isatty", None)
                with contextlib.suppress(Exception):
                    if isatty is not None and isatty():
                        return stream
        lg = lg.parent if lg.propagate else None
    return None


class Progress:
    """One progress display for a loop of ``total`` items.

    Call it with a message (logged at INFO) and the number of items the message finishes
    (``advance``). On a terminal, with tqdm installed, a bar shows count, rate and ETA and
    the per-item messages stay out of its way (DEBUG); otherwise each message is one log
    line, so nothing is lost in a log file. ``enabled=False`` reports nothing.

    Args:
        logger: where the records go.
        total: the number of items (None: unknown; the bar then counts without an ETA).
        desc: the bar's label.
        unit: the item's name on the bar.
        enabled: False silences this display (``--quiet``, ``progress=False``).
    """

    active = 0  # bars open now, process-wide (the handler writes above them)

    def __init__(
        self,
        logger: logging.Logger,
        total: int | None = None,
        *,
        desc: str = "",
        unit: str = "it",
        enabled: bool = True,
    ):
        self.logger, self.total, self.enabled = logger, total, enabled
        self.done = 0
        self._bar: Any = None
        bar = _tqdm()
        term = _terminal_stream(logger) if enabled and logger.isEnabledFor(logging.INFO) else None
        if bar is not None and term is not None:
            self._bar = bar(total=total, desc=desc or None, unit=unit, file=term, leave=False)
            Progress.active += 1

    @property
    def shows_bar(self) -> bool:
        """Whether this display is a bar (else plain lines, or nothing)."""
        return self._bar is not None

    def __call__(self, msg: str | None = None, advance: int = 0) -> None:
        if not self.enabled:
            return
        self.done += advance
        if self._bar is not None and advance:
            self._bar.update(advance)
            if msg:
                self.logger.debug(msg)
            return
        if msg:
            self.logger.info(msg)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            Progress.active -= 1

    def __del__(self) -> None:  # a loop left by an exception still takes its bar down
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def records_to(stream: IO[str] | None, logger_name: str = ROOT) -> Iterator[None]:
    """Show the INFO records of ``logger_name`` on ``stream`` for the duration.

    For the functions that take a ``stream=`` argument: None adds nothing (the records go
    wherever logging is configured); a stream that a handler of the ``jaxattr`` loggers
    already writes to is not added twice.
    """
    if stream is None:
        yield
        return
    logger = logging.getLogger(logger_name)
    root = logging.getLogger(ROOT)
    shown = any(getattr(h, "stream", None) is stream for h in (*logger.handlers, *root.handlers))
    if shown:
        yield
        return
    handler = _Handler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO)
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@contextlib.contextmanager
def cli_logging(stream: IO[str] | None = None) -> Iterator[logging.Handler]:
    """The command line's one handler: ``jaxattr.*`` INFO records on ``stream`` (default
    standard error), one message per line, for the duration of a command."""
    root = logging.getLogger(ROOT)
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(logging.INFO)
    old_level = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
