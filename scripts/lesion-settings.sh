#!/usr/bin/env bash
# Which lesson-scale settings give a trained ResNet-120 conflicting blocks:
# `cb lesion` at the lesson preset with a cheap lesion part (500 or 2,000
# test images, one draw, two counts) and the training settings of each row,
# then a summary of each run (its configuration, the net's accuracies, its
# conflicting blocks, the fewest bundles of any branch) in
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
# name|width divisor, epochs, learning rate, weight decay, batch size, test
# images (the rest as the lesson preset: ResNet-120, MNIST, 2,048 samples
# for the metric).
settings=(
    "wd8-e2|8 2 0.001 0.01 64 500"
    "wd16-e2-bs256|16 2 0.001 0.01 256 500"
    "wd16-e2-lr1e-2|16 2 0.01 0.01 64 500"
    "wd16-e6|16 6 0.001 0.01 64 500"
    "wd16-e2-wdk0.5|16 2 0.001 0.5 64 500"
    "wd16-e2-wdk0.1-lr1e-2|16 2 0.01 0.1 64 500"
    "wd16-e2-wdk0.5-lr1e-2|16 2 0.01 0.5 64 500"
    "wd16-e4-wdk0.5-lr1e-2|16 4 0.01 0.5 64 500"
    "wd16-e2-wdk1-lr1e-2|16 2 0.01 1.0 64 500"
    "wd8-e2-wdk0.5-lr1e-2|8 2 0.01 0.5 64 500"
    "wd8-e4-wdk0.5-lr1e-2|8 4 0.01 0.5 64 2000"
    "wd16-e4-wdk1-lr5e-3|16 4 0.005 1.0 64 2000"
)
mkdir -p "$OUT"
for s in "${settings[@]}"; do
    name=${s%%|*}
    read -r w e lr wd bs t <<<"${s#*|}"
    sets=(--set width_divisor="$w" --set epochs="$e" --set learning_rate="$lr"
        --set weight_decay="$wd" --set batch_size="$bs" --set test_samples="$t"
        --set draws=1 --set counts=2)
    [[ -f $OUT/les-$name/lesion.json ]] && continue
    start=$SECONDS
    "$CB" lesion --preset lesson --data-dir "$DATA" --out "$OUT/les-$name" "${sets[@]}" >"$OUT/les-$name.log" 2>&1
    echo "$name: $((SECONDS - start)) s"
done
python3 scripts/lesion-settings.py "$OUT" results/studies/lesion_settings.json
