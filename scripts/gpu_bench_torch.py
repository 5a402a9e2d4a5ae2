"""PyTorch on the same card, for scripts/gpu-check.sh: one training step
(RAdam + Lookahead) of the MNIST FNN (width 100, depth 10, batch 64) and of
the CIFAR-shaped (3x32x32) VGG and ResNet nets at full widths, batch 64,
that gpu_check timed; then the comparison table.

The conv nets' blocks per stage come from gpu_check's --json output (what
`ConvSpec::for_depth` gave), so both sides time the same nets. Each is timed
twice: with f32 convolutions (TF32 off), the arithmetic of the Rust side, and
at PyTorch's defaults, which let cuDNN run f32 convolutions as TF32 on tensor
cores. Steps are timed like the Rust side's: 10 warm-up steps, then the
median of 30, each reading the loss back before the backward pass.

Usage: python3 gpu_bench_torch.py --rust timings.json
"""

import argparse
import contextlib
import json
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_conv_step_torch import ConvNet  # noqa: E402
from bench_train_step_torch import make_model, make_optimizer  # noqa: E402

BATCH, CLASSES = 64, 10
WIDTHS = [64, 128, 256, 512]  # full widths (Widths::divided(1))
WARMUP, TIMED = 10, 30
# PyTorch on an H200 as the issue reported it (defaults, so TF32 convs).
ISSUE_H200_MS = {"vgg-20": 11.7, "resnet-20": 15.7, "vgg-34": 18.3, "resnet-34": 19.0,
                 "vgg-120": 55.6, "resnet-120": 70.7}


def tf32_switches() -> list:
    """(object, attribute, value for f32) of this torch's TF32 switches: the
    fp32_precision settings from torch 2.9 on, else the allow_tf32 flags
    (one family only: torch warns about mixing them)."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(conv, "fp32_precision"):
        switches = [(conv, "fp32_precision", "ieee")]
        if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
            switches.append((torch.backends.cuda.matmul, "fp32_precision", "ieee"))
        return switches
    return [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]


@contextlib.contextmanager
def f32_convs():
    """cuDNN convolutions (and matmuls) in f32 with FMA, no TF32, for the
    duration; restores the previous settings."""
    switches = tf32_switches()
    saved = [getattr(obj, attr) for obj, attr, _ in switches]
    for obj, attr, value in switches:
        setattr(obj, attr, value)
    try:
        yield
    finally:
        for (obj, attr, _), value in zip(switches, saved):
            setattr(obj, attr, value)


def median_step_ms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, warmup: int, timed: int) -> float:
    """Median milliseconds of one training step after `warmup` untimed ones."""
    opt, loss_fn = make_optimizer(model), nn.CrossEntropyLoss()
    times = []
    for t in range(warmup + timed):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.item()  # the Rust trainer reads the loss back
        loss.backward()
        opt.step()
        torch.cuda.synchronize()
        if t >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2] * 1e3


def conv_step_ms(blocks: list, resnet: bool) -> float:
    torch.manual_seed(0)
    net = ConvNet(resnet, blocks=blocks, widths=WIDTHS, in_channels=3).cuda().train()
    x = torch.rand(BATCH, 3, 32, 32, device="cuda") * 2 - 1
    y = torch.randint(0, CLASSES, (BATCH,), device="cuda")
    return median_step_ms(net, x, y, WARMUP, TIMED)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rust", required=True, help="gpu_check --json output")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_bench_torch: PyTorch sees no CUDA device")
    with open(args.rust) as f:
        rust = json.load(f)
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{torch.cuda.get_device_name()}; defaults: "
          + ", ".join(f"{type(o).__name__}.{a}={getattr(o, a)}" for o, a, _ in tf32_switches()))

    torch.manual_seed(0)
    fnn = make_model().cuda()
    x = torch.rand(BATCH, 784, device="cuda") * 2 - 1
    y = torch.randint(0, CLASSES, (BATCH,), device="cuda")
    print(f"| torch fnn w100 d10 cuda (median of 200) | {median_step_ms(fnn, x, y, 30, 200):.3f} |")

    rows = []
    for s in rust["steps"]:
        resnet = s["spec"]["arch"] == "resnet"
        with f32_convs():
            f32 = conv_step_ms(s["spec"]["blocks"], resnet)
        default = conv_step_ms(s["spec"]["blocks"], resnet)
        print(f"torch {s['net']} (blocks {s['spec']['blocks']}): f32 {f32:.3f} ms, defaults {default:.3f} ms",
              flush=True)
        rows.append((s["net"], s["ms"], f32, default))

    print_tables(rust, rows)


def print_tables(rust: dict, rows: list):
    """The metric timings, then the comparison table (last): `rows` holds
    (net, ours ms, PyTorch f32 ms, PyTorch defaults ms)."""
    print()
    print("| bundle metric, all hidden layers | layers x samples | forward ms | metric ms |")
    print("|---|---|---|---|")
    for m in rust["metric"]:
        print(f"| {m['net']} | {m['layers']} x {m['samples']} | {m['forward_ms']:.1f} | {m['metric_ms']:.1f} |")

    print()
    print(f"Training step, CIFAR 3x32x32, batch 64, full widths, Ranger; ours: {rust['conv']}; "
          "ratio = ours / PyTorch.")
    print()
    print("| net | ours ms | PyTorch ms (f32) | ratio | PyTorch ms (defaults, TF32 convs) | ratio "
          "| issue's PyTorch H200 ms |")
    print("|---|---|---|---|---|---|---|")
    for net, ours, f32, default in rows:
        issue = ISSUE_H200_MS.get(net)
        print(f"| {net} | {ours:.2f} | {f32:.2f} | {ours / f32:.2f} | {default:.2f} | {ours / default:.2f} "
              f"| {'-' if issue is None else f'{issue:.1f}'} |")

if __name__ == "__main__":
    main()
