"""Robustness sweeps: quadrature K, baseline choice, path choice, value function."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

import jaxattr
from jaxattr import kernels
from jaxattr._util import kendall_tau, spearman, top_k_jaccard, top_k_overlap

from ._common import ScenarioRun, attribute_run
from ._shapley import permutation_marginals

K_SWEEP = (5, 10, 20, 30, 50, 100, 300)
"""The path points K swept by :func:`k_convergence` (its default ``steps``).

Example:
    >>> from jaxattr.scenarios import K_SWEEP
    >>> K_SWEEP[0], K_SWEEP[-1]
    (5, 300)
"""


def _phi(run, **kw) -> np.ndarray:
    return np.asarray(attribute_run(run, **kw).phi[0], np.float64)


@functools.partial(jax.jit, static_argnames=("value", "batch"))
def _quadrature_sums(value, zt, bt, nodes, weights, *, batch):
    """``phi[c] = sum_k dz * sum_p weights[c, p] grad f(b + nodes[p] dz)``: ``(C, N)``.

    Every rule and K of a sweep shares one list of path nodes, so the sweep is one
    compiled program; nodes are streamed ``batch`` at a time.
    """
    grad = jax.grad(value.fm)
    dz = zt - bt

    def body(acc, xs):
        a, w = xs
        g = jax.vmap(lambda aj: grad(bt + aj * dz))(a)
        return acc + jnp.tensordot(w, g, axes=1), None

    acc = jnp.zeros((weights.shape[1],) + zt.shape, zt.dtype)
    acc, _ = jax.lax.scan(body, acc, (nodes, weights))
    return jnp.sum(dz[None] * acc, axis=1)


def quadrature_sweep(
    value: Any,
    z: Float[ArrayLike, "N d"],
    baseline: Float[ArrayLike, "N d"],
    configs: Sequence[tuple[str, int]],
    *,
    batch: int = 16,
) -> Float[np.ndarray, "C N"]:
    """Straight-line attributions for many ``(rule, K)`` at once, float64, ``(C, N)``.

    ``phi[c, i] = sum_k (z - b)[i, k] sum_p w_c[p] d f / dz[i, k](b + a_p (z - b))`` with the
    nodes ``a_p`` and weights ``w_c`` of config c; all configs share one compiled program.

    Args:
        value: risk on ``(N, d)`` (a value object, built-in name or callable).
        z: ``(N, d)`` features.
        baseline: ``(N, d)`` baseline.
        configs: sequence of ``(rule, K)`` (rules of :func:`jaxattr.kernels.quadrature`).
        batch: path nodes evaluated together.

    Returns:
        ``(len(configs), N)`` float64 attributions, one row per config.

    Raises:
        ValueError: an unknown rule or K < 1 (from :func:`jaxattr.kernels.quadrature`).

    Example:
        >>> import numpy as np
        >>> from jaxattr.scenarios import quadrature_sweep
        >>> z = np.array([[1.0], [2.0], [3.0]])
        >>> configs = [("midpoint", 4), ("gauss-legendre", 4)]
        >>> phi = quadrature_sweep("variance", z, np.zeros_like(z), configs)
        >>> phi.shape, bool(np.allclose(phi[1].sum(), np.var(z)))  # efficiency: sum = f(z) - f(0)
        ((2, 3), True)
    """
    value = jaxattr.values.as_value(value)
    nodes, cols = [], []
    for c, (rule, k) in enumerate(configs):
        a, w = kernels.quadrature(rule, int(k))
        nodes.append(a)
        cols.append((c, w))
    nodes = np.concatenate(nodes)
    weights = np.zeros((len(configs), nodes.size))
    pos = 0
    for c, w in cols:
        weights[c, pos : pos + w.size] = w
        pos += w.size
    pad = -nodes.size % batch
    nodes = np.concatenate([nodes, np.full(pad, 0.5)]).reshape(-1, batch)
    weights = np.concatenate([weights, np.zeros((len(configs), pad))], axis=1)
    weights = weights.reshape(len(configs), -1, batch).transpose(1, 0, 2)
    with jax.enable_x64(True):
        zt = jnp.asarray(np.asarray(z, np.float64).T)
        bt = jnp.asarray(np.ascontiguousarray(np.asarray(baseline, np.float64).T))
        out = _quadrature_sums(value, zt, bt, jnp.asarray(nodes), jnp.asarray(weights), batch=batch)
        return np.asarray(out)


def k_convergence(
    run: ScenarioRun,
    *,
    steps: Sequence[int] = K_SWEEP,
    rules: Sequence[str] = ("midpoint", "gauss-legendre"),
    reference_steps: int = 400,
) -> dict[str, Any]:
    """Relative L1 error of the target-step attribution vs K, in float64.

    ``err(K) = ||phi_K - phi_ref||_1 / ||phi_ref||_1`` with ``phi_ref`` the
    ``reference_steps``-point Gauss–Legendre rule; the slope is the least-squares fit of
    ``log err`` on ``log K`` (midpoint: expected -2, its error is O(1/K²)). The sweep
    evaluates the same straight-line integrand as :func:`jaxattr.attribute` (the tests
    check that K = 30 agrees with it), with all nodes in one compiled program.

    Args:
        run: a :class:`ScenarioRun` (its target step and action baseline).
        steps: the K values swept.
        rules: the quadrature rules swept.
        reference_steps: K of the Gauss–Legendre reference.

    Returns:
        ``{"scenario", "N", "rows": [{"rule", "K", "rel_error"}], "slope": {rule: fitted
        slope or None}}``; errors at the float64 floor (< 1e-13) are left out of the fit
        (None: fewer than two errors above it).

    Raises:
        ValueError: an unknown rule or a K < 1.

    Example:
        >>> from jaxattr.scenarios import k_convergence, simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> kc = k_convergence(run, steps=(4, 8), rules=("midpoint",), reference_steps=16)
        >>> [r["K"] for r in kc["rows"]], round(kc["slope"]["midpoint"])   # O(1/K²)
        ([4, 8], -2)
    """
    z = np.asarray(run.target, np.float64)
    b = np.asarray(run.target_baseline, np.float64)
    configs = [("gauss-legendre", reference_steps)] + [(r, int(k)) for r in rules for k in steps]
    phis = quadrature_sweep(run.risk, z, b, configs)
    ref = phis[0]
    norm = np.abs(ref).sum()
    rows, slope = [], {}
    for i, (rule, k) in enumerate(configs[1:], start=1):
        rows.append({"rule": rule, "K": k, "rel_error": float(np.abs(phis[i] - ref).sum() / norm)})
    for rule in rules:
        ks = np.asarray([r["K"] for r in rows if r["rule"] == rule], np.float64)
        e = np.asarray([r["rel_error"] for r in rows if r["rule"] == rule])
        ok = e > 1e-13
        slope[rule] = (
            float(np.polyfit(np.log(ks[ok]), np.log(e[ok]), 1)[0]) if ok.sum() >= 2 else None
        )
    return {"scenario": run.name, "N": z.shape[0], "rows": rows, "slope": slope}


def baseline_robustness(
    run: ScenarioRun,
    *,
    k: int = 10,
    steps: int = 30,
    baselines: Sequence[str] = ("zero", "mean", "pre-event"),
) -> dict[str, Any]:
    """Agreement of the target-step rankings under different baselines.

    For each pair: top-k Jaccard, Kendall tau-b and Spearman rho over all agents.

    Args:
        run: a :class:`ScenarioRun`.
        k: size of the top-k sets (capped at N).
        steps: path points K of each attribution.
        baselines: names from :data:`BASELINES` to compare pairwise.

    Returns:
        ``{"scenario", "N", "rows": [{"pair", "jaccard_top<k>", "kendall", "spearman"}]}``,
        one row per pair (correlations NaN where an attribution is constant).

    Raises:
        ValueError: an unknown baseline, or ``k < 1``.

    Example:
        >>> from jaxattr.scenarios import baseline_robustness, simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> rows = baseline_robustness(run, k=3, baselines=("zero", "mean"))["rows"]
        >>> rows[0]["pair"], sorted(rows[0])
        ('zero vs mean', ['jaccard_top3', 'kendall', 'pair', 'spearman'])
    """
    phis = {name: _phi(run, baseline=name, steps=steps) for name in baselines}
    rows = []
    for a, c in itertools.combinations(baselines, 2):
        rows.append(
            {
                "pair": f"{a} vs {c}",
                f"jaccard_top{k}": top_k_jaccard(phis[a], phis[c], k),
                "kendall": kendall_tau(phis[a], phis[c]),
                "spearman": spearman(phis[a], phis[c]),
            }
        )
    return {"scenario": run.name, "N": run.target.shape[0], "rows": rows}


def path_choice(
    run: ScenarioRun, *, key: Array, n_paths: int = 5, k: int = 10, steps: int = 30
) -> dict[str, Any]:
    """Straight-line path vs random-permutation coordinate paths.

    A coordinate path fades the agents in one at a time in a random order; along it an
    agent's attribution is its marginal contribution ``v(P_i ∪ {i}) - v(P_i)`` (one
    permutation of sampled Shapley). Reports Kendall tau-b (mean, min over paths) and
    the mean top-k overlap with the straight-line attribution.

    Args:
        run: a :class:`ScenarioRun` (target step, action baseline).
        key: ``jax.random`` key of the permutations.
        n_paths: random coordinate paths.
        k: size of the top-k sets (capped at N).
        steps: path points K of the straight-line attribution.

    Returns:
        ``{"scenario", "N", "n_paths", "kendall_mean", "kendall_min",
        "top<k>_overlap_mean"}``.

    Raises:
        ValueError: ``k < 1``, or a straight-line attribution that is not finite.

    Example:
        >>> import jax
        >>> from jaxattr.scenarios import path_choice, simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> pc = path_choice(run, key=jax.random.key(0), n_paths=2, k=3)
        >>> pc["n_paths"], -1.0 <= pc["kendall_min"] <= pc["kendall_mean"] <= 1.0
        (2, True)
    """
    n = run.target.shape[0]
    ours = _phi(run, steps=steps)
    perms = np.asarray(
        jax.vmap(lambda kk: jax.random.permutation(kk, n))(jax.random.split(key, n_paths))
    )
    coord = permutation_marginals(run.risk, run.target, run.target_baseline, perms)
    taus = [kendall_tau(ours, c) for c in coord]
    tops = [top_k_overlap(ours, c, k) for c in coord]
    return {
        "scenario": run.name,
        "N": n,
        "n_paths": n_paths,
        "kendall_mean": float(np.mean(taus)),
        "kendall_min": float(np.min(taus)),
        f"top{k}_overlap_mean": float(np.mean(tops)),
    }


def value_sensitivity(run: ScenarioRun, *, k: int = 10, steps: int = 30) -> dict[str, Any]:
    """Agreement of the rankings under the scenario's alternative risks (``run.variants``).

    Each variant is attributed at the target step; for each pair of variants, Kendall
    tau-b over all agents and the top-k overlap.

    Args:
        run: a :class:`ScenarioRun` with ``variants`` (opinion and midscale have three).
        k: size of the top-k sets (capped at N).
        steps: path points K of each attribution.

    Returns:
        ``{"scenario", "N", "rows": [{"pair", "kendall", "top<k>_overlap"}]}``.

    Raises:
        ValueError: the scenario defines no variants, or ``k < 1``.

    Example:
        >>> import dataclasses
        >>> from jaxattr.scenarios import simulate_opinion, value_sensitivity
        >>> run = simulate_opinion(n_agents=8, n_steps=4)   # run.variants: three risks
        >>> same = dataclasses.replace(run, variants={"a": run.risk, "b": run.risk})
        >>> row = value_sensitivity(same, k=3)["rows"][0]   # one risk twice: same rankings
        >>> row["pair"], round(row["kendall"], 6), row["top3_overlap"]
        ('a vs b', 1.0, 3)
    """
    if not run.variants:
        raise ValueError(
            f"scenario {run.name!r} defines no risk variants; the value-function "
            "sweep needs run.variants (opinion and midscale have them)"
        )
    phis = {name: _phi(run, value=v, steps=steps) for name, v in run.variants.items()}
    rows = []
    for a, c in itertools.combinations(phis, 2):
        rows.append(
            {
                "pair": f"{a} vs {c}",
                "kendall": kendall_tau(phis[a], phis[c]),
                f"top{k}_overlap": top_k_overlap(phis[a], phis[c], k),
            }
        )
    return {"scenario": run.name, "N": run.target.shape[0], "rows": rows}
