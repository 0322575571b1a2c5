"""Scenario simulators, their risks, attribution, faithfulness and robustness sweeps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxattr
from jaxattr import scenarios as sc
from jaxattr.scenarios import _shapley

SIMS = {
    "economy": lambda seed=0: sc.simulate_economy(n_agents=30, n_steps=12, seed=seed),
    "opinion": lambda seed=0: sc.simulate_opinion(n_steps=12, seed=seed),
    "midscale": lambda seed=0: sc.simulate_midscale(n_agents=500, n_steps=10, seed=seed),
}


@pytest.fixture(scope="module")
def runs():
    return {name: make() for name, make in SIMS.items()}


# ----------------------------------------------------------------- simulators
@pytest.mark.parametrize("name", list(SIMS))
def test_simulator_shapes_determinism_and_target(runs, name):
    run = runs[name]
    t, n, d = run.panel.shape
    assert run.baseline.shape == (t, n, d)
    assert np.isfinite(run.features).all()
    assert run.risk_series.shape == (t,)
    # the risk of every step, evaluated here one step at a time in float64 (independent of
    # the vmapped float32 series the simulator stores): the stored series is that risk, and
    # the target step is in the second half and no later step is riskier
    with jax.enable_x64(True):
        risk = jax.jit(run.risk)
        direct = np.array([float(risk(jnp.asarray(z, jnp.float64))) for z in run.panel.features])
    np.testing.assert_allclose(run.risk_series, direct, rtol=1e-4, atol=1e-6)
    assert t // 2 <= run.target_step < t
    later = direct[t // 2 :]
    assert direct[run.target_step] >= later.max() - 1e-4 * np.abs(later).max()
    np.testing.assert_array_equal(run.target, run.panel.features[run.target_step])
    again = SIMS[name]()
    np.testing.assert_array_equal(again.features, run.features)  # seeded, deterministic
    other = SIMS[name](seed=1)
    assert not np.array_equal(other.features, run.features)
    # the risk series is the risk of each step
    np.testing.assert_allclose(
        run.risk_series[run.target_step], float(run.risk(jnp.asarray(run.target))), rtol=1e-5
    )


@pytest.mark.parametrize("name", list(SIMS))
def test_risk_is_smooth_and_mean_field(runs, name):
    run = runs[name]
    z = np.asarray(run.target[:6], np.float64)
    with jax.enable_x64(True):
        zt = jnp.asarray(z.T)
        g, h = run.risk.mean_field
        np.testing.assert_allclose(
            float(h(jnp.mean(g(zt), axis=1))), float(run.risk.fm(zt)), rtol=1e-12
        )
        # C²: autodiff matches finite differences to second order
        check_grads(jax.jit(run.risk.fm), (zt,), order=2, modes=["rev"], atol=1e-4, rtol=1e-4)


def test_opinion_graph_is_barabasi_albert():
    a = sc.barabasi_albert(20, 2, seed=0)
    np.testing.assert_array_equal(a, a.T)
    assert np.all(np.diag(a) == 0)
    assert a.sum() / 2 == 3 + 2 * (20 - 3)  # clique on m+1 nodes, then m edges per node
    np.testing.assert_array_equal(a, sc.barabasi_albert(20, 2, seed=0))
    with pytest.raises(ValueError, match="m=20 must be < n=20"):
        sc.barabasi_albert(20, 20)


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="simulate_economy: n_agents must be an integer >= 2"):
        sc.simulate_economy(n_agents=1)
    with pytest.raises(ValueError, match="simulate_midscale: n_steps"):
        sc.simulate_midscale(n_agents=100, n_steps=2)


# ----------------------------------------------------------------- policies
def test_external_policy_reproduces_rule_and_checks_shape(runs):
    def rule_on_host(obs, step):  # the OpinionRule, written as a host function
        b, activity = obs[:, 0], obs[:, 1]
        soft = np.sqrt(b * b + 0.05**2) - 0.05
        return np.stack([activity / (1 + np.exp(-6.0 * (soft - 0.3))), b], axis=1)

    ref = runs["opinion"]
    ext = sc.simulate_opinion(
        n_steps=12, seed=0, policy=sc.ExternalPolicy(rule_on_host, n_actions=2)
    )
    np.testing.assert_allclose(ext.features, ref.features, rtol=1e-5, atol=1e-6)
    bad = sc.ExternalPolicy(lambda obs, step: np.zeros((3, 2)), n_actions=2, name="llm")
    with pytest.raises(Exception, match="ExternalPolicy 'llm': fn returned actions of shape"):
        sc.simulate_opinion(n_steps=5, policy=bad)


# ----------------------------------------------------------------- attribution
@pytest.mark.parametrize("name", list(SIMS))
@pytest.mark.parametrize("window", ["target", "all"])
def test_attribution_is_efficient(runs, name, window):
    run = runs[name]
    att = sc.attribute_run(run, window=window)
    t, n, _ = run.panel.shape
    assert att.phi.shape == ((1, n) if window == "target" else (t, n))
    assert float(att.efficiency_error.max()) < 2e-3
    if window == "all":
        np.testing.assert_allclose(
            np.asarray(att.phi[run.target_step]),
            np.asarray(sc.attribute_run(run).phi[0]),
            rtol=1e-4,
            atol=1e-7,
        )


def test_attribute_run_rejects_bad_arguments(runs):
    with pytest.raises(ValueError, match="window must be 'target' or 'all'"):
        sc.attribute_run(runs["opinion"], window="steps")
    with pytest.raises(ValueError, match="baseline must be one of"):
        sc.attribute_run(runs["opinion"], baseline="median")


def test_reporting_helpers_reject_bad_arguments(runs):
    run = runs["opinion"]
    z, b = run.target, run.target_baseline
    n = z.shape[0]
    repeated = np.arange(n)
    repeated[1] = 0  # agent 0 twice, agent 1 never: not a coalition path
    with pytest.raises(ValueError, match=r"perms\[1\] is not a permutation"):
        sc.permutation_marginals(run.risk, z, b, np.stack([np.arange(n), repeated]))
    with pytest.raises(ValueError, match=r"perms must have shape \(P, N=20\)"):
        sc.permutation_marginals(run.risk, z, b, np.arange(n))
    with pytest.raises(ValueError, match="seeds must name at least one"):
        sc.scenario_tables("opinion", n_agents=8, n_steps=4, seeds=(), tables=["baseline"])
    with pytest.raises(ValueError, match="repeats and probe_permutations must be >= 1"):
        sc.shapley_cost_estimate(run, repeats=0)
    with pytest.raises(ValueError, match=r"risk_series must have shape \(T,\)"):
        sc.target_step([])


# ----------------------------------------------------------------- coalition references
def test_permutation_marginals_efficient_and_routes_agree(runs):
    run = runs["economy"]
    z, b = run.target, run.target_baseline
    perms = np.stack([np.random.default_rng(i).permutation(z.shape[0]) for i in range(3)])
    mf = _shapley.permutation_marginals(run.risk, z, b, perms)
    generic = _shapley.permutation_marginals(
        jaxattr.values.as_value(lambda x: run.risk(x)), z, b, perms
    )
    np.testing.assert_allclose(mf, generic, rtol=1e-9, atol=1e-12)
    with jax.enable_x64(True):
        delta = float(run.risk(jnp.asarray(z, jnp.float64)) - run.risk(jnp.asarray(b, jnp.float64)))
    np.testing.assert_allclose(mf.sum(axis=1), delta, rtol=1e-10)


def test_scenario_risk_through_jaxattr_shapley():
    """A scenario's mean-field risk in jaxattr.shapley (float64) against the float64
    brute-force subset definition; sampled within 5 SE of exact; LOO routes agree."""
    from shapley_references import brute_force

    from jaxattr import shapley

    run = sc.simulate_opinion(n_agents=8, n_steps=10, seed=4)
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)  # global: the estimators read the flag
    try:
        z = np.asarray(run.target, np.float64)
        b = np.asarray(run.target_baseline, np.float64)
        exact = np.asarray(shapley.exact_shapley(run.risk, z, b))
        np.testing.assert_allclose(
            exact, brute_force(run.risk, z, b, "shapley"), rtol=1e-9, atol=1e-12
        )
        delta = float(run.risk(jnp.asarray(z)) - run.risk(jnp.asarray(b)))
        np.testing.assert_allclose(exact.sum(), delta, rtol=1e-10)  # efficiency
        res = shapley.sampled_shapley(
            run.risk, z, b, key=jax.random.key(0), n_permutations=3000, return_result=True
        )
        assert np.all(np.abs(np.asarray(res.phi) - exact) <= 5 * np.asarray(res.stderr) + 1e-12)
        np.testing.assert_allclose(
            np.asarray(shapley.leave_one_out(run.risk, z, b)),
            np.asarray(shapley.leave_one_out(run.risk, z, b, route="generic")),
            rtol=1e-9,
        )
    finally:
        jax.config.update("jax_enable_x64", prev)


# ----------------------------------------------------------------- metrics
def test_rank_metrics_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.normal(size=40)
    b = a + rng.normal(size=40)
    b[:5] = b[5]  # ties
    assert sc.kendall_tau(a, b) == pytest.approx(stats.kendalltau(a, b).statistic)
    assert sc.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    np.testing.assert_allclose(sc.average_ranks(b), stats.rankdata(b))
    assert sc.top_k_overlap(a, a, 10) == 10
    assert sc.top_k_jaccard(a, -a, 10) == 0.0
    with pytest.raises(ValueError, match="same length"):
        sc.kendall_tau(a, b[:-1])


def test_deletion_curve_linear_reference():
    rng = np.random.default_rng(1)
    z = rng.random((30, 3))
    s = z.sum(axis=1)
    scores = rng.random(30)
    ks = np.arange(0, 31)
    curve = sc.deletion_curve(jaxattr.values.linear(), z, np.zeros_like(z), scores, ks)
    order = np.argsort(-scores, kind="stable")
    expected = np.concatenate([[0.0], np.cumsum(s[order])]) / s.sum()
    np.testing.assert_allclose(curve, expected, rtol=1e-10, atol=1e-12)
    generic = sc.deletion_curve(
        lambda x: jnp.mean(jnp.sum(x, axis=1)), z, np.zeros_like(z), scores, ks
    )
    np.testing.assert_allclose(generic, expected, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"ks must be non-empty integers in \[0, N=30\]"):
        sc.deletion_curve(jaxattr.values.linear(), z, np.zeros_like(z), scores, [31])
    with pytest.raises(ValueError, match="nothing to drop"):
        sc.deletion_curve(jaxattr.values.linear(), z, z, scores, [1])


# ----------------------------------------------------------------- acceptance
@pytest.mark.parametrize("name,seed", [("economy", 0), ("opinion", 0)])
def test_faithfulness_against_sampled_shapley(name, seed):
    run = (
        sc.simulate_economy(n_agents=60, n_steps=30, seed=seed)
        if name == "economy"
        else sc.simulate_opinion(seed=seed)
    )
    fa = sc.faithfulness(run, key=jax.random.key(seed), n_permutations=800, n_random=10)
    rows = {r["method"]: r for r in fa["rows"]}
    assert fa["shapley_se_rel"] < 0.1  # the reference's own noise is small
    assert rows["ours"]["kendall_vs_shapley"] >= 0.8
    assert rows["ours"]["top10_vs_shapley"] >= 8
    assert abs(rows["ours"]["auc_rel_diff_vs_shapley"]) <= 0.10
    assert (
        rows["ours"]["deletion_auc"]
        > rows["random"]["deletion_auc"] + 2 * rows["random"]["deletion_auc_std"]
    )


def test_k_convergence_slope_and_engine_agreement(runs):
    run = runs["economy"]
    kc = sc.k_convergence(run, steps=(5, 10, 20, 40, 80), rules=("midpoint",), reference_steps=200)
    assert -2.2 <= kc["slope"]["midpoint"] <= -1.8
    phi30 = sc.quadrature_sweep(run.risk, run.target, run.target_baseline, [("midpoint", 30)])
    engine = np.asarray(sc.attribute_run(run, steps=30).phi[0])
    np.testing.assert_allclose(engine, phi30[0], rtol=2e-3, atol=2e-4 * np.abs(engine).max())


def _top(phi, k=10):
    return set(np.argsort(-phi, kind="stable")[:k].tolist())


def test_robustness_sweeps_match_direct_computation(runs):
    """Each sweep reports what its name says: the statistics of attributions computed here
    directly (the engine per baseline / variant, coalition paths by brute force) with
    SciPy's Kendall tau-b and Spearman rho."""
    stats = pytest.importorskip("scipy.stats")
    import itertools

    run = runs["opinion"]
    br = sc.baseline_robustness(run, k=10, steps=30)
    phis = {
        b: np.asarray(sc.attribute_run(run, baseline=b, steps=30).phi[0], np.float64)
        for b in ("zero", "mean", "pre-event")
    }
    pairs = list(itertools.combinations(phis, 2))
    assert [r["pair"] for r in br["rows"]] == [f"{a} vs {c}" for a, c in pairs]
    for row, (a, c) in zip(br["rows"], pairs, strict=True):
        assert row["kendall"] == pytest.approx(
            stats.kendalltau(phis[a], phis[c]).statistic, abs=1e-9
        )
        assert row["spearman"] == pytest.approx(
            stats.spearmanr(phis[a], phis[c]).statistic, abs=1e-9
        )
        ta, tc = _top(phis[a]), _top(phis[c])
        assert row["jaccard_top10"] == pytest.approx(len(ta & tc) / len(ta | tc))
    assert min(r["kendall"] for r in br["rows"]) < 0.999  # the baselines do disagree

    # path choice: one coordinate path per permutation, marginals by brute force
    key = jax.random.key(0)
    pc = sc.path_choice(run, key=key, n_paths=2, k=10, steps=30)
    z, b = np.asarray(run.target), np.asarray(run.target_baseline)
    n = z.shape[0]
    perms = np.asarray(jax.vmap(lambda kk: jax.random.permutation(kk, n))(jax.random.split(key, 2)))
    risk = jax.jit(lambda m: run.risk(jnp.where(m[:, None], z, b)))
    ours = np.asarray(sc.attribute_run(run, steps=30).phi[0], np.float64)
    taus, tops = [], []
    for perm in perms:
        mask = np.zeros(n, bool)
        prev, marg = float(risk(mask)), np.zeros(n)
        for i in perm:
            mask[i] = True
            cur = float(risk(mask))
            marg[i], prev = cur - prev, cur
        np.testing.assert_allclose(
            marg.sum(),
            float(risk(np.ones(n, bool))) - float(risk(np.zeros(n, bool))),
            rtol=1e-5,
            atol=1e-7,
        )
        taus.append(stats.kendalltau(ours, marg).statistic)
        tops.append(len(_top(ours) & _top(marg)))
    # float32 brute-force marginals vs the module's own route: ranks agree up to near-ties
    assert pc["kendall_mean"] == pytest.approx(np.mean(taus), abs=2e-3)
    assert pc["kendall_min"] == pytest.approx(np.min(taus), abs=2e-3)
    assert pc["top10_overlap_mean"] == pytest.approx(np.mean(tops), abs=0.5)

    mid = runs["midscale"]
    vs = sc.value_sensitivity(mid, k=10, steps=30)
    vphis = {
        name: np.asarray(sc.attribute_run(mid, value=v, steps=30).phi[0], np.float64)
        for name, v in mid.variants.items()
    }
    vpairs = list(itertools.combinations(vphis, 2))
    assert [r["pair"] for r in vs["rows"]] == [f"{a} vs {c}" for a, c in vpairs]
    for row, (a, c) in zip(vs["rows"], vpairs, strict=True):
        assert row["kendall"] == pytest.approx(
            stats.kendalltau(vphis[a], vphis[c]).statistic, abs=1e-9
        )
        assert row["top10_overlap"] == len(_top(vphis[a]) & _top(vphis[c]))
    with pytest.raises(ValueError, match="defines no risk variants"):
        sc.value_sensitivity(runs["economy"])


def test_cli_registers_and_runs(capsys):
    from jaxattr._cli import main

    assert main(["scenarios", "run", "opinion", "--steps", "10", "--tables", "value"]) == 0
    out = capsys.readouterr().out
    assert "### opinion: value" in out and "| weighted_sum vs log_aggregate |" in out
    assert main(["scenarios", "list"]) == 0


# ----------------------------------------------------------------- notebooks
@pytest.mark.slow
@pytest.mark.parametrize("name", ["scenario_economy", "scenario_opinion", "scenario_midscale"])
def test_notebook_executes(name):
    import pathlib

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = pathlib.Path(__file__).resolve().parents[1] / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
