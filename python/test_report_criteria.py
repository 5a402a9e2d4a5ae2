"""`cb report --criteria` against the numpy oracles (criteria_oracle.py for
batch entropy, block influence and angular distance, bundle_oracle.py for
the bundle metric): every selected criterion in report.json, report.csv and
the chart, not applicable (null, empty) across widths and past the last
layer, zero rows, the default unchanged, and the one-line errors.

    python python/test_report_criteria.py target/debug/cb

Needs numpy; CI runs it from scripts/test-python.sh. Exits non-zero on the
first failure.
"""

import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle_oracle  # noqa: E402
import criteria_oracle  # noqa: E402

CB = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/cb")
N, C = 300, 4
rng = np.random.default_rng(31)
labels = rng.integers(0, C, N).astype(np.int64)
KEYS = ["batch_entropy", "angular_distance", "block_influence"]


def model_layers():
    """A small ReLU net's layers in file order: widths 8, 8, 8, 4, 4, 4 (so
    similarities across the 8 -> 4 step do not apply), zero rows in two
    layers (both zero and one zero), a constant unit, a float16 layer."""
    stem = rng.normal(size=(N, 2, 4)).astype(np.float32)
    w1 = rng.normal(size=(8, 8)).astype(np.float32)
    block0 = np.maximum(stem.reshape(N, 8) @ w1, 0).astype(np.float32)
    block0[:10] = 0.0  # rows 0-9 zero
    block1 = np.maximum(block0 @ rng.normal(size=(8, 8)).astype(np.float32) + 0.1, 0).astype(np.float32)
    block1[:5] = 0.0  # rows 0-4 zero in both, 5-9 zero in block0 only
    pool = block1.reshape(N, 4, 2).mean(axis=2)
    head = (pool @ rng.normal(size=(4, 4)).astype(np.float32)).astype(np.float16)
    tail = np.concatenate([rng.normal(size=(N, 3)), np.full((N, 1), 0.5)], axis=1).astype(np.float32)
    return [("stem", stem), ("block.0", block0), ("block.1", block1), ("pool", pool),
            ("head", head), ("tail", tail)]


def cb(*args, ok=True):
    r = subprocess.run([CB, *map(str, args)], capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise AssertionError(f"cb {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def close(got, want, name):
    if want is None:
        assert got is None, (name, got)
    else:
        assert got is not None and abs(got - want) <= 1e-9 * max(1.0, abs(want)), (name, got, want)


def check(out, layers, selected, skip):
    rep = json.load(open(os.path.join(out, "report.json")))
    want = criteria_oracle.per_layer(layers, skip)
    assert [l["name"] for l in rep["layers"]] == [n for n, _ in layers]
    with open(os.path.join(out, "report.csv"), newline="") as f:
        table = list(csv.DictReader(f))
    for i, (row, line) in enumerate(zip(rep["layers"], table)):
        name = row["name"]
        for key in KEYS:
            if key not in selected:
                assert key not in row and key not in line, (name, key)
                continue
            # JSON: the value, or null where the criterion does not apply.
            assert key in row, (name, key)
            close(row[key], want[key][i], f"{name} {key}")
            # CSV: the same number, or an empty cell.
            close(None if line[key] == "" else float(line[key]), want[key][i], f"{name} {key} csv")
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert "Plotly.newPlot" in page and "<script src=" not in page
    titles = {"batch_entropy": "batch entropy", "angular_distance": f"angular (l, l+{skip})",
              "block_influence": "block influence"}
    for key in selected:
        assert f'"name":"{titles[key]}"' in page, key
    return rep


def main():
    tmp = tempfile.mkdtemp(prefix="cb-criteria-test-")
    p = lambda *a: os.path.join(tmp, *a)  # noqa: E731
    np.save(p("labels.npy"), labels)
    layers = model_layers()
    np.savez(p("acts.npz"), **dict(layers))
    want = criteria_oracle.per_layer(layers, 1)
    # The planted structure is there (else the test would check little).
    assert want["block_influence"][3] is None and want["angular_distance"][2] is None
    assert want["block_influence"][1] is not None and want["angular_distance"][3] is not None

    # The three similarity-free-of-w_max criteria, no --max-weight needed.
    cb("report", p("acts.npz"), "--labels", p("labels.npy"),
       "--criteria", "batch-entropy,angular,block-influence", "--out", p("out_all"))
    rep = check(p("out_all"), layers, KEYS, 1)
    assert "config" not in rep and all("bundle_entropy" not in l for l in rep["layers"])

    # With bundle, angular over 3 layers: bundle numbers as the oracle's.
    cb("report", p("acts.npz"), "--labels", p("labels.npy"), "--criteria", "angular,bundle",
       "--angular-skip", 3, "--max-weight", 1, "--out", p("out_b3"))
    rep = check(p("out_b3"), layers, ["angular_distance"], 3)
    assert rep["criteria"] == ["bundle", "angular"] and rep["angular_skip"] == 3
    for row, (name, a) in zip(rep["layers"], layers):
        bundles, h, share = bundle_oracle.layer(a.astype(np.float32), labels, 1.0)
        assert row["num_bundles"] == bundles and abs(row["bundle_entropy"] - h) < 1e-9, name

    # The default: the bundle columns only, as before --criteria.
    cb("report", p("acts.npz"), "--labels", p("labels.npy"), "--max-weight", 1, "--out", p("out_d"))
    rep = json.load(open(p("out_d", "report.json")))
    assert "criteria" not in rep and all(k not in l for l in rep["layers"] for k in KEYS)
    header = open(p("out_d", "report.csv")).readline().strip()
    assert header == "index,name,features,num_bundles,largest_bundle_share,bundle_entropy,conflicting,non_finite"

    # Bad input: one line, non-zero exit, no report.
    for args, needle in [
        (["--criteria", "bundle,angular"], "give one of --max-weight"),
        (["--criteria", "cka"], "unknown criterion 'cka'"),
        (["--criteria", "angular", "--max-weight", 1], "leaves out"),
    ]:
        out = p("err")
        r = cb("report", p("acts.npz"), "--labels", p("labels.npy"), *args, "--out", out, ok=False)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and len(lines) == 1 and needle in lines[0], (args, r.stderr)
        assert not os.path.exists(out), args
    print(f"python/test_report_criteria.py: all checks passed ({tmp})")


if __name__ == "__main__":
    main()
