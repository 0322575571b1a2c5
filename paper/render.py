"""Fill ``template.md`` from one run: claims, checks, tables, the sweep, the environment.

Placeholders: ``{{name}}`` (a block built here) and ``{{claim:ID}}`` (one claim's quote,
our value and its verdict sentence from ``claims.py``). Wall-clock values are written
inside ``⟦ ⟧`` so a comparison of two runs can tell them apart.
"""

from __future__ import annotations

import re

import numpy as np

from . import config as C
from .checks import StudyView
from .claims import OFFLINE, TOL
from .experiments.sweep import robustness, verdicts

ARTEFACT_ORDER = (
    "Table 2",
    "Table 13",
    "Table 3",
    "Appendix G",
    "Table 15",
    "Table 16",
    "Table 17",
    "Appendix N",
    "Table 14",
    "Table 12",
    "Table 18",
    "Table 10",
    "Table 5",
    "Table 11",
    "Theorem 1",
    "Table 1",
    "Tables 6-8",
    "Table 9",
    "Table 4",
    "Table 19",
    "Table 20",
    "Table 21",
)


def timing(text) -> str:
    return f"⟦{text}⟧"


def fmt(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "nan" if np.isnan(x) else ("inf" if x > 0 else "-inf")
        if x == 0:
            return "0"
        if abs(x) >= C.PLAIN_ABOVE:
            return f"{x:,.1f}"
        return f"{x:.4g}"
    return str(x)


def md_table(rows, columns, headers=None, timed=()) -> str:
    if not rows:
        return "*(no rows: the stage did not run)*"
    head = headers or columns
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = []
        for c in columns:
            v = fmt(r.get(c)).replace("|", "\\|")
            cells.append(timing(v) if c in timed else v)
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _verdict_cell(v: str, timed: bool) -> str:
    text = f"**{v}**" if v == "differ" else v
    return timing(text) if timed else text


class Report:
    def __init__(self, results: dict, evaluated: list[dict], env: dict, focus: str):
        self.r = results
        self.claims = {c["id"]: c for c in evaluated}
        self.evaluated = evaluated
        self.env = env
        self.focus = focus
        self.study = StudyView(results["study"]) if "study" in results else None
        self.sweep_points = verdicts(results["sweep"], focus) if "sweep" in results else []
        self.robust = robustness(self.sweep_points)

    # ------------------------------------------------------------------ claims
    def claim(self, cid: str) -> str:
        c = self.claims[cid]
        res = c["result"]
        timed = c.get("timing", False)
        ours = res["ours"] if res else "stage not run"
        outcome = c["outcomes"].get(c["verdict"], "")
        src = "the paper" if c["source"] == "paper" else "the seed README"
        rob = self._robust_text(cid)
        return (
            f"> “{c['quote']}” ({src})\n\n"
            f"- **`{cid}`**: {c['quantity']}; the claim holds when {self._cmp(c)}.\n"
            f"- Ours: {timing(ours) if timed else ours}.\n"
            f"- Verdict: {_verdict_cell(c['verdict'], timed)}"
            + (f": {timing(outcome) if timed else outcome}" if outcome else ".")
            + (f" Across the sensitivity sweep: {rob}." if rob else "")
        )

    @staticmethod
    def _cmp(c) -> str:
        text = c["comparison"]
        for k, v in TOL.items():
            text = re.sub(rf"\b{k}\b", fmt(v), text)
        return text

    def _robust_text(self, cid):
        rb = self.robust.get(cid)
        if rb is None:
            return ""
        if rb["robust"]:
            (v,) = rb["verdicts"]
            return f"**robust** ({v} at every point)"
        pts = rb["verdicts"]
        major = max(pts, key=lambda v: len(pts[v]))
        parts = [f"{major} elsewhere"] + [
            f"{v} at " + ", ".join(f"{p} = {fmt(x)}" for p, x in pts[v]) for v in pts if v != major
        ]
        return "**not robust** (" + "; ".join(parts) + ")"

    # ------------------------------------------------------------------ blocks
    def summary(self) -> str:
        rows = []
        by_art = {}
        for c in self.evaluated:
            by_art.setdefault(c["artefact"], []).append(c)
        for art in ARTEFACT_ORDER:
            cs = by_art.get(art, [])
            if not cs:
                continue
            vs = [c["verdict"] for c in cs]
            verdict = "differ" if "differ" in vs else "agree" if "agree" in vs else vs[0]
            timed = any(c.get("timing") for c in cs)
            rob = [self.robust[c["id"]]["robust"] for c in cs if c["id"] in self.robust]
            rows.append(
                {
                    "artefact": art,
                    "claim": " / ".join(f"“{c['quote']}”" for c in cs),
                    "ours": "; ".join(
                        f"`{c['id']}` {c['result']['ours'] if c['result'] else '–'}"
                        f" ({c['verdict']})"
                        for c in cs
                    ),
                    "verdict": _verdict_cell(verdict, timed),
                    "robust": (
                        "not swept"
                        if not rob
                        else "yes"
                        if all(rob)
                        else f"no ({sum(not x for x in rob)} of {len(rob)} claims flip)"
                    ),
                }
            )
        for o in OFFLINE:
            rows.append(
                {
                    "artefact": o["artefact"],
                    "claim": f"“{o['quote']}”",
                    "ours": o["reason"],
                    "verdict": "not reproducible offline",
                    "robust": "–",
                }
            )
        return md_table(
            rows,
            ["artefact", "claim", "ours", "verdict", "robust"],
            [
                "artefact",
                "the paper's claim (quoted)",
                "ours",
                "verdict",
                "robust across the sweep",
            ],
        )

    def counts(self) -> str:
        vs = [c["verdict"] for c in self.evaluated]
        return ", ".join(
            f"{vs.count(v)} {v}"
            for v in ("agree", "differ", "not comparable", "not run")
            if vs.count(v)
        )

    def checks(self) -> str:
        rows = [
            {
                "id": f"`{c['id']}`",
                "artefact": c["artefact"],
                "quantity": c["quantity"],
                "holds when": self._cmp(c),
                "ours": (c["result"]["ours"] if c["result"] else "–"),
                "verdict": c["verdict"],
                "timing": c.get("timing", False),
            }
            for c in self.evaluated
        ]
        for r in rows:
            if r["timing"]:
                r["ours"], r["verdict"] = timing(r["ours"]), timing(r["verdict"])
        return md_table(rows, ["id", "artefact", "quantity", "holds when", "ours", "verdict"])

    def header(self) -> str:
        e = self.env
        src = (
            "the calibrated synthetic world of `paper/world.py`"
            if e["synthetic"]
            else "captured topic panels"
        )
        return (
            f"Configuration **{e['config']['name']}**, seed {e['config']['seed']}, on "
            f"{src}; focus topic (the paper's Mythos analyses) **{self.focus}**. "
            f"Machine {timing(e['machine'])}; Python {e['python']}, JAX {e['jax']} "
            f"({e['backend']}); wall time {timing(e['wall'])}."
        )

    def world(self) -> str:
        w = self.r.get("world")
        if not w or not w.get("synthetic"):
            return "*(captured panels: no synthetic world)*"
        st = w["stats"]
        pd = C.PAPER_DATA
        rows = [
            {"quantity": "agents N", "paper": pd["agents"], "world": st["N"]},
            {"quantity": "days", "paper": pd["days"], "world": st["T"]},
            {
                "quantity": "window",
                "paper": f"{pd['start']} .. {pd['end']}",
                "world": f"{st['start']} .. {st['end']}",
            },
            {
                "quantity": "topics",
                "paper": ", ".join(pd["topics"]),
                "world": ", ".join(t["topic"] for t in st["topics"]),
            },
            {
                "quantity": "selection rule (participants per day, scaled to N)",
                "paper": f">= {pd['min_participants']:,} on >= {pd['min_days']} days",
                "world": f">= {st['rule_participants']:,.0f} on "
                f"{min(t['days_meeting_rule'] for t in st['topics'])}"
                f"–{max(t['days_meeting_rule'] for t in st['topics'])} days",
            },
        ]
        topics = [
            dict(t, paper_event=pd["event_days"].get(t["topic"], "no single event"))
            for t in st["topics"]
        ]
        params = [
            {"parameter": k, "value": v, "source": w["sources"][k]} for k, v in w["params"].items()
        ]
        return "\n\n".join(
            [
                md_table(rows, ["quantity", "paper", "world"]),
                md_table(
                    topics,
                    [
                        "topic",
                        "kind",
                        "paper_event",
                        "peak_label",
                        "participants_min",
                        "participants_median",
                        "participants_max",
                        "days_meeting_rule",
                        "engaged_fraction",
                        "follower_activity_corr",
                        "follower_activity_corr_engaged",
                    ],
                    [
                        "topic",
                        "shape",
                        "paper's event day",
                        "world's peak (generator)",
                        "participants/day min",
                        "median",
                        "max",
                        "days meeting the rule",
                        "agents engaged (window)",
                        "corr(log followers, log items), all agents",
                        "the same, engaged agents",
                    ],
                ),
                md_table(params, ["parameter", "value", "source"]),
            ]
        )

    # ------------------------------------------------------------------ study tables
    def t2(self) -> str:
        s = self.study
        if s is None:
            return md_table([], [])
        rows = []
        for t in s.topics:
            for v in s.values():
                r = {"topic": t, "f": v}
                for tier, name in ((C.TOP, "top"), (C.MID, "mid"), (C.TAIL, "tail")):
                    r[f"full {name}"] = s.full_share(t, v, tier)
                    r[f"biased {name}"] = s.share(t, v, "BIAS_visibility", tier)
                r["RAND top"] = s.share(t, v, "RAND", C.TOP)
                r["gap pp"] = C.PP * (r["biased top"] - r["full top"])
                rows.append(r)
        cols = [
            "topic",
            "f",
            "full top",
            "full mid",
            "full tail",
            "biased top",
            "biased mid",
            "biased tail",
            "RAND top",
            "gap pp",
        ]
        return (
            f"Shares at n = {s.small} (mean over the draws) and on the full panel.\n\n"
            + md_table(rows, cols)
        )

    def t3(self) -> str:
        s = self.study
        if s is None:
            return md_table([], [])
        rows = []
        for t in s.topics:
            r = {"topic": t}
            for v in s.values():
                c = s.cell(t, v, "BIAS_visibility")
                r[f"rho {v}"] = float(np.nanmean(c["rho"]))
                r[f"Spearman {v}"] = float(np.nanmean(c["spearman"]))
            rows.append(r)
        cols = ["topic"] + [f"rho {v}" for v in s.values()] + [f"Spearman {v}" for v in s.values()]
        return md_table(rows, cols)

    def t15(self) -> str:
        s = self.study
        if s is None:
            return md_table([], [])
        rows = []
        for t in s.topics:
            full = s.full[(t, "heat")]
            p = int(np.argmax(full["delta"]))
            sh = full["day_shares"][p]
            rows.append(
                {
                    "topic": t,
                    "peak day": s.topics[t]["time_labels"][p],
                    "paper": C.PAPER_DATA["event_days"].get(t, "no single event"),
                    "top": sh[C.TOP],
                    "mid": sh[C.MID],
                    "tail": sh[C.TAIL],
                }
            )
        return md_table(rows, ["topic", "peak day", "paper", "top", "mid", "tail"])

    def t17(self) -> str:
        s = self.study
        if s is None:
            return md_table([], [])
        rows = []
        for t in s.topics:
            pools = s.pools.get(t, {})
            for p in C.PROTOCOLS:
                c = s.cell(t, "heat", p)
                if c is None:
                    continue
                rows.append(
                    {
                        "topic": t,
                        "protocol": p,
                        "pool size": pools.get("sizes", {}).get(p),
                        "top-tier agents": float(np.mean(np.asarray(c["tier_counts"])[:, C.TOP])),
                        "Δ pp": C.PP
                        * (s.share(t, "heat", p, C.TOP) - s.full_share(t, "heat", C.TOP)),
                    }
                )
        pool_rows = [
            {
                "topic": t,
                "engaged agents": p["engaged"],
                "milder pool size": p["sizes"][C.MILD[0]],
                "Jaccard of the milder pools": p["mild_jaccard"],
            }
            for t, p in s.pools.items()
        ]
        return (
            md_table(rows, ["topic", "protocol", "pool size", "top-tier agents", "Δ pp"])
            + "\n\n"
            + md_table(
                pool_rows,
                ["topic", "engaged agents", "milder pool size", "Jaccard of the milder pools"],
            )
        )

    def t18(self) -> str:
        s = self.study
        if s is None:
            return md_table([], [])
        rows = []
        for n in s.sizes + [C.FULL]:
            r = {"n": n}
            for p in ("BIAS_visibility", "RAND"):
                r[p] = (
                    s.full_share(self.focus, "heat", C.TOP)
                    if n == C.FULL
                    else s.share(self.focus, "heat", p, C.TOP, n)
                )
            rows.append(r)
        pool = s.topics[self.focus]["pool_sizes"]["BIAS_visibility"]
        return (
            f"Top-tier share on {self.focus} (heat); the visibility pool holds {pool:,} "
            f"agents (p = {self.env['config']['pool_fraction']}).\n\n"
            + md_table(rows, ["n", "BIAS_visibility", "RAND"])
        )

    # ------------------------------------------------------------------ other stages
    def _rows(self, stage, key=None):
        r = self.r.get(stage)
        if r is None:
            return []
        return r[key] if key else r

    def t14(self) -> str:
        rows = [
            r
            for ex in self.r.get("extras", {}).values()
            for r in ex["anchors"]
            if r["value"] == "heat"
        ]
        return md_table(
            rows,
            [
                "topic",
                "anchor",
                "group_size",
                "agents_in_S",
                "biased_share_mean",
                "full_share",
                "gap_pp",
            ],
        )

    def t12(self) -> str:
        rows = [r for ex in self.r.get("extras", {}).values() for r in ex["topk"]]
        return md_table(
            rows,
            [
                "topic",
                "value",
                "protocol",
                "n",
                "jaccard_within_S",
                "jaccard_vs_global_topk",
                "global_topk_recall",
            ],
        )

    def appn(self) -> str:
        rows = [r for ex in self.r.get("extras", {}).values() for r in ex["follower_pool"]]
        return md_table(
            rows,
            [
                "topic",
                "value",
                "pool",
                "pool_size",
                "top_agents",
                "top_share_mean",
                "full_top_share",
                "delta_pp",
            ],
        )

    def t10(self) -> str:
        rows = self._rows("baselines", "rows")
        agg = {}
        for r in rows:
            agg.setdefault((r["value"], r["setting"], r["pair"]), []).append(r["kendall"])
        out = [
            {
                "f": f,
                "setting": setting,
                "pair": pair,
                "Kendall min": min(v),
                "Kendall mean": float(np.mean(v)),
                "draws": len(v),
            }
            for (f, setting, pair), v in agg.items()
        ]
        return md_table(out, ["f", "setting", "pair", "Kendall min", "Kendall mean", "draws"])

    def t5(self) -> str:
        rows = self._rows("k_sweep", "rows") if "k_sweep" in self.r else []
        return md_table(
            rows,
            ["K", "rel_error", "seconds_subset", "seconds_subset_generic", "seconds_full"],
            [
                "K",
                "relative error",
                "mean-field path (s)",
                "generic path (s)",
                "mean-field path, full panel (s)",
            ],
            timed=("seconds_subset", "seconds_subset_generic", "seconds_full"),
        )

    def t11(self) -> str:
        r = self.r.get("closed_vs_path")
        if r is None:
            return md_table([], [])
        out = []
        for kind in ("continuous", "panel"):
            agg = {}
            for x in r[kind]:
                agg.setdefault((x["value"], x["N"]), []).append(x)
            out += [
                {
                    "features": kind,
                    "f": k[0],
                    "N": k[1],
                    "rel MAE (max)": max(x["rel_mae"] for x in v),
                    "Spearman (min)": min(x["spearman_min"] for x in v),
                    "efficiency (max)": max(x["efficiency_max"] for x in v),
                }
                for k, v in agg.items()
            ]
        return md_table(
            out, ["features", "f", "N", "rel MAE (max)", "Spearman (min)", "efficiency (max)"]
        )

    def thm1(self) -> str:
        r = self.r.get("theorem1")
        if r is None:
            return md_table([], [])
        ws = [dict(w, c="/".join(fmt(x) for x in w["c_i"])) for w in r["witnesses"]]
        ctl = [
            dict(c, rho_max=max(c["rho"]), spread_max=max(c["c_spread"]))
            for c in r["negative_control"]
        ]
        return (
            md_table(
                ws,
                ["value", "subset", "c", "c_spread", "rho", "hessian_offdiag_max"],
                ["f", "S", "c_i", "spread of c_i", "rho", "max off-diagonal Hessian"],
            )
            + f"\n\nThe pairwise family is `{r['pairwise_formula']}`; its engine "
            f"attribution matches its closed form to {fmt(r['pairwise_closed_form_gap'])}"
            ".\n\n"
            + md_table(
                ctl,
                [
                    "value",
                    "negative_control",
                    "configs",
                    "rho_max",
                    "spread_max",
                    "hessian_offdiag_max",
                ],
                [
                    "f",
                    "negative control",
                    "configurations",
                    "max rho",
                    "max spread of c_i",
                    "max off-diagonal Hessian",
                ],
            )
        )

    def t1(self) -> str:
        return md_table(
            self._rows("axioms", "rows"), ["method", "efficiency", "symmetry", "dummy", "linearity"]
        )

    def t6_8(self) -> str:
        rows = self._rows("synthetic", "rows")
        agg = {}
        for r in rows:
            agg.setdefault((r["game"], r["method"]), []).append(r)
        out = [
            {
                "game": k[0],
                "method": k[1],
                "MAE vs AS": float(np.mean([x["mae_vs_as"] for x in v])),
                "MAE vs Shapley": float(np.mean([x["mae_vs_shapley"] for x in v])),
                "cosine vs AS": float(np.mean([x["cosine_vs_as"] for x in v])),
                "efficiency error": float(np.mean([x["efficiency_error"] for x in v])),
            }
            for k, v in agg.items()
        ]
        return md_table(
            out,
            ["game", "method", "MAE vs AS", "MAE vs Shapley", "cosine vs AS", "efficiency error"],
        )

    def t9(self) -> str:
        rows = self._rows("scaling", "rows") if "scaling" in self.r else []
        return md_table(
            rows,
            ["label", "N", "seconds", "status"],
            ["method", "N", "seconds", "measured or extrapolated"],
            timed=("seconds",),
        )

    def scenarios(self) -> str:
        sc = self.r.get("scenarios")
        if sc is None:
            return md_table([], [])
        parts = []
        for name, tabs in sc.items():
            for tab in tabs:
                rows = tab["rows"]
                if not rows:
                    continue
                cols = [
                    k
                    for k in rows[0]
                    if k not in ("N", "T", "d", "K", "dtype")
                    and not k.startswith("seconds")
                    and k != "time_s"
                ]
                parts.append(
                    f"**{name} / {tab['table']}** (N = {rows[0].get('N')})\n\n"
                    + md_table(rows, cols)
                )
        return "\n\n".join(parts)

    def sweep(self) -> str:
        sw = self.r.get("sweep")
        if sw is None:
            return "*(the sweep did not run)*"
        ids = list(self.robust)
        rows = []
        for p in self.sweep_points:
            r = {"parameter": p["param"], "value": p["value"]}
            r.update({i: p["verdicts"][i] for i in ids})
            rows.append(r)
        rob = [
            {
                "claim": f"`{i}`",
                "robust": self.robust[i]["robust"],
                "verdicts": self._robust_text(i),
            }
            for i in ids
        ]
        grid = ", ".join(f"{k} ∈ {{{', '.join(fmt(x) for x in v)}}}" for k, v in sw["grid"].items())
        defaults = ", ".join(f"{k} = {fmt(v)}" for k, v in sw["defaults"].items())
        return (
            f"World of {sw['agents']:,} agents, sizes {', '.join(sw['sizes'])}, "
            f"{sw['draws']} draws per cell; one parameter at a time over {grid}, the "
            f"others at their defaults ({defaults}).\n\n"
            + md_table(rob, ["claim", "robust", "verdicts"])
            + "\n\n"
            + md_table(rows, ["parameter", "value"] + ids)
        )

    def stages(self) -> str:
        rows = [
            {"stage": k, "seconds": v["seconds"], "cached": v.get("cached", False)}
            for k, v in self.env["stages"].items()
        ]
        return md_table(
            rows,
            ["stage", "seconds", "cached"],
            ["stage", "seconds", "from cache"],
            timed=("seconds", "cached"),
        )


BLOCKS = (
    "header",
    "world",
    "summary",
    "counts",
    "checks",
    "t2",
    "t3",
    "t15",
    "t17",
    "t18",
    "t14",
    "t12",
    "appn",
    "t10",
    "t5",
    "t11",
    "thm1",
    "t1",
    "t6_8",
    "t9",
    "scenarios",
    "sweep",
    "stages",
)


def render(template: str, rep: Report) -> str:
    def sub(m):
        key = m.group(1)
        if key.startswith("claim:"):
            return rep.claim(key.split(":", 1)[1])
        if key not in BLOCKS:
            raise KeyError(f"template: unknown placeholder {{{{{key}}}}}")
        return getattr(rep, key)()

    return re.sub(r"\{\{([A-Za-z0-9_:]+)\}\}", sub, template)
