#!/usr/bin/env bash
# On a GPU machine (NVIDIA driver, CUDA 13 and cuDNN 9 libraries, PyTorch; no
# Rust): compares CPU and GPU results (and cuDNN's conv with the gather path),
# times training steps and the bundle metric next to PyTorch on the same card,
# and prints a comparison table last. Expects the binaries from
# scripts/build-gpu.sh in the same folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# CUDA 13 and cuDNN 9 runtime libraries from PyTorch's wheels, where the
# machine has them (a cuDNN build links libcudnn.so.9, which loads its
# sub-libraries from the loader's path too).
for L in /opt/torch/.venv/lib/python3*/site-packages/nvidia/{cu13,cudnn}/lib; do
  [ -d "$L" ] && export LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-}
done
# dfdx bakes the build machine's CUDA include path into the binary for the
# kernels NVRTC compiles at run time; point it at this machine's headers.
mkdir -p ~/.cache/cuda-wheel-toolkit/root
[ -d /usr/local/cuda/include ] && ln -sfn /usr/local/cuda/include ~/.cache/cuda-wheel-toolkit/root/include
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
out=$(mktemp -d)

echo "== test binary on the GPU: conv (cuDNN vs gather), pool, batch norm, VGG/ResNet steps, CPU vs CUDA"
"$here/cuda_parity" --test-threads 1 --nocapture

echo "== CPU vs GPU checks and Rust timings"
"$here/gpu_check" --json "$out/rust.json"

echo "== cb toy on cuda vs cpu"
"$here/cb" toy --out "$out/cpu" --device cpu >/dev/null
"$here/cb" toy --out "$out/cuda" --device cuda | tail -4
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
a, b = (json.load(open(f"{d}/{k}/toy.json")) for k in ("cpu", "cuda"))
for ra, rb in zip(a["runs"], b["runs"]):
    diff = max(abs(x - y) for x, y in zip(ra["final_mean_softmax"], rb["final_mean_softmax"]))
    print(f"toy {ra['name']:<24} |softmax cpu - cuda| = {diff:.2e}", "ok" if diff < 1e-3 else "FAIL")
    assert diff < 1e-3
PY

echo "== PyTorch on the same card, then the comparison table"
python3 "$here/gpu_bench_torch.py" --rust "$out/rust.json"
