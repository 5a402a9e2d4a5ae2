#!/usr/bin/env bash
# The one command for the notebooks: set up (idempotent, see
# scripts/setup-notebooks.sh), compile the library into the Rust kernel's
# cache with progress in this terminal (scripts/warm-kernel.py; skipped when
# nothing changed since the last time), then start JupyterLab on notebooks/.
# Extra arguments go to `jupyter lab`, e.g.
#   scripts/lab.sh --no-browser --port 8890 --ip 127.0.0.1
# Quick mode for every notebook (minutes on a laptop CPU): CB_QUICK=1 scripts/lab.sh
# Skip the warm-up: CB_NO_WARM=1 scripts/lab.sh
set -euo pipefail

# shellcheck source=scripts/setup-notebooks.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-notebooks.sh"

cd "$CB_ROOT"
# The notebooks' data folder, resolved as the notebook test resolves it: an
# exported CB_DATA_DIR wins, else the read-only MNIST copy beside the
# repository where there is one, else the library's default (data/).
if [[ -z "${CB_DATA_DIR:-}" && -d ../shared/data/mnist ]]; then
    CB_DATA_DIR="$(cd ../shared/data/mnist && pwd)"
    export CB_DATA_DIR
fi
echo "[lab] data folder: ${CB_DATA_DIR:-$CB_ROOT/data (default)}"

# Warm the kernel's compile cache when the library or the setup cell changed.
stamp="$CB_VENV/.cb-warm-kernel.sha256"
want="$( (git ls-files -s src Cargo.toml Cargo.lock notebooks 2>/dev/null; git diff HEAD -- src Cargo.toml 2>/dev/null) | sha256sum | cut -d' ' -f1)"
if [[ -z "${CB_NO_WARM:-}" && ( "$(cat "$stamp" 2>/dev/null)" != "$want" || ! -d "${XDG_CACHE_HOME:-$HOME/.cache}/evcxr" ) ]]; then
    echo "[lab] compiling the library into the Rust kernel's cache first (cargo's progress follows;"
    echo "[lab] about 3-6 min on 2 cores the first time, much longer under load): a notebook's first cell then takes about a minute"
    python scripts/warm-kernel.py && echo "$want" >"$stamp" ||
        echo "[lab] warm-up failed (see above); the notebooks will compile the library themselves"
fi

echo "[lab] starting JupyterLab on notebooks/. Ctrl-C stops."
extra=()
[[ $EUID -eq 0 ]] && extra+=(--allow-root) # Jupyter refuses root otherwise (containers)
exec jupyter lab --notebook-dir="$CB_ROOT/notebooks" "${extra[@]}" "$@"
