"""The experiments of ``paper/`` (the reproduction, not installed): every new table's cells
recomputed independently and the exact-Shapley truth against brute force.

The independent references are plain NumPy / SciPy loops over the same subsets: one
``jaxattr.attribute`` call per subset with explicit baseline arrays, hand-written top-k
sets, the DESIGN's closed forms written out in NumPy, and the Shapley subset formula.
"""

import itertools
import math

import jax
import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr

import jaxattr
from jaxattr import study
from jaxattr.data import synthetic_world
from paper.experiments import shapley as RS
from paper.experiments import theory as RT
from paper.experiments import world as RW


@pytest.fixture(scope="module")
def panel():
    return synthetic_world(n_agents=1_500, topics=["tech"], seed=5).panels["tech"]


def _window(panel, idx, value, baseline="zero"):
    """Window attribution of subset ``idx`` as its own population, one engine call."""
    z = np.ascontiguousarray(panel.features[:, idx, :])
    return np.asarray(jaxattr.attribute(z, value, baseline=baseline).phi).sum(0, dtype=float)


def _top(x, k):
    return set(np.argsort(-np.asarray(x), kind="stable")[:k].tolist())


# ------------------------------------------------------------------ subset "first" baseline


def test_subset_first_baseline_equals_one_call_per_subset(panel):
    idx = study.draw_subsets(np.arange(panel.N), panel.N, 25, draws=3, seed=1)
    for v in ("heat", "variance"):
        phi, delta, _ = study.subset_attribution(panel, idx, v, baseline="first")
        for j in range(3):
            z = np.ascontiguousarray(panel.features[:, idx[j], :])
            b = np.broadcast_to(z[:1], z.shape)  # each agent's own day 1
            ref = jaxattr.attribute(z, v, baseline=np.ascontiguousarray(b))
            np.testing.assert_allclose(phi[j], np.asarray(ref.phi), rtol=1e-5, atol=1e-8)
            np.testing.assert_allclose(delta[j], np.asarray(ref.delta), rtol=1e-5, atol=1e-6)
        assert np.all(phi[:, 0] == 0)  # day 1 is the baseline itself


# ------------------------------------------------------------------ tables 12, 14, App. N


def test_topic_extras_cells_recomputed(panel):
    vals = ("heat",)
    ex = RW.topic_extras(
        "tech", panel, values=vals, n=20, draws=3, seed=2, topk_sizes=(60,), top_k=5
    )
    fol = study.followers_of(panel)
    names = list(panel.feature_names)
    fm = panel.feature_major.astype(float)
    posts = np.expm1(fm[:7, names.index("activity")]).sum(0)
    replies = np.expm1(fm[:7, names.index("resonance")]).sum(0)
    k = round(0.01 * panel.N)
    groups = {"followers": _top(fol, k), "posts": _top(posts, k), "replies": _top(replies, k)}
    pools = study.protocol_pools(
        fol, study.engagement_of(panel), active_count=study.active_count_of(panel)
    )
    vis = study.draw_subsets(
        pools["BIAS_visibility"], panel.N, 20, draws=3, seed=2, key=("tech", "BIAS_visibility")
    )
    fol_pool = np.argsort(-fol, kind="stable")[: math.ceil(0.01 * panel.N)]
    folsub = study.draw_subsets(
        fol_pool, panel.N, 20, draws=3, seed=2, key=("tech", "BIAS_follower_only")
    )
    top_tier = groups["followers"]
    for v in vals:
        full = np.asarray(jaxattr.attribute(panel, v).phi).sum(0, dtype=float)
        ws = [_window(panel, s, v) for s in vis]
        for rec in (r for r in ex["anchors"] if r["value"] == v):
            g = groups[rec["anchor"]]
            shares = [
                sum(w[i] for i, a in enumerate(s) if a in g) / w.sum()
                for w, s in zip(ws, vis, strict=True)
            ]
            full_share = sum(full[a] for a in g) / full.sum()
            assert rec["biased_share_mean"] == pytest.approx(np.mean(shares), rel=1e-6)
            assert rec["full_share"] == pytest.approx(full_share, rel=1e-6)
            assert rec["gap_pp"] == pytest.approx(
                100 * (np.mean(shares) - full_share), rel=1e-5, abs=1e-6
            )
            assert rec["agents_in_S"] == pytest.approx(np.mean([len(g & set(s)) for s in vis]))
        for rec in (r for r in ex["follower_pool"] if r["value"] == v):
            subs = vis if rec["pool"] == "BIAS_visibility" else folsub
            tops = [
                sum(w[i] for i, a in enumerate(s) if a in top_tier) / w.sum()
                for w, s in ((_window(panel, s, v), s) for s in subs)
            ]
            assert rec["top_share_mean"] == pytest.approx(np.mean(tops), rel=1e-6)
        glob = _top(full, 5)
        for rec in (r for r in ex["topk"] if r["value"] == v):
            subs = study.draw_subsets(
                pools[rec["protocol"]], panel.N, 60, draws=3, seed=2, key=("tech", rec["protocol"])
            )
            within, gl, recall = [], [], []
            for s in subs:
                w = _window(panel, s, v)
                if w.sum() == 0:
                    continue  # shares undefined (nobody active in S): the draw is skipped
                a, b = _top(w, 5), _top(full[s], 5)
                within.append(len(a & b) / len(a | b))
                mine = {int(s[i]) for i in a}
                gl.append(len(mine & glob) / len(mine | glob))
                recall.append(len(glob & set(s.tolist())) / 5)
            assert rec["draws"] == len(within)
            assert rec["jaccard_within_S"] == pytest.approx(np.mean(within))
            assert rec["jaccard_vs_global_topk"] == pytest.approx(np.mean(gl))
            assert rec["global_topk_recall"] == pytest.approx(np.mean(recall))
    ov = ex["anchor_overlap"]
    assert ov["posts"] == pytest.approx(
        len(top_tier & groups["posts"]) / len(top_tier | groups["posts"])
    )


# ------------------------------------------------------------------ Table 10


def test_baseline_table_cells_recomputed(panel):
    rows = RW.baseline_table(
        "tech", panel, values=("heat",), settings=(("RAND", 40),), draws=1, seed=3, ks=(5,)
    )
    subs = study.draw_subsets(
        np.arange(panel.N), panel.N, 40, draws=1, seed=3, key=("tech", "RAND")
    )
    for v in ("heat",):
        for j, s in enumerate(subs):
            z = np.ascontiguousarray(panel.features[:, s, :])
            mean = np.ascontiguousarray(np.broadcast_to(z.mean(axis=1, keepdims=True), z.shape))
            first = np.ascontiguousarray(np.broadcast_to(z[:1], z.shape))
            w = {
                lab: np.asarray(jaxattr.attribute(z, v, baseline=b).phi).sum(0, dtype=float)
                for lab, b in (
                    ("zero", "zero"),
                    ("population mean", mean),
                    ("pre-event (day 1)", first),
                )
            }
            for a, b in itertools.combinations(w, 2):
                rec = next(
                    r
                    for r in rows
                    if r["value"] == v and r["draw"] == j and r["pair"] == f"{a} vs {b}"
                )
                assert rec["kendall"] == pytest.approx(kendalltau(w[a], w[b]).statistic, abs=1e-6)
                assert rec["spearman"] == pytest.approx(spearmanr(w[a], w[b]).statistic, abs=1e-6)
                ta, tb = _top(w[a], 5), _top(w[b], 5)
                assert rec["jaccard_top5"] == pytest.approx(len(ta & tb) / len(ta | tb))


# ------------------------------------------------------------------ tables 5 and 11


def _heat_grad_np(z):
    """d/dz of log(1 + prod_k mean_i z_ik) in NumPy, (N, d)."""
    m = z.mean(axis=0)
    p = np.prod(m)
    others = np.array([np.prod(np.delete(m, k)) for k in range(m.size)])
    return np.broadcast_to(others / (1 + p) / z.shape[0], z.shape)


def _heat_closed_np(z):
    """DESIGN §1: (a m_b m_c + b m_a m_c + c m_a m_b) / N · log(1+P)/(3P)."""
    m = z.mean(axis=0)
    p = np.prod(m)
    others = np.array([np.prod(np.delete(m, k)) for k in range(m.size)])
    ratio = np.log1p(p) / (3 * p) if p > 0 else 1 / 3  # the limit as P -> 0
    return (z * others).sum(1) / z.shape[0] * ratio


def test_k_sweep_error_recomputed_in_numpy(panel):
    ks = RW.k_sweep("tech", panel, n=200, steps=(5, 10), seed=4, time_full=False, repeats=0)
    idx = study.draw_subsets(
        np.arange(panel.N), panel.N, 200, draws=1, seed=4, key=("tech", "k_sweep")
    )[0]
    z = panel.features[:, idx, :].astype(float)
    ref = np.stack([_heat_closed_np(z[t]) for t in range(z.shape[0])])
    for row in ks["rows"]:
        k = row["K"]
        nodes = (np.arange(k) + 0.5) / k
        phi = np.stack(
            [
                (z[t] * np.mean([_heat_grad_np(a * z[t]) for a in nodes], axis=0)).sum(1)
                for t in range(z.shape[0])
            ]
        )
        err = np.abs(phi - ref).sum() / np.abs(ref).sum()
        assert row["rel_error"] == pytest.approx(err, rel=1e-6)
    e = [r["rel_error"] for r in ks["rows"]]
    assert ks["slope"] == pytest.approx(np.log(e[1] / e[0]) / np.log(2))


def test_closed_vs_path_cells_recomputed(panel):
    rows = RW.closed_vs_path("tech", panel, sizes=(30,), seeds=2, values=("heat", "variance"))
    subs = study.draw_subsets(
        np.arange(panel.N), panel.N, 30, draws=2, seed=0, key=("tech", "closed_vs_path")
    )
    for s, idx in enumerate(subs):
        z = panel.features[:, idx, :].astype(float)
        cf = np.stack([_heat_closed_np(z[t]) for t in range(z.shape[0])])
        nodes = (np.arange(30) + 0.5) / 30
        pa = np.stack(
            [
                (z[t] * np.mean([_heat_grad_np(a * z[t]) for a in nodes], axis=0)).sum(1)
                for t in range(z.shape[0])
            ]
        )
        rec = next(r for r in rows if r["value"] == "heat" and r["seed"] == s)
        assert rec["mae"] == pytest.approx(np.mean(np.abs(pa - cf)), rel=1e-6)
        var = next(r for r in rows if r["value"] == "variance" and r["seed"] == s)
        assert var["rel_mae"] <= 1e-12  # the variance gradient is linear along the ray


# ------------------------------------------------------------------ Theorem 1


def test_pairwise_witness_by_hand():
    z = np.array([[1.0], [2.0], [4.0]])
    w = RT.witness(RT.pairwise, z, (1, 2), name="pairwise")
    # phi_i = s_i (S - s_i) / (2n): N: (1*6, 2*5, 4*3)/6; S = {2, 4}: (2*4, 4*2)/4
    np.testing.assert_allclose(w["phi_full"], [1.0, 10 / 6, 2.0], rtol=1e-12)
    np.testing.assert_allclose(w["phi_subset"], [2.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(w["c_i"], [0.5 / (10 / 22), 0.5 / (12 / 22)], rtol=1e-12)
    assert w["hessian_offdiag_max"] == pytest.approx(1 / 3)  # d²f/dz_i dz_j = 1/n
    assert w["c_spread"] == pytest.approx(1.1 - 11 / 12)


# ------------------------------------------------------------------ Tables 6-8, Table 1


def _brute_perm_shapley(f, z, b):
    """Shapley by averaging marginal contributions over all N! orderings."""
    n = z.shape[0]
    phi = np.zeros(n)
    perms = list(itertools.permutations(range(n)))
    for perm in perms:
        x = b.copy()
        prev = f(x)
        for i in perm:
            x[i] = z[i]
            cur = f(x)
            phi[i] += cur - prev
            prev = cur
    return phi / len(perms)


def _np_game(game, d=3):
    """The synthetic games in plain NumPy (parameters in the columns after d)."""

    def f(x):
        s = x[:, :d].sum(1)
        if game == "additive":
            return float(x[:, d] @ s)
        if game == "quadratic":
            return float(s @ (x[:, d:] @ s) / x.shape[0])
        return float(np.logaddexp(0.0, x[:, d] @ s / np.sqrt(x.shape[0])))

    return f


def test_exact_shapley_truth_equals_brute_force():
    n = 8
    with RW.x64():
        for game in RS.FUNCTIONS:
            f, z, b, _ = RS.make_game(game, n, 3, np.random.default_rng([n, 7]))
            enum = np.asarray(jaxattr.shapley.exact_shapley(f, z, b, route="generic"))
            brute = RS.brute_force_shapley(_np_game(game), z, b)
            np.testing.assert_allclose(enum, brute, rtol=1e-11, atol=1e-13)
        # and a built-in value function on the mean-field route
        z = np.random.default_rng(1).random((n, 3))
        enum = np.asarray(jaxattr.shapley.exact_shapley("variance", z))
        brute = RS.brute_force_shapley(lambda x: float(np.var(x.sum(1))), z, np.zeros_like(z))
        np.testing.assert_allclose(enum, brute, rtol=1e-10, atol=1e-13)
    # the subset formula itself against the average over all N! orderings
    f, z, b, _ = RS.make_game("softplus", 5, 3, np.random.default_rng(3))
    np.testing.assert_allclose(
        RS.brute_force_shapley(_np_game("softplus"), z, b),
        _brute_perm_shapley(_np_game("softplus"), z, b),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "games", [("softplus",), pytest.param(("additive", "quadratic"), marks=pytest.mark.slow)]
)
def test_synthetic_suite_cells_recomputed(games):
    rows = RS.synthetic_suite(n=7, seeds=1, samples=40, top_k=4, games=games)
    for r in rows:
        f, z, b, p = RS.make_game(
            r["game"], 7, 3, np.random.default_rng([r["seed"], RS.FUNCTIONS.index(r["game"])])
        )
        s = z[:, :3].sum(1)
        if r["game"] == "additive":
            t_as = p[:, 0] * s
        elif r["game"] == "quadratic":
            t_as = s * (p @ s) / 7
        else:
            t_as = np.asarray(r["truth_as"])  # a 64-node GL integral; checked below
        t_sh = RS.brute_force_shapley(_np_game(r["game"]), z, b)
        np.testing.assert_allclose(r["truth_as"], t_as, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(r["truth_shapley"], t_sh, rtol=1e-10, atol=1e-13)
        phi = np.asarray(r["phi"])
        assert r["mae_vs_as"] == pytest.approx(np.mean(np.abs(phi - t_as)), rel=1e-9, abs=1e-15)
        assert r["mae_vs_shapley"] == pytest.approx(
            np.mean(np.abs(phi - t_sh)), rel=1e-9, abs=1e-15
        )
        cos = phi @ t_sh / (np.linalg.norm(phi) * np.linalg.norm(t_sh))
        assert r["cosine_vs_shapley"] == pytest.approx(cos, rel=1e-9)
        top = np.argsort(-np.abs(t_sh), kind="stable")[:4]
        assert r["kendall_top_vs_shapley"] == pytest.approx(
            kendalltau(phi[top], t_sh[top]).statistic, abs=1e-9
        )
    soft = [r for r in rows if r["game"] == "softplus" and r["method"].startswith("ours")]
    if not soft:
        return
    # the AS truth of softplus: a fine midpoint rule of the analytic softplus gradient
    f, z, b, p = RS.make_game("softplus", 7, 3, np.random.default_rng([0, 2]))
    u = p[:, 0]
    s = z[:, :3].sum(1)
    nodes = (np.arange(4000) + 0.5) / 4000
    grad = np.mean([1 / (1 + np.exp(-(u @ (a * s)) / np.sqrt(7))) for a in nodes])
    np.testing.assert_allclose(soft[0]["truth_as"], s * u / np.sqrt(7) * grad, rtol=1e-7)


@pytest.mark.slow
def test_axiom_table_pattern():
    rows = {r["method"]: r for r in RS.axiom_table(n=6)}
    for m in ("ours (closed form)", "exact Shapley"):
        assert all(rows[m][a] <= 1e-12 for a in ("efficiency", "symmetry", "dummy", "linearity")), (
            rows[m]
        )
    for m in ("exact Banzhaf", "leave-one-out"):
        assert rows[m]["efficiency"] > 1e-3
        assert all(rows[m][a] <= 1e-12 for a in ("symmetry", "dummy", "linearity"))


# ------------------------------------------------------------------ deletion AUC


@pytest.mark.slow
def test_faithfulness_reports_magnitude_and_signed_deletion_auc():
    from jaxattr import scenarios as sc

    run = sc.simulate_economy(n_agents=16, n_steps=10, seed=1)
    fa = sc.faithfulness(run, key=jax.random.key(0), n_permutations=60, n_random=2)
    z, b = run.target, run.target_baseline
    ks = np.asarray(fa["ks"])
    ours = next(r for r in fa["rows"] if r["method"] == "ours")
    phi = np.asarray(sc.attribute_run(run).phi[0], np.float64)
    assert (phi < 0).any()  # the two rankings differ on this run
    # brute force: replace the top-k by |phi| (and by phi) one k at a time
    f = run.risk
    with RW.x64():
        fz, fb = float(f(z.astype(float))), float(f(np.asarray(b, float)))

        def curve(order):
            out = []
            for k in ks:
                x = np.asarray(z, float).copy()
                x[order[:k]] = np.asarray(b, float)[order[:k]]
                out.append((fz - float(f(x))) / (fz - fb))
            return np.mean(out)

        mag = curve(np.argsort(-np.abs(phi), kind="stable"))
        sig = curve(np.argsort(-phi, kind="stable"))
    assert ours["deletion_auc"] == pytest.approx(mag, rel=1e-4, abs=1e-6)
    assert ours["deletion_auc_signed"] == pytest.approx(sig, rel=1e-4, abs=1e-6)
