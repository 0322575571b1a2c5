"""Reference estimators of the Shapley family (jaxattr.shapley) against independent
brute-force definitions, closed forms and their own statistical claims."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from shapley_references import brute_force

import jaxattr
from jaxattr import shapley
from jaxattr.shapley._estimators import _shapley_round


def _pairwise_max(z):
    """A generic (not mean-field) f: a smooth max of the composites plus a product term."""
    s = jnp.sum(z, axis=1)
    return jax.nn.logsumexp(3.0 * s) / 3.0 + jnp.prod(jnp.mean(z, axis=0))


# One registry drives the cross-checks: adding a value function is one row.
VALUES = {
    "linear": jaxattr.values.linear(),
    "heat": jaxattr.values.heat(),
    "variance": jaxattr.values.variance(),
    "gini": jaxattr.values.gini(),
    "softmax": jaxattr.values.as_value(_pairwise_max),
    "deepset": jaxattr.values.mean_field(
        lambda x: jnp.tanh(x), lambda m: jnp.sum(m**2), name="deepset"
    ),
}


@pytest.fixture(autouse=True, scope="module")
def x64():
    # The global flag, not the jax.enable_x64 context: gini's host-callback ranks run on
    # another thread, where the context does not reach (float32 comes back).
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", prev)


def _closed_form(value, z, baseline):
    att = jaxattr.attribute(np.asarray(z), value, baseline=baseline, method="closed_form")
    return np.asarray(att.phi[0])


# ------------------------------------------------------------------------ exact


@pytest.mark.parametrize("name", list(VALUES))
def test_exact_equals_brute_force(name, rng):
    value = VALUES[name]
    n = 6 if name == "softmax" else 7
    z = rng.random((n, 3))
    b = rng.random((n, 3)) * 0.3  # per-agent baseline: the general game
    for kind, fn in (("shapley", shapley.exact_shapley), ("banzhaf", shapley.exact_banzhaf)):
        ref = brute_force(value, z, b, kind)
        np.testing.assert_allclose(fn(value, z, b), ref, rtol=0, atol=1e-6)


def test_exact_zero_baseline_n8(rng):
    z = rng.random((8, 3))
    value = VALUES["heat"]
    ref = brute_force(value, z, np.zeros(3), "shapley")
    np.testing.assert_allclose(shapley.exact_shapley(value, z), ref, atol=1e-6)
    np.testing.assert_allclose(shapley.exact_shapley(value, z, route="generic"), ref, atol=1e-6)


def test_exact_shapley_is_efficient(rng):
    z = rng.random((10, 3))
    for name in ("linear", "heat", "gini", "softmax"):
        res = shapley.exact_shapley(VALUES[name], z, "mean", return_result=True)
        assert res.efficiency_error < 1e-10
        assert res.stopped_by == "exact" and res.n_evaluations == 2**10


@pytest.mark.parametrize("n", [4, 12])
@pytest.mark.parametrize("baseline", ["zero", "mean", "vector"])
def test_variance_shapley_equals_aumann_shapley(n, baseline, rng):
    """Variance is quadratic: the game's Shapley value equals the Aumann–Shapley value."""
    z = rng.normal(size=(n, 3))
    b = rng.normal(size=3) if baseline == "vector" else baseline
    ref = _closed_form("variance", z, b)
    np.testing.assert_allclose(shapley.exact_shapley("variance", z, b), ref, atol=1e-6)
    for m in (2, 10):  # antithetic pairs are exact for pairwise games, whatever M
        phi = shapley.sampled_shapley(
            "variance", z, b, key=jax.random.key(m), n_permutations=m, antithetic=True
        )
        np.testing.assert_allclose(phi, ref, atol=1e-6)


def test_linear_every_method_returns_closed_form(rng):
    z = rng.random((9, 3))
    b = rng.random(3)
    ref = _closed_form("linear", z, b)
    key = jax.random.key(0)
    lin_generic = jaxattr.values.as_value(lambda x: jnp.mean(jnp.sum(x, axis=1)))
    for value in (VALUES["linear"], lin_generic):
        outs = {
            "exact_shapley": shapley.exact_shapley(value, z, b),
            "exact_banzhaf": shapley.exact_banzhaf(value, z, b),
            "sampled_shapley": shapley.sampled_shapley(value, z, b, key=key, n_permutations=3),
            "antithetic": shapley.sampled_shapley(
                value, z, b, key=key, n_permutations=4, antithetic=True
            ),
            "banzhaf_marginal": shapley.sampled_banzhaf(
                value, z, b, key=key, n_samples=3, estimator="marginal"
            ),
            "leave_one_out": shapley.leave_one_out(value, z, b),
        }
        for name, phi in outs.items():
            np.testing.assert_allclose(phi, ref, atol=1e-12, err_msg=name)


def test_msr_banzhaf_unbiased_on_linear(rng):
    """MSR is unbiased but not exact on additive games: the error sits within its stderr."""
    z = rng.random((9, 3))
    ref = _closed_form("linear", z, "zero")
    res = shapley.sampled_banzhaf(
        "linear", z, key=jax.random.key(3), n_samples=4000, estimator="msr", return_result=True
    )
    assert np.all(np.abs(np.asarray(res.phi) - ref) < 5 * np.asarray(res.stderr))
    assert res.estimator == "msr" and res.n_evaluations == 4000


# ------------------------------------------------------------- routes and LOO


@pytest.mark.slow  # ~11 s of compiling; CI runs -m slow
def test_mean_field_route_equals_generic_route(rng):
    value = VALUES["deepset"]
    z = rng.random((11, 3))
    b = rng.random((11, 3)) * 0.5
    key = jax.random.key(7)
    for fn, kw in (
        (shapley.exact_shapley, {}),
        (shapley.exact_banzhaf, {}),
        (shapley.leave_one_out, {}),
        (shapley.sampled_shapley, {"key": key, "n_permutations": 5}),
        (shapley.sampled_banzhaf, {"key": key, "n_samples": 5, "estimator": "marginal"}),
        (shapley.sampled_banzhaf, {"key": key, "n_samples": 50, "estimator": "msr"}),
    ):
        np.testing.assert_allclose(
            fn(value, z, b, route="mean-field", **kw),
            fn(value, z, b, route="generic", **kw),
            atol=1e-10,
            err_msg=fn.__name__,
        )


@pytest.mark.parametrize("name", ["heat", "gini", "softmax"])
def test_leave_one_out_definition(name, rng):
    value = VALUES[name]
    z = rng.random((6, 3))
    f = jax.jit(value)
    ref = np.array(
        [float(f(z)) - float(f(np.where(np.arange(6)[:, None] == i, 0.0, z))) for i in range(6)]
    )
    np.testing.assert_allclose(shapley.leave_one_out(value, z), ref, atol=1e-12)


# --------------------------------------------------------------- sampled Shapley


def test_sampled_shapley_efficient_and_reproducible(rng):
    z = rng.random((40, 3))
    for name in ("heat", "gini"):
        res = shapley.sampled_shapley(
            name, z, key=jax.random.key(1), n_permutations=7, return_result=True
        )
        assert res.efficiency_error < 1e-10  # every permutation telescopes to delta
        again = shapley.sampled_shapley(name, z, key=jax.random.key(1), n_permutations=7)
        np.testing.assert_array_equal(res.phi, again)
        other = shapley.sampled_shapley(name, z, key=jax.random.key(2), n_permutations=7)
        assert not np.allclose(res.phi, other)


def test_sampled_shapley_error_rate_and_coverage(rng):
    """Error falls as M^-1/2; the reported stderr covers the true error (95% interval)."""
    n = 14
    z = rng.lognormal(size=(n, 3))
    value = VALUES["heat"]
    exact = np.asarray(shapley.exact_shapley(value, z))
    ms = [25, 100, 400, 1600]
    rms = []
    for m in ms:
        errs = [
            np.asarray(
                shapley.sampled_shapley(value, z, key=jax.random.key(100 * m + r), n_permutations=m)
            )
            - exact
            for r in range(12)
        ]
        rms.append(np.sqrt(np.mean(np.square(errs))))
    slope = np.polyfit(np.log(ms), np.log(rms), 1)[0]
    assert -0.6 <= slope <= -0.4, (slope, rms)

    covered = []
    for r in range(10):
        res = shapley.sampled_shapley(
            value, z, key=jax.random.key(r), n_permutations=200, return_result=True
        )
        covered.append(np.abs(np.asarray(res.phi) - exact) <= 1.96 * np.asarray(res.stderr))
    assert np.mean(covered) >= 0.9, np.mean(covered)


def test_stopping_rules(rng):
    z = rng.lognormal(size=(30, 3))
    key = jax.random.key(0)
    res = shapley.sampled_shapley(
        "heat",
        z,
        key=key,
        n_permutations=100_000,
        target_stderr=5e-3,
        check_every=20,
        return_result=True,
    )
    assert res.stopped_by == "target_stderr"
    assert float(jnp.max(res.stderr)) <= 5e-3 and res.n_samples < 100_000
    res = shapley.sampled_shapley(
        "heat", z, key=key, n_permutations=None, max_evaluations=31 * 45, return_result=True
    )
    assert res.stopped_by == "max_evaluations" and res.n_samples == 45
    assert res.n_evaluations <= 31 * 45
    res = shapley.sampled_shapley(
        "heat", z, key=key, n_permutations=None, max_time=0.0, check_every=10, return_result=True
    )
    assert res.stopped_by == "max_time" and res.n_samples == 10
    res = shapley.sampled_banzhaf(
        "gini",
        z,
        key=key,
        n_samples=10_000,
        target_stderr=2e-2,
        max_time=60.0,
        check_every=100,
        return_result=True,
    )
    assert res.stopped_by == "target_stderr" and res.estimator == "msr"
    with pytest.raises(ValueError, match="target_stderr alone may never be reached"):
        shapley.sampled_shapley("heat", z, key=key, n_permutations=None, target_stderr=1e-3)
    with pytest.raises(ValueError, match="max_evaluations=5 is below the 31"):
        shapley.sampled_shapley("heat", z, key=key, max_evaluations=5)


def test_no_recompile_on_second_call(rng):
    z = rng.random((25, 3))
    shapley.sampled_shapley("heat", z, key=jax.random.key(0), n_permutations=9)
    before = _shapley_round._cache_size()
    shapley.sampled_shapley("heat", z * 2, key=jax.random.key(1), n_permutations=9)
    assert _shapley_round._cache_size() == before


# ------------------------------------------------------------------- errors


def test_errors(rng):
    z = rng.random((5, 3))
    with pytest.raises(ValueError, match="explicit random key"):
        shapley.sampled_shapley("heat", z, key=None)
    with pytest.raises(TypeError, match="key must be a jax.random key"):
        shapley.sampled_banzhaf("heat", z, key=0)
    with pytest.raises(ValueError, match=r"N=26 agents means 2\^26.*force=True"):
        shapley.exact_shapley("heat", rng.random((26, 3)))
    with pytest.raises(ValueError, match="refused above 30"):
        shapley.exact_banzhaf("heat", rng.random((31, 3)), force=True)
    with pytest.raises(ValueError, match=r"z must have shape \(N, d\)"):
        shapley.leave_one_out("heat", rng.random((2, 5, 3)))
    with pytest.raises(ValueError, match=r"baseline must have shape \(d,\)=\(3,\)"):
        shapley.leave_one_out("heat", z, np.zeros(4))
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN at agent 3, feature 1"):
        shapley.exact_shapley("heat", bad)
    with pytest.raises(ValueError, match="has no mean-field decomposition"):
        shapley.leave_one_out("gini", z, route="mean-field")
    with pytest.raises(ValueError, match="estimator must be one of"):
        shapley.sampled_banzhaf("heat", z, key=jax.random.key(0), estimator="kernel")
    with pytest.raises(ValueError, match="was in every or in none .* raise n_samples"):
        shapley.sampled_banzhaf("gini", rng.random((60, 3)), key=jax.random.key(0), n_samples=2)
    with pytest.raises(TypeError, match="must be floating point"):
        shapley.leave_one_out("heat", np.ones((4, 3), np.int64))


def test_values_with_array_fields_are_traced_not_hashed(rng):
    """A combination (its coefficients an array field) goes through the exact and sampled
    estimators: Shapley values are linear in the value, and a new coefficient reuses the
    compiled program (the value's arrays are traced, as in the core)."""
    from jaxattr import values as V
    from jaxattr.shapley._estimators import _exact

    z = rng.lognormal(size=(6, 3)).astype(np.float32)
    heat, var = shapley.exact_shapley(V.heat(), z), shapley.exact_shapley(V.variance(), z)
    got = shapley.exact_shapley(0.5 * V.heat() + 2.0 * V.variance(), z)
    np.testing.assert_allclose(got, 0.5 * heat + 2.0 * var, rtol=1e-4, atol=1e-6)
    before = _exact._cache_size()
    shapley.exact_shapley(1.5 * V.heat() + 0.25 * V.variance(), z)
    assert _exact._cache_size() == before
    combo = 0.5 * V.heat() + 2.0 * V.variance()
    sampled = shapley.sampled_shapley(combo, z, key=jax.random.key(0), n_permutations=64)
    assert np.all(np.isfinite(np.asarray(sampled)))
    # every permutation's marginals sum to v(N) - v(empty), so the estimate is efficient
    np.testing.assert_allclose(np.sum(sampled), np.sum(got), rtol=1e-6)
