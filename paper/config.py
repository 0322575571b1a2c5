"""Every number the reproduction uses: sizes, seeds, thresholds, the sensitivity ranges.

This file and ``claims.py`` are the configuration of ``paper/reproduce.py``; the check
functions (``checks.py``), the renderer (``render.py``) and the report template
(``template.md``) hold no numbers of their own (``tests/test_paper.py`` scans them).
"""

from __future__ import annotations

import dataclasses

FULL = "full"  # the size label of the full panel (jaxattr.study.FULL)

#: The paper's four analytic value functions, linear first.
VALUES = ("linear", "heat", "variance", "gini")
NONLINEAR = ("heat", "variance", "gini")
PROTOCOLS = ("BIAS_visibility", "BIAS_topic_x_follow", "BIAS_topic_top", "RAND")
MILD = ("BIAS_topic_x_follow", "BIAS_topic_top")
TOP, MID, TAIL = 0, 1, 2  # tier indices (top first)
PP = 100  # shares to percentage points
MS = 1000  # seconds to milliseconds
FIT_POINTS = 2  # points a slope needs
PLAIN_ABOVE = 1e4  # floats this large print without an exponent
EXIT_BAD_INPUT = 2  # exit code of paper/reproduce.py on bad input


@dataclasses.dataclass(frozen=True)
class Config:
    """Sizes of every experiment (``full()`` and ``quick()``) and the world it runs on.

    Attributes:
        name: ``"full"`` or ``"quick"``.
        agents: N of the synthetic world (None: the paper's 1,671,587).
        seed: seed of the world and of every subset draw.
        sizes, draws: the study grid (subset sizes, draws per cell; paper: "ten subset
            seeds").
        pool_fraction: p of BIAS_visibility (the paper's value was lost in conversion).
        tier_fractions: the follower tiers top / mid / tail.
        focus: the topic standing in for the paper's Mythos.
        topk_sizes, top_k: Table 12's subset sizes and k.
        baseline_settings, baseline_draws: Table 10's cells ("across five seeds").
        k_sweep_n, k_sweep_steps: Table 5 (N = 10^4 and the seven K of the seed README).
        cvp_sizes, cvp_seeds, cvp_steps: Table 11 ("across five seeds", K-point path).
        syn_n, syn_seeds, syn_samples, brute_n: tables 6-8 (five seeds, 200 samples).
        scaling_ns, scaling_budget, scaling_permutations: tables 4 and 9.
        scenario_seeds, midscale_agents, permutations: tables 19-21.
        sweep_agents, sweep_sizes, sweep_draws: the sensitivity sweep's smaller study.
    """

    name: str = "full"
    agents: int | None = None
    seed: int = 0
    sizes: tuple = (100, 1_000, 10_000, 30_000, 100_000, FULL)
    draws: int = 10
    pool_fraction: float = 0.01
    tier_fractions: tuple = (0.01, 0.09, 0.90)
    focus: str = "Mythos"
    topk_sizes: tuple = (100, 10_000)
    top_k: int = 10
    baseline_settings: tuple = (("BIAS_visibility", 100), ("RAND", 10_000), (FULL, None))
    baseline_draws: int = 5
    k_sweep_n: int = 10_000
    k_sweep_steps: tuple = (5, 10, 20, 30, 50, 100, 300)
    cvp_sizes: tuple = (100, 1_000, 10_000, 100_000)
    cvp_seeds: int = 5
    cvp_steps: int = 30
    syn_n: int = 20
    syn_seeds: int = 5
    syn_samples: int = 200
    brute_n: int = 8
    scaling_ns: tuple = (10, 20, 100, 1_000, 10_000, 100_000, 1_000_000)
    scaling_budget: float = 30.0
    scaling_permutations: int = 100
    scenario_seeds: tuple = (0, 1, 2)
    midscale_agents: int = 10_000
    permutations: int = 2000
    sweep_agents: int = 200_000
    sweep_sizes: tuple = (100, FULL)
    sweep_draws: int = 10

    @classmethod
    def full(cls) -> Config:
        return cls()

    @classmethod
    def quick(cls) -> Config:
        """Every stage at small sizes: a smoke run (minutes on 2 cores)."""
        return cls(
            name="quick",
            agents=20_000,
            sizes=(100, 1_000, FULL),
            topk_sizes=(100,),
            baseline_settings=(("BIAS_visibility", 100), ("RAND", 1_000), (FULL, None)),
            k_sweep_n=2_000,
            cvp_sizes=(100, 1_000),
            cvp_seeds=3,
            syn_n=12,
            syn_seeds=3,
            scaling_ns=(10, 100, 1_000, 10_000),
            scaling_budget=2.0,
            scenario_seeds=(0,),
            midscale_agents=2_000,
            permutations=500,
            sweep_agents=20_000,
            sweep_draws=5,
        )


#: The N of the seed README's headline timing ("N = 10^6 in under ten milliseconds").
HEADLINE_N = 1_000_000

# ------------------------------------------------------------------ world (synthetic)

#: The paper's dataset as the seed README and the converted text keep it.
PAPER_DATA = {
    "agents": 1_671_587,
    "days": 14,
    "start": "2026-04-08",
    "end": "2026-04-21",
    "topics": ("Mythos", "Trump-Tariffs", "The Masters", "Earth Day-Climate", "WrestleMania"),
    # event day per topic (ISO date) where the paper names one
    "event_days": {
        "The Masters": "2026-04-13",
        "WrestleMania": "2026-04-19",
        "Earth Day-Climate": "2026-04-16",
    },
    # topic selection rule: >= 1,000 participants on each of >= 10 days
    "min_participants": 1_000,
    "min_days": 10,
}

# ------------------------------------------------------------------ sensitivity sweep

#: What the paper leaves open, and the range each is swept over (the world's default
#: sits inside every range). Keys of jaxattr.data.synthetic_world are world parameters;
#: ``pool_fraction`` and ``tier_top`` are study parameters.
SWEEP = {
    "participation": (0.5, 1.0, 2.0),  # scale of every topic's participation rate
    "follower_activity_coupling": (0.0, 0.25, 0.5),
    "tier_event_response": (-0.5, 0.0, 0.5),
    "pool_fraction": (0.005, 0.01, 0.05),
    "tier_top": (0.005, 0.01, 0.02),  # the top tier's fraction (mid stays 9%)
}
SWEEP_QUICK = {k: (v[0], v[-1]) for k, v in SWEEP.items()}
