"""Pure check functions: stage results in, ``{"ok", "ours"}`` out, nothing else.

Each function named in ``claims.CLAIMS[...]["check"]`` takes a :class:`Run` (the stage
results of one run) and returns ``{"ok": True | False | None, "ours": str, "value": ...}``
or None when a stage it needs did not run. ``ok`` None means there is nothing to compare
(the paper's number was lost). Thresholds come from ``claims.TOL`` and sizes from the
configuration; this module holds no numbers of its own.
"""

from __future__ import annotations

import math

import numpy as np

from . import config as C
from .claims import CLAIMS, TOL


class StudyView:
    """Index of a :meth:`jaxattr.study.StudyResult.to_json` record."""

    def __init__(self, js: dict):
        self.topics = js["topics"]
        self.full = {(r["topic"], r["value"]): r for r in js["full"]}
        self.cells = {
            (c["topic"], c["value"], c["protocol"], str(c["n_label"])): c for c in js["cells"]
        }
        sizes = sorted({int(c["n_label"]) for c in js["cells"] if c["n_label"] != C.FULL})
        self.sizes = sizes
        self.small = str(sizes[0]) if sizes else None
        self.pools = js.get("pools", {})

    def cell(self, topic, value, protocol, n=None):
        return self.cells.get((topic, value, protocol, str(n or self.small)))

    def share(self, topic, value, protocol, tier, n=None):
        """Mean window share of a tier over the draws of a cell (NaN-aware)."""
        c = self.cell(topic, value, protocol, n)
        if c is None:
            return float("nan")
        return float(np.nanmean(np.asarray(c["window_shares"], np.float64)[:, tier]))

    def full_share(self, topic, value, tier):
        return float(self.full[(topic, value)]["window_shares"][tier])

    def values(self):
        return sorted({v for _, v in self.full}, key=C.VALUES.index)


class Run:
    """The stage results of one run (``{stage: result}``) with the study indexed."""

    def __init__(self, results: dict, focus: str | None = None):
        self.r = results
        self.study = StudyView(results["study"]) if "study" in results else None
        names = list(self.study.topics) if self.study else []
        self.focus = focus if focus in names else (names[0] if names else focus)

    def has(self, *stages) -> bool:
        return all(s in self.r for s in stages)


def _res(ok, ours, value=None):
    return {"ok": None if ok is None else bool(ok), "ours": ours, "value": value}


def _cells(run: Run, values):
    s = run.study
    return [(t, v) for t in s.topics for v in values if (t, v) in s.full]


# ------------------------------------------------------------------ Table 2 / 13


def full_majority(run: Run):
    if run.study is None:
        return None
    s = run.study
    vals = {k: s.full_share(*k, C.MID) + s.full_share(*k, C.TAIL) for k in _cells(run, s.values())}
    k = min(vals, key=vals.get)
    return _res(vals[k] > TOL["majority"], f"min {vals[k]:.3f} ({k[0]}, {k[1]})", vals[k])


def abstract_reading(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    vals = {k: s.share(*k, "BIAS_visibility", C.TOP) for k in _cells(run, C.NONLINEAR)}
    k = min(vals, key=vals.get)
    held = sum(x >= TOL["almost_everything"] for x in vals.values())
    return _res(
        held == len(vals),
        f"min {vals[k]:.3f} ({k[0]}, {k[1]}); {held}/{len(vals)} cells at or above the threshold",
        vals[k],
    )


def body_reading(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    up, rise = {}, {}
    for k in _cells(run, C.NONLINEAR):
        up[k] = s.share(*k, "BIAS_visibility", C.TOP) + s.share(*k, "BIAS_visibility", C.MID)
        rise[k] = up[k] - (s.full_share(*k, C.TOP) + s.full_share(*k, C.MID))
    k = min(up, key=up.get)
    ok = all(up[c] > TOL["majority"] and rise[c] > 0 for c in up)
    return _res(
        ok,
        f"min top + mid {up[k]:.3f} ({k[0]}, {k[1]}); rise over full "
        f"{C.PP * min(rise.values()):+.1f} to {C.PP * max(rise.values()):+.1f} pp",
        up[k],
    )


def flip_cells(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    gap = {
        k: s.share(*k, "BIAS_visibility", C.TOP) - s.full_share(*k, C.TOP)
        for k in _cells(run, s.values())
    }
    pos = sum(g > 0 for g in gap.values())
    k = min(gap, key=gap.get)
    return _res(
        pos == len(gap),
        f"{pos}/{len(gap)} cells positive; min {C.PP * gap[k]:+.1f} pp ({k[0]}, {k[1]})",
        pos,
    )


def random_control(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    claim = next(c for c in CLAIMS if c["check"] == "random_control")
    exempt = {tuple(x) for x in claim.get("exempt", ())}
    zs = {}
    for k in _cells(run, C.NONLINEAR):
        if k in exempt:
            continue
        c = s.cell(*k, "RAND")
        if c is None:
            continue
        x = np.asarray(c["window_shares"], np.float64)[:, C.TOP]
        x = x[np.isfinite(x)]
        se = x.std(ddof=1) / math.sqrt(x.size) if x.size > 1 else float("nan")
        diff = x.mean() - s.full_share(*k, C.TOP)
        zs[k] = abs(diff) / se if se > 0 else (0.0 if diff == 0 else math.inf)
    if not zs:
        return None
    k = max(zs, key=zs.get)
    held = sum(z <= TOL["random_se"] for z in zs.values())
    return _res(
        held == len(zs),
        f"{held}/{len(zs)} cells within; largest {zs[k]:.1f} SE ({k[0]}, {k[1]})",
        zs[k],
    )


# ------------------------------------------------------------------ Table 3 / App. G


def _rhos(run: Run, values):
    s = run.study
    out = []
    for k in _cells(run, values):
        c = s.cell(*k, "BIAS_visibility")
        if c is not None:
            r = np.asarray(c["rho"], np.float64)
            out.append(r[np.isfinite(r)])
    return np.concatenate(out) if out else np.zeros(0)


def rho_linear(run: Run):
    if run.study is None or run.study.small is None:
        return None
    r = _rhos(run, ("linear",))
    return _res(r.max() <= TOL["rho_float32"], f"max {r.max():.2e}", float(r.max()))


def rho_nonlinear(run: Run):
    if run.study is None or run.study.small is None:
        return None
    r = _rhos(run, C.NONLINEAR)
    return _res(r.min() > TOL["rho_positive"], f"min {r.min():.3g}", float(r.min()))


def rank_tracks_rho(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    good, lin_min, bad = 0, math.inf, []
    for t in s.topics:
        cs = {v: s.cell(t, v, "BIAS_visibility") for v in C.VALUES}
        if any(c is None for c in cs.values()):
            continue
        sp = {v: float(np.nanmean(cs[v]["spearman"])) for v in C.VALUES}
        rho = {v: float(np.nanmean(cs[v]["rho"])) for v in C.NONLINEAR}
        lin_min = min(lin_min, sp["linear"])
        by_rho = sorted(C.NONLINEAR, key=rho.get)
        by_sp = sorted(C.NONLINEAR, key=sp.get, reverse=True)
        ok = by_rho == by_sp and sp["linear"] >= TOL["spearman_one"]
        good += ok
        if not ok:
            bad.append(f"{t}: rho order {'<'.join(by_rho)}, Spearman order {'>'.join(by_sp)}")
    n = len(s.topics)
    return _res(
        good == n,
        f"linear Spearman min {lin_min:.6f}; {good}/{n} topics ordered"
        + (f" ({'; '.join(bad)})" if bad else ""),
        good,
    )


def magnitude_order(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    good, bad = 0, []
    for t in s.topics:
        g = {
            v: s.share(t, v, "BIAS_visibility", C.TOP) - s.full_share(t, v, C.TOP) for v in C.VALUES
        }
        ok = g["linear"] < g["heat"] < min(g["variance"], g["gini"])
        good += ok
        if not ok:
            bad.append(f"{t}: " + ", ".join(f"{v} {C.PP * g[v]:+.1f}" for v in C.VALUES))
    return _res(
        good == len(s.topics),
        f"{good}/{len(s.topics)} topics ordered" + (f" ({'; '.join(bad)} pp)" if bad else ""),
        good,
    )


# ------------------------------------------------------------------ Table 15 / 16


def _peak(run: Run, topic):
    """Day index of the largest heat delta_t on the full panel."""
    return int(np.argmax(run.study.full[(topic, "heat")]["delta"]))


def _peak_shares(run: Run):
    s = run.study
    return {
        t: np.asarray(s.full[(t, "heat")]["day_shares"], np.float64)[_peak(run, t)]
        for t in s.topics
        if (t, "heat") in s.full
    }


def peak_days(run: Run):
    if run.study is None:
        return None
    s = run.study
    want = {t: d for t, d in C.PAPER_DATA["event_days"].items() if t in s.topics}
    if not want:
        return _res(None, "no topic of the paper's names in this run")
    got = {t: s.topics[t]["time_labels"][_peak(run, t)] for t in want}
    hits = sum(got[t] == want[t] for t in want)
    return _res(hits == len(want), "; ".join(f"{t} {got[t]}" for t in want), hits)


def _topic_extreme(run: Run, topic, tier):
    if run.study is None:
        return None
    ps = _peak_shares(run)
    if topic not in ps:
        return _res(None, f"no topic {topic} in this run")
    best = max(ps, key=lambda t: ps[t][tier])
    return _res(
        best == topic,
        f"{topic} {ps[topic][tier]:.3f}; largest {best} {ps[best][tier]:.3f}",
        float(ps[topic][tier]),
    )


def wrestlemania_tail(run: Run):
    if run.study is None:
        return None
    ps = _peak_shares(run)
    if "WrestleMania" not in ps:
        return _res(None, "no topic WrestleMania in this run")
    x = float(ps["WrestleMania"][C.TAIL])
    return _res(x >= TOL["overwhelming"], f"tail {x:.3f} on its peak day", x)


def earthday_top(run: Run):
    return _topic_extreme(run, "Earth Day-Climate", C.TOP)


def masters_mid(run: Run):
    return _topic_extreme(run, "The Masters", C.MID)


def every_day(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    c = s.cell(run.focus, "heat", "BIAS_visibility")
    day = np.nanmean(np.asarray(c["day_shares"], np.float64)[:, :, C.TOP], axis=0)
    full = np.asarray(s.full[(run.focus, "heat")]["day_shares"], np.float64)[:, C.TOP]
    above = int(np.sum(day > full))
    return _res(
        above == day.size,
        f"{above}/{day.size} days above; gap "
        f"{C.PP * (day - full).min():+.1f} to {C.PP * (day - full).max():+.1f} pp",
        above,
    )


# ------------------------------------------------------------------ Table 17 / App. N


def dose_order(run: Run):
    if run.study is None or run.study.small is None:
        return None
    s = run.study
    good, bad = 0, []
    for t in s.topics:
        cs = {p: s.cell(t, "heat", p) for p in C.PROTOCOLS}
        if any(c is None for c in cs.values()):
            continue
        agents = {p: float(np.mean(np.asarray(c["tier_counts"])[:, C.TOP])) for p, c in cs.items()}
        delta = {
            p: s.share(t, "heat", p, C.TOP) - s.full_share(t, "heat", C.TOP) for p in C.PROTOCOLS
        }
        ok = all(x["BIAS_visibility"] > x[m] > x["RAND"] for x in (agents, delta) for m in C.MILD)
        good += ok
        if not ok:
            bad.append(t)
    return _res(
        good == len(s.topics),
        f"{good}/{len(s.topics)} topics ordered" + (f"; not: {', '.join(bad)}" if bad else ""),
        good,
    )


def follower_pool(run: Run):
    if not run.has("extras"):
        return None
    ratios = []
    for ex in run.r["extras"].values():
        by = {}
        for r in ex["follower_pool"]:
            by.setdefault(r["value"], {})[r["pool"]] = r["delta_pp"]
        for d in by.values():
            if d.get("BIAS_visibility"):
                ratios.append(d["BIAS_follower_only"] / d["BIAS_visibility"])
    ratios = np.asarray(ratios)
    ok = bool(np.all(ratios > 0) and np.all(np.abs(np.log10(np.abs(ratios))) <= TOL["same_order"]))
    return _res(ok, f"ratios {ratios.min():.2f} to {ratios.max():.2f}", float(ratios.max()))


# ------------------------------------------------------------------ Table 14 / 12 / 18


def anchor_positive(run: Run):
    if not run.has("extras"):
        return None
    gaps = [
        r["gap_pp"]
        for ex in run.r["extras"].values()
        for r in ex["anchors"]
        if r["value"] == "heat"
    ]
    return _res(min(gaps) > 0, f"min {min(gaps):+.1f} pp", min(gaps))


def follower_largest(run: Run):
    if not run.has("extras") or run.focus not in run.r["extras"]:
        return None
    g = {
        r["anchor"]: r["gap_pp"]
        for r in run.r["extras"][run.focus]["anchors"]
        if r["value"] == "heat"
    }
    best = max(g, key=g.get)
    return _res(
        best == "followers", ", ".join(f"{a} {x:+.1f} pp" for a, x in g.items()), g["followers"]
    )


def topk(run: Run):
    if not run.has("extras"):
        return None
    small = min(r["n"] for ex in run.r["extras"].values() for r in ex["topk"])
    xs = {
        (r["topic"], r["value"]): r["jaccard_within_S"]
        for ex in run.r["extras"].values()
        for r in ex["topk"]
        if r["protocol"] == "BIAS_visibility" and r["n"] == small and r["value"] in C.NONLINEAR
    }
    k = max(xs, key=xs.get)
    return _res(all(x < 1 for x in xs.values()), f"max {xs[k]:.3f} ({k[0]}, {k[1]})", xs[k])


def peak_then_decay(run: Run):
    if run.study is None or len(run.study.sizes) < C.FIT_POINTS:
        return None
    s = run.study
    ns = s.sizes
    m = [s.share(run.focus, "heat", "BIAS_visibility", C.TOP, n) for n in ns]
    m.append(s.full_share(run.focus, "heat", C.TOP))
    pool = s.topics[run.focus]["pool_sizes"]["BIAS_visibility"]
    arg = int(np.nanargmax(m[:-1]))
    past = [m[i] for i, n in enumerate(ns) if n >= pool] + [m[-1]]
    decays = all(a >= b for a, b in zip(past, past[1:], strict=False))
    cells = ", ".join(f"{n:,}: {x:.3f}" for n, x in zip(ns, m, strict=False))
    return _res(arg > 0 and decays, f"{cells}, full: {m[-1]:.3f} (pool {pool:,})", arg)


# ------------------------------------------------------------------ Table 10 / 5 / 11


def zero_mean(run: Run):
    if not run.has("baselines"):
        return None
    xs = [
        r["kendall"]
        for r in run.r["baselines"]["rows"]
        if r["value"] == "heat" and r["pair"] == "zero vs population mean"
    ]
    return _res(min(xs) >= TOL["baseline_kendall"], f"min {min(xs):.3f}", min(xs))


def k_rate(run: Run):
    if not run.has("k_sweep"):
        return None
    sl = run.r["k_sweep"]["slope"]
    return _res(sl is not None and TOL["rate_lo"] <= sl <= TOL["rate_hi"], f"slope {sl:.3f}", sl)


def k_values(run: Run):
    if not run.has("k_sweep"):
        return None
    rows = run.r["k_sweep"]["rows"]
    paper = {r["K"]: r["paper"] for r in _PAPER_K}
    pairs = [(r["K"], r["rel_error"], paper[r["K"]]) for r in rows if r["K"] in paper]
    if not pairs:
        return _res(None, "the paper's K values were not run")
    logs = [abs(math.log10(e / p)) for _, e, p in pairs]
    return _res(
        max(logs) <= TOL["same_order"],
        "; ".join(f"K = {k}: {e:.2g} (paper {p:.2g})" for k, e, p in pairs),
        max(logs),
    )


#: The seed README's two Table 5 values, parsed from the quoted claim.
_PAPER_K = ()


def _parse_paper_k():
    import re

    quote = next(c["quote"] for c in CLAIMS if c["id"] == "t5_values")
    return tuple(
        {"K": int(k), "paper": float(e)}
        for e, k in re.findall(r"([0-9.]+e-[0-9]+) at K = ([0-9]+)", quote)
    )


_PAPER_K = _parse_paper_k()


def _slope(xs, ys):
    xs, ys = np.log(np.asarray(xs, np.float64)), np.log(np.asarray(ys, np.float64))
    return float(np.polyfit(xs, ys, 1)[0])


def k_linear(run: Run):
    if not run.has("k_sweep"):
        return None
    rows = [r for r in run.r["k_sweep"]["rows"] if r.get("seconds_subset_generic")]
    if len(rows) < C.FIT_POINTS:
        return None
    g = _slope([r["K"] for r in rows], [r["seconds_subset_generic"] for r in rows])
    mf = _slope([r["K"] for r in rows], [r["seconds_subset"] for r in rows])
    return _res(
        TOL["linear_lo"] <= g <= TOL["linear_hi"],
        f"generic path slope {g:.2f}; mean-field path slope {mf:.2f}",
        g,
    )


def _cvp(run: Run, key):
    return run.r["closed_vs_path"][key] if run.has("closed_vs_path") else None


def cvp_exact(run: Run):
    rows = _cvp(run, "continuous")
    if rows is None:
        return None
    exact = {
        v: max(r["rel_mae"] for r in rows if r["value"] == v)
        for v in ("linear", "variance", "gini")
    }
    panel = _cvp(run, "panel")
    tie = max(r["rel_mae"] for r in panel if r["value"] == "gini") if panel else float("nan")
    return _res(
        max(exact.values()) <= TOL["exact_float64"],
        ", ".join(f"{v} {x:.1e}" for v, x in exact.items())
        + f"; gini on the tie-heavy panel {tie:.1e}",
        max(exact.values()),
    )


def cvp_spearman(run: Run):
    rows = _cvp(run, "continuous")
    if rows is None:
        return None
    sp = min(r["spearman_min"] for r in rows)
    return _res(sp >= TOL["spearman_one"], f"min {sp:.6f}", sp)


# ------------------------------------------------------------------ Theorem 1


def _witnesses(run: Run):
    return {w["value"]: w for w in run.r["theorem1"]["witnesses"]} if run.has("theorem1") else None


def thm_linear(run: Run):
    ws = _witnesses(run)
    if ws is None:
        return None
    w = ws["linear"]
    return _res(
        max(w["c_spread"], w["rho"]) <= TOL["witness_exact"],
        f"spread {w['c_spread']:.1e}, rho {w['rho']:.1e}",
        w["rho"],
    )


def thm_family(run: Run):
    ws = _witnesses(run)
    if ws is None:
        return None
    nl = {k: w for k, w in ws.items() if k != "linear"}
    ok = all(
        w["c_spread"] > TOL["witness_spread"] and w["rho"] > TOL["witness_spread"]
        for w in nl.values()
    )
    return _res(
        ok,
        ", ".join(f"{k}: rho {w['rho']:.3g}" for k, w in nl.items()),
        min(w["rho"] for w in nl.values()),
    )


def thm_negative(run: Run):
    if not run.has("theorem1"):
        return None
    ctl = [c for c in run.r["theorem1"]["negative_control"] if c["negative_control"]]
    worst = max(max(c["rho"]) for c in ctl)
    return _res(
        worst > TOL["witness_spread"],
        ", ".join(
            f"{c['value']}: max rho {max(c['rho']):.1e} over {c['configs']} configurations "
            f"(off-diagonal Hessian {c['hessian_offdiag_max']:.2g})"
            for c in ctl
        ),
        worst,
    )


# ------------------------------------------------------------------ Table 1 / 6-8


def _axioms(run: Run):
    return {r["method"]: r for r in run.r["axioms"]["rows"]} if run.has("axioms") else None


def axioms_ours(run: Run):
    ax = _axioms(run)
    if ax is None:
        return None
    axioms = ("efficiency", "symmetry", "dummy", "linearity")
    closed = max(ax["ours (closed form)"][k] for k in axioms)
    path = next(r for m, r in ax.items() if m.startswith("ours (path"))
    exact_three = max(path[k] for k in axioms if k != "efficiency")
    ok = (
        closed <= TOL["axioms"]
        and exact_three <= TOL["axioms"]
        and path["efficiency"] <= TOL["path_efficiency"]
    )
    return _res(
        ok,
        f"closed form: largest violation {closed:.1e}; path: efficiency "
        f"{path['efficiency']:.1e} (quadrature), the other three {exact_three:.1e}",
        closed,
    )


def axioms_semivalues(run: Run):
    ax = _axioms(run)
    if ax is None:
        return None
    rows = [ax[m] for m in ("leave-one-out", "exact Banzhaf")]
    ok = all(
        r["efficiency"] > TOL["lost_efficiency"]
        and max(r["symmetry"], r["dummy"], r["linearity"]) <= TOL["axioms"]
        for r in rows
    )
    return _res(
        ok,
        "; ".join(
            f"{m}: efficiency {r['efficiency']:.2g}, others "
            f"{max(r['symmetry'], r['dummy'], r['linearity']):.1e}"
            for m, r in zip(("leave-one-out", "exact Banzhaf"), rows, strict=True)
        ),
        None,
    )


def _syn(run: Run, game):
    rows = run.r["synthetic"]["rows"]
    return max(r["mae_vs_as"] for r in rows if r["method"].startswith("ours") and r["game"] == game)


def syn_exact(run: Run):
    if not run.has("synthetic"):
        return None
    x = max(_syn(run, "additive"), _syn(run, "quadratic"))
    return _res(x <= TOL["exact_float64"], f"max MAE {x:.1e}", x)


def syn_softplus(run: Run):
    if not run.has("synthetic"):
        return None
    x = _syn(run, "softplus")
    return _res(x <= TOL["discretisation"], f"max MAE {x:.1e}", x)


# ------------------------------------------------------------------ timing (Tables 4, 9)


def _scaling(run: Run):
    if not run.has("scaling"):
        return None
    by = {}
    for r in run.r["scaling"]["rows"]:
        by.setdefault(r["method"], {})[r["N"]] = r
    return by


def n_linear(run: Run):
    by = _scaling(run)
    if by is None:
        return None
    rows = [r for r in by["ours_closed"].values() if r["status"] == "measured"]
    if len(rows) < C.FIT_POINTS:
        return None
    a, b = sorted(rows, key=lambda r: r["N"])[-C.FIT_POINTS :]
    sl = _slope([a["N"], b["N"]], [a["seconds"], b["seconds"]])
    return _res(sl <= TOL["linear_hi"], f"slope {sl:.2f} between N = {a['N']:,} and {b['N']:,}", sl)


def under_10ms(run: Run):
    by = _scaling(run)
    if by is None or "ours_closed_f32" not in by:
        return None
    n = max(by["ours_closed_f32"])
    sec = by["ours_closed_f32"][n]["seconds"]
    ours = f"{sec * C.MS:.3g} ms at N = {n:,}"
    if n < C.HEADLINE_N:
        return _res(None, ours + f" (the run stops below N = {C.HEADLINE_N:,})", sec)
    return _res(sec < TOL["under_10ms"], ours, sec)


def speedup(run: Run):
    by = _scaling(run)
    if by is None:
        return None
    n = max(by["ours_closed"])
    ours, sh = by["ours_closed"][n], by["sampled_shapley"].get(n)
    if sh is None or sh.get("log10_seconds") is None:
        return None
    orders = sh["log10_seconds"] - ours["log10_seconds"]
    text = f"10^{orders:.1f} at N = {n:,} (sampled Shapley {sh['status']}, M = {sh['samples']})"
    if n < C.HEADLINE_N:
        return _res(None, text + f" (the run stops below N = {C.HEADLINE_N:,})", orders)
    return _res(orders >= TOL["speedup_orders"], text, orders)


# ------------------------------------------------------------------ Tables 19-21


def _scen(run: Run, name, table):
    if not run.has("scenarios"):
        return None
    return [
        r for tab in run.r["scenarios"].get(name, []) if tab["table"] == table for r in tab["rows"]
    ]


def econ_top10(run: Run):
    rows = _scen(run, "economy", "faithfulness")
    if rows is None:
        return None
    top = min(r["top10_vs_shapley"] for r in rows if r["method"] == "ours")
    kt = min(r["kendall_vs_shapley"] for r in rows if r["method"] == "ours")
    return _res(top >= TOL["top10_full"], f"top-10 min {top}, Kendall min {kt:.3f}", top)


def path_choice(run: Run):
    if not run.has("scenarios"):
        return None
    parts = []
    for name in ("opinion", "midscale"):
        rows = _scen(run, name, "path")
        if rows:
            parts.append(
                f"{name}: Kendall mean {np.mean([r['kendall_mean'] for r in rows]):.3f}"
                f", min {min(r['kendall_min'] for r in rows):.3f}"
            )
    return _res(None, "; ".join(parts))


def _t21(run: Run):
    return _scen(run, "midscale", "value")


def t21_tau(run: Run):
    rows = _t21(run)
    if rows is None:
        return None
    xs = [r["kendall"] for r in rows if "log" in r["pair"] and "interaction" not in r["pair"]]
    if not xs:
        return None
    return _res(min(xs) >= TOL["t21_kendall"], f"min {min(xs):.3f}", min(xs))


def t21_overlap(run: Run):
    rows = _t21(run)
    if rows is None:
        return None
    key = next(k for k in rows[0] if k.startswith("top") and k.endswith("_overlap"))
    x = min(r[key] for r in rows)
    return _res(x > TOL["t21_overlap"], f"min {x} ({len(rows)} pair × seed rows)", x)


# ------------------------------------------------------------------ evaluation


def evaluate(run: Run, only=None) -> list[dict]:
    """Every claim's check on ``run`` (``only``: claim ids): claim fields + result."""
    out = []
    for c in CLAIMS:
        if only is not None and c["id"] not in only:
            continue
        res = globals()[c["check"]](run)
        if res is None:
            verdict = "not run"
        elif res["ok"] is None:
            verdict = "not comparable"
        else:
            verdict = "agree" if res["ok"] else "differ"
        out.append(dict(c, result=res, verdict=verdict))
    return out
