"""Robustness sweeps: quadrature K, baseline choice, path choice, value function."""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np

import jaxattr
from jaxattr import kernels
from jaxattr._util import kendall_tau, spearman, top_k_jaccard, top_k_overlap

from ._common import ScenarioRun, attribute_run
from ._shapley import permutation_marginals

K_SWEEP = (5, 10, 20, 30, 50, 100, 300)


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


def quadrature_sweep(value, z, baseline, configs, *, batch: int = 16) -> np.ndarray:
    """Straight-line attributions for many ``(rule, K)`` at once, float64, ``(C, N)``.

    Args:
        value: risk on ``(N, d)``. z, baseline: ``(N, d)``.
        configs: sequence of ``(rule, K)`` (rules of :func:`kernels.quadrature`).
        batch: path nodes evaluated together.
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
    steps=K_SWEEP,
    rules=("midpoint", "gauss-legendre"),
    reference_steps: int = 400,
) -> dict:
    """Relative L1 error of the target-step attribution vs K, in float64.

    ``err(K) = ||phi_K - phi_ref||_1 / ||phi_ref||_1`` with ``phi_ref`` the
    ``reference_steps``-point Gauss–Legendre rule; the slope is the least-squares fit of
    ``log err`` on ``log K`` (midpoint: expected -2, its error is O(1/K²)). The sweep
    evaluates the same straight-line integrand as :func:`jaxattr.attribute` (the tests
    check that K = 30 agrees with it), with all nodes in one compiled program.

    Returns:
        ``{"rows": [{"rule", "K", "rel_error"}], "slope": {rule: fitted slope}}``; errors
        at the float64 floor (< 1e-13) are left out of the fit.
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
    run: ScenarioRun, *, k: int = 10, steps: int = 30, baselines=("zero", "mean", "pre-event")
) -> dict:
    """Agreement of the target-step rankings under different baselines.

    For each pair: top-k Jaccard, Kendall tau-b and Spearman rho over all agents.
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


def path_choice(run: ScenarioRun, *, key, n_paths: int = 5, k: int = 10, steps: int = 30) -> dict:
    """Straight-line path vs random-permutation coordinate paths.

    A coordinate path fades the agents in one at a time in a random order; along it an
    agent's attribution is its marginal contribution ``v(P_i ∪ {i}) - v(P_i)`` (one
    permutation of sampled Shapley). Reports Kendall tau-b (mean, min over paths) and
    the mean top-k overlap with the straight-line attribution.
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


def value_sensitivity(run: ScenarioRun, *, k: int = 10, steps: int = 30) -> dict:
    """Agreement of the rankings under the scenario's alternative risks (``run.variants``).

    Raises:
        ValueError: the scenario defines no variants.
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
