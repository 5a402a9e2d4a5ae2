#!/usr/bin/env bash
# Regenerates the committed notebooks' outputs (scripts/notebook-outputs.py):
# each notebook executed at its defaults, which load the recorded runs under
# results/, every chart with a PNG beside it. Run it after a recorded run or a
# notebook changes; CI checks the committed outputs are current
# (tests/notebooks/committed.py).
#   scripts/notebook-outputs.sh [NOTEBOOK...]   (default: all; MNIST from
#   CB_DATA_DIR or ../shared/data/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup-notebooks.sh
source scripts/setup-notebooks.sh
unset CB_QUICK
if [[ -z "${CB_DATA_DIR:-}" && -d ../shared/data/mnist ]]; then
    CB_DATA_DIR="$(cd ../shared/data/mnist && pwd)"
    export CB_DATA_DIR
fi
export EVCXR_TMPDIR="$CB_ROOT/target/notebooks/evcxr"
mkdir -p "$EVCXR_TMPDIR"
python scripts/notebook-outputs.py "$@"
