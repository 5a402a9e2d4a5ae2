#!/usr/bin/env bash
# The PyTorch helper (python/cb_capture.py) on real torch models, end to end
# with `cb report` (python/test_cb_capture.py): a depth-30, width-25 FNN
# trained one epoch on MNIST, a module called twice per forward pass, and
# torchvision's ResNet-18 (random weights) with every --criteria. Not in CI
# (torch is too large for it): torch and torchvision live in the benchmarks'
# private venv (scripts/bench-lib.sh).
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
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
    # torchvision 0.(m+15) goes with torch 2.m; --no-deps so that pip leaves
    # the installed torch alone. When that release is not on the index yet,
    # the newest one: its models (pure Python) work with a newer torch.
    tv="0.$(("$("$PY" -c 'import torch; print(torch.__version__.split(".")[1])')" + 15))"
    echo "==> installing torchvision $tv.* (or the newest) into $VENV" >&2
    "$PY" -m pip install -q --no-deps "torchvision==$tv.*" pillow ||
        "$PY" -m pip install -q --no-deps torchvision pillow
fi
cargo build --release --locked --bin cb
MNIST=${1:-../shared/data/mnist}
"$PY" python/test_cb_capture.py target/release/cb "$MNIST" "${2:-30}" "${3:-25}"
