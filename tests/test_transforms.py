"""``attribute`` inside JAX programs: jit, vmap, scan and grad against the eager call, and
sweeps of parameters and weights without recompiling."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxattr
from jaxattr import deepset
from jaxattr import values as V
from jaxattr._core import _run

CLOSED = ["linear", "heat", "variance", "gini"]


class Coupled(V.ValueFunction):
    """A user's Module value: ``a mean(z_0²) + log1p(mean(z_1) mean(z_2))``, ``a`` traced."""

    a: jax.Array
    name = "coupled"

    def fm(self, zt, mask=None):
        return self.a * jnp.mean(zt[0] ** 2) + jnp.log1p(jnp.mean(zt[1]) * jnp.mean(zt[2]))


def _model(seed=0):
    cfg = deepset.DeepSetConfig(d=3, width=8, depth=1, latent=4, readout_width=8, readout_depth=1)
    return deepset.init_deepset(jax.random.key(seed), cfg)


def _values():
    return {
        **{v: V.get(v) for v in CLOSED},
        "module (path)": Coupled(jnp.asarray(1.5, jnp.float32)),
        "deepset (path)": deepset.DeepSetValue(_model()),
    }


@pytest.fixture(scope="module")
def z():
    return np.random.default_rng(3).lognormal(size=(3, 40, 3)).astype(np.float32)


def _close(a, b, rtol=2e-5):
    np.testing.assert_allclose(
        np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol * float(np.max(np.abs(np.asarray(b))))
    )


@pytest.mark.parametrize("name", list(_values()))
def test_jit_equals_eager(z, name):
    v = _values()[name]
    eager = jaxattr.attribute(z, v)
    traced = jax.jit(lambda x: jaxattr.attribute(x, v))(z)  # the whole result out of jit
    assert isinstance(traced, jaxattr.Attribution) and traced.method == eager.method
    for field in ("phi", "delta", "value_features", "value_baseline"):
        _close(getattr(traced, field), getattr(eager, field))
    assert int(traced.status_code) == jaxattr.Status.OK
    assert float(jnp.max(traced.efficiency_error)) < 1e-4


@pytest.mark.parametrize("name", list(_values()))
def test_vmap_over_panels_equals_a_loop(z, name):
    v = _values()[name]
    stack = np.stack([z, z * 1.7, z[:, ::-1] + 0.3])
    batched = jax.vmap(lambda x: jaxattr.attribute(x, v).phi)(stack)
    for b in range(stack.shape[0]):
        _close(batched[b], jaxattr.attribute(stack[b], v).phi)


@pytest.mark.parametrize("feature_major", [False, True])
@pytest.mark.parametrize("name", CLOSED)
def test_ragged_batch_padded_with_a_mask_equals_each_panel(name, feature_major):
    """Panels of different N through pad_stack (either layout) and one vmapped call: each
    panel's phi and delta are its own eager call's; padding agents get exactly 0."""
    rng = np.random.default_rng(5)
    panels = [rng.lognormal(size=(3, n, 3)).astype(np.float32) for n in (40, 25, 33)]
    stack, mask = jaxattr.pad_stack(panels, feature_major=feature_major)
    assert stack.shape == ((3, 3, 3, 40) if feature_major else (3, 3, 40, 3))
    assert mask.sum(1).tolist() == [40, 25, 33]
    v = V.get(name)
    out = jax.jit(
        jax.vmap(lambda x, m: jaxattr.attribute(x, v, mask=m, feature_major=feature_major))
    )(stack, mask)
    assert np.all(np.asarray(out.status_code) == jaxattr.Status.OK)
    for b, p in enumerate(panels):
        ref = jaxattr.attribute(p, v)
        n = p.shape[1]
        _close(out.phi[b, :, :n], ref.phi)
        _close(out.delta[b], ref.delta)
        assert np.all(np.asarray(out.phi[b, :, n:]) == 0.0)


def test_pad_stack_names_what_does_not_fit():
    ok = np.ones((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match="no panels"):
        jaxattr.pad_stack([])
    with pytest.raises(ValueError, match=r"panel 1 has \(T, d\) = \(3, 3\)"):
        jaxattr.pad_stack([ok, np.ones((3, 5, 3))])
    with pytest.raises(ValueError, match=r"panel 1 has \(T, d\) = \(2, 4\)"):
        jaxattr.pad_stack([ok, np.ones((2, 5, 4))], feature_major=True)
    with pytest.raises(ValueError, match="panel 0 has N = 5 > n_agents = 4"):
        jaxattr.pad_stack([ok], n_agents=4)


def test_vmap_over_a_value_parameter(z):
    a = jnp.asarray([0.5, 1.0, 2.0], jnp.float32)
    jaxattr.attribute(z, Coupled(a[0]), steps=16)  # an eager call of the same structure first
    batched = jax.vmap(lambda ai: jaxattr.attribute(z, Coupled(ai), steps=16).phi)(a)
    for i in range(3):
        _close(batched[i], jaxattr.attribute(z, Coupled(a[i]), steps=16).phi)


def test_vmap_over_trained_models(z):
    models = [_model(s) for s in range(3)]
    jaxattr.attribute(z, deepset.DeepSetValue(models[0]), steps=8)  # an eager call first
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *models)
    batched = jax.vmap(lambda m: jaxattr.attribute(z, deepset.DeepSetValue(m), steps=8).phi)(
        stacked
    )
    for i, m in enumerate(models):
        _close(batched[i], jaxattr.attribute(z, deepset.DeepSetValue(m), steps=8).phi)


@pytest.mark.parametrize("name", ["heat", "gini", "module (path)"])
def test_scan_over_time_equals_eager(z, name):
    v = _values()[name]

    def body(total, zt):
        att = jaxattr.attribute(zt, v)  # one (N, d) step: T = 1
        return total + att.phi[0], att.delta[0]

    total, deltas = jax.lax.scan(body, jnp.zeros(z.shape[1], jnp.float32), z)
    eager = jaxattr.attribute(z, v)
    _close(total, eager.phi.sum(axis=0))
    _close(deltas, eager.delta)


@pytest.mark.parametrize("name", list(_values()))
def test_grad_through_phi_matches_finite_differences(name):
    """Reverse-mode gradients of a weighted sum of phi, against central differences in
    float64 (continuous features: no ties, so gini's ranks are locally constant)."""
    with jax.enable_x64(True):
        v = _values()[name]
        if isinstance(v, deepset.DeepSetValue):
            v = deepset.DeepSetValue(
                jax.tree.map(
                    lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, v.model
                )
            )
        elif isinstance(v, Coupled):
            v = Coupled(jnp.asarray(1.5, jnp.float64))
        rng = np.random.default_rng(7)
        z = jnp.asarray(rng.lognormal(size=(2, 12, 3)))
        w = jnp.asarray(rng.normal(size=(2, 12)))

        def loss(x):
            return jnp.sum(jaxattr.attribute(x, v, steps=8).phi * w)

        check_grads(loss, (z,), order=1, modes=["rev"], eps=1e-6, atol=1e-6, rtol=1e-5)


def test_grad_with_respect_to_a_value_parameter():
    with jax.enable_x64(True):
        z = jnp.asarray(np.random.default_rng(8).lognormal(size=(2, 10, 3)))

        def loss(a):
            return jnp.sum(jaxattr.attribute(z, Coupled(a), steps=8).phi ** 2)

        check_grads(loss, (jnp.asarray(1.3),), order=1, modes=["rev"], eps=1e-6)


def test_attribution_is_a_pytree(z):
    att = jaxattr.attribute(z, "heat")
    leaves, treedef = jax.tree_util.tree_flatten(att)
    back = jax.tree_util.tree_unflatten(treedef, leaves)
    assert isinstance(back, jaxattr.Attribution)
    for field in ("phi", "delta", "efficiency_error", "status_code"):
        np.testing.assert_array_equal(
            np.asarray(getattr(back, field)), np.asarray(getattr(att, field))
        )
    assert back.feature_names == att.feature_names and back.method == att.method
    np.testing.assert_array_equal(np.asarray(back.phi_features), np.asarray(att.phi_features))


class _Planted(V.Heat):
    """Heat whose closed-form gradient is 0.1% too large: an efficiency gap."""

    name = "heat-planted"

    @property
    def closed_form(self):
        cf = super().closed_form
        return V.ClosedForm(
            cf.aggregates, cf.finish, lambda *a: 1.001 * cf.gradient(*a), baselines=cf.baselines
        )


def test_efficiency_gap_under_jit_raises_when_run_or_comes_back_in_status(z):
    f = jax.jit(lambda x: jaxattr.attribute(x, _Planted(), efficiency_tol=1e-4).phi)
    with pytest.raises(Exception, match="efficiency gap above efficiency_tol"):
        jax.block_until_ready(f(z))
    g = jax.jit(
        lambda x: jaxattr.attribute(x, _Planted(), efficiency_tol=1e-4, throw=False).status_code
    )
    assert int(g(z)) == jaxattr.Status.EFFICIENCY_GAP
    # the same call eagerly: the message names the step and what to do
    with pytest.raises(ValueError, match=r"efficiency gap .* at time step t=\d+ exceeds"):
        jaxattr.attribute(z, _Planted(), efficiency_tol=1e-4)


def test_nonfinite_input_under_jit_is_a_status_not_a_trace_error(z):
    bad = z.copy()
    bad[1, 5, 2] = np.nan
    code = jax.jit(lambda x: jaxattr.attribute(x, "heat", throw=False).status_code)(bad)
    assert int(code) == jaxattr.Status.NONFINITE_VALUE
    batched = jax.vmap(lambda x: jaxattr.attribute(x, "heat", throw=False).status_code)(
        np.stack([z, bad])
    )
    assert batched.tolist() == [jaxattr.Status.OK, jaxattr.Status.NONFINITE_VALUE]


def test_sweeps_reuse_one_program(z):
    """A new parameter value, a new coefficient of a combination, a retrained network:
    the compiled core is reused (plain lambdas would compile once each)."""
    jaxattr.attribute(z, Coupled(jnp.asarray(1.0)), steps=4)
    jaxattr.attribute(z, 0.5 * V.heat() + 2.0 * V.linear())
    jaxattr.attribute(z, deepset.DeepSetValue(_model(0)), steps=4)
    before = _run._cache_size()
    for a in (0.5, 2.0, 3.0):
        jaxattr.attribute(z, Coupled(jnp.asarray(a)), steps=4)
        jaxattr.attribute(z, a * V.heat() + 2.0 * V.linear())
    jaxattr.attribute(z, deepset.DeepSetValue(_model(5)), steps=4)
    assert _run._cache_size() == before


def test_combination_coefficients_are_exact(z):
    combo = jaxattr.attribute(z, 0.5 * V.heat() - 2.0 * V.variance())
    parts = 0.5 * np.asarray(jaxattr.attribute(z, "heat").phi) - 2.0 * np.asarray(
        jaxattr.attribute(z, "variance").phi
    )
    _close(combo.phi, parts, rtol=1e-5)
