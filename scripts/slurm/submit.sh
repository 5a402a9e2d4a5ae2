#!/usr/bin/env bash
# Queues a sharded sweep on Slurm: SHARDS array tasks of SWEEP.sbatch (one
# GPU each), then merge.sbatch once every task has ended.
#   scripts/slurm/submit.sh fc_sweep|conv_sweep|autotune|precision_sweep
#   SHARDS=8 PRESET=full OUT=/shared/cb-runs/conv scripts/slurm/submit.sh conv_sweep
# SHARDS (default 3), PRESET, OUT, CB and CB_DATA_DIR reach both jobs (sbatch
# passes the environment on). DRY_RUN=1 prints the two sbatch commands.
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
array=(sbatch --parsable --array=0-$((SHARDS - 1)) "$here/$sweep.sbatch")
if [[ -n ${DRY_RUN:-} ]]; then
    echo "${array[*]}"
    echo "sbatch --dependency=afterany:JOBID $here/merge.sbatch"
    exit 0
fi
job=$("${array[@]}")
job=${job%%;*} # --parsable prints "id;cluster" on federated clusters
sbatch --dependency=afterany:"$job" "$here/merge.sbatch"
echo "queued $SHARDS shards of $sweep (job $job) and their merge into $OUT"
