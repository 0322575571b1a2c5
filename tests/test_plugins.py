"""Value functions plug in everywhere: a user's module, and a new built-in in one row.

``tests/user_values.py`` stands for a user's own module: ``MeanSquare`` (a closed form in
streaming form) and ``share_product`` (mean-field only). Both give the same phi through
``attribute`` (NumPy and Panel), the feature-major runner, the out-of-core runner, a batch
plan and the CLI, each by the route its structure allows. tests/test_distributed.py runs
them across 2 processes, tests/scripts/sharded_check.py on 8 devices.
"""

import json
import os
import sys

import jax
import numpy as np
import pytest

import jaxattr
from jaxattr import values as V
from jaxattr.scale import attribute_out_of_core, read_phi, run_batch

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = {
    "closed form": ("user_values:mean_square", "closed_form"),
    "mean-field": ("user_values:share_product", "path"),
}


@pytest.fixture(scope="module")
def user_module_importable():
    sys.path.insert(0, HERE)
    yield
    sys.path.remove(HERE)


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    z = np.random.default_rng(21).gamma(2.0, 1.0, size=(3, 301, 3)).astype(np.float32)
    p = jaxattr.Panel(z)
    path = tmp_path_factory.mktemp("plug") / "panel.parquet"
    jaxattr.write_panel(p, path, row_group_size=64)
    return p, path


def _reference(kind, z, steps=30):
    """phi written out in NumPy from each value's definition, for the zero baseline (the
    default), independent of the engine.

    ``mean_square``: ``f = (1/N) sum_i s_i²`` (s_i the sum of agent i's features) has
    gradient ``2 a s_i / N`` at ``a Z``, so ``phi_i = ∫ 2 a s_i² / N da = s_i² / N``.
    ``share_product``: ``f = m_a m_bc`` (the means of feature 0 and of feature 1 × feature 2)
    is ``a³ f`` at ``a Z`` and every term of ``grad f(a Z) · z_i`` is ``a²`` times
    ``(z_i0 m_bc + 2 m_a z_i1 z_i2) / N``; the path routes integrate ``a²`` with the
    ``steps``-point midpoint rule, ``mean_k ((k + ½) / K)²`` (= 1/3 - 1/(12 K²)).
    """
    z = np.asarray(z, np.float64)
    n = z.shape[1]
    if kind == "closed form":
        return z.sum(-1) ** 2 / n
    a, b, c = z[..., 0], z[..., 1], z[..., 2]
    m_a = a.mean(axis=1, keepdims=True)
    m_bc = (b * c).mean(axis=1, keepdims=True)
    weight = np.mean(((np.arange(steps) + 0.5) / steps) ** 2)
    return weight * (a * m_bc + 2.0 * m_a * b * c) / n


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_a_users_value_runs_through_every_runner(kind, panel, tmp_path, user_module_importable):
    spec, route = SPECS[kind]
    p, path = panel
    value = V.load(spec)
    want = _reference(kind, p.features)
    tol = dict(rtol=2e-5, atol=1e-8)

    att = jaxattr.attribute(np.asarray(p.features), spec)
    assert att.method == route
    np.testing.assert_allclose(np.asarray(att.phi), want, **tol)
    np.testing.assert_allclose(np.asarray(jaxattr.attribute(p, value).phi), want, **tol)
    fm = jaxattr.attribute(jax.device_put(p.feature_major), value, feature_major=True)
    assert fm.method == route
    np.testing.assert_allclose(np.asarray(fm.phi), want, **tol)
    # every in-memory result splits by feature and converts, the feature-major one included
    for res in (att, fm):
        np.testing.assert_allclose(
            np.asarray(res.phi_features).sum(-1), np.asarray(res.phi), rtol=1e-5, atol=1e-9
        )
        assert res.to_numpy()["phi_features"].shape == (3, 301, 3)

    ooc = attribute_out_of_core(path, spec, out=tmp_path / "phi.parquet", chunk_agents=50)
    assert ooc.method == ("closed_form" if route == "closed_form" else "path-meanfield")
    np.testing.assert_allclose(read_phi(tmp_path / "phi.parquet"), want, **tol)
    np.testing.assert_allclose(ooc.by_time(), np.asarray(att.by_time()), rtol=1e-5)

    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps(
            {"panels": {"p": str(path)}, "jobs": [{"values": [spec], "baselines": ["zero"]}]}
        )
    )
    rep = run_batch(str(plan), tmp_path / "batch", per_agent=True, progress=False)
    assert not rep["failed"] and len(rep["done"]) == 1
    job = np.load(os.path.join(tmp_path, "batch", "jobs", rep["done"][0] + ".npz"))
    np.testing.assert_allclose(job["phi"], want, **tol)
    assert str(job["method"]) == route

    from jaxattr._cli import main

    assert (
        main(
            ["attribute", str(path), "--value", spec, "--out", str(tmp_path / "cli"), "--per-agent"]
        )
        == 0
    )
    per_agent = np.genfromtxt(tmp_path / "cli" / "per_agent.csv", delimiter=",", names=True)
    np.testing.assert_allclose(per_agent["phi_window"], want.sum(0), rtol=tol["rtol"], atol=1e-7)


def test_adding_a_builtin_is_one_class_and_one_registry_line(
    panel, tmp_path, monkeypatch, user_module_importable
):
    """The worked example of the docs: a class (tests/user_values.py: MeanSquare) and one
    row of jaxattr.values.BUILTIN, and the name works in every runner and in the CLI."""
    from user_values import MeanSquare

    monkeypatch.setitem(V.BUILTIN, "mean_square", MeanSquare)
    p, path = panel
    want = _reference("closed form", p.features)
    np.testing.assert_allclose(np.asarray(jaxattr.attribute(p, MeanSquare()).phi), want, rtol=1e-5)
    assert jaxattr.attribute(p, "mean_square").method == "closed_form"
    np.testing.assert_allclose(
        read_phi(attribute_out_of_core(path, "mean_square", out=tmp_path / "o.parquet").path),
        want,
        rtol=1e-5,
    )
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"panels": {"p": str(path)}, "jobs": [{"values": ["mean_square"]}]}))
    rep = run_batch(str(plan), tmp_path / "batch", per_agent=True, progress=False)
    job = np.load(os.path.join(tmp_path, "batch", "jobs", rep["done"][0] + ".npz"))
    np.testing.assert_allclose(job["phi"], want, rtol=1e-6)
    from jaxattr._cli import build_parser, main

    assert (
        "mean_square"
        in build_parser()
        .parse_args(["attribute", "x", "--value", "mean_square", "--out", "y"])
        .value
    )
    assert (
        main(
            [
                "attribute",
                str(path),
                "--value",
                "mean_square",
                "--out",
                str(tmp_path / "cli"),
                "--per-agent",
            ]
        )
        == 0
    )
    per_agent = np.genfromtxt(tmp_path / "cli" / "per_agent.csv", delimiter=",", names=True)
    np.testing.assert_allclose(per_agent["phi_window"], want.sum(0), rtol=1e-5)
