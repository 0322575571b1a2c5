"""The stages of ``paper/reproduce.py``: each computes one group of artefacts as plain JSON.

Stages are cached as ``<out>/stages/<name>.json`` (atomic writes), keyed by the
configuration fields they read, the world they ran on and a digest of their code, so a
re-run resumes and an edited experiment is recomputed. The cross-scale study's own cells
are cached by :func:`jaxattr.study.run_study` under ``<out>/cache``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import sys
import tempfile
import time

import numpy as np

from jaxattr import study as _study

from .. import config as C
from .. import world as W

STAGES = (
    "world",
    "study",
    "extras",
    "baselines",
    "k_sweep",
    "closed_vs_path",
    "theorem1",
    "axioms",
    "synthetic",
    "scaling",
    "scenarios",
    "sweep",
)

#: The configuration fields each stage's numbers depend on (its cache key).
_PARAMS = {
    "world": ("agents", "seed"),
    "study": ("agents", "seed", "sizes", "draws", "pool_fraction", "tier_fractions"),
    "extras": (
        "agents",
        "seed",
        "sizes",
        "draws",
        "pool_fraction",
        "tier_fractions",
        "topk_sizes",
        "top_k",
    ),
    "baselines": (
        "agents",
        "seed",
        "baseline_settings",
        "baseline_draws",
        "focus",
        "pool_fraction",
    ),
    "k_sweep": ("agents", "seed", "k_sweep_n", "k_sweep_steps", "focus"),
    "closed_vs_path": ("agents", "seed", "cvp_sizes", "cvp_seeds", "cvp_steps", "focus"),
    "theorem1": ("seed",),
    "axioms": (),
    "synthetic": ("syn_n", "syn_seeds", "syn_samples", "brute_n"),
    "scaling": ("agents", "seed", "scaling_ns", "scaling_budget", "scaling_permutations", "focus"),
    "scenarios": ("scenario_seeds", "midscale_agents", "permutations"),
    "sweep": (
        "seed",
        "sweep_agents",
        "sweep_sizes",
        "sweep_draws",
        "draws",
        "pool_fraction",
        "tier_fractions",
        "name",
    ),
}


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_json(obj) -> str:
    def default(v):
        if isinstance(v, (np.floating, np.integer, np.bool_)):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        raise TypeError(f"not JSON-serialisable: {type(v).__name__}")

    return json.dumps(obj, default=default, allow_nan=True)


#: The files (relative to paper/) whose code decides each stage's numbers, beside the stage
#: function itself. The engine (jaxattr) is not hashed: a changed engine needs a fresh --out.
_CODE = {
    "world": ("world.py",),
    "study": ("world.py",),
    "extras": ("world.py", "experiments/world.py"),
    "baselines": ("world.py", "experiments/world.py"),
    "k_sweep": ("world.py", "experiments/world.py"),
    "closed_vs_path": ("world.py", "experiments/world.py"),
    "theorem1": ("experiments/theory.py", "experiments/world.py"),
    "axioms": ("experiments/shapley.py", "experiments/world.py"),
    "synthetic": ("experiments/shapley.py", "experiments/world.py"),
    "scaling": ("world.py", "experiments/shapley.py", "experiments/world.py"),
    "scenarios": (),
    "sweep": ("world.py", "experiments/sweep.py"),
}


def _code_digest(name, fn) -> str:
    h = hashlib.sha256()
    paper = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for rel in _CODE[name]:
        with open(os.path.join(paper, rel), "rb") as f:
            h.update(f.read())
    h.update(inspect.getsource(fn).encode())
    return h.hexdigest()[:16]


class Stages:
    """Run stages in order, each cached as ``<out>/stages/<name>.json``."""

    def __init__(self, out: str, cfg: C.Config, source: dict, say):
        self.dir = os.path.join(out, "stages")
        self.cfg, self.source, self.say = cfg, source, say
        os.makedirs(self.dir, exist_ok=True)

    def params(self, name) -> dict:
        d = dataclasses.asdict(self.cfg)
        return {k: d[k] for k in _PARAMS[name]}

    def run(self, name, fn, body):
        """The cached record of stage ``name`` (keyed by ``fn``'s code) or ``body()``'s."""
        key = hashlib.sha256(
            to_json(
                {
                    "stage": name,
                    "params": self.params(name),
                    "source": self.source,
                    "code": _code_digest(name, fn),
                }
            ).encode()
        ).hexdigest()[:24]
        path = os.path.join(self.dir, f"{name}.json")
        try:
            with open(path, encoding="utf-8") as f:
                rec = json.load(f)
            if rec.get("key") == key:
                self.say(f"stage {name}: cached ({rec['seconds']:.1f}s when computed)")
                rec["cached"] = True
                return rec
        except (OSError, ValueError):
            pass
        self.say(f"stage {name}: running ...")
        t0 = time.perf_counter()
        result = body()
        rec = {"key": key, "stage": name, "seconds": time.perf_counter() - t0, "result": result}
        text = to_json(rec)
        write_atomic(path, text)
        rec = json.loads(text)
        rec["cached"] = False
        self.say(f"stage {name}: done in {rec['seconds']:.1f}s")
        return rec


class Source:
    """The topic panels: the calibrated synthetic world (built on first use) or Parquet."""

    def __init__(self, cfg: C.Config, panels, say):
        self.cfg, self.files, self.say = cfg, [os.fspath(p) for p in panels or []], say
        self._panels, self.world, self.peaks = None, None, {}

    def descriptor(self) -> dict:
        if not self.files:
            return {"source": "synthetic", "agents": self.cfg.agents, "seed": self.cfg.seed}
        return {
            "source": "panels",
            "files": [
                [os.path.abspath(p), os.path.getsize(p), os.stat(p).st_mtime_ns] for p in self.files
            ],
        }

    @property
    def synthetic(self) -> bool:
        return not self.files

    def panels(self) -> dict:
        if self._panels is not None:
            return self._panels
        t0 = time.perf_counter()
        if self.files:
            import jaxattr

            self._panels = {}
            for p in self.files:
                if not os.path.exists(p):
                    raise FileNotFoundError(f"reproduce: panel file {p!r} does not exist")
                panel = jaxattr.read_panel(p)
                topic = panel.meta.get("topic") or os.path.splitext(os.path.basename(p))[0]
                if topic in self._panels:
                    raise ValueError(f"reproduce: two panels for topic {topic!r} ({p})")
                self._panels[topic] = panel
                labels = [str(x) for x in panel.time_labels]
                label = str(panel.meta.get("peak_day"))
                self.peaks[topic] = labels.index(label) if label in labels else None
        else:
            self.world = W.paper_world(self.cfg.agents, seed=self.cfg.seed)
            self._panels = dict(self.world.panels)
            self.peaks = {t["name"]: t["peak_day"] for t in self.world.topics}
        self.say(f"panels {list(self._panels)} ({time.perf_counter() - t0:.1f}s)")
        return self._panels

    def study_input(self):
        panels = self.panels()
        return _World(panels, [{"name": k, "peak_day": self.peaks.get(k)} for k in panels])

    def focus(self) -> str:
        names = list(self.panels())
        return self.cfg.focus if self.cfg.focus in names else names[0]


@dataclasses.dataclass
class _World:  # what run_study reads from a World: panels and topic peak days
    panels: dict
    topics: list


def study_config(
    cfg: C.Config, *, sizes=None, draws=None, tier_fractions=None, pool_fraction=None
) -> _study.StudyConfig:
    return _study.StudyConfig(
        sizes=tuple(sizes or cfg.sizes),
        draws=draws or cfg.draws,
        seed=cfg.seed,
        tier_fractions=tuple(tier_fractions or cfg.tier_fractions),
        pool_fraction=pool_fraction or cfg.pool_fraction,
    )


# ------------------------------------------------------------------------------ bodies


def stage_world(src: Source, cfg: C.Config) -> dict:
    if not src.synthetic:
        return {"synthetic": False}
    src.panels()
    return {
        "synthetic": True,
        "stats": W.world_stats(src.world),
        "params": dict(W.WORLD_PARAMS),
        "sources": dict(W.WORLD_SOURCES),
    }


def stage_study(src: Source, cfg: C.Config, cache_dir: str, say) -> dict:
    res = _study.run_study(
        src.study_input(),
        study_config(cfg),
        cache_dir=cache_dir,
        progress=lambda line: say("  " + line),
    )
    out = res.to_json()
    out["pools"] = pool_overlap(src.panels(), cfg)
    return out


def pool_overlap(panels: dict, cfg: C.Config) -> dict:
    """Per topic: the sizes of the four pools, the engaged set and the milder pools' Jaccard."""
    out = {}
    for topic, panel in panels.items():
        eng = _study.engagement_of(panel)
        pools = _study.protocol_pools(
            _study.followers_of(panel),
            eng,
            pool_fraction=cfg.pool_fraction,
            active_count=_study.active_count_of(panel),
        )
        a, b = (set(pools[p].tolist()) for p in C.MILD)
        out[topic] = {
            "sizes": {k: int(v.size) for k, v in pools.items()},
            "engaged": int(np.count_nonzero(eng > 0)),
            "mild_jaccard": len(a & b) / len(a | b) if a | b else float("nan"),
        }
    return out


def stage_extras(src: Source, cfg: C.Config) -> dict:
    from .world import topic_extras

    n = min(s for s in cfg.sizes if s != C.FULL)
    return {
        topic: topic_extras(
            topic,
            panel,
            n=n,
            draws=cfg.draws,
            seed=cfg.seed,
            topk_sizes=cfg.topk_sizes,
            top_k=cfg.top_k,
            pool_fraction=cfg.pool_fraction,
            tier_fractions=cfg.tier_fractions,
        )
        for topic, panel in src.panels().items()
    }


def stage_baselines(src: Source, cfg: C.Config) -> dict:
    from .world import baseline_table

    topic = src.focus()
    settings = tuple((p, n) for p, n in cfg.baseline_settings)
    return {
        "topic": topic,
        "rows": baseline_table(
            topic,
            src.panels()[topic],
            settings=settings,
            draws=cfg.baseline_draws,
            seed=cfg.seed,
            pool_fraction=cfg.pool_fraction,
        ),
    }


def stage_k_sweep(src: Source, cfg: C.Config) -> dict:
    from .world import k_sweep

    topic = src.focus()
    return k_sweep(
        topic, src.panels()[topic], n=cfg.k_sweep_n, steps=cfg.k_sweep_steps, seed=cfg.seed
    )


def stage_closed_vs_path(src: Source, cfg: C.Config) -> dict:
    from .world import closed_vs_continuous, closed_vs_path

    topic = src.focus()
    return {
        "topic": topic,
        "continuous": closed_vs_continuous(
            sizes=cfg.cvp_sizes, seeds=cfg.cvp_seeds, steps=cfg.cvp_steps
        ),
        "panel": closed_vs_path(
            topic,
            src.panels()[topic],
            sizes=cfg.cvp_sizes,
            seeds=cfg.cvp_seeds,
            steps=cfg.cvp_steps,
        ),
    }


def stage_theorem1(cfg: C.Config) -> dict:
    from .theory import theorem1_witnesses

    return theorem1_witnesses(seed=cfg.seed)


def stage_axioms() -> dict:
    from .shapley import axiom_table

    return {"rows": axiom_table()}


def stage_synthetic(cfg: C.Config) -> dict:
    from .shapley import exact_vs_brute_force, synthetic_suite

    return {
        "rows": synthetic_suite(n=cfg.syn_n, seeds=cfg.syn_seeds, samples=cfg.syn_samples),
        "brute": exact_vs_brute_force(n=cfg.brute_n),
    }


def stage_scaling(src: Source, cfg: C.Config, say) -> dict:
    import jax

    from .shapley import machine, scaling_table
    from .world import x64

    topic = src.focus()
    panel = src.panels()[topic]
    peak = src.peaks.get(topic)
    t = (
        int(peak)
        if peak is not None
        else int(np.argmax(np.expm1(panel.feature_major[:, 1].astype(np.float64)).sum(axis=1)))
    )
    ns = [n for n in cfg.scaling_ns if n <= panel.N]

    def step_for_n(n):
        idx = _study.draw_subsets(
            np.arange(panel.N), panel.N, n, draws=1, seed=cfg.seed, key=(topic, "scaling")
        )[0]
        return np.ascontiguousarray(panel.feature_major[t][:, idx].T, dtype=np.float64)

    with x64():
        rows = scaling_table(
            "heat",
            ns,
            step_for_n,
            cell_budget=cfg.scaling_budget,
            progress=lambda m: say("  " + m),
            float32_ours=True,
            permutations=cfg.scaling_permutations,
        )
    return {
        "topic": topic,
        "day": t,
        "rows": rows,
        "machine": machine(),
        "backend": jax.default_backend(),
        "jax": jax.__version__,
    }


def stage_scenarios(cfg: C.Config) -> dict:
    from jaxattr.scenarios import scenario_tables

    out = {}
    for name, tables in (
        ("economy", ("faithfulness", "path")),
        ("opinion", ("faithfulness", "path", "value")),
        ("midscale", ("faithfulness", "path", "value")),
    ):
        kw = {"seeds": cfg.scenario_seeds, "tables": tables, "n_permutations": cfg.permutations}
        if name == "midscale":
            kw.update(n_agents=cfg.midscale_agents)
        out[name] = scenario_tables(name, **kw)
    return out


def stage_sweep(cfg: C.Config, say) -> dict:
    from .sweep import run_sweep

    return run_sweep(cfg, say)


def run_stages(out: str, cfg: C.Config, panels=None, stages=None, stream=sys.stderr) -> dict:
    """Run the stages (all of :data:`STAGES` by default); returns ``{name: record}``."""
    todo = STAGES if stages is None else tuple(stages)
    bad = [s for s in todo if s not in STAGES]
    if bad:
        raise ValueError(f"reproduce: unknown stages {bad}; choose from {list(STAGES)}")
    t_start = time.perf_counter()

    def say(msg):
        if stream is not None:
            print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", file=stream, flush=True)

    src = Source(cfg, panels, say)
    st = Stages(out, cfg, src.descriptor(), say)
    bodies = {
        "world": lambda: stage_world(src, cfg),
        "study": lambda: stage_study(src, cfg, os.path.join(out, "cache"), say),
        "extras": lambda: stage_extras(src, cfg),
        "baselines": lambda: stage_baselines(src, cfg),
        "k_sweep": lambda: stage_k_sweep(src, cfg),
        "closed_vs_path": lambda: stage_closed_vs_path(src, cfg),
        "theorem1": lambda: stage_theorem1(cfg),
        "axioms": stage_axioms,
        "synthetic": lambda: stage_synthetic(cfg),
        "scaling": lambda: stage_scaling(src, cfg, say),
        "scenarios": lambda: stage_scenarios(cfg),
        "sweep": lambda: stage_sweep(cfg, say),
    }
    fns = {
        "world": stage_world,
        "study": stage_study,
        "extras": stage_extras,
        "baselines": stage_baselines,
        "k_sweep": stage_k_sweep,
        "closed_vs_path": stage_closed_vs_path,
        "theorem1": stage_theorem1,
        "axioms": stage_axioms,
        "synthetic": stage_synthetic,
        "scaling": stage_scaling,
        "scenarios": stage_scenarios,
        "sweep": stage_sweep,
    }
    results = {}
    for i, name in enumerate(todo):
        say(f"[{i + 1}/{len(todo)}] {name}")
        results[name] = st.run(name, fns[name], bodies[name])
    return {
        "results": results,
        "seconds": time.perf_counter() - t_start,
        "synthetic": src.synthetic,
        "focus": src.focus() if src._panels else cfg.focus,
        "peaks": dict(src.peaks),
    }
