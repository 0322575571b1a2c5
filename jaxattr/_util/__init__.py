"""Small utilities every layer above uses: atomic writes, validation messages, zero-copy
placement, the process policy, rank statistics, and messages and progress (logging). Import
from here, not the modules."""

from ._atomic import atomic_path, atomic_write
from ._log import Progress, cli_logging, get_logger, records_to
from ._memory import Placed, aligned_empty, is_aligned, place, view
from ._process import (
    allocator_info,
    apply_process_policy,
    process_policy,
    release_memory,
    restore_defaults,
)
from ._rank_metrics import (
    as_finite_vector,
    average_ranks,
    kendall_tau,
    percentile_bins,
    rank_desc,
    spearman,
    top_k,
    top_k_jaccard,
    top_k_overlap,
)
from ._validate import check_float_dtype, first_nonfinite, read_json_or_toml

__all__ = [
    "Placed",
    "Progress",
    "aligned_empty",
    "allocator_info",
    "apply_process_policy",
    "as_finite_vector",
    "atomic_path",
    "atomic_write",
    "average_ranks",
    "check_float_dtype",
    "cli_logging",
    "first_nonfinite",
    "get_logger",
    "is_aligned",
    "kendall_tau",
    "percentile_bins",
    "place",
    "process_policy",
    "rank_desc",
    "read_json_or_toml",
    "records_to",
    "release_memory",
    "restore_defaults",
    "spearman",
    "top_k",
    "top_k_jaccard",
    "top_k_overlap",
    "view",
]
