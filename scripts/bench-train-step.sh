#!/usr/bin/env bash
# One training step of the MNIST FNN (width 100, depth 10, batch 64) on the
# CPU: ours (benches/train_step.rs, criterion) next to PyTorch
# (scripts/bench_train_step_torch.py), same machine, same shapes, one invocation.
# Each side runs with 2 threads (or nproc) and with 1 thread.
#
# Usage: [ROUNDS=3] scripts/bench-train-step.sh    Numbers go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.cache/torch-venv   # ignored folder, reused across runs
PY=$VENV/bin/python
THREADS_MAX=$(( $(nproc) < 2 ? $(nproc) : 2 ))
THREADS=$(printf '%s\n' "$THREADS_MAX" 1 | uniq)

# --- PyTorch in a private venv (the CPU wheel is ~10x smaller than the CUDA one).
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "==> installing torch into $VENV" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 ||
        { echo "(CPU wheel index unreachable; installing torch from PyPI)" >&2
          "$PY" -m pip install -q torch >&2; }
fi

# --- Ours: build once, then run the criterion binary per thread count (so
# edits elsewhere in the tree cannot trigger a rebuild between runs).
# RAYON_NUM_THREADS sizes the pool that dfdx's matmuls (gemm) run on.
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$(cargo bench --bench train_step --no-run --message-format=json | "$PY" -c '
import json, sys
for m in map(json.loads, sys.stdin):
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "train_step" and m.get("executable"):
        print(m["executable"])')
LOG=$(mktemp); trap 'rm -f "$LOG"' EXIT
ours_ms() { # $1 = threads, $2 = bench id; prints criterion's median, ms/step
    local est=$TARGET/criterion/$2/new/estimates.json
    rm -f "$est"   # never report a stale run
    RAYON_NUM_THREADS=$1 CARGO_TARGET_DIR=$TARGET "$BIN" --bench --noplot "$2\$" >"$LOG" 2>&1 ||
        { cat "$LOG" >&2; return 1; }
    "$PY" -c 'import json,sys; print("%.4f" % (json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e6))' "$est"
}

# The machine is shared, so the sides alternate for ROUNDS rounds and each
# cell is the best (lowest) median: the least disturbed run of each.
ROUNDS=${ROUNDS:-3}
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b + 0 < a + 0) ? b : a}'; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A OURS OURS_GN TORCH
for r in $(seq "$ROUNDS"); do
    for n in $THREADS; do
        echo "==> round $r/$ROUNDS, $n thread(s): ours, ours+gn, torch" >&2
        o=$(ours_ms "$n" fnn_w100_d10_b64/ranger_step)
        g=$(ours_ms "$n" fnn_w100_d10_b64/ranger_step_grad_norm)
        out=$("$PY" scripts/bench_train_step_torch.py --threads "$n")
        t=$(grep -o 'median_ms=[0-9.]*' <<<"$out" | cut -d= -f2)
        TORCH_VERSION=$(cut -d' ' -f1-2 <<<"$out")
        echo "    $o $g $t" >&2
        OURS[$n]=$(min "${OURS[$n]:-}" "$o")
        OURS_GN[$n]=$(min "${OURS_GN[$n]:-}" "$g")
        TORCH[$n]=$(min "${TORCH[$n]:-}" "$t")
    done
done

# --- Table.
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load avg before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(rustc --version); $TORCH_VERSION"
echo "MNIST FNN 784-100x10-10, batch 64, one Ranger step (RAdam + Lookahead k=6), ms/step"
echo "best of $ROUNDS alternating runs of each side's median (criterion's for ours);"
echo "ours+gn also computes the trainer's gradient norm"
printf '%-8s %10s %10s %10s %12s\n' threads ours ours+gn torch ours/torch
for n in $THREADS; do
    printf '%-8s %10s %10s %10s %12s\n' "$n" "${OURS[$n]}" "${OURS_GN[$n]}" "${TORCH[$n]}" \
        "$(awk -v a="${OURS[$n]}" -v b="${TORCH[$n]}" 'BEGIN{printf "%.2f", a/b}')"
done
