"""Subset attribution: f evaluated on a subset S as its own population (docs/theorem1.md)."""

from __future__ import annotations

from typing import Any

import numpy as np
from jaxtyping import ArrayLike, Float, Int

import jaxattr
from jaxattr._util import aligned_empty

__all__ = ["stack_subsets", "subset_attribution"]


def _feature_major(panel_or_fm) -> np.ndarray:
    if hasattr(panel_or_fm, "feature_major"):
        return panel_or_fm.feature_major
    fm = np.asarray(panel_or_fm)
    if fm.ndim != 3:
        raise ValueError(
            f"subset_attribution: expected a Panel or a feature-major (T, d, N) "
            f"array, got shape {fm.shape}"
        )
    return fm


def stack_subsets(
    panel: Any, subsets: Int[ArrayLike, "D n"] | Int[ArrayLike, " n"]
) -> jaxattr.Panel:
    """The D subsets' features stacked along time: a Panel of shape ``(D·T, n, d)``.

    One gather pass (no transpose copy). Reusing the returned Panel for several value
    functions (``subset_attribution(..., stacked=...)``) keeps one device copy of it.

    Args:
        panel: a Panel or its feature-major ``(T, d, N)`` buffer.
        subsets: ``(D, n)`` agent indices (or one subset ``(n,)``).

    Returns:
        A :class:`jaxattr.Panel` of shape ``(D·T, n, d)``: draw j occupies steps
        ``j·T .. (j+1)·T - 1``.

    Raises:
        ValueError: ``panel`` is an array that is not 3-D.
        IndexError: an agent index outside ``[0, N)``.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr.study import stack_subsets
        >>> p = jaxattr.Panel(np.arange(24, dtype=np.float32).reshape(2, 4, 3))
        >>> s = stack_subsets(p, [[0, 1], [2, 3]])
        >>> s.shape, s.features[2].tolist() == p.features[0, 2:].tolist()
        ((4, 2, 3), True)
    """
    import jaxattr

    fm = _feature_major(panel)
    idx = np.asarray(subsets, dtype=np.int64)
    if idx.ndim == 1:
        idx = idx[None]
    t, d, n_all = fm.shape
    n_draws, n = idx.shape
    if n == n_all and n_draws == 1 and np.array_equal(idx[0], np.arange(n_all)):
        out = fm
    else:
        out = aligned_empty((n_draws, t, d, n), fm.dtype)  # aliased, not copied, later
        for j in range(n_draws):
            np.take(fm, idx[j], axis=2, out=out[j])
        out = out.reshape(n_draws * t, d, n)
    return jaxattr.Panel.from_feature_major(out, validate=False)


def subset_attribution(
    panel: Any,
    subsets: Int[ArrayLike, "D n"] | Int[ArrayLike, " n"],
    value: Any,
    *,
    baseline: str | Float[ArrayLike, " d"] = "zero",
    stacked: jaxattr.Panel | None = None,
    **attribute_kwargs: Any,
) -> tuple[Float[np.ndarray, "D T n"], Float[np.ndarray, "D T"], Float[np.ndarray, "D T"]]:
    """Attribute ``f`` on each subset S of agents, S taken as its own population.

    ``phi^S[t, i] = AS_i(f restricted to S; Z_t[S], B_t[S])`` for every agent i of S. Draws of
    equal size share one compiled program: the D subsets are stacked along the time axis
    (f acts on each step independently) and attributed in a single call.

    Args:
        panel: a :class:`jaxattr.Panel`, or its feature-major ``(T, d, N)`` buffer.
        subsets: ``(D, n)`` or ``(n,)`` agent indices (each row one subset).
        value: a value name, object or callable (see :func:`jaxattr.attribute`).
        baseline: ``"zero"``, ``"mean"`` (the subset's own mean per step), ``"first"``
            (each agent's own features at the first step: the paper's pre-event baseline)
            or a ``(d,)`` vector.
        stacked: optional result of :func:`stack_subsets` for the same panel and subsets
            (skips the gather; share it between value functions).
        **attribute_kwargs: passed to :func:`jaxattr.attribute` (``steps``, ``rule``, ...).

    Returns:
        ``(phi (D, T, n), delta (D, T), efficiency_error (D, T))`` NumPy arrays.

    Raises:
        ValueError: indices out of range, an unknown baseline, a ``stacked`` Panel of the
            wrong shape, or the validation errors of :func:`jaxattr.attribute`.

    Example:
        >>> import numpy as np, jaxattr
        >>> from jaxattr.study import subset_attribution
        >>> p = jaxattr.Panel(np.random.default_rng(0).random((2, 50, 3)))
        >>> phi, delta, err = subset_attribution(p, np.array([[0, 1, 2], [3, 4, 5]]), "heat")
        >>> phi.shape, delta.shape
        ((2, 2, 3), (2, 2))
    """
    import jaxattr

    fm = _feature_major(panel)
    t, d, n_all = fm.shape
    idx = np.asarray(subsets, dtype=np.int64)
    if idx.ndim == 1:
        idx = idx[None]
    if idx.ndim != 2 or idx.shape[1] == 0:
        raise ValueError(
            f"subset_attribution: subsets must have shape (D, n) with n >= 1, got {idx.shape}"
        )
    if idx.min() < 0 or idx.max() >= n_all:
        raise ValueError(
            f"subset_attribution: agent indices must lie in [0, {n_all}), got "
            f"[{idx.min()}, {idx.max()}]"
        )
    n_draws, n = idx.shape
    if not isinstance(baseline, str):
        b = np.asarray(baseline)
        if b.shape != (d,):
            raise ValueError(
                f"subset_attribution: baseline must be 'zero', 'mean', 'first' "
                f"or a (d,)=({d},) vector, got shape {b.shape}"
            )
    elif baseline not in ("zero", "mean", "first"):
        raise ValueError(
            f"subset_attribution: baseline must be 'zero', 'mean', 'first' or a "
            f"(d,) vector, got {baseline!r}"
        )
    sub = stack_subsets(fm, idx) if stacked is None else stacked
    if sub.shape != (n_draws * t, n, d):
        raise ValueError(
            f"subset_attribution: stacked has shape {sub.shape}, expected "
            f"{(n_draws * t, n, d)} for {n_draws} subsets of {n} agents"
        )
    if isinstance(baseline, str) and baseline == "first" and n_draws > 1:
        # Each agent's own first step, per draw: the draws are stacked along time, so the
        # engine's "first" (step 0 of the stack) would hand draw 0's agents to every draw.
        first = sub.feature_major.reshape(n_draws, t, d, n)[:, :1]
        baseline = np.broadcast_to(first, (n_draws, t, d, n)).reshape(n_draws * t, d, n)
        baseline = np.ascontiguousarray(baseline.transpose(0, 2, 1))  # (D·T, n, d)
    att = jaxattr.attribute(sub, value, baseline=baseline, **attribute_kwargs)
    phi = np.asarray(att.phi, dtype=np.float64).reshape(n_draws, t, n)
    delta = np.asarray(att.delta, dtype=np.float64).reshape(n_draws, t)
    err = np.asarray(att.efficiency_error, dtype=np.float64).reshape(n_draws, t)
    return phi, delta, err
