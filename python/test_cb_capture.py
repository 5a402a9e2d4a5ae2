"""cb_capture.py on real PyTorch models, end to end with `cb report`.

1. Trains a deep narrow fully connected net (the paper's FNN shape: Linear +
   ReLU blocks) on MNIST for one epoch, captures the ReLU outputs of every
   block for 2048 test images with cb_capture, runs `cb report` on them, and
   checks every layer against the numpy oracle (bundle_oracle.py).
2. A module called several times per forward pass: a layer per call
   (`act#1`, `act#2`), the same names for every batch, and a clear error
   when the call count changes between batches.
3. torchvision's ResNet-18 (random weights, 32x32 random images): every
   leaf module's calls, each block's reused `relu` as `relu#1` and `relu#2`
   (checked against the block recomputed from its captured input), then
   `cb report --criteria bundle,batch-entropy,angular,block-influence` over
   the capture against the numpy oracles (bundle_oracle.py, criteria_oracle.py).

    python python/test_cb_capture.py target/release/cb /path/to/mnist [depth] [width]

Needs torch, torchvision and numpy (the benchmarks' private venv:
scripts/test-capture.sh sets it up). Not part of CI: torch is too large for
it; CI tests the file formats with numpy (test_report_files.py).
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
import criteria_oracle  # noqa: E402


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


class Reuse(nn.Module):
    """One in-place ReLU module called twice, as torchvision's ResNet blocks
    do; a third call for batches of fewer than 4 samples when `uneven`."""

    def __init__(self, uneven=False):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(5, 6), nn.Linear(6, 6), nn.ReLU(inplace=True)
        self.uneven = uneven

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = self.act(self.fc2(x))
        if self.uneven and len(x) < 4:
            x = self.act(x - 0.1)
        return x


def reused_modules(tmp):
    torch.manual_seed(1)
    x, y = torch.randn(10, 5), torch.arange(10) % 3
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    acts, labels = os.path.join(tmp, "reuse.npz"), os.path.join(tmp, "reuse_y.npy")
    model = Reuse()
    info = cb_capture.capture(model, loader, samples=10, out=acts, labels_out=labels)
    # Execution order; the once-run linears keep their names.
    assert info["layers"] == ["fc1", "act#1", "fc2", "act#2"], info["layers"]
    npz = np.load(acts)
    assert list(npz.keys()) == info["layers"], list(npz.keys())
    with torch.no_grad():
        z1 = model.fc1(x)
        h1 = torch.relu(z1)
        h2 = torch.relu(model.fc2(h1))
    assert np.array_equal(npz["act#1"], h1.numpy()) and np.array_equal(npz["act#2"], h2.numpy())
    # fc1's output as it was, before the in-place ReLU overwrote it.
    assert (z1 < 0).any() and np.array_equal(npz["fc1"], z1.numpy())
    # Batches of 4, 4, 2: the last one calls `act` three times.
    try:
        cb_capture.capture(Reuse(uneven=True), loader, samples=10, out=acts, labels_out=labels)
    except ValueError as e:
        msg = str(e)
        assert "module act ran 2 time(s)" in msg and "but 3 in batch 3" in msg, msg
    else:
        raise AssertionError("a call count that changes between batches must be refused")
    print("test_cb_capture.py: a module called twice gives two layers; a changing call count is refused")


def resnet18(cb, tmp):
    import torchvision

    torch.manual_seed(2)
    # Eval mode (capture's, and restored after it): the recomputation below
    # uses the batch norms' running statistics as the capture did.
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    n = 320
    x = torch.rand(n, 3, 32, 32)
    y = torch.randint(0, 10, (n,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    acts, labels = os.path.join(tmp, "resnet.npz"), os.path.join(tmp, "resnet_y.npy")
    t0 = time.time()
    info = cb_capture.capture(model, loader, samples=n, out=acts, labels_out=labels)
    names = info["layers"]
    # Every block calls its relu twice: two layers each, in execution order.
    for block in ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"]:
        i1, i2 = names.index(f"{block}.relu#1"), names.index(f"{block}.relu#2")
        assert names[i1 - 1] == f"{block}.bn1" and names[i1 + 1] == f"{block}.conv2", names[i1 - 1: i1 + 2]
        assert names[i2 - 1] in (f"{block}.bn2", f"{block}.downsample.1"), names[i2 - 1]
        assert f"{block}.relu" not in names
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"] and names[-2:] == ["avgpool", "fc"], names
    assert info["samples"] == n
    npz = np.load(acts)
    # layer1.0 recomputed from its captured input (the max-pool's output).
    b = model.layer1[0]
    with torch.no_grad():
        inp = torch.from_numpy(npz["maxpool"]).reshape(n, 64, 8, 8)
        r1 = torch.relu(b.bn1(b.conv1(inp)))
        r2 = torch.relu(b.bn2(b.conv2(r1)) + inp)
    assert np.allclose(npz["layer1.0.relu#1"], r1.reshape(n, -1).numpy(), atol=1e-5)
    assert np.allclose(npz["layer1.0.relu#2"], r2.reshape(n, -1).numpy(), atol=1e-5)
    print(f"captured {len(names)} layers of ResNet-18 for {n} samples ({time.time() - t0:.1f} s)")

    w = cb_capture.max_abs_weight(model, include=["*conv*.weight", "fc.weight"])
    out = os.path.join(tmp, "resnet_report")
    cmd = [cb, "report", acts, "--labels", labels, "--max-weight", repr(w), "--out", out,
           "--criteria", "bundle,batch-entropy,angular,block-influence"]
    print("$ " + " ".join(cmd))
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    print(f"cb report over the capture: {time.time() - t0:.1f} s")
    rep = json.load(open(os.path.join(out, "report.json")))
    assert [l["name"] for l in rep["layers"]] == names
    layers = [(name, npz[name]) for name in names]
    want = criteria_oracle.per_layer(layers, 1)
    yy = np.load(labels)
    for i, (row, (name, a)) in enumerate(zip(rep["layers"], layers)):
        bundles, h, _ = bundle_oracle.layer(a, yy, np.float32(w))
        assert row["num_bundles"] == bundles and abs(row["bundle_entropy"] - h) < 1e-9, (name, row, bundles, h)
        for key, values in want.items():
            got, expect = row[key], values[i]
            # arccos is ill-conditioned at cos = 1: a rounding error e of the
            # cosine moves the angle by about sqrt(2e)/pi, 1e-8 for e = 1e-15,
            # and ResNet-18 at init has near-parallel neighbours (conv1 -> bn1
            # is a scaling with fresh batch-norm statistics).
            tol = 1e-6 if key == "angular_distance" else 1e-9 * max(1.0, abs(expect or 0))
            assert (got is None) == (expect is None), (name, key, got, expect)
            assert got is None or abs(got - expect) <= tol, (name, key, got, expect)
    # The relu after a block's bn1 keeps the width: block influence applies.
    assert rep["layers"][names.index("layer1.0.relu#1")]["block_influence"] is not None
    print(f"test_cb_capture.py: ResNet-18's {len(names)} layers match the numpy oracles ({out})")


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
    reused_modules(tmp)
    resnet18(cb, tmp)


if __name__ == "__main__":
    main()
