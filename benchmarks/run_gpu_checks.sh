#!/usr/bin/env bash
# One prepared script for a lent GPU machine (see the device tool), each part under its own
# time limit so that a 15-minute device budget holds the whole set:
#   1. bench_gpu.py: the closed forms (and the path integral) at N = 1e6, 1e7 and 5e7 x 14
#      and 1e8 x 1 against the device-copy roofline, with each program's device time and
#      the machine's sync floor, all measured in the same run;
#   2. bench_sweeps.py: the vmapped batch of 1,000 panels (and of 10,000 made on the
#      device) against the device-copy roofline, parameter and model sweeps, the per-call
#      floor at N = 1e3 and 1e6;
#   3. the GPU correctness subset (jit/vmap/grad/scan included), 4 pytest workers;
#   4. diagnostics: profile_floor.py (a small call taken apart), profile_core.py (XLA's
#      per-kernel times at N = 1e7) and the optimized HLO of the closed-form programs.
# At most 8 files come back from a device run: results go to $OUT as JSON lines, every log
# into $OUT/run.log, the HLO into one tarball. Commit them under benchmarks/results/ with the
# device named (every JSON line names it).
#
#     OUT=/tmp/gpu bash benchmarks/run_gpu_checks.sh
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
LOG=$OUT/run.log
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
part() {  # part NAME SECONDS CMD...: run under a time limit, log its output and exit code
    local name=$1 secs=$2
    shift 2
    echo "== $name ($(date -u +%H:%M:%S), limit ${secs}s)" >> "$LOG"
    local t0=$SECONDS
    timeout "$secs" "$@" >> "$LOG" 2>&1
    echo "== $name rc=$? in $((SECONDS - t0))s" >> "$LOG"
}
{ nvidia-smi -L; python -c "import sys, jax; print(sys.version); print(jax.__version__, jax.devices())"; } \
    >> "$LOG" 2>&1
part bench_gpu "${GPU_BENCH_S:-120}" python benchmarks/bench_gpu.py \
    --sizes 1000000x14 10000000x14 100000000x1 50000000x14 --out "$OUT/scale_gpu.jsonl"
rm -f benchmarks/results/sweeps_gpu.jsonl
part bench_sweeps "${SWEEPS_BENCH_S:-110}" python benchmarks/bench_sweeps.py \
    --floor-n 1000 1000000 --device-batch 10000
cp benchmarks/results/sweeps_gpu.jsonl "$OUT/" 2>/dev/null
if python -c "import pytest, hypothesis, xdist" 2>/dev/null; then
    # addopts cleared and pytest-benchmark off (the image has it; it refuses xdist);
    # memory not preallocated so that 4 workers share the GPU
    XLA_PYTHON_CLIENT_PREALLOCATE=false part pytest "${GPU_TEST_S:-150}" \
        python -m pytest -q -p no:cacheprovider -p no:benchmark -o addopts="" -n 4 \
        --durations=5 -m "not slow" tests/test_transforms.py tests/test_exactness.py \
        tests/test_kernels.py tests/test_attribute.py tests/test_plugins.py \
        tests/test_axioms.py tests/test_panel.py
else
    echo "pytest/hypothesis/xdist not installed: GPU tests skipped" >> "$LOG"
fi
part profile_floor "${FLOOR_S:-45}" python benchmarks/profile_floor.py --policy
rm -f benchmarks/results/profile_gpu.jsonl
part profile_core "${PROFILE_S:-35}" python benchmarks/profile_core.py --n 10000000 --t 14 --calls 10
cp benchmarks/results/profile_gpu.jsonl "$OUT/" 2>/dev/null
rm -rf /tmp/hlo
XLA_FLAGS="--xla_dump_to=/tmp/hlo --xla_dump_hlo_as_text" part hlo "${HLO_S:-20}" python -c "
import jax, jax.numpy as jnp, numpy as np, jaxattr
z = jnp.asarray(np.random.default_rng(0).lognormal(size=(14, 100_000, 3)).astype(np.float32))
for v in ('linear', 'heat', 'variance'):
    jax.block_until_ready(jaxattr.attribute(z, v).phi)
"
(cd /tmp && tar czf "$OUT/hlo_closed_forms.tgz" hlo/*after_optimizations.txt) >> "$LOG" 2>&1
grep -E "^== |passed|failed|error" "$LOG" | tail -n 40
