"""Tables, checks, figures and the Markdown report of ``jaxattr reproduce``.

:func:`build_tables` turns the stage results into :class:`~jaxattr.study.Table` objects
(written as CSV and Markdown), :func:`report_checks` evaluates the paper's quantitative
claims with the tolerances stated beside them, and :func:`render_report` writes one section
per paper artefact: the paper's claim (its number where the converted text kept it, else its
direction), ours, and a verdict (agree / differ / not reproducible offline) with the reason.
Wall-clock values and verdicts derived from them are wrapped in ``⟦ ⟧``.
"""

from __future__ import annotations

import math
import os
import re
from typing import NamedTuple

import numpy as np

from ._runner import FULL
from ._tables import Table, mean_std, small_n

__all__ = ["build_tables", "compare_reports", "render_report", "report_checks",
           "save_report_figures", "strip_timings", "timing"]

VALUES = ("linear", "heat", "variance", "gini")
NONLINEAR = ("heat", "variance", "gini")
#: The paper's topics and the synthetic topic standing in for each (matched by the shape of
#: their activity over the window; names and domains are not claimed to match).
PAPER_TOPICS = (("Mythos (tech)", "tech", "multi-modal, no single dominant peak"),
                ("Trump-Tariffs (politics)", "climate", "flat, multi-modal"),
                ("The Masters (sports)", "sports", "peak on the final-round day"),
                ("Earth Day-Climate (society)", "election", "run-up to a dated day"),
                ("WrestleMania (entertainment)", "entertainment", "one event night"))
AGREE, DIFFER, OFFLINE = "agree", "differ", "not reproducible offline"


#: Opening and closing marks of a timing-derived span in the report.
TIMING_OPEN, TIMING_CLOSE = "⟦", "⟧"
_TIMING_RE = re.compile(re.escape(TIMING_OPEN) + r"[^" + TIMING_CLOSE + r"\n]*" +
                        re.escape(TIMING_CLOSE))


def timing(text: str) -> str:
    """Mark a timing-derived piece of the report (ignored by :func:`compare_reports`)."""
    return f"{TIMING_OPEN}{text}{TIMING_CLOSE}"


def strip_timings(text: str) -> str:
    """The report with every ``⟦...⟧`` span replaced by ``⟦⟧`` (timings removed)."""
    return _TIMING_RE.sub(TIMING_OPEN + TIMING_CLOSE, text)


def compare_reports(a: str, b: str) -> list[str]:
    """Lines where two reports differ once timings are stripped (empty: same numbers).

    Returns:
        unified-diff lines (without the two file headers).
    """
    import difflib

    la = strip_timings(a).splitlines()
    lb = strip_timings(b).splitlines()
    return [ln for ln in difflib.unified_diff(la, lb, lineterm="", n=0)
            if not ln.startswith(("---", "+++"))]


_t = timing


def _secs(s) -> str:
    """A duration for the report (inside a timing span)."""
    if s is None or (isinstance(s, float) and not math.isfinite(s)):
        return "–"
    yr = 3600 * 24 * 365
    if s >= yr * 1e4:
        return f"10^{math.log10(s / yr):.0f} yr"
    if s >= yr:
        return f"{s / yr:.2g} yr"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} µs"


def _pp(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:+.1f} pp"


def _g(x, nd=3) -> str:
    """A number at ``nd`` significant digits (scientific for small or large magnitudes)."""
    if x is None:
        return "–"
    x = float(x)
    if not math.isfinite(x):
        return "–"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e5:
        return f"{x:.{nd - 1}e}"
    return f"{x:.{nd}g}"


def _md(table: Table, *, columns=None, where=None, topic=None, timing=(), title=None) -> str:
    """Markdown of a table's selected rows (``where``, and ``topic``: one topic's rows) and
    columns, timing columns wrapped in ⟦ ⟧."""
    cols = list(columns or table.columns)
    idx = [table.columns.index(c) for c in cols]
    rows = []
    for r in table.rows:
        rec = dict(zip(table.columns, r, strict=True))
        if (where is not None and not where(rec)) or (topic is not None
                                                      and rec["topic"] != topic):
            continue
        row = []
        for c, k in zip(cols, idx, strict=True):
            v = r[k]
            if c in timing:
                v = _t(_secs(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                       else str(v))
            row.append(v)
        rows.append(row)
    sub = Table(table.name, title if title is not None else "", cols, rows)
    return sub.to_markdown()


# =============================================================================== tables


def _agg(rows, keys, metrics):
    """Group ``rows`` by ``keys``; per metric: mean, std (ddof 1), min and max."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, rs in groups.items():
        rec = dict(zip(keys, key, strict=True))
        rec["count"] = len(rs)
        for m in metrics:
            vals = np.asarray([np.nan if r.get(m) is None else r[m] for r in rs], np.float64)
            mean, std = mean_std(vals)
            rec[f"{m}_mean"], rec[f"{m}_std"] = float(mean), float(std)
            ok = vals[np.isfinite(vals)]
            rec[f"{m}_min"] = float(ok.min()) if ok.size else float("nan")
            rec[f"{m}_max"] = float(ok.max()) if ok.size else float("nan")
        out.append(rec)
    return out


def _table(name, title, recs, columns, note="") -> Table:
    return Table(name, title, list(columns), [[r.get(c) for c in columns] for r in recs], note)


def build_tables(results: dict, study, meta: dict) -> dict:
    """Every table of the report, by name (also written as ``tables/<name>.csv|md``)."""
    from ._demo import acceptance_checks, summary_table
    from ._tables import all_tables

    t: dict = {}
    if study is not None:
        for tab in all_tables(study):
            t[tab.name] = tab
        t["summary"] = summary_table(study)
        chk = acceptance_checks(study)
        t["study_checks"] = _table("study_checks", "The demo's acceptance checks", chk,
                                   ["check", "topic", "value", "n", "detail", "ok", "required"])
    if "extras" in results:
        ex = results["extras"]["result"]
        anchors = [r for v in ex.values() for r in v["anchors"]]
        t["t14_anchors"] = _table(
            "t14_anchors", "Table 14: top-tier anchors, biased n vs full panel", anchors,
            ["topic", "value", "anchor", "n", "draws", "group_size", "agents_in_S",
             "biased_share_mean", "biased_share_std", "full_share", "gap_pp"])
        t["t14_overlap"] = _table(
            "t14_overlap", "Table 14: Jaccard overlap of the anchor groups",
            [{"topic": k, **v["anchor_overlap"]} for k, v in ex.items()],
            ["topic", "posts", "replies", "posts_vs_replies"])
        pool = {}
        for v in ex.values():
            for r in v["follower_pool"]:
                rec = pool.setdefault((r["topic"], r["value"]), {
                    "topic": r["topic"], "value": r["value"], "n": r["n"],
                    "full_top_share": r["full_top_share"]})
                tag = "composite" if r["pool"] == "BIAS_visibility" else "follower_only"
                rec[f"{tag}_top_agents"] = r["top_agents"]
                rec[f"{tag}_share_mean"] = r["top_share_mean"]
                rec[f"{tag}_share_std"] = r["top_share_std"]
                rec[f"{tag}_delta_pp"] = r["delta_pp"]
        for rec in pool.values():
            c, f = rec["composite_delta_pp"], rec["follower_only_delta_pp"]
            rec["ratio"] = f / c if c else float("nan")
        t["appN_follower_pool"] = _table(
            "appN_follower_pool", "Appendix N: follower-only visibility pool vs the composite",
            list(pool.values()),
            ["topic", "value", "n", "full_top_share", "composite_top_agents",
             "composite_share_mean", "composite_share_std", "composite_delta_pp",
             "follower_only_top_agents", "follower_only_share_mean",
             "follower_only_share_std", "follower_only_delta_pp", "ratio"])
        topk = [r for v in ex.values() for r in v["topk"]]
        t["t12_topk"] = _table(
            "t12_topk", "Table 12: top-k recovery", topk,
            ["topic", "value", "protocol", "n", "draws", "k", "jaccard_within_S",
             "jaccard_vs_global_topk", "global_topk_recall"])
    if "baselines" in results:
        rows = results["baselines"]["result"]["rows"]
        ks = sorted({int(k[len("jaccard_top"):]) for r in rows for k in r
                     if k.startswith("jaccard_top")})
        mets = [f"jaccard_top{k}" for k in ks] + ["kendall", "spearman"]
        agg = _agg(rows, ["topic", "value", "setting", "pair"], mets)
        cols = ["topic", "value", "setting", "pair", "count"]
        for m in mets:
            cols += [f"{m}_mean", f"{m}_std", f"{m}_min"]
        t["t10_baselines"] = _table("t10_baselines", "Table 10: baseline robustness", agg, cols)
    if "k_sweep" in results:
        ks = results["k_sweep"]["result"]
        t["t5_k_sweep"] = _table(
            "t5_k_sweep", f"Table 5: heat, midpoint path vs closed form ({ks['topic']}, "
            f"n = {ks['n']}, T = {ks['T']})", ks["rows"],
            ["K", "rel_error", "seconds_subset", "seconds_full"])
    if "closed_vs_path" in results:
        rows = results["closed_vs_path"]["result"]["rows"]
        agg = _agg(rows, ["value", "N", "K"], ["mae", "rel_mae", "spearman_min",
                                               "efficiency_max"])
        t["t11_closed_vs_path"] = _table(
            "t11_closed_vs_path", "Table 11: closed form vs path integral across N", agg,
            ["value", "N", "K", "count", "mae_mean", "mae_std", "mae_max", "rel_mae_mean",
             "rel_mae_max", "spearman_min_min", "efficiency_max_max"])
    if "theorem1" in results:
        ws = results["theorem1"]["result"]["witnesses"]
        recs = [{"value": w["value"], "z": "; ".join(",".join(_g(x) for x in r) for r in w["z"]),
                 "S": ",".join(str(i + 1) for i in w["subset"]),
                 "phi_N": ", ".join(_g(x) for x in w["phi_full"]),
                 "phi_S": ", ".join(_g(x) for x in w["phi_subset"]),
                 "shares_S": ", ".join(_g(x) for x in w["shares_subset"]),
                 "shares_N_on_S": ", ".join(_g(x) for x in w["shares_full_on_subset"]),
                 "c_i": ", ".join(_g(x, 4) for x in w["c_i"]), "c_star": w["c_star"],
                 "rho": w["rho"], "hessian_offdiag_max": w["hessian_offdiag_max"]}
                for w in ws]
        t["theorem1_witness"] = _table(
            "theorem1_witness", "Theorem 1: N = 3 witnesses (zero baseline)", recs,
            ["value", "z", "S", "phi_N", "phi_S", "shares_S", "shares_N_on_S", "c_i",
             "c_star", "rho", "hessian_offdiag_max"])
    if "axioms" in results:
        t["t1_axioms"] = _table("t1_axioms", "Table 1: the four axioms, checked numerically",
                                results["axioms"]["result"]["rows"],
                                ["method", "efficiency", "symmetry", "dummy", "linearity"])
    if "synthetic" in results:
        rows = results["synthetic"]["result"]["rows"]
        agg = _agg(rows, ["game", "method"],
                   ["mae_vs_as", "mae_vs_shapley", "cosine_vs_as", "cosine_vs_shapley",
                    "kendall_top_vs_as", "kendall_top_vs_shapley", "efficiency_error",
                    "truth_gap"])
        t["t6_8_synthetic"] = _table(
            "t6_8_synthetic", "Tables 6-8: synthetic suite against two truths", agg,
            ["game", "method", "count", "mae_vs_as_mean", "mae_vs_as_std",
             "mae_vs_shapley_mean", "mae_vs_shapley_std", "cosine_vs_as_mean",
             "cosine_vs_shapley_mean", "kendall_top_vs_as_mean",
             "kendall_top_vs_shapley_mean", "efficiency_error_mean", "truth_gap_mean"])
        t["exact_vs_brute"] = _table(
            "exact_vs_brute", "Exact-Shapley truth vs brute force",
            results["synthetic"]["result"]["brute"], ["game", "N", "max_abs_diff", "scale"])
    if "scaling" in results:
        rows = results["scaling"]["result"]["rows"]
        t["t9_scaling"] = _table(
            "t9_scaling", "Table 9: wall time per method and N (heat, one step)", rows,
            ["method", "label", "N", "seconds", "log10_seconds", "compile_s", "reps",
             "status"])
        t["t9_speedup"] = _table("t9_speedup", "Speed-up of ours over each sampler",
                                 speedups(rows),
                                 ["N", "ours", "sampler", "ours_s", "sampler_s",
                                  "log10_ratio", "status"])
    if "scenarios" in results:
        sc = results["scenarios"]["result"]
        fa, pa, va, ti = [], [], [], []
        for name, tabs in sc.items():
            for tab in tabs:
                for r in tab["rows"]:
                    rec = {"scenario": name, **r}
                    {"faithfulness": fa, "path": pa, "value": va, "timing": ti}[
                        tab["table"]].append(rec)
        mets = ["deletion_auc", "deletion_auc_signed", "kendall_vs_shapley",
                "top10_vs_shapley", "auc_rel_diff_vs_shapley",
                "auc_signed_rel_diff_vs_shapley", "time_s"]
        agg = _agg(fa, ["scenario", "method", "N", "M"], mets)
        cols = ["scenario", "method", "N", "M", "count"]
        for m in mets:
            cols += [f"{m}_mean", f"{m}_min"]
        t["t19_faithfulness"] = _table("t19_faithfulness", "Table 19: faithfulness", agg, cols)
        agg = _agg(pa, ["scenario", "N", "n_paths"], ["kendall_mean", "kendall_min",
                                                      "top10_overlap_mean"])
        t["t20_path"] = _table("t20_path", "Table 20: path choice", agg,
                               ["scenario", "N", "n_paths", "count", "kendall_mean_mean",
                                "kendall_min_min", "top10_overlap_mean_mean"])
        agg = _agg(va, ["scenario", "N", "pair"], ["kendall", "top10_overlap"])
        t["t21_value"] = _table("t21_value", "Table 21: value-function sensitivity", agg,
                                ["scenario", "N", "pair", "count", "kendall_mean",
                                 "kendall_min", "top10_overlap_mean", "top10_overlap_min"])
        t["t19_midscale_cost"] = _table(
            "t19_midscale_cost", "MidScale: cost of sampled Shapley", ti,
            ["scenario", "N", "T", "attribute_s", "risk_eval_s", "shapley_generic_M1000_s",
             "shapley_meanfield_M1000_s", "efficiency_error"])
    checks = report_checks(results, study, meta)
    t["checks"] = _table("checks", "Quantitative checks of the paper's claims", checks,
                         ["id", "artefact", "claim", "tolerance", "ours", "ok"])
    return t


SAMPLERS = (("sampled_shapley", "JAX sampled Shapley"),
            ("numpy_prefix", "NumPy prefix-sum sampler"),
            ("numpy_naive", "NumPy naive sampler"),
            ("sampled_banzhaf", "JAX sampled Banzhaf"),
            ("shap_permutation", "SHAP PermutationExplainer"))


def speedups(rows) -> list[dict]:
    """Per N: wall time of each sampler over ours (closed form; float64 and float32)."""
    cell = {(r["method"], r["N"]): r for r in rows}
    out = []
    for n in sorted({r["N"] for r in rows}):
        for ours in ("ours_closed", "ours_closed_f32"):
            o = cell.get((ours, n))
            if o is None or o.get("log10_seconds") is None:
                continue
            for key, _label in SAMPLERS:
                s = cell.get((key, n))
                if s is None or s.get("log10_seconds") is None:
                    continue
                status = ("extrapolated" if "extrapolated" in (o["status"], s["status"])
                          else "measured")
                out.append({"N": n, "ours": ours, "sampler": key, "ours_s": o["seconds"],
                            "sampler_s": s["seconds"],
                            "log10_ratio": s["log10_seconds"] - o["log10_seconds"],
                            "status": status})
    return out


# =============================================================================== checks


def _cell(study, topic, value, protocol, n):
    return study.cell(topic, value, protocol, str(n))


def report_checks(results: dict, study, meta: dict) -> list[dict]:
    """The paper's quantitative claims as checks with explicit tolerances.

    Returns:
        rows ``{"id", "artefact", "claim", "tolerance", "ours", "ok"}``; ``ok`` is a bool.
    """
    out = []

    def add(cid, artefact, claim, tol, ours, ok):
        out.append({"id": cid, "artefact": artefact, "claim": claim, "tolerance": tol,
                    "ours": ours, "ok": bool(ok)})

    if study is not None:
        n = small_n(study)
        topics = list(study.topics)
        # full scale: tail + mid majority
        vals = {(tp, v): 1 - study.full[(tp, v)]["window_shares"][0]
                for tp in topics for v in VALUES}
        worst = min(vals, key=vals.get)
        add("full_tail_mid_majority", "Table 2 / Fig. 1",
            "full panel: mid + tail tiers jointly carry the majority", "mid + tail share > 0.5,"
            " every topic × f", f"min {vals[worst]:.3f} ({worst[0]}, {worst[1]})",
            all(x > 0.5 for x in vals.values()))
        # biased: top tier takes almost everything / flips upward
        tops, flips = {}, {}
        for tp in topics:
            for v in VALUES:
                c = _cell(study, tp, v, "BIAS_visibility", n)
                if c is None:
                    continue
                m = float(mean_std(np.asarray(c["window_shares"])[:, 0])[0])
                tops[(tp, v)] = m
                flips[(tp, v)] = m - study.full[(tp, v)]["window_shares"][0]
        if tops:
            worst = min(flips, key=flips.get)
            add("biased_top_flip", "Tables 2, 13",
                f"biased n = {n}: top-tier share above its full-panel share in every cell",
                "biased − full > 0, every topic × f",
                f"min gap {100 * flips[worst]:+.1f} pp ({worst[0]}, {worst[1]}); "
                f"{sum(x > 0 for x in flips.values())}/{len(flips)} cells positive",
                all(x > 0 for x in flips.values()))
            nl = {k: x for k, x in tops.items() if k[1] in NONLINEAR}
            worst = min(nl, key=nl.get)
            add("biased_top_majority", "Table 2",
                f"biased n = {n}: \"almost everything\" goes to the top tier (nonlinear f)",
                "top-tier share ≥ 0.5, every topic × nonlinear f",
                f"min {nl[worst]:.3f} ({worst[0]}, {worst[1]}); "
                f"{sum(x >= 0.5 for x in nl.values())}/{len(nl)} cells ≥ 0.5",
                all(x >= 0.5 for x in nl.values()))
        # random control, all four f: no upward flip (one-sided), and recovery (two-sided)
        up, two, fails_up, fails_two = [], [], [], []
        for tp in topics:
            for v in VALUES:
                c = _cell(study, tp, v, "RAND", n)
                if c is None:
                    continue
                sh = np.asarray(c["window_shares"], np.float64)[:, 0]
                m, s = mean_std(sh)
                se = s / np.sqrt(np.isfinite(sh).sum())
                full = study.full[(tp, v)]["window_shares"][0]
                z = (m - full) / se if se > 0 else (0.0 if m == full else np.inf * (m - full))
                up.append(z <= 3)
                two.append(abs(z) <= 3)
                if not z <= 3:
                    fails_up.append(f"{tp}/{v} {z:+.1f} SE")
                if not abs(z) <= 3:
                    fails_two.append(f"{tp}/{v} {z:+.1f} SE")
        if up:
            add("random_no_flip", "Tables 2, 17",
                f"RAND n = {n} shows no flip toward the top tier, all four f",
                "mean − full ≤ 3 SE (SE = std/√draws), every topic × f",
                f"{sum(up)}/{len(up)} cells" + (f"; above: {', '.join(fails_up)}"
                                                 if fails_up else ""), all(up))
            add("random_recovers_full", "Table 2",
                f"RAND n = {n} recovers the full-panel top-tier share on average, all four f",
                "abs(mean − full) ≤ 3 SE, every topic × f",
                f"{sum(two)}/{len(two)} cells" + (f"; outside: {', '.join(fails_two)}"
                                                   if fails_two else ""), all(two))
        # Theorem 1 empirical
        rl, rn = [], []
        for tp in topics:
            for v in VALUES:
                c = _cell(study, tp, v, "BIAS_visibility", n)
                if c is None:
                    continue
                r = np.asarray(c["rho"], np.float64)
                (rl if v == "linear" else rn).append(r[np.isfinite(r)])
        if rl:
            mx = float(np.max(np.concatenate(rl)))
            add("rho_linear", "Table 3", "rho = 0 for linear f (to float precision)",
                "max rho ≤ 1e-5 (float32)", f"max {mx:.2e}", mx <= 1e-5)
        if rn:
            mn = float(np.min(np.concatenate(rn)))
            add("rho_nonlinear", "Table 3", "rho > 0 for the nonlinear f on every topic",
                "min rho > 1e-3", f"min {mn:.3g}", mn > 1e-3)
        # dose-response ordering (heat, focus topic and all topics)
        order_ok, detail = [], []
        for tp in topics:
            c = {p: _cell(study, tp, "heat", p, n) for p in
                 ("BIAS_visibility", "BIAS_topic_x_follow", "BIAS_topic_top", "RAND")}
            if any(x is None for x in c.values()):
                continue
            full = study.full[(tp, "heat")]["window_shares"][0]
            agents = {p: float(np.mean(np.asarray(x["tier_counts"])[:, 0])) for p, x in c.items()}
            delta = {p: float(mean_std(np.asarray(x["window_shares"])[:, 0])[0]) - full
                     for p, x in c.items()}
            mild = ("BIAS_topic_x_follow", "BIAS_topic_top")
            ok = (agents["BIAS_visibility"] >= max(agents[p] for p in mild)
                  and min(agents[p] for p in mild) >= agents["RAND"]
                  and delta["BIAS_visibility"] > max(delta[p] for p in mild)
                  and min(delta[p] for p in mild) >= delta["RAND"])
            order_ok.append(ok)
            if not ok:
                detail.append(tp)
        if order_ok:
            add("dose_response_order", "Table 17",
                "top-tier agents drawn and flip: visibility > the two milder protocols > RAND",
                "heat, every topic: that order for the mean top-tier agents and for Δ",
                f"{sum(order_ok)}/{len(order_ok)} topics ordered"
                + (f"; not: {', '.join(detail)}" if detail else ""), all(order_ok))
        # peak days
        peaks = [(tp, meta_peak(study, tp)) for tp in topics]
        evented = [(tp, p) for tp, p in peaks if p is not None
                   and meta.get("kinds", {}).get(tp) in ("final", "night", "runup")]
        if evented:
            hits = [tp for tp, p in evented
                    if int(np.argmax(study.full[(tp, "heat")]["delta"])) == int(p)]
            add("peak_day_event", "Table 15",
                "event topics peak on their event day (heat: argmax_t delta_t)",
                "detected peak day = the world's event day", f"{len(hits)}/{len(evented)} "
                "event topics", len(hits) == len(evented))
    if "extras" in results:
        ex = results["extras"]["result"]
        gaps = [r["gap_pp"] for v in ex.values() for r in v["anchors"] if r["value"] == "heat"]
        if gaps:
            add("anchor_gap_positive", "Table 14",
                "the flip is positive under all three top-tier anchors",
                "gap > 0 pp, heat, every topic × anchor", f"min {min(gaps):+.1f} pp",
                min(gaps) > 0)
        rat = [r["follower_only_delta_pp"] / r["composite_delta_pp"]
               for r in _pool_rows(ex) if r["composite_delta_pp"]]
        if rat:
            add("follower_pool_same_direction", "App. N",
                "follower-only pool: same direction and order of magnitude of the flip",
                "ratio of Δ (follower-only / composite) in [0.1, 10], every topic × f",
                f"ratios {min(rat):.2f}–{max(rat):.2f}", all(0.1 <= x <= 10 for x in rat))
    if "k_sweep" in results:
        ks = results["k_sweep"]["result"]
        sl = ks["slope"]
        add("k_sweep_rate", "Table 5", "midpoint error of heat falls as 1/K²",
            "fitted slope of log error on log K in [−2.2, −1.8]", f"slope {sl:.3f}",
            sl is not None and -2.2 <= sl <= -1.8)
    if "closed_vs_path" in results:
        rows = results["closed_vs_path"]["result"]["rows"]
        exact = [r["rel_mae"] for r in rows if r["value"] in ("linear", "variance")]
        gini = [r["rel_mae"] for r in rows if r["value"] == "gini"]
        sp = min(r["spearman_min"] for r in rows)
        add("closed_eq_path_exact", "Table 11",
            "linear and variance: path integral = closed form (path-independent integrand)",
            "relative MAE ≤ 1e-12 (float64)", f"max {max(exact):.2e}", max(exact) <= 1e-12)
        add("closed_eq_path_gini", "Table 11", "gini: path integral = closed form (MAE 0)",
            "relative MAE ≤ 1e-12 (float64)", f"max {max(gini):.2e}", max(gini) <= 1e-12)
        add("closed_path_spearman", "Table 11", "Spearman(closed, path) = 1",
            "min per-day Spearman ≥ 0.9999", f"min {sp:.6f}", sp >= 0.9999)
    if "theorem1" in results:
        ws = {w["value"]: w for w in results["theorem1"]["result"]["witnesses"]}
        lin = ws["linear"]
        add("witness_linear", "Theorem 1 (i)", "linear f: one factor c reconciles S and N",
            "spread of c_i ≤ 1e-12, rho ≤ 1e-12", f"spread {lin['c_spread']:.1e}, "
            f"rho {lin['rho']:.1e}", lin["c_spread"] <= 1e-12 and lin["rho"] <= 1e-12)
        bad = [w for k, w in ws.items() if k != "linear"
               and not (w["c_spread"] > 1e-6
                        and (w["hessian_offdiag_max"] > 1e-9 or not w.get("smooth", True)))]
        add("witness_nonlinear", "Theorem 1 (ii)",
            "nonlinear f (N = 3, |S| = 2; gini N = 4, |S| = 3): no common factor c_i",
            "spread of c_i > 1e-6; smooth f: a non-zero off-diagonal Hessian (Lemma 1)",
            ", ".join(f"{k}: c = {'/'.join(_g(x, 4) for x in w['c_i'])}"
                      for k, w in ws.items() if k != "linear"), not bad)
    if "synthetic" in results:
        res = results["synthetic"]["result"]
        br = res["brute"]
        worst = max(r["max_abs_diff"] / r["scale"] for r in br)
        add("exact_truth_brute_force", "Tables 6-8",
            "the exact-Shapley truth (enumeration) equals the brute-force subset formula",
            f"max |diff| / max |phi| ≤ 1e-12 at N = {br[0]['N']}", f"{worst:.1e}",
            worst <= 1e-12)
        ours = [r for r in res["rows"] if r["method"].startswith("ours")]
        for game, tol in (("additive", 1e-12), ("quadratic", 1e-12), ("softplus", 1e-4)):
            x = max(r["mae_vs_as"] for r in ours if r["game"] == game)
            add(f"synthetic_ours_{game}", "Tables 6-8",
                f"ours matches the AS value on {game} "
                + ("to numerical precision" if tol < 1e-6 else "to discretisation error"),
                f"MAE vs AS ≤ {tol:g} (max over seeds)", f"{x:.2e}", x <= tol)
    if "scenarios" in results:
        sc = results["scenarios"]["result"]
        for name in ("economy", "opinion"):
            fa = [r for tab in sc.get(name, []) if tab["table"] == "faithfulness"
                  for r in tab["rows"] if r["method"] == "ours"]
            if not fa:
                continue
            kt = min(r["kendall_vs_shapley"] for r in fa)
            top = min(r["top10_vs_shapley"] for r in fa)
            add(f"faithful_{name}", "Table 19",
                f"{name}: ours ranks agents like sampled Shapley",
                "Kendall ≥ 0.8 and top-10 overlap ≥ 8, every seed", f"Kendall min {kt:.3f}, "
                f"top-10 min {top}", kt >= 0.8 and top >= 8)
    return out


def meta_peak(study, topic):
    return study.topics[topic].get("peak_day")


def _pool_rows(ex):
    pool = {}
    for v in ex.values():
        for r in v["follower_pool"]:
            rec = pool.setdefault((r["topic"], r["value"]), {})
            tag = "composite" if r["pool"] == "BIAS_visibility" else "follower_only"
            rec[f"{tag}_delta_pp"] = r["delta_pp"]
    return list(pool.values())


# =============================================================================== figures


def save_report_figures(results: dict, study, out_dir, *, dpi: int = 50) -> list[str]:
    """The report's figures as small PNGs (atomic writes); returns their paths."""
    from ._figures import (
        heatmap_figure,
        pyplot,
        save_pngs,
        shares_vs_n_figure,
        tier_shares_figure,
    )

    plt = pyplot()
    figs = []
    if study is not None:
        figs += [("fig1a_heatmap_heat.png", heatmap_figure(study, "heat")),
                 ("fig1b_tier_shares.png", tier_shares_figure(study)),
                 ("t18_shares_vs_n.png", shares_vs_n_figure(study))]
    if "k_sweep" in results:
        figs.append(("t5_k_sweep.png", _k_sweep_figure(plt, results["k_sweep"]["result"])))
    if "scaling" in results:
        figs.append(("t9_scaling.png", _scaling_figure(plt, results["scaling"]["result"])))
    return save_pngs(figs, out_dir, dpi=dpi)


def _k_sweep_figure(plt, ks):
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    k = np.asarray([r["K"] for r in ks["rows"]], np.float64)
    e = np.asarray([r["rel_error"] for r in ks["rows"]])
    ax[0].loglog(k, e, "o-", label="midpoint vs closed form")
    ax[0].loglog(k, e[0] * (k[0] / k) ** 2, "k--", lw=0.8, label="1/K² from K = 5")
    ax[0].set_xlabel("K")
    ax[0].set_ylabel("relative L1 error")
    ax[0].legend(fontsize=8)
    ax[0].set_title(f"heat, {ks['topic']}, n = {ks['n']:,}, T = {ks['T']}", fontsize=9)
    for col, lab in (("seconds_subset", f"n = {ks['n']:,}"), ("seconds_full", "full panel")):
        s = [r[col] for r in ks["rows"]]
        if all(x is not None for x in s):
            ax[1].loglog(k, s, "o-", label=lab)
    ax[1].set_xlabel("K")
    ax[1].set_ylabel("wall-clock (s), float32")
    ax[1].legend(fontsize=8)
    ax[1].set_title("path integral wall-clock (this machine)", fontsize=9)
    return fig


def _scaling_figure(plt, sc):
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    rows = sc["rows"]
    for m in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == m and r.get("log10_seconds") is not None]
        if not rs:
            continue
        n = np.asarray([r["N"] for r in rs], np.float64)
        y = np.asarray([r["log10_seconds"] for r in rs])
        meas = np.asarray([r["status"] == "measured" for r in rs])
        line, = ax.plot(n[meas], y[meas], "o-", ms=3, label=rs[0]["label"])
        if (~meas).any():
            ax.plot(n, y, ":", color=line.get_color(), lw=0.8)
    ax.set_xscale("log")
    ax.set_ylim(top=min(ax.get_ylim()[1], 12))
    ax.set_xlabel("N (agents)")
    ax.set_ylabel("log10 seconds (dotted: extrapolated)")
    ax.set_title("heat, one step, float64, this machine", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    return fig


# =============================================================================== report


class _Doc:
    """Accumulates Markdown sections and the verdict of each paper artefact."""

    def __init__(self):
        self.head: list[str] = []
        self.parts: list[str] = []
        self.verdicts: list[tuple[str, str, str]] = []

    def add(self, text: str) -> None:
        self.parts.append(text.rstrip() + "\n")

    def head_add(self, text: str) -> None:
        self.head.append(text.rstrip() + "\n")

    def section(self, artefact: str, title: str, paper: str, ours: str, verdict: str,
                why: str) -> None:
        anchor = artefact
        self.verdicts.append((anchor, verdict, why))
        sep = "\n\n" if ours.lstrip().startswith("|") else " "
        self.add(f"## {artefact}: {title}\n\n**Paper.** {paper}\n\n**Ours.**{sep}{ours}\n\n"
                 f"**Verdict: {verdict}.** {why}\n")


def _check_map(checks):
    return {c["id"]: c for c in checks}


def _ok(cm, *ids) -> bool:
    return all(cm[i]["ok"] for i in ids if i in cm)


def _missing(stage: str) -> str:
    return (f"not run in this invocation (stage `{stage}` was left out: "
            f"`jaxattr reproduce --stages ... {stage}`)")


def render_report(results: dict, study, tables: dict, meta: dict, env: dict, *,
                  fig_prefix: str = "figures/", figures=()) -> tuple[str, list[dict]]:
    """The Markdown report and its checks.

    Args:
        results: stage records by name (``{"result": ..., "seconds": ...}``).
        study: the :class:`StudyResult` (None if the study stage did not run).
        tables: :func:`build_tables` output. meta: run facts (config, source, focus).
        env: machine, load average, wall time. fig_prefix: path prefix of figure links.
        figures: file names of the figures drawn (missing ones are not linked).
    """
    checks = report_checks(results, study, meta)
    cm = _check_map(checks)
    d = _Doc()
    figs = set(figures)

    def fig(name, alt):
        return f"\n\n![{alt}]({fig_prefix}{name})\n" if name in figs else ""

    cfg = meta["config"]
    focus = meta.get("focus")
    synthetic = meta.get("synthetic", True)
    _header(d, meta, env, cfg, synthetic)
    n = small_n(study) if study is not None else "100"

    ctx = _Ctx(results, study, tables, meta, cm, fig, focus, n, synthetic)
    for section in _SECTIONS:
        section(d, ctx)
    _mast_section(d)
    _deviations(d, meta)
    _footer(d, env)
    return _assemble(d, checks, tables), checks


class _Ctx(NamedTuple):
    """What every report section reads."""

    results: dict
    study: object
    tables: dict
    meta: dict
    cm: dict
    fig: object
    focus: str | None
    n: str
    synthetic: bool

def _sec_figure1(d: _Doc, ctx) -> None:
    """Figure 1."""
    study, cm, fig = ctx.study, ctx.cm, ctx.fig
    if study is not None:
        lines = ["| topic | event day (world) | peak of delta (heat) | top 1 bin | top 10 bins "
                 "| bottom 90 bins | bottom 90 bins, mean per bin / top bin |",
                 "|---|---|---|---|---|---|---|"]
        bottom_major = []
        for tp, tmeta in study.topics.items():
            h = np.asarray(study.full[(tp, "heat")]["heatmap"], np.float64)
            tot = h.sum()
            rowmass = h.sum(axis=1) / tot
            peak = int(np.argmax(study.full[(tp, "heat")]["delta"]))
            ev = tmeta.get("peak_day")
            labels = tmeta["time_labels"]
            bottom_major.append(rowmass[10:].sum() > rowmass[:10].sum())
            lines.append(f"| {tp} | {labels[ev] if ev is not None else '–'} | {labels[peak]} | "
                         f"{rowmass[0]:.3f} | {rowmass[:10].sum():.3f} | "
                         f"{rowmass[10:].sum():.3f} | {rowmass[10:].mean() / rowmass[0]:.3f} |")
        ok = all(bottom_major) and _ok(cm, "full_tail_mid_majority", "biased_top_flip")
        d.section(
            "Figure 1", "per-day attribution by follower percentile; biased vs full",
            "(a) On the full panel each follower-percentile bin of the long tail is "
            "individually pale, but the bottom bins together cover most of the attribution; "
            "the top one or two rows are bright but thin; each topic has its own time "
            "structure (sharp peaks for sports and entertainment, broader rises for politics "
            "and society, several peaks for technology). (b) The biased n = 100 panel "
            "concentrates the same attribution on the upper follower tiers.",
            "Heat's full-panel attribution mass per follower-percentile bin (100 bins, bin 1 = "
            "the top 1% by followers) and day, as a share of each topic's window total:\n\n"
            + "\n".join(lines) + fig("fig1a_heatmap_heat.png", "Figure 1(a) analogue")
            + fig("fig1b_tier_shares.png", "Figure 1(b) analogue")
            + "\n(b) is the tier-share comparison of Table 2 (bars: full panel, biased and "
            "random n = 100, ± std over 10 draws).",
            AGREE if ok else DIFFER,
            ("the bottom 90 bins carry more mass than the top 10 on every topic while each "
             "is far paler than the top bin, and the biased panel moves mass to the top tier "
             "(checks `full_tail_mid_majority`, `biased_top_flip`). The time structure is the "
             "synthetic world's by construction (see Table 15)." if ok else
             "see the checks `full_tail_mid_majority` and `biased_top_flip`."))


def _sec_table1(d: _Doc, ctx) -> None:
    """Table 1."""
    results, study, tables = ctx.results, ctx.study, ctx.tables
    if "axioms" in results:
        ax = tables["t1_axioms"]
        largest = (f"{max(m['N'] for m in study.topics.values()):,} agents × "
                   f"{next(iter(study.topics.values()))['T']} days" if study is not None
                   else "–")
        eff_ok = {r[0]: r[1] <= 1e-9 for r in ax.rows}
        ok = (eff_ok.get("ours (closed form)") and eff_ok.get("exact Shapley")
              and not eff_ok.get("exact Banzhaf") and not eff_ok.get("leave-one-out"))
        d.section(
            "Table 1", "methods, axioms, largest reported N",
            "Aumann–Shapley (ours) keeps all four axioms (efficiency, symmetry, dummy, "
            "linearity) and extends the largest reported N by over three orders of magnitude "
            "(prior axiomatic work: N ≲ 10^3). Leave-one-out and Banzhaf keep symmetry, dummy "
            "and linearity but lose efficiency. MAST, Who&When, AgenTracer and FAMAS "
            "(LLM-judge / trace-labelling methods) give no axiomatic guarantees.",
            "Each axiom's largest violation over heat and variance on an 8-agent step with "
            "two identical agents and one agent at the baseline (float64; efficiency is "
            "`|Σφ − Δ| / |Δ|`, the others relative to max |φ|):\n\n"
            + _md(ax) + f"\nLargest panel attributed in this run: {largest} per topic "
            "(closed forms, float32). Ours (path, K = 30) is efficient up to its quadrature "
            "error (heat's midpoint rule), which Table 5 measures. The LLM-judge rows need a "
            "model service (see *MAST and Who&When* below).",
            AGREE if ok else DIFFER,
            "ours and exact Shapley satisfy all four to float precision; exact Banzhaf and "
            "leave-one-out satisfy symmetry, dummy and linearity but not efficiency, as the "
            "paper says. The four LLM-judge rows are not reproducible offline." if ok else
            "the axiom table above disagrees with the paper's pattern.")


def _sec_table2(d: _Doc, ctx) -> None:
    """Table 2."""
    study, tables, cm, focus, n = ctx.study, ctx.tables, ctx.cm, ctx.focus, ctx.n
    if study is not None:
        tt = tables["three_tier"]
        fr = _focus_rows(study, focus, n)
        ok = _ok(cm, "full_tail_mid_majority", "biased_top_flip", "random_no_flip")
        ok_all = ok and _ok(cm, "biased_top_majority", "random_recovers_full")
        d.section(
            "Table 2", f"three-tier shares: biased n = {n} vs random vs full panel",
            "On Mythos at full scale the tail carries most of the attribution and the top 1% "
            "little; under the visibility-biased n = 100 panel the top tier's share triples, "
            "the mid tier's nearly doubles and the tail's collapses, so the upper tiers take "
            "\"almost everything\". The random control at the same n recovers the population "
            "fractions (one exception: The Masters under heat, from heat's saturating product "
            "at n = 100). The flip holds on all five topics and all three nonlinear f.",
            f"Mean ± std over 10 draws (full panel: one run); {focus} stands in for Mythos. "
            f"On {focus} (heat): top tier {fr['full'][0]:.3f} → {fr['biased'][0]:.3f} "
            f"(×{fr['biased'][0] / fr['full'][0]:.1f}), mid {fr['full'][1]:.3f} → "
            f"{fr['biased'][1]:.3f} (×{fr['biased'][1] / fr['full'][1]:.1f}), tail "
            f"{fr['full'][2]:.3f} → {fr['biased'][2]:.3f}; upper tiers "
            f"{_pp(100 * (fr['biased'][0] + fr['biased'][1] - fr['full'][0] - fr['full'][1]))}."
            "\n\n" + _md(tt, columns=["topic", "value", "setting", "top_mean", "top_std",
                                      "mid_mean", "mid_std", "tail_mean", "tail_std"],
                         where=lambda r: r["value"] in NONLINEAR)
            + "\nChecks: " + ", ".join(f"`{c}` {'holds' if cm[c]['ok'] else 'fails'}"
                                       for c in ("full_tail_mid_majority", "biased_top_flip",
                                                 "biased_top_majority", "random_no_flip",
                                                 "random_recovers_full")
                                       if c in cm) + " (check table above).",
            AGREE if ok_all else DIFFER, _table2_why(cm, ok, ok_all))


def _sec_table3(d: _Doc, ctx) -> None:
    """Table 3 + App. G."""
    study, tables, cm = ctx.study, ctx.tables, ctx.cm
    if study is not None:
        rt = tables["rho"]
        spread = {}
        for v in VALUES:
            xs = [r[5] for r in rt.rows if r[1] == v]
            spread[v] = (min(xs), max(xs)) if xs else (np.nan, np.nan)
        sp = {v: float(np.nanmean([r[9] for r in rt.rows if r[1] == v])) for v in VALUES}
        ok = _ok(cm, "rho_linear", "rho_nonlinear")
        d.section(
            "Table 3", "Theorem 1 on the study panels: the rescaling residual rho",
            "At n = 100 under the visibility-biased protocol (10 seeds per topic) rho stays at "
            "floating-point precision for linear f on all five topics and is uniformly "
            "positive for the three nonlinear f; the spread across topics is small, so rho is "
            "a property of f; magnitudes track the off-diagonal Hessian. Appendix G: the "
            "rank correlation between subset and full-panel attribution is 1 for linear f and "
            "falls as f becomes more nonlinear.",
            _md(rt, columns=["topic", "value", "rho_mean", "rho_std", "rho_max", "c_star",
                             "spearman", "kendall"])
            + "\nAcross topics: " + "; ".join(
                f"{v} rho {_g(a)}–{_g(b)}" for v, (a, b) in spread.items())
            + ". Mean Spearman (App. G): " + ", ".join(f"{v} {sp[v]:.3f}" for v in VALUES)
            + ".",
            AGREE if ok else DIFFER,
            "linear rho at float32 precision, nonlinear rho positive on every topic "
            "(`rho_linear`, `rho_nonlinear`); the ranking of magnitudes across f is this "
            "world's and is reported, not compared (the paper's values were lost in the "
            "text conversion)." if ok else "see `rho_linear` / `rho_nonlinear`.")


def _sec_theorem1(d: _Doc, ctx) -> None:
    """Theorem 1."""
    results, tables, cm = ctx.results, ctx.tables, ctx.cm
    if "theorem1" in results:
        th = results["theorem1"]["result"]
        pw = next(w for w in th["witnesses"] if w["value"] == "pairwise")
        ok = _ok(cm, "witness_linear", "witness_nonlinear")
        d.section(
            "Theorem 1", "the N = 3 witness (appendix A.3, Eq. 9–10)",
            "(i) For linear f one factor c reconciles subset and full-panel shares; (ii) for "
            "nonlinear f there are features, a baseline and a subset with no such c. The "
            "proof's witness (Eq. 9) uses N = 3 agents and |S| = 2, a smooth permutation-"
            "invariant family f_n with a non-zero off-diagonal Hessian (nonlinear by Lemma 1) "
            "whose attribution (Eq. 10) depends on the others through Σ_j z_j, and shows that "
            "the two agents of S need two different factors c. N = 3 is minimal.",
            "Eq. 9's formula did not survive the text conversion of our copy of the paper, so "
            "we check every property the text states on f's that have them: the pairwise "
            f"family `{th['pairwise_formula']}` (the smallest such family: "
            "φ_i = s_i (Σ_j s_j − s_i) / (2n), Eq. 10's form; the engine matches this closed "
            f"form to {th['pairwise_closed_form_gap']:.1e}), the project's variance witness, "
            "heat and gini, with linear f as the control. z = (1, 2, 4) and S = agents "
            "{2, 3} (heat: three features per agent; gini: N = 4, z = (1, 2, 4, 8), S = "
            "agents {1, 2, 4}, since at N = 3 its median agent gets zero attribution and the "
            "outer two keep their shares), zero baseline, float64:\n\n"
            + _md(tables["theorem1_witness"])
            + f"\nPairwise: agent 2 needs c = {_g(pw['c_i'][0], 4)}, agent 3 needs c = "
            f"{_g(pw['c_i'][1], 4)}; no single c exists (rho = {_g(pw['rho'])}). Linear: both "
            "need c = 1, rho = 0.",
            AGREE if ok else DIFFER,
            "the dichotomy holds on every witness (`witness_linear`, `witness_nonlinear`); "
            "that our pairwise family is the paper's Eq. 9 cannot be confirmed from the "
            "converted text." if ok else "see the witness checks.")


def _sec_timing(d: _Doc, ctx) -> None:
    """Table 4 / 9."""
    results, tables, cm, fig = ctx.results, ctx.tables, ctx.cm, ctx.fig
    if "scaling" in results:
        _timing_tables(d, results, tables, cm, fig)


def _sec_table5(d: _Doc, ctx) -> None:
    """Table 5."""
    results, tables, cm, fig = ctx.results, ctx.tables, ctx.cm, ctx.fig
    if "k_sweep" in results:
        ks = results["k_sweep"]["result"]
        rows = {r["K"]: r for r in ks["rows"]}
        e5, e300, e30 = (rows.get(k, {}).get("rel_error") for k in (5, 300, 30))
        same_order = (e5 is not None and e300 is not None
                      and 0.1 <= e5 / 4.0e-3 <= 10 and 0.1 <= e300 / 1.1e-6 <= 10)
        ok = _ok(cm, "k_sweep_rate") and same_order
        d.section(
            "Table 5", "heat: midpoint K sweep against the closed form, with wall-clock",
            "On heat at Mythos (N = 10^4) the relative error of the K-point midpoint rule "
            "against the analytic reference falls as 1/K² over K ∈ {5, 10, 20, 30, 50, 100, "
            "300}, from 4.0e-3 at K = 5 to 1.1e-6 at K = 300; wall-clock grows linearly in "
            "K; K = 30 is the default where no closed form exists.",
            f"{ks['topic']}, a uniform subset of n = {ks['n']:,} agents, all {ks['T']} days; "
            "error in float64 (relative L1 over all agents and days); wall-clock of the "
            "float32 path integral on the subset and on the full panel (min of 3 warm calls; "
            f"closed form: {_t(_secs(ks['seconds_closed_subset']))} and "
            f"{_t(_secs(ks['seconds_closed_full']))}). Fitted slope {ks['slope']:.3f}."
            "\n\n" + _md(tables["t5_k_sweep"], timing=("seconds_subset", "seconds_full"))
            + fig("t5_k_sweep.png", "Table 5 error and wall-clock"),
            AGREE if ok else DIFFER,
            (f"the rate is 1/K² (slope {ks['slope']:.2f}) and the errors are of the paper's "
             f"order ({_g(e5)} at K = 5, {_g(e300)} at K = 300 against 4.0e-3 and 1.1e-6); "
             f"K = 30 gives {_g(e30)}." if ok else
             f"rate {ks['slope']:.2f}; errors {_g(e5)} (K = 5) and {_g(e300)} (K = 300) "
             "against the paper's 4.0e-3 and 1.1e-6: the constant depends on the panel."))


def _sec_synthetic(d: _Doc, ctx) -> None:
    """Tables 6-8."""
    results, tables, cm = ctx.results, ctx.tables, ctx.cm
    if "synthetic" in results:
        _synthetic_section(d, results, tables, cm)


def _sec_table10(d: _Doc, ctx) -> None:
    """Table 10."""
    results, tables = ctx.results, ctx.tables
    if "baselines" in results:
        bt = tables["t10_baselines"]
        zm = [r for r in bt.records() if r["pair"].startswith("zero vs population")]
        kz = {(r["value"], r["setting"]): r["kendall_mean"] for r in zm}
        heat_zm = [r["kendall_min"] for r in zm if r["value"] == "heat"]
        ok = bool(heat_zm) and min(heat_zm) >= 0.9  # every draw of every setting
        jcols = [c for c in bt.columns if c.startswith("jaccard_top") and c.endswith("_mean")]
        d.section(
            "Table 10", "baseline robustness on the study panels",
            "On Mythos across five seeds the zero and population-mean baselines agree almost "
            "exactly (top-k Jaccard, Kendall and Spearman near 1 in every seed); the pre-event "
            "baseline (day-1 features) is more sensitive to day-to-day fluctuations.",
            f"{results['baselines']['result']['topic']}: subsets as their own population "
            "(`subset_attribution`, which now accepts `baseline=\"first\"`: each agent's own "
            "day-1 features), 5 draws per subset setting, and the full panel (one run; "
            "without gini, whose per-agent-baseline path integral sorts all N agents at every "
            "path node and day, by far the costliest cell). Rankings by window "
            "attribution; mean (and min) over draws:\n\n"
            + _md(bt, columns=["value", "setting", "pair"] + jcols
                  + ["kendall_mean", "kendall_min", "spearman_mean"])
            + "\nZero vs population mean, mean Kendall: " + ", ".join(
                f"{v} {_g(kz.get((v, s)))} ({s})" for v in VALUES
                for s in dict.fromkeys(r["setting"] for r in zm) if (v, s) in kz) + ".",
            AGREE if ok and all(x >= 0.9 for x in kz.values()) else DIFFER,
            "zero and mean agree closely for every f and setting, pre-event less so."
            if ok and all(x >= 0.9 for x in kz.values()) else
            ("for heat zero and population mean agree closely (Kendall ≥ 0.9 in every draw), "
             "pre-event much less, as the paper says; " if ok else
             "even for heat zero and population mean disagree; ")
            + "but not for variance and gini, and that follows from their closed forms: "
            "with the zero baseline variance gives s_i (s_i − s̄) / N (signed, growing with "
            "s_i), with the mean baseline (s_i − s̄)² / N (distance from the mean), and "
            "gini's rank weights change the same way. The converted text does not say "
            "which f the paper's Table 10 uses.")


def _sec_table11(d: _Doc, ctx) -> None:
    """Table 11."""
    results, tables, cm = ctx.results, ctx.tables, ctx.cm
    if "closed_vs_path" in results:
        ct = tables["t11_closed_vs_path"]
        ok = _ok(cm, "closed_eq_path_exact", "closed_path_spearman")
        gini_ok = _ok(cm, "closed_eq_path_gini")
        heat = {r["N"]: r["mae_mean"] for r in ct.records() if r["value"] == "heat"}
        ns = sorted(heat)
        dec = all(heat[a] > heat[b] for a, b in zip(ns, ns[1:], strict=False))
        d.section(
            "Table 11", "closed forms vs the K-point path integral across N (5 seeds)",
            "Per-agent MAE is exactly 0 for linear, variance and gini at every N (their "
            "integrands are path-independent, so one midpoint reproduces the integral); for "
            "heat the K-point rule carries a discretisation error that decays with N at fixed "
            "K because the integrand itself is O(1/N). Spearman is 1 in every cell; the "
            "efficiency violation stays small.",
            f"{results['closed_vs_path']['result']['topic']}, uniform subsets (seed = draw), "
            "all days, zero baseline, float64, K = 30:\n\n"
            + _md(ct, columns=["value", "N", "count", "mae_mean", "mae_std", "rel_mae_max",
                               "spearman_min_min", "efficiency_max_max"]),
            AGREE if ok and gini_ok and dec else DIFFER,
            ("as in the paper." if ok and gini_ok and dec else
             "linear and variance match to float64 precision"
             + (" and heat's MAE falls with N" if dec else "")
             + (""
                if gini_ok else
                "; gini does not reach exactly 0: its rank integrand is constant along the "
                "ray only in exact arithmetic. Agents whose composites s_i tie in exact "
                "arithmetic (the panel's float32 counts make many such ties) can swap order "
                "at some path points once the path is evaluated in floating point, and the "
                f"average-rank closed form and the path then differ by "
                f"{cm['closed_eq_path_gini']['ours']} relative MAE"
                + ("" if cm.get("closed_path_spearman", {}).get("ok", True) else
                   f" (and Spearman {cm['closed_path_spearman']['ours']})"))
             + "."))


def _sec_table12(d: _Doc, ctx) -> None:
    """Table 12."""
    results, tables, focus, n = ctx.results, ctx.tables, ctx.focus, ctx.n
    if "extras" in results:
        tk = tables["t12_topk"]
        topk = _md(tk, topic=focus, columns=["value", "protocol", "n", "jaccard_within_S",
                                             "jaccard_vs_global_topk", "global_topk_recall"])
        fr = [r for r in tk.records() if r["topic"] == focus]
        d.section(
            "Table 12", "top-k recovery by the small panel",
            "The small panel fails to recover the identity of the top-k agents on every "
            "topic.",
            "Two readings, both reported (k = 10; mean over draws): *within S*: the subset's "
            "top-k by its own attribution against the top-k of the same agents by full-panel "
            "attribution (the study's `rho` table column); *global*: the subset's top-k "
            "against the full panel's global top-k, and the recall of that global top-k "
            f"(how many of the N-agent top-k are in S at all). {focus}:\n\n"
            + topk,
            AGREE if all(r["jaccard_vs_global_topk"] < 0.5 for r in fr
                         if r["n"] == int(n)) else DIFFER,
            f"at n = {n} the small panel's top-10 shares little with the full panel's global "
            "top-10 (mostly because those agents are not in S at all: see the recall), which "
            "is the paper's reading. Within S, the subset's own ranking and the full-panel "
            "ranking of the same agents agree much better for linear f (Theorem 1 (i)) than "
            "for the nonlinear ones.")


def _sec_table13(d: _Doc, ctx) -> None:
    """Table 13."""
    study, tables, cm, n = ctx.study, ctx.tables, ctx.cm, ctx.n
    if study is not None:
        rows = []
        for v in VALUES:
            g = [100 * (float(mean_std(np.asarray(
                _cell(study, tp, v, "BIAS_visibility", n)["window_shares"])[:, 0])[0])
                - study.full[(tp, v)]["window_shares"][0]) for tp in study.topics
                if _cell(study, tp, v, "BIAS_visibility", n) is not None]
            rows.append(f"| {v} | {min(g):+.1f} | {max(g):+.1f} | "
                        f"{sum(x > 0 for x in g)}/{len(g)} |")
        ok = _ok(cm, "biased_top_flip")
        d.section(
            "Table 13", "full three-tier breakdown, all topics and all four f",
            "The biased-vs-full gap on the top tier is positive in every cell and the tail gap "
            "correspondingly negative; linear shifts least, heat more, variance and gini "
            "most.",
            f"Top-tier gap (biased n = {n} minus full), range over topics:\n\n"
            "| f | min gap (pp) | max gap (pp) | positive cells |\n|---|---|---|---|\n"
            + "\n".join(rows) + "\n\nEvery cell (mean ± std over 10 draws):\n\n"
            + _md(tables["three_tier"], columns=["topic", "value", "setting", "top_mean",
                                                 "top_std", "mid_mean", "tail_mean"],
                  where=lambda r: r["setting"] != "random"),
            AGREE if ok else DIFFER,
            "positive in every cell; the ordering of magnitudes across f is this world's "
            "(reported above) and the paper's pp values were lost in conversion." if ok else
            "see `biased_top_flip`.")


def _sec_table14(d: _Doc, ctx) -> None:
    """Table 14."""
    results, tables, cm, focus, n = ctx.results, ctx.tables, ctx.cm, ctx.focus, ctx.n
    if "extras" in results:
        at = tables["t14_anchors"]
        ov = results["extras"]["result"][focus]["anchor_overlap"]
        ok = _ok(cm, "anchor_gap_positive")
        recs = [r for r in at.records() if r["topic"] == focus]
        fol = {r["value"]: r["gap_pp"] for r in recs if r["anchor"] == "followers"}
        largest = all(fol[r["value"]] >= r["gap_pp"] for r in recs if r["anchor"] != "followers")
        d.section(
            "Table 14", "alternative top-tier anchors",
            "Repeating the comparison with the top 1% by 7-day post count and by 7-day "
            "replies received (overlap with the follower anchor: small Jaccard), all three "
            "anchors give a positive gap; it is largest under the follower anchor; the post "
            "and reply anchors already carry a larger full-panel share.",
            f"{focus}, biased n = {n} (the study's BIAS_visibility draws), 7-day counts from "
            "the features (posts + reposts = expm1(activity), replies = expm1(resonance), "
            "days 1–7). Jaccard with the follower anchor: posts "
            f"{ov['posts']:.3f}, replies {ov['replies']:.3f}.\n\n"
            + _md(at, topic=focus,
                  columns=["value", "anchor", "agents_in_S", "biased_share_mean",
                           "full_share", "gap_pp"]),
            AGREE if ok and largest else DIFFER,
            ("positive under every anchor, largest under followers." if ok and largest else
             "the gap is positive under every anchor (`anchor_gap_positive`), but it is not "
             "largest under the follower anchor here: in the synthetic world the "
             "visibility pool (followers + engagement) selects the most active posters and "
             "reply-getters even more strongly than the follower elite." if ok else
             "see `anchor_gap_positive`."))


def _sec_table15(d: _Doc, ctx) -> None:
    """Table 15."""
    study, tables, cm, synthetic = ctx.study, ctx.tables, ctx.cm, ctx.synthetic
    if study is not None:
        pt = tables["peak_day"]
        ok = _ok(cm, "peak_day_event")
        d.section(
            "Table 15", "peak day per topic with tier shares that day",
            "Sports peaks on the final-round day (The Masters, April 13), entertainment on "
            "the event night (WrestleMania, April 19) with the highest tail share of any "
            "topic-day, society in the run-up to its dated day (Earth Day); politics and "
            "technology are flatter without a single dominant peak; peak-day tier shares "
            "vary across topics, while the biased small panel gives every topic the same "
            "shape (the upper tier drives it every day).",
            "Peak day = argmax_t delta_t of the full panel"
            + ("; the world's event day from its generator (the synthetic topics mirror the "
               "paper's by shape: " + "; ".join(f"{p} ↔ {s}" for p, s, _ in PAPER_TOPICS)
               + ")" if synthetic else "; event day from the panel's metadata, if any")
            + ":\n\n"
            + _md(pt, where=lambda r: r["value"] == "heat",
                  columns=["topic", "peak_label", "world_peak_label", "full_top", "full_mid",
                           "full_tail", "biased_top", "biased_mid", "biased_tail"]),
            AGREE if ok else DIFFER,
            "the event topics peak on their event day and the biased panel's tier shares on "
            "the peak day are top-heavy for every topic; in this world the event days are "
            "planted by the generator, so this checks the pipeline, not an event." if ok
            else "see `peak_day_event`.")


def _sec_table16(d: _Doc, ctx) -> None:
    """Table 16."""
    study, tables, focus = ctx.study, ctx.tables, ctx.focus
    if study is not None:
        stt = tables["stability"]
        recs = [r for r in stt.records() if r["topic"] == focus and r["value"] == "heat"]
        small = [r for r in recs if r["n_label"] != FULL and int(r["n_label"]) <= 1000]
        ok = bool(small) and all(r["days_above"] == r["days"] for r in small)
        d.section(
            "Table 16", "14-day stability of the small-biased flip",
            "On Mythos, at six sample sizes under the visibility-biased protocol, the "
            "per-day top-tier share (mean and std across the 14 days) stays in a narrow band "
            "above the full panel's: the flip is not driven by a few days.",
            f"{focus}, heat, BIAS_visibility; `days_above` counts days whose subset share "
            "(mean over draws) exceeds the full panel's that day:\n\n"
            + _md(stt, where=lambda r: r["topic"] == focus and r["value"] == "heat",
                  columns=["n_label", "top_day_mean", "top_day_std", "full_top_day_mean",
                           "gap_pp", "days_above", "days"]),
            AGREE if ok else DIFFER,
            "at the small sizes the biased share is above the full panel's on every day."
            if ok else "some days at small n do not show the flip (see `days_above`).")


def _sec_table17(d: _Doc, ctx) -> None:
    """Table 17 + App. N."""
    results, study, tables, cm, focus, n = (
        ctx.results, ctx.study, ctx.tables, ctx.cm, ctx.focus, ctx.n)
    if study is not None:
        dt = tables["dose_response"]
        ok = _ok(cm, "dose_response_order", "random_no_flip")
        d.section(
            "Table 17", "dose-response across sampling protocols",
            "On Mythos at n = 100 (heat): BIAS_visibility pre-concentrates the most top-tier "
            "agents and produces by far the largest flip; BIAS_topic_x_follow and "
            "BIAS_topic_top draw fewer and give intermediate flips of similar size; RAND "
            "draws about its population share of top-tier agents and gives no flip. The same "
            "pattern holds for the other three f.",
            _md(dt, topic=focus,
                columns=["value", "protocol", "top_agents", "top_share_mean",
                         "top_share_std", "full_top_share", "delta_pp"]),
            AGREE if ok else DIFFER,
            "ordered as in the paper on every topic (heat), RAND without a flip "
            "(`dose_response_order`, `random_no_flip`)." if ok else
            _table17_why(study, focus, n, cm))
    if "extras" in results:
        pt = tables["appN_follower_pool"]
        ok = _ok(cm, "follower_pool_same_direction")
        d.section(
            "Appendix N", "follower-only visibility pool",
            "Replacing the composite visibility score by followers alone leaves the direction "
            "and order of magnitude of the flip unchanged for all four f.",
            f"{focus}, n = {n}, 10 draws; pool = top 1% by followers (drawn with its own "
            "seeds); Δ = biased top-tier share − full-panel share. With p = 1%, the top "
            "tier's own fraction, a follower-only pool *is* the top tier, so every sampled "
            "agent is top-tier (the paper's p is not in the converted text):\n\n"
            + _md(pt, topic=focus,
                  columns=["value", "composite_top_agents", "composite_delta_pp",
                           "follower_only_top_agents", "follower_only_delta_pp", "ratio"]),
            AGREE if ok else DIFFER,
            "same direction, same order of magnitude on every topic and f "
            f"({cm['follower_pool_same_direction']['ours']})." if ok and
            "follower_pool_same_direction" in cm else
            "the follower-only pool holds only top-tier agents, so its flip is far larger "
            f"({cm.get('follower_pool_same_direction', {}).get('ours', '')}).")


def _sec_table18(d: _Doc, ctx) -> None:
    """Table 18."""
    study, tables, fig, focus = ctx.study, ctx.tables, ctx.fig, ctx.focus
    if study is not None:
        st = tables["shares_vs_n"]
        pool = int(math.ceil(0.01 * study.topics[focus]["N"]))
        d.section(
            "Table 18", f"{focus} cross-scale numerics at six sample sizes",
            "Under the visibility-biased protocol the top-tier share peaks near a small n "
            "(not necessarily at 100), then decays smoothly toward the full-panel value once "
            "n grows past the visibility pool's size (the top p% of the panel), where the protocol "
            "can no longer keep the subset concentrated; under the random protocol it stays "
            "near the population value, with more variance at small n.",
            f"heat; pool size {pool:,}; mean ± std over 10 draws (full: one run)."
            + fig("t18_shares_vs_n.png", "top-tier share vs n") + "\n\n"
            + _md(st, where=lambda r: r["topic"] == focus and r["value"] == "heat"
                  and r["protocol"] in ("BIAS_visibility", "RAND"),
                  columns=["protocol", "n_label", "top_mean", "top_std", "mid_mean",
                           "tail_mean", "rho_mean"]),
            *_table18_verdict(study, focus, pool))


def _sec_scenarios(d: _Doc, ctx) -> None:
    """Tables 19-21."""
    results, tables, cm = ctx.results, ctx.tables, ctx.cm
    if "scenarios" in results:
        _scenario_sections(d, results, tables, cm)
    else:
        for a in ("Table 19", "Table 20", "Table 21"):
            d.add(f"## {a}\n\n{_missing('scenarios')}\n")


def _sec_not_run(d: _Doc, ctx) -> None:
    """not run."""
    results = ctx.results
    for stage, arts in (("axioms", "Table 1"), ("scaling", "Tables 4 and 9"),
                        ("k_sweep", "Table 5"), ("synthetic", "Tables 6–8"),
                        ("baselines", "Table 10"), ("closed_vs_path", "Table 11"),
                        ("extras", "Tables 12, 14 and Appendix N"),
                        ("theorem1", "Theorem 1"),
                        ("study", "Figure 1, Tables 2, 3, 13, 15–18")):
        if stage not in results:
            d.add(f"## {arts}\n\n{_missing(stage)}\n")


#: The report sections in the paper's order (Tables 4, 9 and the speed-up: "timing").
_SECTIONS = (
    _sec_figure1, _sec_table1, _sec_table2, _sec_table3, _sec_theorem1, _sec_timing, _sec_table5,
    _sec_synthetic, _sec_table10, _sec_table11, _sec_table12, _sec_table13, _sec_table14,
    _sec_table15, _sec_table16, _sec_table17, _sec_table18, _sec_scenarios, _sec_not_run)

def _table2_why(cm, ok, ok_all) -> str:
    if ok_all:
        return ("direction, magnitude and the random control all as in the paper (on a world "
                "generated to have heavy-tailed followers; not a finding about Bluesky).")
    parts = ["the direction reproduces: the full panel's mid + tail majority, a positive "
             "top-tier flip in every cell and no upward flip under RAND" if ok else
             "the direction reproduces only in part (see the checks)"]
    m = cm.get("biased_top_majority")
    if m is not None and not m["ok"]:
        parts.append(f"\"almost everything\" does not ({m['ours']} of the nonlinear cells "
                     "give the top tier at least half): the synthetic world's visibility pool "
                     "mixes top- and mid-tier agents, so the mid tier takes a large part")
    r = cm.get("random_recovers_full")
    if r is not None and not r["ok"]:
        parts.append(f"RAND's mean misses the full-panel share by more than 3 SE in some cells "
                     f"({r['ours']}): a random n = 100 subset holds about one top-tier agent, "
                     "so the per-draw shares are skewed (mostly below the population value, "
                     "rarely far above) and 10 draws understate the spread")
    return "; ".join(parts) + "."


def _table17_why(study, focus, n, cm) -> str:
    parts = []
    vals = {}
    for p in ("BIAS_visibility", "BIAS_topic_x_follow", "BIAS_topic_top", "RAND"):
        c = _cell(study, focus, "heat", p, n)
        if c is None:
            continue
        full = study.full[(focus, "heat")]["window_shares"][0]
        vals[p] = (float(np.mean(np.asarray(c["tier_counts"])[:, 0])),
                   100 * (float(mean_std(np.asarray(c["window_shares"])[:, 0])[0]) - full))
    if vals:
        parts.append("BIAS_visibility draws by far the most top-tier agents and gives the "
                     "largest flip, as in the paper, but the two milder protocols do not sit "
                     "between it and RAND: on " + focus + " (heat) they draw "
                     + ", ".join(f"{p} {a:.1f} top-tier agents (Δ {d:+.1f} pp)"
                                 for p, (a, d) in vals.items())
                     + ". Their pools (active agents ranked by followers × engagement, or by "
                     "engagement) hold few top-tier agents in the synthetic world, so their "
                     "flips are within RAND's noise")
    if "dose_response_order" in cm and not cm["dose_response_order"]["ok"]:
        parts.append(f"`dose_response_order`: {cm['dose_response_order']['ours']}")
    if "random_no_flip" in cm and not cm["random_no_flip"]["ok"]:
        parts.append(f"`random_no_flip`: {cm['random_no_flip']['ours']}")
    return "; ".join(parts) + "."


def _table18_verdict(study, focus, pool):
    rows = {}
    for r in study.cells:
        if r["topic"] == focus and r["value"] == "heat" and r["protocol"] == "BIAS_visibility":
            rows[r["n"]] = float(mean_std(np.asarray(r["window_shares"])[:, 0])[0])
    ns = sorted(rows)
    past = [k for k in ns if k > pool]
    decays = all(rows[a] >= rows[b] for a, b in zip(past, past[1:], strict=False))
    above = [k for k in ns if k <= pool]
    peak = max(rows, key=rows.get)
    ok = decays and bool(above)
    by_n = ", ".join(f"{k:,}: {rows[k]:.3f}" for k in ns)
    why = (f"the biased top-tier share is highest at n = {peak:,} and falls toward the full "
           f"panel's as n grows past the pool size ({by_n})." if ok else
           f"the top-tier share by n is {by_n}; it does not fall steadily past the pool size.")
    return (AGREE if ok else DIFFER), why


def _focus_rows(study, focus, n):
    out = {"full": study.full[(focus, "heat")]["window_shares"]}
    c = _cell(study, focus, "heat", "BIAS_visibility", n)
    out["biased"] = list(mean_std(np.asarray(c["window_shares"]))[0])
    return out


def _header(d: _Doc, meta, env, cfg, synthetic):
    src = meta["source"]
    if synthetic:
        world = (f"the synthetic Bluesky-like world of `jaxattr.data.synthetic_world` "
                 f"(seed {cfg['seed']}, "
                 + (f"{cfg['agents']:,} agents" if cfg["agents"] else "1,671,587 agents")
                 + " × 14 days × 5 topics)")
    else:
        world = "captured panels: " + ", ".join(os.path.basename(f[0]) for f in src["files"])
    d.head_add("# Reproducing the paper, table by table\n\n"
          "This report is written by `jaxattr reproduce` "
          f"({'the full configuration' if cfg['name'] == 'full' else 'the quick configuration'})"
          f" and puts every artefact of *Attributing Emergence in Million-Agent Systems* "
          "(Tang et al., arXiv 2605.11404) beside this project's result: the paper's claim "
          "(its number where the converted text kept it, else its direction), ours, and a "
          "verdict (**agree**, **differ** or **not reproducible offline**) with the reason. "
          "Every number below comes from that command; none is typed in.\n")
    if synthetic:
        d.head_add("> **Synthetic-world caveat.** The study sections run on " + world + ", not on "
              "Bluesky. The world was generated to have heavy-tailed followers and topic events "
              "with peak days, so agreement there shows that the machinery reproduces the "
              "paper's analysis and its direction on such a world; it is **not** evidence about "
              "Bluesky. Run `jaxattr reproduce --panels A.parquet B.parquet ...` on a real "
              "capture (see `docs/data.md`) to test the paper's empirical claims.\n")
    else:
        d.head_add(f"> Data: {world}.\n")
    d.head_add("Conventions: *n* is the subset size, *N* the panel size; \"full\" is the whole "
          "panel; shares are within-subset normalised attribution (`RG_G(S)`); std is over "
          "the 10 subset draws of a cell (ddof 1). Values and verdicts inside ⟦ ⟧ are "
          "wall-clock timings or derived from them: they change from run to run and machine "
          "to machine; `python tests/scripts/check_reproduction.py` regenerates this file and "
          "diffs it against the committed one with those spans ignored. "
          + ("The paper's topics are mirrored by synthetic topics of the same temporal "
             "shape: " + "; ".join(f"{p} ↔ `{s}` ({shape})" for p, s, shape in PAPER_TOPICS)
             + "; " if synthetic else "")
          + f"the analyses the paper runs on Mythos use `{meta.get('focus')}`.\n")


def _timing_tables(d: _Doc, results, tables, cm, fig):
    sc = results["scaling"]["result"]
    rows = sc["rows"]
    cell = {(r["method"], r["N"]): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    labels = {r["method"]: r["label"] for r in rows}
    ns = sorted({r["N"] for r in rows})

    def fmt(r):
        if r is None or r.get("log10_seconds") is None:
            return "–"
        s = (_secs(r["seconds"]) if r.get("seconds") is not None
             else f"10^{r['log10_seconds'] - math.log10(3600 * 24 * 365):.0f} yr")
        return s + (" *" if r["status"] == "extrapolated" else "")

    head = "| N | " + " | ".join(labels[m] for m in methods) + " |"
    lines = [head, "|" + "---|" * (len(methods) + 1)]
    for n in ns:
        lines.append(f"| {n:,} | " + " | ".join(_t(fmt(cell.get((m, n)))) for m in methods)
                     + " |")
    mach = sc["machine"]
    where = (f"{mach['cpu']}, {mach['cpu_count']} cores, JAX {sc['jax']} {sc['backend']}; "
             f"heat, one step (day {sc['day'] + 1}) of uniform subsets of `{sc['topic']}`, "
             "d = 3, float64 (ours also in float32, the dtype of the study); median of up to 3 "
             "warm calls; * = extrapolated by the method's cost law from its largest measured "
             "cell: the naive NumPy sampler O(M·N²), sampled Shapley and the prefix-sum "
             "sampler O(M·N log N) (each permutation is a sort), exact enumeration O(2^N·N), "
             "the rest O(N); a cell is measured when its predicted time fits the per-cell "
             "budget)")
    big = max(ns)
    sp = {(r["sampler"], r["ours"]): r for r in speedups(rows) if r["N"] == big}

    def ratio(key, ours="ours_closed"):
        r = sp.get((key, ours))
        if r is None:
            return "–"
        return f"10^{r['log10_ratio']:.1f} ({10 ** r['log10_ratio']:.3g}×)" + (
            " *" if r["status"] == "extrapolated" else "")

    strongest = sp.get(("sampled_shapley", "ours_closed"))
    four = strongest is not None and strongest["log10_ratio"] >= 4
    honest = [sp[(k, "ours_closed")]["log10_ratio"] for k in ("sampled_shapley", "numpy_prefix")
              if (k, "ours_closed") in sp]
    honest_txt = (f"10^{min(honest):.1f}–10^{max(honest):.1f}" if honest else "–")
    naive = sp.get(("numpy_naive", "ours_closed"))
    naive_four = naive is not None and naive["log10_ratio"] >= 4
    d.section(
        "Table 4", "wall-clock of ours vs the Shapley family",
        "On one Apple M4 CPU node, ours at N = 10^6 takes milliseconds (under ten) while "
        "sampled Shapley takes seconds to hours: three to five orders of magnitude faster "
        "across N (abstract: four to five orders over sampled Shapley on the same hardware). "
        "Leave-one-out matches our linear scaling but keeps only three axioms; exact "
        "Shapley and Banzhaf are infeasible beyond small N (enumeration).",
        f"Measured on this machine ({where}):\n\n" + "\n".join(lines)
        + fig("t9_scaling.png", "wall time vs N"),
        _t(AGREE if four else DIFFER),
        _t(f"at N = {big:,} ours (closed form, float64) is {ratio('sampled_shapley')} faster "
           f"than our own JAX sampled Shapley (M = 100, mean-field O(M·N)), "
           f"{ratio('numpy_prefix')} than the NumPy prefix-sum sampler and "
           f"{ratio('numpy_naive')} than the naive O(M·N²) NumPy sampler")
        + ". The paper's sampled Shapley is not specified beyond M; against the samplers "
        "that use the mean-field O(1) coalition update (the strongest honest version for "
        f"these f) the gap is {_t(honest_txt)}"
        + _t(", four orders or more only against the naive sampler" if naive_four and not four
             else "") + ". See *Speed-up* below.")
    d.section(
        "Table 9", "per-N wall-clock across six methods",
        "Ours grows linearly in N; LOO likewise; sampled Shapley and Banzhaf (M samples) are "
        "orders of magnitude slower; exact Shapley and Banzhaf are infeasible beyond N ≈ 20.",
        "The table under Table 4 (same run); exact enumeration is refused above N = 20 here "
        "(and above 25 without `force`); its cells beyond are 2^N extrapolations.",
        AGREE,
        "exact enumeration is infeasible beyond N ≈ 20–25 and every other method scales "
        "about linearly in N; the sizes of the gaps are the timing claims below.")
    # speed-up and the timing claims
    lines = ["| sampler | ours (closed form, float64) | ours (closed form, float32) |",
             "|---|---|---|"]
    for key, label in SAMPLERS:
        if (key, "ours_closed") in sp:
            lines.append(f"| {label} | {_t(ratio(key))} | {_t(ratio(key, 'ours_closed_f32'))} |")
    ours6 = cell.get(("ours_closed_f32", big))
    ours6_64 = cell.get(("ours_closed", big))
    path6 = cell.get(("ours_path", big))
    fast = ours6 is not None and ours6.get("seconds") is not None and ours6["seconds"] < 0.01
    slopes = []
    for m in ("ours_closed", "ours_closed_f32", "loo", "sampled_shapley", "numpy_prefix"):
        pts = [(math.log10(r["N"]), r["log10_seconds"]) for r in rows
               if r["method"] == m and r["status"] == "measured" and r["N"] >= 10_000]
        if len(pts) >= 2:
            x, y = np.asarray(pts).T
            slopes.append(f"{labels[m]} {np.polyfit(x, y, 1)[0]:.2f}")
    d.section(
        "Speed-up", "the paper's headline against each sampler",
        "Four to five orders of magnitude faster than sampled Shapley on the same hardware "
        "(abstract, §1); N = 10^6 in under ten milliseconds on one CPU node.",
        f"Speed-up of ours over each sampler at N = {big:,} (this run):\n\n" + "\n".join(lines)
        + f"\n\nOurs at N = {big:,}: closed form {_t(fmt(ours6))} (float32), "
        f"{_t(fmt(ours6_64))} (float64, including input validation and the host-to-device "
        f"copy); path integral K = 30 {_t(fmt(path6))}. Slopes of log time on log N for "
        f"N ≥ 10^4: {_t(', '.join(slopes) or '–')}.",
        _t(AGREE if four else DIFFER),
        _t("under ten milliseconds at N = 10^6: " + ("yes" if fast else "no")
           + f"; the ratio to the strongest sampler is {ratio('sampled_shapley')}")
        + ". Against the mean-field samplers, the honest comparison for these value "
        f"functions, the gap is {_t(honest_txt)}; against a sampler that re-evaluates f on "
        f"every prefix coalition (O(M·N²)) it is {_t(ratio('numpy_naive'))}. Hardware "
        "differs (a 2-core AMD EPYC VM, not an Apple M4), which matters for the "
        "milliseconds; the ratios are measured in the same run, under the load shown "
        "under *This run*.")


def _synthetic_section(d: _Doc, results, tables, cm):
    res = results["synthetic"]["result"]
    tab = tables["t6_8_synthetic"]
    n = res["rows"][0]["N"]
    seeds = len({r["seed"] for r in res["rows"]})
    m = res["rows"][0]["M"]
    gap = {r["game"]: r["truth_gap_mean"] for r in tab.records()}

    def doc_table(game):
        cols = [("method", "method"), ("mae_vs_as_mean", "MAE vs AS value_mean"),
                ("mae_vs_as_std", "MAE vs AS value_std"),
                ("mae_vs_shapley_mean", "MAE vs exact Shapley_mean"),
                ("mae_vs_shapley_std", "MAE vs exact Shapley_std"),
                ("cosine_vs_as_mean", "cosine vs AS"),
                ("cosine_vs_shapley_mean", "cosine vs exact Shapley"),
                ("kendall_top_vs_as_mean", "top-10 Kendall vs AS"),
                ("kendall_top_vs_shapley_mean", "top-10 Kendall vs exact Shapley"),
                ("efficiency_error_mean", "efficiency error")]
        recs = [r for r in tab.records() if r["game"] == game]
        rows = [[r[k] for k, _ in cols] for r in recs]
        rows += [[name] + ["not reproducible offline"] + [float("nan")] * (len(cols) - 2)
                 for name in ("MAST (LLM judge)", "Who&When (LLM judge)")]
        return Table(game, "", [c for _, c in cols], rows).to_markdown()

    common = (f"N = {n} agents, d = 3, features U(0, 1), zero baseline, {seeds} seeds "
              f"(mean ± std over seeds), float64, M = {m} samples, K = 30. Two truths per "
              "game: the Aumann–Shapley value (analytic; softplus: a 64-node Gauss–Legendre "
              "path integral) and the exact Shapley value of the baseline-replacement game "
              f"(enumeration of all 2^{n} coalitions, checked against a brute-force subset "
              f"formula at N = {res['brute'][0]['N']}: max relative difference "
              f"{cm['exact_truth_brute_force']['ours']}). Columns say which truth they use; "
              "efficiency error needs none.")
    games = (("Table 6", "additive", "f = Σ_i w_i s_i (agent-specific weights)"),
             ("Table 7", "quadratic", "f = sᵀ A s / N (cross terms)"),
             ("Table 8", "softplus", "f = softplus(uᵀ s / √N)"))
    paper = ("Ours matches the analytic ground truth to numerical precision on the additive "
             "and quadratic functions and to discretisation error on softplus; sampled "
             "Shapley and Banzhaf keep high cosine similarity but show visible MAE on "
             "quadratic and softplus at their sample budget; LOO has much larger errors; MAST "
             "and Who&When (prompt-based) do not reach the precision of structural methods.")
    for art, game, formula in games:
        recs = {r["method"]: r for r in tab.records() if r["game"] == game}
        ours = next(r for k, r in recs.items() if k.startswith("ours"))
        sh = next(r for k, r in recs.items() if k.startswith("sampled Shapley (M"))
        loo = recs.get("leave-one-out")
        ok = cm[f"synthetic_ours_{game}"]["ok"]
        if game == "softplus":
            why = (f"ours is within discretisation error of the AS value "
                   f"({_g(ours['mae_vs_as_mean'])}). The two truths differ here by "
                   f"{_g(gap[game])} (mean |AS − Shapley|): softplus is not a pairwise game. "
                   f"Sampled Shapley's MAE against the AS value ({_g(sh['mae_vs_as_mean'])}) is "
                   "therefore mostly that definitional gap; against its own target, the exact "
                   f"Shapley value, it is {_g(sh['mae_vs_shapley_mean'])} (sampling noise), and "
                   "the antithetic sampler is closer still. The project's earlier table called "
                   "the AS value the \"analytic ground truth\" for every method; it is the "
                   "truth only for ours. The LLM-judge rows are not reproducible offline.")
        else:
            why = (f"ours matches to {_g(ours['mae_vs_as_mean'])}; the two truths coincide "
                   f"(gap {_g(gap[game])}) because the game has at most pairwise terms, so "
                   "antithetic permutation pairs are exact too; "
                   + (f"plain sampled Shapley shows sampling MAE {_g(sh['mae_vs_shapley_mean'])}"
                      f" and LOO {_g(loo['mae_vs_as_mean'])}" if game == "quadratic" else
                      "every Shapley-type estimator is exact on an additive game except the "
                      "Banzhaf MSR estimator, whose MAE is its sampling noise")
                   + ". The LLM-judge rows are not reproducible offline.")
        d.section(art, f"synthetic benchmark, {game}: {formula}", paper,
                  common + "\n\n" + doc_table(game), AGREE if ok else DIFFER, why)


def _scenario_sections(d: _Doc, results, tables, cm):
    ft = tables["t19_faithfulness"]
    recs = ft.records()
    lines = ["| scenario | N | method | deletion AUC (by magnitude) | deletion AUC (signed) | "
             "Kendall vs sampled Shapley (mean / min) | top-10 vs Shapley | "
             "AUC vs Shapley (magnitude) | time |", "|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        kt = ("–" if not np.isfinite(r["kendall_vs_shapley_mean"]) else
              f"{r['kendall_vs_shapley_mean']:.3f} / {r['kendall_vs_shapley_min']:.3f}")
        top = ("–" if not np.isfinite(r["top10_vs_shapley_mean"])
               else f"{r['top10_vs_shapley_mean']:.1f}")
        rel = ("–" if not np.isfinite(r["auc_rel_diff_vs_shapley_mean"])
               else f"{100 * r['auc_rel_diff_vs_shapley_mean']:+.2f}%")
        lines.append(f"| {r['scenario']} | {r['N']:,} | {r['method']} | "
                     f"{_g(r['deletion_auc_mean'], 4)} | {_g(r['deletion_auc_signed_mean'], 4)} | "
                     f"{kt} | {top} | {rel} | {_t(_secs(r['time_s_mean']))} |")
    cost = tables["t19_midscale_cost"].records()
    seeds = {r["scenario"]: r["count"] for r in recs if r["method"] == "ours"}
    ok = _ok(cm, "faithful_economy", "faithful_opinion")
    cost_txt = ""
    if cost:
        c = cost[0]
        cost_txt = (f"MidScale (N = {c['N']:,}): one risk evaluation "
                    f"{_t(_secs(c['risk_eval_s']))}, so generic sampled Shapley with M = 1000 "
                    f"needs M (N + 1) evaluations ≈ {_t(_secs(c['shapley_generic_M1000_s']))}; "
                    "with the mean-field O(1) coalition update it takes "
                    f"{_t(_secs(c['shapley_meanfield_M1000_s']))}; ours "
                    f"{_t(_secs(c['attribute_s']))}.")
    d.section(
        "Table 19", "LLM-MAS validation: faithfulness and agreement with sampled Shapley",
        "EconAgent: ours and sampled Shapley agree (Kendall tau high, full top-10 overlap) "
        "and their deletion AUCs match closely, both far above random. SocialLLM (N = 20): "
        "the deletion test saturates (all axiomatic methods land on the same AUC); rank "
        "agreement separates them. MidScale-Social: sampled Shapley is impractical at the "
        "authors' budget (M (N + 1) evaluations of an O(N) indicator); ours and LOO give "
        "identical small AUCs, an order of magnitude above random. Deletion AUC ranks agents "
        "by attribution **magnitude**.",
        "Our JAX simulators stand in for the LLM systems (`jaxattr.scenarios`: economy ↔ "
        "EconAgent, opinion ↔ SocialLLM, midscale ↔ MidScale-Social; rule-based policies, an "
        "LLM plugs in through `ExternalPolicy`); seeds: "
        + ", ".join(f"{k} {v}" for k, v in seeds.items())
        + ". Deletion AUC is reported both ways: by magnitude (the paper's definition, now "
        "`faithfulness`'s `deletion_auc`) and by signed score (`deletion_auc_signed`, the "
        "project's earlier definition); they differ only where agents have negative "
        "attribution (the economy's).\n\n" + "\n".join(lines) + "\n\n" + cost_txt,
        AGREE if ok else DIFFER,
        ("ours agrees with sampled Shapley on rankings where it is computed "
         f"({cm.get('faithful_economy', {}).get('ours', '–')} on the economy, "
         f"{cm.get('faithful_opinion', {}).get('ours', '–')} on the opinion network), the "
         "opinion deletion test saturates as in the paper, and ours is far above random "
         "everywhere. Two differences of substance: on MidScale sampled Shapley stays "
         "feasible here because its risk is mean-field (O(M·N) with O(1) coalition updates), "
         "and our economy risk has no systemic-gap term (see *Deviations*). The original "
         "LLM-driven systems are not reproducible offline." if ok else
         "see `faithful_economy` / `faithful_opinion`."))
    pt = tables["t20_path"].records()
    pk = {r["scenario"]: r["kendall_mean_mean"] for r in pt}
    ok = all(pk.get(s, 0) >= 0.7 for s in ("opinion", "midscale"))
    d.section(
        "Table 20", "path choice: straight line vs random coordinate paths",
        "Replacing the straight path by coordinate paths that fade agents in along a random "
        "permutation, the two attributions agree (Kendall tau above a high threshold on "
        "SocialLLM and MidScale-Social, large top-10 overlaps).",
        "5 random paths per seed (one permutation's marginal contributions each):\n\n"
        + _md(tables["t20_path"], columns=["scenario", "N", "count", "kendall_mean_mean",
                                           "kendall_min_min", "top10_overlap_mean_mean"]),
        AGREE if ok else DIFFER,
        ("Kendall ≥ 0.7 on the opinion and midscale analogues; the heterogeneous "
         f"100-household economy agrees less ({_g(pk.get('economy'))}), since one coordinate "
         "path is a single-permutation Shapley estimate." if ok else
         "agreement on the opinion / midscale analogues is below 0.7."))
    vt = tables["t21_value"].records()
    mid = [r for r in vt if r["scenario"] == "midscale"]
    ws_log = next((r for r in mid if r["pair"] == "weighted_sum vs log_aggregate"), None)
    ok = ws_log is not None and ws_log["kendall_min"] >= 0.95
    d.section(
        "Table 21", "value-function sensitivity on MidScale-Social",
        "Weighted sum, log aggregate and an interaction aggregator give top-10 overlaps above "
        "a high threshold in every pair; weighted sum and log aggregator are nearly "
        "indistinguishable (Kendall near 1).",
        _md(tables["t21_value"], columns=["scenario", "N", "pair", "count", "kendall_mean",
                                          "kendall_min", "top10_overlap_mean",
                                          "top10_overlap_min"]),
        AGREE if ok else DIFFER,
        (f"weighted sum vs log aggregator Kendall {_g(ws_log['kendall_min'])} on midscale; "
         "the interaction aggregator agrees less but keeps most of the top 10." if ok else
         "the weighted-sum and log aggregators are not nearly indistinguishable here."))


def _mast_section(d: _Doc):
    d.section(
        "MAST and Who&When", "LLM-as-judge baselines (Tables 1, 6–8)",
        "MAST and Who&When (and AgenTracer, FAMAS) score agents from execution traces with "
        "an LLM judge or a trained model; on the synthetic benchmark they do not reach the "
        "precision of structural attribution.",
        "Absent. Each needs a model service (an LLM behind an API, with prompts and a "
        "judge protocol) that this offline reproduction cannot call, and their published "
        "prompts target failure traces, not macro indicators. Where one would plug in: "
        "`jaxattr.study._repro_shapley.synthetic_suite(judges={'MAST': judge})` takes any "
        "`judge(game, z, b, d) -> (N,) scores` and scores it against both truths with the "
        "same MAE / cosine / top-10 Kendall columns; for the scenarios, a judge's per-agent "
        "scores go straight into `jaxattr.scenarios.deletion_auc` and `kendall_tau` (and an "
        "LLM can drive the agents themselves through `ExternalPolicy`).",
        OFFLINE, "an LLM judge needs a model service; the hooks above are where it goes.")


def _deviations(d: _Doc, meta):
    d.add("## Deviations and notes\n\n"
          "- **Data.** The study runs on a synthetic world, not on the paper's Bluesky "
          "capture (see the caveat at the top); topic names differ and are matched by shape.\n"
          "- **Eq. 9.** The converted paper lost the formula of its N = 3 witness; the "
          "Theorem 1 section checks the stated properties on explicit families instead.\n"
          "- **Deletion AUC.** `jaxattr.scenarios.faithfulness` now ranks by magnitude (the "
          "paper's definition) and also reports the signed ranking it used before.\n"
          "- **Table 12** is ambiguous in the paper (top-k within the subset, or the full "
          "panel's top-k); both readings are reported.\n"
          "- **Economy risk.** The paper's EconAgent indicator aggregates excess demand, "
          "budget stress, concentration, *systemic gap* and instability; our economy risk "
          "(`jaxattr/scenarios/_economy.py`) has no systemic-gap term, so its Table 19 rows "
          "are for a four-term indicator.\n"
          "- **Scenarios** are JAX simulators with rule-based policies standing in for the "
          "LLM-driven EconAgent, SocialLLM and MidScale-Social systems.\n"
          "- **Precision.** The study runs in float32 (as the engine does by default); the "
          "accuracy tables (5, 6–8, 11, Theorem 1) in float64.\n"
          "- **Timings** come from a shared 2-core VM, not an Apple M4; only ratios measured "
          "in the same run are compared.\n")


def _footer(d: _Doc, env):
    load = env["load"]
    st = env["stage_s"]
    lines = ["| stage | seconds | from cache |", "|---|---|---|"]
    for k, (s, cached) in st.items():
        lines.append(f"| {k} | {_t(f'{s:.1f}')} | {_t('yes' if cached else 'no')} |")
    m = env["machine"]
    when = _t(env["date"])
    wall = _t(f"{env['wall_s']:.0f} s (the stages took {sum(x for x, _ in st.values()):.0f} s "
              "when computed)")
    load_txt = _t(", ".join(f"{x:.2f}" for x in load))
    d.add("## This run\n\n"
          f"{when}: {m['cpu']}, {m['cpu_count']} cores, Python {env['python']}, JAX "
          f"{env['jax']} ({env['backend']}). Wall time {wall}, load average at the end "
          f"{load_txt}. Stage times (as measured when each stage was computed):\n\n"
          + "\n".join(lines)
          + "\n\nRegenerate: `jaxattr reproduce --out build/reproduce --doc "
          "docs/reproduction.md` (resumes from `build/reproduce/stages`); check that the "
          "committed report is current: `python tests/scripts/check_reproduction.py`.\n")


def _cell_text(x) -> str:
    """Text for a Markdown table cell: a literal ``|`` would end the cell."""
    return str(x).replace("|", "\\|")


def _assemble(d: _Doc, checks, tables) -> str:
    head, body = d.head, d.parts
    summ = ["## Summary\n", "| artefact | verdict | why (short) |", "|---|---|---|"]
    for art, verdict, why in d.verdicts:
        short = why.rstrip(".")
        if len(short) > 170:
            short = short[:167].rsplit(" ", 1)[0] + " …"
        if short.count("⟦") > short.count("⟧"):  # cut inside a timing span: close it
            short += "⟧"
        summ.append(f"| {art} | {verdict} | {_cell_text(short)} |")
    ck = ["## Quantitative checks\n",
          "Each check states the paper's claim, the tolerance we hold it to and our value "
          "(all from this run).\n",
          "| check | artefact | claim | tolerance | ours | holds |", "|---|---|---|---|---|---|"]
    for c in checks:
        cells = [_cell_text(c[k]) for k in ("artefact", "claim", "tolerance", "ours")]
        ck.append(f"| `{c['id']}` | " + " | ".join(cells)
                  + f" | {'yes' if c['ok'] else '**no**'} |")
    return "\n".join(head + ["\n".join(summ) + "\n", "\n".join(ck) + "\n"] + body)

