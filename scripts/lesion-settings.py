"""Summarises the runs of scripts/lesion-settings.sh: for each OUT/les-NAME
(a `cb lesion` output folder), the settings that differ from the lesson
preset's, the trained net's accuracies and its conflicting blocks.

    python3 scripts/lesion-settings.py OUT SUMMARY.json
"""

import json
import sys
from pathlib import Path

out, summary = Path(sys.argv[1]), Path(sys.argv[2])
lesson = None
runs = []
for report in sorted(out.glob("les-*/lesion.json")):
    r = json.loads(report.read_text())
    cfg, net = r["config"], r["net"]
    blocks = net["blocks"]
    runs.append(
        {
            "name": report.parent.name.removeprefix("les-"),
            "config": cfg,
            "train_accuracy": net["train_accuracy"],
            "test_accuracy": net["test_accuracy"],
            "conflicting": [b["block"] for b in blocks if b["conflicting"]],
            "blocks": len(blocks),
            "fewest_branch_bundles": min(b["branch_bundles"] for b in blocks),
            "single_drop_accuracy": {str(s["block"]): s["accuracy"] for s in r["single"]},
        }
    )
summary.parent.mkdir(parents=True, exist_ok=True)
summary.write_text(
    json.dumps(
        {
            "command": "scripts/lesion-settings.sh",
            "note": "cb lesion --preset lesson with test_samples, draws and counts cut down and the named settings changed; see docs/results.md, 'Lesson lesion study'",
            "runs": runs,
        },
        indent=1,
    )
    + "\n"
)
for r in runs:
    c = r["config"]
    print(
        f"{r['name']:24} ÷{c['width_divisor']:<3} epochs {c['epochs']} lr {c['learning_rate']:g} wd {c.get('weight_decay', 0.01):g} bs {c['batch_size']}: "
        f"train {100 * r['train_accuracy']:.1f} %, test {100 * r['test_accuracy']:.1f} %, "
        f"{len(r['conflicting'])} of {r['blocks']} conflicting, fewest branch bundles {r['fewest_branch_bundles']}"
    )
