#!/usr/bin/env bash
# A sharded sweep on one machine with several GPUs, without a scheduler:
# shard i of N runs on GPU i (CUDA_VISIBLE_DEVICES=i), all N at once; when
# all have ended, `cb merge` writes the usual report and charts.
#   scripts/run-shards.sh SWEEP N [cb options, --out DIR among them]
#   scripts/run-shards.sh conv-sweep 4 --preset full --out runs/conv
# SWEEP: fc-sweep, conv-sweep, autotune, lesion, lbe or precision-sweep; `--shard i/N
# --device cuda` are added (do not pass them). Each shard logs to
# DIR/shard-i-of-N.log. A failed shard resumes when the same command runs
# again. CB names the binary (default: cb on PATH). DRY_RUN=1 prints the
# commands instead of running them.
set -euo pipefail
usage="usage: run-shards.sh fc-sweep|conv-sweep|autotune|lesion|lbe|precision-sweep N [cb options with --out DIR]"
sweep=${1:?$usage}
n=${2:?$usage}
shift 2
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "N must be a count of at least 1, not $n" >&2
    exit 2
fi
args=("$@")
out=
for ((k = 0; k < ${#args[@]}; k++)); do
    case ${args[k]} in
    --out) out=${args[k + 1]:-} ;;
    --out=*) out=${args[k]#--out=} ;;
    esac
done
if [[ -z $out ]]; then
    echo "run-shards.sh: pass --out DIR, the shards' shared folder" >&2
    exit 2
fi
CB=${CB:-cb}
show() {
    local line
    line=$(printf ' %q' "$@")
    echo "${line:1}"
}

pids=()
for ((i = 0; i < n; i++)); do
    cmd=("$CB" "$sweep" "${args[@]}" --shard "$i/$n" --device cuda)
    if [[ -n ${DRY_RUN:-} ]]; then
        echo "CUDA_VISIBLE_DEVICES=$i $(show "${cmd[@]}")"
    else
        mkdir -p "$out"
        CUDA_VISIBLE_DEVICES=$i "${cmd[@]}" >"$out/shard-$i-of-$n.log" 2>&1 &
        pids+=($!)
    fi
done
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
if [[ -n ${DRY_RUN:-} ]]; then
    show "$CB" merge --out "$out"
    exit 0
fi
((failed == 0)) || echo "a shard failed (see $out/shard-*-of-$n.log); merging what is there" >&2
"$CB" merge --out "$out"
exit "$failed"
