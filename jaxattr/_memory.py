"""Memory strategy of the front door: the allocator policy and zero-copy placement.

Two costs dominate a closed form on a CPU at scale (measured on a 2-core EPYC VM, jax 0.10.2,
N = 1,671,587, T = 14, d = 3, float32), and both live here, inside the library:

**Fresh output pages.** XLA allocates every output anew. With glibc's defaults a 94 MB phi
is ``mmap``-ed afresh on every call (XLA allocates from its worker threads, whose malloc
arenas cannot hold a block that large) and the kernel zeroes each page on first touch:
22,854 page faults and ~28 ms for a pass that takes ~10 ms in recycled memory. At import,
jaxattr therefore sets three glibc malloc options with ``mallopt`` (policy ``"recycle"``):
blocks up to 1 GiB come from the heap instead of ``mmap`` (``M_MMAP_THRESHOLD``), up to
1 GiB of freed memory stays in the process (``M_TRIM_THRESHOLD``), and all threads share
one arena (``M_ARENA_MAX = 1``) so that a block freed by one call is the next call's output,
already warm. The settings are process-wide: freed memory is kept for reuse rather than
returned to the operating system (:func:`release_memory` returns it), and one arena
serialises malloc between threads (a few percent on heavily threaded allocation). Set the
environment variable ``JAXATTR_MALLOC=system`` before importing jaxattr to keep glibc's
defaults. The arena setting takes effect for threads that have not allocated yet, so import
jaxattr before running JAX computations; :func:`allocator_info` reports what applied.

**Input copies.** A user's ``(T, N, d)`` NumPy array would be transposed (98 ms) and copied
to the device (530 ms on fresh pages). The kernels read either layout directly, and on the
CPU backend :func:`place` hands XLA the user's own buffer without a copy. XLA aliases host
memory only at 64-byte alignment, and NumPy's large arrays sit 16 bytes past a page; so
the device array is a read-only window that starts at the aligned address at or below the
data and runs one alignment unit past its end (bytes of the same memory pages, never
used), and the compiled program takes the array out of it with a dynamic slice at
``offset``. The window's length depends only on the array's size, so every array of one
shape runs the same compiled program whatever its alignment; an array that admits no such
window (not aligned to its item size, or a window that would cross into an unmapped page)
is copied once into an aligned window at offset 0, which runs that same program.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import platform
import sys

import numpy as np

__all__ = ["Placed", "allocator_info", "configure_allocator", "place", "release_memory"]

ENV = "JAXATTR_MALLOC"
POLICIES = ("recycle", "system")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
_GIB = 1 << 30
_ALIGN = 64
_MAX_WINDOW = 2**31  # elements a window may hold: int32 offsets index it
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

_state: dict = {"policy": None, "applied": False, "detail": "not configured"}


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


def configure_allocator(policy: str | None = None) -> dict:
    """Apply the allocator policy (once per process; jaxattr calls it at import).

    Args:
        policy: ``"recycle"`` (default; see the module docstring) or ``"system"`` (glibc's
            defaults, nothing changed). None reads ``$JAXATTR_MALLOC``, default recycle.

    Returns:
        :func:`allocator_info`.

    Raises:
        ValueError: an unknown policy.
    """
    if policy is None:
        policy = os.environ.get(ENV, "recycle").strip().lower() or "recycle"
    if policy not in POLICIES:
        raise ValueError(f"{ENV} / policy must be one of {POLICIES}, got {policy!r}")
    if _state["applied"] or policy == _state["policy"]:
        return allocator_info()
    _state["policy"] = policy
    if policy == "system":
        _state["detail"] = "glibc defaults (policy 'system')"
        return allocator_info()
    libc = _libc()
    if libc is None:
        _state["detail"] = f"no glibc malloc on {platform.system()}: nothing to tune"
        return allocator_info()
    ok = all(libc.mallopt(opt, val) == 1 for opt, val in (
        (_M_MMAP_THRESHOLD, _GIB), (_M_TRIM_THRESHOLD, _GIB), (_M_ARENA_MAX, 1)))
    _state["applied"] = ok
    late = _backend_started()
    _state["detail"] = ("mallopt: mmap_threshold=1GiB, trim_threshold=1GiB, arena_max=1"
                        if ok else "mallopt refused the settings; glibc defaults apply")
    if ok and late:
        _state["detail"] += (" (a JAX backend was already running: its threads keep their "
                             "own arenas, so outputs may still fault; import jaxattr first)")
    _state["late"] = late
    return allocator_info()


def allocator_info() -> dict:
    """``{"policy", "applied", "detail"}``: what :func:`configure_allocator` did."""
    return {k: _state.get(k) for k in ("policy", "applied", "detail")}


def release_memory() -> bool:
    """Return freed heap memory to the operating system (``malloc_trim(0)``).

    Under the ``"recycle"`` policy freed buffers stay in the process for the next call;
    call this after a batch of work to shrink the resident set. Returns True if memory was
    released.
    """
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))


# ------------------------------------------------------------------------- placement


class _Window:
    """A read-only view of ``length`` elements at address ``start`` that keeps ``owner``
    (the array whose buffer it covers) alive: the NumPy array interface protocol."""

    def __init__(self, owner: np.ndarray, start: int, length: int):
        self._owner = owner
        self.__array_interface__ = {"shape": (length,), "typestr": owner.dtype.str,
                                    "data": (start, True), "version": 3}


@dataclasses.dataclass(frozen=True)
class Placed:
    """A buffer on the device plus how to read it.

    Attributes:
        buf: the jax.Array: exactly ``shape``, or a flat window holding it at ``offset``.
        offset: where the array starts in a window (a traced argument: no recompiling).
        shape: the physical shape, ``(T, N, d)`` (agent-major) or ``(T, d, N)``.
        zero_copy: whether ``buf`` aliases the host array (no copy was made).
    """

    buf: object
    offset: object
    shape: tuple[int, ...]
    zero_copy: bool

    @property
    def windowed(self) -> bool:
        return self.buf.ndim == 1 and len(self.shape) != 1


def view(buf, offset, shape: tuple[int, ...], windowed: bool):
    """Inside jit: the array of ``shape`` that a :class:`Placed` buffer holds."""
    if not windowed:
        return buf
    import jax

    size = int(np.prod(shape))
    return jax.lax.dynamic_slice(buf, (offset,), (size,)).reshape(shape)


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary: the
    CPU backend aliases it exactly (no window, no dynamic slice: measured up to 8 ms
    faster per full-scale closed form than a window)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def is_aligned(x: np.ndarray) -> bool:
    return x.ctypes.data % _ALIGN == 0


def _aligned_copy(x: np.ndarray) -> np.ndarray:
    out = aligned_empty(x.shape, x.dtype)
    out[...] = x
    return out


def place(x: np.ndarray, dtype, *, exact_if_aligned: bool = False) -> Placed:
    """Put a host array on the default device, without a copy where the backend allows.

    On the CPU backend a C-contiguous array of the target dtype is aliased (see the module
    docstring); anything else is converted once (``np.ascontiguousarray``) and copied.

    Args:
        x: host array of any shape.
        dtype: the dtype the engine computes in (float32, or float64 under x64).
        exact_if_aligned: alias a 64-byte-aligned array as is rather than through a
            window. Faster (no dynamic slice), but a program of its own: the engine asks
            for it for Panels, whose buffers are always aligned, and not for user arrays,
            whose alignment varies from call to call (one program per shape).

    Returns:
        :class:`Placed`.
    """
    import jax

    dtype = np.dtype(dtype)
    if x.dtype != dtype or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=dtype)
    zero = np.zeros((), np.int32)
    if jax.default_backend() != "cpu" or x.size == 0:
        return Placed(jax.device_put(x), zero, tuple(x.shape), False)
    addr, nbytes = x.ctypes.data, x.nbytes
    lead = addr % _ALIGN
    pad = _ALIGN // x.itemsize
    start, end = addr - lead, addr - lead + nbytes + _ALIGN
    # Both ends of the window lie on memory pages the array itself occupies.
    same_page = (end - 1) // _PAGE == (addr + nbytes - 1) // _PAGE
    # Windows are indexed with int32 offsets inside the program (t * N * d for a time
    # step): beyond 2**31 elements an exact buffer, indexed by its own dimensions.
    huge = x.size + pad >= _MAX_WINDOW
    if (exact_if_aligned and lead % x.itemsize == 0) or huge:
        src = _aligned_copy(x) if lead else x
        buf = jax.device_put(src)
        return Placed(buf, zero, tuple(x.shape),
                      src is x and buf.unsafe_buffer_pointer() == x.ctypes.data)
    if lead % x.itemsize or not same_page:
        # No window over the caller's pages: one aligned copy, presented as a window at
        # offset 0 so that the program is the same one an aliased window runs.
        flat = aligned_empty((x.size + pad,), x.dtype)
        flat[:x.size] = x.reshape(-1)
        flat[x.size:] = 0
        return Placed(jax.device_put(flat), zero, tuple(x.shape), False)
    window = np.asarray(_Window(x, start, x.size + pad))
    buf = jax.device_put(window)
    return Placed(buf, np.int32(lead // x.itemsize), tuple(x.shape),
                  buf.unsafe_buffer_pointer() == start)
