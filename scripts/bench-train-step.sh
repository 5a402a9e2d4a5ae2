#!/usr/bin/env bash
# One training step of the MNIST FNN (width 100, depth 10, batch 64) on the
# CPU: ours (benches/train_step.rs, criterion) next to PyTorch
# (scripts/bench_train_step_torch.py), same machine, same shapes, one invocation.
# Each side runs with 2 threads (or nproc) and with 1 thread.
#
# Usage: [ROUNDS=3] [BENCH_BIN=...] scripts/bench-train-step.sh    Numbers go in docs/benchmarks.md.
# (BENCH_BIN: another build of benches/train_step.rs to time; see bench-lib.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH=train_step
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
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
