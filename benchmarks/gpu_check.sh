#!/usr/bin/env bash
# The GPU path of bayesuq, checked in under 8 minutes on one GPU (issue 15):
#   1. the moment-recovery tests (tests/infer/test_moments.py) on the GPU;
#   2. SBC of eight schools with nuts_many: 1000 datasets on the GPU (fits/s vs the CPU);
#   3. one large posterior (logistic regression, N = 5000) with chain_method="auto"
#      (ESS/s vs the CPU);
#   4. martingale predictive resampling (paths/s vs the CPU);
#   5. the DEUP seeds loop (skipped with a message while that family is not merged).
# Figures and numbers go to $OUT_DIR (default results/gpu_check): gpu_check.png, .json.
#
# Needs bayesuq installed with a CUDA build of JAX, e.g.
#   pip install -e '.[test]' 'jax[cuda12]'
# Usage: bash benchmarks/gpu_check.sh [--sbc-sims N] [--n-obs N] [--paths N]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
OUT_DIR="${OUT_DIR:-${OUT:-results}/gpu_check}"
mkdir -p "$OUT_DIR"
export BAYESUQ_CACHE_DIR="${BAYESUQ_CACHE_DIR:-$(mktemp -d)/jax-cache}"
started=$SECONDS

if ! JAX_PLATFORMS=cuda "$PYTHON" -c "import jax, bayesuq; print('GPU:', jax.devices())"; then
    echo "gpu_check: no CUDA device visible to JAX (or bayesuq not installed):"
    echo "  pip install -e '.[test]' 'jax[cuda12]'   then run this script again"
    exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    | tee "$OUT_DIR/gpu.txt"

echo "== 1. moment-recovery tests on the GPU"
JAX_PLATFORMS=cuda timeout 150 "$PYTHON" -m pytest tests/infer/test_moments.py \
    -p no:cacheprovider -q -W "ignore::UserWarning" 2>&1 | tail -5 | tee "$OUT_DIR/moments.txt"
moments=${PIPESTATUS[0]}
echo "   ($((SECONDS - started)) s so far)"

echo "== 2-5. throughput steps, GPU then CPU"
"$PYTHON" benchmarks/gpu_check.py --out "$OUT_DIR" "$@" 2>&1 | tee "$OUT_DIR/steps.txt"
steps=${PIPESTATUS[0]}
echo "gpu_check: done in $((SECONDS - started)) s; moment tests exit $moments, steps exit $steps"
echo "figures: $OUT_DIR/gpu_check.png; numbers: $OUT_DIR/gpu_check.json"
exit $(( moments != 0 || steps != 0 ))
