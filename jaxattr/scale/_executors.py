"""Executors: where the tasks of a batch run (one task per group of jobs) execute.

The interface is one method, ``map(fn, args_list) -> list``: call ``fn(*args)`` for every
tuple of arguments, somewhere, and return the results in order. A task must be safe to run
twice (the batch runner's per-job claims and content-keyed, atomically written results make
it so): an executor that loses a worker re-runs that worker's tasks.

- :class:`LocalExecutor` runs the tasks one after another in this process.
- :class:`DaskExecutor` runs them on a Dask distributed cluster (``pip install
  jaxattr[cluster]``): one task per group, ``retries`` re-submissions of a task that
  raised, and Dask's own rescheduling of the tasks of a worker that died (its
  ``distributed.scheduler.allowed-failures``). ``docs/scale.md`` says why Dask rather than
  Ray.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

__all__ = ["DaskExecutor", "Executor", "LocalExecutor"]


class Executor(Protocol):
    """Runs ``fn(*args)`` for each ``args`` of ``args_list``; returns the results in order.

    The interface :func:`run_batch` takes as ``executor``: any object with this ``map``
    method (a task must be safe to run twice; see the module docstring).

    Args:
        args: none: a Protocol is a type to implement, not to instantiate.
        kwargs: none, likewise.

    Raises:
        TypeError: ``Executor()`` itself (Protocols cannot be instantiated).

    Example:
        >>> from jaxattr.scale import Executor
        >>> class Reversed:                    # runs the tasks last first, returns in order
        ...     def map(self, fn, args_list):
        ...         out = [fn(*a) for a in reversed(args_list)]
        ...         return out[::-1]
        >>> ex: Executor = Reversed()
        >>> ex.map(pow, [(2, 3), (3, 2)])
        [8, 9]
    """

    def map(self, fn: Callable, args_list: Sequence[tuple]) -> list[Any]:
        """``[fn(*args) for args in args_list]``, run somewhere, in order."""
        ...


class LocalExecutor:
    """Every task in this process, in order.

    Raises:
        Exception: whatever a task raises, at once (no retries).

    Example:
        >>> from jaxattr.scale import LocalExecutor
        >>> LocalExecutor().map(pow, [(2, 3), (3, 2)])
        [8, 9]
    """

    def map(self, fn: Callable, args_list: Sequence[tuple]) -> list[Any]:
        """``[fn(*args) for args in args_list]`` in this process."""
        return [fn(*args) for args in args_list]

    def __repr__(self) -> str:
        return "LocalExecutor()"


class DaskExecutor:
    """Tasks on a Dask distributed cluster.

    Args:
        address: the scheduler (``tcp://host:8786``) or a ``distributed.Client``; the
            workers must see the plan, its panels and the output folder at the same paths (a
            shared file system) and have jaxattr installed.
        retries: re-submissions of a task that raised (a worker that *died* is Dask's own
            rescheduling, not a retry).
        timeout: seconds to wait for the scheduler.

    Start one worker per device, one thread each (``dask worker ADDRESS --nworkers D
    --nthreads 1``, a GPU per worker through ``CUDA_VISIBLE_DEVICES``; see docs/scale.md).
    An executor that connected to an address closes its client on :meth:`close` (or at the
    end of a ``with`` block); a ``Client`` passed in stays open.

    Raises:
        ImportError: the ``distributed`` package is missing (``pip install
            'jaxattr[cluster]'``).
        OSError: no scheduler answers at ``address`` within ``timeout``.

    Example:
        >>> from distributed import Client, LocalCluster
        >>> from jaxattr.scale import DaskExecutor
        >>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
        ...                   dashboard_address=None) as cluster, Client(cluster) as client:
        ...     DaskExecutor(client).map(pow, [(2, 3), (3, 2)])
        [8, 9]
    """

    def __init__(self, address: Any, *, retries: int = 2, timeout: float = 30.0):
        try:
            from distributed import Client
        except ImportError as e:
            raise ImportError(
                "the Dask executor needs the 'distributed' package: pip install 'jaxattr[cluster]'",
                name=e.name,
            ) from None
        if isinstance(address, Client):
            self.client, self._own = address, False
        else:
            try:
                self.client = Client(address, timeout=timeout, set_as_default=False)
            except OSError as e:
                raise OSError(
                    f"no Dask scheduler at {address!r} ({e}); start one with "
                    "`dask scheduler` and workers with `dask worker ADDRESS "
                    "--nthreads 1`"
                ) from None
            self._own = True
        self.retries = int(retries)

    def map(self, fn: Callable, args_list: Sequence[tuple]) -> list[Any]:
        """``[fn(*args) for args in args_list]`` on the cluster's workers, in order."""
        if not args_list:
            return []
        futures = [
            self.client.submit(fn, *args, pure=False, retries=self.retries) for args in args_list
        ]
        # A synchronous Client (the default) gathers a list; the coroutine of its type is
        # only for asynchronous=True, which this executor never creates.
        return cast(list[Any], self.client.gather(futures))

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._own:
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        scheduler = self.client.scheduler
        return f"DaskExecutor({scheduler.address if scheduler is not None else None!r})"
