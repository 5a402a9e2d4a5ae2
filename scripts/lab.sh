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
echo "[lab] starting JupyterLab on notebooks/ (first run of a notebook compiles the"
echo "[lab] library in the kernel: 2-3 minutes on 2 cores, seconds afterwards); Ctrl-C stops it"
exec jupyter lab --notebook-dir="$CB_ROOT/notebooks" "$@"
