"""Quadrature rules on [0, 1] for the straight-line path integral.

Nodes and weights are NumPy constants: they are static for a given (rule, steps), so
the compiled program sees them as literals.
"""

from __future__ import annotations

import functools

import numpy as np
from jaxtyping import Float

RULES = ("midpoint", "trapezoid", "gauss-legendre")
"""The quadrature rules :func:`quadrature` accepts for the path integral on [0, 1].

Example:
    >>> from jaxattr import kernels
    >>> kernels.RULES
    ('midpoint', 'trapezoid', 'gauss-legendre')
"""


@functools.lru_cache(maxsize=256)
def quadrature(rule: str, steps: int) -> tuple[Float[np.ndarray, " K"], Float[np.ndarray, " K"]]:
    """Nodes ``alpha`` and weights ``w`` with ``sum_j w_j F(alpha_j) ≈ ∫_0^1 F(a) da``.

    - ``midpoint``: ``alpha_j = (j - 1/2)/K``, ``w_j = 1/K`` (the paper's rule, error O(1/K²));
    - ``trapezoid``: K points ``0, 1/(K-1), ..., 1`` (K >= 2), error O(1/K²);
    - ``gauss-legendre``: K Gauss–Legendre points, exact for polynomials of degree 2K - 1.

    Args:
        rule: one of ``"midpoint"``, ``"trapezoid"``, ``"gauss-legendre"``.
        steps: K >= 1 (>= 2 for ``trapezoid``).

    Returns:
        ``(alpha, w)``, two read-only float64 arrays ``Float[np.ndarray, " K"]``.

    Raises:
        ValueError: an unknown rule, a non-integer ``steps``, or too few steps.

    Example:
        >>> from jaxattr import kernels
        >>> alpha, w = kernels.quadrature("midpoint", 4)
        >>> print(alpha.tolist(), w.tolist())
        [0.125, 0.375, 0.625, 0.875] [0.25, 0.25, 0.25, 0.25]
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if rule == "midpoint":
        alpha = (np.arange(steps, dtype=np.float64) + 0.5) / steps
        w = np.full(steps, 1.0 / steps)
    elif rule == "trapezoid":
        if steps < 2:
            raise ValueError(f"rule='trapezoid' needs steps >= 2, got {steps}")
        alpha = np.linspace(0.0, 1.0, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[0] = w[-1] = 0.5 / (steps - 1)
    elif rule == "gauss-legendre":
        x, wx = np.polynomial.legendre.leggauss(steps)
        alpha = 0.5 * (x + 1.0)
        w = 0.5 * wx
    else:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    alpha.setflags(write=False)
    w.setflags(write=False)
    return alpha, w


@functools.lru_cache(maxsize=16)
def composite_gauss_legendre(
    panels: int = 8, order: int = 16, graded: int = 0
) -> tuple[Float[np.ndarray, " Q"], Float[np.ndarray, " Q"]]:
    """Composite Gauss–Legendre rule on [0, 1] for smooth *scalar* integrands.

    Used where a closed form reduces to a scalar integral without an elementary
    antiderivative (heat with a non-zero baseline); ``panels * order`` evaluations of a
    scalar are free next to one pass over N agents.

    Args:
        panels: uniform panels (each split again when ``graded``).
        order: Gauss–Legendre points per panel.
        graded: if > 0, panel edges at ``2**-graded, ..., 1/2, 1`` instead (geometric
            toward 0), each panel cut into ``panels`` equal parts: resolves integrands whose
            scale changes near ``a = 0`` (heat from a near-zero baseline to large means,
            where ``1 + prod_k m_k(a)`` rises from 1 to 1e18 within ``a < 1e-6``).

    Returns:
        ``(alpha, w)``: nodes and weights, float64 ``Float[np.ndarray, " Q"]`` with
        ``Q = panels * order`` (``(graded + 1) * panels * order`` when graded), such that
        ``sum_j w_j F(alpha_j) ≈ ∫_0^1 F(a) da``.

    Raises:
        ValueError: ``panels < 1``, ``order < 1`` or ``graded < 0`` (a rule with no nodes
            would integrate everything to 0).

    Example:
        >>> from jaxattr import kernels
        >>> alpha, w = kernels.composite_gauss_legendre(panels=2, order=3)
        >>> print(alpha.shape, round(float(w.sum()), 12), round(float(w @ alpha**5), 12))
        (6,) 1.0 0.166666666667
    """
    for name, v, lo in (("panels", panels, 1), ("order", order, 1), ("graded", graded, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(
                f"composite_gauss_legendre: {name} must be an integer >= {lo}, got {v!r}"
            )
    x, wx = np.polynomial.legendre.leggauss(order)
    if graded:
        coarse = np.concatenate([[0.0], 2.0 ** -np.arange(graded, -1, -1)])
        edges = np.unique(
            np.concatenate(
                [
                    np.linspace(lo, hi, panels + 1)
                    for lo, hi in zip(coarse[:-1], coarse[1:], strict=True)
                ]
            )
        )
    else:
        edges = np.linspace(0.0, 1.0, panels + 1)
    h = np.diff(edges)
    alpha = (edges[:-1, None] + 0.5 * h[:, None] * (x[None, :] + 1.0)).ravel()
    w = (0.5 * h[:, None] * wx[None, :]).ravel()
    return alpha, w
