"""PyTorch CPU baseline for benches/train_step.rs: one training step of the
MNIST FNN (784 -> 100 x 10 hidden ReLU layers -> 10, batch 64) with RAdam +
Lookahead (the paper's Ranger), timed the same way.

Usage: python bench_train_step_torch.py [--threads 2 1] [--steps 1000]
Prints one line per thread count: "torch threads=N median_ms=X p10_ms=Y p90_ms=Z".
"""

import argparse
import math
import statistics
import time
import warnings

# The venv has no numpy (not needed here); keep torch's note about it quiet.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from torch import nn  # noqa: E402

WIDTH, DEPTH, BATCH, IN, CLASSES = 100, 10, 64, 784, 10


def make_model() -> nn.Sequential:
    """Same net as `MnistFnn::<100>::new(dev, 10, seed)`: He-uniform weights
    (Keras he_uniform: U(+-sqrt(6 / fan_in))), zero biases."""
    layers, fan_in = [], IN
    for _ in range(DEPTH):
        layers += [nn.Linear(fan_in, WIDTH), nn.ReLU()]
        fan_in = WIDTH
    layers.append(nn.Linear(fan_in, CLASSES))
    model = nn.Sequential(*layers)
    for m in model:
        if isinstance(m, nn.Linear):
            limit = math.sqrt(6.0 / m.in_features)
            nn.init.uniform_(m.weight, -limit, limit)
            nn.init.zeros_(m.bias)
    return model


class Lookahead:
    """Lookahead (Zhang et al. 2019) around any optimizer, like TF-Addons':
    every k steps slow += alpha * (fast - slow) and fast = slow."""

    def __init__(self, inner: torch.optim.Optimizer, k: int = 6, alpha: float = 0.5):
        self.inner, self.k, self.alpha, self.t = inner, k, alpha, 0
        self.params = [p for g in inner.param_groups for p in g["params"]]
        self.slow = [p.detach().clone() for p in self.params]

    def zero_grad(self):
        self.inner.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self):
        self.inner.step()
        self.t += 1
        if self.t % self.k == 0:
            # Foreach ops: one call over all tensors, as torch's optimizers do.
            fast = self.params
            torch._foreach_lerp_(self.slow, fast, self.alpha)
            torch._foreach_copy_(fast, self.slow)


def make_optimizer(model: nn.Module) -> Lookahead:
    # lr 1e-3, eps 1e-6, decoupled weight decay 1e-2 (RangerConfig::default()).
    # foreach=True: torch's multi-tensor path, its fastest (the CPU default is a
    # per-tensor loop, measurably slower); we compare against torch at its best.
    # (torch rectifies when rho_t > 5, ours when rho_t >= 5: same from step 6 on.)
    radam = torch.optim.RAdam(
        model.parameters(),
        lr=1e-3,
        eps=1e-6,
        weight_decay=1e-2,
        decoupled_weight_decay=True,
        foreach=True,
    )
    return Lookahead(radam, k=6, alpha=0.5)


def bench(threads: int, steps: int, warmup: int) -> list:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, loss_fn = make_model(), nn.CrossEntropyLoss()
    opt = make_optimizer(model)
    x = torch.rand(BATCH, IN)
    y = torch.randint(0, CLASSES, (BATCH,))

    def step():
        # Like the trainer: forward, read logits and loss back, backward, update.
        opt.zero_grad()
        logits = model(x)
        logits.detach().clone()
        loss = loss_fn(logits, y)
        loss.item()
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 2 = every core of the project's machines (2-core); 1 = no intra-op threads.
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    args = ap.parse_args()
    for n in args.threads:
        t = sorted(bench(n, args.steps, args.warmup))
        q = lambda f: t[int(f * (len(t) - 1))]  # noqa: E731
        print(
            f"torch {torch.__version__} threads={n} median_ms={statistics.median(t):.4f} "
            f"p10_ms={q(0.1):.4f} p90_ms={q(0.9):.4f}"
        )


if __name__ == "__main__":
    main()
