#!/usr/bin/env bash
# Puts what `cargo build --features cudnn` links against into DIR: cuDNN's
# headers and its front library libcudnn.so, taken from NVIDIA's
# nvidia-cudnn-cu13 wheel on PyPI (the same way ../shared/tools/cuda-toolkit.sh
# builds the CUDA toolkit), for machines with no system cuDNN.
#
#   scripts/cudnn-wheel.sh [DIR]     # default DIR: $HOME/.cache/cudnn-wheel
#   export CUDNN_LIB=DIR             # cudarc's build script: DIR/include/cudnn.h, links DIR/lib
#
# Only the front library is kept (the wheel is ~500 MB): it exports the whole
# API and loads its sub-libraries (libcudnn_cnn.so.9, ...) at run time from
# the machine the binary runs on, which therefore needs a cuDNN 9 of its own
# (scripts/gpu-check.sh uses PyTorch's). cuDNN keeps one soname and one symbol
# version (libcudnn.so.9) across 9.x, so the release linked here need not
# match the one loaded there.
set -euo pipefail
DIR=${1:-$HOME/.cache/cudnn-wheel}
VERSION=9.28.1.4
if [ -f "$DIR/include/cudnn.h" ] && [ -e "$DIR/lib/libcudnn.so" ]; then
  echo "cuDNN already at $DIR; export CUDNN_LIB=$DIR"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps -d "$tmp" "nvidia-cudnn-cu13==$VERSION"
rm -rf "$DIR" && mkdir -p "$DIR/lib"
python3 - "$tmp" "$DIR" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, out = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("nvidia/cudnn/include/") or name == "nvidia/cudnn/lib/libcudnn.so.9":
            z.extract(name, tmp)
shutil.move(os.path.join(tmp, "nvidia/cudnn/include"), os.path.join(out, "include"))
shutil.move(os.path.join(tmp, "nvidia/cudnn/lib/libcudnn.so.9"), os.path.join(out, "lib"))
PY
ln -sf libcudnn.so.9 "$DIR/lib/libcudnn.so"
grep -E '#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' "$DIR/include/cudnn_version.h" | awk '{printf "%s%s", (NR > 1 ? "." : "cuDNN "), $3} END {print ""}'
echo "cuDNN ready; export CUDNN_LIB=$DIR"
