"""The sensitivity sweep: every verdict of the cross-scale study over what the paper leaves open.

For each parameter of ``config.SWEEP`` (``SWEEP_QUICK`` in a quick run), one value at a
time with the others at their defaults, the calibrated world is regenerated at
``sweep_agents`` agents and the cross-scale study run at ``sweep_sizes``; every claim with
``sweep=True`` is checked on it. A verdict is *robust* when it is the same at every point.
"""

from __future__ import annotations

import dataclasses

from jaxattr import study as _study

from .. import checks
from .. import config as C
from .. import world as W


def _point(cfg: C.Config, param: str, value, say) -> dict:
    kw = {}
    tiers = tuple(cfg.tier_fractions)
    pool = cfg.pool_fraction
    if param in W.WORLD_PARAMS:
        kw[param] = value
    elif param == "pool_fraction":
        pool = value
    elif param == "tier_top":
        tiers = (value, tiers[C.MID], 1 - value - tiers[C.MID])
    else:
        raise ValueError(f"sweep: unknown parameter {param!r}")
    world = W.paper_world(cfg.sweep_agents, seed=cfg.seed, **kw)
    scfg = _study.StudyConfig(
        sizes=tuple(cfg.sweep_sizes),
        draws=cfg.sweep_draws,
        seed=cfg.seed,
        tier_fractions=tiers,
        pool_fraction=pool,
    )
    res = _study.run_study(world, scfg, progress=None)
    js = res.to_json()
    for rec in js["full"]:  # the checks do not read the heatmaps; keep the file small
        rec.pop("heatmap", None)
        rec.pop("bin_counts", None)
        rec.pop("value_features", None)
    js["cells"] = [c for c in js["cells"] if c["n_label"] != "full"]
    say(f"  sweep {param} = {value}: done")
    return {"param": param, "value": value, "study": js}


def verdicts(sweep: dict, focus: str) -> list[dict]:
    """Each point's verdicts of the claims with ``sweep=True`` (checked now, so a changed
    check never needs the sweep recomputed)."""
    ids = [c["id"] for c in checks.CLAIMS if c.get("sweep")]
    out = []
    for p in sweep["points"]:
        rows = checks.evaluate(checks.Run({"study": p["study"]}, focus=focus), only=ids)
        out.append(
            {
                "param": p["param"],
                "value": p["value"],
                "verdicts": {r["id"]: r["verdict"] for r in rows},
                "ours": {r["id"]: r["result"]["ours"] if r["result"] else None for r in rows},
            }
        )
    return out


def run_sweep(cfg: C.Config, say) -> dict:
    grid = C.SWEEP if cfg.name == C.Config.full().name else C.SWEEP_QUICK
    defaults = dict(
        W.WORLD_PARAMS, pool_fraction=cfg.pool_fraction, tier_top=cfg.tier_fractions[C.TOP]
    )
    points, default_point = [], None
    for param, values in grid.items():
        for v in values:
            if v == defaults[param] and default_point is not None:
                points.append(dict(default_point, param=param, value=v))
                continue
            p = _point(cfg, param, v, say)
            if v == defaults[param]:
                default_point = p
            points.append(p)
    return {
        "grid": {k: list(v) for k, v in grid.items()},
        "defaults": defaults,
        "agents": cfg.sweep_agents,
        "sizes": [str(s) for s in cfg.sweep_sizes],
        "draws": cfg.sweep_draws,
        "points": points,
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k.startswith("sweep")},
    }


def robustness(points: list[dict]) -> dict:
    """Per claim id: ``{"robust": bool, "verdicts": {verdict: [(param, value), ...]}}``
    from :func:`verdicts`' points."""
    out = {}
    for p in points:
        for cid, v in p["verdicts"].items():
            out.setdefault(cid, {}).setdefault(v, []).append((p["param"], p["value"]))
    return {cid: {"robust": len(vs) == 1, "verdicts": vs} for cid, vs in out.items()}
