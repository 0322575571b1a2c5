"""``jaxattr.values.load``: the one reader of value specs (CLI ``--value``, batch plans)."""

import jax
import numpy as np
import pytest

import jaxattr
from jaxattr.scale import run_batch
from jaxattr.scale._batch import parse_plan

USER_MODULE = """
import jax.numpy as jnp
import jaxattr

heat = jaxattr.values.heat()
Variance = jaxattr.values.Variance
def make():
    return jaxattr.values.gini()
def mean_sum(z):
    return jnp.mean(jnp.sum(z, axis=1))
def make_callable():
    return mean_sum
def make_int():
    return 3
class Plain:
    pass
number = 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "jx_user_values.py").write_text(USER_MODULE)
    (tmp_path / "jx_broken.py").write_text("import jx_not_installed_anywhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "jx_user_values"


def test_builtin_module_object_and_file(user_module, tmp_path):
    load = jaxattr.values.load
    assert load("heat") == jaxattr.values.heat()
    assert load(f"{user_module}:heat") == jaxattr.values.heat()
    assert load(f"{user_module}:Variance") == jaxattr.values.variance()  # a class
    assert load(f"{user_module}:make") == jaxattr.values.gini()  # a factory
    z = np.random.default_rng(0).random((50, 3), dtype=np.float32)
    for spec in (f"{user_module}:mean_sum", f"{user_module}:make_callable"):
        v = load(spec)
        assert isinstance(v, jaxattr.values.ValueFunction) and v.name == "mean_sum"
        np.testing.assert_allclose(float(v(z)), float(jaxattr.values.linear()(z)), rtol=1e-6)
    assert load("jaxattr.values:variance") == jaxattr.values.variance()
    from jaxattr import deepset

    cfg = deepset.DeepSetConfig(d=3, width=4, depth=1, latent=2)
    deepset.save(tmp_path / "m.deepset", deepset.init_deepset(jax.random.key(0), cfg))
    assert isinstance(load(str(tmp_path / "m.deepset")), deepset.DeepSetValue)


@pytest.mark.parametrize(
    "spec,match",
    [
        (
            "entropy",
            r"'entropy' is neither a built-in value function \(gini, gini_coefficient, "
            r"heat, linear, variance\), an existing file nor package.module:object",
        ),
        ("jx_no_such_module:f", "no module named 'jx_no_such_module'"),
        ("jx_user_values:nope", "module 'jx_user_values' has no attribute 'nope'"),
        ("jx_user_values:number", r"number \(of type int\) is not a value function"),
        ("jx_user_values:Plain", "the class Plain, not a value function"),
        ("jx_user_values:make_int", r"the factory make_int\(\) returned an object of type int"),
        ("jx_user_values:", "must be package.module:object"),
    ],
)
def test_clear_errors(user_module, spec, match):
    with pytest.raises(ValueError, match=f"^--value {match}" if spec == "entropy" else match):
        jaxattr.values.load(spec, what="--value")


def test_a_module_failing_on_its_own_import_is_not_blamed_on_the_spec(user_module):
    with pytest.raises(ModuleNotFoundError, match="jx_not_installed_anywhere"):
        jaxattr.values.load("jx_broken:f")


def test_batch_plan_takes_module_values(user_module, tmp_path):
    jaxattr.write_panel(
        jaxattr.Panel(np.random.default_rng(1).gamma(2.0, 1.0, size=(2, 40, 3)).astype(np.float32)),
        tmp_path / "a.parquet",
    )
    plan = parse_plan(
        {
            "panels": {"a": "a.parquet"},
            "jobs": [{"values": [f"{user_module}:heat", "heat"], "steps": 4}],
        },
        base_dir=str(tmp_path),
    )
    assert [j.id for j in plan.jobs] == [
        "a__jx_user_values-heat__zero__auto__K4",
        "a__heat__zero__auto__K4",
    ]
    rep = run_batch(plan, tmp_path / "out", per_agent=True, progress=False)
    assert not rep["failed"]
    with (
        np.load(tmp_path / "out" / "jobs" / "a__jx_user_values-heat__zero__auto__K4.npz") as a,
        np.load(tmp_path / "out" / "jobs" / "a__heat__zero__auto__K4.npz") as b,
    ):
        np.testing.assert_array_equal(a["phi"], b["phi"])
    with pytest.raises(ValueError, match=r"plan jobs\[0\]: value 'jx_user_values:nope'"):
        parse_plan({"panels": {"a": "a.parquet"}, "jobs": [{"values": f"{user_module}:nope"}]})
