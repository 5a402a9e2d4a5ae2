#!/usr/bin/env bash
# The notebooks' test: set up (idempotent), execute every notebook headless in
# quick mode through the real Rust kernel, check outputs and charts, then open
# the executed notebooks in JupyterLab in headless Chromium and find the drawn
# charts. Outputs: target/notebooks/*.ipynb (executed copies; the committed
# notebooks keep the outputs of their defaults, checked current first) and
# target/notebook-screenshot*.png.
# Run from anywhere; CI runs it from scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

timings=()
phase_start=$SECONDS
phase_end() { # record how long the phase that just ended took
    timings+=("$(printf '%-34s %5d s' "$1" $((SECONDS - phase_start)))")
    phase_start=$SECONDS
}
step() { printf '\n==> %s\n' "$*"; }
# Timings are printed however the run ends.
trap 'echo; echo "notebook test timings:"; printf "  %s\n" "${timings[@]}"' EXIT

step "notebook environment (scripts/setup-notebooks.sh)"
# shellcheck source=scripts/setup-notebooks.sh
source scripts/setup-notebooks.sh
phase_end "setup (venv, evcxr, kernel)"

step "the committed notebooks' outputs are current (tests/notebooks/committed.py)"
python tests/notebooks/committed.py
phase_end "committed outputs current"

step "headless Chromium for the browser check"
# Debian's packages (CI runs as root on Debian); skipped when present.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    if [[ $EUID -ne 0 ]]; then
        echo "chromium and chromium-driver are missing: run 'sudo apt-get install -y chromium chromium-driver'" >&2
        exit 1
    fi
    echo "installing chromium and chromium-driver with apt-get (about 1 minute)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
/usr/bin/chromium --version 2>/dev/null # its wrapper script warns on stderr
phase_end "chromium"

step "execute the notebooks headless (quick mode, Rust kernel)"
export CB_QUICK=1
# MNIST: the read-only copy beside the repository (CI and these machines have
# it), unless the caller chose a folder; notebook 02 fetches it otherwise.
if [[ -z "${CB_DATA_DIR:-}" && -d ../shared/data/mnist ]]; then
    CB_DATA_DIR="$(cd ../shared/data/mnist && pwd)"
    export CB_DATA_DIR
fi
# One evcxr build folder for both notebooks, run one after the other: the
# second reuses the first one's compiled library and dependencies. (Kernels in
# JupyterLab keep evcxr's default, a fresh folder each, since they may run at
# the same time.)
export EVCXR_TMPDIR="$CB_ROOT/target/notebooks/evcxr"
mkdir -p "$EVCXR_TMPDIR"
python tests/notebooks/execute.py target/notebooks notebooks/[0-9]*.ipynb
phase_end "execute notebooks"

step "open the executed notebooks in JupyterLab in headless Chromium"
env -u EVCXR_TMPDIR python tests/notebooks/browser.py target target/notebooks/[0-9]*.ipynb
phase_end "browser check"
echo "notebook tests passed"
