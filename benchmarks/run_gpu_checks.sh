#!/usr/bin/env bash
# One prepared script for a lent GPU machine (see the device tool): the accelerator benchmark
# (closed forms up to N = 1e7 x 14 against the device-copy roofline), the sweeps/batch/floor
# benchmark, the front-door benchmark and a GPU correctness subset (jit/vmap/grad included),
# each under its own time limit, so a 15-minute device budget holds all four. Results land in $OUT (or ./gpu_out), ready to be
# committed under benchmarks/results/ with the device named in every JSON line.
#
#     OUT=/tmp/gpu bash benchmarks/run_gpu_checks.sh
set -u
OUT=${OUT:-gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
{ nvidia-smi -L; python -c "import sys, jax; print(sys.version); print(jax.__version__, jax.devices())"; } \
    > "$OUT/env.log" 2>&1
timeout "${GPU_BENCH_S:-200}" python benchmarks/bench_gpu.py --out "$OUT/scale_gpu.jsonl" \
    > "$OUT/bench_gpu.log" 2>&1
echo "bench_gpu rc=$?" >> "$OUT/env.log"
# vmapped batch of panels, sweeps, the per-call floor at N = 1e3 and 1e6
timeout "${SWEEPS_BENCH_S:-150}" python benchmarks/bench_sweeps.py --floor-n 1000 1000000 \
    > "$OUT/bench_sweeps.log" 2>&1
echo "bench_sweeps rc=$?" >> "$OUT/env.log"
cp benchmarks/results/sweeps_gpu.jsonl "$OUT/" 2>/dev/null
rm -f benchmarks/results/core_gpu.jsonl
timeout "${CORE_BENCH_S:-200}" python benchmarks/bench_core.py --skip-memory --reps 5 \
    > "$OUT/bench_core.log" 2>&1
echo "bench_core rc=$?" >> "$OUT/env.log"
cp benchmarks/results/core_gpu.jsonl "$OUT/" 2>/dev/null
if python -c "import pytest, hypothesis" 2>/dev/null; then
    # addopts cleared: pytest-xdist need not be installed there; one process
    timeout "${GPU_TEST_S:-240}" python -m pytest -q -p no:cacheprovider -o addopts="" \
        -m "not slow" tests/test_exactness.py tests/test_kernels.py tests/test_attribute.py \
        tests/test_plugins.py tests/test_axioms.py tests/test_panel.py tests/test_transforms.py \
        > "$OUT/pytest.log" 2>&1
    echo "pytest rc=$?" >> "$OUT/env.log"
else
    echo "pytest/hypothesis not installed: GPU tests skipped" >> "$OUT/env.log"
fi
for f in "$OUT"/*.log; do echo "== $f"; tail -n 3 "$f"; done
