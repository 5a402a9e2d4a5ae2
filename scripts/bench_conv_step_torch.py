"""PyTorch CPU baseline for benches/conv_step.rs, same shapes, timed the same way:

- conv3x3_c32_16px_b64/fwd_bwd: one bias-free 3x3 conv, 32 -> 32 channels,
  stride 1, padding 1, on a batch of 64 16x16 maps; forward plus the backward
  of sum(out * cotangent) (weight and input gradients);
- {vgg,resnet}{20,50}_div8_b64/ranger_step: one training step (batch norm
  in training mode, cross-entropy, backward, RAdam + Lookahead) of the
  project's `ConvNet` at widths / 8 on 64 random 1x32x32 images: stem conv
  7x7 s2 p3 -> BN -> ReLU; four stages of 1/2/5/1 blocks at depth 20, 2/5/15/2
  at depth 50 (what `ConvSpec::for_depth` gives; the Rust bench prints it) at 8/16/32/64
  channels, stride 2 entering stages 2-4; each block conv3x3-BN-ReLU-
  conv3x3-BN (+ identity, or a 1x1 conv + BN projection where the shape
  changes, for the ResNet) -ReLU; bias-free convs; global average pooling;
  linear 64 -> 10.

Each bench runs in both memory formats (torch's default NCHW, "contiguous",
and NHWC, "channels_last"); the caller keeps the faster.

Usage: python bench_conv_step_torch.py [--threads 2 1] [--formats contiguous channels_last]
Prints one line per thread count, bench and format:
"torch VERSION threads=N bench=ID format=F median_ms=X p10_ms=Y p90_ms=Z".
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
from torch.nn import functional as F  # noqa: E402

# Same RAdam(lr 1e-3, eps 1e-6, decoupled wd 1e-2, foreach) + Lookahead(k 6,
# alpha 0.5) as the FNN baseline (the script's folder is on sys.path).
from bench_train_step_torch import make_optimizer  # noqa: E402

BATCH, CLASSES = 64, 10
# ConvSpec::for_depth(_, depth): depth = 2 + 2 * blocks.
BLOCKS = {20: [1, 2, 5, 1], 50: [2, 5, 15, 2]}
WIDTHS = [8, 16, 32, 64]  # Div8


class ConvBn(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        # He-uniform (Keras he_uniform), as the Rust layers initialise.
        limit = math.sqrt(6.0 / (cin * kernel * kernel))
        nn.init.uniform_(self.conv.weight, -limit, limit)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x):
        return self.bn(self.conv(x))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, resnet: bool):
        super().__init__()
        self.a = ConvBn(cin, cout, 3, stride, 1)
        self.b = ConvBn(cout, cout, 3, 1, 1)
        self.resnet = resnet
        self.proj = ConvBn(cin, cout, 1, stride, 0) if resnet and (stride != 1 or cin != cout) else None

    def forward(self, x):
        h = self.b(F.relu(self.a(x)))
        if self.resnet:
            h = h + (self.proj(x) if self.proj is not None else x)
        return F.relu(h)


class ConvNet(nn.Module):
    def __init__(self, resnet: bool, blocks=BLOCKS[20], widths=WIDTHS, in_channels=1):
        super().__init__()
        WIDTHS_ = widths  # noqa: N806
        self.stem = ConvBn(in_channels, widths[0], 7, 2, 3)
        stages, blocks, cin = blocks, [], widths[0]
        for s, (n, cout) in enumerate(zip(stages, widths)):
            for i in range(n):
                stride = 2 if s > 0 and i == 0 else 1
                blocks.append(Block(cin, cout, stride, resnet))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(WIDTHS_[-1], CLASSES)
        limit = math.sqrt(6.0 / WIDTHS_[-1])
        nn.init.uniform_(self.head.weight, -limit, limit)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        h = self.blocks(F.relu(self.stem(x)))
        return self.head(h.mean(dim=(2, 3)))


def timed(step, steps: int, warmup: int) -> list:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def conv_bench(fmt, steps: int, warmup: int) -> list:
    conv = nn.Conv2d(32, 32, 3, 1, 1, bias=False).to(memory_format=fmt)
    # The input arrives in the layout under test, as ours arrives NHWC.
    x = torch.rand(BATCH, 32, 16, 16).mul_(2).sub_(1).to(memory_format=fmt).requires_grad_()
    cot = torch.rand(BATCH, 32, 16, 16).mul_(2).sub_(1).to(memory_format=fmt)

    def step():
        conv.weight.grad = None
        x.grad = None
        (conv(x) * cot).sum().backward()

    return timed(step, steps, warmup)


def net_bench(resnet: bool, depth: int, fmt, steps: int, warmup: int) -> list:
    model = ConvNet(resnet, blocks=BLOCKS[depth]).to(memory_format=fmt).train()
    loss_fn = nn.CrossEntropyLoss()
    opt = make_optimizer(model)
    rows = torch.rand(BATCH, 32 * 32)  # the trainer's flattened, channels-first rows
    y = torch.randint(0, CLASSES, (BATCH,))

    def step():
        # Like the trainer: forward, read logits and loss back, backward, update.
        opt.zero_grad()
        x = rows.view(BATCH, 1, 32, 32).contiguous(memory_format=fmt)
        logits = model(x)
        logits.detach().clone()
        loss = loss_fn(logits, y)
        loss.item()
        loss.backward()
        opt.step()

    return timed(step, steps, warmup)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 2 = every core of the project's machines (2-core); 1 = no intra-op threads.
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--formats", nargs="+", default=["contiguous", "channels_last"],
                    choices=["contiguous", "channels_last"])
    nets = {f"{'resnet' if r else 'vgg'}{d}_div8_b64/ranger_step": (r, d)
            for d in BLOCKS for r in (False, True)}
    ap.add_argument("--benches", nargs="+", default=["conv3x3_c32_16px_b64/fwd_bwd", *nets])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    benches = {
        "conv3x3_c32_16px_b64/fwd_bwd": lambda f: conv_bench(f, args.steps, args.warmup),
        **{name: (lambda f, r=r, d=d: net_bench(r, d, f, args.steps, args.warmup))
           for name, (r, d) in nets.items()},
    }
    formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
    for n in args.threads:
        torch.set_num_threads(n)
        for name in args.benches:
            for fmt_name in args.formats:
                torch.manual_seed(0)
                t = sorted(benches[name](formats[fmt_name]))
                q = lambda f: t[int(f * (len(t) - 1))]  # noqa: E731
                print(
                    f"torch {torch.__version__} threads={n} bench={name} format={fmt_name} "
                    f"median_ms={statistics.median(t):.4f} p10_ms={q(0.1):.4f} p90_ms={q(0.9):.4f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
