"""Save and load DeepSets: one file = magic + JSON header + NumPy ``.npy`` records.

Layout (format version 2): ``b"JAXATTR-DEEPSET\\n"``, an 8-byte little-endian header
length, the UTF-8 JSON header, then the payload written by ``eqx.tree_serialise_leaves``
(one ``.npy`` record per parameter array, never pickle). The header holds the format and
version, the hyperparameters (``config``, feature names included), ``payload_bytes``, the
optional training ``report`` and user ``metadata``, and:

- ``checksum``: SHA-256 over the *canonical* header (sorted keys, no spaces, ASCII, with
  ``checksum`` and ``signature`` left out) and the payload,
  ``sha256(len(canon) as u64 || canon || payload)``. It detects any change to the file,
  accidental or not, but anyone can recompute it: it is integrity, not authenticity.
- ``signature`` (optional): HMAC-SHA256 of the same message under a key the user supplies
  (``save(..., key=)``). ``load(..., key=)`` requires it and refuses a file that is unsigned
  or signed under another key: only a holder of the key can produce a file that loads.

Loading checks, in this order and before allocating anything: the magic, the header length
against the file, the header JSON, the checksum (and the signature when a key is given), the
hyperparameters, then every ``.npy`` record's shape and dtype against the shapes the
hyperparameters imply, and that the payload holds exactly those records. Only then is a
model built and the parameters read into it. So a header edited to another activation,
pooling, feature names or sizes is refused, and a crafted ``width`` cannot make ``load``
allocate more than the file holds.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import math
import os
import re
import struct
from typing import TYPE_CHECKING

import numpy as np

from .._util import atomic_path
from ._model import DeepSet, DeepSetConfig, init_deepset, leaf_shapes
from ._value import DeepSetValue

if TYPE_CHECKING:
    from ._train import TrainReport

PathLike = str | os.PathLike[str]

MAGIC = b"JAXATTR-DEEPSET\n"
FORMAT_VERSION = 2
SUFFIX = ".deepset"
KEY_ENV = "JAXATTR_DEEPSET_KEY"
"""Environment variable holding a signing key: when set, :func:`load` (and so every
``--value model.deepset`` on the command line) requires a valid signature under it.

Example:
    >>> from jaxattr import deepset
    >>> deepset.KEY_ENV
    'JAXATTR_DEEPSET_KEY'
"""
_UNSIGNED = ("checksum", "signature")
_MAX_HEADER = 64 << 20


class DeepSetFileError(ValueError):
    """A file is not a valid jaxattr DeepSet (foreign, truncated, tampered, or mismatched).

    Raised by :func:`load`, :func:`load_value`, :func:`read_header` and
    :func:`file_checksum`; a subclass of ValueError whose message names the file and what
    is wrong with it.

    Example:
        >>> import os, tempfile
        >>> from jaxattr import deepset
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "foreign.deepset")
        ...     with open(path, "wb") as f:
        ...         _ = f.write(b"not a model")
        ...     try:
        ...         deepset.load(path)
        ...     except deepset.DeepSetFileError as e:
        ...         print(isinstance(e, ValueError), "not a jaxattr DeepSet file" in str(e))
        True True
    """


def _key_bytes(key) -> bytes | None:
    if key is None:
        key = os.environ.get(KEY_ENV) or None
        if key is None:
            return None
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)):
        raise TypeError(f"key must be bytes or str, got {type(key).__name__}")
    if len(key) < 16:
        raise ValueError(
            f"a signing key must have at least 16 bytes, got {len(key)}; use "
            "e.g. secrets.token_hex(32)"
        )
    return bytes(key)


def _canonical(header: dict) -> bytes:
    body = {k: v for k, v in header.items() if k not in _UNSIGNED}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True
    ).encode()


def _message(header: dict, payload: bytes) -> bytes:
    canon = _canonical(header)
    return struct.pack("<Q", len(canon)) + canon + payload


def _pack(header: dict, payload: bytes) -> bytes:
    hb = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return MAGIC + struct.pack("<Q", len(hb)) + hb + payload


def _with_checksum(raw: bytes, key=None) -> bytes:
    """Re-seal a file's bytes: recompute ``checksum`` (and ``signature`` under ``key``) for
    its current header and payload. For tests and repair tools that edit headers; a file
    sealed this way is *consistent*, and authentic only if ``key`` is the owner's."""
    header, payload = _split(raw, "<bytes>")
    msg = _message(header, payload)
    header["checksum"] = {"algorithm": "sha256", "value": hashlib.sha256(msg).hexdigest()}
    header.pop("signature", None)
    kb = _key_bytes(key) if key is not None else None
    if kb is not None:
        header["signature"] = {
            "algorithm": "hmac-sha256",
            "value": hmac.new(kb, msg, hashlib.sha256).hexdigest(),
        }
    return _pack(header, payload)


def save(
    path: PathLike,
    model: DeepSet,
    *,
    report: TrainReport | dict | None = None,
    metadata: dict | None = None,
    key: bytes | str | None = None,
) -> None:
    """Write a model atomically (temp file + rename) to ``path``.

    Args:
        path: destination (conventionally ``*.deepset``).
        model: the :class:`DeepSet`.
        report: optional :class:`TrainReport` (or dict) stored in the header.
        metadata: optional JSON-serialisable dict stored in the header.
        key: optional signing key (bytes or str, >= 16 bytes): the file then carries an
            HMAC-SHA256 signature that ``load(..., key=)`` verifies. Keep the key secret;
            without it, a file's checksum proves integrity but not who wrote it.

    Raises:
        TypeError: ``model`` is not a DeepSet, ``metadata``/``report`` is not JSON, or
            ``key`` is neither bytes nor str.
        ValueError: a key shorter than 16 bytes.
        FileNotFoundError: the destination's directory does not exist.

    Example:
        >>> import jax, os, tempfile
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "tiny.deepset")
        >>> deepset.save(path, model, metadata={"note": "example"})
        >>> print(deepset.read_header(path)["metadata"])
        {'note': 'example'}
        >>> tmp.cleanup()
    """
    import equinox as eqx

    if not isinstance(model, DeepSet):
        raise TypeError(
            f"save: model must be a jaxattr.deepset.DeepSet, got {type(model).__name__}"
        )
    kb = _key_bytes(key) if key is not None else None
    buf = io.BytesIO()
    eqx.tree_serialise_leaves(buf, model)
    payload = buf.getvalue()
    header = {
        "format": "jaxattr-deepset",
        "version": FORMAT_VERSION,
        "config": model.config.to_json(),
        "payload_bytes": len(payload),
        "report": to_json() if callable(to_json := getattr(report, "to_json", None)) else report,
        "metadata": metadata or {},
    }
    try:
        header = json.loads(json.dumps(header))  # the checksum covers what load() parses
    except TypeError as e:
        raise TypeError(f"save: report and metadata must be JSON-serialisable: {e}") from None
    raw = _with_checksum(_pack(header, payload), kb)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(raw)


def _split(data: bytes, path) -> tuple[dict, bytes]:
    """Header dict and payload of a file's bytes; structure checks only."""
    if not data.startswith(MAGIC):
        raise DeepSetFileError(
            f"{path!r} is not a jaxattr DeepSet file (missing the "
            f"{MAGIC[:-1].decode()} marker); train one with "
            "`jaxattr deepset train` or jaxattr.deepset.save"
        )
    off = len(MAGIC)
    if len(data) < off + 8:
        raise DeepSetFileError(f"{path!r} is truncated (no header length)")
    (hlen,) = struct.unpack("<Q", data[off : off + 8])
    off += 8
    if hlen > len(data) - off or hlen > _MAX_HEADER:
        raise DeepSetFileError(
            f"{path!r} is truncated or corrupt (header of {hlen} bytes, "
            f"file has {len(data) - off} left)"
        )
    try:
        header = json.loads(data[off : off + hlen].decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise DeepSetFileError(f"{path!r}: the header is not valid JSON ({e})") from None
    if not isinstance(header, dict) or header.get("format") != "jaxattr-deepset":
        raise DeepSetFileError(f"{path!r}: header does not describe a jaxattr DeepSet")
    return header, data[off + hlen :]


def _digest_field(header: dict, name: str, algorithm: str) -> str | None:
    f = header.get(name)
    if f is None:
        return None
    if (
        not isinstance(f, dict)
        or f.get("algorithm") != algorithm
        or not isinstance(f.get("value"), str)
        or re.fullmatch(r"[0-9a-f]{64}", f["value"]) is None
    ):  # compare_digest wants ASCII
        raise DeepSetFileError(
            f"the header's {name} is malformed (expected "
            f"{{'algorithm': {algorithm!r}, 'value': 64 hex digits}})"
        )
    return f["value"]


def _read(path, key=None) -> tuple[dict, bytes]:
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    header, payload = _split(data, path)
    version = header.get("version")
    if version != FORMAT_VERSION:
        hint = (
            " (version 1 files have no checksum over their header; re-train, or re-save "
            "a model you trust with this jaxattr)"
            if version == 1
            else ""
        )
        raise DeepSetFileError(
            f"{path!r}: format version {version!r} is not supported (this "
            f"jaxattr reads version {FORMAT_VERSION}){hint}"
        )
    try:
        want = _digest_field(header, "checksum", "sha256")
        sig = _digest_field(header, "signature", "hmac-sha256")
    except DeepSetFileError as e:
        raise DeepSetFileError(f"{path!r}: {e}") from None
    try:
        msg = _message(header, payload)
    except (ValueError, RecursionError) as e:  # a header too deep to re-serialise
        raise DeepSetFileError(f"{path!r}: the header cannot be canonicalised ({e})") from None
    if want is None or not hmac.compare_digest(hashlib.sha256(msg).hexdigest(), want):
        raise DeepSetFileError(
            f"{path!r}: the file does not match its checksum (header or "
            "parameters truncated, corrupted or edited); re-save or "
            "re-train the model"
        )
    kb = _key_bytes(key)
    if kb is not None:
        if sig is None:
            raise DeepSetFileError(
                f"{path!r} is not signed, but a key was given (key= or "
                f"${KEY_ENV}); sign it with save(..., key=) by its owner"
            )
        if not hmac.compare_digest(hmac.new(kb, msg, hashlib.sha256).hexdigest(), sig):
            raise DeepSetFileError(
                f"{path!r}: the signature does not verify under the given "
                "key: the file was not written by a holder of this key, "
                "or was changed since (its checksum was recomputed)"
            )
    if header.get("payload_bytes") != len(payload):
        raise DeepSetFileError(
            f"{path!r}: the payload has {len(payload)} bytes, the header "
            f"says {header.get('payload_bytes')!r}"
        )
    return header, payload


def _config(header: dict, path) -> DeepSetConfig:
    try:
        return DeepSetConfig.from_json(header["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise DeepSetFileError(f"{path!r}: bad hyperparameters in header: {e}") from None


def _parse_payload(payload: bytes, config: DeepSetConfig, path) -> list[np.ndarray]:
    """The parameter arrays of a payload, in leaf order. Every ``.npy`` record's shape and
    dtype is checked against the hyperparameters, and the payload must hold exactly those
    records, before anything beyond the payload's own size is allocated."""
    try:
        shapes = leaf_shapes(config)
    except ValueError as e:
        raise DeepSetFileError(f"{path!r}: {e}") from None
    need = 4 * sum(math.prod(s) for s in shapes)
    if need > len(payload):
        raise DeepSetFileError(
            f"{path!r}: the hyperparameters ({config}) need {need:,} bytes "
            f"of parameters, the payload has {len(payload):,}: the header "
            "and the payload do not belong together"
        )
    f = io.BytesIO(payload)
    spans = []
    for j, shape in enumerate(shapes):
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                got, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                got, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy version {version}")
        except Exception as e:  # noqa: BLE001 - numpy's header parser raises many types
            # (ValueError, SyntaxError, tokenize.TokenError, ...) on untrusted bytes
            raise DeepSetFileError(
                f"{path!r}: parameter record {j} of the payload is not a valid .npy header ({e})"
            ) from None
        if tuple(got) != shape or dtype != np.dtype("<f4") or dtype.hasobject:
            raise DeepSetFileError(
                f"{path!r}: payload parameter {j} has shape {tuple(got)} "
                f"and dtype {dtype}, the hyperparameters say {shape} "
                "float32"
            )
        size = 4 * math.prod(shape)
        if f.tell() + size > len(payload):
            raise DeepSetFileError(f"{path!r}: the payload ends inside parameter {j}")
        spans.append((f.tell(), shape, fortran))
        f.seek(size, io.SEEK_CUR)
    if f.tell() != len(payload):
        raise DeepSetFileError(
            f"{path!r}: {len(payload) - f.tell()} bytes follow the last parameter of the payload"
        )
    out = []
    for off, shape, fortran in spans:
        a = np.frombuffer(payload, dtype="<f4", count=math.prod(shape), offset=off)
        out.append(a.reshape(shape, order="F" if fortran else "C").astype(np.float32))
    return out


def read_header(path: PathLike, *, key: bytes | str | None = None) -> dict:
    """The verified JSON header of a DeepSet file (hyperparameters, feature names, report).

    Args:
        path: a file written by :func:`save`.
        key: signing key, as in :func:`load`.

    Returns:
        The header dict: ``format``, ``version``, ``config``, ``payload_bytes``,
        ``report``, ``metadata``, ``checksum`` (and ``signature`` when signed).

    Raises:
        DeepSetFileError: as :func:`load` (the header is checked against the checksum).
        FileNotFoundError: no such file.

    Example:
        >>> import jax, os, tempfile
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "tiny.deepset")
        >>> deepset.save(path, model, metadata={"note": "example"})
        >>> h = deepset.read_header(path)
        >>> print(h["format"], h["version"], h["config"]["width"])
        jaxattr-deepset 2 4
        >>> tmp.cleanup()
    """
    return _read(path, key)[0]


def load(path: PathLike, *, key: bytes | str | None = None) -> DeepSet:
    """Read a model written by :func:`save`, checking it before building anything.

    Args:
        path: the file.
        key: optional signing key (bytes or str). When given, or when the environment
            variable ``JAXATTR_DEEPSET_KEY`` is set, the file must carry a valid signature
            under it (authenticity); otherwise only its checksum is verified (integrity).

    Returns:
        The :class:`DeepSet`.

    Raises:
        DeepSetFileError: a foreign, truncated, corrupted, edited, unsigned-but-key-given or
            version-mismatched file, or parameters that do not fit the hyperparameters.
        FileNotFoundError: no such file.
        TypeError: a ``key`` that is neither bytes nor str.
        ValueError: a ``key`` shorter than 16 bytes.

    Example:
        >>> import jax, os, tempfile
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "tiny.deepset")
        >>> deepset.save(path, model, metadata={"note": "example"})
        >>> again = deepset.load(path)
        >>> deepset.model_digest(again) == deepset.model_digest(model)
        True
        >>> tmp.cleanup()
    """
    import jax
    import jax.numpy as jnp

    header, payload = _read(path, key)
    path = os.fspath(path)
    config = _config(header, path)
    arrays = _parse_payload(payload, config, path)
    # the skeleton by abstract evaluation: no allocation and no compilation (building it
    # with random weights compiled a few ops per new shape, seconds on a first load)
    like = jax.eval_shape(lambda: init_deepset(jax.random.key(0), config))
    leaves, treedef = jax.tree_util.tree_flatten(like)
    for a, b in zip(leaves, arrays, strict=True):
        if a.shape != b.shape or a.dtype != b.dtype:  # leaf_shapes() disagrees: a bug here
            raise DeepSetFileError(
                f"{path!r}: a parameter has shape {b.shape}, the hyperparameters say {a.shape}"
            )
    return jax.tree_util.tree_unflatten(treedef, [jnp.asarray(a) for a in arrays])


def load_value(
    path: PathLike,
    name: str | None = None,
    *,
    key: bytes | str | None = None,
    check_feature_names: bool = True,
) -> DeepSetValue:
    """Load a model file as a value function for :func:`jaxattr.attribute`.

    Args:
        path: a file written by :func:`save` / ``jaxattr deepset train``.
        name: label in tables (default: the file name without suffix).
        key: signing key, as in :func:`load`.
        check_feature_names: compare the model's stored feature names with a panel's
            (``attribute`` raises on a difference). Pass False to attribute a panel whose
            features are the model's under other names; the order still matters.

    Returns:
        A :class:`DeepSetValue` named ``deepset:<name>``.

    Raises:
        DeepSetFileError: as :func:`load`.
        FileNotFoundError: no such file.

    Example:
        >>> import jax, os, tempfile
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "tiny.deepset")
        >>> deepset.save(path, model, metadata={"note": "example"})
        >>> print(deepset.load_value(path).name)
        deepset:tiny
        >>> tmp.cleanup()
    """
    base = os.path.basename(os.fspath(path))
    if name is None:
        name = base[: -len(SUFFIX)] if base.endswith(SUFFIX) else base
    return DeepSetValue(
        load(path, key=key), name=f"deepset:{name}", check_feature_names=check_feature_names
    )


def file_checksum(path: PathLike) -> str:
    """The verified checksum of a model file (its content identity: caches key on it).

    Args:
        path: a file written by :func:`save`.

    Returns:
        The SHA-256 checksum stored in (and verified against) the file, 64 hex digits.

    Raises:
        DeepSetFileError: as :func:`read_header`.
        FileNotFoundError: no such file.

    Example:
        >>> import jax, os, tempfile
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "tiny.deepset")
        >>> deepset.save(path, model, metadata={"note": "example"})
        >>> print(len(deepset.file_checksum(path)))
        64
        >>> tmp.cleanup()
    """
    return _read(path)[0]["checksum"]["value"]
