#!/usr/bin/env bash
# Conv training on the CPU: ours (benches/conv_step.rs, criterion) next to
# PyTorch (scripts/bench_conv_step_torch.py), same machine, same shapes, one
# invocation. Three benches:
#   conv3x3_c32_16px_b64/fwd_bwd    one 3x3 conv, 32 -> 32 channels, (64, 16, 16, 32) map,
#                                   forward + weight and input gradients
#   vgg20_div8_b64/ranger_step      one training step (batch-norm training mode,
#   resnet20_div8_b64/ranger_step   cross-entropy, backward, RAdam + Lookahead) of the
#                                   depth-20 net at widths 8/16/32/64, batch 64 of 1x32x32
# Each side runs with 2 threads (or nproc) and with 1 thread. PyTorch runs both
# memory formats (NCHW and channels-last) and the table keeps its faster one.
#
# Usage: [ROUNDS=3] [TORCH_VENV=path] scripts/bench-conv-step.sh
# Numbers go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${TORCH_VENV:-.cache/torch-venv}   # ignored folder, reused across runs
PY=$VENV/bin/python
THREADS_MAX=$(( $(nproc) < 2 ? $(nproc) : 2 ))
THREADS=$(printf '%s\n' "$THREADS_MAX" 1 | uniq)
BENCHES="conv3x3_c32_16px_b64/fwd_bwd vgg20_div8_b64/ranger_step resnet20_div8_b64/ranger_step"

# --- PyTorch in a private venv (the CPU wheel is ~10x smaller than the CUDA one).
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "==> installing torch into $VENV" >&2
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip >&2
    "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu >&2 ||
        { echo "(CPU wheel index unreachable; installing torch from PyPI)" >&2
          "$PY" -m pip install -q torch >&2; }
fi

# --- Ours: build once, then run the criterion binary per thread count and
# bench (so edits elsewhere in the tree cannot trigger a rebuild between runs).
# RAYON_NUM_THREADS sizes the pool that im2col/col2im and the matmuls run on.
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
BIN=$(cargo bench --bench conv_step --no-run --message-format=json | "$PY" -c '
import json, sys
for m in map(json.loads, sys.stdin):
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "conv_step" and m.get("executable"):
        print(m["executable"])')
LOG=$(mktemp); trap 'rm -f "$LOG"' EXIT
ours_ms() { # $1 = threads, $2 = bench id; prints criterion's median, ms/iteration
    local est=$TARGET/criterion/$2/new/estimates.json
    rm -f "$est"   # never report a stale run
    RAYON_NUM_THREADS=$1 CARGO_TARGET_DIR=$TARGET "$BIN" --bench --noplot "^$2\$" >"$LOG" 2>&1 ||
        { cat "$LOG" >&2; return 1; }
    "$PY" -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["median"]["point_estimate"] / 1e6))' "$est"
}

# The machine is shared, so the sides alternate for ROUNDS rounds and each
# cell is the best (lowest) median: the least disturbed run of each.
ROUNDS=${ROUNDS:-3}
min() { awk -v a="$1" -v b="$2" 'BEGIN{print (a == "" || b + 0 < a + 0) ? b : a}'; }
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A OURS TORCH TORCH_FMT
for r in $(seq "$ROUNDS"); do
    for n in $THREADS; do
        echo "==> round $r/$ROUNDS, $n thread(s): ours, then torch" >&2
        for b in $BENCHES; do
            o=$(ours_ms "$n" "$b")
            echo "    ours  $b $o" >&2
            OURS[$n,$b]=$(min "${OURS[$n,$b]:-}" "$o")
        done
        out=$("$PY" scripts/bench_conv_step_torch.py --threads "$n")
        TORCH_VERSION=$(head -n1 <<<"$out" | cut -d' ' -f1-2)
        while read -r line; do
            b=$(grep -o 'bench=[^ ]*' <<<"$line" | cut -d= -f2)
            f=$(grep -o 'format=[^ ]*' <<<"$line" | cut -d= -f2)
            t=$(grep -o 'median_ms=[0-9.]*' <<<"$line" | cut -d= -f2)
            echo "    torch $b $f $t" >&2
            best=$(min "${TORCH[$n,$b]:-}" "$t")
            if [ "$best" = "$t" ]; then TORCH_FMT[$n,$b]=$f; fi
            TORCH[$n,$b]=$best
        done <<<"$out"
    done
done

# --- Table.
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load avg before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(rustc --version); $TORCH_VERSION"
echo "ms per iteration, best of $ROUNDS alternating runs of each side's median (criterion's for ours);"
echo "torch: the faster memory format (contiguous = NCHW, channels_last = NHWC)"
printf '%-8s %-32s %10s %10s %-14s %11s\n' threads bench ours torch "torch format" ours/torch
for n in $THREADS; do
    for b in $BENCHES; do
        printf '%-8s %-32s %10s %10s %-14s %11s\n' "$n" "$b" "${OURS[$n,$b]}" "${TORCH[$n,$b]}" "${TORCH_FMT[$n,$b]}" \
            "$(awk -v a="${OURS[$n,$b]}" -v b="${TORCH[$n,$b]}" 'BEGIN{printf "%.2f", a/b}')"
    done
done
