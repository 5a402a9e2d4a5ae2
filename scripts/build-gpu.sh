#!/usr/bin/env bash
# Builds the CUDA binaries for a GPU machine into .gpu/ (ignored), using a
# system CUDA toolkit when nvcc is on PATH, else the wheel toolkit of
# ../shared/tools/cuda-toolkit.sh. Then `scripts/gpu-check.sh` runs there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1; then
  tk=${CUDA_WHEEL_TOOLKIT:-$HOME/.cache/cuda-wheel-toolkit}
  [ -f "$tk/env.sh" ] || ../shared/tools/cuda-toolkit.sh "$tk"
  # shellcheck disable=SC1091
  source "$tk/env.sh"
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target/cuda}
cargo build --release --locked --features cuda --bin cb --example gpu_check
# The CPU-vs-CUDA test binary (tests/cuda_parity.rs), found via cargo's JSON.
parity=$(cargo test --release --locked --features cuda --test cuda_parity --no-run --message-format=json |
  python3 -c 'import json,sys
for m in map(json.loads, sys.stdin):
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cuda_parity" and m.get("executable"):
        print(m["executable"])')
mkdir -p .gpu
cp "$CARGO_TARGET_DIR/release/cb" "$CARGO_TARGET_DIR/release/examples/gpu_check" .gpu/
cp "$parity" .gpu/cuda_parity
cp scripts/gpu-check.sh scripts/gpu_bench_torch.py scripts/bench_train_step_torch.py scripts/bench_conv_step_torch.py .gpu/
echo "built .gpu/{cb,gpu_check,cuda_parity}; on the GPU machine run: .gpu/gpu-check.sh"
