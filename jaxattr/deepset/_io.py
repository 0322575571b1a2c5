"""Save and load DeepSets: one file = magic + JSON header + equinox-serialised leaves.

Layout: ``b"JAXATTR-DEEPSET\\n"``, an 8-byte little-endian header length, the UTF-8 JSON
header (format version, hyperparameters incl. feature names, SHA-256 and size of the
payload, optional training report), then the payload written by
``eqx.tree_serialise_leaves`` (NumPy ``.npy`` records, never pickle). Loading rebuilds the
model skeleton from the header, checks the digest, and deserialises into it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct

import equinox as eqx
import jax
import numpy as np

from .._atomic import atomic_path
from ._model import DeepSet, DeepSetConfig, init_deepset
from ._value import DeepSetValue

MAGIC = b"JAXATTR-DEEPSET\n"
FORMAT_VERSION = 1
SUFFIX = ".deepset"


class DeepSetFileError(ValueError):
    """A file is not a valid jaxattr DeepSet (foreign, truncated, tampered, or mismatched)."""


def save(path, model: DeepSet, *, report=None, metadata: dict | None = None) -> None:
    """Write a model atomically (temp file + rename) to ``path``.

    Args:
        path: destination (conventionally ``*.deepset``).
        model: the :class:`DeepSet`.
        report: optional :class:`TrainReport` (or dict) stored in the header.
        metadata: optional JSON-serialisable dict stored in the header.

    Raises:
        TypeError: ``model`` is not a DeepSet; FileNotFoundError: missing directory.

    Example:
        >>> save("variance.deepset", model)  # doctest: +SKIP
    """
    if not isinstance(model, DeepSet):
        raise TypeError(f"save: model must be a jaxattr.deepset.DeepSet, "
                        f"got {type(model).__name__}")
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, model)
    payload = buf.getvalue()
    header = {
        "format": "jaxattr-deepset", "version": FORMAT_VERSION,
        "config": model.config.to_json(),
        "payload_sha256": hashlib.sha256(payload).hexdigest(), "payload_bytes": len(payload),
        "report": (report.to_json() if hasattr(report, "to_json") else report),
        "metadata": metadata or {},
    }
    hbytes = json.dumps(header, sort_keys=True).encode()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        f.write(payload)


def read_header(path) -> dict:
    """The JSON header of a DeepSet file (hyperparameters, feature names, report)."""
    return _read(path)[0]


def _read(path) -> tuple[dict, bytes]:
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC):
        raise DeepSetFileError(f"{path!r} is not a jaxattr DeepSet file (missing the "
                               f"{MAGIC[:-1].decode()} signature); train one with "
                               "`jaxattr deepset train` or jaxattr.deepset.save")
    off = len(MAGIC)
    if len(data) < off + 8:
        raise DeepSetFileError(f"{path!r} is truncated (no header length)")
    (hlen,) = struct.unpack("<Q", data[off:off + 8])
    off += 8
    if hlen > len(data) - off:
        raise DeepSetFileError(f"{path!r} is truncated or corrupt (header of {hlen} bytes, "
                               f"file has {len(data) - off} left)")
    try:
        header = json.loads(data[off:off + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DeepSetFileError(f"{path!r}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != "jaxattr-deepset":
        raise DeepSetFileError(f"{path!r}: header does not describe a jaxattr DeepSet")
    if header.get("version") != FORMAT_VERSION:
        raise DeepSetFileError(f"{path!r}: format version {header.get('version')!r} is not "
                               f"supported (this jaxattr reads version {FORMAT_VERSION})")
    payload = data[off + hlen:]
    if (len(payload) != header.get("payload_bytes")
            or hashlib.sha256(payload).hexdigest() != header.get("payload_sha256")):
        raise DeepSetFileError(f"{path!r}: the parameters do not match the digest in the "
                               "header (file truncated, corrupted or modified); re-save or "
                               "re-train the model")
    return header, payload


def load(path) -> DeepSet:
    """Read a model written by :func:`save`.

    Raises:
        DeepSetFileError: a foreign, truncated, tampered or version-mismatched file, or
            parameters that do not fit the stored hyperparameters.
        FileNotFoundError: no such file.

    Example:
        >>> model = load("variance.deepset")  # doctest: +SKIP
    """
    header, payload = _read(path)
    try:
        config = DeepSetConfig.from_json(header["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise DeepSetFileError(f"{os.fspath(path)!r}: bad hyperparameters in header: {e}") \
            from None
    like = init_deepset(jax.random.key(0), config)
    try:
        model = eqx.tree_deserialise_leaves(io.BytesIO(payload), like)
    except Exception as e:  # numpy raises several types for a malformed .npy record
        raise DeepSetFileError(f"{os.fspath(path)!r}: parameters cannot be read into a "
                               f"DeepSet with {config}: {e}") from None
    for a, b in zip(jax.tree_util.tree_leaves(like), jax.tree_util.tree_leaves(model),
                    strict=True):
        if np.shape(a) != np.shape(b) or np.asarray(a).dtype != np.asarray(b).dtype:
            raise DeepSetFileError(f"{os.fspath(path)!r}: a parameter has shape "
                                   f"{np.shape(b)}, the hyperparameters say {np.shape(a)}")
    return model


def load_value(path, name: str | None = None) -> DeepSetValue:
    """Load a model file as a value function for :func:`jaxattr.attribute`.

    Args:
        path: a file written by :func:`save` / ``jaxattr deepset train``.
        name: label in tables (default: the file name without suffix).

    Returns:
        A :class:`DeepSetValue`.

    Example:
        >>> att = jaxattr.attribute(panel, load_value("variance.deepset"))  # doctest: +SKIP
    """
    base = os.path.basename(os.fspath(path))
    if name is None:
        name = base[: -len(SUFFIX)] if base.endswith(SUFFIX) else base
    return DeepSetValue(load(path), name=f"deepset:{name}")
