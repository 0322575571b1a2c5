"""The DeepSet value network ``f(Z) = rho(pool_i phi(z_i))`` as an equinox module.

Everything runs in the engine's feature-major layout: one set is ``(d, n)`` and the
per-agent network maps it to ``(width, n)`` with one matrix product per layer, which is
how XLA on CPU is fastest (``(n, 3)`` rows waste most of each vector register).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Shaped

ACTIVATIONS = {
    "softplus": jax.nn.softplus,
    "tanh": jnp.tanh,
    "silu": jax.nn.silu,
    "gelu": jax.nn.gelu,
}
POOLINGS = ("mean", "sum")


@dataclasses.dataclass(frozen=True)
class DeepSetConfig:
    """Hyperparameters of a :class:`DeepSet` (all JSON-serialisable).

    Args:
        d: features per agent.
        width: hidden units of the per-agent network phi.
        depth: hidden layers of phi (>= 1).
        latent: output units of phi, i.e. the m aggregates that are pooled.
        readout_width: hidden units of the readout rho.
        readout_depth: hidden layers of the readout rho (>= 0).
        pooling: ``"mean"`` (default; mean-field, so the fast kernels apply) or ``"sum"``.
        activation: one of ``softplus``, ``tanh``, ``silu``, ``gelu`` (all C-infinity, so
            the path integrand is smooth and Gauss–Legendre converges fast).
        feature_names: d names, stored with the model and checked against panels
            (default ``f0, f1, ...``).

    Raises:
        ValueError: a size that is not an integer >= 1 (``readout_depth`` >= 0), an
            unknown pooling or activation, a number of feature names other than d, or
            repeated names.

    Example:
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=8, feature_names=("reach", "activity"))
        >>> print(cfg.latent, cfg.pooling, cfg.feature_names)
        16 mean ('reach', 'activity')
        >>> deepset.DeepSetConfig.from_json(cfg.to_json()) == cfg
        True
    """

    d: int = 3
    width: int = 32
    depth: int = 2
    latent: int = 16
    readout_width: int = 32
    readout_depth: int = 2
    pooling: str = "mean"
    activation: str = "softplus"
    feature_names: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("d", "width", "depth", "latent", "readout_width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"DeepSetConfig: {name} must be an integer >= 1, got {v!r}")
        rd = self.readout_depth
        if isinstance(rd, bool) or not isinstance(rd, int) or rd < 0:
            raise ValueError(f"DeepSetConfig: readout_depth must be an integer >= 0, got {rd!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(
                f"DeepSetConfig: pooling must be one of {POOLINGS}, got {self.pooling!r}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"DeepSetConfig: activation must be one of {sorted(ACTIVATIONS)}, "
                f"got {self.activation!r}"
            )
        names = tuple(str(n) for n in self.feature_names) or tuple(f"f{k}" for k in range(self.d))
        if len(names) != self.d:
            raise ValueError(f"DeepSetConfig: {len(names)} feature_names for d={self.d} features")
        if len(set(names)) != len(names):
            raise ValueError(f"DeepSetConfig: feature_names must be distinct, got {names}")
        object.__setattr__(self, "feature_names", names)

    def to_json(self) -> dict:
        """The hyperparameters as a JSON-serialisable dict (feature names as a list)."""
        out = dataclasses.asdict(self)
        out["feature_names"] = list(self.feature_names)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> DeepSetConfig:
        """Rebuild a config from :meth:`to_json`'s dict.

        Raises:
            ValueError: unknown keys, feature names that are not a list of str, or any
                check of the constructor.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(obj) - fields
        if unknown:
            raise ValueError(f"DeepSetConfig: unknown hyperparameters {sorted(unknown)}")
        obj = dict(obj)
        names = obj.get("feature_names", [])
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"DeepSetConfig: feature_names must be a list of str, got {names!r}")
        obj["feature_names"] = tuple(names)
        return cls(**obj)


def _init_layers(key, sizes: list[int]) -> tuple[tuple[jax.Array, jax.Array], ...]:
    """Weights ``(out, in)`` and biases ``(out,)`` with LeCun-normal init."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for k, (fan_in, fan_out) in zip(keys, zip(sizes[:-1], sizes[1:], strict=True), strict=True):
        w = jax.random.normal(k, (fan_out, fan_in), jnp.float32) / np.sqrt(fan_in)
        layers.append((w, jnp.zeros((fan_out,), jnp.float32)))
    return tuple(layers)


def _mlp(layers, x, act):
    """Apply an MLP to column vectors ``x`` ``(in, n)``; no activation after the last layer.

    The products run at full float32 precision (``Precision.HIGHEST``): on a GPU JAX's
    default for float32 is TF32 (10-bit mantissa), whose rounding made the path integral's
    sum of phi disagree with f's own difference, f(Z) - f(B), by 2.4e-4 relative (an H200,
    measured; ``tests/test_transforms.py`` allows 1e-4). On a CPU it changes nothing.
    """
    for j, (w, b) in enumerate(layers):
        x = jnp.matmul(w.astype(x.dtype), x, precision=jax.lax.Precision.HIGHEST)
        x = x + b.astype(x.dtype)[:, None]
        if j < len(layers) - 1:
            x = act(x)
    return x


class DeepSet(eqx.Module):
    """Permutation-invariant set function ``f(Z) = y0 + ys * rho(pool_i phi((z_i - mu) / sd))``.

    phi: R^d -> R^latent per agent, pooled by mean (default) or sum, rho: R^latent -> R.
    Inputs are standardised with a scaler stored in the model (``mu``, ``sd``, fitted on the
    training data), and the output is de-standardised with ``y0``, ``ys``. With mean
    pooling the model is mean-field, ``f = h(mean_i g(z_i))``, so
    :func:`jaxattr.attribute` uses the agent-streaming path kernel.

    Build one with :func:`init_deepset` (or :func:`jaxattr.deepset.train`).

    Args:
        phi_layers: the per-agent network's ``(weight (out, in), bias (out,))`` pairs.
        rho_layers: the readout's layers, the same way.
        mu: ``Float[Array, " d"]`` input means of the scaler.
        sd: ``Float[Array, " d"]`` input standard deviations of the scaler.
        y0: output offset.
        ys: output scale.
        config: the :class:`DeepSetConfig` (static).

    Raises:
        ValueError: calling it on an input that is not ``(n, d)`` (see ``__call__``).

    Example:
        >>> import equinox as eqx, jax, numpy as np
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> f = eqx.filter_jit(deepset.init_deepset(jax.random.key(0), cfg))  # one compile
        >>> z = np.random.default_rng(0).random((8, 2), dtype=np.float32)
        >>> bool(abs(f(z) - f(z[::-1])) < 1e-5)  # permutation-invariant
        True
    """

    phi_layers: tuple
    rho_layers: tuple
    mu: jax.Array
    sd: jax.Array
    y0: jax.Array
    ys: jax.Array
    config: DeepSetConfig = eqx.field(static=True)

    # -- pieces -------------------------------------------------------------------------
    def encode_fm(self, zt: Float[Array, "d n"]) -> Float[Array, "latent n"]:
        """Per-agent embedding, feature-major: ``(d, n) -> (latent, n)``."""
        act = ACTIVATIONS[self.config.activation]
        x = (zt - self.mu.astype(zt.dtype)[:, None]) / self.sd.astype(zt.dtype)[:, None]
        return act(_mlp(self.phi_layers, x, act))

    def readout(self, m: Float[Array, " latent"]) -> Float[Array, ""]:
        """Readout of the pooled embedding ``(latent,) -> ()`` (de-standardised)."""
        act = ACTIVATIONS[self.config.activation]
        y = _mlp(self.rho_layers, m[:, None], act)[0, 0]
        return self.y0.astype(y.dtype) + self.ys.astype(y.dtype) * y

    # -- evaluation -----------------------------------------------------------------------
    def fm(
        self, zt: Float[Array, "d n"], mask: Shaped[Array, " n"] | None = None
    ) -> Float[Array, ""]:
        """Evaluate on a feature-major set ``(d, n)``; ``mask`` ``(n,)`` 0/1 weights padding."""
        e = self.encode_fm(zt)
        if mask is None:
            pooled = jnp.mean(e, axis=-1) if self.config.pooling == "mean" else jnp.sum(e, -1)
        else:
            mask = mask.astype(e.dtype)
            s = jnp.sum(e * mask[None, :], axis=-1)
            pooled = s / jnp.sum(mask) if self.config.pooling == "mean" else s
        return self.readout(pooled)

    def __call__(
        self, z: Float[ArrayLike, "n d"], mask: Shaped[Array, " n"] | None = None
    ) -> Float[Array, ""]:
        """Evaluate on one set ``z`` ``(n, d)``; returns a scalar.

        Raises:
            ValueError: ``z`` is not ``(n, d)`` with the model's d.
        """
        z = jnp.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.config.d:
            raise ValueError(
                f"DeepSet: z must have shape (n, d) with d={self.config.d}, got {z.shape}"
            )
        return self.fm(z.T, mask)

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (weights and biases of phi and rho)."""
        leaves = jax.tree_util.tree_leaves((self.phi_layers, self.rho_layers))
        return int(sum(x.size for x in leaves))


def leaf_shapes(config: DeepSetConfig) -> list[tuple[int, ...]]:
    """Shapes of a model's float32 leaves, in ``jax.tree_util.tree_leaves`` order, from the
    hyperparameters alone (no allocation): what a saved payload must hold.

    Raises:
        ValueError: more than 10,000 layers (no file of that kind is plausible, and the list
            itself would be the allocation this function exists to avoid).
    """
    c = config
    if c.depth + c.readout_depth > 10_000:
        raise ValueError(
            f"DeepSetConfig: depth {c.depth} + readout_depth {c.readout_depth} "
            "layers is implausible"
        )
    out: list[tuple[int, ...]] = []
    for sizes in (
        [c.d] + [c.width] * c.depth + [c.latent],
        [c.latent] + [c.readout_width] * c.readout_depth + [1],
    ):
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            out += [(fan_out, fan_in), (fan_out,)]
    return out + [(c.d,), (c.d,), (), ()]


def init_deepset(
    key: PRNGKeyArray,
    config: DeepSetConfig,
    *,
    mu: Float[ArrayLike, " d"] | None = None,
    sd: Float[ArrayLike, " d"] | None = None,
    y0: float = 0.0,
    ys: float = 1.0,
) -> DeepSet:
    """A freshly initialised :class:`DeepSet` (LeCun-normal weights, zero biases, float32).

    Args:
        key: a ``jax.random`` key.
        config: the hyperparameters.
        mu: ``Float[ArrayLike, " d"]`` input means of the scaler (default 0).
        sd: ``Float[ArrayLike, " d"]`` input standard deviations (default 1).
        y0: output offset.
        ys: output scale.

    Returns:
        The model.

    Raises:
        ValueError: ``mu`` or ``sd`` not of shape ``(d,)``.

    Example:
        >>> import jax
        >>> from jaxattr import deepset
        >>> cfg = deepset.DeepSetConfig(d=2, width=4, depth=1, latent=2, readout_width=4)
        >>> model = deepset.init_deepset(jax.random.key(0), cfg)
        >>> print(model.n_params, model.config.d)
        59 2
    """
    c = config
    k1, k2 = jax.random.split(key)
    phi = _init_layers(k1, [c.d] + [c.width] * c.depth + [c.latent])
    rho = _init_layers(k2, [c.latent] + [c.readout_width] * c.readout_depth + [1])
    mu = jnp.zeros((c.d,), jnp.float32) if mu is None else jnp.asarray(mu, jnp.float32)
    sd = jnp.ones((c.d,), jnp.float32) if sd is None else jnp.asarray(sd, jnp.float32)
    if mu.shape != (c.d,) or sd.shape != (c.d,):
        raise ValueError(
            f"init_deepset: mu and sd must have shape ({c.d},), got {mu.shape} and {sd.shape}"
        )
    return DeepSet(
        phi_layers=phi,
        rho_layers=rho,
        mu=mu,
        sd=sd,
        y0=jnp.asarray(y0, jnp.float32),
        ys=jnp.asarray(ys, jnp.float32),
        config=c,
    )
