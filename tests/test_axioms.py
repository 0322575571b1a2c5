"""The four attribution axioms as property tests over random panels, values and baselines."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxattr
from jaxattr import values as V


def _softplus_mix(z):
    return jnp.mean(jnp.logaddexp(0.0, z @ jnp.array([0.5, -0.3, 0.8], z.dtype))) ** 2


REGISTRY = {  # one row per value function: adding a value function is one line here
    "linear": V.linear(),
    "heat": V.heat(),
    "variance": V.variance(),
    "gini": V.gini(),
    "softplus_mix": _softplus_mix,
    "meanfield_sqrt": V.mean_field(
        lambda x: jnp.stack([x[0] * x[1], x[2]]),
        lambda m: jnp.sqrt(1.0 + m[0] ** 2) + m[1] ** 2,
        name="meanfield_sqrt",
    ),
}
BASELINES = ["zero", "mean", "first", "vector", "per_agent"]
SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _baseline(kind, t, n, d, rng):
    if kind == "vector":
        return rng.random(d).astype(np.float32) * 0.2
    if kind == "per_agent":
        return rng.random((n, d)).astype(np.float32) * 0.2
    return kind


def _tol(value_name, method):
    # midpoint K=64 on smooth nonlinear f; gini's path is piecewise constant
    return 1e-4 if method.startswith("path") else 2e-5


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    name=st.sampled_from(sorted(REGISTRY)),
    base=st.sampled_from(BASELINES),
    n=st.sampled_from([2, 9, 40]),
    t=st.sampled_from([1, 3]),
)
def test_efficiency(seed, name, base, n, t):
    rng = np.random.default_rng(seed)
    z = rng.lognormal(size=(t, n, 3)).astype(np.float32)
    b = _baseline(base, t, n, 3, rng)
    att = jaxattr.attribute(z, REGISTRY[name], baseline=b, steps=64)
    if name == "gini" and att.method == "path":
        # per-agent baselines: gini's integrand jumps where two agents' composites cross,
        # so midpoint K=64 is checked against the exact piecewise integral, per agent
        _check_gini_path_exact(z, b, att, k=64)
        return
    gap = np.abs(np.asarray(att.phi).sum(1) - np.asarray(att.delta))
    scale = np.maximum(np.abs(np.asarray(att.delta)), np.abs(np.asarray(att.phi)).sum(1))
    assert np.all(gap <= _tol(name, att.method) * np.maximum(scale, 1e-6)), (gap, scale)
    assert float(att.efficiency_error.max()) <= _tol(name, att.method)


def _gini_exact_path(s_z, s_b):
    """Exact straight-line Aumann-Shapley phi of gini for composites s_b -> s_z (float64),
    and per agent the number of crossings (the integrand's jumps) along the path.

    Between crossings the ranks are constant, so the integral is a sum over intervals of
    length x (2/N²) c_i(midpoint) x (s_z - s_b)_i, c_i = sum_j sign(s_i - s_j)."""
    n = s_z.size
    ds = s_z - s_b
    num, den = -(s_b[:, None] - s_b[None, :]), ds[:, None] - ds[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = np.where(den != 0, num / den, np.nan)
    inside = (cross > 0) & (cross < 1)
    pts = np.unique(np.concatenate([[0.0, 1.0], cross[inside]]))
    phi = np.zeros(n)
    for lo, hi in zip(pts[:-1], pts[1:], strict=True):
        s = s_b + 0.5 * (lo + hi) * ds
        c = np.sign(s[:, None] - s[None, :]).sum(axis=1)
        phi += (hi - lo) * 2.0 / n**2 * c * ds
    return phi, inside.sum(axis=1)


def _check_gini_path_exact(z, b, att, k):
    """Midpoint rule error per agent <= (1/K) x total variation of the integrand: each
    crossing moves c_i by 2, so |phi_K - phi| <= 4 x crossings x |ds_i| / (N² K)."""
    t, n, d = z.shape
    first = isinstance(b, str)  # "first": each agent's first step
    bb = np.broadcast_to(np.asarray(z[:1] if first else b, np.float64), (t, n, d))
    phi = np.asarray(att.phi, np.float64)
    for step in range(t):
        s_z = np.asarray(z[step], np.float64).sum(1)
        s_b = bb[step].sum(1)
        exact, ncross = _gini_exact_path(s_z, s_b)
        # the reference is exact; delta = f(Z) - f(B) in float32 carries a rounding of f
        # (a step that is its own baseline: f(Z) and f(B) summed in different orders)
        f_scale = abs(float(att.value_features[step]))
        np.testing.assert_allclose(
            exact.sum(),
            float(att.delta[step]),
            rtol=1e-5,
            atol=max(1e-6 * np.abs(exact).sum(), 8 * np.finfo(np.float32).eps * f_scale),
        )
        bound = 4.0 * ncross * np.abs(s_z - s_b) / (n * n * k)
        tol = 2e-5 * np.abs(exact).max() + 1e-7
        assert np.all(np.abs(phi[step] - exact) <= bound + tol), (step, phi[step] - exact, bound)


@pytest.mark.parametrize(("base", "n", "t"), [("per_agent", 24, 1), ("first", 24, 2)])
def test_gini_path_matches_exact_piecewise_integral(base, n, t):
    """Per-agent baselines take gini's path: per agent within the midpoint rule's bound of
    the exact integral; the attribution of another baseline is refused by the same check."""
    rng = np.random.default_rng(n + t)
    z = rng.lognormal(size=(t, n, 3)).astype(np.float32)
    b = _baseline(base, t, n, 3, rng)
    att = jaxattr.attribute(z, "gini", baseline=b, steps=64)
    assert att.method == "path"
    _check_gini_path_exact(z, b, att, k=64)
    with pytest.raises(AssertionError):  # the check can fail
        _check_gini_path_exact(z, b, jaxattr.attribute(z, "gini", baseline="zero", steps=64), k=64)


def test_gini_per_agent_baseline_efficiency_improves_with_k(rng):
    z = rng.lognormal(size=(1, 50, 3)).astype(np.float32)
    b = rng.random((50, 3)).astype(np.float32)
    errs = [
        jaxattr.attribute(z, "gini", baseline=b, steps=k).max_efficiency_error()
        for k in (8, 64, 512)
    ]
    assert errs[2] < errs[0] and errs[2] < 1e-3, errs


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    name=st.sampled_from(sorted(REGISTRY)),
    base=st.sampled_from(["zero", "mean", "vector"]),
    n=st.sampled_from([3, 12, 40]),
)
def test_symmetry(seed, name, base, n):
    """Duplicated agents (identical features and baselines) get identical attributions."""
    rng = np.random.default_rng(seed)
    z = rng.lognormal(size=(2, n, 3)).astype(np.float32)
    dup = rng.choice(n, size=min(3, n - 1), replace=False)
    z[:, dup[1:]] = z[:, dup[:1]]
    att = jaxattr.attribute(z, REGISTRY[name], baseline=_baseline(base, 2, n, 3, rng), steps=16)
    phi = np.asarray(att.phi)
    for j in dup[1:]:
        np.testing.assert_allclose(phi[:, j], phi[:, dup[0]], rtol=1e-5, atol=1e-8)
    pf = np.asarray(att.phi_features)
    for j in dup[1:]:
        np.testing.assert_allclose(pf[:, j], pf[:, dup[0]], rtol=1e-5, atol=1e-8)


def test_gini_ties_symmetric_in_closed_form_and_path(rng):
    z = np.repeat(rng.lognormal(size=(1, 10, 3)), 5, axis=1).astype(np.float32)  # 5-way ties
    for method in ("closed_form", "path"):
        phi = np.asarray(jaxattr.attribute(z, "gini", method=method, steps=8).phi[0])
        np.testing.assert_allclose(
            phi.reshape(10, 5), phi.reshape(10, 5)[:, :1].repeat(5, 1), rtol=1e-6
        )


@functools.cache
def _dummy_value(used):
    """A value that reads only the first ``used`` agents."""

    def f(x):
        return jnp.log1p(jnp.prod(jnp.mean(x[:used], axis=0))) + jnp.var(x[:used, 0])

    return f


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.sampled_from([4, 21]),
    base=st.sampled_from(["zero", "vector", "per_agent"]),
)
def test_dummy(seed, n, base):
    """A value function that ignores some agents gives them exactly 0."""
    rng = np.random.default_rng(seed)
    z = rng.lognormal(size=(1, n, 3)).astype(np.float32)
    used = n // 2
    f = _dummy_value(used)  # one function per n: examples of one shape share a compile
    att = jaxattr.attribute(z, f, baseline=_baseline(base, 1, n, 3, rng), steps=8)
    assert np.all(np.asarray(att.phi)[:, used:] == 0.0)
    assert np.all(np.asarray(att.phi_features)[:, used:] == 0.0)


@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    a=st.floats(-3, 3),
    b=st.floats(-3, 3),
    pair=st.sampled_from(
        [
            ("heat", "variance"),
            ("linear", "gini"),
            ("heat", "softplus_mix"),
            ("meanfield_sqrt", "variance"),
        ]
    ),
    method=st.sampled_from(["auto", "path"]),
)
def test_linearity(seed, a, b, pair, method):
    """phi of a·f + b·g equals a·phi_f + b·phi_g (closed forms, path, and mixed)."""
    rng = np.random.default_rng(seed)
    z = rng.lognormal(size=(2, 30, 3)).astype(np.float32)
    f, g = (V.as_value(REGISTRY[p]) for p in pair)
    kw = dict(baseline="mean", steps=16, method=method)
    both = jaxattr.attribute(z, a * f + b * g, **kw)
    att_f, att_g = jaxattr.attribute(z, f, **kw), jaxattr.attribute(z, g, **kw)
    ref = a * np.asarray(att_f.phi) + b * np.asarray(att_g.phi)
    np.testing.assert_allclose(
        np.asarray(both.phi), ref, rtol=1e-4, atol=1e-5 * (np.abs(ref).max() + 1e-3)
    )
    np.testing.assert_allclose(
        np.asarray(both.delta),
        a * np.asarray(att_f.delta) + b * np.asarray(att_g.delta),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("name", ["linear", "heat", "variance", "gini"])
def test_efficiency_at_full_scale(name):
    """At N = 1,671,587 each closed form's efficiency error is <= 1e-5 (float32)."""
    rng = np.random.default_rng(3)
    z = rng.lognormal(mean=0.0, sigma=1.0, size=(1, 1_671_587, 3)).astype(np.float32)
    att = jaxattr.attribute(z, name, method="closed_form")
    assert att.max_efficiency_error() <= 1e-5, att
