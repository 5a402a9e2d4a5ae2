"""PyTorch reference for scripts/gpu-check.sh: one training step of the same
MNIST FNN (width 100, depth 10, batch 64) with RAdam + Lookahead on CUDA."""
import time

import torch

dev = torch.device("cuda")
torch.manual_seed(0)
layers, width = [], 100
inp = 784
for _ in range(10):
    layers += [torch.nn.Linear(inp, width), torch.nn.ReLU()]
    inp = width
layers.append(torch.nn.Linear(width, 10))
model = torch.nn.Sequential(*layers).to(dev)
opt = torch.optim.RAdam(model.parameters(), lr=1e-3, eps=1e-6, weight_decay=1e-2, decoupled_weight_decay=True)
slow = [p.detach().clone() for p in model.parameters()]
x = torch.rand(64, 784, device=dev) * 2 - 1
y = torch.randint(0, 10, (64,), device=dev)
loss_fn = torch.nn.CrossEntropyLoss()


def step(t):
    opt.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    opt.step()
    if t % 6 == 0:  # Lookahead, k = 6, alpha = 0.5
        with torch.no_grad():
            for s, p in zip(slow, model.parameters()):
                s.add_(p - s, alpha=0.5)
                p.copy_(s)


times = []
for t in range(1, 231):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    step(t)
    torch.cuda.synchronize()
    if t > 30:
        times.append(time.perf_counter() - t0)
times.sort()
print(f"| torch cuda (median of 200) | {times[len(times) // 2] * 1e3:.3f} |")

# The conv nets of the GPU check: CIFAR-shaped (3x32x32) VGG and ResNet at
# full widths, batch 64, the same blocks as the Rust side (ConvSpec::for_depth).
import math  # noqa: E402
import sys  # noqa: E402

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench_conv_step_torch import ConvNet  # noqa: E402

SPECS = {20: [1, 2, 5, 1], 50: [2, 5, 15, 2]}  # printed by the Rust side too
for depth, blocks in SPECS.items():
    for resnet in (False, True):
        torch.manual_seed(0)
        net = ConvNet(resnet, blocks=blocks, widths=[64, 128, 256, 512], in_channels=3).to(dev).train()
        opt = torch.optim.RAdam(net.parameters(), lr=1e-3, eps=1e-6, weight_decay=1e-2, decoupled_weight_decay=True)
        slow = [p.detach().clone() for p in net.parameters()]
        x = torch.rand(64, 3, 32, 32, device=dev) * 2 - 1
        y = torch.randint(0, 10, (64,), device=dev)
        times = []
        for t in range(1, 41):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), y)
            loss.item()
            loss.backward()
            opt.step()
            if t % 6 == 0:
                with torch.no_grad():
                    for s, p in zip(slow, net.parameters()):
                        s.add_(p - s, alpha=0.5)
                        p.copy_(s)
            torch.cuda.synchronize()
            if t > 10:
                times.append(time.perf_counter() - t0)
        times.sort()
        name = f"{'resnet' if resnet else 'vgg'}-{depth} cifar 3x32x32 b64, full widths"
        print(f"| torch {name}: cuda (median of 30) | {times[len(times) // 2] * 1e3:.3f} |")
