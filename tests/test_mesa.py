"""Mesa -> Panel, on Mesa's own Boltzmann-wealth example model."""

import numpy as np
import pytest

import jaxattr
from jaxattr import values
from jaxattr.data import from_mesa

pytest.importorskip("mesa")
pytest.importorskip("networkx")  # mesa.examples imports every example; one needs it
from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannWealth  # noqa: E402

N_AGENTS, STEPS, SEED = 200, 50, 42


def _gini(s: np.ndarray) -> float:
    """G = sum_ij |s_i - s_j| / (2 N^2 mean(s)), in float64."""
    s = s.astype(np.float64)
    n = s.size
    return float(np.abs(s[:, None] - s[None, :]).sum() / (2 * n * n * s.mean()))


@pytest.fixture(scope="module")
def run():
    """The model, and every agent's wealth read off the agents themselves after each step
    (not from the DataCollector), keyed by unique_id."""
    m = BoltzmannWealth(n=N_AGENTS, seed=SEED)
    seen = [{a.unique_id: a.wealth for a in m.agents}]
    for _ in range(STEPS):
        m.step()
        seen.append({a.unique_id: a.wealth for a in m.agents})
    return m, seen


def test_wealth_panel_equals_the_agents_and_mesa_gini(run):
    m, seen = run
    p = from_mesa(m, features=["Wealth"])
    assert p.shape == (STEPS + 1, N_AGENTS, 1) and p.feature_names == ["Wealth"]
    assert p.time_labels == list(range(STEPS + 1)) and p.meta == {"source": "mesa"}
    ids = sorted(seen[0])
    assert p.agent_ids.tolist() == ids
    want = np.array([[w[i] for i in ids] for w in seen], dtype=np.float32)
    np.testing.assert_array_equal(p.features[:, :, 0], want)
    gini = m.datacollector.get_model_vars_dataframe()["Gini"].to_numpy()
    assert gini.shape == (STEPS + 1,)
    ours = np.array([_gini(p.features[t, :, 0]) for t in range(p.T)])
    assert ours[0] == 0.0 and gini[0] == pytest.approx(0.0, abs=1e-12)  # all hold 1
    np.testing.assert_allclose(ours, gini, rtol=0, atol=1e-6)
    assert ours[-1] > 0.3  # the run did become unequal


def test_gini_coefficient_attribution_equals_mesa_gini_every_step(run):
    """The acceptance run: every collected row (the all-equal start included) attributed
    with the Gini coefficient against equality (its default baseline, the mean): the value
    is Mesa's reported Gini to 1e-6 and the agents' attributions sum to it to 1e-5."""
    m, _ = run
    p = from_mesa(m, features=["Wealth"])
    att = jaxattr.attribute(p, values.gini_coefficient())
    gini = m.datacollector.get_model_vars_dataframe()["Gini"].to_numpy()
    assert att.status == "ok" and att.method == "closed_form"
    np.testing.assert_allclose(np.asarray(att.value_features), gini, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(att.value_baseline), 0.0, atol=1e-7)
    np.testing.assert_allclose(att.by_time(), gini, rtol=0, atol=1e-5)
    assert np.all(np.asarray(att.phi)[0] == 0.0)  # no inequality at the start: a valid zero
    # against the path integral of the same value (an independent route)
    path = jaxattr.attribute(
        p, values.gini_coefficient(), method="path", steps=64, rule="gauss-legendre"
    )
    np.testing.assert_allclose(
        np.asarray(path.phi)[1:],
        np.asarray(att.phi)[1:],
        rtol=0,
        atol=2e-4 * float(np.abs(np.asarray(att.phi)).max()),
    )


def test_datacollector_directly_and_errors(run):
    m, _ = run
    a = from_mesa(m.datacollector)
    assert a.equals(from_mesa(m, features="Wealth"))
    with pytest.raises(ValueError, match=r"\['wealth'\] are not agent reporters.*\['Wealth'\]"):
        from_mesa(m, features=["wealth"])
    with pytest.raises(TypeError, match="mesa Model with a datacollector"):
        from_mesa(object())


def test_agents_that_leave_need_fill():
    m = BoltzmannWealth(n=20, seed=1)
    m.step()
    gone = sorted(m.agents, key=lambda a: a.unique_id)[3]
    gone.remove()
    m.step()
    with pytest.raises(ValueError, match=rf"\(2, {gone.unique_id}\).*fill="):
        from_mesa(m)
    p = from_mesa(m, fill=0.0)
    i = p.agent_ids.tolist().index(gone.unique_id)
    assert p.features[2, i, 0] == 0.0 and p.N == 20 and p.T == 3


def test_cli_route(tmp_path, run):
    import jaxattr
    from jaxattr._cli import main

    out = tmp_path / "w.parquet"
    assert (
        main(
            [
                "data",
                "from-mesa",
                "mesa.examples.basic.boltzmann_wealth_model.model:BoltzmannWealth",
                "--steps",
                str(STEPS),
                "--kwargs",
                f'{{"n": {N_AGENTS}, "seed": {SEED}}}',
                "--features",
                "Wealth",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    m, _ = run  # the same model, seed and steps: the same panel
    assert jaxattr.read_panel(out).equals(from_mesa(m, ["Wealth"]))
    assert main(["data", "from-mesa", "nomodule", "--steps", "1", "--out", str(out)]) == 2
