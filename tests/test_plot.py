"""jaxattr.plot: each plot writes a PNG for a Panel attribution and a plain-array one, and
draws the numbers it says it draws."""

import subprocess
import sys

import numpy as np
import pytest

import jaxattr
from jaxattr import values as V

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

import jaxattr.plot as jplot  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
T, N = 4, 30
IDS = np.array([f"user{i:03d}" for i in range(N)])
DAYS = [f"2026-04-{d:02d}" for d in range(8, 8 + T)]


@pytest.fixture(scope="module")
def atts():
    z = np.random.default_rng(5).lognormal(size=(T, N, 3)).astype(np.float32)
    panel = jaxattr.Panel(z, agent_ids=IDS, time_labels=DAYS)
    return {"panel": jaxattr.attribute(panel, V.heat()), "array": jaxattr.attribute(z, V.heat())}


def _png(path):
    with open(path, "rb") as f:
        assert f.read(8) == PNG


@pytest.mark.parametrize("which", ["panel", "array"])
def test_each_plot_writes_a_png(atts, which, tmp_path):
    att = atts[which]
    for name, fn in [
        ("heat", jplot.heatmap),
        ("top", jplot.top_agents),
        ("shares", jplot.group_shares),
    ]:
        path = tmp_path / f"{name}.png"
        fig = fn(att, path, dpi=30)
        assert isinstance(fig, Figure)
        _png(path)
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_heatmap_draws_the_group_sums(atts):
    att = atts["panel"]
    groups = np.arange(N) % 3
    fig = jplot.heatmap(att, groups=groups, group_names=["a", "b", "c"])
    ax = fig.axes[0]
    img = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(img, att.by_group(groups, 3).T)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_xticklabels()] == DAYS
    # default groups: deciles of the total attribution, the largest first
    img = np.asarray(jplot.heatmap(att).axes[0].images[0].get_array())
    assert img.shape == (10, T)
    totals = img.sum(axis=1)
    assert np.all(np.diff(totals) <= 1e-6 * np.abs(totals).max())


def test_top_agents_are_the_largest_totals_with_their_ids(atts):
    att = atts["panel"]
    total = np.asarray(att.phi, np.float64).sum(0)
    ax = jplot.top_agents(att, k=5).axes[0]
    heights = [b.get_width() for b in ax.patches]
    np.testing.assert_allclose(heights, np.sort(total)[::-1][:5], rtol=1e-12)
    want = IDS[np.argsort(-total)[:5]].tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == want
    ax = jplot.top_agents(atts["array"], k=3).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        str(i) for i in np.argsort(-np.asarray(atts["array"].phi, np.float64).sum(0))[:3]
    ]
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        jplot.top_agents(att, k=0)
    with pytest.raises(ValueError, match="by must be 'total' or 'abs'"):
        jplot.top_agents(att, by="max")


def test_group_shares_sum_to_one_and_follow_the_groups(atts):
    att = atts["array"]
    groups = (np.arange(N) >= 10).astype(np.int64)  # agents 0..9, the rest
    lines = jplot.group_shares(att, groups=groups).axes[0].get_lines()
    ys = np.stack([ln.get_ydata() for ln in lines[:2]], axis=1)
    phi = np.asarray(att.phi, np.float64)
    want = np.stack([phi[:, :10].sum(1), phi[:, 10:].sum(1)], axis=1) / phi.sum(1)[:, None]
    np.testing.assert_allclose(ys, want, rtol=1e-12)


def test_group_shares_refuse_a_zero_total():
    z = np.random.default_rng(0).random((2, 8, 2)).astype(np.float32)
    att = jaxattr.attribute(z, V.linear(), baseline="mean")  # delta = 0 at every step
    with pytest.raises(ValueError, match="shares phi / sum phi are undefined"):
        jplot.group_shares(att)


def test_bad_groups_and_missing_matplotlib(atts, monkeypatch):
    with pytest.raises(ValueError, match="labels must have shape"):
        jplot.heatmap(atts["panel"], groups=np.zeros(3, np.int64))
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'jaxattr\[plot\]'"):
        jplot.heatmap(atts["panel"])


def test_importing_jaxattr_plot_does_not_import_matplotlib():
    code = "import sys, jaxattr.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
