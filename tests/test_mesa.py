"""Mesa -> Panel, on Mesa's own Boltzmann-wealth example model."""

import numpy as np
import pytest

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


def test_attribution_of_the_wealth_panel_sums_to_mesa_gini(run):
    """Wealth is conserved in the model (N units among N agents: mean 1 at every step), so
    Mesa's G equals half the mean absolute difference ``values.gini()``; against the mean
    baseline (everyone holds 1: no inequality) sum(phi)/2 is G at every step, the all-equal
    start (a valid zero, not an error) included. (With ``values.gini_coefficient()`` the
    factor goes.)"""
    import jaxattr

    m, _ = run
    p = from_mesa(m, ["Wealth"])
    np.testing.assert_array_equal(p.features.mean(axis=1)[:, 0], 1.0)
    att = jaxattr.attribute(p, jaxattr.values.gini(), baseline="mean")
    gini = m.datacollector.get_model_vars_dataframe()["Gini"].to_numpy()
    phi = np.asarray(att.phi, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(att.value_features) / 2, gini, rtol=0, atol=1e-6)
    np.testing.assert_allclose(phi.sum(axis=1) / 2, gini, rtol=0, atol=1e-5)
    assert phi[0].tolist() == [0.0] * N_AGENTS
    assert np.isfinite(np.asarray(att.efficiency_error)).all()


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
    assert main(["data", "from-mesa",
                 "mesa.examples.basic.boltzmann_wealth_model.model:BoltzmannWealth",
                 "--steps", str(STEPS), "--kwargs", f'{{"n": {N_AGENTS}, "seed": {SEED}}}',
                 "--features", "Wealth", "--out", str(out), "--quiet"]) == 0
    m, _ = run  # the same model, seed and steps: the same panel
    assert jaxattr.read_panel(out).equals(from_mesa(m, ["Wealth"]))
    assert main(["data", "from-mesa", "nomodule", "--steps", "1", "--out", str(out)]) == 2
