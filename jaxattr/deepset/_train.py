"""Training a DeepSet with optax on (agent set, target) pairs."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._util import Progress, get_logger, records_to
from ..values import ValueFunction, as_value
from ._model import DeepSet, DeepSetConfig, init_deepset

_LOG = get_logger("deepset")

# ------------------------------------------------------------------------------ data


@dataclasses.dataclass
class SetDataset:
    """Padded agent sets and their targets.

    Args:
        x: ``(S, n_max, d)`` float32 agent features, padded with zeros.
        mask: ``(S, n_max)`` 1 for real agents, 0 for padding (every set has >= 1 agent).
        y: ``(S,)`` targets.
        grad: optional ``(S, n_max, d)`` per-agent target gradients ``n df/dz_i`` (used by
            ``train(grad_weight=...)``; :func:`make_dataset` fills them when the indicator
            is differentiable and ``with_grad=True``).
        feature_names: d names.
        indicator: name of the indicator that produced ``y`` (or ``"supplied"``).

    Raises:
        ValueError: inconsistent shapes, an empty set, or NaN/inf (naming the set).
    """

    x: np.ndarray
    mask: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...] = ()
    indicator: str = "supplied"
    grad: np.ndarray | None = None

    def __post_init__(self):
        if self.grad is not None:
            self.grad = np.asarray(self.grad, np.float32)
            if self.grad.shape != np.shape(self.x):
                raise ValueError(
                    f"SetDataset: grad must have the shape of x "
                    f"{np.shape(self.x)}, got {self.grad.shape}"
                )
        self.x = np.asarray(self.x, np.float32)
        self.mask = np.asarray(self.mask, np.float32)
        self.y = np.asarray(self.y, np.float32)
        if self.x.ndim != 3:
            raise ValueError(f"SetDataset: x must have shape (S, n_max, d), got {self.x.shape}")
        s, n, d = self.x.shape
        if self.mask.shape != (s, n):
            raise ValueError(f"SetDataset: mask must have shape {(s, n)}, got {self.mask.shape}")
        if self.y.shape != (s,):
            raise ValueError(f"SetDataset: y must have shape ({s},), got {self.y.shape}")
        if s == 0:
            raise ValueError("SetDataset: no sets (S = 0)")
        sizes = self.mask.sum(axis=1)
        if (sizes < 1).any():
            raise ValueError(
                f"SetDataset: set {int(np.flatnonzero(sizes < 1)[0])} has no agents (mask all zero)"
            )
        for name, arr in (("x", self.x), ("y", self.y)):
            bad = ~np.isfinite(arr)
            if bad.any():
                idx = np.argwhere(bad)[0]
                raise ValueError(f"SetDataset: {name} is not finite at index {tuple(idx)}")
        names = tuple(self.feature_names) or tuple(f"f{k}" for k in range(d))
        if len(names) != d:
            raise ValueError(f"SetDataset: {len(names)} feature_names for d={d}")
        self.feature_names = names

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def sizes(self) -> np.ndarray:
        return self.mask.sum(axis=1).astype(np.int64)

    def take(self, idx) -> SetDataset:
        idx = np.asarray(idx)
        return SetDataset(
            self.x[idx],
            self.mask[idx],
            self.y[idx],
            self.feature_names,
            self.indicator,
            None if self.grad is None else self.grad[idx],
        )

    def split(self, val_fraction: float, *, seed: int = 0) -> tuple[SetDataset, SetDataset]:
        """Random train / validation split; both parts get at least one set."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if len(self) < 2:
            raise ValueError(f"need at least 2 sets to split, got {len(self)}")
        perm = np.random.default_rng(seed).permutation(len(self))
        n_val = min(max(1, round(val_fraction * len(self))), len(self) - 1)
        return self.take(np.sort(perm[n_val:])), self.take(np.sort(perm[:n_val]))


def _source_sampler(source, rng):
    """Return ``draw(n) -> (n, d)`` and the feature names for a panel/array/simulator."""
    if callable(source) and not hasattr(source, "feature_major"):

        def draw(n):
            z = np.asarray(source(rng, n), np.float32)
            if z.ndim != 2 or z.shape[0] != n:
                raise ValueError(
                    f"simulator must return an (n, d) array for n={n}, got shape {z.shape}"
                )
            return z

        z0 = draw(1)
        return draw, z0.shape[1], ()
    if hasattr(source, "feature_major"):
        fm, names = source.feature_major, tuple(source.feature_names)
    else:
        x = np.asarray(source)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3:
            raise ValueError(
                f"source must be a Panel, an array (T, N, d) or (N, d), or a "
                f"simulator callable, got an array of shape {x.shape}"
            )
        fm, names = np.ascontiguousarray(x.transpose(0, 2, 1), np.float32), ()
    t, d, n_all = fm.shape

    def draw(n):
        ti = int(rng.integers(t))
        idx = rng.choice(n_all, size=min(n, n_all), replace=False)
        return fm[ti][:, idx].T

    return draw, d, names


def make_dataset(
    source,
    indicator="variance",
    *,
    n_sets: int = 2000,
    min_size: int = 50,
    max_size: int = 2000,
    path_fraction: float = 0.5,
    baseline=None,
    with_grad: bool = False,
    seed: int = 0,
) -> SetDataset:
    """Draw random agent subsets from a panel or simulator, with indicator targets.

    Each set picks a time step and ``n`` agents without replacement, ``n`` log-uniform in
    ``[min_size, max_size]``; its target is ``indicator(set)``. A fraction
    ``path_fraction`` of the sets is moved onto the attribution path,
    ``b + a (z - b)`` with ``a ~ U(0, 1)``: attribution evaluates f (and its gradient)
    along that ray, so the network must be accurate there too, not only on real sets.

    Args:
        source: a :class:`jaxattr.Panel`, features ``(T, N, d)`` / ``(N, d)``, or a
            simulator ``sim(rng, n) -> (n, d)`` (``rng`` a NumPy Generator).
        indicator: the target, a value object, a built-in name (``"variance"``...) or a
            callable ``(n, d) -> scalar``.
        n_sets: number of sets S; min_size, max_size: set sizes (capped at N).
        path_fraction: share of sets scaled toward the baseline (0 disables).
        baseline: ``(d,)`` baseline of the path (default zero).
        with_grad: also store the indicator's per-agent gradients ``n df/dz_i`` (by
            ``jax.grad``) for gradient matching (``train(grad_weight=...)``).
        seed: NumPy seed of the draws.

    Returns:
        A :class:`SetDataset` padded to the largest drawn size.

    Example:
        >>> data = make_dataset(panel, "variance", n_sets=500, max_size=500)  # doctest: +SKIP
    """
    if n_sets < 1:
        raise ValueError(f"n_sets must be >= 1, got {n_sets}")
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    if not 0.0 <= path_fraction <= 1.0:
        raise ValueError(f"path_fraction must be in [0, 1], got {path_fraction}")
    rng = np.random.default_rng(seed)
    draw, d, names = _source_sampler(source, rng)
    b = np.zeros((d,), np.float32) if baseline is None else np.asarray(baseline, np.float32)
    if b.shape != (d,):
        raise ValueError(f"baseline must have shape ({d},), got {b.shape}")
    sizes = np.exp(rng.uniform(np.log(min_size), np.log(max_size + 1), n_sets)).astype(int)
    sizes = np.clip(sizes, min_size, max_size)
    sets = [draw(int(n)) for n in sizes]
    n_max = max(len(s) for s in sets)
    x = np.zeros((n_sets, n_max, d), np.float32)
    mask = np.zeros((n_sets, n_max), np.float32)
    on_path = rng.random(n_sets) < path_fraction
    alpha = rng.random(n_sets).astype(np.float32)
    for i, s in enumerate(sets):
        if on_path[i]:
            s = b + alpha[i] * (s - b)
        x[i, : len(s)] = s
        mask[i, : len(s)] = 1.0
    value = as_value(indicator)
    y = indicator_targets(value, x, mask)
    grad = indicator_gradients(value, x, mask) if with_grad else None
    return SetDataset(x, mask, y, names, value.name, grad)


def indicator_targets(
    value: ValueFunction, x: np.ndarray, mask: np.ndarray, batch: int = 256
) -> np.ndarray:
    """``value`` on every padded set: ``(S, n_max, d), (S, n_max) -> (S,)``."""
    if value.supports_mask:
        f = jax.jit(jax.vmap(lambda xi, mi: value.fm(xi.T, mi)))
        return np.concatenate(
            [np.asarray(f(x[i : i + batch], mask[i : i + batch])) for i in range(0, len(x), batch)]
        )
    return np.array([float(value(x[i][mask[i] > 0])) for i in range(len(x))], np.float32)


def indicator_gradients(
    value: ValueFunction, x: np.ndarray, mask: np.ndarray, batch: int = 256
) -> np.ndarray:
    """Per-agent gradients ``n df/dz_i`` of ``value`` on every padded set, ``(S, n_max, d)``."""
    if not value.supports_mask:
        raise ValueError(
            f"with_grad needs a value function that takes a mask (padded "
            f"sets); {value.name!r} does not"
        )

    def one(xi, mi):
        return jax.grad(lambda z: value.fm(z.T, mi))(xi) * jnp.sum(mi) * mi[:, None]

    f = jax.jit(jax.vmap(one))
    return np.concatenate(
        [np.asarray(f(x[i : i + batch], mask[i : i + batch])) for i in range(0, len(x), batch)]
    )


# ------------------------------------------------------------------------------ training


@dataclasses.dataclass
class TrainReport:
    """What a training run did: losses per epoch, the best epoch, held-out fit, timing."""

    epochs_run: int
    best_epoch: int
    stopped_early: bool
    train_loss: list[float]
    val_loss: list[float]
    val_r2: float
    train_r2: float
    val_rmse: float
    n_train: int
    n_val: int
    n_params: int
    seconds: float
    seed: int
    indicator: str
    config: dict

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return (
            f"DeepSet trained on {self.indicator!r}: {self.epochs_run} epochs "
            f"(best {self.best_epoch}{', stopped early' if self.stopped_early else ''}), "
            f"{self.n_params} parameters, {self.n_train} train / {self.n_val} val sets; "
            f"val R²={self.val_r2:.5f}, train R²={self.train_r2:.5f}, "
            f"val RMSE={self.val_rmse:.4g}; {self.seconds:.1f} s"
        )


def r2_score(y, pred) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``."""
    y = np.asarray(y, np.float64)
    pred = np.asarray(pred, np.float64)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0:
        raise ValueError("r2_score: targets are constant, R² is undefined")
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss_tot


@eqx.filter_jit
def _predict_batch(model: DeepSet, x, mask):
    return jax.vmap(lambda xi, mi: model.fm(xi.T, mi))(x, mask)


def predict(model: DeepSet, data: SetDataset, batch: int = 256) -> np.ndarray:
    """Model outputs on every set of a dataset, ``(S,)``."""
    return np.concatenate(
        [
            np.asarray(
                _predict_batch(
                    model, jnp.asarray(data.x[i : i + batch]), jnp.asarray(data.mask[i : i + batch])
                )
            )
            for i in range(0, len(data), batch)
        ]
    )


def evaluate(model: DeepSet, data: SetDataset) -> dict[str, float]:
    """R², RMSE and max abs error of a model on a dataset."""
    pred = predict(model, data)
    err = pred.astype(np.float64) - data.y
    return {
        "r2": r2_score(data.y, pred),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "max_abs_error": float(np.max(np.abs(err))),
    }


def _scalers(data: SetDataset):
    m = data.mask[..., None]
    cnt = m.sum()
    mu = (data.x * m).sum(axis=(0, 1)) / cnt
    sd = np.sqrt(((data.x - mu) ** 2 * m).sum(axis=(0, 1)) / cnt)
    sd = np.where(sd > 1e-6, sd, 1.0)
    y0, ys = float(data.y.mean()), float(data.y.std())
    return mu, sd, y0, (ys if ys > 1e-12 else 1.0)


def _trainable_spec(model: DeepSet):
    spec = jax.tree_util.tree_map(lambda _: False, model)
    return eqx.tree_at(
        lambda m: (m.phi_layers, m.rho_layers),
        spec,
        (
            jax.tree_util.tree_map(lambda _: True, model.phi_layers),
            jax.tree_util.tree_map(lambda _: True, model.rho_layers),
        ),
    )


def _buckets(sizes: np.ndarray, n_max: int, batch_size: int) -> list[tuple[int, np.ndarray]]:
    """Group sets by padded length (64 * 2^k, capped at n_max) so that a minibatch of
    small sets is not padded to the largest set; a bucket smaller than one batch joins
    the next longer one."""
    lengths = np.minimum(64 * 2 ** np.ceil(np.log2(np.maximum(sizes, 64) / 64)), n_max)
    out, carry = [], np.zeros(0, np.int64)
    levels = np.unique(lengths)
    for j, length in enumerate(levels):
        idx = np.concatenate([carry, np.flatnonzero(lengths == length)])
        if len(idx) < batch_size and j < len(levels) - 1:
            carry = idx
            continue
        out.append((int(length), idx))
        carry = np.zeros(0, np.int64)
    return out


def train(
    data: SetDataset,
    *,
    config: DeepSetConfig | None = None,
    val_data: SetDataset | None = None,
    val_fraction: float = 0.1,
    epochs: int = 200,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    warmup_epochs: int = 3,
    weight_decay: float = 1e-5,
    patience: int = 30,
    grad_weight: float = 0.0,
    seed: int = 0,
    progress: bool | Callable[[dict], Any] = True,
    log_every: int = 10,
) -> tuple[DeepSet, TrainReport]:
    """Fit a :class:`DeepSet` to a dataset of (agent set, target) pairs with optax.

    Loss: ``mean((f(S) - y)²) / var(y)`` on the sets, plus, with ``grad_weight > 0`` and
    target gradients in the data, ``grad_weight * mean_i |n df/dz_i - target|² / var``
    (gradient matching: attribution integrates exactly these gradients). AdamW with a
    warmup + cosine learning-rate schedule and global-norm clipping; jit-compiled steps
    on minibatches of similar-size sets (one compiled program per padded length); early
    stopping on the validation loss (the best parameters are returned).

    Args:
        data: training sets (a validation split of ``val_fraction`` is held out unless
            ``val_data`` is given).
        config: hyperparameters (default :class:`DeepSetConfig` with the data's d and
            feature names).
        epochs, batch_size, learning_rate, warmup_epochs, weight_decay: optimisation.
        patience: stop after this many epochs without a better validation loss.
        grad_weight: weight of the gradient-matching term (needs ``data.grad``).
        seed: seeds initialisation, shuffling and the split.
        progress: print a line every ``log_every`` epochs (``True``), stay quiet
            (``False``), or a callable receiving a dict per epoch.

    Returns:
        ``(model, report)``: the best model and a :class:`TrainReport`.

    Raises:
        ValueError: mismatched feature count, bad settings, or ``grad_weight > 0``
            without target gradients.

    Example:
        >>> model, report = train(make_dataset(panel, "variance"), epochs=50)  # doctest: +SKIP
    """
    if val_data is None:
        data, val_data = data.split(val_fraction, seed=seed)
    d = data.x.shape[2]
    if val_data.x.shape[2] != d:
        raise ValueError(f"val_data has d={val_data.x.shape[2]} features, data has d={d}")
    if config is None:
        config = DeepSetConfig(d=d, feature_names=data.feature_names)
    if config.d != d:
        raise ValueError(f"config.d={config.d} but the data has d={d} features")
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if grad_weight < 0:
        raise ValueError(f"grad_weight must be >= 0, got {grad_weight}")
    if grad_weight > 0 and data.grad is None:
        raise ValueError(
            "grad_weight > 0 needs target gradients: build the data with "
            "make_dataset(..., with_grad=True)"
        )
    use_grad = grad_weight > 0
    batch_size = min(batch_size, len(data))
    buckets = _buckets(data.sizes, data.x.shape[1], batch_size)
    steps_per_epoch = sum(len(idx) // batch_size for _, idx in buckets)
    total = epochs * steps_per_epoch
    warm = min(warmup_epochs * steps_per_epoch, max(total - 1, 0))
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, max(warm, 1), max(total, warm + 1), learning_rate * 1e-2
    )
    opt = optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=weight_decay)
    )

    key = jax.random.key(seed)
    mu, sd, y0, ys = _scalers(data)
    gs = 1.0
    if use_grad:
        m3 = data.mask[..., None] > 0
        gs = float(np.sqrt(np.mean(np.square(data.grad[np.broadcast_to(m3, data.grad.shape)]))))
        gs = gs if gs > 1e-12 else 1.0
    model = init_deepset(key, config, mu=mu, sd=sd, y0=y0, ys=ys)
    spec = _trainable_spec(model)
    params, frozen = eqx.partition(model, spec)
    opt_state = opt.init(params)

    def loss_fn(p, xb, mb, yb, gb):
        m = eqx.combine(p, frozen)
        f = lambda xi, mi: m.fm(xi.T, mi)
        pred = jax.vmap(f)(xb, mb)
        loss = jnp.mean(((pred - yb) / ys) ** 2)
        if use_grad:
            g = jax.vmap(jax.grad(f))(xb, mb) * jnp.sum(mb, axis=1)[:, None, None]
            err = jnp.sum(((g - gb) / gs) ** 2 * mb[..., None]) / (jnp.sum(mb) * d)
            loss = loss + grad_weight * err
        return loss

    @eqx.filter_jit
    def step(p, s, xb, mb, yb, gb):
        loss, g = eqx.filter_value_and_grad(loss_fn)(p, xb, mb, yb, gb)
        upd, s = opt.update(g, s, p)
        return eqx.apply_updates(p, upd), s, loss

    def val_loss(m):
        vpred = predict(m, val_data)
        return float(np.mean(((vpred - val_data.y) / ys) ** 2))

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    best, best_loss, best_epoch, since = params, math.inf, 0, 0
    train_hist, val_hist = [], []
    stopped = False
    display: Progress | None = None  # the progress display (progress=True)
    for epoch in range(1, epochs + 1):
        batches = []
        for length, idx in buckets:
            idx = rng.permutation(idx)
            batches += [
                (length, idx[j : j + batch_size])
                for j in range(0, len(idx) - batch_size + 1, batch_size)
            ]
        losses = []
        for j in rng.permutation(len(batches)):
            length, bi = batches[j]
            gb = data.grad[bi, :length] if use_grad else np.zeros((), np.float32)
            params, opt_state, loss = step(
                params, opt_state, data.x[bi, :length], data.mask[bi, :length], data.y[bi], gb
            )
            losses.append(loss)
        tl = float(np.mean(jax.device_get(losses)))
        vl = val_loss(eqx.combine(params, frozen))
        train_hist.append(tl)
        val_hist.append(vl)
        if not math.isfinite(vl):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (validation loss "
                f"{vl}); lower learning_rate (now {learning_rate:g})"
            )
        if vl < best_loss:
            best, best_loss, best_epoch, since = params, vl, epoch, 0
        else:
            since += 1
        info = {
            "epoch": epoch,
            "epochs": epochs,
            "train_loss": tl,
            "val_loss": vl,
            "best_epoch": best_epoch,
            "seconds": time.perf_counter() - t0,
        }
        if callable(progress):
            progress(info)
        elif progress:
            line = (
                f"epoch {epoch:4d}/{epochs}  train {tl:.3e}  val {vl:.3e}  "
                f"best {best_epoch}  {info['seconds']:.1f} s"
            )
            with records_to(sys.stderr, _LOG.name):
                if display is None:
                    display = Progress(_LOG, epochs, desc="training", unit="epoch")
                if display.shows_bar or epoch % log_every == 0 or epoch == 1 or epoch == epochs:
                    display(line, 1)
                else:
                    display(None, 1)
        if since >= patience:
            stopped = True
            break
    model = eqx.combine(best, frozen)
    vm = evaluate(model, val_data)
    tm = evaluate(model, data.take(np.arange(min(len(data), 2000))))
    report = TrainReport(
        epochs_run=len(train_hist),
        best_epoch=best_epoch,
        stopped_early=stopped,
        train_loss=train_hist,
        val_loss=val_hist,
        val_r2=vm["r2"],
        train_r2=tm["r2"],
        val_rmse=vm["rmse"],
        n_train=len(data),
        n_val=len(val_data),
        n_params=model.n_params,
        seconds=time.perf_counter() - t0,
        seed=seed,
        indicator=data.indicator,
        config=config.to_json(),
    )
    if progress is True:
        if display is not None:
            display.close()
        with records_to(sys.stderr, _LOG.name):
            _LOG.info(str(report))
    return model, report
