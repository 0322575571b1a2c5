"""The cross-scale study on your own data: tiers, sampling protocols, subset attribution,
Theorem 1's rescaling residual, tables and figures (docs/study.md, docs/theorem1.md).

The reproduction of the paper is not part of the library: it lives in the repository's
``paper/`` folder (``python paper/reproduce.py``).

Example::

    import jaxattr
    from jaxattr import study
    world = jaxattr.data.synthetic_world(n_agents=20_000)
    res = study.run_study(world, study.StudyConfig(sizes=(100, 1000, "full")))
    for table in study.all_tables(res):
        print(table.to_markdown())

matplotlib (for :mod:`figures <jaxattr.study._figures>`) is imported only when drawing.
"""

from ._attribution_tables import attribution_tables
from ._demo import DEMO_SIZES, run_demo
from ._figures import save_figures
from ._metrics import (
    kendall_tau,
    normalized_shares,
    rescaling_residual,
    spearman,
    theorem1_witness,
    top_k_jaccard,
)
from ._runner import DEFAULT_VALUES, FULL, StudyConfig, StudyResult, run_study, size_label
from ._sampling import (
    PROTOCOLS,
    active_count_of,
    draw_subsets,
    engagement_of,
    followers_of,
    protocol_pools,
)
from ._subset import stack_subsets, subset_attribution
from ._tables import (
    Table,
    all_tables,
    dose_response_table,
    peak_day_table,
    rho_table,
    shares_vs_n_table,
    stability_table,
    three_tier_table,
    write_tables,
)
from ._tiers import Tiers, follower_tiers, group_sums, percentile_bins, tier_shares

__all__ = [
    "DEFAULT_VALUES",
    "DEMO_SIZES",
    "FULL",
    "PROTOCOLS",
    "StudyConfig",
    "StudyResult",
    "Table",
    "Tiers",
    "active_count_of",
    "all_tables",
    "attribution_tables",
    "dose_response_table",
    "draw_subsets",
    "engagement_of",
    "follower_tiers",
    "followers_of",
    "group_sums",
    "kendall_tau",
    "normalized_shares",
    "peak_day_table",
    "percentile_bins",
    "protocol_pools",
    "rescaling_residual",
    "rho_table",
    "run_demo",
    "run_study",
    "save_figures",
    "shares_vs_n_table",
    "size_label",
    "spearman",
    "stack_subsets",
    "stability_table",
    "subset_attribution",
    "theorem1_witness",
    "three_tier_table",
    "tier_shares",
    "top_k_jaccard",
    "write_tables",
]
