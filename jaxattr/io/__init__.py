"""The file formats: panels (Parquet, one row per agent) and attributions (phi per agent).

- :func:`write_panel` / :func:`read_panel` / :func:`iter_panel`: a :class:`jaxattr.Panel`
  on disk, with a checksummed header; :func:`to_arrow` / :func:`from_arrow` for Arrow tables.
- :func:`write_phi_file` / :func:`read_phi`: the attribution file of the out-of-core and
  multi-process runners.

Trained value networks have their own container (``jaxattr.deepset.save`` / ``load``):
its layout is tied to the network's hyperparameters and lives with them.
"""

from ._panel_file import (
    PanelFormatError,
    from_arrow,
    iter_panel,
    open_panel_file,
    panel_row_groups,
    read_panel,
    to_arrow,
    write_panel,
)
from ._phi_file import META_KEY, read_phi, write_phi_file

__all__ = [
    "META_KEY",
    "PanelFormatError",
    "from_arrow",
    "iter_panel",
    "open_panel_file",
    "panel_row_groups",
    "read_panel",
    "read_phi",
    "to_arrow",
    "write_panel",
    "write_phi_file",
]
