"""Scale beyond one device and one memory: multi-process runs, out-of-core streaming, batches.

- :func:`attribute_out_of_core` streams agent chunks of a Parquet panel (two exact passes).
- :func:`distributed_attribute` runs one process of a ``jax.distributed`` job: it reads only
  its own row groups and attributes over the global device mesh.
- :func:`run_batch` runs a plan of many jobs, atomically and resumably; several runners
  (``shard``, SLURM arrays, a :class:`DaskExecutor`) share one output folder through per-job
  claims; :func:`batch_status` says what is done, failed and missing.

Importing this package does not import pyarrow; the functions import it when they run.
"""

from ..io import read_phi
from ._batch import (
    BatchJob,
    batch_status,
    group_jobs,
    load_plan,
    parse_shard,
    run_batch,
    run_group,
    shard_jobs,
)
from ._distributed import (
    DistributedResult,
    distributed_attribute,
    initialize,
    read_phi_shards,
)
from ._executors import DaskExecutor, Executor, LocalExecutor
from ._stream import StreamedAttribution, attribute_out_of_core

__all__ = [
    "BatchJob",
    "DaskExecutor",
    "DistributedResult",
    "Executor",
    "LocalExecutor",
    "StreamedAttribution",
    "attribute_out_of_core",
    "batch_status",
    "distributed_attribute",
    "group_jobs",
    "initialize",
    "load_plan",
    "parse_shard",
    "read_phi",
    "read_phi_shards",
    "run_batch",
    "run_group",
    "shard_jobs",
]
