"""Faithfulness of scenario attributions: deletion AUC and agreement with Shapley."""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Int

from jaxattr._util import kendall_tau, top_k_overlap

from ._common import ScenarioRun, attribute_run
from ._metrics import default_ks, deletion_auc
from ._shapley import (
    exact_reference,
    loo_reference,
    permutation_marginals,
    shapley_reference,
)


def faithfulness(
    run: ScenarioRun,
    *,
    key: Array,
    n_permutations: int = 2000,
    ks: Int[ArrayLike, " K"] | None = None,
    n_random: int = 20,
    steps: int = 30,
    shapley: bool = True,
    exact: bool = False,
) -> dict:
    """Deletion AUC of ours, sampled Shapley, LOO and random, and rank agreement.

    The risk at the target step is attributed with each method; agents are ranked by
    attribution and the top-k replaced by their baseline action for every k in ``ks``
    (:func:`deletion_curve`); the AUC is the mean normalised drop. Two rankings are
    reported: ``deletion_auc`` ranks by attribution **magnitude** ``|phi_i|`` (the paper's
    definition, appendix P), ``deletion_auc_signed`` by the signed attribution (highest
    first); they differ only where some agents have negative attribution. A random
    ranking has no sign, so its two entries are equal. Rank agreement with sampled
    Shapley: Kendall tau-b over all agents and top-10 overlap.

    Args:
        run: a :class:`ScenarioRun`.
        key: ``jax.random`` key (Shapley permutations and the random rankings).
        n_permutations: M of sampled Shapley.
        ks: k sweep (default :func:`default_ks` of N).
        n_random: random rankings averaged for the random baseline.
        steps: K of our path integral.
        shapley: run sampled Shapley (skip where infeasible; the rank-agreement columns
            are then absent).
        exact: also enumerate exact Shapley (N <= 20).

    Returns:
        ``{"scenario", "N", "rows": [{"method", "deletion_auc", "deletion_auc_signed",
        "kendall_vs_shapley", "top10_vs_shapley", "auc_rel_diff_vs_shapley",
        "auc_signed_rel_diff_vs_shapley", "time_s"}, ...], "shapley_se_max", "shapley_se_rel",
        "shapley_source", "efficiency_error"}``; ``shapley_se_rel`` is the largest
        standard error over the standard deviation of the Shapley values across agents.

    Raises:
        ValueError: ks out of ``[0, N]``, ``f`` equal at the target and at the baseline
            (nothing to delete), or ``exact=True`` with too many agents.

    Example:
        >>> import jax
        >>> from jaxattr.scenarios import faithfulness, simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> fa = faithfulness(run, key=jax.random.key(0), shapley=False, ks=[1, 2], n_random=2)
        >>> [r["method"] for r in fa["rows"]], fa["N"]
        (['ours', 'loo', 'random'], 8)
        >>> ours, rand = fa["rows"][0], fa["rows"][-1]
        >>> bool(ours["deletion_auc"] > rand["deletion_auc"])
        True
    """
    z, b = run.target, run.target_baseline
    n = z.shape[0]
    ks = default_ks(n) if ks is None else np.asarray(ks)
    k_sh, k_rand = jax.random.split(key)
    scores, times, meta = (
        {},
        {},
        {"scenario": run.name, "N": n, "K": steps, "target_step": run.target_step},
    )

    attribute_run(run, steps=steps).phi.block_until_ready()  # compile
    t0 = time.perf_counter()
    att = attribute_run(run, steps=steps)
    att.phi.block_until_ready()
    times["ours"] = time.perf_counter() - t0
    scores["ours"] = np.asarray(att.phi[0], np.float64)
    meta["efficiency_error"] = float(att.efficiency_error.max())

    if shapley:
        t0 = time.perf_counter()
        ref = shapley_reference(run.risk, z, b, key=k_sh, n_permutations=n_permutations)
        times["sampled_shapley"] = time.perf_counter() - t0
        scores["sampled_shapley"] = ref["phi"]
        spread = float(np.std(ref["phi"]))
        meta.update(
            shapley_source=ref["source"],
            n_permutations=ref["n_permutations"],
            shapley_se_max=float(ref["se"].max()),
            shapley_se_rel=float(ref["se"].max() / spread) if spread > 0 else None,
        )
    if exact:
        t0 = time.perf_counter()
        scores["exact_shapley"], _ = exact_reference(run.risk, z, b)
        times["exact_shapley"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores["loo"], _ = loo_reference(run.risk, z, b)
    times["loo"] = time.perf_counter() - t0

    rows = []
    ref_scores = scores.get("sampled_shapley")
    for name, s in scores.items():
        row = {
            "method": name,
            "deletion_auc": deletion_auc(run.risk, z, b, np.abs(s), ks),
            "deletion_auc_signed": deletion_auc(run.risk, z, b, s, ks),
            "time_s": times[name],
        }
        if ref_scores is not None:
            row["kendall_vs_shapley"] = kendall_tau(s, ref_scores)
            row["top10_vs_shapley"] = top_k_overlap(s, ref_scores, min(10, n))
        rows.append(row)
    rand = [
        deletion_auc(run.risk, z, b, np.asarray(jax.random.uniform(k, (n,))), ks)
        for k in jax.random.split(k_rand, n_random)
    ]
    row = {
        "method": "random",
        "deletion_auc": float(np.mean(rand)),
        "deletion_auc_signed": float(np.mean(rand)),
        "deletion_auc_std": float(np.std(rand)),
        "time_s": 0.0,
    }
    if ref_scores is not None:
        row["kendall_vs_shapley"] = row["top10_vs_shapley"] = None
    rows.append(row)
    if ref_scores is not None:
        sh = next(r for r in rows if r["method"] == "sampled_shapley")
        for r in rows:
            r["auc_rel_diff_vs_shapley"] = (r["deletion_auc"] - sh["deletion_auc"]) / abs(
                sh["deletion_auc"]
            )
            r["auc_signed_rel_diff_vs_shapley"] = (
                r["deletion_auc_signed"] - sh["deletion_auc_signed"]
            ) / abs(sh["deletion_auc_signed"])
    meta["rows"] = rows
    meta["ks"] = [int(k) for k in ks]
    return meta


def shapley_cost_estimate(
    run: ScenarioRun, *, n_permutations: int = 1000, probe_permutations: int = 2, repeats: int = 3
) -> dict[str, Any]:
    """Measured cost of one risk evaluation and the extrapolated cost of sampled Shapley.

    Generic sampled Shapley evaluates ``v`` at N + 1 prefixes per permutation, each an
    O(N) pass: ``M (N + 1) t_eval``. The mean-field version (O(1) coalition updates) costs
    O(M N); its per-permutation time is measured on ``probe_permutations`` permutations.

    Args:
        run: a :class:`ScenarioRun` (its risk at the target step is timed).
        n_permutations: M, the permutations the estimate is for.
        probe_permutations: permutations actually run to time the mean-field version.
        repeats: timed evaluations of the risk (after one warm-up).

    Returns:
        ``{"N", "t_eval_s", "generic_s", "meanfield_per_perm_s", "meanfield_s", "M"}``
        (seconds; ``generic_s`` and ``meanfield_s`` are extrapolated to M).

    Raises:
        ValueError: ``repeats`` or ``probe_permutations`` < 1 (nothing to time).

    Example:
        >>> from jaxattr.scenarios import shapley_cost_estimate, simulate_opinion
        >>> run = simulate_opinion(n_agents=8, n_steps=4)
        >>> cost = shapley_cost_estimate(run, n_permutations=100, repeats=1)
        >>> cost["N"], cost["M"], bool(cost["generic_s"] > 0)
        (8, 100, True)
    """
    if repeats < 1 or probe_permutations < 1:
        raise ValueError(
            f"shapley_cost_estimate: repeats and probe_permutations must be >= 1, got "
            f"{repeats} and {probe_permutations}"
        )
    z, b = run.target, run.target_baseline
    n = z.shape[0]
    f = jax.jit(run.risk.fm)
    zt = jnp.asarray(z.T)
    f(zt).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(repeats):
        f(zt).block_until_ready()
    t_eval = (time.perf_counter() - t0) / repeats
    perms = np.stack([np.random.default_rng(i).permutation(n) for i in range(probe_permutations)])
    permutation_marginals(run.risk, z, b, perms)  # compile
    t0 = time.perf_counter()
    permutation_marginals(run.risk, z, b, perms)
    per_perm = (time.perf_counter() - t0) / probe_permutations
    return {
        "N": n,
        "M": n_permutations,
        "t_eval_s": t_eval,
        "generic_s": n_permutations * (n + 1) * t_eval,
        "meanfield_per_perm_s": per_perm,
        "meanfield_s": n_permutations * per_perm,
    }
