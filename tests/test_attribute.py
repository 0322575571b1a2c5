"""jaxattr.attribute: the public contract, baselines, compilation reuse and bad input."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxattr
from jaxattr import values as V


@pytest.fixture
def z(rng):
    return rng.lognormal(size=(3, 40, 3)).astype(np.float32)


def test_contract_shapes_and_numpy(z):
    att = jaxattr.attribute(z, V.heat())
    assert att.phi.shape == (3, 40)
    assert att.phi_features.shape == (3, 40, 3)
    assert att.delta.shape == att.efficiency_error.shape == (3,)
    np.testing.assert_allclose(
        np.asarray(att.phi_features).sum(-1), np.asarray(att.phi), rtol=1e-5, atol=1e-9
    )
    out = att.to_numpy()
    assert set(out) >= {"phi", "phi_features", "delta", "efficiency_error"}
    assert all(isinstance(v, np.ndarray) for v in out.values())
    np.testing.assert_allclose(np.asarray(att.by_time()), np.asarray(att.delta), rtol=1e-5)
    assert att.by_agent().shape == (40,)
    groups = np.arange(40) % 4
    bg = np.asarray(att.by_group(groups))
    assert bg.shape == (3, 4)
    np.testing.assert_allclose(bg.sum(1), np.asarray(att.phi).sum(1), rtol=1e-5)


def test_shares_normalise_by_the_step_and_window_change(z):
    """Shares are phi over the change f(Z) - f(B) of their own step (or of the window):
    checked against delta from the value itself, so a wrong axis or total fails."""
    att = jaxattr.attribute(z, V.heat())
    heat = V.heat()
    delta = np.array(
        [
            float(heat(jnp.asarray(z[t]))) - float(heat(jnp.zeros_like(z[t])))
            for t in range(z.shape[0])
        ]
    )
    phi = np.asarray(att.phi, np.float64)
    np.testing.assert_allclose(att.shares(), phi / delta[:, None], rtol=1e-4)
    np.testing.assert_allclose(att.shares(axis="window"), phi.sum(0) / delta.sum(), rtol=1e-4)
    # heat is homogeneous: scaling one step's features scales its phi and its delta alike,
    # so every per-step share stays (a window total would move them) and the window's move
    scaled = z.copy()
    scaled[1] *= 3.0
    att2 = jaxattr.attribute(scaled, V.heat())
    np.testing.assert_allclose(att2.shares(), att.shares(), rtol=1e-4, atol=1e-7)
    assert not np.allclose(att2.shares(axis="window"), att.shares(axis="window"), rtol=1e-2)


def test_repr_reports_shape_efficiency_and_status(z):
    att = jaxattr.attribute(z, V.heat())
    r = repr(att)
    m = re.fullmatch(
        r"Attribution\(value='heat', method='closed_form', T=(\d+), N=(\d+), "
        r"max efficiency_error=(\S+), status=(\w+)\)",
        r,
    )
    assert m, r
    assert (int(m[1]), int(m[2]), m[4]) == (3, 40, "ok")
    assert float(m[3]) == pytest.approx(float(np.max(att.efficiency_error)), rel=0.01, abs=1e-12)
    # planted gaps, one per step and all different (a backend may well compute all three
    # exactly): the repr reports the largest, not another step's
    planted = eqx.tree_at(
        lambda a: a.efficiency_error, att, jnp.asarray([2e-7, 3e-6, 5e-8], jnp.float32)
    )
    m = re.search(r"max efficiency_error=(\S+),", repr(planted))
    assert m and float(m[1]) == pytest.approx(3e-6, rel=0.01), repr(planted)
    failed = jaxattr.attribute(np.full((1, 4, 3), np.nan, np.float32), V.heat(), throw=False)
    assert repr(failed).endswith("status=nonfinite_features)")
    # under a transform phi is a tracer: the repr names the shape instead of reading values
    seen = []
    jax.jit(lambda x: seen.append(repr(jaxattr.attribute(x, V.heat()))) or 0.0)(z)
    assert seen == ["Attribution(value='heat', method='closed_form', phi=(3, 40))"]


def test_single_step_input_is_t1(z):
    att = jaxattr.attribute(z[0], "variance")
    assert att.phi.shape == (1, 40)


def test_panel_input_equals_array_input(z):
    panel = jaxattr.Panel(z, feature_names=["reach", "activity", "resonance"])
    a = jaxattr.attribute(panel, "heat")
    b = jaxattr.attribute(z, "heat")
    np.testing.assert_array_equal(np.asarray(a.phi), np.asarray(b.phi))
    assert a.feature_names == ("reach", "activity", "resonance")


def test_jax_array_input_equals_numpy_input(z):
    a = jaxattr.attribute(jnp.asarray(z), "gini")
    b = jaxattr.attribute(z, "gini")
    np.testing.assert_allclose(np.asarray(a.phi), np.asarray(b.phi), rtol=1e-6)


def test_auto_method_choice(z):
    assert jaxattr.attribute(z, "heat").method == "closed_form"
    assert jaxattr.attribute(z, "gini", baseline="first").method == "path"
    assert jaxattr.attribute(z, lambda x: jnp.sum(x**2)).method == "path"
    assert jaxattr.attribute(z, "variance", method="path").method == "path"
    assert jaxattr.attribute(z, "variance", method="path", agent_chunk=16).method == (
        "path-meanfield"
    )


def test_baselines(z):
    n = z.shape[1]
    first = jaxattr.attribute(z, "linear", baseline="first")
    np.testing.assert_array_equal(np.asarray(first.phi[0]), 0.0)
    np.testing.assert_allclose(
        np.asarray(first.phi[2]), (z[2].sum(1) - z[0].sum(1)) / n, rtol=1e-5, atol=1e-7
    )
    mean = jaxattr.attribute(z, "linear", baseline="mean")
    s = z.sum(2)
    np.testing.assert_allclose(
        np.asarray(mean.phi), (s - s.mean(1, keepdims=True)) / n, rtol=1e-4, atol=1e-7
    )
    vec = np.array([0.1, 0.2, 0.3], np.float32)
    a = jaxattr.attribute(z, "heat", baseline=vec)
    b = jaxattr.attribute(z, "heat", baseline=np.broadcast_to(vec, (3, 1, 3)).copy())
    c = jaxattr.attribute(z, "heat", baseline=np.broadcast_to(vec, (n, 3)).copy())
    d = jaxattr.attribute(z, "heat", baseline=np.broadcast_to(vec, z.shape).copy())
    for other in (b, c, d):
        np.testing.assert_allclose(np.asarray(other.phi), np.asarray(a.phi), rtol=2e-5, atol=1e-9)
    np.testing.assert_allclose(np.asarray(a.value_baseline), np.log1p(np.prod(vec)), rtol=1e-6)
    # a (T, 1, d) baseline is one vector per step: linear phi = (s_i - sum_k b_tk) / N
    per_step = np.random.default_rng(2).random((z.shape[0], 1, 3)).astype(np.float32)
    e = jaxattr.attribute(z, "linear", baseline=per_step)
    np.testing.assert_allclose(np.asarray(e.phi), (s - per_step.sum(-1)) / n, rtol=1e-5, atol=1e-7)


def test_a_values_default_baseline_is_used():
    """The Gini coefficient's own baseline is equality (every agent at the mean, G(B) = 0),
    so its phi sum to G(Z), here computed by hand: s = (1, 1, 1, 5), mean 2, MAD 1.5."""
    w = np.array([[1.0], [1.0], [1.0], [5.0]], np.float32)
    att = jaxattr.attribute(w, "gini_coefficient")
    assert att.method == "closed_form"
    np.testing.assert_allclose(np.asarray(att.value_baseline), 0.0, atol=1e-7)
    np.testing.assert_allclose(float(np.asarray(att.phi).sum()), 1.5 / (2 * 2.0), rtol=1e-6)
    # phi_i = (s_i - 2) (c_i / 32 - 3/128), c the centered ranks (-1, -1, -1, 3)
    np.testing.assert_allclose(np.asarray(att.phi)[0], [7 / 128] * 3 + [27 / 128], rtol=1e-5)


def test_phi_features_per_baseline_kind(z):
    for baseline in ["zero", "mean", "first", np.ones(3, np.float32) * 0.1]:
        for method in ["closed_form", "path"]:
            att = jaxattr.attribute(z, "variance", baseline=baseline, method=method)
            np.testing.assert_allclose(
                np.asarray(att.phi_features).sum(-1), np.asarray(att.phi), rtol=1e-4, atol=1e-7
            )


def test_no_recompile_on_second_call(z):
    jaxattr.attribute(z, V.heat())
    jaxattr.attribute(z, "variance", method="path", steps=7)
    from jaxattr._core import _run

    before = _run._cache_size()
    jaxattr.attribute(z * 2, V.heat())  # a new but equal value object, new data
    jaxattr.attribute(z + 1, "variance", method="path", steps=7)
    # wherever the caller's array lies (aligned, 4 bytes off, 2 bytes off: no aliasing
    # window possible), one program
    raw = np.zeros(z.nbytes + 4096, np.uint8)
    for off in (-raw.ctypes.data % 64, 4 - raw.ctypes.data % 64 + 64, 2):
        x = np.ndarray(z.shape, np.float32, buffer=raw.data, offset=off)
        x[...] = z
        np.testing.assert_allclose(
            np.asarray(jaxattr.attribute(x, V.heat()).phi),
            np.asarray(jaxattr.attribute(z, V.heat()).phi),
            rtol=1e-6,
        )
    assert _run._cache_size() == before


def test_windowed_arrays_compile_once_per_alignment_class(rng, monkeypatch):
    """A large NumPy array is aliased through a window whose offset is static (a dynamic
    one cost variance twice its time): one program per alignment class of the address,
    reused by every later array of that class, all giving the same phi."""
    from jaxattr import _attribute
    from jaxattr._core import _run

    monkeypatch.setattr(_attribute, "_SMALL_BYTES", 0)  # windows for this small panel too
    z = rng.lognormal(size=(2, 40, 3)).astype(np.float32)
    ref = np.asarray(jaxattr.attribute(z.astype(np.float64), "variance").phi)

    def at(raw, byte_offset):
        x = np.ndarray(z.shape, np.float32, buffer=raw.data, offset=byte_offset)
        x[...] = z
        return x

    programs = []
    for round_ in range(2):
        raw = np.zeros(z.nbytes + 8192, np.uint8)
        base = -raw.ctypes.data % 64 + 64 * (1 + round_)
        for lead in (0, 16, 32, 48):  # NumPy's 16-byte-aligned allocations
            x = at(raw, base + lead)
            np.testing.assert_allclose(
                np.asarray(jaxattr.attribute(x, "variance").phi), ref, rtol=1e-5, atol=1e-7
            )
            programs.append(_run._cache_size())
    # the second round (new buffers, the same four classes) compiles nothing
    assert programs[4:] == [programs[3]] * 4
    assert programs[3] - programs[0] <= 3


def test_arrays_beyond_int32_windows_are_placed_exactly(rng, monkeypatch):
    """Past 2**31 elements a window's int32 offsets would wrap: such arrays are placed as
    exact buffers, and every method reads the same numbers from them."""
    from jaxattr._util import _memory

    z = rng.lognormal(size=(3, 50, 3)).astype(np.float32)
    refs = {
        m: np.asarray(jaxattr.attribute(z, "variance", method=m).phi)
        for m in ("closed_form", "path")
    }
    monkeypatch.setattr(_memory, "_MAX_WINDOW", 100)
    assert not _memory.place(z, np.float32).windowed
    for m, ref in refs.items():
        np.testing.assert_allclose(
            np.asarray(jaxattr.attribute(z, "variance", method=m).phi), ref, rtol=1e-6, atol=1e-7
        )


def test_efficiency_tol_raises_with_advice(rng):
    z = rng.lognormal(size=(1, 30, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"efficiency gap .* exceeds 1e-09.*raise `steps`"):
        jaxattr.attribute(z, "heat", method="path", steps=2, efficiency_tol=1e-9)


# ---------------------------------------------------------------- bad input (issue item 5)


def test_wrong_ndim():
    with pytest.raises(ValueError, match=r"shape \(T, N, d\) or \(N, d\), got \(5,\)"):
        jaxattr.attribute(np.ones(5, np.float32), "heat")
    with pytest.raises(ValueError, match=r"got \(1, 2, 3, 4\)"):
        jaxattr.attribute(np.ones((1, 2, 3, 4), np.float32), "heat")


def test_baseline_shape_mismatch(z):
    with pytest.raises(ValueError, match=r"baseline must have shape .*got \(4,\)"):
        jaxattr.attribute(z, "heat", baseline=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"baseline must have shape .*got \(39, 3\)"):
        jaxattr.attribute(z, "heat", baseline=np.zeros((39, 3), np.float32))
    with pytest.raises(ValueError, match="baseline must be one of"):
        jaxattr.attribute(z, "heat", baseline="median")


@pytest.mark.parametrize("dtype", [np.int32, np.int64, bool])
def test_integer_and_bool_features_are_refused(dtype):
    with pytest.raises(TypeError, match=r"features must be floating point, got dtype .*cast"):
        jaxattr.attribute(np.ones((2, 5, 3), dtype), "heat")


@pytest.mark.parametrize("bad,kind", [(np.nan, "NaN"), (np.inf, r"\+inf"), (-np.inf, "-inf")])
def test_nonfinite_features_name_step_agent_feature(z, bad, kind):
    z = z.copy()
    z[1, 17, 2] = bad
    z[2, 3, 0] = bad
    with pytest.raises(
        ValueError,
        match=rf"{kind} at time step t=1, agent 17, feature 2 "
        r"\(2 non-finite",
    ):
        jaxattr.attribute(z, "heat")
    panel = jaxattr.Panel(z, validate=False)
    with pytest.raises(ValueError, match=rf"{kind} at time step t=1, agent 17, feature 2"):
        jaxattr.attribute(panel, "variance", method="path")


def test_nonfinite_baseline(z):
    b = np.zeros(z.shape, np.float32)
    b[2, 5, 1] = np.nan
    with pytest.raises(
        ValueError,
        match=r"baseline contains NaN at time step t=2, agent 5, "
        "feature 1",
    ):
        jaxattr.attribute(z, "heat", baseline=b)


def test_empty_panels():
    with pytest.raises(ValueError, match=r"empty panel: T=1, N=0"):
        jaxattr.attribute(np.zeros((1, 0, 3), np.float32), "heat")
    with pytest.raises(ValueError, match=r"empty panel: T=0"):
        jaxattr.attribute(np.zeros((0, 4, 3), np.float32), "heat")


@pytest.mark.parametrize("steps", [0, -1, 1.5])
def test_bad_steps(z, steps):
    with pytest.raises(ValueError, match="steps must be"):
        jaxattr.attribute(z, "heat", method="path", steps=steps)


def test_bad_method_rule_chunk(z):
    with pytest.raises(ValueError, match="method must be one of"):
        jaxattr.attribute(z, "heat", method="exact")
    with pytest.raises(ValueError, match="rule must be one of"):
        jaxattr.attribute(z, "heat", method="path", rule="simpson")
    with pytest.raises(ValueError, match="chunk must be an integer >= 1"):
        jaxattr.attribute(z, "heat", method="path", chunk=0)
    with pytest.raises(ValueError, match="no closed form for a per-agent baseline"):
        jaxattr.attribute(z, "gini", baseline="first", method="closed_form")
    with pytest.raises(ValueError, match="no closed form"):
        jaxattr.attribute(z, lambda x: jnp.sum(x), method="closed_form")


def test_value_returning_non_scalar(z):
    with pytest.raises(ValueError, match=r"must return a scalar, got shape \(3,\)"):
        jaxattr.attribute(z, lambda x: jnp.mean(x, axis=0))


def test_value_returning_nonfinite(z):
    def f(x):
        return jnp.log(jnp.mean(x) - 100.0)  # log of a negative number: NaN

    with pytest.raises(ValueError, match=r"returned nan for f\(features\) at time step t=0"):
        jaxattr.attribute(z, f)


def test_value_not_callable(z):
    with pytest.raises(TypeError, match="value must be a callable"):
        jaxattr.attribute(z, 3.0)
    with pytest.raises(ValueError, match="value 'entropy' is neither a built-in value function"):
        jaxattr.attribute(z, "entropy")


def test_zero_total_shares(rng):
    z = rng.lognormal(size=(2, 10, 3)).astype(np.float32)
    z[1] = z[0]
    att = jaxattr.attribute(z, "heat", baseline="first")
    with pytest.raises(
        ValueError, match="total attribution at time step t=0 is .* within rounding noise of zero"
    ):
        att.shares()


def test_by_group_validation(z):
    att = jaxattr.attribute(z, "heat")
    with pytest.raises(ValueError, match=r"labels must have shape \(40,\)"):
        att.by_group(np.zeros(3, int))
    with pytest.raises(TypeError, match="labels must be integers"):
        att.by_group(np.zeros(40))


def test_float64_runs_in_float64(rng):
    with jax.enable_x64(True):
        z = rng.lognormal(size=(1, 50, 3))
        att = jaxattr.attribute(z, "heat", method="path", steps=40, rule="gauss-legendre")
        assert att.phi.dtype == jnp.float64
        assert att.max_efficiency_error() < 1e-11
