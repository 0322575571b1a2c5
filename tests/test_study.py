"""The cross-scale study: tiers, protocols, subset attribution, Theorem 1, runner, tables.

Every table cell is recomputed here independently (one ``jaxattr.attribute`` call per subset,
plain loops for shares) on a small synthetic world and compared with the runner's tables.
"""

import math

import numpy as np
import pytest

import jaxattr
from jaxattr import study
from jaxattr.data import synthetic_world

VALUES = ("linear", "heat", "variance", "gini")


@pytest.fixture(scope="module")
def world():
    return synthetic_world(n_agents=2_000, topics=["sports", "tech"], seed=3)


@pytest.fixture(scope="module")
def cfg():
    return study.StudyConfig(sizes=(20, 200, "full"), draws=3, seed=7)


@pytest.fixture(scope="module")
def result(world, cfg, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    res = study.run_study(world, cfg, cache_dir=cache)
    return res, cache


# ------------------------------------------------------------------------------ tiers


def test_follower_tiers_partition_by_rank():
    f = np.array([5, 100, 3, 100, 7, 1, 0, 9, 2, 4], dtype=float)
    t = study.follower_tiers(f, (0.2, 0.3, 0.5))
    assert t.counts.tolist() == [2, 3, 5]
    # the two 100s are the top tier; ties broken by index
    assert np.flatnonzero(t.labels == 0).tolist() == [1, 3]
    assert sorted(np.flatnonzero(t.labels == 1).tolist()) == [0, 4, 7]
    np.testing.assert_allclose(t.population_fractions, [0.2, 0.3, 0.5])


@pytest.mark.parametrize("fractions,match", [((0.5, 0.4), "sum to 1"), ((1.2, -0.2), "positive")])
def test_follower_tiers_rejects_bad_fractions(fractions, match):
    with pytest.raises(ValueError, match=match):
        study.follower_tiers(np.arange(10.0), fractions, names=("a", "b"))


def test_percentile_bins_equal_size():
    b = study.percentile_bins(np.arange(1000.0), 100)
    assert np.bincount(b).tolist() == [10] * 100
    assert b[999] == 0 and b[0] == 99  # most followed in bin 0


def test_tier_shares_matches_loops_and_nan_on_zero_total(rng):
    phi = rng.normal(size=(3, 4, 6)) + 1
    labels = rng.integers(0, 3, size=(3, 6))
    day, win = study.tier_shares(phi, labels, 3)
    for j in range(3):
        for g in range(3):
            for t in range(4):
                assert day[j, t, g] == pytest.approx(
                    phi[j, t, labels[j] == g].sum() / phi[j, t].sum()
                )
            assert win[j, g] == pytest.approx(phi[j][:, labels[j] == g].sum() / phi[j].sum())
    day, win = study.tier_shares(np.zeros((2, 3)), np.array([0, 1, 1]), 2)
    assert np.isnan(day).all() and np.isnan(win).all()


# ------------------------------------------------------------------------------ sampling


def test_protocol_pools_definitions(rng):
    n = 1000
    f = rng.pareto(1.5, n) * 10
    e = np.where(rng.random(n) < 0.3, rng.poisson(3, n) + 1, 0).astype(float)
    pools = study.protocol_pools(f, e, pool_fraction=0.05)
    active = int((e > 0).sum())
    assert pools["BIAS_visibility"].size == 50
    assert pools["BIAS_topic_x_follow"].size == active
    assert pools["BIAS_topic_top"].size == active
    assert pools["RAND"].size == n
    z = lambda x: (x - x.mean()) / x.std()
    vis = z(np.log1p(f)) + z(np.log1p(e))
    assert set(pools["BIAS_visibility"].tolist()) == set(
        np.argsort(-vis, kind="stable")[:50].tolist()
    )
    assert set(pools["BIAS_topic_top"].tolist()) == set(np.flatnonzero(e > 0).tolist())
    with pytest.raises(ValueError, match="pool_fraction"):
        study.protocol_pools(f, e, pool_fraction=0)
    with pytest.raises(ValueError, match="engagement must be >= 0"):
        study.protocol_pools(f, -e - 1)
    # sized to an active count: the two milder pools are the tops of two orderings
    small = study.protocol_pools(f, e, active_count=40)
    assert small["BIAS_topic_top"].size == small["BIAS_topic_x_follow"].size == 40
    assert set(small["BIAS_topic_top"].tolist()) == set(np.argsort(-e, kind="stable")[:40].tolist())
    assert set(small["BIAS_topic_x_follow"].tolist()) != set(small["BIAS_topic_top"].tolist())


def test_draw_subsets_pool_complement_and_full():
    pool = np.array([3, 7, 11, 19])
    s = study.draw_subsets(pool, 50, 3, draws=5, seed=1, key=("x",))
    assert s.shape == (5, 3) and np.isin(s, pool).all()
    assert all(len(set(r)) == 3 for r in s.tolist())
    big = study.draw_subsets(pool, 50, 10, draws=4, seed=1, key=("x",))
    assert all(np.isin(pool, r).all() for r in big) and all(len(set(r)) == 10 for r in big)
    assert not all(np.array_equal(big[0], r) for r in big[1:])
    full = study.draw_subsets(pool, 50, 50, draws=10)
    assert full.shape == (1, 50) and full[0].tolist() == list(range(50))
    # fixed seeds: the same call gives the same subsets; another key another one
    np.testing.assert_array_equal(
        big, study.draw_subsets(pool, 50, 10, draws=4, seed=1, key=("x",))
    )
    assert not np.array_equal(big, study.draw_subsets(pool, 50, 10, draws=4, seed=1, key=("y",)))
    with pytest.raises(ValueError, match=r"n must be in \[1, N=50\]"):
        study.draw_subsets(pool, 50, 51)


# ------------------------------------------------------------------------------ subsets


def test_subset_attribution_equals_one_call_per_subset(world):
    panel = world.panels["sports"]
    idx = study.draw_subsets(np.arange(panel.N), panel.N, 30, draws=3, seed=0)
    for v in VALUES:
        phi, delta, err = study.subset_attribution(panel, idx, v)
        for j in range(3):
            ref = jaxattr.attribute(panel.features[:, idx[j], :], v)
            np.testing.assert_allclose(phi[j], np.asarray(ref.phi), rtol=1e-5, atol=1e-9)
            np.testing.assert_allclose(delta[j], np.asarray(ref.delta), rtol=1e-6)
        assert err.max() < 1e-4
    with pytest.raises(ValueError, match="baseline must be 'zero', 'mean', 'first'"):
        study.subset_attribution(panel, idx, "heat", baseline="last")
    with pytest.raises(ValueError, match="agent indices must lie in"):
        study.subset_attribution(panel, np.array([[0, panel.N]]), "heat")


# ------------------------------------------------------------------------------ Theorem 1


def test_rescaling_residual_linear_is_zero_nonlinear_not():
    c, rho = study.rescaling_residual([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    assert c == pytest.approx(1.0) and rho == pytest.approx(0.0, abs=1e-15)
    c, rho = study.rescaling_residual([1.0, 2.0], [2.0, 1.0])
    a, b = np.array([1, 2]) / 3, np.array([2, 1]) / 3
    cc = a @ b / (b @ b)
    assert c == pytest.approx(cc)
    assert rho == pytest.approx(np.linalg.norm(a - cc * b) / np.linalg.norm(a))
    assert all(math.isnan(x) for x in study.rescaling_residual([1.0, -1.0], [1.0, 2.0]))


def test_theorem1_witness():
    lin = study.theorem1_witness("linear")
    assert lin["rho"] < 1e-7
    var = study.theorem1_witness("variance")
    np.testing.assert_allclose(var["shares_subset"], [-1.0, 2.0], rtol=1e-5)
    np.testing.assert_allclose(var["shares_full_on_subset"], [-1 / 9, 10 / 9], rtol=1e-5)
    assert var["rho"] > 0.3
    assert study.theorem1_witness("gini")["rho"] > 0.1
    z = [[1.0, 2.0, 1.0], [2.0, 1.0, 3.0], [4.0, 1.0, 1.0]]
    assert study.theorem1_witness("heat", z=z)["rho"] > 1e-3
    with pytest.raises(ValueError, match="proper non-empty subset"):
        study.theorem1_witness("heat", subset=(0, 1, 2))


def _brute_average_ranks(x):
    """Average ranks from their definition: the rank below plus the middle of the ties."""
    x = np.asarray(x)
    return (x[None, :] < x[:, None]).sum(1) + ((x[None, :] == x[:, None]).sum(1) + 1) / 2


def _brute_tau_b(x, y):
    """Kendall's tau-b over all pairs: (C - D) / sqrt((n0 - n1)(n0 - n2))."""
    sx = np.sign(np.subtract.outer(x, x))
    sy = np.sign(np.subtract.outer(y, y))
    return np.sum(sx * sy) / np.sqrt(np.count_nonzero(sx) * np.count_nonzero(sy))


def test_rank_metrics_match_their_definitions(rng):
    """The statistics (SciPy's) against an all-pairs count and a Pearson of brute-force
    average ranks, with ties in both inputs."""
    from jaxattr import scenarios

    x, y = rng.normal(size=200), rng.normal(size=200)
    y[:50] = x[:50]
    x[10:20] = 0.5  # ties in x
    y[100:130] = np.round(y[100:130])  # ties in y
    ra, rb = _brute_average_ranks(x), _brute_average_ranks(y)
    np.testing.assert_array_equal(scenarios.average_ranks(x), ra)
    assert study.spearman(x, y) == pytest.approx(np.corrcoef(ra, rb)[0, 1], rel=1e-12)
    assert study.kendall_tau(x, y) == pytest.approx(_brute_tau_b(x, y), rel=1e-12)
    assert study.kendall_tau(x, -x) == pytest.approx(-1.0)
    assert study.spearman(x, 3 * x + 1) == pytest.approx(1.0)
    # small integer scores: mostly ties
    a, b = rng.integers(0, 4, 60).astype(float), rng.integers(0, 3, 60).astype(float)
    assert study.kendall_tau(a, b) == pytest.approx(_brute_tau_b(a, b), rel=1e-12)
    assert study.spearman(a, b) == pytest.approx(
        np.corrcoef(_brute_average_ranks(a), _brute_average_ranks(b))[0, 1], rel=1e-12
    )
    assert study.top_k_jaccard(np.arange(20.0), np.arange(20.0)[::-1], k=5) == 0.0
    assert study.top_k_jaccard(np.arange(20.0), np.arange(20.0), k=5) == 1.0


def test_rank_metrics_one_implementation_one_nan_policy():
    from jaxattr import scenarios

    assert study.kendall_tau is scenarios.kendall_tau and study.spearman is scenarios.spearman
    assert study.top_k_jaccard is scenarios.top_k_jaccard
    assert np.isnan(study.kendall_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # undefined: NaN
    assert np.isnan(study.spearman([1.0, 2.0], [5.0, 5.0]))
    assert np.isnan(study.spearman([1.0], [2.0])) and np.isnan(study.kendall_tau([1.0], [2.0]))
    with pytest.raises(ValueError, match="b contains NaN or inf at index 1"):
        study.spearman([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        study.top_k_jaccard([1.0, 2.0], [2.0, 1.0], k=0)


# ------------------------------------------------------------------------------ runner


def _ref_tiers(followers, fractions=(0.01, 0.09, 0.90)):
    n = followers.size
    order = sorted(range(n), key=lambda i: (-followers[i], i))
    labels = np.empty(n, int)
    edges = np.round(np.cumsum(fractions) * n).astype(int)
    for r, i in enumerate(order):
        labels[i] = int(np.sum(r >= edges[:-1]))
    return labels


def _ref_pools(panel, p=0.01):
    f = panel.agents["followers"].astype(float)
    fm = panel.feature_major.astype(np.float64)
    e = np.expm1(fm[:, 1]).sum(0) + np.expm1(fm[:, 2]).sum(0)
    z = lambda x: (x - x.mean()) / x.std()
    vis = z(np.log1p(f)) + z(np.log1p(e))
    top = lambda s, k: np.argsort(-s, kind="stable")[:k]
    # the topic's active count: agents active on a typical day (mean over days, rounded)
    act = max(1, round(float(((fm[:, 1] > 0) | (fm[:, 2] > 0)).sum(axis=1).mean())))
    return {
        "BIAS_visibility": top(vis, math.ceil(p * f.size)),
        "BIAS_topic_x_follow": top(f * e, act),
        "BIAS_topic_top": top(e, act),
        "RAND": np.arange(f.size),
    }


def _shares(phi_t_n, labels, g):
    """Per-day and window tier shares by explicit loops."""
    t = phi_t_n.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return _shares_loops(phi_t_n, labels, g, t)


def _shares_loops(phi_t_n, labels, g, t):
    day = np.array(
        [[phi_t_n[s, labels == k].sum() / phi_t_n[s].sum() for k in range(g)] for s in range(t)]
    )
    win = np.array([phi_t_n[:, labels == k].sum() / phi_t_n.sum() for k in range(g)])
    return day, win


def _mstd(x):
    """nan-aware mean and sample std over axis 0 (draws whose shares are undefined skipped)."""
    x = np.asarray(x, float)
    out_m, out_s = [], []
    for col in x.reshape(x.shape[0], -1).T:
        col = col[~np.isnan(col)]
        out_m.append(col.mean() if col.size else np.nan)
        out_s.append(col.std(ddof=1) if col.size > 1 else np.nan)
    shape = x.shape[1:]
    m, s = np.array(out_m).reshape(shape), np.array(out_s).reshape(shape)
    return (m, s) if shape else (float(m), float(s))


def _reference(world, cfg):
    """Every cell recomputed with one attribute() call per subset and plain loops."""
    from scipy import stats

    cells, full = {}, {}
    for topic, panel in world.panels.items():
        labels = _ref_tiers(panel.agents["followers"])
        pools = _ref_pools(panel)
        feats = panel.features
        for v in VALUES:
            att = jaxattr.attribute(feats, v)
            phi_full = np.asarray(att.phi, np.float64)
            day, win = _shares(phi_full, labels, 3)
            full[(topic, v)] = {"day": day, "win": win, "delta": np.asarray(att.delta)}
            w_full = phi_full.sum(0)
            for proto in cfg.protocols:
                for n in (20, 200):
                    subs = study.draw_subsets(
                        pools[proto], panel.N, n, draws=cfg.draws, seed=cfg.seed, key=(topic, proto)
                    )
                    rec = {k: [] for k in ("day", "win", "rho", "c", "sp", "kt", "jac", "ntop")}
                    for idx in subs:
                        phi = np.asarray(jaxattr.attribute(feats[:, idx, :], v).phi, np.float64)
                        d_, w_ = _shares(phi, labels[idx], 3)
                        a, b = phi.sum(0), w_full[idx]
                        rec["day"].append(d_)
                        rec["win"].append(w_)
                        rec["ntop"].append(int((labels[idx] == 0).sum()))
                        if a.sum() == 0:  # nothing to share: every metric undefined
                            for k in ("rho", "c", "sp", "kt", "jac"):
                                rec[k].append(np.nan)
                            continue
                        a, b = a / a.sum(), b / b.sum()
                        c = float(a @ b / (b @ b))
                        rec["c"].append(c)
                        rec["rho"].append(np.linalg.norm(a - c * b) / np.linalg.norm(a))
                        rec["sp"].append(stats.spearmanr(a, b).statistic)
                        rec["kt"].append(stats.kendalltau(a, b).statistic)
                        ta = set(np.argsort(-a, kind="stable")[: cfg.top_k].tolist())
                        tb = set(np.argsort(-b, kind="stable")[: cfg.top_k].tolist())
                        rec["jac"].append(len(ta & tb) / len(ta | tb))
                    cells[(topic, v, proto, str(n))] = {k: np.array(x) for k, x in rec.items()}
                cells[(topic, v, proto, "full")] = {
                    "day": day[None],
                    "win": win[None],
                    "rho": np.zeros(1),
                    "ntop": np.array([(labels == 0).sum()]),
                }
    return cells, full


def _close(a, b, what):
    if isinstance(b, str) or isinstance(a, str):
        assert str(a) == str(b), what
        return
    if b is None or (isinstance(b, float) and math.isnan(b)):
        assert a is None or (isinstance(a, float) and math.isnan(a)), what
        return
    assert a == pytest.approx(b, rel=2e-5, abs=2e-7), what


def test_every_table_cell_recomputed_independently(world, cfg, result):
    res, _ = result
    cells, full = _reference(world, cfg)
    tiers = ("top", "mid", "tail")
    checked = 0

    def check(table, row, expected: dict):
        nonlocal checked
        for col, val in expected.items():
            _close(row[col], val, f"{table.name} {col} row {row}")
            checked += 1

    tabs = {t.name: t for t in study.all_tables(res)}
    for row in tabs["three_tier"].records():
        key = (row["topic"], row["value"])
        if row["setting"] == "full":
            m, s = full[key]["win"], [float("nan")] * 3
        else:
            m, s = _mstd(cells[key + (row["protocol"], "20")]["win"])
        check(
            tabs["three_tier"],
            row,
            {f"{g}_mean": m[k] for k, g in enumerate(tiers)}
            | {f"{g}_std": s[k] for k, g in enumerate(tiers)},
        )
    for row in tabs["rho"].records():
        c = cells[(row["topic"], row["value"], "BIAS_visibility", "20")]
        check(
            tabs["rho"],
            row,
            {
                "rho_mean": _mstd(c["rho"])[0],
                "rho_std": _mstd(c["rho"])[1],
                "rho_max": np.nanmax(c["rho"]),
                "c_star": _mstd(c["c"])[0],
                "spearman": _mstd(c["sp"])[0],
                "kendall": _mstd(c["kt"])[0],
                "jaccard_top10": _mstd(c["jac"])[0],
            },
        )
    for row in tabs["peak_day"].records():
        f = full[(row["topic"], row["value"])]
        t = int(np.argmax(f["delta"]))
        b = _mstd(cells[(row["topic"], row["value"], "BIAS_visibility", "20")]["day"][:, t])[0]
        check(
            tabs["peak_day"],
            row,
            {"peak_day": t, "delta_peak": float(f["delta"][t])}
            | {f"full_{g}": f["day"][t, k] for k, g in enumerate(tiers)}
            | {f"biased_{g}": b[k] for k, g in enumerate(tiers)},
        )
    for row in tabs["stability"].records():
        c = cells[(row["topic"], row["value"], "BIAS_visibility", row["n_label"])]
        f = full[(row["topic"], row["value"])]["day"][:, 0]
        per_day = _mstd(c["day"][:, :, 0])[0]
        m, s = _mstd(per_day)
        check(
            tabs["stability"],
            row,
            {
                "top_day_mean": m,
                "top_day_std": s,
                "full_top_day_mean": f.mean(),
                "full_top_day_std": f.std(ddof=1),
                "gap_pp": 100 * (m - f.mean()),
                "days_above": int((per_day > f).sum()),
            },
        )
    for row in tabs["dose_response"].records():
        c = cells[(row["topic"], row["value"], row["protocol"], "20")]
        fw = full[(row["topic"], row["value"])]["win"][0]
        m, s = _mstd(c["win"][:, 0])
        check(
            tabs["dose_response"],
            row,
            {
                "top_agents": c["ntop"].mean(),
                "top_share_mean": m,
                "top_share_std": s,
                "full_top_share": fw,
                "delta_pp": 100 * (m - fw),
            },
        )
    for row in tabs["shares_vs_n"].records():
        c = cells[(row["topic"], row["value"], row["protocol"], row["n_label"])]
        m, s = _mstd(c["win"]) if len(c["win"]) > 1 else (c["win"][0], [float("nan")] * 3)
        check(
            tabs["shares_vs_n"],
            row,
            {f"{g}_mean": m[k] for k, g in enumerate(tiers)}
            | {f"{g}_std": s[k] for k, g in enumerate(tiers)}
            | {"rho_mean": _mstd(c["rho"])[0]},
        )
    n_rows = {k: len(t.rows) for k, t in tabs.items()}
    assert n_rows == {
        "three_tier": 2 * 4 * 3,
        "rho": 8,
        "peak_day": 8,
        "stability": 8 * 3,
        "dose_response": 8 * 4,
        "shares_vs_n": 8 * 4 * 3,
    }
    assert checked > 1000


def test_study_acceptance_on_small_world(result):
    """rho dichotomy (Theorem 1) and the biased top-tier inflation, at the smallest n."""
    from jaxattr.study._demo import acceptance_checks

    res, _ = result
    checks = acceptance_checks(res)
    for c in checks:
        if c["check"] in ("rho_linear", "rho_nonlinear", "biased_top"):
            assert c["ok"], c
    assert {c["check"] for c in checks} >= {
        "rho_linear",
        "rho_nonlinear",
        "biased_top",
        "rand_vs_full",
        "rand_vs_fraction",
    }
    # required: every check at the acceptance n, plus RAND vs the full panel at that n only
    assert {(c["check"], c["n"]) for c in checks if c["required"]} == {
        (k, "20") for k in ("rho_linear", "rho_nonlinear", "biased_top", "rand_vs_full")
    }


def test_runner_resumes_from_cache(world, cfg, result, monkeypatch):
    res, cache = result
    from jaxattr.study import _runner

    def boom(*a, **k):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(_runner, "_subset_cell", boom)
    monkeypatch.setattr(_runner, "_full_summary", boom)
    again = study.run_study(world, cfg, cache_dir=cache)
    assert again.timings["cached"] == len(res.cells) + len(res.full)
    import json

    assert json.dumps(again.cells) == json.dumps(res.cells)  # NaN-safe equality
    # another configuration does not reuse the cells
    other = study.StudyConfig(
        sizes=(20, "full"), draws=2, seed=7, values=("linear",), protocols=("RAND",)
    )
    with pytest.raises(AssertionError, match="recomputed"):
        study.run_study(world, other, cache_dir=cache)


def test_run_study_rejects_bad_input(world):
    with pytest.raises(ValueError, match="unknown protocols"):
        study.StudyConfig(protocols=("BIAS_everything",))
    with pytest.raises(ValueError, match="sizes must be integers"):
        study.StudyConfig(sizes=(0,))
    with pytest.raises(TypeError, match="expected a World"):
        study.run_study(42)


def test_figures_written(result, tmp_path):
    pytest.importorskip("matplotlib")
    from jaxattr.study._figures import save_figures

    res, _ = result
    paths = save_figures(res, tmp_path, dpi=40)
    assert len(paths) == 6
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_import_jaxattr_study_does_not_import_matplotlib():
    import subprocess
    import sys

    code = (
        "import sys, jaxattr, jaxattr.study; "
        "print('matplotlib' in sys.modules, 'pyarrow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow  # notebooks run in `.ci/run` (tests/scripts/execute_notebooks.py --check)
def test_notebook_runs_on_a_small_world(monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    import pathlib

    path = pathlib.Path(__file__).parent.parent / "notebooks" / "study.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("JAXATTR_NB_AGENTS", "5000")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "rho" in text and "BIAS_visibility" in text


# ------------------------------------------------------------------------------ RAND control


# Each RAND check below may fail by chance (with any seeds) with probability < 1e-6:
# - tier counts: a RAND draw of n agents is a uniform subset, so its tier counts are
#   hypergeometric with known mean n K/N and variance; the mean over D draws is held to
#   Bernstein's inequality (a bound, no approximation) at delta = 1e-7 per tier;
# - tier shares: the mean over D draws within 6 standard errors of the population's
#   shares (normal tail 2e-9; skew and the ratio estimator's O(1/n) bias, about half an
#   SE here, keep it far below 1e-6 at D = 1,200).


def _rand_linear(panel, seeds=(0, 1, 2), draws=400, n=100):
    """RAND cells of the linear value over several seeds: per-draw window shares and tier
    counts (D = len(seeds) * draws rows), the population's shares and tier sizes."""
    shares, counts = [], []
    for seed in seeds:
        cfg = study.StudyConfig(
            sizes=(n, "full"), draws=draws, seed=seed, values=("linear",), protocols=("RAND",)
        )
        res = study.run_study({"t": panel}, cfg)
        cell = res.cell("t", "linear", "RAND", str(n))
        shares.append(np.asarray(cell["window_shares"], np.float64))
        counts.append(np.asarray(cell["tier_counts"], np.float64))
    full = np.asarray(res.full[("t", "linear")]["window_shares"], np.float64)
    sizes = np.asarray(res.topics["t"]["tier_counts"], np.float64)
    return np.concatenate(shares), np.concatenate(counts), full, sizes


def _check_rand_counts(counts, sizes, n, delta=1e-7):
    """Mean tier counts of uniform n-subsets within Bernstein's bound of n K / N."""
    d, big_n = len(counts), sizes.sum()
    p = sizes / big_n
    mu = n * p
    var = n * p * (1 - p) * (big_n - n) / (big_n - 1)  # hypergeometric
    reach = np.maximum(mu, np.minimum(sizes, n) - mu)  # |count - mu| <= reach
    log_term = np.log(2 / delta)
    # P(|sum - D mu| >= t) <= 2 exp(-t² / (2 (D var + reach t / 3))): solve for t
    b = 2 * log_term * reach / 3
    t = (b + np.sqrt(b * b + 8 * log_term * d * var)) / 2
    assert np.all(np.abs(counts.mean(axis=0) - mu) <= t / d), (counts.mean(axis=0), mu, t / d)


def test_rand_recovers_population_shares_for_linear(world):
    """RAND is an unbiased control: over 1,200 draws of n = 100 (three seeds) the mean tier
    counts are the head counts' hypergeometric means and the linear mean tier shares sit
    within 6 SE of the whole population's tier shares (false failures < 1e-6, above)."""
    sh, counts, full, sizes = _rand_linear(world.panels["sports"])
    _check_rand_counts(counts, sizes, 100)
    m, se = sh.mean(axis=0), sh.std(axis=0, ddof=1) / np.sqrt(len(sh))
    assert np.all(np.abs(m - full) <= 6 * se), (m, full, se)
    # the features grow with followers, so the population's own shares exceed the head
    # count for the top tier: that, not the sampling, is why head-count fractions differ
    assert full[0] > 1.5 * 0.01


def test_rand_recovers_headcount_fractions_when_features_ignore_followers(rng):
    """Where the features do not depend on the follower rank, the population's linear tier
    shares are the head-count fractions (1% / 9% / 90%) and RAND recovers them."""
    n_agents = 20_000
    z = rng.lognormal(size=(3, n_agents, 3)).astype(np.float32)
    panel = jaxattr.Panel(z, agents={"followers": rng.pareto(1.5, n_agents)})
    sh, counts, full, sizes = _rand_linear(panel)
    frac = sizes / n_agents
    np.testing.assert_allclose(frac, [0.01, 0.09, 0.90])
    _check_rand_counts(counts, sizes, 100)
    m, se = sh.mean(axis=0), sh.std(axis=0, ddof=1) / np.sqrt(len(sh))
    assert np.all(np.abs(m - frac) <= 6 * se), (m, frac, se)
    # the finite population's own shares differ from the head count only by its own noise:
    # a tier of fraction p of N agents, its members' window totals s_i drawn independently
    # of the tier, has a share with standard deviation about sqrt(p (1 - p) / N) · CV(s)
    s_i = z.astype(np.float64).sum(axis=(0, 2))
    sd = np.sqrt(frac * (1 - frac) / n_agents) * s_i.std() / s_i.mean()
    assert np.all(np.abs(full - frac) <= 6 * sd), (full, frac, sd)
