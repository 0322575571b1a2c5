"""Host-side validation with messages that name what is wrong and where."""

from __future__ import annotations

import json
import os

import numpy as np


def read_json_or_toml(path, what: str) -> dict:
    """Parse a ``.json`` file as JSON, anything else as TOML; a syntax error is a
    ValueError naming ``what`` and the file."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    is_json = path.endswith(".json")
    try:
        if is_json:
            return json.loads(raw)
        import tomllib

        return tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # deep nesting recurses
        raise ValueError(
            f"{what} {path!r} is not valid {'JSON' if is_json else 'TOML'}: {e}"
        ) from None


def check_float_dtype(dtype, what: str) -> None:
    """Refuse integer and bool features: a silent cast hides unit mistakes."""
    if np.dtype(dtype).kind not in "f" and str(dtype) != "bfloat16":
        raise TypeError(
            f"{what} must be floating point, got dtype {np.dtype(dtype)}; cast explicitly "
            f"(e.g. x.astype(np.float32)) if the integers are meant as feature values"
        )


def first_nonfinite(x, layout: str, what: str) -> str:
    """Describe the first NaN/inf of ``x`` as 'NaN at t=.., agent=.., feature=..'."""
    x = np.asarray(x)
    bad = np.argwhere(~np.isfinite(x))
    if bad.size == 0:
        return f"{what} has no NaN or inf"
    idx = tuple(int(i) for i in bad[0])
    val = x[idx]
    if layout == "tdn":
        t, k, i = idx
    elif layout == "tnd":
        t, i, k = idx
    elif layout == "dn":
        t, (k, i) = None, idx
    else:
        t, (i, k) = None, idx
    kind = "NaN" if np.isnan(val) else ("+inf" if val > 0 else "-inf")
    where = (f"time step t={t}, " if t is not None else "") + f"agent {i}, feature {k}"
    return (
        f"{what} contains {kind} at {where} ({len(bad)} non-finite entries in all); "
        "fill or drop those values before attributing"
    )
