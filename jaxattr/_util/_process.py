"""Process-wide settings jaxattr applies at import: explicit, documented and reversible.

Two per-call costs on a CPU are set by the process, not by the engine, and importing
jaxattr changes two process settings for them (measured on a 2-core EPYC VM, jax 0.10.2):

**The allocator** (glibc ``mallopt``). XLA allocates every output anew; with glibc's
defaults a 94 MB phi (N = 1,671,587, T = 14, float32) is ``mmap``-ed afresh on every call
and the kernel zeroes each page on first touch: 22,854 page faults and ~28 ms for a pass
that takes ~10 ms in recycled memory. jaxattr therefore lets blocks up to 1 GiB come from
the heap (``M_MMAP_THRESHOLD``), keeps up to 1 GiB of freed memory in the process
(``M_TRIM_THRESHOLD``) and makes all threads share one arena (``M_ARENA_MAX = 1``), so a
block freed by one call is the next call's output, already warm. Freed memory then stays
in the process (:func:`release_memory` returns it), and one arena serialises malloc
between threads (a few percent on heavily threaded allocation).

**Dispatch** (``jax_cpu_enable_async_dispatch``). JAX runs CPU programs on a worker thread
by default; the hand-off costs ~40-60 µs per call here, most of a small panel's call (a
T = 1, N = 1,000 heat attribution computes in ~25 µs). jaxattr turns it off, so CPU
programs run on the calling thread (results are identical; Python no longer overlaps with
a running CPU computation). It has no effect on GPU or TPU backends, and takes effect only
if no JAX backend has been created yet (import jaxattr before your first JAX computation).

Neither is applied when the host process has configured it itself: the allocator when
``GLIBC_TUNABLES`` or any ``MALLOC_*`` variable is set, dispatch when
``JAX_CPU_ENABLE_ASYNC_DISPATCH`` is set or a backend already runs. ``JAXATTR_MALLOC=system``
and ``JAXATTR_DISPATCH=async`` (set before importing jaxattr) opt out of each;
:func:`restore_defaults` undoes both; :func:`process_policy` reports what applied. The
command line and the batch runner apply them unconditionally (they own their process).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from typing import Any

__all__ = [
    "allocator_info",
    "apply_process_policy",
    "process_policy",
    "release_memory",
    "restore_defaults",
]

ENV_MALLOC = "JAXATTR_MALLOC"
ENV_DISPATCH = "JAXATTR_DISPATCH"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_GIB = 1 << 30
# glibc's documented defaults (mallopt(3)): 128 KiB thresholds, arenas from the core count
_GLIBC_DEFAULTS = (
    (_M_MMAP_THRESHOLD, 128 * 1024),
    (_M_TRIM_THRESHOLD, 128 * 1024),
    (_M_ARENA_MAX, 0),
)

_state: dict = {
    "allocator": {"policy": None, "applied": False, "detail": "not configured"},
    "dispatch": {"policy": None, "applied": False, "detail": "not configured"},
}


def _libc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def _backend_started() -> bool:
    xb = sys.modules.get("jax._src.xla_bridge")
    return bool(xb is not None and getattr(xb, "_backends", None))


def _host_malloc_settings() -> list[str]:
    return sorted(k for k in os.environ if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_"))


def _choice(env: str, choices: tuple[str, ...], default: str) -> str:
    value = os.environ.get(env, default).strip().lower() or default
    if value not in choices:
        raise ValueError(f"{env} must be one of {choices}, got {value!r}")
    return value


def _apply_allocator(force: bool) -> None:
    st = _state["allocator"]
    policy = _choice(ENV_MALLOC, ("recycle", "system"), "recycle")
    st["policy"] = policy
    host = _host_malloc_settings()
    if policy == "system":
        st.update(applied=False, detail=f"glibc defaults ({ENV_MALLOC}=system)")
        return
    if host and not force:
        st.update(applied=False, detail=f"left as configured by the process ({', '.join(host)})")
        return
    libc = _libc()
    if libc is None:
        st.update(applied=False, detail=f"no glibc malloc on {platform.system()}: nothing to tune")
        return
    ok = all(
        libc.mallopt(opt, val) == 1
        for opt, val in ((_M_MMAP_THRESHOLD, _GIB), (_M_TRIM_THRESHOLD, _GIB), (_M_ARENA_MAX, 1))
    )
    detail = (
        "mallopt: mmap_threshold=1GiB, trim_threshold=1GiB, arena_max=1"
        if ok
        else "mallopt refused the settings; glibc defaults apply"
    )
    if ok and _backend_started():
        detail += (
            " (a JAX backend was already running: its threads keep their own arenas, "
            "so outputs may still fault; import jaxattr first)"
        )
    st.update(applied=ok, detail=detail)


def _apply_dispatch(force: bool) -> None:
    st = _state["dispatch"]
    policy = _choice(ENV_DISPATCH, ("sync", "async"), "sync")
    st["policy"] = policy
    if policy == "async":
        st.update(applied=False, detail=f"JAX's default, asynchronous ({ENV_DISPATCH}=async)")
        return
    if "JAX_CPU_ENABLE_ASYNC_DISPATCH" in os.environ and not force:
        st.update(
            applied=False,
            detail="left as configured by the process (JAX_CPU_ENABLE_ASYNC_DISPATCH)",
        )
        return
    if _backend_started():
        st.update(
            applied=False,
            detail="a JAX backend was already running: JAX's setting "
            "stays (import jaxattr before computing with JAX)",
        )
        return
    import jax

    jax.config.update("jax_cpu_enable_async_dispatch", False)
    st.update(
        applied=True,
        detail="CPU programs run on the calling thread (jax_cpu_enable_async_dispatch=False)",
    )


def apply_process_policy(*, force: bool = False) -> dict[str, dict[str, Any]]:
    """Apply the allocator and dispatch settings (jaxattr calls it at import).

    Args:
        force: apply even where the process configured the allocator or JAX's dispatch
            itself (the command line and the batch runner, which own their process).

    Returns:
        :func:`process_policy`.

    Raises:
        ValueError: an unknown ``JAXATTR_MALLOC`` / ``JAXATTR_DISPATCH`` value.
    """
    _apply_allocator(force)
    _apply_dispatch(force)
    return process_policy()


def restore_defaults() -> dict[str, dict[str, Any]]:
    """Undo :func:`apply_process_policy`: glibc's malloc defaults, and JAX's asynchronous
    CPU dispatch for backends created from now on (a running backend keeps its mode).

    Returns:
        :func:`process_policy`, after the change.

    Example:
        >>> import jax, jaxattr
        >>> policy = jaxattr.restore_defaults()
        >>> policy["allocator"]["applied"], policy["dispatch"]["applied"]
        (False, False)
        >>> _ = apply_process_policy(force=True)     # jaxattr's allocator settings again
        >>> jax.config.update("jax_cpu_enable_async_dispatch", False)   # and its dispatch
    """
    libc = _libc()
    if libc is not None and _state["allocator"]["applied"]:
        for opt, val in _GLIBC_DEFAULTS:
            libc.mallopt(opt, val)
        _state["allocator"].update(applied=False, detail="restored to glibc defaults")
    if _state["dispatch"]["applied"]:
        import jax

        jax.config.update("jax_cpu_enable_async_dispatch", True)
        _state["dispatch"].update(
            applied=False,
            detail=(
                "restored to JAX's default for backends created from now on"
                + (" (the running backend stays synchronous)" if _backend_started() else "")
            ),
        )
    return process_policy()


def process_policy() -> dict[str, dict[str, Any]]:
    """What importing jaxattr changed in this process: the allocator and the dispatch.

    Returns:
        ``{"allocator": {...}, "dispatch": {...}}``, each ``{"policy", "applied",
        "detail"}``: the policy chosen (``JAXATTR_MALLOC`` / ``JAXATTR_DISPATCH``), whether
        it was applied, and why or why not (e.g. the process configured it itself).

    Example:
        >>> import jaxattr
        >>> policy = jaxattr.process_policy()
        >>> sorted(policy), sorted(policy["dispatch"])
        (['allocator', 'dispatch'], ['applied', 'detail', 'policy'])
    """
    return {k: dict(v) for k, v in _state.items()}


def allocator_info() -> dict[str, Any]:
    """The allocator part of :func:`process_policy`.

    Returns:
        ``{"policy", "applied", "detail"}``: ``"recycle"`` (jaxattr's) or ``"system"``,
        whether glibc accepted the settings, and what was set or why not.

    Example:
        >>> import jaxattr
        >>> info = jaxattr.allocator_info()
        >>> info["policy"] in ("recycle", "system"), isinstance(info["detail"], str)
        (True, True)
    """
    return dict(_state["allocator"])


def release_memory() -> bool:
    """Return freed heap memory to the operating system (``malloc_trim(0)``).

    Under the allocator policy freed buffers stay in the process for the next call; call
    this after a batch of work to shrink the resident set.

    Returns:
        True if memory was released (False where there is no glibc malloc, or nothing to
        release).

    Example:
        >>> import jaxattr
        >>> isinstance(jaxattr.release_memory(), bool)
        True
    """
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
