#!/usr/bin/env bash
# Wall time of one sweep preset, two `cb` binaries side by side, alternating
# (A B A B ...), same data, same machine: e.g. the binary of an older commit
# against this tree's.
#
# Usage: scripts/bench-sweep.sh OLD_CB NEW_CB SWEEP PRESET [ROUNDS]
#   e.g. scripts/bench-sweep.sh /tmp/cb-old target/release/cb fc-sweep lesson 1
# Data: $CB_DATA_DIR (else data/). Each run writes to a fresh temporary
# folder; the two reports of a round are compared with their wall times left
# out (python3), so a speed-up that changed a number would show. Numbers go
# in docs/benchmarks.md.
set -euo pipefail
old=$1 new=$2 sweep=$3 preset=$4 rounds=${5:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
report=$(tr - _ <<<"$sweep").json
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    for side in old new; do
        bin=$old; [ "$side" = new ] && bin=$new
        out="$work/$side-$r"
        start=$(date +%s.%N)
        "$bin" "$sweep" --preset "$preset" --out "$out" >"$out.log" 2>&1 \
            || { echo "$side failed: $(tail -1 "$out.log")"; exit 1; }
        end=$(date +%s.%N)
        printf '%s round %s: %.1f s (load %s)\n' "$side" "$r" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"
    done
    python3 - "$work/old-$r/$report" "$work/new-$r/$report" <<'PY'
import json, sys
TIMES = {"seconds", "inference_ms"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in TIMES}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
a, b = (strip(json.load(open(p))) for p in sys.argv[1:])
# Settings a newer binary writes that an older one did not: equal when
# absent from the older report (the defaults it trained with).
for k in set(b["config"]) - set(a["config"]):
    del b["config"][k]
print("reports (wall times aside):", "same" if a == b else "DIFFERENT")
PY
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
