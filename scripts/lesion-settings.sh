#!/usr/bin/env bash
# Which lesson-scale settings give a trained ResNet-120 conflicting blocks:
# `cb lesion` at the lesson preset with a cheap lesion part (500 or 2,000
# test images, one draw, two counts) and one setting changed per run, then a
# summary of each run (its command, the net's accuracies, its conflicting
# blocks, the fewest bundles of any branch) in
# results/studies/lesion_settings.json. Each run takes 1-5 minutes on 2
# cores; all of them about 30.
#   scripts/lesion-settings.sh [OUT]   (OUT default: out/lesion-settings;
#   MNIST from CB_DATA_DIR or ../shared/data/mnist; CB default
#   target/release/cb, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
CB=${CB:-target/release/cb}
[[ -x $CB ]] || cargo build --release --locked --bin cb
DATA=${CB_DATA_DIR:-../shared/data/mnist}
OUT=${1:-out/lesion-settings}
# name, then the --set assignments beside the lesson preset's.
settings=(
    "wd8-e2|"
    "wd16-e2-bs256|width_divisor=16 batch_size=256"
    "wd16-e2-lr1e-2|width_divisor=16 learning_rate=0.01"
    "wd16-e6|width_divisor=16 epochs=6"
    "wd16-e2-wdk0.5|width_divisor=16 weight_decay=0.5"
    "wd16-e2-wdk0.1-lr1e-2|width_divisor=16 weight_decay=0.1 learning_rate=0.01"
    "wd16-e2-wdk0.5-lr1e-2|width_divisor=16 weight_decay=0.5 learning_rate=0.01"
    "wd16-e4-wdk0.5-lr1e-2|width_divisor=16 weight_decay=0.5 learning_rate=0.01 epochs=4"
    "wd16-e2-wdk1-lr1e-2|width_divisor=16 weight_decay=1.0 learning_rate=0.01"
    "wd8-e2-wdk0.5-lr1e-2|width_divisor=8 weight_decay=0.5 learning_rate=0.01"
    "wd8-e4-wdk0.5-lr1e-2|width_divisor=8 weight_decay=0.5 learning_rate=0.01 epochs=4 test_samples=2000"
    "wd16-e4-wdk1-lr5e-3|width_divisor=16 weight_decay=1.0 learning_rate=0.005 epochs=4 test_samples=2000"
)
mkdir -p "$OUT"
for s in "${settings[@]}"; do
    name=${s%%|*}
    sets=(--set test_samples=500 --set draws=1 --set counts=2)
    for a in ${s#*|}; do sets+=(--set "$a"); done
    [[ -f $OUT/les-$name/lesion.json ]] && continue
    start=$SECONDS
    "$CB" lesion --preset lesson --data-dir "$DATA" --out "$OUT/les-$name" "${sets[@]}" >"$OUT/les-$name.log" 2>&1
    echo "$name: $((SECONDS - start)) s"
done
python3 scripts/lesion-settings.py "$OUT" results/studies/lesion_settings.json
