#!/usr/bin/env bash
# Conv training on the CPU: ours (benches/conv_step.rs, criterion) next to
# PyTorch (scripts/bench_conv_step_torch.py), same machine, same shapes, one
# invocation. Five benches:
#   conv3x3_c32_16px_b64/fwd_bwd    one 3x3 conv, 32 -> 32 channels, (64, 16, 16, 32) map,
#                                   forward + weight and input gradients
#   vgg20_div8_b64/ranger_step      one training step (batch-norm training mode,
#   resnet20_div8_b64/ranger_step   cross-entropy, backward, RAdam + Lookahead) of the
#   vgg50_div8_b64/ranger_step      depth-20 and depth-50 nets at widths 8/16/32/64,
#   resnet50_div8_b64/ranger_step   batch 64 of 1x32x32
# Each side runs with 2 threads (or nproc) and with 1 thread. PyTorch runs both
# memory formats (NCHW and channels-last) and the table keeps its faster one.
#
# Usage: [ROUNDS=3] [TORCH_VENV=path] scripts/bench-conv-step.sh
# Numbers go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH=conv_step
BENCHES="conv3x3_c32_16px_b64/fwd_bwd vgg20_div8_b64/ranger_step resnet20_div8_b64/ranger_step vgg50_div8_b64/ranger_step resnet50_div8_b64/ranger_step"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
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
