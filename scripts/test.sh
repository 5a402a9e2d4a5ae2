#!/usr/bin/env bash
# The whole test suite, as README states it: formatting, lints, the CUDA
# type-check where enabled, and every test. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
# This package only: `--all` would also format the path dependency
# vendor/dfdx, which stays as published (vendor/README.md).
cargo fmt -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

step "CUDA code paths type-check (dfdx ci-check: no toolkit needed)"
cargo check --features ci-check --all-targets --locked

step "cuDNN code paths type-check (ci-check: no toolkit or cuDNN needed)"
cargo check --features ci-check,cudnn --all-targets --locked

step "cargo test"
cargo test --all-targets --locked

step "doc tests"
cargo test --doc --locked

step "cb report on files made by numpy and safetensors (python/test_report_files.py)"
scripts/test-python.sh

step "Slurm scripts under a real single-node Slurm (scripts/test-slurm.sh)"
scripts/test-slurm.sh

step "notebooks: headless execution through the Rust kernel, then a browser check"
scripts/test-notebooks.sh

echo
echo "all tests passed"
