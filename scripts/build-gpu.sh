#!/usr/bin/env bash
# Builds the CUDA binaries for a GPU machine into .gpu/ (ignored), using a
# system CUDA toolkit when nvcc is on PATH, else the wheel toolkit of
# ../shared/tools/cuda-toolkit.sh. Then `.gpu/gpu-check.sh` runs there.
#
# Features: GPU_FEATURES (default `cudnn`: convolutions through cuDNN; `cuda`
# builds the im2col gather path instead, for comparison). With cudnn, cuDNN 9
# is linked from CUDNN_ROOT (a folder with include/cudnn.h and lib/libcudnn.so)
# when set, else from NVIDIA's PyPI wheel (scripts/cudnn-wheel.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1; then
  tk=${CUDA_WHEEL_TOOLKIT:-$HOME/.cache/cuda-wheel-toolkit}
  [ -f "$tk/env.sh" ] || ../shared/tools/cuda-toolkit.sh "$tk"
  # shellcheck disable=SC1091
  source "$tk/env.sh"
fi
features=${GPU_FEATURES:-cudnn}
if [[ ",$features," == *,cudnn,* ]]; then
  if [ -n "${CUDNN_ROOT:-}" ]; then
    export CUDNN_LIB=$CUDNN_ROOT
  else
    export CUDNN_LIB=${CUDNN_WHEEL_DIR:-$HOME/.cache/cudnn-wheel}
    scripts/cudnn-wheel.sh "$CUDNN_LIB"
  fi
  # cudarc's build script takes the first of CUDA_PATH, CUDA_ROOT, ...,
  # CUDNN_LIB, /usr, ... that has include/cudnn.h, and links its lib/.
  if [ ! -f "$CUDNN_LIB/include/cudnn.h" ] || [ ! -e "$CUDNN_LIB/lib/libcudnn.so" ]; then
    echo "no cuDNN at $CUDNN_LIB (needs include/cudnn.h and lib/libcudnn.so)" >&2
    exit 1
  fi
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
cargo build --release --locked --features "$features" --bin cb --example gpu_check
# The CPU-vs-CUDA test binary (tests/cuda_parity.rs), found via cargo's JSON.
parity=$(cargo test --release --locked --features "$features" --test cuda_parity --no-run --message-format=json |
  python3 -c 'import json,sys
for m in map(json.loads, sys.stdin):
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cuda_parity" and m.get("executable"):
        print(m["executable"])')
mkdir -p .gpu
cp "$CARGO_TARGET_DIR/release/cb" "$CARGO_TARGET_DIR/release/examples/gpu_check" .gpu/
cp "$parity" .gpu/cuda_parity
cp scripts/gpu-check.sh scripts/gpu_bench_torch.py scripts/bench_train_step_torch.py scripts/bench_conv_step_torch.py .gpu/
echo "built .gpu/{cb,gpu_check,cuda_parity} (features: $features); on the GPU machine run: .gpu/gpu-check.sh"
