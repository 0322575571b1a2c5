"""Shared feature arithmetic of Bluesky-style panels (DESIGN §2).

The pipeline (from Jetstream JSONL) and the synthetic world both go through
:func:`log1p_counts`, so the two give bit-identical panels from identical counts: the float32
value of log1p(n) is taken from one table (or one float64 formula), never from code paths that
could differ in the last bit depending on array length or stride.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DAY_US", "FEATURES", "MAX_TIME_US", "log1p_counts"]

FEATURES = ("reach", "activity", "resonance")

#: Microseconds per UTC day; Jetstream's ``time_us`` // DAY_US is the day index.
DAY_US = 86_400_000_000
#: Jetstream ``time_us`` must lie in (0, MAX_TIME_US): 2**20 days after 1970 (year 4840). The
#: panel builder packs the day into 20 bits, and capture and builder share the bound, so
#: capture never writes an event the builder would call invalid for its time alone.
MAX_TIME_US = (1 << 20) * DAY_US

_LUT_SIZE = 1 << 16
_LUT: np.ndarray | None = None


def _lut() -> np.ndarray:
    global _LUT
    if _LUT is None:
        _LUT = np.log1p(np.arange(_LUT_SIZE, dtype=np.float64)).astype(np.float32)
    return _LUT


def log1p_counts(counts) -> np.ndarray:
    """float32 ``log1p(n)`` of non-negative integer counts, bit-reproducible.

    Args:
        counts: integer array (any shape), values >= 0.

    Returns:
        float32 array of the same shape.

    Raises:
        ValueError: negative counts or a non-integer dtype.
    """
    c = np.asarray(counts)
    if c.dtype.kind not in "iu":
        raise ValueError(f"log1p_counts: counts must be integers, got dtype {c.dtype}")
    if c.size and c.min() < 0:
        raise ValueError("log1p_counts: counts must be >= 0")
    lut = _lut()
    small = c < _LUT_SIZE
    out = lut[np.where(small, c, 0)]
    if not small.all():
        big = ~small
        out[big] = np.log1p(c[big].astype(np.float64)).astype(np.float32)
    return out
