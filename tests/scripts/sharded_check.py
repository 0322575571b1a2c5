"""Sharded == single device, run with 8 forced CPU devices (set before jax is imported).

    python tests/scripts/sharded_check.py           # every case (tests/test_sharding.py, -m slow)
    python tests/scripts/sharded_check.py --quick   # one case per mechanism (default suite)

``--quick`` keeps each value function's closed form on the mesh (zero baseline), one path
integral (heat), the blocked variance sums, a jax.Array that stays sharded, a user's own
values and the refused unpadded callable; the full run adds the mean and vector baselines,
the variance and gini path integrals and gini on a pre-sharded array.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import jaxattr  # noqa: E402

assert jax.device_count() == 8, jax.devices()
mesh = Mesh(np.array(jax.devices()), ("agents",))
QUICK = "--quick" in sys.argv[1:]
rng = np.random.default_rng(0)


def softplus_total(x):
    return jnp.mean(jax.nn.softplus(x @ jnp.array([1.0, -0.5, 0.25], x.dtype))) ** 2


cases = [
    ("linear", "auto"),
    ("heat", "auto"),
    ("variance", "auto"),
    ("gini", "auto"),
    ("heat", "path"),
    ("variance", "path"),
    ("gini", "path"),
]
if QUICK:
    cases = cases[:5]
for n in (1003,):  # needs zero-weight padding agents; 1024 (even) is checked below
    z = rng.lognormal(size=(3, n, 3)).astype(np.float32)
    for name, method in cases:
        baselines = (
            ("zero", "mean")
            if method == "auto"
            else ("zero", np.array([0.1, 0.0, 0.2], np.float32))
        )
        for baseline in baselines[:1] if QUICK else baselines:
            ref = jaxattr.attribute(z, name, method=method, baseline=baseline, steps=12)
            got = jaxattr.attribute(z, name, method=method, baseline=baseline, steps=12, mesh=mesh)
            # reductions are reassociated across shards: float32 roundoff relative to max|phi|
            tol = 2e-5 * float(np.abs(np.asarray(ref.phi)).max())
            np.testing.assert_allclose(
                np.asarray(got.phi),
                np.asarray(ref.phi),
                rtol=2e-5,
                atol=tol,
                err_msg=f"{name} {method} {n} {baseline}",
            )
            scale = float(np.abs(np.asarray(ref.value_features)).max())
            np.testing.assert_allclose(
                np.asarray(got.delta), np.asarray(ref.delta), rtol=1e-5, atol=1e-6 * scale
            )
            np.testing.assert_allclose(
                np.asarray(got.phi_features), np.asarray(ref.phi_features), rtol=2e-5, atol=tol
            )
            assert got.phi.shape == (3, n)
            assert got.max_efficiency_error() < 1e-3, (name, method, got)
    print("mesh ok", n)

# Variance's closed form sums in blocks of 1024 agents from 8192 agents on (padded).
n = 20_003
z = rng.lognormal(size=(2, n, 3)).astype(np.float32)
for baseline in ("zero",) if QUICK else ("zero", "mean"):
    ref = jaxattr.attribute(z, "variance", baseline=baseline)
    got = jaxattr.attribute(z, "variance", baseline=baseline, mesh=mesh)
    tol = 2e-5 * float(np.abs(np.asarray(ref.phi)).max())
    np.testing.assert_allclose(np.asarray(got.phi), np.asarray(ref.phi), rtol=2e-5, atol=tol)
    np.testing.assert_allclose(np.asarray(got.delta), np.asarray(ref.delta), rtol=1e-5)
    assert got.max_efficiency_error() < 1e-5, got
print("blocked variance ok", n)

# A jax.Array already sharded over its agent axis stays sharded through the engine.
n = 1024
z = rng.lognormal(size=(2, n, 3)).astype(np.float32)
zs = jax.device_put(z, NamedSharding(mesh, P(None, "agents", None)))
for value in (
    ("heat", "variance", softplus_total) if QUICK else ("heat", "variance", "gini", softplus_total)
):
    ref = jaxattr.attribute(z, value, steps=10)
    got = jaxattr.attribute(zs, value, steps=10)
    tol = 2e-5 * float(np.abs(np.asarray(ref.phi)).max())
    np.testing.assert_allclose(np.asarray(got.phi), np.asarray(ref.phi), rtol=2e-5, atol=tol)
    if value != "gini":
        spec = got.phi.sharding.spec
        assert len(got.phi.sharding.device_set) == 8 and "agents" in str(spec), got.phi.sharding

# A user's own value functions (tests/user_values.py), closed form and mean-field, through
# attribute(mesh=...) and the feature-major runner on a sharded array with a padding mask.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jaxattr import attribute  # noqa: E402

n = 1003
z = rng.lognormal(size=(2, n, 3)).astype(np.float32)
fm = np.zeros((2, 3, 1008), np.float32)
fm[:, :, :n] = z.transpose(0, 2, 1)
fms = jax.device_put(fm, NamedSharding(mesh, P(None, None, "agents")))
pad = jax.device_put((np.arange(1008) < n).astype(np.float32), NamedSharding(mesh, P("agents")))
for spec in ("user_values:mean_square", "user_values:share_product"):
    ref = jaxattr.attribute(z, spec)
    tol = 2e-5 * float(np.abs(np.asarray(ref.phi)).max())
    got = jaxattr.attribute(z, spec, mesh=mesh)
    assert got.method == ref.method, (spec, got.method)
    np.testing.assert_allclose(np.asarray(got.phi), np.asarray(ref.phi), rtol=2e-5, atol=tol)
    fmr = attribute(fms, spec, mask=pad, feature_major=True)
    assert fmr.method == ref.method
    np.testing.assert_allclose(np.asarray(fmr.phi)[:, :n], np.asarray(ref.phi), rtol=2e-5, atol=tol)
    np.testing.assert_allclose(
        np.asarray(fmr.phi_features)[:, :n], np.asarray(ref.phi_features), rtol=2e-5, atol=tol
    )
    assert fmr.to_numpy()["phi"].shape == (2, 1008)
print("user values ok")

# A plain callable cannot be padded: clear error, not a wrong number.
try:
    jaxattr.attribute(rng.random((1, 1003, 3), dtype=np.float32), softplus_total, mesh=mesh)
except ValueError as e:
    assert "not divisible by the 8 devices" in str(e), e
else:
    raise SystemExit("expected an error for an unpadded callable")
print("ALL OK")
