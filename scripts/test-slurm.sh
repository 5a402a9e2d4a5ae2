#!/usr/bin/env bash
# The Slurm scripts under a real Slurm: a single-node cluster (Debian's
# slurmctld, slurmd and munge, configured here in a temporary folder with a
# CPU partition) runs scripts/slurm/submit.sh fc_sweep as 3 array tasks on the
# CPU on a configuration trimmed with --set, then its dependent merge; the
# merged report must equal the unsharded run's. Then a second submission,
# held, with one index cancelled while it is still pending: the merge job's
# log must name the missing units in one line, and resubmitting that index
# (and the merge) completes the sweep. The daemons and their files are
# cleaned up however the test ends. Needs root (CI runs as root) and apt-get
# when Slurm is missing.
#   scripts/test-slurm.sh   (CB: the cb binary, default target/debug/cb, which
#   CI's cargo test has built, else built here; MNIST from CB_DATA_DIR or
#   ../shared/data/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

if [[ $EUID -ne 0 ]]; then
    echo "test-slurm.sh starts Slurm's daemons and needs root" >&2
    exit 1
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    echo "installing slurmctld slurmd slurm-client munge with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge >/dev/null
fi
CB=${CB:-target/debug/cb}
[[ -x $CB ]] || cargo build --locked --bin cb
CB=$(cd "$(dirname "$CB")" && pwd)/$(basename "$CB")
DATA=${CB_DATA_DIR:-../shared/data/mnist}
DATA=$(cd "$DATA" && pwd)

tmp=$(mktemp -d /tmp/cb-slurm.XXXXXX)
chmod 755 "$tmp"
etc=$tmp/etc
mkdir -p "$etc" "$tmp/state" "$tmp/spool" "$tmp/log" "$tmp/munge" "$tmp/run"
pids=()
cleanup() {
    status=$?
    if [[ -n ${SLURM_CONF:-} ]] && command -v scancel >/dev/null; then
        scancel --user root >/dev/null 2>&1 || true
    fi
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if ((status != 0)); then
        echo "--- slurmctld log"; tail -n 30 "$tmp/log/slurmctld.log" 2>/dev/null || true
        echo "--- slurmd log"; tail -n 30 "$tmp/log/slurmd.log" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$status"
}
trap cleanup EXIT

host=$(hostname -s)
cpus=$(nproc)
mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2))
cat >"$etc/slurm.conf" <<EOF
ClusterName=cbtest
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$tmp/run/munge.socket
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool/slurmd
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$etc/slurm.conf

# munge with its own key and socket, so nothing of the host's is touched.
dd if=/dev/urandom of="$tmp/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$tmp/munge/munge.key"
munged --force --key-file="$tmp/munge/munge.key" --socket="$tmp/run/munge.socket" \
    --pid-file="$tmp/run/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" \
    --foreground >/dev/null 2>&1 &
pids+=($!)
slurmctld -D -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mix)' && break
    sleep 0.2
done
sinfo -h -o '%T' | grep -qE '^(idle|mix)' || { echo "the node did not come up" >&2; sinfo >&2 || true; exit 1; }
echo "slurm up: $(sinfo -h -o '%P %D %T %c')"

# The sweep, trimmed: two widths, two depths, short epochs, two boundary seeds.
sets="--set widths=10,25 --set depths=2,4 --set epochs=1 --set max_steps_per_epoch=20 --set train_samples=2560 --set test_samples=500 --set boundary_seeds=2 --set boundary_depth=20 --set boundary_steps=20 --set trace=[]"
export CB CB_DATA_DIR=$DATA PRESET=quick CB_DEVICE=cpu PARTITION=cpu GRES= CPUS_PER_TASK=1 CB_ARGS=$sets SHARDS=3
unsharded=$tmp/unsharded
# shellcheck disable=SC2086 # the settings split into words, as the scripts split them
"$CB" fc-sweep --preset quick --data-dir "$DATA" --out "$unsharded" $sets >/dev/null 2>&1

wait_jobs() { # until the queue is empty
    for _ in $(seq 600); do
        [[ -z $(squeue -h -o %i) ]] && return 0
        sleep 0.5
    done
    echo "jobs still queued after 5 minutes:" >&2
    squeue >&2
    return 1
}
same_report() { # the merged report equals the unsharded one, wall times aside
    python3 "$repo/scripts/same-report.py" "$1/fc_sweep.json" "$unsharded/fc_sweep.json"
}

# 1. Three array tasks and the merge, as submitted.
cd "$tmp"
OUT=$tmp/run1 "$repo/scripts/slurm/submit.sh" fc_sweep
wait_jobs
same_report "$tmp/run1"
echo "ok: 3 array tasks and the merge under Slurm equal the unsharded run"

# 2. Held, index 1 cancelled while pending, then released: the merge names
# what is missing; index 1 resubmitted, and the merge again, completes it.
SBATCH_HOLD=1 OUT=$tmp/run2 "$repo/scripts/slurm/submit.sh" fc_sweep >"$tmp/submit2.txt"
job=$(squeue -h -o '%F' | sort -n | head -n 1)
scancel "${job}_1"
for j in $(squeue -h -o '%F' | sort -u); do scontrol release "$j"; done
wait_jobs
merge_log=$(ls -t "$tmp"/cb-merge-*.log | head -n 1)
grep -q "missing" "$merge_log" || { echo "merge log without the missing units:" >&2; cat "$merge_log" >&2; exit 1; }
[[ $(grep -c "missing" "$merge_log") == 1 ]] || { echo "more than one line about missing units:" >&2; cat "$merge_log" >&2; exit 1; }
echo "ok: the merge after a cancelled index says: $(grep missing "$merge_log")"
OUT=$tmp/run2 sbatch --array=1 --partition=cpu --cpus-per-task=1 "$repo/scripts/slurm/fc_sweep.sbatch" >/dev/null
wait_jobs
OUT=$tmp/run2 sbatch --partition=cpu "$repo/scripts/slurm/merge.sbatch" >/dev/null
wait_jobs
same_report "$tmp/run2"
echo "ok: index 1 resubmitted, the merge completes the sweep"
echo "slurm tests passed"
