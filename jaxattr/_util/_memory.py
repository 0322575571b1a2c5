"""Zero-copy placement of host arrays: the front door's input strategy.

A user's ``(T, N, d)`` NumPy array would be transposed (98 ms) and copied to the device
(530 ms on fresh pages; measured on a 2-core EPYC VM, jax 0.10.2, N = 1,671,587, T = 14,
d = 3, float32). The kernels read either layout directly, and on the CPU backend
:func:`place` hands XLA the user's own buffer without a copy. XLA aliases host memory
only at 64-byte alignment, and NumPy's large arrays sit 16 bytes past a page; so the
device array is a read-only window that starts at the aligned address at or below the
data and runs one alignment unit past its end (bytes of the same memory pages, never
used), and the compiled program takes the array out of it with a slice at ``offset``.
The offset is a static argument of the program: a dynamic slice costs the kernels their
vectorised loads (``benchmarks/bench_core.py`` on the 2-core EPYC VM, N = 1,671,587,
T = 14, d = 3, float32: variance from NumPy 57–59 ms through a dynamic offset,
27.5–28.2 ms through a static one). So an array of one shape runs one program per
alignment class of its address (at most four for NumPy's 16-byte-aligned buffers, each
compiled once); an array that admits no window (not aligned to its item size, or a window
that would cross into an unmapped page) is copied once into an aligned window at offset 0.

The allocator policy that keeps outputs in warm pages is in :mod:`jaxattr._process`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

__all__ = ["Placed", "aligned_empty", "is_aligned", "place", "view"]

_ALIGN = 64
_MAX_WINDOW = 2**31  # elements a window may hold: int32 offsets index it
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


# ------------------------------------------------------------------------- placement


class _Window:
    """A read-only view of ``length`` elements at address ``start`` that keeps ``owner``
    (the array whose buffer it covers) alive: the NumPy array interface protocol."""

    def __init__(self, owner: np.ndarray, start: int, length: int):
        self._owner = owner
        self.__array_interface__ = {
            "shape": (length,),
            "typestr": owner.dtype.str,
            "data": (start, True),
            "version": 3,
        }


@dataclasses.dataclass(frozen=True)
class Placed:
    """A buffer on the device plus how to read it.

    Attributes:
        buf: the jax.Array: exactly ``shape``, or a flat window holding it at ``offset``.
        offset: where the array starts in a window, in elements (0 for an exact buffer);
            a static argument of the compiled program.
        shape: the physical shape, ``(T, N, d)`` (agent-major) or ``(T, d, N)``.
        zero_copy: whether ``buf`` aliases the host array (no copy was made).
    """

    buf: Any
    offset: int
    shape: tuple[int, ...]
    zero_copy: bool

    @property
    def windowed(self) -> bool:
        return self.buf.ndim == 1 and len(self.shape) != 1


def view(buf, offset: int, shape: tuple[int, ...], windowed: bool):
    """Inside jit: the array of ``shape`` that a :class:`Placed` buffer holds (``offset``
    static)."""
    if not windowed:
        return buf
    size = int(np.prod(shape))
    return buf[offset : offset + size].reshape(shape)


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary: the
    CPU backend aliases it exactly (no window, no dynamic slice: measured up to 8 ms
    faster per full-scale closed form than a window)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start : start + nbytes].view(dtype).reshape(shape)


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
    if jax.default_backend() != "cpu" or x.size == 0:
        return Placed(jax.device_put(x), 0, tuple(x.shape), False)
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
        return Placed(
            buf, 0, tuple(x.shape), src is x and buf.unsafe_buffer_pointer() == x.ctypes.data
        )
    if lead % x.itemsize or not same_page:
        # No window over the caller's pages: one aligned copy, presented as a window at
        # offset 0 so that the program is the same one an aliased window runs.
        flat = aligned_empty((x.size + pad,), x.dtype)
        flat[: x.size] = x.reshape(-1)
        flat[x.size :] = 0
        return Placed(jax.device_put(flat), 0, tuple(x.shape), False)
    window = np.asarray(_Window(x, start, x.size + pad))
    buf = jax.device_put(window)
    return Placed(buf, lead // x.itemsize, tuple(x.shape), buf.unsafe_buffer_pointer() == start)
