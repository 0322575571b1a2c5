"""Core engine benchmark: the front door as users call it, against the memory roofline.

Everything runs in this plain ``python`` process (no ``GLIBC_TUNABLES``, no re-exec, no
helper process for timing): whatever memory strategy the library uses, it applies itself
(``jaxattr._util._memory``). Every reference is measured in the same run:

* **roofline**: the features read once and phi written once at the STREAM-style copy
  bandwidth (``2 x bytes / time`` of ``np.copyto`` into a warm destination);
* **NumPy closed form**: heat written directly in NumPy on the ``(T, N, d)`` array
  (``m = z.mean(1)``, ``w = log1p(prod m) / (3 N m)``, ``z @ w``);
* **np.argsort** for gini; a **PyTorch loop** and **Captum** for the path integral (when
  installed: ``pip install torch==2.13.0 captum``).

Front-door rows time ``np.asarray(jaxattr.attribute(x, value).phi)`` from a NumPy
``(T, N, d)`` array, a ``jax.Array`` ``(T, N, d)`` and a ``Panel``. Timings: a warm-up call
first (reported as compile time), then the min and median of ``--reps`` calls. One JSON
line per measurement goes to stdout and is appended to
``benchmarks/results/core_<backend>.jsonl``; a Markdown table follows.

    python benchmarks/bench_core.py            # full: N = 1,671,587, T = 14, d = 3
    python benchmarks/bench_core.py --small    # a quick smoke run

Peak memory is measured in a child ``python`` started with ``JAXATTR_MALLOC=system``
(glibc's defaults), because recycled memory would hide a call's allocations from the
peak-RSS delta; it reports ``(peak RSS during one warm call - RSS before) / input bytes +
1``, i.e. counting the input itself once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxattr

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "machine": f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores",
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0].device_kind),
        "jax": jax.__version__,
        "python": platform.python_version(),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "allocator": jaxattr.allocator_info()["detail"],
        "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def timeit(fn, reps):
    """(first call, min, median) seconds of ``fn()``, each call ended by block_until_ready."""
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return first, min(ts), float(np.median(ts))


def emit(rows, out, **rec):
    rec = {**machine(), **rec}
    rows.append(rec)
    line = json.dumps(rec)
    print(line, flush=True)
    with out.open("a") as fh:
        fh.write(line + "\n")


def copy_bandwidth(buf, reps):
    """STREAM-style copy bandwidth (2 x bytes / time) into a warm destination: the roofline."""
    dst = np.empty_like(buf)
    np.copyto(dst, buf)  # touch the destination once: warm pages
    _, best, _ = timeit(lambda: np.copyto(dst, buf), reps)
    return 2 * buf.nbytes / best


def numpy_heat(z):
    """The heat closed form written directly in NumPy on the (T, N, 3) array."""
    n = z.shape[1]
    m = z.mean(1)
    w = np.log1p(m.prod(1))[:, None] / (3 * n * m)
    return np.matmul(z, w[:, :, None])[..., 0]


# ------------------------------------------------------------------ PyTorch / Captum peers


def torch_peers(z_nd, steps, reps):
    try:
        import torch
    except ImportError:
        return None, None
    zt = torch.from_numpy(z_nd)

    def loop():
        total = torch.zeros_like(zt)
        for j in range(steps):
            x = ((j + 0.5) / steps * zt).requires_grad_(True)
            f = torch.log1p(torch.prod(x.mean(0)))
            (g,) = torch.autograd.grad(f, x)
            total += g
        return (zt * total / steps).sum(1)

    loop_t = timeit(loop, reps)[1]
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        return loop_t, None

    def forward(x):  # (B, N, 3) -> (B,)
        return torch.log1p(torch.prod(x.mean(1), dim=-1))

    ig = IntegratedGradients(forward)

    def captum():
        return ig.attribute(
            zt[None], baselines=torch.zeros_like(zt)[None], n_steps=steps, method="riemann_middle"
        ).sum(-1)

    return loop_t, timeit(captum, max(1, reps // 2))[1]


# ------------------------------------------------------------------ memory (subprocess)

_MEM = r"""
import gc, sys, numpy as np, jaxattr
n, t, k, value, method = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                          sys.argv[5])

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

z = np.random.default_rng(0).lognormal(sigma=0.7, size=(t, n, 3)).astype(np.float32)
if value == "callable-heat":  # no structure: the generic jax.grad path integral
    heat = jaxattr.values.heat()
    value = lambda x: heat(x)
call = lambda: np.asarray(jaxattr.attribute(z, value, method=method, steps=k).phi)
call()  # compile
gc.collect()
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak-RSS high-water mark
    fh.write("5")
before = status("VmRSS:")
phi = call()
peak = status("VmHWM:")
print(z.nbytes, before, peak)
"""


def peak_memory(n, t, k, value, method):
    """(input bytes, (peak - before) / input + 1) of one warm front-door call, NumPy input."""
    env = dict(os.environ, JAXATTR_MALLOC="system")
    out = subprocess.run(
        [sys.executable, "-c", _MEM, str(n), str(t), str(k), value, method],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    nbytes, before, peak = (int(v) for v in out.stdout.split())
    return nbytes, (peak - before) / nbytes + 1.0


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="N = 100,000, T = 3 smoke run")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-path", action="store_true", help="closed forms only")
    args = ap.parse_args(argv)

    n, t = (100_000, 3) if args.small else (1_671_587, 14)
    n_path = 100_000 if args.small else 1_000_000
    k = 30
    out = RESULTS / f"core_{jax.default_backend()}.jsonl"
    RESULTS.mkdir(exist_ok=True)
    rows: list[dict] = []
    rng = np.random.default_rng(0)
    z = rng.lognormal(sigma=0.7, size=(t, n, 3)).astype(np.float32)  # as the README shows
    base = dict(N=n, T=t, d=3, dtype="float32")

    bw = copy_bandwidth(z, args.reps)
    roof = (z.nbytes + t * n * 4) / bw
    emit(
        rows,
        out,
        bench="roofline",
        K=None,
        copy_GBps=bw / 1e9,
        roofline_s=roof,
        note="features read once + phi written once at the measured copy bandwidth",
        **base,
    )
    _, np_best, np_med = timeit(lambda: numpy_heat(z), max(3, args.reps // 2))
    emit(
        rows,
        out,
        bench="numpy closed form/heat",
        K=None,
        min_s=np_best,
        median_s=np_med,
        x_roofline=np_best / roof,
        **base,
    )

    inputs = {"numpy": z, "jax.Array": jnp.asarray(z), "Panel": jaxattr.Panel(z)}
    targets = {"numpy": 3.0, "jax.Array": 2.0, "Panel": 2.0}  # issue 20
    closed = {}
    for kind, x in inputs.items():
        for name in ("linear", "heat", "variance"):
            first, best, med = timeit(
                lambda x=x, name=name: np.asarray(jaxattr.attribute(x, name).phi), args.reps
            )
            closed[kind, name] = best
            rec = dict(
                bench=f"front door/{kind}/{name}",
                K=None,
                compile_s=first - best,
                min_s=best,
                median_s=med,
                x_roofline=best / roof,
                target=f"<= {targets[kind]:g}x roofline",
            )
            if kind == "numpy" and name == "heat":
                rec.update(
                    numpy_closed_form_s=np_best,
                    speedup_vs_numpy=np_best / best,
                    target=rec["target"] + ", >= 5x faster than NumPy",
                )
            emit(rows, out, **rec, **base)

    one = np.ascontiguousarray(z[:1])
    first, best, med = timeit(lambda: np.asarray(jaxattr.attribute(one, "gini").phi), args.reps)
    s = one[0].sum(1)
    _, ref_best, _ = timeit(lambda: np.argsort(s), args.reps)
    emit(
        rows,
        out,
        bench="front door/numpy/gini (one step)",
        N=n,
        T=1,
        d=3,
        K=None,
        dtype="float32",
        compile_s=first - best,
        min_s=best,
        median_s=med,
        argsort_min_s=ref_best,
        x_argsort=best / ref_best,
        target="<= 1.5x np.argsort",
    )

    if not args.skip_path:
        # Path integral, heat, K = 30, one step at N = 1e6 from a NumPy array: the built-in
        # (its mean-field g is affine: one pass, kernels.affine_path_gradient) and the same
        # f as a plain callable (no structure: K points of jax.grad).
        zp = np.ascontiguousarray(z[:1, :n_path])
        heat = jaxattr.values.heat()
        loop_t, captum_t = torch_peers(zp[0], k, max(3, args.reps // 2))
        for label, value in (("heat", "heat"), ("heat as a plain callable", lambda x: heat(x))):
            first, best, med = timeit(
                lambda value=value: np.asarray(
                    jaxattr.attribute(zp, value, method="path", steps=k).phi
                ),
                args.reps,
            )
            rec = dict(
                bench=f"front door/numpy/path {label} (one step)",
                N=n_path,
                T=1,
                d=3,
                K=k,
                dtype="float32",
                rule="midpoint",
                compile_s=first - best,
                min_s=best,
                median_s=med,
                target=(
                    "<= 10 ms; >= 5x PyTorch loop, >= 20x Captum"
                    if label == "heat"
                    else "reference: the generic jax.grad path, K passes"
                ),
            )
            if loop_t:
                rec.update(torch_loop_min_s=loop_t, speedup_vs_torch=loop_t / best)
            if captum_t:
                rec.update(captum_min_s=captum_t, speedup_vs_captum=captum_t / best)
            emit(rows, out, **rec)
        for name in ("heat", "variance"):
            first, best, med = timeit(
                lambda name=name: np.asarray(
                    jaxattr.attribute(z, name, method="path", steps=k).phi
                ),
                max(3, args.reps // 2),
            )
            emit(
                rows,
                out,
                bench=f"front door/numpy/path {name} (all steps)",
                K=k,
                rule="midpoint",
                compile_s=first - best,
                min_s=best,
                median_s=med,
                x_closed_form=best / closed["numpy", name],
                target="<= 40x closed form" if name == "heat" else "reference only",
                **base,
            )

    if not args.skip_memory:
        for value, method, kk in (
            ("heat", "closed_form", 30),
            ("variance", "closed_form", 30),
            ("heat", "path", 30),
            ("callable-heat", "path", 30),
            ("callable-heat", "path", 300),
        ):
            if args.skip_path and method == "path":
                continue
            nbytes, ratio = peak_memory(n, t, kk, value, method)
            emit(
                rows,
                out,
                bench=f"peak memory/numpy/{value} {method.replace('_', ' ')}",
                K=kk if method == "path" else None,
                input_bytes=nbytes,
                peak_over_input=ratio,
                target="<= 2.5x input",
                **base,
            )

    print()
    print("| benchmark | N | T | K | time (min) | reference | ratio | target |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["bench"]
        kk = r["K"] if r["K"] else "-"
        if b == "roofline":
            print(
                f"| roofline (copy {r['copy_GBps']:.1f} GB/s) | {r['N']:,} | {r['T']} | - | "
                f"{r['roofline_s'] * 1e3:.1f} ms | - | - | - |"
            )
        elif b.startswith("numpy closed form"):
            print(
                f"| {b} | {r['N']:,} | {r['T']} | - | {r['min_s'] * 1e3:.0f} ms | roofline | "
                f"{r['x_roofline']:.1f}x | reference |"
            )
        elif "gini" in b:
            print(
                f"| {b} | {r['N']:,} | 1 | - | {r['min_s'] * 1e3:.1f} ms | np.argsort "
                f"{r['argsort_min_s'] * 1e3:.1f} ms | {r['x_argsort']:.2f}x | {r['target']} |"
            )
        elif "(one step)" in b and "/path " in b:
            ref = (
                f"torch loop {r.get('torch_loop_min_s', float('nan')) * 1e3:.0f} ms, "
                f"Captum {r.get('captum_min_s', float('nan')) * 1e3:.0f} ms"
            )
            ratio = (
                f"{r.get('speedup_vs_torch', float('nan')):.1f}x / "
                f"{r.get('speedup_vs_captum', float('nan')):.1f}x faster"
            )
            print(
                f"| {b} | {r['N']:,} | 1 | {kk} | {r['min_s'] * 1e3:.1f} ms | {ref} | "
                f"{ratio} | {r['target']} |"
            )
        elif "/path " in b:
            print(
                f"| {b} | {r['N']:,} | {r['T']} | {kk} | {r['min_s'] * 1e3:.0f} ms | "
                f"closed form | {r['x_closed_form']:.1f}x | {r['target']} |"
            )
        elif b.startswith("peak memory"):
            print(
                f"| {b} | {r['N']:,} | {r['T']} | {kk} | - | input "
                f"{r['input_bytes'] / 2**20:.0f} MiB | {r['peak_over_input']:.2f}x | "
                f"{r['target']} |"
            )
        else:
            extra = (
                f", {r['speedup_vs_numpy']:.0f}x faster than NumPy"
                if "speedup_vs_numpy" in r
                else ""
            )
            print(
                f"| {b} | {r['N']:,} | {r['T']} | - | {r['min_s'] * 1e3:.1f} ms | roofline | "
                f"{r['x_roofline']:.2f}x{extra} | {r['target']} |"
            )
    m = machine()
    print(
        f"\n{m['machine']}; backend {m['backend']} ({m['device']}); jax {m['jax']}; "
        f"python {m['python']}; float32; GLIBC_TUNABLES={m['glibc_tunables']!r}; "
        f"allocator: {m['allocator']}; load {m['load_1min']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
