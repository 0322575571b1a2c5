"""Value functions defined outside the jaxattr package, as a user's own module would.

``MeanSquare`` carries a closed form in streaming form (one class: the worked example of
adding a value function); ``share_product`` is mean-field only. tests/test_plugins.py and
tests/test_distributed.py run both through every runner as ``user_values:<object>``.
"""

import jax.numpy as jnp

from jaxattr import kernels
from jaxattr import values as V


def _composite(x):
    return jnp.sum(x, axis=0)


class MeanSquare(V.ValueFunction):
    """``f(Z) = mean_i s_i²``, s the additive composite.

    The gradient ``2 s_i / W`` is linear along the ray, so its path average is its midpoint
    value: ``G_i = (s_i + s^b_i) / W`` and ``phi_i = (s_i² - (s^b_i)²) / W``.
    """

    name = "mean_square"
    supports_mask = True

    def fm(self, zt, mask=None):
        s = _composite(zt)
        (total,) = kernels.agent_sums([s * s], mask)
        return total / kernels.count(zt, mask)

    @property
    def mean_field(self):
        return (lambda z: _composite(z)[None] ** 2), (lambda m: m[0])

    @property
    def closed_form(self):
        return V.ClosedForm(aggregates=_aggregates, finish=_finish, gradient=_gradient)


def _aggregates(z, b, mask, ref, c):
    s = _composite(z)
    vals = [s * s]
    if b.shape[-1] != 1:  # per agent: the baseline's own sum of squares
        sb = _composite(b)
        vals.append(sb * sb)
    return kernels.agent_sums(vals, mask)


def _finish(agg, w, b, kind):
    fz = agg[0] / w
    fb = agg[1] / w if kind == "per_agent" else jnp.sum(b[:, 0]) ** 2
    return fz, fb, ()


def _gradient(z, b, mask, ref, params, w, c):
    g = (_composite(z) + _composite(b)) / w
    if mask is not None:
        g = g * mask
    return g[None, :]


mean_square = MeanSquare()

#: mean-field only: f = (mean a) * (mean b c), no closed form.
share_product = V.mean_field(
    lambda z: jnp.stack([z[0], z[1] * z[2]]), lambda m: m[0] * m[1], name="share_product"
)
