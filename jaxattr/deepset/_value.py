"""A DeepSet as a jaxattr value function (usable by ``attribute`` and the Shapley family)."""

from __future__ import annotations

import hashlib
import json

import equinox as eqx
import jax
import numpy as np

from ..values import ValueFunction
from ._model import DeepSet


def model_digest(model: DeepSet) -> str:
    """SHA-256 of a model's hyperparameters and parameter bytes (its identity as a value).

    Two models have the same digest exactly when their hyperparameters and every
    parameter's dtype, shape and bytes agree (a reloaded copy has its original's digest).

    Args:
        model: the :class:`DeepSet`.

    Returns:
        64 lower-case hex digits.

    Raises:
        AttributeError: ``model`` is not a DeepSet (it has no ``config``).

    Example:
        >>> import jax
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> digest = deepset.model_digest(model)
        >>> print(len(digest), digest == deepset.model_digest(model))
        64 True
    """
    h = hashlib.sha256(json.dumps(model.config.to_json(), sort_keys=True).encode())
    for leaf in jax.tree_util.tree_leaves(model):
        a = np.asarray(leaf)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _placeholders(names) -> bool:
    return tuple(names) == tuple(f"f{k}" for k in range(len(names)))


class DeepSetValue(ValueFunction):
    """A trained :class:`DeepSet` as a value function ``f(Z) = rho(pool_i phi(z_i))``.

    With mean pooling it is mean-field (``mean_field = (g, h)``: g the per-agent network
    vectorised over agents, h the readout), so :func:`jaxattr.attribute` can take the
    agent-streaming path kernel (``agent_chunk``) and the Shapley estimators get O(1)
    coalition updates. The value is a pytree whose leaves are the network's weights: they
    are traced, so a retrained model of the same architecture (or a reloaded copy) reuses
    the compiled program, and ``jax.vmap`` over a stack of models runs them as one call.

    Args:
        model: the :class:`DeepSet`.
        name: label used in tables and messages (default ``"deepset"``).
        check_feature_names: when :func:`jaxattr.attribute` gets a Panel, compare its
            feature names with the model's and raise on a difference (default). Names are
            compared only when both sides carry real names (not the ``f0, f1, ...``
            placeholders of unnamed data).

    Raises:
        TypeError: ``model`` is not a :class:`DeepSet`.

    Example:
        >>> import numpy as np, jaxattr
        >>> import jax
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> v = deepset.DeepSetValue(model, name="tiny")
        >>> z = np.random.default_rng(0).random((2, 4, 2), dtype=np.float32)  # T=2, N=4, d=2
        >>> att = jaxattr.attribute(z, v, rule="gauss-legendre", steps=8)
        >>> print(att.phi.shape, v.mean_field is not None)
        (2, 4) True
    """

    model: DeepSet
    name: str = eqx.field(default="deepset", static=True)
    check_feature_names: bool = eqx.field(default=True, static=True, repr=False)

    def __check_init__(self):
        if not isinstance(self.model, DeepSet):
            raise TypeError(
                f"DeepSetValue: model must be a jaxattr.deepset.DeepSet, "
                f"got {type(self.model).__name__}"
            )

    @property
    def digest(self) -> str:
        """SHA-256 of the model (:func:`model_digest`): its identity in caches and plans."""
        return model_digest(self.model)

    @property
    def supports_mask(self) -> bool:
        # The engine evaluates f(B) for a common baseline on ONE agent, which is exact only
        # for population-normalised (mean-pooled) models; a sum-pooled model must not.
        return self.model.config.pooling == "mean"

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.model.config.feature_names

    def check_panel_features(self, names) -> None:
        """Raise when a panel's feature names differ from the model's (see the class doc).

        Raises:
            ValueError: the names differ, naming both lists and the override.
        """
        names = tuple(str(n) for n in names)
        mine = self.feature_names
        if not self.check_feature_names or len(names) != len(mine):
            return  # a d mismatch is reported by fm() with the shapes
        if _placeholders(names) or _placeholders(mine):
            return
        if names != mine:
            raise ValueError(
                f"{self.name}: the panel's feature names {list(names)} differ from the "
                f"model's {list(mine)} (a model applied to other features, or to its own in "
                "another order, gives a silently different value); reorder the panel's "
                "features, or pass check_feature_names=False to load_value / DeepSetValue if "
                "the features are the same under other names"
            )

    def fm(self, zt, mask=None):
        d = self.model.config.d
        if zt.shape[0] != d:
            raise ValueError(
                f"{self.name}: the model takes d={d} features "
                f"{list(self.feature_names)}, got input with d={zt.shape[0]}"
            )
        return self.model.fm(zt, mask)

    @property
    def mean_field(self):
        if self.model.config.pooling != "mean":
            return None  # sum pooling depends on N, not only on the mean aggregates
        return self.model.encode_fm, self.model.readout
