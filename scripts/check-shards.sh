#!/usr/bin/env bash
# Checks by hand that sharding leaves the quick presets' reports unchanged
# (each sweep's quick preset trains for minutes, twice: too long for CI, whose
# tests/it/shards.rs runs the same code paths on smaller configs): for each
# SWEEP, the quick preset unsharded and as 3 shards on the CPU, then
# `cb merge`, and the two reports compared with every wall time left out.
#   scripts/check-shards.sh [SWEEP...]   (default: all seven; MNIST from
#   CB_DATA_DIR or ../shared/data/mnist; CB = the cb binary, default
#   target/release/cb, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
CB=${CB:-target/release/cb}
[[ -x $CB ]] || cargo build --release --locked --bin cb
DATA=${CB_DATA_DIR:-../shared/data/mnist}
sweeps=("$@")
((${#sweeps[@]})) || sweeps=(fc-sweep conv-sweep autotune lesion lbe criteria precision-sweep)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for sweep in "${sweeps[@]}"; do
    report=${sweep/-/_}.json
    start=$SECONDS
    "$CB" "$sweep" --preset quick --data-dir "$DATA" --out "$tmp/$sweep-whole" >/dev/null 2>&1
    for i in 0 1 2; do
        "$CB" "$sweep" --preset quick --data-dir "$DATA" --shard "$i/3" --out "$tmp/$sweep-shards" >/dev/null 2>&1
    done
    "$CB" merge --out "$tmp/$sweep-shards" >/dev/null
    python3 scripts/same-report.py "$tmp/$sweep-shards/$report" "$tmp/$sweep-whole/$report"
    echo "$sweep: 3 shards merged == unsharded (quick preset, $((SECONDS - start)) s)"
done
