"""``jaxattr reproduce``: every experiment of the paper that runs offline, and one report.

:func:`run_reproduce` runs the stages below on the synthetic full-scale world (or on
captured panels), caching each finished stage under ``<out>/stages/`` (a re-run resumes),
then writes ``<out>/tables/*.csv|md``, ``<out>/figures/*.png`` and ``<out>/reproduction.md``,
which puts every paper artefact (tables 1–21, Figure 1, Theorem 1, the timing claims) beside
ours with a verdict. Every number of the report comes from these stages; wall-clock values
and everything derived from them are written inside ``⟦ ⟧`` so that
:func:`strip_timings` / :func:`compare_reports` can compare two runs while ignoring them.

Stages: ``study`` (the cross-scale study, tables 2, 3, 13, 15–18), ``extras`` (anchors,
follower-only pool, top-k: tables 12, 14, App. N), ``baselines`` (Table 10), ``k_sweep``
(Table 5), ``closed_vs_path`` (Table 11), ``theorem1`` (App. A.3), ``axioms`` (Table 1),
``synthetic`` (tables 6–8, with the exact-Shapley truth and its brute-force check),
``scaling`` (tables 4 and 9), ``scenarios`` (tables 19–21).
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import sys
import time

import numpy as np

from ._repro_doc import compare_reports, strip_timings
from ._runner import FULL, StudyConfig, StudyResult, run_study

__all__ = ["ReproConfig", "STAGES", "compare_reports", "run_reproduce", "strip_timings"]

STAGES = ("study", "extras", "baselines", "k_sweep", "closed_vs_path", "theorem1", "axioms",
          "synthetic", "scaling", "scenarios")


@dataclasses.dataclass(frozen=True)
class ReproConfig:
    """Sizes of every experiment of :func:`run_reproduce` (``full()`` and ``quick()``).

    Attributes:
        name: ``"full"`` or ``"quick"`` (printed in the report).
        agents: N of the synthetic world (None: the paper's 1,671,587).
        seed: seed of the world and of every subset draw.
        sizes, draws: the study grid (subset sizes per protocol, draws per cell).
        focus: the topic standing in for the paper's Mythos (None: ``tech`` if present,
            else the first topic).
        topk_sizes: subset sizes of the top-k recovery table.
        baseline_settings, baseline_draws: (protocol, n) cells of Table 10 and their seeds.
        k_sweep_n, k_sweep_steps: Table 5's subset size and K values.
        cvp_sizes, cvp_seeds: Table 11's N values and seeds.
        syn_n, syn_seeds, syn_samples, brute_n: the synthetic suite (N <= 20 for the
            exact-Shapley truth), and the N of its brute-force check.
        scaling_ns, scaling_budget: Table 9's N values and the seconds one timed call may
            be predicted to take before it is extrapolated instead.
        scenario_seeds, midscale_agents, permutations: tables 19–21.
    """

    name: str = "full"
    agents: int | None = None
    seed: int = 0
    sizes: tuple = (100, 1_000, 10_000, 30_000, 100_000, FULL)
    draws: int = 10
    focus: str | None = None
    topk_sizes: tuple = (100, 10_000)
    baseline_settings: tuple = (("BIAS_visibility", 100), ("RAND", 10_000), ("full", None))
    baseline_draws: int = 5
    k_sweep_n: int = 10_000
    k_sweep_steps: tuple = (5, 10, 20, 30, 50, 100, 300)
    cvp_sizes: tuple = (100, 1_000, 10_000, 100_000)
    cvp_seeds: int = 5
    syn_n: int = 20
    syn_seeds: int = 5
    syn_samples: int = 200
    brute_n: int = 8
    scaling_ns: tuple = (10, 20, 100, 1_000, 10_000, 100_000, 1_000_000)
    scaling_budget: float = 30.0
    scenario_seeds: tuple = (0, 1, 2)
    midscale_agents: int = 10_000
    permutations: int = 2000

    @classmethod
    def full(cls) -> ReproConfig:
        """The paper's scale (about 10–15 minutes on a quiet 2-core VM)."""
        return cls()

    @classmethod
    def quick(cls) -> ReproConfig:
        """Every stage at small sizes (a few minutes on 2 cores): a smoke run."""
        return cls(name="quick", agents=20_000, sizes=(100, 1_000, FULL), topk_sizes=(100,),
                   baseline_settings=(("BIAS_visibility", 100), ("RAND", 1_000),
                                      ("full", None)),
                   k_sweep_n=2_000, cvp_sizes=(100, 1_000), cvp_seeds=3, syn_n=12,
                   syn_seeds=3, scaling_ns=(10, 100, 1_000, 10_000), scaling_budget=2.0,
                   scenario_seeds=(0,), midscale_agents=2_000, permutations=500)

    def stage_params(self, stage: str) -> dict:
        """The fields a stage's numbers depend on (its cache key)."""
        common = {"agents": self.agents, "seed": self.seed}
        by_stage = {
            "study": {"sizes": list(map(str, self.sizes)), "draws": self.draws},
            "extras": {"draws": self.draws, "topk_sizes": list(self.topk_sizes),
                       "n": min(s for s in self.sizes if s != FULL)},
            "baselines": {"settings": [list(map(str, s)) for s in self.baseline_settings],
                          "draws": self.baseline_draws, "focus": self.focus},
            "k_sweep": {"n": self.k_sweep_n, "steps": list(self.k_sweep_steps),
                        "focus": self.focus},
            "closed_vs_path": {"sizes": list(self.cvp_sizes), "seeds": self.cvp_seeds,
                               "focus": self.focus},
            "theorem1": {},
            "axioms": {},
            "synthetic": {"n": self.syn_n, "seeds": self.syn_seeds,
                          "samples": self.syn_samples, "brute_n": self.brute_n},
            "scaling": {"ns": list(self.scaling_ns), "budget": self.scaling_budget,
                        "focus": self.focus},
            "scenarios": {"seeds": list(self.scenario_seeds),
                          "midscale_agents": self.midscale_agents,
                          "permutations": self.permutations},
        }
        out = dict(by_stage[stage])
        if stage not in ("theorem1", "axioms", "synthetic", "scenarios"):
            out.update(common)
        return out


# ------------------------------------------------------------------------------ stages


#: The modules whose code decides each stage's numbers (with the stage function itself).
_STAGE_MODULES = {
    "extras": ("jaxattr.study._repro_world",), "baselines": ("jaxattr.study._repro_world",),
    "k_sweep": ("jaxattr.study._repro_world",),
    "closed_vs_path": ("jaxattr.study._repro_world",),
    "theorem1": ("jaxattr.study._repro_theory",),
    "axioms": ("jaxattr.study._repro_shapley",),
    "synthetic": ("jaxattr.study._repro_shapley",),
    "scaling": ("jaxattr.study._repro_shapley",),
    "scenarios": ("jaxattr.scenarios._faithfulness", "jaxattr.scenarios._report"),
}


def _source_of(name: str, stage_fn) -> str:
    """A digest of the code a stage runs, so an edited experiment is recomputed.

    The study stage's own cells are keyed by the runner's cache; the engine itself is not
    hashed (a changed engine needs a fresh ``--out``).
    """
    import importlib

    h = hashlib.sha256()
    try:
        h.update(inspect.getsource(stage_fn).encode())
        for m in _STAGE_MODULES.get(name, ()):
            h.update(inspect.getsource(importlib.import_module(m)).encode())
    except (OSError, TypeError):  # pragma: no cover - frozen installs
        h.update(name.encode())
    return h.hexdigest()[:16]


class _Stages:
    """Run stages in order, each cached as ``<out>/stages/<name>.json`` (atomic writes)."""

    def __init__(self, out: str, source: dict, say):
        self.dir = os.path.join(out, "stages")
        self.source = source
        self.say = say
        os.makedirs(self.dir, exist_ok=True)

    def key(self, name, params, fn) -> str:
        blob = json.dumps({"stage": name, "params": params, "source": self.source,
                           "code": _source_of(name, fn)}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def cached(self, name, key):
        path = os.path.join(self.dir, f"{name}.json")
        try:
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
        except (OSError, ValueError):
            return None
        return rec if rec.get("key") == key else None

    def run(self, name, params, fn, body):
        """The cached record of stage ``name`` or, if stale or missing, ``body()``'s."""
        key = self.key(name, params, fn)  # before running: the code that runs is this one
        rec = self.cached(name, key)
        if rec is not None:
            self.say(f"stage {name}: cached ({rec['seconds']:.1f}s when computed)")
            rec["cached"] = True
            return rec
        self.say(f"stage {name}: running ...")
        t0 = time.perf_counter()
        result = body()
        secs = time.perf_counter() - t0
        rec = {"key": key, "stage": name, "params": params,
               "seconds": secs, "result": result}
        from .._util import atomic_write

        with atomic_write(os.path.join(self.dir, f"{name}.json"), "w") as f:
            json.dump(rec, f, default=_json_default, allow_nan=True)
        rec = json.loads(json.dumps(rec, default=_json_default, allow_nan=True))
        rec["cached"] = False
        self.say(f"stage {name}: done in {secs:.1f}s")
        return rec


def _json_default(v):
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON-serialisable: {type(v).__name__}")


def _study_config(cfg: ReproConfig) -> StudyConfig:
    return StudyConfig(sizes=tuple(cfg.sizes), draws=cfg.draws, seed=cfg.seed)


def _study_from_json(js: dict, cfg: ReproConfig) -> StudyResult:
    full = {(r["topic"], r["value"]): r for r in js["full"]}
    return StudyResult(config=_study_config(cfg), topics=js["topics"], full=full,
                       cells=js["cells"], timings=js.get("timings", {}))


# ------------------------------------------------------------------------------ sources


class _Source:
    """The topic panels: the seeded synthetic world (built on first use) or Parquet files."""

    def __init__(self, cfg: ReproConfig, panels, say):
        self.cfg, self.files, self.say = cfg, [os.fspath(p) for p in panels or []], say
        self._panels = None
        self.peaks = {}
        self.kinds = {}

    def descriptor(self) -> dict:
        if not self.files:
            return {"source": "synthetic", "agents": self.cfg.agents, "seed": self.cfg.seed}
        return {"source": "panels", "files": [
            [os.path.abspath(p), os.path.getsize(p), os.stat(p).st_mtime_ns]
            for p in self.files]}

    @property
    def synthetic(self) -> bool:
        return not self.files

    def panels(self) -> dict:
        if self._panels is not None:
            return self._panels
        t0 = time.perf_counter()
        if self.files:
            from ..io import read_panel

            self._panels = {}
            for p in self.files:
                if not os.path.exists(p):
                    raise FileNotFoundError(f"reproduce: panel file {p!r} does not exist")
                panel = read_panel(p)
                topic = panel.meta.get("topic") or os.path.splitext(os.path.basename(p))[0]
                if topic in self._panels:
                    raise ValueError(f"reproduce: two panels for topic {topic!r} ({p})")
                self._panels[topic] = panel
                label = panel.meta.get("peak_day")
                labels = [str(x) for x in panel.time_labels]
                self.peaks[topic] = labels.index(str(label)) if str(label) in labels else None
            self.say(f"read {len(self._panels)} panels ({time.perf_counter() - t0:.1f}s)")
        else:
            from .. import data

            kw = {} if self.cfg.agents is None else {"n_agents": int(self.cfg.agents)}
            world = data.synthetic_world(seed=self.cfg.seed, **kw)
            self._panels = dict(world.panels)
            self.peaks = {t["name"]: t["peak_day"] for t in world.topics}
            self.kinds = {t["name"]: t["kind"] for t in world.topics}
            self.say(f"synthetic world: N={world.n_agents:,}, T={world.n_days}, topics "
                     f"{list(world.panels)} ({time.perf_counter() - t0:.1f}s)")
        return self._panels

    def study_input(self):
        panels = self.panels()

        class _W:  # what run_study reads from a World: panels and topic peak days
            pass

        w = _W()
        w.panels = panels
        w.topics = [{"name": k, "peak_day": self.peaks.get(k)} for k in panels]
        return w

    def focus(self) -> str:
        names = list(self.panels())
        if self.cfg.focus is not None:
            if self.cfg.focus not in names:
                raise ValueError(f"reproduce: focus topic {self.cfg.focus!r} is not one of "
                                 f"{names}")
            return self.cfg.focus
        return "tech" if "tech" in names else names[0]


# ------------------------------------------------------------------------------ stage bodies


def _stage_study(src: _Source, cfg: ReproConfig, cache_dir: str, say) -> dict:
    res = run_study(src.study_input(), _study_config(cfg), cache_dir=cache_dir,
                    progress=lambda line: say("  " + line))
    return res.to_json()


def _stage_extras(src: _Source, cfg: ReproConfig) -> dict:
    from ._repro_world import topic_extras

    n = min(s for s in cfg.sizes if s != FULL)
    return {topic: topic_extras(topic, panel, n=n, draws=cfg.draws, seed=cfg.seed,
                                topk_sizes=cfg.topk_sizes)
            for topic, panel in src.panels().items()}


def _stage_baselines(src: _Source, cfg: ReproConfig) -> dict:
    from ._repro_world import baseline_table

    topic = src.focus()
    return {"topic": topic, "rows": baseline_table(
        topic, src.panels()[topic], settings=cfg.baseline_settings,
        draws=cfg.baseline_draws, seed=cfg.seed)}


def _stage_k_sweep(src: _Source, cfg: ReproConfig) -> dict:
    from ._repro_world import k_sweep

    topic = src.focus()
    return k_sweep(topic, src.panels()[topic], n=cfg.k_sweep_n, steps=cfg.k_sweep_steps,
                   seed=cfg.seed)


def _stage_closed_vs_path(src: _Source, cfg: ReproConfig) -> dict:
    from ._repro_world import closed_vs_path

    topic = src.focus()
    return {"topic": topic, "rows": closed_vs_path(topic, src.panels()[topic],
                                                   sizes=cfg.cvp_sizes, seeds=cfg.cvp_seeds)}


def _stage_theorem1() -> dict:
    from ._repro_theory import PAIRWISE_FORMULA, pairwise, pairwise_phi, witness

    z = np.array([[1.0], [2.0], [4.0]])
    subset = (1, 2)
    out = {"pairwise_formula": PAIRWISE_FORMULA, "witnesses": [
        witness("linear", z, subset),
        witness(pairwise, z, subset, name="pairwise"),
        witness("variance", z, subset),
        witness("heat", np.array([[1.0, 2.0, 1.0], [2.0, 1.0, 3.0], [4.0, 3.0, 2.0]]),
                subset),
        # gini at N = 3 gives the median agent zero attribution (2 r - N - 1 = 0) and the
        # two outer agents the same shares in S as in N, so its witness needs N = 4.
        witness("gini", np.array([[1.0], [2.0], [4.0], [8.0]]), (0, 1, 3), smooth=False),
    ]}
    # Eq. 10's analogue: the engine's phi against the closed form s_i (S - s_i) / (2n).
    w = out["witnesses"][1]
    out["pairwise_closed_form_gap"] = float(max(
        np.abs(np.asarray(w["phi_full"]) - pairwise_phi(z)).max(),
        np.abs(np.asarray(w["phi_subset"]) - pairwise_phi(z[list(subset)])).max()))
    return out


def _stage_axioms() -> dict:
    from ._repro_shapley import axiom_table

    return {"rows": axiom_table()}


def _stage_synthetic(cfg: ReproConfig) -> dict:
    from ._repro_shapley import exact_vs_brute_force, synthetic_suite

    return {"rows": synthetic_suite(n=cfg.syn_n, seeds=cfg.syn_seeds, samples=cfg.syn_samples),
            "brute": exact_vs_brute_force(n=cfg.brute_n)}


def _stage_scaling(src: _Source, cfg: ReproConfig, say) -> dict:
    import jax

    from ._repro_shapley import machine, scaling_table
    from ._repro_world import x64
    from ._sampling import draw_subsets

    topic = src.focus()
    panel = src.panels()[topic]
    peak = src.peaks.get(topic)
    t = int(peak) if peak is not None else int(np.argmax(
        np.expm1(panel.feature_major[:, 1].astype(np.float64)).sum(axis=1)))
    ns = [n for n in cfg.scaling_ns if n <= panel.N]

    def step_for_n(n):
        idx = draw_subsets(np.arange(panel.N), panel.N, n, draws=1, seed=cfg.seed,
                           key=(topic, "scaling"))[0]
        return np.ascontiguousarray(panel.feature_major[t][:, idx].T, dtype=np.float64)

    with x64():
        rows = scaling_table("heat", ns, step_for_n, cell_budget=cfg.scaling_budget,
                             progress=lambda m: say("  " + m), float32_ours=True)
    return {"topic": topic, "day": t, "rows": rows, "machine": machine(),
            "backend": jax.default_backend(), "jax": jax.__version__}


def _stage_scenarios(cfg: ReproConfig) -> dict:
    from ..scenarios import scenario_tables

    out = {}
    for name, tables in (("economy", ("faithfulness", "path")),
                         ("opinion", ("faithfulness", "path", "value")),
                         ("midscale", ("faithfulness", "path", "value", "timing"))):
        kw = {"seeds": cfg.scenario_seeds if name != "midscale" else cfg.scenario_seeds[:1],
              "tables": tables, "n_permutations": cfg.permutations}
        if name == "midscale":
            kw.update(n_agents=cfg.midscale_agents, timing_sizes=(cfg.midscale_agents,))
        out[name] = scenario_tables(name, **kw)
    return out


# ------------------------------------------------------------------------------ driver


def run_reproduce(out="jaxattr-reproduce", *, quick: bool = False, panels=None,
                  doc=None, stages=None, figures: bool = True, config: ReproConfig | None = None,
                  stream=sys.stderr) -> dict:
    """Run every offline experiment of the paper and write tables, figures and the report.

    Args:
        out: output folder; ``<out>/stages`` (finished stages) and ``<out>/cache`` (finished
            study cells) make a re-run resume where a killed run stopped.
        quick: small sizes everywhere (:meth:`ReproConfig.quick`), for a smoke run.
        panels: Parquet panel files (one per topic) to use instead of the synthetic world.
        doc: also write the report to this path, with its figures in a folder named after
            it (``docs/reproduction.md`` -> ``docs/reproduction/*.png``).
        stages: run only these stages (default: all of :data:`STAGES`); the report then
            says which sections were not run.
        figures: draw PNG figures (needs matplotlib).
        config: explicit sizes (overrides ``quick``).
        stream: where progress lines go (None: silent).

    Returns:
        ``{"report": path, "doc": path or None, "tables": [...], "figures": [...],
        "checks": [...], "seconds": wall time}``.

    Raises:
        ValueError: unknown stage names, an unknown focus topic, two panels of one topic.
        FileNotFoundError: a panel file that does not exist.
    """
    from ._repro_doc import build_tables, render_report, save_report_figures

    cfg = config or (ReproConfig.quick() if quick else ReproConfig.full())
    todo = STAGES if stages is None else tuple(stages)
    bad = [s for s in todo if s not in STAGES]
    if bad:
        raise ValueError(f"reproduce: unknown stages {bad}; choose from {list(STAGES)}")
    t_start = time.perf_counter()
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)

    def say(msg):
        if stream is not None:
            print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=stream, flush=True)

    say(f"jaxattr reproduce ({cfg.name}): output in {out}")
    src = _Source(cfg, panels, say)
    st = _Stages(out, src.descriptor(), say)
    fns = {"study": _stage_study, "extras": _stage_extras, "baselines": _stage_baselines,
           "k_sweep": _stage_k_sweep, "closed_vs_path": _stage_closed_vs_path,
           "theorem1": _stage_theorem1, "axioms": _stage_axioms,
           "synthetic": _stage_synthetic, "scaling": _stage_scaling,
           "scenarios": _stage_scenarios}
    args = {"study": (src, cfg, os.path.join(out, "cache"), say), "extras": (src, cfg),
            "baselines": (src, cfg), "k_sweep": (src, cfg), "closed_vs_path": (src, cfg),
            "theorem1": (), "axioms": (), "synthetic": (cfg,), "scaling": (src, cfg, say),
            "scenarios": (cfg,)}
    results = {}
    for i, name in enumerate(todo):
        say(f"[{i + 1}/{len(todo)}] {name}")
        fn = fns[name]
        results[name] = st.run(name, cfg.stage_params(name), fn,
                               lambda fn=fn, a=args[name]: fn(*a))
    # Topic facts the report needs even when every stage came from the cache.
    meta = {"config": dataclasses.asdict(cfg), "source": src.descriptor(),
            "synthetic": src.synthetic, "focus": None, "kinds": {}, "peaks": {}}
    if "study" in results:
        topics = results["study"]["result"]["topics"]
        meta["focus"] = (cfg.focus if cfg.focus in topics else
                         "tech" if "tech" in topics else next(iter(topics)))
    if src.synthetic:
        from ..data import DEFAULT_TOPICS

        meta["kinds"] = {t[0]: t[1] for t in DEFAULT_TOPICS}
    study = (_study_from_json(results["study"]["result"], cfg) if "study" in results
             else None)
    tables = build_tables(results, study, meta)
    from ._tables import write_tables

    table_paths = write_tables(list(tables.values()), os.path.join(out, "tables"))
    fig_paths = []
    if figures:
        say("drawing figures ...")
        fig_paths = save_report_figures(results, study, os.path.join(out, "figures"))
    wall = time.perf_counter() - t_start
    env = _environment(wall, results)
    report, checks = render_report(results, study, tables, meta, env, fig_prefix="figures/",
                                   figures=[os.path.basename(p) for p in fig_paths])
    from .._util import atomic_write

    path = os.path.join(out, "reproduction.md")
    with atomic_write(path, "w") as f:
        f.write(report)
    doc_path = None
    if doc is not None:
        doc_path = _write_doc(doc, results, study, tables, meta, env, fig_paths)
    say(f"report: {path}" + (f" and {doc_path}" if doc_path else "")
        + f" ({sum(c['ok'] for c in checks)}/{len(checks)} checks hold)")
    return {"report": path, "doc": doc_path, "tables": table_paths, "figures": fig_paths,
            "checks": checks, "seconds": wall, "results": results}


def _environment(wall: float, results: dict) -> dict:
    import platform

    import jax

    try:
        load = os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        load = (float("nan"),) * 3
    from ._repro_shapley import machine

    return {"wall_s": wall, "load": load, "machine": machine(),
            "python": platform.python_version(), "jax": jax.__version__,
            "backend": jax.default_backend(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "stage_s": {k: (v["seconds"], v.get("cached", False)) for k, v in results.items()}}


def _write_doc(doc, results, study, tables, meta, env, fig_paths) -> str:
    """The report at ``doc`` with its figures copied to ``<doc without .md>/``."""
    import shutil

    from .._util import atomic_write
    from ._repro_doc import render_report

    doc = os.fspath(doc)
    stem = os.path.splitext(os.path.basename(doc))[0]
    fig_dir = os.path.join(os.path.dirname(os.path.abspath(doc)), stem)
    os.makedirs(fig_dir, exist_ok=True)
    for p in fig_paths:
        shutil.copyfile(p, os.path.join(fig_dir, os.path.basename(p)))
    text, _ = render_report(results, study, tables, meta, env, fig_prefix=f"{stem}/",
                            figures=[os.path.basename(p) for p in fig_paths])
    with atomic_write(doc, "w") as f:
        f.write(text)
    return doc
