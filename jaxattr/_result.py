"""``Attribution``: the result of an attribution run, its checks and its aggregations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# A total is "zero" for shares when it is within this many float-rounding units of the
# scale of the attributions it sums (sqrt(sum phi²): the size of their rounding noise).
_SHARE_NOISE_ULPS = 64


@dataclasses.dataclass
class Attribution:
    """Per-agent, per-step attributions of one value function over a panel.

    Attributes:
        phi: ``(T, N)`` per-agent attributions, ``phi[t, i] = sum_k phi_features[t, i, k]``.
        delta: ``(T,)`` ``f(Z_t) - f(B_t)``.
        value_features: ``(T,)`` ``f(Z_t)``; value_baseline: ``(T,)`` ``f(B_t)``.
        efficiency_error: ``(T,)`` ``|sum_i phi[t, i] - delta[t]| / |delta[t]|``, the
            efficiency axiom checked on every run. Where ``delta`` is within rounding noise
            of zero (``delta_negligible``; e.g. a linear value against the mean baseline)
            the gap is measured against ``|f(Z_t)| + |f(B_t)|`` instead.
        delta_negligible: ``(T,)`` bool, where ``|delta|`` is within rounding noise of 0.
        method: ``"closed_form"``, ``"path"`` or ``"path-meanfield"``; rule, steps: the
            quadrature used by a path method (None for closed forms).
    """

    phi: jax.Array
    delta: jax.Array
    value_features: jax.Array
    value_baseline: jax.Array
    efficiency_error: jax.Array
    delta_negligible: np.ndarray
    method: str
    value_name: str
    rule: str | None
    steps: int | None
    feature_names: list[str]
    time_labels: list[Any]
    # How to recompute the per-feature split: (per_agent_gradient) -> (phi_features, phi)
    _split: Callable | None = dataclasses.field(repr=False, default=None)
    _grad: Any = dataclasses.field(repr=False, default=None)
    _features: Any = dataclasses.field(repr=False, default=None)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.phi.shape)

    @property
    def phi_features(self) -> jax.Array:
        """``(T, N, d)`` per-feature split, ``(Z - B) * mean path gradient``.

        Computed on first access (where the path-averaged gradient is per agent, that
        re-runs the computation once) and then cached, so the split costs nothing unless
        asked for. Its sum over features is checked against ``phi``: a features array
        changed in place after :func:`jaxattr.attribute` raises instead of mixing data.

        Raises:
            ValueError: the features were modified after the attribution was computed.
        """
        if self._features is None:
            if self._split is None:
                raise ValueError("this result keeps no inputs to split phi by feature")
            feats, phi_again = self._split(self._grad)
            scale = float(jnp.max(jnp.abs(self.phi))) if self.phi.size else 0.0
            gap = float(jnp.max(jnp.abs(phi_again - self.phi))) if self.phi.size else 0.0
            if not gap <= 1e-4 * scale + 1e-30:
                raise ValueError(
                    "the features changed after attribute() computed phi (phi recomputed from "
                    f"them differs by {gap:.3g}, max |phi| = {scale:.3g}); attribute() reads a "
                    "NumPy array in place: do not modify it while its result is in use, or "
                    "pass a copy")
            self._features = feats
        return self._features

    def max_efficiency_error(self) -> float:
        return float(jnp.max(self.efficiency_error)) if self.efficiency_error.size else 0.0

    def check_efficiency(self, tol: float = 1e-4) -> None:
        """Raise if any step's relative efficiency gap exceeds ``tol``."""
        err = np.asarray(self.efficiency_error)
        if err.size and not float(err.max()) <= tol:
            t = int(np.nanargmax(np.where(np.isnan(err), np.inf, err)))
            hint = ("raise `steps` or use rule='gauss-legendre'" if self.method.startswith("path")
                    else "compute in float64 (jax.config.update('jax_enable_x64', True))")
            rel = ("of |f(Z)| + |f(B)| (delta is ~0 there)" if self.delta_negligible[t]
                   else "of |delta|")
            raise ValueError(f"efficiency gap {err[t]:.3g} {rel} at time step t={t} exceeds "
                             f"{tol:g} for value {self.value_name!r} ({self.method}); {hint}")

    # -- aggregation ----------------------------------------------------------------
    def by_agent(self) -> jax.Array:
        """``(N,)`` attributions summed over time."""
        return jnp.sum(self.phi, axis=0)

    def by_time(self) -> jax.Array:
        """``(T,)`` attributions summed over agents (equals ``delta`` by efficiency)."""
        return jnp.sum(self.phi, axis=1)

    def by_group(self, labels, n_groups: int | None = None) -> jax.Array:
        """``(T, G)`` attributions summed within groups.

        Args:
            labels: ``(N,)`` integer group of each agent, in ``[0, G)``.
            n_groups: G (default ``max(labels) + 1``); a label ``>= G`` is refused.

        Raises:
            ValueError / TypeError: wrong shape, non-integer, negative or out-of-range labels.
        """
        labels = np.asarray(labels)
        if labels.shape != (self.phi.shape[1],):
            raise ValueError(f"labels must have shape ({self.phi.shape[1]},), "
                             f"got {labels.shape}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
        if labels.size and labels.min() < 0:
            raise ValueError(f"labels must be >= 0, got min {labels.min()} at agent "
                             f"{int(np.argmin(labels))}")
        top = int(labels.max()) + 1 if labels.size else 0
        g = top if n_groups is None else int(n_groups)
        if top > g:
            bad = int(np.flatnonzero(labels >= g)[0])
            raise ValueError(f"labels must be < n_groups={g}, got {int(labels[bad])} at agent "
                             f"{bad}; raise n_groups or relabel (attributions of those agents "
                             "would be dropped)")
        return jax.vmap(lambda p: jax.ops.segment_sum(p, jnp.asarray(labels), g))(self.phi)

    def shares(self, axis: str = "agent") -> jax.Array:
        """Normalised shares ``phi / sum phi`` per step (``axis='agent'``) or over the window.

        Raises:
            ValueError: a total within rounding noise of zero (shares undefined), naming the
                step.
        """
        if axis == "agent":
            tot = np.asarray(jnp.sum(self.phi, axis=1), np.float64)
            scale = np.sqrt(np.asarray(jnp.sum(jnp.square(self.phi), axis=1), np.float64))
            self._check_total(tot, scale, self.delta_negligible)
            return self.phi / jnp.asarray(tot, self.phi.dtype)[:, None]
        if axis == "window":
            tot = np.asarray([jnp.sum(self.phi)], np.float64)
            scale = np.sqrt(np.asarray([jnp.sum(jnp.square(self.phi))], np.float64))
            self._check_total(tot, scale, np.asarray([bool(np.all(self.delta_negligible))]),
                              window=True)
            return self.by_agent() / tot[0]
        raise ValueError(f"axis must be 'agent' or 'window', got {axis!r}")

    def _check_total(self, tot, scale, negligible, window=False) -> None:
        eps = float(jnp.finfo(self.phi.dtype).eps)
        noise = _SHARE_NOISE_ULPS * eps * scale
        bad = np.flatnonzero((np.abs(tot) <= noise) | negligible)
        if bad.size:
            i = int(bad[0])
            where = "over the window" if window else f"at time step t={i}"
            raise ValueError(
                f"total attribution {where} is {tot[i]:.3g}, within rounding noise of zero "
                f"(noise scale {noise[i]:.2g}; delta = f(Z) - f(B) is ~0): shares phi / sum "
                "phi are undefined there. Use a baseline the features differ from (e.g. "
                "baseline='zero'), or compare phi itself")

    def to_numpy(self) -> dict[str, np.ndarray]:
        """phi, phi_features, delta, efficiency_error and values as NumPy arrays."""
        return {
            "phi": np.asarray(self.phi),
            "phi_features": np.asarray(self.phi_features),
            "delta": np.asarray(self.delta),
            "value_features": np.asarray(self.value_features),
            "value_baseline": np.asarray(self.value_baseline),
            "efficiency_error": np.asarray(self.efficiency_error),
        }

    def __repr__(self) -> str:
        t, n = self.phi.shape
        return (f"Attribution(value={self.value_name!r}, method={self.method!r}, T={t}, N={n}, "
                f"max efficiency_error={self.max_efficiency_error():.2e})")
