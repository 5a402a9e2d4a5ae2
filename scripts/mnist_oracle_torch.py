#!/usr/bin/env python3
"""Independent PyTorch oracle for the MNIST MLP + Ranger (RAdam + Lookahead) recipe.

784-100-100-100-10 ReLU, He-uniform weights (bound sqrt(6/fan_in)), zero biases,
inputs (x/255 - 0.1307)/0.3081, batch 64 shuffled each epoch (last short batch kept),
cross-entropy, 3 epochs. Test accuracy of the model's (fast) weights after each epoch.

Variants:
  ranger : torch.optim.RAdam(lr 1e-3, betas (0.9,0.999), eps 1e-6, wd 1e-2 decoupled)
           + Lookahead(k=6, alpha=0.5)
  radam  : same RAdam, no Lookahead
  adam   : torch.optim.Adam(lr 1e-3), defaults (eps 1e-8, no wd), no Lookahead
"""
import gzip, os, struct, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

DATA = os.environ.get(
    "CB_DATA_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../shared/data/mnist")
)


def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = struct.unpack(">I", raw[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def load(split):
    x = load_idx(f"{DATA}/{split}-images-idx3-ubyte.gz").reshape(-1, 784).float() / 255.0
    y = load_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").long()
    return (x - 0.1307) / 0.3081, y


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Linear(a, b) for a, b in [(784, 100), (100, 100), (100, 100), (100, 10)]])
        for l in self.layers:
            bound = (6.0 / l.in_features) ** 0.5
            nn.init.uniform_(l.weight, -bound, bound)
            nn.init.zeros_(l.bias)

    def forward(self, x):
        for l in self.layers[:-1]:
            x = F.relu(l(x))
        return self.layers[-1](x)


class Lookahead:
    """Minimal Lookahead (Zhang et al. 2019): every k inner steps
    slow <- slow + alpha*(fast - slow); fast <- slow. Inner optimizer state untouched."""

    def __init__(self, inner, k=6, alpha=0.5):
        self.inner, self.k, self.alpha, self.steps = inner, k, alpha, 0
        self.slow = [p.detach().clone() for g in inner.param_groups for p in g["params"]]

    def zero_grad(self):
        self.inner.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self):
        self.inner.step()
        self.steps += 1
        if self.steps % self.k == 0:
            params = [p for g in self.inner.param_groups for p in g["params"]]
            for p, s in zip(params, self.slow):
                s.add_(p - s, alpha=self.alpha)
                p.copy_(s)


def make_opt(variant, params):
    if variant == "adam":
        return torch.optim.Adam(params, lr=1e-3)
    radam = torch.optim.RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
                              weight_decay=1e-2, decoupled_weight_decay=True)
    if variant == "radam":
        return radam
    if variant == "ranger":
        return Lookahead(radam, k=6, alpha=0.5)
    raise ValueError(variant)


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = 0
    for i in range(0, len(x), 1000):
        correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    model.train()
    return 100.0 * correct / len(x)


def run(variant, seed, xtr, ytr, xte, yte, epochs=3, bs=64):
    torch.manual_seed(seed)
    model = MLP()
    opt = make_opt(variant, model.parameters())
    gen = torch.Generator().manual_seed(1000 + seed)
    accs = []
    for ep in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        accs.append(accuracy(model, xte, yte))
        print(f"{variant:6s} seed {seed} epoch {ep + 1}: test acc {accs[-1]:.2f}%", flush=True)
    return accs


def main():
    variants = sys.argv[1].split(",") if len(sys.argv) > 1 else ["ranger", "radam", "adam"]
    seeds = [int(s) for s in sys.argv[2].split(",")] if len(sys.argv) > 2 else list(range(5))
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    assert xtr.shape == (60000, 784) and xte.shape == (10000, 784)
    results = {}
    for v in variants:
        for s in seeds:
            t0 = time.time()
            results[(v, s)] = run(v, s, xtr, ytr, xte, yte)
            print(f"  ({time.time() - t0:.1f}s)", flush=True)
    print("\nvariant | " + " | ".join(f"seed {s}" for s in seeds) + " | mean (epoch 3)")
    for v in variants:
        a = [results[(v, s)][-1] for s in seeds]
        print(f"{v:7s} | " + " | ".join(f"{x:.2f}" for x in a) + f" | {sum(a) / len(a):.2f}")


if __name__ == "__main__":
    main()
