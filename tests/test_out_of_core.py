"""Out-of-core streaming equals the in-memory engine, with tiny chunks forced."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxattr
from jaxattr.scale._stream import _key_ranges, attribute_out_of_core, read_phi


def _panel(rng, t=3, n=203, d=3, ties=False):
    z = rng.gamma(2.0, 1.0, size=(t, n, d)).astype(np.float32)
    if ties:  # repeated composites exercise the average-rank tie rule
        z[:, ::7] = z[:, :1]
        z[:, 1::11] = 0.0
    return jaxattr.Panel(z)


@pytest.fixture
def panel_file(tmp_path, rng):
    p = _panel(rng, ties=True)
    path = tmp_path / "panel.parquet"
    jaxattr.write_panel(p, path, row_group_size=50)  # 5 row groups, the last one short
    return p, path


CASES = [
    ("linear", "mean"),
    ("heat", "zero"),
    ("heat", "first"),
    ("variance", "zero"),
    ("variance", "mean"),
    ("variance", "first"),
    ("gini", "zero"),
    ("gini", "mean"),
]


@pytest.mark.parametrize(("value", "baseline"), CASES)
def test_closed_forms_equal_in_memory(panel_file, tmp_path, value, baseline):
    panel, path = panel_file
    ref = jaxattr.attribute(panel, value, baseline=baseline)
    out = tmp_path / "phi.parquet"
    # chunk_agents=16 splits each row group again; rank_memory=8 forces many key ranges
    res = attribute_out_of_core(
        path, value, out=out, baseline=baseline, chunk_agents=16, rank_memory=8
    )
    assert res.method == ref.method == "closed_form"
    phi = read_phi(out)
    scale = float(jnp.max(jnp.abs(ref.phi)))
    np.testing.assert_allclose(phi, np.asarray(ref.phi), rtol=2e-5, atol=2e-6 * scale)
    # delta = F(Z) - F(B) from chunked sums: within float32 rounding of the values subtracted
    # (a few ulp of |F|; with the mean baseline a linear value's delta is rounding alone)
    f_scale = float(np.abs(np.asarray(ref.value_features)).max())
    np.testing.assert_allclose(
        res.delta, np.asarray(ref.delta), rtol=1e-5, atol=8 * np.finfo(np.float32).eps * f_scale
    )
    assert res.max_efficiency_error() < 1e-5


@pytest.mark.parametrize("baseline", ["mean", "first", np.array([0.5, 0.2, 0.1])])
def test_meanfield_path_equals_in_memory(panel_file, tmp_path, baseline):
    panel, path = panel_file
    v = jaxattr.values.mean_field(
        lambda z: jnp.stack([jnp.tanh(z[0] * z[1]), z[2] ** 2]),
        lambda m: jnp.log1p(m[0] * m[0] + m[1]),
        name="mf",
    )
    ref = jaxattr.attribute(panel, v, baseline=baseline, steps=4)
    res = attribute_out_of_core(
        path, v, out=tmp_path / "phi.parquet", baseline=baseline, steps=4, chunk_agents=32
    )
    assert res.method == "path-meanfield" and ref.method == "path"  # streamed vs jax.grad
    np.testing.assert_allclose(res.read_phi(), np.asarray(ref.phi), rtol=2e-5, atol=1e-7)
    np.testing.assert_allclose(res.delta, np.asarray(ref.delta), rtol=1e-5, atol=1e-6)


def test_heat_path_method_matches_closed_form(panel_file, tmp_path):
    """The streamed path integral (out of core, per agent) against the in-memory *closed
    form*: Gauss-Legendre with 16 nodes is exact to float32 on heat's smooth integrand;
    the midpoint rule with K = 6 misses it by its O(1/K²) error, so the check can fail."""
    panel, path = panel_file
    ref = np.asarray(jaxattr.attribute(panel, "heat", method="closed_form").phi)
    scale = np.abs(ref).max()
    res = attribute_out_of_core(
        path,
        "heat",
        method="path",
        rule="gauss-legendre",
        steps=16,
        out=tmp_path / "gl.parquet",
        chunk_agents=32,
    )
    assert res.method == "path-meanfield"
    np.testing.assert_allclose(res.read_phi(), ref, rtol=1e-5, atol=1e-6 * scale)
    coarse = attribute_out_of_core(
        path, "heat", method="path", steps=6, out=tmp_path / "mid.parquet", chunk_agents=32
    )
    err = np.abs(coarse.read_phi() - ref).max() / scale
    assert 1e-5 < err < 1e-2, err  # visibly off, and only by the quadrature error
    np.testing.assert_allclose(coarse.sum_phi, ref.sum(1), rtol=1e-2)


def test_gini_key_ranges_cover_buckets():
    hist = np.zeros(1 << 16, np.int64)
    hist[[3, 4, 9, 100, 101]] = [5, 1 << 20, 2, 7, 7]
    r = _key_ranges(hist, budget=10)
    assert r[0][0] == 3 and r[-1][1] == 1 << 16
    covered = [b for lo, hi in r for b in range(lo, hi) if hist[b]]
    assert covered == [3, 4, 9, 100, 101]


def test_errors(panel_file, tmp_path):
    _, path = panel_file
    with pytest.raises(ValueError, match="cannot be streamed out of core"):
        attribute_out_of_core(path, lambda z: jnp.sum(z**2) ** 0.5)
    with pytest.raises(
        ValueError, match="no closed form for a per-agent baseline.*cannot be streamed"
    ):
        attribute_out_of_core(path, "gini", baseline="first", method="closed_form")
    with pytest.raises(ValueError, match=r"shape \(d,\)=\(3,\)"):
        attribute_out_of_core(path, "heat", baseline=np.zeros(4))
    with pytest.raises(ValueError, match="not a jaxattr attribution file"):
        read_phi(path)
