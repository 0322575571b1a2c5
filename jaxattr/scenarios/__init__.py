"""Multi-agent simulation scenarios, attribution of their risk, and faithfulness checks.

Three JAX simulators (jit, ``lax.scan`` over steps, seeded, deterministic), each with a
pluggable agent policy (a rule-based default; :class:`ExternalPolicy` plugs in a host
decider such as an LLM call):

- :func:`simulate_economy`: household agents and a smooth macro-pressure risk;
- :func:`simulate_opinion`: N = 20 agents, bounded confidence on a Barabási–Albert graph,
  a smooth risky-expression risk;
- :func:`simulate_midscale`: 10^4 to 10^5 agents, stances and message prototypes seeding a
  deterministic propagation, a smooth influence-weighted propagation risk.

Each returns a :class:`ScenarioRun`; :func:`attribute_run` attributes its risk at the
target step (the post-midpoint peak) or at every step. :func:`faithfulness` measures
deletion AUC and agreement with sampled Shapley; the robustness sweeps are
:func:`k_convergence`, :func:`baseline_robustness`, :func:`path_choice` and
:func:`value_sensitivity`. ``jaxattr scenarios run NAME`` prints the tables.
"""

from jaxattr._util import (
    average_ranks,
    kendall_tau,
    spearman,
    top_k,
    top_k_jaccard,
    top_k_overlap,
)

from ._common import (
    BASELINES,
    ScenarioRun,
    attribute_run,
    soft_abs,
    soft_relu,
    soft_step,
    target_step,
)
from ._economy import EconomyRule, economy_risk, simulate_economy
from ._faithfulness import faithfulness, shapley_cost_estimate
from ._metrics import default_ks, deletion_auc, deletion_curve
from ._midscale import MidscaleRule, midscale_risk, midscale_variants, simulate_midscale
from ._opinion import (
    OpinionRule,
    barabasi_albert,
    opinion_risk,
    opinion_variants,
    simulate_opinion,
)
from ._policies import ExternalPolicy, Policy
from ._report import DEFAULT_TABLES, markdown_table, render, scenario_tables, write_jsonl
from ._robustness import (
    K_SWEEP,
    baseline_robustness,
    k_convergence,
    path_choice,
    quadrature_sweep,
    value_sensitivity,
)
from ._shapley import permutation_marginals, shapley_reference

__all__ = [
    "DEFAULT_TABLES",
    "BASELINES",
    "K_SWEEP",
    "EconomyRule",
    "ExternalPolicy",
    "MidscaleRule",
    "OpinionRule",
    "Policy",
    "ScenarioRun",
    "attribute_run",
    "average_ranks",
    "barabasi_albert",
    "baseline_robustness",
    "default_ks",
    "deletion_auc",
    "deletion_curve",
    "economy_risk",
    "faithfulness",
    "k_convergence",
    "kendall_tau",
    "markdown_table",
    "midscale_risk",
    "midscale_variants",
    "opinion_risk",
    "opinion_variants",
    "path_choice",
    "permutation_marginals",
    "quadrature_sweep",
    "render",
    "scenario_tables",
    "shapley_cost_estimate",
    "shapley_reference",
    "simulate_economy",
    "simulate_midscale",
    "simulate_opinion",
    "soft_abs",
    "soft_relu",
    "soft_step",
    "spearman",
    "target_step",
    "top_k",
    "top_k_jaccard",
    "top_k_overlap",
    "value_sensitivity",
    "write_jsonl",
]
