"""Exits 0 when two sweep reports hold the same results, wall times aside
(`seconds`, `*_ms`, `wall*`, `elapsed*` keys differ between any two runs),
else 1 naming the first file. What the shard checks compare a merged report
with the unsharded run's by (scripts/check-shards.sh, scripts/test-slurm.sh).

    python3 scripts/same-report.py A.json B.json
"""

import json
import re
import sys

TIMES = re.compile(r"seconds|_ms$|wall|elapsed")


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not TIMES.search(k)}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


if len(sys.argv) != 3:
    sys.exit(__doc__)
a, b = (strip(json.load(open(p))) for p in sys.argv[1:3])
sys.exit(0 if a == b else f"{sys.argv[1]}: differs from {sys.argv[2]}")
