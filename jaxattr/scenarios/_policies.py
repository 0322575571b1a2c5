"""Agent policies: a rule-based default per scenario and a hook for external deciders.

A policy maps the observations of all agents at one step to their actions::

    actions = policy.act(key, obs, step)      # obs (N, n_obs) -> actions (N, n_actions)

Each simulator names its observation and action columns (``OBS`` / ``ACTIONS`` in its
module) and clips actions to their valid range, so a policy never has to. Policies are
frozen dataclasses: hashable, so they are static arguments of the jitted simulators.

An external decider such as a large language model is plugged in with
:class:`ExternalPolicy`: a host Python function called once per step through
``jax.pure_callback``, so the simulator stays one compiled ``lax.scan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np
from jaxtyping import Array, Float, Int


class Policy:
    """Base class of agent policies (subclasses are frozen dataclasses).

    ``act(key, obs, step) -> actions``: ``key`` a ``jax.random`` key for this step,
    ``obs`` ``(N, n_obs)`` float32, ``step`` a scalar int32 (traced). Returns
    ``(N, n_actions)`` float32.

    Subclass it as a frozen dataclass (hashable: the simulators take the policy as a static
    argument of their compiled scan) and implement :meth:`act` with JAX operations.

    Args:
        name: (a class attribute or field) label used in tables and in ``run.info``.

    Raises:
        NotImplementedError: :meth:`act` of the base class itself.

    Example:
        >>> import dataclasses, jax, jax.numpy as jnp
        >>> from jaxattr.scenarios import Policy
        >>> @dataclasses.dataclass(frozen=True)
        ... class Silent(Policy):             # nobody posts, stance = belief (opinion ACTIONS)
        ...     name: str = "silent"
        ...     def act(self, key, obs, step):
        ...         return jnp.stack([jnp.zeros_like(obs[:, 0]), obs[:, 0]], axis=1)
        >>> Silent().act(jax.random.key(0), jnp.ones((3, 5)), 0).shape
        (3, 2)

        ``simulate_opinion(policy=Silent())`` then runs the scenario with it.
    """

    name: str = "policy"

    def act(
        self, key: Array, obs: Float[Array, "N n_obs"], step: Int[Array, ""]
    ) -> Float[Array, "N n_actions"]:  # pragma: no cover - interface
        """The actions of all agents at one step.

        Args:
            key: a ``jax.random`` key for this step.
            obs: ``(N, n_obs)`` observations (the simulator's ``OBS`` columns).
            step: the step index (a traced int32 scalar).

        Returns:
            ``(N, n_actions)`` actions (the simulator's ``ACTIONS`` columns).

        Raises:
            NotImplementedError: the base class has no policy.
        """
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ExternalPolicy(Policy):
    """A host-side decider (e.g. an LLM call per agent) behind ``jax.pure_callback``.

    ``fn(obs: np.ndarray (N, n_obs), step: int) -> np.ndarray (N, n_actions)`` runs in
    Python once per simulated step, inside the compiled scan. It must be deterministic for
    the simulation to be (cache LLM answers, or fix the sampling temperature and seed).

    Args:
        fn: the host function described above.
        n_actions: number of action columns it returns (the simulator's ``ACTIONS``).
        name: label used in tables.

    Raises:
        ValueError: (at run time, from the simulator) ``fn`` returned the wrong shape or
            non-finite actions; the message names the policy and the step.

    Example:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> from jaxattr.scenarios import ExternalPolicy
        >>> def ask_llm(obs, step):           # replace the body with a real LLM call
        ...     return np.stack([obs[:, 1] * 0.5, obs[:, 0]], axis=1)
        >>> policy = ExternalPolicy(ask_llm, n_actions=2)
        >>> policy.act(jax.random.key(0), jnp.ones((3, 5)), jnp.int32(0)).shape
        (3, 2)

        ``simulate_opinion(policy=policy)`` calls ``ask_llm`` once per simulated step.
    """

    fn: Callable = dataclasses.field(compare=True)
    n_actions: int = 1
    name: str = "external"

    def act(
        self, key: Array, obs: Float[Array, "N n_obs"], step: Int[Array, ""]
    ) -> Float[Array, "N n_actions"]:
        """``fn(obs, step)`` through ``jax.pure_callback`` (see the class docstring)."""
        out_shape = jax.ShapeDtypeStruct((obs.shape[0], self.n_actions), obs.dtype)
        fn, name = self.fn, self.name

        def host(o, s):
            a = np.asarray(fn(np.asarray(o), int(s)), dtype=np.float32)
            if a.shape != out_shape.shape:
                raise ValueError(
                    f"ExternalPolicy {name!r}: fn returned actions of shape "
                    f"{a.shape} at step {int(s)}; expected {out_shape.shape} "
                    "(one row per agent, one column per action)"
                )
            if not np.isfinite(a).all():
                raise ValueError(
                    f"ExternalPolicy {name!r}: fn returned NaN/inf actions at step {int(s)}"
                )
            return a

        return jax.pure_callback(host, out_shape, obs, step, vmap_method="sequential")
