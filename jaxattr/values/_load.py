"""One reader of value-function specs, for the command line and batch plans alike.

A spec is a built-in name (a row of :data:`jaxattr.values.BUILTIN`), a saved value
function file (a trained DeepSet written by :func:`jaxattr.deepset.save`), or
``package.module:object`` naming a value function in the user's own code.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any

from ._base import ValueFunction, wrap
from ._builtins import BUILTIN, get

__all__ = ["as_value", "load"]

_WHAT_IT_TAKES = (
    "a jaxattr.values.ValueFunction, a zero-argument factory returning one, "
    "or a callable (N, d) -> scalar"
)


def load(spec: str | ValueFunction | Callable[..., Any], *, what: str = "value") -> ValueFunction:
    """Resolve a value-function spec to a value object.

    In this order: a value object or callable is wrapped as by
    :func:`jaxattr.values.as_value`; a built-in name gives the built-in; an existing file is
    loaded as a saved value function (:func:`jaxattr.deepset.load_value`);
    ``package.module:object`` imports ``package.module`` and takes ``object`` (dots after the
    colon walk attributes). The object may be a value object, a ``ValueFunction`` subclass
    or zero-argument factory (called once), or a plain callable ``(N, d) -> scalar``.

    Args:
        spec: the spec (a str), or a value object / callable (returned wrapped).
        what: how error messages name the spec, e.g. ``"--value"`` or ``"plan jobs[0]: value"``.

    Returns:
        A :class:`jaxattr.values.ValueFunction`.

    Raises:
        ValueError: not a built-in, not a file and not ``module:object``; the module is not
            importable; the object is missing or not a value function; a corrupt model file.

    Example:
        >>> load("heat").name
        'heat'
        >>> load("jaxattr.values:variance").name
        'variance'
    """
    if not isinstance(spec, str):
        return wrap(spec)
    if spec in BUILTIN:
        return get(spec)
    if os.path.isfile(spec):
        # the model file format is read by jaxattr.deepset, a layer above values: a plug-in
        # point resolved at run time, not a dependency of the value protocol
        deepset = importlib.import_module("jaxattr.deepset")
        return deepset.load_value(spec)
    if ":" in spec:
        return _from_module(spec, what)
    raise ValueError(
        f"{what} {spec!r} is neither a built-in value function "
        f"({', '.join(sorted(BUILTIN))}), an existing file nor "
        "package.module:object"
    )


def _from_module(spec: str, what: str) -> ValueFunction:
    modname, _, attr = spec.partition(":")
    if (
        not modname
        or not attr
        or any(not p.isidentifier() for p in modname.split(".") + attr.split("."))
    ):
        raise ValueError(
            f"{what} {spec!r} must be package.module:object (dotted Python "
            "names on both sides of one colon)"
        )
    try:
        module = importlib.import_module(modname)
    except ModuleNotFoundError as e:
        # Only a missing module *named by the spec* is the spec's fault; a module that
        # fails on an import of its own is a problem in that module (its traceback shows).
        if e.name is None or not (modname == e.name or modname.startswith(e.name + ".")):
            raise
        raise ValueError(
            f"{what} {spec!r}: no module named {e.name!r} (is it installed, or on PYTHONPATH?)"
        ) from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"{what} {spec!r}: module {modname!r} has no attribute {attr!r}"
            ) from None
    if isinstance(obj, ValueFunction):
        return obj
    if isinstance(obj, type):
        if not issubclass(obj, ValueFunction):
            raise ValueError(
                f"{what} {spec!r}: {attr} is the class {obj.__name__}, not a "
                f"value function; it must be {_WHAT_IT_TAKES}"
            )
        return obj()
    if not callable(obj):
        raise ValueError(
            f"{what} {spec!r}: {attr} (of type {type(obj).__name__}) is not a "
            f"value function; it must be {_WHAT_IT_TAKES}"
        )
    if _takes_no_arguments(obj):  # a factory
        made = obj()
        if isinstance(made, ValueFunction):
            return made
        if not callable(made):
            raise ValueError(
                f"{what} {spec!r}: the factory {attr}() returned an object of "
                f"type {type(made).__name__}, not a value function; it must "
                f"return {_WHAT_IT_TAKES}"
            )
        return wrap(made)
    return wrap(obj)


def _takes_no_arguments(f) -> bool:
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):  # a builtin without a signature: treat as f(z)
        return False
    # f(*z) is a plain callable (it takes the features); only all-default parameters make
    # a factory.
    return all(p.default is not p.empty or p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def as_value(f: ValueFunction | str | Callable[..., Any]) -> ValueFunction:
    """A value object from a value object, a built-in name or a callable ``(N, d) -> scalar``.

    Unlike :func:`load` it reads no files and imports no modules.

    Args:
        f: a value object (returned as it is), a key of :data:`BUILTIN`, or a callable
            ``Float[Array, "N d"] -> Float[Array, ""]`` (wrapped in a
            :class:`FunctionValue`).

    Returns:
        A :class:`ValueFunction`.

    Raises:
        TypeError: ``f`` is neither.
        ValueError: an unknown name.

    Example:
        >>> import jax.numpy as jnp
        >>> as_value("gini").name
        'gini'
        >>> def spread(z):
        ...     return jnp.std(z)
        >>> type(as_value(spread)).__name__, as_value(spread).name
        ('FunctionValue', 'spread')
    """
    if isinstance(f, str):
        return get(f)
    return wrap(f)
