"""Attribution.to_pandas / to_polars / to_arrow / to_xarray: phi round-trips exactly, with
the Panel's agent and step labels (or integer indices for an array input)."""

import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxattr
from jaxattr import values as V

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
xr = pytest.importorskip("xarray")

T, N = 3, 7
AGENT_IDS = np.array([f"did:plc:{c}{i}" for i, c in enumerate("qwertyu")])
DAYS = ["2026-04-08", "2026-04-09", "2026-04-10"]


@pytest.fixture(scope="module")
def features():
    return np.random.default_rng(3).lognormal(size=(T, N, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def panel_att(features):
    panel = jaxattr.Panel(features, agent_ids=AGENT_IDS, time_labels=DAYS)
    return jaxattr.attribute(panel, V.heat())


@pytest.fixture(scope="module")
def array_att(features):
    return jaxattr.attribute(features, V.heat())


def _long_to_phi(time, agent, phi, times, agents):
    """phi (T, N) from a long table's columns, checking every row's labels."""
    np.testing.assert_array_equal(np.asarray(time), np.repeat(times, len(agents)))
    np.testing.assert_array_equal(np.asarray(agent), np.tile(agents, len(times)))
    return np.asarray(phi).reshape(len(times), len(agents))


def _exact(got, att):
    want = np.asarray(att.phi)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_labels_come_from_the_panel_or_are_indices(panel_att, array_att):
    df = panel_att.to_pandas("wide")
    assert df.index.tolist() == DAYS and df.columns.tolist() == AGENT_IDS.tolist()
    df = array_att.to_pandas("wide")
    assert df.index.tolist() == [0, 1, 2] and df.columns.tolist() == list(range(N))
    # a Panel's default ids are the pseudonymised indices too
    att = jaxattr.attribute(jaxattr.Panel(np.asarray(panel_att.phi)[..., None] + 1), V.linear())
    assert att.to_pandas("wide").columns.tolist() == list(range(N))


@pytest.mark.parametrize("which", ["panel", "array"])
def test_pandas_round_trip(which, panel_att, array_att):
    att = panel_att if which == "panel" else array_att
    times = DAYS if which == "panel" else list(range(T))
    agents = AGENT_IDS if which == "panel" else np.arange(N)
    long = att.to_pandas()
    assert long.columns.tolist() == ["time", "agent", "phi"]
    _exact(_long_to_phi(long["time"], long["agent"], long["phi"].to_numpy(), times, agents), att)
    wide = att.to_pandas(layout="wide")
    assert wide.index.name == "time" and wide.columns.name == "agent"
    _exact(wide.to_numpy(), att)
    # the pivot of the long table is the wide one (pandas sorts its labels)
    pivot = long.pivot(index="time", columns="agent", values="phi")
    pd.testing.assert_frame_equal(
        pivot, wide.sort_index(axis=0).sort_index(axis=1), check_names=False
    )


@pytest.mark.parametrize("which", ["panel", "array"])
def test_polars_round_trip(which, panel_att, array_att):
    att = panel_att if which == "panel" else array_att
    times = DAYS if which == "panel" else list(range(T))
    agents = AGENT_IDS if which == "panel" else np.arange(N)
    long = att.to_polars()
    assert long.columns == ["time", "agent", "phi"]
    _exact(
        _long_to_phi(
            long["time"].to_numpy(), long["agent"].to_numpy(), long["phi"].to_numpy(), times, agents
        ),
        att,
    )
    wide = att.to_polars("wide")
    assert wide.columns == ["time", *[str(a) for a in agents]]
    assert wide["time"].to_list() == times
    _exact(wide.drop("time").to_numpy(), att)


@pytest.mark.parametrize("which", ["panel", "array"])
def test_arrow_round_trip(which, panel_att, array_att):
    att = panel_att if which == "panel" else array_att
    times = DAYS if which == "panel" else list(range(T))
    agents = AGENT_IDS if which == "panel" else np.arange(N)
    long = att.to_arrow()
    assert long.column_names == ["time", "agent", "phi"]
    _exact(
        _long_to_phi(
            long["time"].to_pylist(),
            long["agent"].to_pylist(),
            long["phi"].to_numpy(),
            times,
            agents,
        ),
        att,
    )
    wide = att.to_arrow(layout="wide")
    assert wide.column_names == ["time", *[str(a) for a in agents]]
    assert wide["time"].to_pylist() == times
    _exact(np.stack([wide[str(a)].to_numpy() for a in agents], axis=1), att)


@pytest.mark.parametrize("which", ["panel", "array"])
def test_xarray_round_trip(which, panel_att, array_att):
    att = panel_att if which == "panel" else array_att
    times = DAYS if which == "panel" else list(range(T))
    agents = AGENT_IDS if which == "panel" else np.arange(N)
    ds = att.to_xarray()
    assert ds["phi"].dims == ("time", "agent")
    _exact(ds["phi"].values, att)
    assert ds["time"].values.tolist() == times
    assert ds["agent"].values.tolist() == agents.tolist()
    np.testing.assert_array_equal(ds["delta"].values, np.asarray(att.delta))
    np.testing.assert_array_equal(ds["efficiency_error"].values, np.asarray(att.efficiency_error))
    assert ds.attrs["value"] == "heat" and ds.attrs["method"] == att.method
    # one agent's series by label
    sel = ds["phi"].sel(agent=agents[4]).values
    np.testing.assert_array_equal(sel, np.asarray(att.phi)[:, 4])


def test_agents_argument_overrides_the_labels(panel_att):
    mine = np.arange(100, 100 + N)
    assert panel_att.to_pandas("wide", agents=mine).columns.tolist() == mine.tolist()
    assert panel_att.to_xarray(agents=mine)["agent"].values.tolist() == mine.tolist()
    assert panel_att.to_polars(agents=mine)["agent"].to_list()[:N] == mine.tolist()
    with pytest.raises(ValueError, match=r"agents must have shape \(7,\)"):
        panel_att.to_arrow(agents=mine[:3])


def test_bad_layouts_and_labels(panel_att):
    with pytest.raises(ValueError, match="layout must be 'long' or 'wide'"):
        panel_att.to_pandas("tall")
    dup = np.array(["a", "b", "a", "c", "d", "e", "f"])
    for to in (panel_att.to_pandas, panel_att.to_polars, panel_att.to_arrow):
        with pytest.raises(ValueError, match="agents 0 and 2 share the label 'a'"):
            to("wide", agents=dup)
        assert len(to("long", agents=dup)) == T * N  # a long table allows them
    with pytest.raises(ValueError, match="labelled 'time'"):
        panel_att.to_polars("wide", agents=np.array(["time", *"bcdefg"]))


def test_batched_result_is_refused(features):
    att = jax.vmap(lambda z: jaxattr.attribute(z, V.heat()))(np.stack([features] * 2))
    with pytest.raises(ValueError, match="batched result"):
        att.to_pandas()
    one = jax.tree.map(lambda x: x[1], att)
    np.testing.assert_array_equal(one.to_pandas("wide").to_numpy(), np.asarray(att.phi[1]))


def test_labels_survive_jit(panel_att):
    """The agent ids are static and held by reference: a jitted function returning the
    result keeps them (and does not compare them element by element)."""
    out = jax.jit(lambda a: a)(panel_att)
    assert out.to_pandas("wide").columns.tolist() == AGENT_IDS.tolist()


@pytest.mark.parametrize(
    "method,lib,extra",
    [
        ("to_pandas", "pandas", "dataframes"),
        ("to_polars", "polars", "dataframes"),
        ("to_xarray", "xarray", "dataframes"),
        ("to_arrow", "pyarrow", None),
    ],
)
def test_missing_library_names_what_to_install(array_att, monkeypatch, method, lib, extra):
    monkeypatch.setitem(sys.modules, lib, None)  # import raises ImportError
    hint = f"jaxattr\\[{extra}\\]" if extra else f"pip install {lib}"
    with pytest.raises(ImportError, match=f"Attribution.{method} needs {lib}: .*{hint}"):
        getattr(array_att, method)()


def test_import_jaxattr_imports_no_table_library():
    code = (
        "import sys, jaxattr; print(sorted(m for m in ('pandas', 'polars', 'xarray', "
        "'pyarrow', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_agent_labels_compare_by_identity(features):
    """Two results of one Panel carry equal (identical) labels; another Panel's equal ids
    are a different object, and no comparison looks at the elements."""
    panel = jaxattr.Panel(features, agent_ids=AGENT_IDS)
    a, b = jaxattr.attribute(panel, V.heat()), jaxattr.attribute(panel, V.linear())
    assert a.agents == b.agents and hash(a.agents) == hash(b.agents)
    other = jaxattr.attribute(jaxattr.Panel(features, agent_ids=AGENT_IDS.copy()), V.heat())
    assert a.agents != other.agents
    assert jaxattr.attribute(features, V.heat()).agents is None
