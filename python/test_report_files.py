"""`cb report` on files made by numpy and by the safetensors package, against
the numpy oracle (bundle_oracle.py): every input format, the outputs (JSON,
CSV, HTML), the f16 precision, --weights, and bad input.

    python python/test_report_files.py target/debug/cb

Needs numpy and safetensors (python/requirements.txt); CI runs it from
scripts/test-python.sh. Exits non-zero on the first failure.
"""

import csv
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle_oracle  # noqa: E402

CB = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/debug/cb")
N, C = 300, 3
rng = np.random.default_rng(7)
labels = rng.integers(0, C, N).astype(np.int64)


def planted_layers():
    """Layers (name, array) in model order, each with a known kind of bundling."""
    protos = rng.normal(size=(4, 6)).astype(np.float32)
    pick = rng.integers(0, 4, N)
    tiny = (rng.normal(size=(N, 6)) * 1e-9).astype(np.float32)
    return [
        # All samples apart: no bundles, H = 0.
        ("stem", rng.normal(size=(N, 4, 2, 2)).astype(np.float32)),
        # Four prototypes plus noise far below f32 resolution: 4 bundles of mixed labels.
        ("block.2", protos[pick] + tiny),
        # Differences f32 resolves but f16 does not (|a| < 1, w_max 1).
        ("block.10", rng.uniform(0, 1, size=(N, 3)).astype(np.float32)),
        # Everything collapsed: one bundle, H near ln 3.
        ("head", np.full((N, 5), 0.25, np.float32) + tiny[:, :5]),
    ]


def natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def cb(*args, ok=True):
    r = subprocess.run([CB, *map(str, args)], capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise AssertionError(f"cb {' '.join(map(str, args))} failed: {r.stderr}")
    return r


def check_report(out, layers, w_max, dtype=np.float32):
    rep = json.load(open(os.path.join(out, "report.json")))
    names = [l["name"] for l in rep["layers"]]
    assert names == [n for n, _ in layers], (names, [n for n, _ in layers])
    assert rep["num_samples"] == N
    for row, (name, a) in zip(rep["layers"], layers):
        bundles, h, share = bundle_oracle.layer(a, labels, w_max, dtype=dtype)
        got = (row["num_bundles"], row["bundle_entropy"], row["largest_bundle_share"])
        assert row["num_bundles"] == bundles, (name, got, (bundles, h, share))
        assert abs(row["bundle_entropy"] - h) < 1e-9, (name, got, (bundles, h, share))
        assert abs(row["largest_bundle_share"] - share) < 1e-12, (name, got)
        assert row["features"] == a[0].size, (name, row["features"])
        assert row["conflicting"] == (h > 0), name
    with open(os.path.join(out, "report.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == names
    assert [float(r["bundle_entropy"]) for r in rows] == [l["bundle_entropy"] for l in rep["layers"]]
    page = open(os.path.join(out, "report.html"), encoding="utf-8").read()
    assert "<script src=" not in page, "report.html must open offline (no script from a server)"
    assert "Plotly.newPlot" in page and len(page) > 1_000_000, "plotly.js is embedded"
    for n in names:
        assert n in page, n
    return rep


def expect_error(args, needle, out):
    r = cb(*args, "--out", out, ok=False)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0, f"expected a failure for {args}"
    assert len(lines) == 1 and needle in lines[0], (needle, r.stderr)
    assert not os.path.exists(os.path.join(out, "report.json")), "no report on failure"
    return lines[0]


def main():
    tmp = tempfile.mkdtemp(prefix="cb-report-test-")
    p = lambda *a: os.path.join(tmp, *a)  # noqa: E731
    np.save(p("labels.npy"), labels)
    layers = planted_layers()
    w_max = 1.0

    # .npz as numpy writes it, stored and deflated: the file's order.
    np.savez(p("acts.npz"), **dict(layers))
    np.savez_compressed(p("acts_z.npz"), **dict(layers))
    for f in ("acts.npz", "acts_z.npz"):
        cb("report", p(f), "--labels", p("labels.npy"), "--max-weight", w_max, "--out", p("out_" + f))
        rep = check_report(p("out_" + f), layers, w_max)
    first = rep["layers"][[l["conflicting"] for l in rep["layers"]].index(True)]["name"]
    assert first == "block.2", first

    # The same layers in f16: block.10's differences vanish.
    cb("report", p("acts.npz"), "--labels", p("labels.npy"), "--max-weight", w_max,
       "--precision", "f16", "--out", p("out_f16"))
    rep16 = check_report(p("out_f16"), layers, w_max, dtype=np.float16)
    assert rep16["layers"][2]["num_bundles"] < rep["layers"][2]["num_bundles"]

    # .safetensors (its writer orders tensors by name: natural order is read).
    save_file({n: np.ascontiguousarray(a) for n, a in layers}, p("acts.safetensors"))
    cb("report", p("acts.safetensors"), "--labels", p("labels.npy"), "--max-weight", w_max,
       "--out", p("out_st"))
    check_report(p("out_st"), sorted(layers, key=lambda l: natural_key(l[0])), w_max)

    # A folder of .npy files: natural order of the file names.
    os.mkdir(p("npy"))
    for n, a in layers:
        np.save(p("npy", n + ".npy"), a)
    cb("report", p("npy"), "--labels", p("labels.npy"), "--max-weight", w_max, "--out", p("out_dir"))
    check_report(p("out_dir"), sorted(layers, key=lambda l: natural_key(l[0])), w_max)

    # --weights: w_max from the tensors matching the glob only.
    weights = {
        "fc1.weight": rng.normal(size=(6, 4)).astype(np.float32),
        "fc1.bias": np.array([9.0, -1.0], np.float32),
        "fc2.weight": rng.normal(size=(3, 6)).astype(np.float32) * 0.3,
    }
    save_file(weights, p("weights.safetensors"))
    cb("report", p("acts.npz"), "--labels", p("labels.npy"), "--weights", p("weights.safetensors"),
       "--weights-include", "*.weight", "--out", p("out_w"))
    w = max(float(np.abs(weights[k]).max()) for k in ("fc1.weight", "fc2.weight"))
    rep_w = check_report(p("out_w"), layers, np.float32(w))
    assert rep_w["config"]["criterion"]["resolution"]["w_max"] == np.float32(w)

    # Bad input: one line naming the problem, non-zero exit, no report.
    np.savez(p("short.npz"), good=layers[0][1], bad=layers[1][1][:-1])
    expect_error(["report", p("short.npz"), "--labels", p("labels.npy"), "--max-weight", 1],
                 "'bad'", p("e1"))
    np.savez(p("text.npz"), good=layers[0][1], names=np.array(["x"] * N))
    expect_error(["report", p("text.npz"), "--labels", p("labels.npy"), "--max-weight", 1],
                 "names", p("e2"))
    open(p("empty.npz"), "wb").close()
    expect_error(["report", p("empty.npz"), "--labels", p("labels.npy"), "--max-weight", 1],
                 "empty.npz", p("e3"))
    expect_error(["report", p("acts.npz"), "--labels", p("missing.npy"), "--max-weight", 1],
                 "missing.npy", p("e4"))
    np.save(p("few.npy"), labels[:10])
    expect_error(["report", p("acts.npz"), "--labels", p("few.npy"), "--max-weight", 1],
                 "10", p("e5"))
    print(f"python/test_report_files.py: all checks passed ({tmp})")


if __name__ == "__main__":
    main()
