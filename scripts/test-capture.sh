#!/usr/bin/env bash
# The PyTorch helper (python/cb_capture.py) on a real torch model, end to end
# with `cb report` (python/test_cb_capture.py): a depth-30, width-25 FNN
# trained one epoch on MNIST. Not in CI (torch is too large for it): torch
# lives in the benchmarks' private venv (scripts/bench-lib.sh).
#   scripts/test-capture.sh [MNIST_DIR] [DEPTH] [WIDTH]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${TORCH_VENV:-.cache/torch-venv}
PY=$VENV/bin/python
if ! [[ -x "$PY" ]] || ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "==> installing torch into $VENV" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu ||
        "$PY" -m pip install -q torch
fi
"$PY" -c 'import numpy' 2>/dev/null || "$PY" -m pip install -q numpy
cargo build --release --locked --bin cb
MNIST=${1:-../shared/data/mnist}
"$PY" python/test_cb_capture.py target/release/cb "$MNIST" "${2:-30}" "${3:-25}"
