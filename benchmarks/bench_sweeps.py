"""Sweeps and batches: what researchers run, timed as they call it (issue: a JAX-native engine).

In one plain ``python`` process (nothing exported), each row against its reference measured
in the same run:

* **parameter sweep**: 100 values of a parameter of an ``equinox.Module`` value (path,
  K = 16, T = 50, N = 1,000) against 100 calls with one unchanged value; the old way, a
  fresh ``lambda`` per value, for contrast (a sample of 5, scaled);
* **retrained models**: 20 DeepSets of one architecture with different weights on one panel
  against 20 calls of one model; and the 20 models as one ``jax.vmap`` call;
* **a batch of panels**: 1,000 panels of (T = 50, N = 1,000, d = 3), heat, as one
  ``jax.vmap`` call (from a device-resident stack, and from NumPy through
  :func:`jaxattr.pad_stack`) against the memory roofline of the stack (features read once,
  phi written once at the ``np.copyto`` bandwidth of this run) and against a Python loop
  over ``attribute``;
* **per-call floor**: heat from NumPy at T = 1 and T = 50, N = 1,000 (median of many calls;
  at T = 50 from a 64-byte-aligned and from an unaligned array).

Compiles are counted with JAX's own monitoring events (``backend_compile_duration``).
One JSON line per row is appended to ``benchmarks/results/sweeps_<backend>.jsonl``; a
Markdown table follows. ``--repeat R`` runs the whole set R times (the spread is reported).

    python benchmarks/bench_sweeps.py --repeat 3
    python benchmarks/bench_sweeps.py --small      # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import monitoring

import jaxattr
from jaxattr import deepset
from jaxattr import values as V

sys.path.insert(0, str(Path(__file__).resolve().parent))
from profile_core import device_copy_bandwidth  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

_COMPILES = [0]


def _on_event(name, secs, **kw):
    if name == "/jax/core/compile/backend_compile_duration":
        _COMPILES[0] += 1


monitoring.register_event_duration_secs_listener(_on_event)


class Quadratic(V.ValueFunction):
    """``a mean(z_0²) + log1p(mean z_1 mean z_2)``: a user's Module value, ``a`` traced."""

    a: jax.Array
    name = "quadratic"

    def fm(self, zt, mask=None):
        return self.a * jnp.mean(zt[0] ** 2) + jnp.log1p(jnp.mean(zt[1]) * jnp.mean(zt[2]))


def _timed(fn):
    """(seconds, compiles) of ``fn()``."""
    c0 = _COMPILES[0]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, _COMPILES[0] - c0


def copy_bandwidth(nbytes: int) -> float:
    """Bytes/s of ``np.copyto`` into a warm destination (read + write counted)."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best = min(_timed(lambda: np.copyto(dst, src))[0] for _ in range(5))
    return 2 * src.nbytes / best


def roofline_bandwidth(nbytes: int) -> float:
    """The copy bandwidth that bounds a device-resident run: host memory on CPU, the
    device's memory on an accelerator."""
    if jax.default_backend() == "cpu":
        return copy_bandwidth(nbytes)
    return device_copy_bandwidth(jnp.ones(nbytes // 4, jnp.float32), 5)


def sweep_parameter(z, n_values, steps):
    values = np.linspace(0.5, 2.0, n_values).astype(np.float32)
    same = Quadratic(jnp.asarray(1.0, jnp.float32))

    def run_same():
        for _ in range(n_values):
            np.asarray(jaxattr.attribute(z, same, steps=steps).phi)

    def run_sweep():
        for a in values:
            np.asarray(jaxattr.attribute(z, Quadratic(jnp.asarray(a)), steps=steps).phi)

    sample = 5

    def run_lambdas():  # the old way: a fresh closure per value, one compile each
        for a in values[:sample]:
            f = lambda x, a=float(a): (
                a * jnp.mean(x[:, 0] ** 2) + jnp.log1p(jnp.mean(x[:, 1]) * jnp.mean(x[:, 2]))
            )
            np.asarray(jaxattr.attribute(z, f, steps=steps).phi)

    np.asarray(jaxattr.attribute(z, same, steps=steps).phi)  # warm: its one compile
    t_same, _ = _timed(run_same)
    t_sweep, c_sweep = _timed(run_sweep)
    t_lam, c_lam = _timed(run_lambdas)
    return [
        {"case": "parameter sweep: 100 calls, one unchanged value", "seconds": t_same},
        {
            "case": "parameter sweep: 100 values of an equinox.Module field",
            "seconds": t_sweep,
            "compiles": c_sweep,
            "x_reference": t_sweep / t_same,
            "target": "<= 2x, 1 compile",
        },
        {
            "case": "parameter sweep: fresh lambda per value (old way, 5 scaled to 100)",
            "seconds": t_lam * n_values / sample,
            "compiles": c_lam,
            "x_reference": t_lam * n_values / sample / t_same,
        },
    ]


def sweep_models(z, n_models, steps):
    cfg = deepset.DeepSetConfig(
        d=3, width=32, depth=2, latent=16, readout_width=32, readout_depth=2
    )
    models = [deepset.init_deepset(jax.random.key(s), cfg) for s in range(n_models + 1)]
    one = deepset.DeepSetValue(models[0])

    def run_one():
        for _ in range(n_models):
            np.asarray(jaxattr.attribute(z, one, steps=steps).phi)

    def run_all():
        for m in models[1:]:
            np.asarray(jaxattr.attribute(z, deepset.DeepSetValue(m), steps=steps).phi)

    stacked = jax.tree.map(lambda *x: jnp.stack(x), *models[1:])
    batched = jax.jit(
        jax.vmap(lambda m: jaxattr.attribute(z, deepset.DeepSetValue(m), steps=steps).phi)
    )

    np.asarray(jaxattr.attribute(z, one, steps=steps).phi)
    t_one, _ = _timed(run_one)
    t_all, c_all = _timed(run_all)
    t_vfirst, _ = _timed(lambda: np.asarray(batched(stacked)))
    t_vmap, c_vmap = _timed(lambda: np.asarray(batched(stacked)))
    return [
        {"case": f"DeepSets: {n_models} calls of one model", "seconds": t_one},
        {
            "case": f"DeepSets: {n_models} models, same architecture",
            "seconds": t_all,
            "compiles": c_all,
            "x_reference": t_all / t_one,
            "target": "<= 2x, 1 compile",
        },
        {
            "case": f"DeepSets: {n_models} models as one jax.vmap call (warm)",
            "seconds": t_vmap,
            "compiles": c_vmap,
            "x_reference": t_vmap / t_one,
            "compile_s": t_vfirst - t_vmap,
        },
    ]


def batch_of_panels(b, t, n, d):
    rng = np.random.default_rng(0)
    panels = [rng.lognormal(size=(t, n, d)).astype(np.float32) for _ in range(b)]
    stack_np, mask = jaxattr.pad_stack(panels)
    stack = jnp.asarray(stack_np)
    v = V.heat()
    nbytes = stack_np.nbytes + b * t * n * 4  # features read once, phi written once
    bw = roofline_bandwidth(stack_np.nbytes)
    roof = nbytes / bw
    vm = jax.jit(jax.vmap(lambda x: jaxattr.attribute(x, v).phi))
    vm_masked = jax.jit(jax.vmap(lambda x, m: jaxattr.attribute(x, v, mask=m).phi))
    first, _ = _timed(lambda: jax.block_until_ready(vm(stack)))
    t_vmap = min(_timed(lambda: jax.block_until_ready(vm(stack)))[0] for _ in range(5))
    _, c_vmap = _timed(lambda: jax.block_until_ready(vm(stack)))
    jax.block_until_ready(vm_masked(stack_np, mask))
    t_np = min(_timed(lambda: np.asarray(vm_masked(stack_np, mask)))[0] for _ in range(3))

    def loop():
        for p in panels:
            np.asarray(jaxattr.attribute(p, v).phi)

    loop()
    t_loop = min(_timed(loop)[0] for _ in range(3))
    ref = np.asarray(jaxattr.attribute(panels[7], v).phi)
    got = np.asarray(vm(stack)[7])
    assert np.allclose(got, ref, rtol=1e-5, atol=1e-9), "vmapped phi differs from the loop"
    shape = f"{b} x ({t}, {n}, {d})"
    return [
        {
            "case": f"batch roofline: {shape} read + phi written",
            "seconds": roof,
            "bandwidth_GBs": bw / 1e9,
        },
        {"case": f"batch: Python loop over attribute, {shape}", "seconds": t_loop},
        {
            "case": f"batch: jax.vmap, one call, device-resident stack, {shape}",
            "seconds": t_vmap,
            "compile_s": first - t_vmap,
            "compiles": c_vmap,
            "x_roofline": t_vmap / roof,
            "speedup_vs_loop": t_loop / t_vmap,
            # the most any batched run could gain over this loop: one that ran at the
            # roofline itself (features read once, phi written once, nothing else)
            "speedup_at_roofline": t_loop / roof,
            "target": "<= 3x roofline, >= 10x the loop",
        },
        {
            "case": f"batch: jax.vmap with mask, from NumPy (pad_stack), {shape}",
            "seconds": t_np,
            "x_roofline": t_np / roof,
            "speedup_vs_loop": t_loop / t_np,
        },
    ]


def device_batch(b, t, n, d, feature_major=False):
    """A batch made on the device (``jax.random``), as a GPU user's simulation would leave
    it: ``jax.vmap`` of heat as one call against the device-copy roofline of the stack,
    without the host copies and the Python-loop reference of :func:`batch_of_panels`.
    ``feature_major``: the stack is ``(B, T, d, N)`` (``pad_stack(..., feature_major=True)``)."""
    shape = (b, t, d, n) if feature_major else (b, t, n, d)
    stack = jax.jit(
        lambda k: jnp.exp(jax.random.normal(k, shape, jnp.float32)),
    )(jax.random.key(0))
    nbytes = stack.nbytes + b * t * n * 4
    bw = device_copy_bandwidth(stack, 5)
    roof = nbytes / bw
    v = V.heat()
    vm = jax.jit(jax.vmap(lambda x: jaxattr.attribute(x, v, feature_major=feature_major).phi))
    first, _ = _timed(lambda: jax.block_until_ready(vm(stack)))
    t_vmap = min(_timed(lambda: jax.block_until_ready(vm(stack)))[0] for _ in range(5))
    one = np.asarray(stack[3])
    ref = np.asarray(jaxattr.attribute(one, v, feature_major=feature_major).phi)
    got = np.asarray(vm(stack)[3])
    assert np.allclose(got, ref, rtol=1e-5, atol=1e-9), "vmapped phi differs from one call"
    shape = f"{b} x ({t}, {d}, {n}) feature-major" if feature_major else f"{b} x ({t}, {n}, {d})"
    return [
        {
            "case": f"device batch roofline: {shape} read + phi written",
            "seconds": roof,
            "bandwidth_GBs": bw / 1e9,
        },
        {
            "case": f"device batch: jax.vmap, one call, stack made on the device, {shape}",
            "seconds": t_vmap,
            "compile_s": first - t_vmap,
            "x_roofline": t_vmap / roof,
            "target": "<= 2x roofline (GPU)",
        },
    ]


def call_times(fn, calls: int, warm: int) -> np.ndarray:
    """Seconds of each of ``calls`` calls of ``fn``, after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    ts = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn()
        ts[i] = time.perf_counter() - t0
    return ts


def host_at(a: np.ndarray, misalign: int) -> np.ndarray:
    """A copy of ``a`` whose data starts ``misalign`` bytes past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + misalign
    out = raw[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def floor(t, n, calls, source="numpy", misalign=None):
    """Median seconds of ``np.asarray(attribute(z, heat).phi)``: ``z`` a NumPy array, or
    (``source="device"``) a jax.Array already on the default device (the row is labelled
    "from device" on every backend, the CPU included).

    ``misalign`` places a NumPy array that many bytes past a 64-byte boundary (0: aligned,
    which XLA CPU reads in place; NumPy's own arrays land at 0, 16, 32 or 48, so without it
    a row's time depends on where the allocator put the array)."""
    z = np.random.default_rng(1).lognormal(size=(t, n, 3)).astype(np.float32)
    if source == "device":
        z = jax.device_put(z)
    elif misalign is not None:
        z = host_at(z, misalign)
        source += " (64-byte aligned)" if misalign == 0 else f" ({misalign} bytes past 64)"
    v = V.heat()
    ts = call_times(lambda: np.asarray(jaxattr.attribute(z, v).phi), calls, warm=50)
    bw = roofline_bandwidth(1 << 24)
    roof = (t * n * 3 * 4 + t * n * 4) / bw
    med = float(np.median(ts))
    return {
        "case": f"per-call floor: heat from {source}, T = {t}, N = {n}",
        "seconds": med,
        "min_seconds": float(np.min(ts)),
        "x_roofline": med / roof,
        "target": "<= 0.1 ms" if (t, n, source) == (1, 1000, "numpy") else "",
        "T": t,
        "N": n,
        "K": None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="a quick smoke run")
    ap.add_argument("--repeat", type=int, default=1, help="run the set this many times")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument(
        "--floor-n",
        type=int,
        nargs="+",
        default=[1000],
        help="agents of the per-call floor rows (T = 1; T = 50 at the first)",
    )
    ap.add_argument(
        "--only",
        choices=["sweeps", "batch", "floor"],
        nargs="+",
        default=["sweeps", "batch", "floor"],
    )
    ap.add_argument(
        "--device-batch",
        type=int,
        nargs="*",
        default=[],
        help="also time batches of this many (T = 50, N = 1,000) panels made on the device",
    )
    args = ap.parse_args()
    b, t, n = (50, 10, 500) if args.small else (1000, 50, 1000)
    rng = np.random.default_rng(2)
    z = rng.lognormal(size=(t, n, 3)).astype(np.float32)
    info = {
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "equinox": eqx.__version__,
        "dtype": "float32",
        "process_policy": {k: v["applied"] for k, v in jaxattr.process_policy().items()},
    }
    rows = []
    for r in range(args.repeat):
        run = []
        if "sweeps" in args.only:
            run += sweep_parameter(z, 20 if args.small else 100, 16)
            run += sweep_models(z, 5 if args.small else 20, 16)
        if "batch" in args.only:
            run += batch_of_panels(b, t, n, 3)
        for nb in args.device_batch:
            run += device_batch(nb, t, n, 3)
            run += device_batch(nb, t, n, 3, feature_major=True)
        if "floor" in args.only:
            calls = 500 if args.small else 5000
            for fn in args.floor_n:
                run.append(floor(1, fn, calls if fn <= 10_000 else 200))
                # from a jax.Array too: a JAX program's own arrays (on the CPU, the same
                # memory; on an accelerator, no host transfer)
                run.append(floor(1, fn, calls if fn <= 10_000 else 200, "device"))
            for misalign in (0, 16):  # XLA CPU copies an unaligned array; jaxattr stages it
                run.append(
                    floor(50, args.floor_n[0], 200 if args.small else 2000, "numpy", misalign)
                )
        for row in run:
            row.update(info, repeat=r, time=time.strftime("%Y-%m-%d %H:%M"))
            for k, val in (("T", t), ("N", n), ("K", 16)):  # a row's own shape wins
                row.setdefault(k, val)
        rows += run
        if not args.no_save:
            RESULTS.mkdir(exist_ok=True)
            with open(RESULTS / f"sweeps_{jax.default_backend()}.jsonl", "a") as f:
                for row in run:
                    f.write(json.dumps(row) + "\n")
    print("| case | seconds (min..max over runs) | ratio | compiles |")
    print("|---|---|---|---|")
    for case in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == case]
        secs = [r["seconds"] for r in rs]
        ratio = [r.get("x_reference", r.get("x_roofline")) for r in rs]
        ratio = "" if ratio[0] is None else f"{min(ratio):.2f}..{max(ratio):.2f}x"
        extra = [r.get("speedup_vs_loop") for r in rs if r.get("speedup_vs_loop")]
        if extra:
            ratio += f" ({min(extra):.1f}..{max(extra):.1f}x faster than the loop)"
        comp = ",".join(str(r["compiles"]) for r in rs if "compiles" in r)
        print(f"| {case} | {min(secs):.4g}..{max(secs):.4g} | {ratio} | {comp} |")


if __name__ == "__main__":
    main()
