"""jaxattr: Aumann–Shapley attribution of emergent macro phenomena to agents and time steps.

Importing jaxattr loads JAX and NumPy only; pyarrow, matplotlib and torch are imported
lazily by the functions that need them.
"""

from ._util import apply_process_policy

# before JAX starts its threads and its CPU client: see jaxattr._util._process
apply_process_policy()

from . import methods, values  # noqa: E402
from ._attribute import attribute  # noqa: E402
from ._panel import Panel, pad_stack  # noqa: E402
from ._result import Attribution, Status, Summary  # noqa: E402
from ._util import (  # noqa: E402
    allocator_info,
    process_policy,
    release_memory,
    restore_defaults,
)
from ._version import __version__ as __version__  # noqa: E402
from .io import (  # noqa: E402
    PanelFormatError,
    from_arrow,
    iter_panel,
    panel_row_groups,
    read_panel,
    to_arrow,
    write_panel,
)

__all__ = [
    "Attribution",
    "Panel",
    "PanelFormatError",
    "Status",
    "Summary",
    "allocator_info",
    "attribute",
    "from_arrow",
    "iter_panel",
    "methods",
    "pad_stack",
    "panel_row_groups",
    "read_panel",
    "process_policy",
    "release_memory",
    "restore_defaults",
    "to_arrow",
    "values",
    "write_panel",
]


def __getattr__(name):
    # Submodules that pull in more than JAX load on first use.
    if name in ("shapley", "data", "study", "deepset", "scenarios", "scale", "plot"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'jaxattr' has no attribute {name!r}")
