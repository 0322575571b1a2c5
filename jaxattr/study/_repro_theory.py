"""Theorem 1's N = 3 witnesses for ``jaxattr reproduce`` (paper appendix A.3, Eq. 9–10).

The converted paper text lost Eq. 9's formula. What survives: N = 3 agents, one feature, a
subset of two, the zero baseline; the family ``f_n`` is smooth and permutation-invariant
for every n with a non-zero off-diagonal Hessian (so it is nonlinear by Lemma 1); along the
ray the attribution of agent i depends on the other agents through the sum ``sum_j z_j``
(Eq. 10); at the numerical instance the two agents of S demand two different rescaling
factors ``c_i = phi~^S_i / phi~^N_i``. :func:`witness` checks each of these properties on
a given f; :func:`pairwise` is the smallest family with all of them (pairwise products,
``phi_i = s_i (sum_j s_j - s_i) / (2n)``), which ``jaxattr reproduce`` reports beside the
project's variance witness and the linear control.
"""

from __future__ import annotations

import numpy as np

from ._repro_world import x64

__all__ = ["PAIRWISE_FORMULA", "pairwise", "pairwise_phi", "witness"]

PAIRWISE_FORMULA = "f_n(z) = (1/n) sum_{i<j} s_i s_j, s_i = sum_k z_ik"


def pairwise(z):
    """``f_n(z) = (1/n) sum_{i<j} s_i s_j = ((sum s)² - sum s²) / (2n)`` on ``(n, d)``."""
    import jax.numpy as jnp

    s = jnp.sum(z, axis=1)
    return (jnp.sum(s) ** 2 - jnp.sum(s * s)) / (2 * z.shape[0])


def pairwise_phi(z) -> np.ndarray:
    """Closed form of the pairwise family's AS value, zero baseline (the Eq. 10 analogue).

    ``df/ds_i = (S - s_i) / n`` with ``S = sum_j s_j``; along ``a z`` it is
    ``a (S - s_i) / n``, so ``phi_i = s_i (S - s_i) / (2n)``: agent i's share depends on
    the others through S.
    """
    s = np.asarray(z, np.float64).sum(axis=1)
    return s * (s.sum() - s) / (2 * s.size)


def witness(value, z, subset, *, name: str | None = None, smooth: bool = True) -> dict:
    """Theorem 1 on one configuration: subset S of the N agents, zero baseline, float64.

    Attributes ``value`` on all N agents and on S alone (S as its own population), then
    reports the normalised shares, the per-agent factors ``c_i = phi~^S_i / phi~^N|S_i``
    (one common factor exists iff they are equal), the optimal ``c*`` and residual ``rho``
    (:func:`jaxattr.study.rescaling_residual`), and the off-diagonal Hessian entries of f
    at z (Lemma 1: all zero iff f is linear in the paper's sense). ``smooth=False`` marks an
    f that is not C² (gini: its Hessian is zero almost everywhere, so Lemma 1 does not
    apply; the missing common factor is still checked).

    Returns:
        a JSON-serialisable dict.
    """
    import jax

    import jaxattr

    from ._metrics import rescaling_residual

    z = np.asarray(z, np.float64)
    idx = np.asarray(subset, np.int64)
    with x64():
        full = np.asarray(jaxattr.attribute(z, value).phi[0], np.float64)
        sub = np.asarray(jaxattr.attribute(z[idx], value).phi[0], np.float64)
        f = jaxattr.values.as_value(value)
        hess = np.asarray(jax.hessian(lambda x: f(x))(z))          # (N, d, N, d)
    n, d = z.shape
    off = [float(hess[i, k, j, m]) for i in range(n) for j in range(n) if i != j
           for k in range(d) for m in range(d)]
    c_star, rho = rescaling_residual(sub, full[idx])
    sh_sub = sub / sub.sum()
    sh_full = full[idx] / full[idx].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        c_i = sh_sub / sh_full
    return {"value": name or getattr(value, "name", getattr(value, "__name__", str(value))),
            "z": z.tolist(), "subset": idx.tolist(), "phi_full": full.tolist(),
            "phi_subset": sub.tolist(), "shares_subset": sh_sub.tolist(),
            "shares_full_on_subset": sh_full.tolist(), "c_i": c_i.tolist(),
            "smooth": bool(smooth),
            "c_spread": float(np.nanmax(c_i) - np.nanmin(c_i)), "c_star": c_star,
            "rho": rho, "hessian_offdiag_max": float(np.max(np.abs(off))) if off else 0.0}
