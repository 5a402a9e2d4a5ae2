#!/usr/bin/env bash
# `cb report` on activation files made by numpy and by the safetensors
# package (python/test_report_files.py) and its --criteria against numpy
# oracles (python/test_report_criteria.py), in the project's virtualenv
# (scripts/setup-notebooks.sh installs numpy and safetensors with the
# notebooks' packages). CI runs it from scripts/test.sh after `cargo test`,
# which has built target/debug/cb. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup-notebooks.sh
source scripts/setup-notebooks.sh
CB_BIN=${CB_BIN:-target/debug/cb}
[[ -x "$CB_BIN" ]] || cargo build --locked --bin cb
python python/test_report_files.py "$CB_BIN"
python python/test_report_criteria.py "$CB_BIN"
