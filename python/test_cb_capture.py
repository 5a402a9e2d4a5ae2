"""cb_capture.py on a real PyTorch model, end to end with `cb report`.

Trains a deep narrow fully connected net (the paper's FNN shape: Linear +
ReLU blocks) on MNIST for one epoch, captures the ReLU outputs of every
block for 2048 test images with cb_capture, runs `cb report` on them, and
checks every layer against the numpy oracle (bundle_oracle.py).

    python python/test_cb_capture.py target/release/cb /path/to/mnist [depth] [width]

Needs torch and numpy (the benchmarks' private venv: scripts/test-capture.sh
sets it up). Not part of CI: torch is too large for it; CI tests the file
formats with numpy (test_report_files.py).
"""

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bundle_oracle  # noqa: E402
import cb_capture  # noqa: E402


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist(root, split):
    x = load_idx(os.path.join(root, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = load_idx(os.path.join(root, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
    return torch.from_numpy(x.reshape(len(x), -1)), torch.from_numpy(y)


class Fnn(nn.Module):
    def __init__(self, depth, width):
        super().__init__()
        dims = [784] + [width] * depth
        self.layers = nn.ModuleList(
            nn.Sequential(nn.Linear(dims[i], dims[i + 1]), nn.ReLU()) for i in range(depth)
        )
        self.head = nn.Linear(width, 10)

    def forward(self, x):
        for l in self.layers:
            x = l(x)
        return self.head(x)


def main():
    cb, root = os.path.abspath(sys.argv[1]), sys.argv[2]
    depth = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    width = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    torch.manual_seed(0)
    xtr, ytr = mnist(root, "train")
    xte, yte = mnist(root, "t10k")
    model = Fnn(depth, width)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.time()
    for x, y in torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=64, shuffle=True):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    print(f"trained FNN depth {depth} width {width}, 1 epoch: test accuracy {acc:.4f} ({time.time() - t0:.0f} s)")

    tmp = tempfile.mkdtemp(prefix="cb-capture-test-")
    acts, labels = os.path.join(tmp, "acts.npz"), os.path.join(tmp, "labels.npy")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xte, yte), batch_size=500)
    # The blocks' outputs (after ReLU): modules named layers.0 ... layers.{depth-1}.
    info = cb_capture.capture(model, loader, include=["layers.*"], exclude=["layers.*.*"],
                              samples=2048, out=acts, labels_out=labels)
    assert info["layers"] == [f"layers.{i}" for i in range(depth)], info["layers"]
    assert info["samples"] == 2048
    w = cb_capture.max_abs_weight(model, include=["layers.*.weight"])
    out = os.path.join(tmp, "report")
    cmd = [cb, "report", acts, "--labels", labels, "--max-weight", repr(w), "--out", out]
    print("$ " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    print(r.stdout)
    assert r.returncode == 0, r.stderr

    rep = json.load(open(os.path.join(out, "report.json")))
    y = np.load(labels)
    npz = np.load(acts)
    assert [l["name"] for l in rep["layers"]] == info["layers"]
    for row in rep["layers"]:
        a = npz[row["name"]]
        bundles, h, share = bundle_oracle.layer(a, y, np.float32(w))
        assert row["num_bundles"] == bundles and abs(row["bundle_entropy"] - h) < 1e-9, (row, bundles, h)
    # The same numbers as the model's own forward pass, recomputed here.
    with torch.no_grad():
        x = xte[:2048]
        for i, l in enumerate(model.layers):
            x = l(x)
            assert np.array_equal(x.numpy(), npz[f"layers.{i}"]), i
    print(f"test_cb_capture.py: {depth} layers match the numpy oracle ({tmp})")


if __name__ == "__main__":
    main()
