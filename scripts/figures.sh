#!/usr/bin/env bash
# The figure gallery (docs/figures/): builds cb, sets up the notebook
# environment (its venv has plotly and selenium) and draws every chart of the
# recorded runs under results/ in headless Chromium (scripts/figures.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin cb
# shellcheck source=scripts/setup-notebooks.sh
source scripts/setup-notebooks.sh
python scripts/figures.py target/release/cb
