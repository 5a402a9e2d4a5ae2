#!/usr/bin/env bash
# The one command for the notebooks: set up (idempotent, see
# scripts/setup-notebooks.sh) and start JupyterLab on notebooks/.
# Extra arguments go to `jupyter lab`, e.g.
#   scripts/lab.sh --no-browser --port 8890 --ip 127.0.0.1
# Quick mode for every notebook (minutes on a laptop CPU): CB_QUICK=1 scripts/lab.sh
set -euo pipefail

# shellcheck source=scripts/setup-notebooks.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-notebooks.sh"

cd "$CB_ROOT"
echo "[lab] starting JupyterLab on notebooks/. A notebook's first code cell compiles the library"
echo "[lab] into the Rust kernel: 3-6 min the first time on 2 cores, about 1 min later (cached). Ctrl-C stops."
extra=()
[[ $EUID -eq 0 ]] && extra+=(--allow-root) # Jupyter refuses root otherwise (containers)
exec jupyter lab --notebook-dir="$CB_ROOT/notebooks" "${extra[@]}" "$@"
