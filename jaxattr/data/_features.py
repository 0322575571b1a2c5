"""Shared feature arithmetic of Bluesky-style panels (features as in docs/data.md).

The pipeline (from Jetstream JSONL) and the synthetic world both go through
:func:`log1p_counts`, so the two give bit-identical panels from identical counts: the float32
value of log1p(n) is taken from one table (or one float64 formula), never from code paths that
could differ in the last bit depending on array length or stride.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import ArrayLike, Float, Integer

__all__ = ["DAY_US", "FEATURES", "MAX_TIME_US", "log1p_counts"]

FEATURES = ("reach", "activity", "resonance")
"""The three features of every Bluesky-style panel, in order: reach ``log1p(followers)``,
activity ``log1p(topic posts + reposts)``, resonance ``log1p(replies received)``.

Example:
    >>> from jaxattr import data
    >>> data.FEATURES
    ('reach', 'activity', 'resonance')
"""

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


def log1p_counts(counts: Integer[ArrayLike, "*shape"]) -> Float[np.ndarray, "*shape"]:
    """float32 ``log1p(n)`` of non-negative integer counts, bit-reproducible.

    Counts below 2**16 are read from one float32 table of ``log1p`` taken in float64; larger
    ones use the float64 formula: the same count always gives the same bits, whatever the
    array's length or stride.

    Args:
        counts: ``Integer[ArrayLike, "*shape"]`` integer counts (any shape), values >= 0.

    Returns:
        ``Float[np.ndarray, "*shape"]`` float32, the same shape.

    Raises:
        ValueError: negative counts or a non-integer dtype.

    Example:
        >>> from jaxattr import data
        >>> print([round(float(x), 4) for x in data.log1p_counts([0, 1, 3, 100_000])])
        [0.0, 0.6931, 1.3863, 11.5129]
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
