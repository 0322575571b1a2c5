"""Theorem 1's witnesses for ``paper/reproduce.py`` (paper appendix A.3, Eq. 9–10).

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

from .world import x64

__all__ = [
    "PAIRWISE_FORMULA",
    "log_mean",
    "mean_square",
    "pairwise",
    "pairwise_phi",
    "theorem1_witnesses",
    "witness",
]

PAIRWISE_FORMULA = "f_n(z) = (1/n) sum_{i<j} s_i s_j, s_i = sum_k z_ik"


def pairwise(z):
    """``f_n(z) = (1/n) sum_{i<j} s_i s_j = ((sum s)² - sum s²) / (2n)`` on ``(n, d)``."""
    import jax.numpy as jnp

    s = jnp.sum(z, axis=1)
    return (jnp.sum(s) ** 2 - jnp.sum(s * s)) / (2 * z.shape[0])


def mean_square(z):
    """``f_n(z) = (mean_i s_i)²``: h(mean of a linear score), nonlinear by Lemma 1."""
    import jax.numpy as jnp

    return jnp.mean(jnp.sum(z, axis=1)) ** 2


def log_mean(z):
    """``f_n(z) = log(1 + mean_i s_i)``: h(mean of a linear score), nonlinear by Lemma 1."""
    import jax.numpy as jnp

    return jnp.log1p(jnp.mean(jnp.sum(z, axis=1)))


#: The negative control of Theorem 1 (ii): nonlinear, yet ray-separable (docs/theorem1.md).
NEGATIVE_CONTROLS = {"(mean s)^2": mean_square, "log(1 + mean s)": log_mean}

# The paper's numerical instance of A.3 (N = 3, d = 1, |S| = 2) and a random check size.
_Z3 = ((1.0,), (2.0,), (4.0,))
_S3 = (1, 2)
_RANDOM = {"n": 50, "d": 3, "subset": 20, "configs": 5}


def theorem1_witnesses(seed: int = 0) -> dict:
    """Every Theorem 1 witness of the report.

    - the linear control and the nonlinear witnesses (pairwise family, variance, heat; gini
      at N = 4) on the A.3 instance;
    - the negative control: h(mean s) for both h of :data:`NEGATIVE_CONTROLS` on the A.3
      instance and on random configurations (n = 50 agents, d = 3, |S| = 20, U(0, 1));
      the pairwise family on the same random configurations for contrast.
    """
    z = np.array(_Z3)
    out = {
        "pairwise_formula": PAIRWISE_FORMULA,
        "witnesses": [
            witness("linear", z, _S3),
            witness(pairwise, z, _S3, name="pairwise"),
            witness("variance", z, _S3),
            witness("heat", np.array([[1.0, 2.0, 1.0], [2.0, 1.0, 3.0], [4.0, 3.0, 2.0]]), _S3),
            # gini at N = 3 gives the median agent zero attribution (2 r - N - 1 = 0), so its
            # witness needs N = 4.
            witness("gini", np.array([[1.0], [2.0], [4.0], [8.0]]), (0, 1, 3), smooth=False),
        ],
    }
    w = out["witnesses"][1]
    out["pairwise_closed_form_gap"] = float(
        max(
            np.abs(np.asarray(w["phi_full"]) - pairwise_phi(z)).max(),
            np.abs(np.asarray(w["phi_subset"]) - pairwise_phi(z[list(_S3)])).max(),
        )
    )
    rng = np.random.default_rng(seed)
    configs = [
        (
            rng.uniform(0, 1, (_RANDOM["n"], _RANDOM["d"])),
            np.sort(rng.choice(_RANDOM["n"], _RANDOM["subset"], replace=False)),
        )
        for _ in range(_RANDOM["configs"])
    ]
    control = []
    for name, f in dict(NEGATIVE_CONTROLS, pairwise=pairwise).items():
        ws = [witness(f, z, _S3, name=name)] + [witness(f, zz, ss, name=name) for zz, ss in configs]
        control.append(
            {
                "value": name,
                "negative_control": name != "pairwise",
                "rho": [x["rho"] for x in ws],
                "c_spread": [x["c_spread"] for x in ws],
                "hessian_offdiag_max": max(x["hessian_offdiag_max"] for x in ws),
                "configs": len(ws),
            }
        )
    out["negative_control"] = control
    return out


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
    from jaxattr.study import rescaling_residual

    z = np.asarray(z, np.float64)
    idx = np.asarray(subset, np.int64)
    with x64():
        full = np.asarray(jaxattr.attribute(z, value).phi[0], np.float64)
        sub = np.asarray(jaxattr.attribute(z[idx], value).phi[0], np.float64)
        f = jaxattr.values.as_value(value)
        hess = np.asarray(jax.hessian(lambda x: f(x))(z))  # (N, d, N, d)
    n, d = z.shape
    off = [
        float(hess[i, k, j, m])
        for i in range(n)
        for j in range(n)
        if i != j
        for k in range(d)
        for m in range(d)
    ]
    c_star, rho = rescaling_residual(sub, full[idx])
    sh_sub = sub / sub.sum()
    sh_full = full[idx] / full[idx].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        c_i = sh_sub / sh_full
    return {
        "value": name or getattr(value, "name", getattr(value, "__name__", str(value))),
        "z": z.tolist(),
        "subset": idx.tolist(),
        "phi_full": full.tolist(),
        "phi_subset": sub.tolist(),
        "shares_subset": sh_sub.tolist(),
        "shares_full_on_subset": sh_full.tolist(),
        "c_i": c_i.tolist(),
        "smooth": bool(smooth),
        "c_spread": float(np.nanmax(c_i) - np.nanmin(c_i)),
        "c_star": c_star,
        "rho": rho,
        "hessian_offdiag_max": float(np.max(np.abs(off))) if off else 0.0,
    }
