"""Scale beyond one device and one memory: multi-process runs, out-of-core streaming, batches.

- :func:`attribute_out_of_core` streams agent chunks of a Parquet panel (two exact passes).
- :func:`distributed_attribute` runs one process of a ``jax.distributed`` job: it reads only
  its own row groups and attributes over the global device mesh.
- :func:`run_batch` runs a plan of many jobs, atomically and resumably.

Importing this package does not import pyarrow; the functions import it when they run.
"""

from ..io import read_phi
from ._batch import BatchJob, load_plan, run_batch
from ._distributed import (
    DistributedResult,
    distributed_attribute,
    initialize,
    read_phi_shards,
)
from ._stream import StreamedAttribution, attribute_out_of_core

__all__ = [
    "BatchJob",
    "DistributedResult",
    "StreamedAttribution",
    "attribute_out_of_core",
    "distributed_attribute",
    "initialize",
    "load_plan",
    "read_phi",
    "read_phi_shards",
    "run_batch",
]
