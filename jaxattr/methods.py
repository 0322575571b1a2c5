"""Attribution methods as objects: pass one as ``attribute(..., method=...)``.

``"auto"``, ``"closed_form"`` and ``"path"`` (strings) choose among them; an object also
carries its settings, as a solver object does in lineax or diffrax::

    jaxattr.attribute(z, value, method=jaxattr.methods.Path(rule="gauss-legendre", steps=16))

- :class:`ClosedFormMethod`: the value's exact closed form (two passes over the agents).
- :class:`Path`: the ``jax.grad`` path integral, ``steps`` points of ``rule``.
- :class:`MeanFieldPath`: the path integral of a mean-field value ``h(mean_i g(z_i))``,
  agents streamed in chunks of ``agent_chunk`` (bounded memory for large networks).

Methods are static structure: a new method object with equal settings reuses the compiled
program.
"""

from ._methods import ClosedFormMethod, MeanFieldPath, Method, Path

__all__ = ["ClosedFormMethod", "MeanFieldPath", "Method", "Path"]
