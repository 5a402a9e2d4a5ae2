#!/usr/bin/env bash
# Queues a sharded sweep on Slurm: SHARDS array tasks of SWEEP.sbatch, then
# merge.sbatch once every task has ended.
#   scripts/slurm/submit.sh fc_sweep|conv_sweep|autotune|precision_sweep
#   SHARDS=8 PRESET=full OUT=/shared/cb-runs/conv scripts/slurm/submit.sh conv_sweep
# On a CPU cluster:
#   CB_DEVICE=cpu PARTITION=cpu GRES= CPUS_PER_TASK=2 scripts/slurm/submit.sh fc_sweep
# The jobs' resources, as sbatch options: PARTITION (default gpu), GRES (the
# array tasks' generic resources, default gpu:1; empty: none requested) and
# CPUS_PER_TASK (default 4; the merge takes 1). SHARDS (default 3), PRESET,
# OUT, CB, CB_DATA_DIR, CB_DEVICE (default cuda) and CB_ARGS (further cb
# options, e.g. "--set epochs=3") reach both jobs (sbatch passes the
# environment on). Any SBATCH_* variable applies to both sbatch calls.
# DRY_RUN=1 prints the two sbatch commands.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: submit.sh fc_sweep|conv_sweep|autotune|precision_sweep"
sweep=${1:?$usage}
if [[ ! -f $here/$sweep.sbatch || $sweep == merge ]]; then
    echo "$usage (no $here/$sweep.sbatch)" >&2
    exit 2
fi
export SHARDS=${SHARDS:-3}
if ! [[ $SHARDS =~ ^[1-9][0-9]*$ ]]; then
    echo "SHARDS must be a count of at least 1, not $SHARDS" >&2
    exit 2
fi
export OUT=${OUT:-$HOME/cb-runs/$sweep}
partition=${PARTITION-gpu}
gres=${GRES-gpu:1}
cpus=${CPUS_PER_TASK:-4}
if ! [[ $cpus =~ ^[1-9][0-9]*$ ]]; then
    echo "CPUS_PER_TASK must be a count of at least 1, not $cpus" >&2
    exit 2
fi
where=()
[[ -n $partition ]] && where+=(--partition="$partition")
array=(sbatch --parsable "${where[@]}" --cpus-per-task="$cpus")
[[ -n $gres ]] && array+=(--gres="$gres")
array+=(--array=0-$((SHARDS - 1)) "$here/$sweep.sbatch")
merge=(sbatch "${where[@]}" --cpus-per-task=1)
if [[ -n ${DRY_RUN:-} ]]; then
    echo "${array[*]}"
    echo "${merge[*]} --dependency=afterany:JOBID $here/merge.sbatch"
    exit 0
fi
job=$("${array[@]}")
job=${job%%;*} # --parsable prints "id;cluster" on federated clusters
"${merge[@]}" --dependency=afterany:"$job" "$here/merge.sbatch"
echo "queued $SHARDS shards of $sweep (job $job) and their merge into $OUT"
