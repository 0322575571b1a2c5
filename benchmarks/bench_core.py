"""Core engine benchmark (issue 2): closed forms vs the memory roofline, gini vs NumPy
argsort, the path integral vs PyTorch and Captum, and the path integral's peak memory.

Every reference is measured in the same run. Timings: warm-up call first (reported as
compile time), then the min and median of ``--reps`` calls, each ended by
``block_until_ready()``. One JSON line per measurement goes to stdout and is appended to
``benchmarks/results/core_<backend>.jsonl``; a Markdown table follows.

    python benchmarks/bench_core.py            # full: N = 1,671,587, T = 14, d = 3
    python benchmarks/bench_core.py --small    # a quick smoke run

Allocator: XLA allocates a fresh buffer for every output. With glibc's defaults a 94 MB
output is mmap'ed anew on every call and the kernel zeroes each page on first touch
(measured here: 22,854 page faults and ~28 ms for a one-pass kernel that takes ~10 ms in
recycled memory), while the roofline's NumPy copy writes into a warm destination.
``--malloc`` picks glibc tunables (glibc >= 2.35, read at process start):

* ``recycle`` (default): the closed forms are timed in a child process with huge pages,
  one malloc arena, and no mmap or trimming for big blocks, so the buffer freed by one
  call is the next call's output, warm like the roofline's destination (0 page faults).
  Everything else (roofline, gini, path, peers) runs in the parent with huge pages only:
  one arena slows the multi-threaded path integral by ~6% (8.6 vs 8.1 ms, measured).
* ``hugepages``: everything with huge pages only; each output faults (~370 huge pages).
* ``system``: glibc's defaults throughout.

The peak-memory measurement always runs with huge pages only (recycled memory would hide
allocations from the peak-RSS delta). Every JSON line records its allocator mode.
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

HUGE = "glibc.malloc.hugetlb=1"
RECYCLE = (f"{HUGE}:glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4294967296:"
           "glibc.malloc.trim_threshold=17179869184")
# --malloc mode -> (tunables of the parent, tunables of the closed-form child)
MALLOC = {"recycle": (HUGE, RECYCLE), "hugepages": (HUGE, HUGE), "system": ("", "")}
_MODE_ENV = "JAXATTR_BENCH_MALLOC"  # the tunables this process was started with


def _malloc_mode(argv) -> str:
    """``--malloc`` read before jax is imported (the re-exec must come first)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--malloc", default="recycle")
    return pre.parse_known_args(argv[1:])[0].malloc


def _env_with(tunables: str) -> dict:
    env = dict(os.environ)
    kept = [t for t in env.get("GLIBC_TUNABLES", "").split(":")
            if t and not t.startswith("glibc.malloc.")]
    env["GLIBC_TUNABLES"] = ":".join(kept + ([tunables] if tunables else []))
    env[_MODE_ENV] = tunables or "system"
    return env


def _reexec_with_tunables(argv):
    """Restart once with the parent's allocator settings (glibc reads them at startup)."""
    mode = _malloc_mode(argv)
    if mode not in MALLOC or platform.system() != "Linux" or "--closed-child" in argv:
        return
    want = MALLOC[mode][0] or "system"
    if os.environ.get(_MODE_ENV) != want:
        os.execve(sys.executable, [sys.executable, *argv], _env_with(MALLOC[mode][0]))


if __name__ == "__main__":
    _reexec_with_tunables(sys.argv)

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxattr  # noqa: E402

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
        "hugepages": HUGE in os.environ.get("GLIBC_TUNABLES", ""),
        "malloc": os.environ.get(_MODE_ENV, "as started"),
    }


def timeit(fn, reps):
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return first, min(ts), float(np.median(ts))


def host_time(fn, reps):
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts), float(np.median(ts))


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
    best, _ = host_time(lambda: np.copyto(dst, buf), reps)
    return 2 * buf.nbytes / best


def fresh_copy_bandwidth(buf, reps):
    """The same into a fresh array each time, as a function returning a new array pays:
    the kernel zeroes every new page first. Context only; the roofline uses the warm copy."""
    best, _ = host_time(lambda: buf.copy(), reps)
    return 2 * buf.nbytes / best


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

    loop_t = host_time(loop, reps)
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        return loop_t, None

    def forward(x):  # (B, N, 3) -> (B,)
        return torch.log1p(torch.prod(x.mean(1), dim=-1))

    ig = IntegratedGradients(forward)

    def captum():
        return ig.attribute(zt[None], baselines=torch.zeros_like(zt)[None], n_steps=steps,
                            method="riemann_middle").sum(-1)

    return loop_t, host_time(captum, max(1, reps // 2))


# ------------------------------------------------------------------ memory (subprocess)

_MEM = r"""
import gc, sys, numpy as np, jax, jaxattr
n, t, k, value = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

rng = np.random.default_rng(0)
fm = rng.lognormal(sigma=0.7, size=(t, 3, n)).astype(np.float32)
panel = jaxattr.Panel.from_feature_major(fm)
att = jaxattr.attribute(panel, value, method="path", steps=k)  # compile + device copy
att.phi.block_until_ready()
del att
gc.collect()
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak-RSS high-water mark
    fh.write("5")
before = status("VmRSS:")
att = jaxattr.attribute(panel, value, method="path", steps=k)
att.phi.block_until_ready()
peak = status("VmHWM:")
print(fm.nbytes, before, peak, float(att.efficiency_error.max()))
"""


def path_memory(n, t, k, value):
    """Peak of one warm ``attribute(..., method="path")`` call, in units of the input.

    (peak RSS during the call - RSS before it) / input + 1: the call's own allocations
    (path-averaged gradient output, phi, scratch) plus the features on the device once.
    The NumPy host copy of the panel is not counted (pass device arrays to avoid it).
    """
    env = _env_with(HUGE)  # no recycling: it would hide allocations from the peak
    out = subprocess.run([sys.executable, "-c", _MEM, str(n), str(t), str(k), value],
                         capture_output=True, text=True, env=env, timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    nbytes, before, peak, err = out.stdout.split()
    nbytes, before, peak = int(nbytes), int(before), int(peak)
    return nbytes, (peak - before) / nbytes + 1.0, float(err)


# ------------------------------------------------------------------ closed forms


def closed_form_timings(panel, reps) -> dict:
    """(first, min, median, allocator mode) of ``attribute(panel, name).phi`` per value."""
    mode = os.environ.get(_MODE_ENV, "as started")
    return {name: (*timeit(lambda name=name: jaxattr.attribute(panel, name).phi, reps), mode)
            for name in ("linear", "heat", "variance")}


def closed_forms_in_child(args, tunables) -> dict:
    """The same timings in a child started with ``tunables`` (same data: same seed)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--closed-child",
            "--reps", str(args.reps)] + (["--small"] if args.small else [])
    out = subprocess.run(argv, capture_output=True, text=True, env=_env_with(tunables),
                         timeout=900)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="N = 100,000, T = 3 smoke run")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--malloc", choices=sorted(MALLOC), default="recycle",
                    help="glibc allocator settings (see the module docstring)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--closed-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    n, t = (100_000, 3) if args.small else (1_671_587, 14)
    n_path = 100_000 if args.small else 1_000_000
    k = 30
    out = RESULTS / f"core_{jax.default_backend()}.jsonl"
    RESULTS.mkdir(exist_ok=True)
    rows: list[dict] = []
    rng = np.random.default_rng(0)
    fm = rng.lognormal(sigma=0.7, size=(t, 3, n)).astype(np.float32)
    panel = jaxattr.Panel.from_feature_major(fm)
    if args.closed_child:
        print(json.dumps(closed_form_timings(panel, args.reps)))
        return 0

    bw = copy_bandwidth(fm, args.reps)
    roof = (fm.nbytes + t * n * 4) / bw
    emit(rows, out, bench="roofline", N=n, T=t, d=3, K=None, dtype="float32",
         copy_GBps=bw / 1e9, roofline_s=roof,
         fresh_copy_GBps=fresh_copy_bandwidth(fm, args.reps) / 1e9,
         note="features read once + phi written once at the measured copy bandwidth")

    closed = {}
    parent, child = MALLOC[args.malloc]
    if child != parent and platform.system() == "Linux":
        timings = closed_forms_in_child(args, child)
    else:
        timings = closed_form_timings(panel, args.reps)
    for name, (first, best, med, malloc) in timings.items():
        closed[name] = best
        emit(rows, out, bench=f"closed_form/{name}", N=n, T=t, d=3, K=None, dtype="float32",
             malloc=malloc, compile_s=first - best, min_s=best, median_s=med,
             x_roofline=best / roof, target="<= 2x roofline")

    one = jaxattr.Panel.from_feature_major(np.ascontiguousarray(fm[:1]))
    first, best, med = timeit(lambda: jaxattr.attribute(one, "gini").phi, args.reps)
    s = fm[0].sum(0)
    ref_best, ref_med = host_time(lambda: np.argsort(s), args.reps)
    emit(rows, out, bench="closed_form/gini (per step)", N=n, T=1, d=3, K=None,
         dtype="float32", compile_s=first - best, min_s=best, median_s=med,
         argsort_min_s=ref_best, x_argsort=best / ref_best, target="<= 1.5x np.argsort")

    # Path integral, heat, K = 30, one step at N = 1e6: ours vs PyTorch loop vs Captum.
    zp = jaxattr.Panel.from_feature_major(np.ascontiguousarray(fm[:1, :, :n_path]))
    first, best, med = timeit(
        lambda: jaxattr.attribute(zp, "heat", method="path", steps=k).phi, args.reps)
    z_nd = np.ascontiguousarray(fm[0, :, :n_path].T)
    loop_t, captum_t = torch_peers(z_nd, k, max(3, args.reps // 2))
    rec = dict(bench="path/heat (one step)", N=n_path, T=1, d=3, K=k, dtype="float32",
               rule="midpoint", compile_s=first - best, min_s=best, median_s=med,
               target=">= 5x faster than PyTorch loop, >= 20x than Captum")
    if loop_t:
        rec.update(torch_loop_min_s=loop_t[0], speedup_vs_torch=loop_t[0] / best)
    if captum_t:
        rec.update(captum_min_s=captum_t[0], speedup_vs_captum=captum_t[0] / best)
    emit(rows, out, **rec)

    # Path integral over all T steps vs the closed form.
    for name in ("heat", "variance"):
        first, best, med = timeit(
            lambda name=name: jaxattr.attribute(panel, name, method="path", steps=k).phi,
            max(3, args.reps // 2))
        emit(rows, out, bench=f"path/{name} (all steps)", N=n, T=t, d=3, K=k,
             dtype="float32", rule="midpoint", compile_s=first - best, min_s=best,
             median_s=med, x_closed_form=best / closed[name],
             target="<= 40x closed form" if name == "heat" else "reference only")

    if not args.skip_memory:
        for kk in (30, 300):
            nbytes, ratio, err = path_memory(n, t, kk, "heat")
            emit(rows, out, bench="path/heat peak memory", N=n, T=t, d=3, K=kk,
                 dtype="float32", input_bytes=nbytes, peak_over_input=ratio,
                 efficiency_error=err, target="<= 3x input")

    print()
    print("| benchmark | N | T | K | time (min) | reference | ratio | target |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["bench"]
        if b == "roofline":
            print(f"| roofline (copy {r['copy_GBps']:.1f} GB/s; into a fresh array "
                  f"{r['fresh_copy_GBps']:.1f} GB/s) | {r['N']:,} | {r['T']} | - | "
                  f"{r['roofline_s'] * 1e3:.1f} ms | - | - | - |")
        elif b.startswith("closed_form/gini"):
            print(f"| {b} | {r['N']:,} | 1 | - | {r['min_s'] * 1e3:.1f} ms | np.argsort "
                  f"{r['argsort_min_s'] * 1e3:.1f} ms | {r['x_argsort']:.2f}x | {r['target']} |")
        elif b.startswith("closed_form"):
            print(f"| {b} | {r['N']:,} | {r['T']} | - | {r['min_s'] * 1e3:.1f} ms | roofline | "
                  f"{r['x_roofline']:.2f}x | {r['target']} |")
        elif b == "path/heat (one step)":
            ref = (f"torch loop {r.get('torch_loop_min_s', float('nan')) * 1e3:.0f} ms, "
                   f"Captum {r.get('captum_min_s', float('nan')) * 1e3:.0f} ms")
            ratio = (f"{r.get('speedup_vs_torch', float('nan')):.1f}x / "
                     f"{r.get('speedup_vs_captum', float('nan')):.1f}x faster")
            print(f"| {b} | {r['N']:,} | 1 | {r['K']} | {r['min_s'] * 1e3:.1f} ms | {ref} | "
                  f"{ratio} | {r['target']} |")
        elif b.startswith("path/") and "memory" not in b:
            print(f"| {b} | {r['N']:,} | {r['T']} | {r['K']} | {r['min_s'] * 1e3:.0f} ms | "
                  f"closed form | {r['x_closed_form']:.1f}x | {r['target']} |")
        elif "memory" in b:
            print(f"| {b} | {r['N']:,} | {r['T']} | {r['K']} | - | input "
                  f"{r['input_bytes'] / 2**20:.0f} MiB | {r['peak_over_input']:.2f}x | "
                  f"{r['target']} |")
    m = machine()
    print(f"\n{m['machine']}; backend {m['backend']} ({m['device']}); jax {m['jax']}; "
          f"float32; GLIBC_TUNABLES: {m['malloc']}"
          + "".join(f"; closed forms: {r['malloc']}" for r in rows
                    if r["bench"] == "closed_form/linear" and r["malloc"] != m["malloc"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
