#!/usr/bin/env bash
# Idempotent setup of everything the notebooks need (environment.md lists it):
#   1. a project-local virtualenv .venv/ with the pinned Python packages of
#      notebooks/requirements.txt (JupyterLab, plotly's renderer extension, ...);
#   2. the Rust Jupyter kernel evcxr_jupyter, pinned, built once per machine
#      with `cargo install --locked` into ~/.cargo/bin;
#   3. the kernel registered inside .venv/share/jupyter, so nothing is written
#      to the user's own Jupyter folders.
# Each step is skipped when already done, so running it again costs seconds.
#
# Run it directly, or `source` it (scripts/lab.sh and scripts/test-notebooks.sh
# do) to also get the environment: .venv/bin first on PATH and Jupyter's
# config/data/runtime folders inside .venv/.
set -euo pipefail

CB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CB_VENV="$CB_ROOT/.venv"
EVCXR_VERSION=0.22.0
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

say() { printf '[setup-notebooks] %s\n' "$*" >&2; }

# --- 1. Python virtualenv ----------------------------------------------------
if [[ ! -x "$CB_VENV/bin/python" ]]; then
    say "creating the virtualenv $CB_VENV"
    "${PYTHON:-python3}" -m venv "$CB_VENV" || {
        say "python3 -m venv failed; on Debian/Ubuntu install python3-venv first"
        exit 1
    }
fi
# Reinstall only when the pinned list changed (a stamp holds its hash).
req="$CB_ROOT/notebooks/requirements.txt"
stamp="$CB_VENV/.cb-requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    say "installing the pinned Python packages (notebooks/requirements.txt, under a minute)"
    "$CB_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi

# --- 2. the evcxr Rust kernel ------------------------------------------------
export PATH="$CB_VENV/bin:$CARGO_BIN:$PATH"
# evcxr_jupyter has no --version flag: cargo's install list is the record.
if ! { [[ -x "$CARGO_BIN/evcxr_jupyter" ]] &&
    cargo install --list | grep -x "evcxr_jupyter v$EVCXR_VERSION:" >/dev/null; }; then
    say "building evcxr_jupyter $EVCXR_VERSION (cargo install --locked): this takes about"
    say "8 minutes on 2 cores, once per machine; cargo's progress follows"
    cargo install --locked "evcxr_jupyter@$EVCXR_VERSION"
fi

# --- 3. kernel registration and Jupyter's folders ----------------------------
# Jupyter looks in the virtualenv's share/jupyter first; evcxr writes its
# kernelspec to $JUPYTER_PATH/kernels/rust. Rewritten every time (cheap) so the
# kernelspec always points at the pinned build in ~/.cargo/bin.
export JUPYTER_CONFIG_DIR="$CB_VENV/etc/jupyter"
export JUPYTER_DATA_DIR="$CB_VENV/share/jupyter"
export JUPYTER_RUNTIME_DIR="$CB_VENV/share/jupyter/runtime"
JUPYTER_PATH="$JUPYTER_DATA_DIR" "$CARGO_BIN/evcxr_jupyter" --install >/dev/null
say "ready: $(jupyter lab --version | sed 's/^/JupyterLab /'), evcxr_jupyter $EVCXR_VERSION, kernel 'rust' in $JUPYTER_DATA_DIR/kernels/rust"
export CB_ROOT CB_VENV
