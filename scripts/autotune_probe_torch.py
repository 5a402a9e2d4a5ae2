#!/usr/bin/env python3
"""Independent PyTorch cross-check of the auto-tune *probe* (§3.6, first step).

What it does, per seed: build the plain (no residual) 120-layer VGG, train it
one epoch on MNIST with Ranger, then measure the bundle entropy H^l of every
block output on 512 training samples and name the first conflicting block --
the numbers auto-tune's first pruning decision is made from.  It also records
how the weights' amplitude w evolves over the first optimizer steps.

Written from the authors' TensorFlow code (github peerdavid/conflicting-bundles,
commit 22556fc, cited as FILE:LINE) and the paper, NOT from our Rust code --
except the data preparation, which follows ours so the comparison is fair.

Follows the authors (22556fc)
-----------------------------
* auto_tune.py:236-239  VGG, blocks [3,12,41,3], no residual, 512 bundle samples.
* auto_tune.py:71-75    tfa RectifiedAdam(lr 1e-3, epsilon 1e-6, weight_decay 1e-2)
                        in tfa Lookahead (defaults sync_period 6, slow_step_size 0.5).
  Implemented here by hand (class TfaRAdam / Lookahead), transcribing
  tensorflow_addons/optimizers/rectified_adam.py `_resource_apply_dense`:
    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  m^ = m/(1-b1^t);  v^ = sqrt(v/(1-b2^t))
    sma_inf = 2/(1-b2) - 1;  sma_t = sma_inf - 2 t b2^t/(1-b2^t)
    u = r_t m^/(v^ + eps)  if sma_t >= 5 (sma_threshold)  else  m^
    var -= lr (u + wd var)          (decoupled: wd on the pre-step var, all variables)
  This is NOT torch.optim.RAdam: torch puts eps inside the bias correction
  (sqrt(1-b2^t)/(sqrt(v)+eps)), i.e. an effective eps of eps/sqrt(1-b2^t) (~13x
  larger at t=6), and tests rho_t > 5 instead of >= 5.  With eps=0 the two agree
  (checked in --self-test).  Lookahead (tfa lookahead.py): slow := var at the
  first step; after the inner update of every step t with t % 6 == 0:
  slow += 0.5 (var - slow); var := slow.  Steps 1..5 have sma_t < 5, so they are
  plain SGD with (bias-corrected) momentum on the raw gradient.
* auto_tune.py:81-89    sparse softmax cross-entropy from logits, mean over the batch.
* models/vggnet.py:9-13,50-53  stem: Conv2D 7x7 stride 2 "same" (Keras default
  init: glorot_uniform kernel, zero bias), BatchNormalization, ReLU;
  vggnet.py:18-23 no max-pool for images narrower than 51 px.
* models/vgg_block.py:10-30  block: Conv 3x3 (he_normal, bias) - BN - ReLU -
  Conv 3x3 (he_normal, bias) - BN - ReLU; vgg_block.py:38-41 + vggnet.py:26-40
  the first block of stages 2-4 has stride 2.  he_normal (TF 2.2) = truncated
  normal, stddev sqrt(2/fan_in)/0.87962566103423978, cut at 2 stddev.
* models/vggnet.py:42-45,59-63  GlobalAveragePooling, Dense(10) (glorot_uniform, zero bias).
* Keras BatchNormalization defaults: momentum 0.99 (PyTorch momentum 0.01),
  epsilon 1e-3, gamma 1, beta 0.
* TF "same" padding: total = max((ceil(n/s)-1) s + k - n, 0), floor(total/2)
  before, the rest after (stride 2 on even sizes pads only bottom/right).
* conflicting_bundle.py:45-56  metric in inference mode (training=False, BN
  running statistics), batches of 64, the block outputs (model.cb).
* conflicting_bundle.py:77-79  v = w_l - a * lr / batch_size in float32 (a*lr
  first, then /64), flattened per sample.
* conflicting_bundle.py:86-100  w_l = max over the layer's trainable tensors of
  mean(|tensor|) (MEAN abs per tensor at this commit; a block's tensors: both
  conv kernels and biases, both BN gammas and betas).
* conflicting_bundle.py:103-157  greedy bundling in sample order: a bundle takes
  every sample whose v equals v_i in every component (float equality);
  H = (1/N) sum_bundles |D| max(0, -sum_c p_c ln(p_c + 1e-5)); returns
  (number of bundles, H).
* conflicting_bundle.py:53 `model.cb[layer_eval:-1]` leaves out the pooled row
  and auto_tune.py:186-193 triggers pruning on H of the LAST BLOCK (not the
  pooled features).  We report the pooled row (w = max mean|.| of the dense
  kernel and bias) and the stem row (w = max mean|.| of stem conv kernel, bias,
  BN gamma, beta) as extras only.
* auto_tune.py:35-60 prune_model: reported as `authors_prune` (what their code
  would set the blocks to).  Note its off-by-one: `layer += 1` before
  `conflicts[layer]`, so position j reads block j+1's entropy (0-based); it
  cuts one block before the first conflicting one and never looks at block 1.
  `paper_prune` is what the text says: remove the first conflicting block and
  the rest of its stage.

Follows ours (the Rust toolkit), not the authors
-----------------------------------------------
* Data (--data ours, default; src/experiments/conv_nets.rs load_images,
  src/data/prepare.rs load_prepared, dataset.rs padded/normalized): pixels/255,
  zero-padded 28 -> 32 (2 px each side) BEFORE normalising, then
  (x - 0.1307) * (1/0.3081), so the border is -0.4242, not 0.  No augmentation
  (the conv sweep and auto-tune leave TrainConfig.augment = None).  A fresh
  uniform shuffle per epoch, batches of 64 with the last short batch (32) kept:
  938 steps.  Test accuracy on all 10,000 test images.
* Widths: "lesson widths" = the paper's 64/128/256/512 divided by
  --width-divisor (8): stem and stages 8/16/32/64 channels.
* Bundle subset (--subset random, default): a fixed random subset of 512
  unaugmented training rows drawn per seed.  (Ours draws it with its own RNG,
  so the rows differ; the distribution is the same.)

--data authors (the authors' data/mnist.py:17-44, for comparison): 28x28 pixels
in [0, 1], no normalisation; train: resize_with_pad to 32x32 (2 px zeros each
side), random 28x28 crop, random brightness delta in [-0.25, 0.25] (no clip);
tf.data shuffle with a buffer of only 10; drop_remainder (937 steps).  The
stem then sees 28 px (28->14->7->4->2).  --subset stream takes, like
conflicting_bundle.py:48-56, the first 512 samples of a fresh pass over that
augmented, buffer-10-shuffled stream.

Usage:
  .cache/torch-venv/bin/python scripts/autotune_probe_torch.py --self-test
  .cache/torch-venv/bin/python scripts/autotune_probe_torch.py --seeds 0,1,2 \
      --out results/studies/autotune_probe_torch
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.environ.get(
    "CB_DATA_DIR", os.path.join(HERE, "../../shared/data/mnist"))
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
NUM_CLASSES = 10
LR, BATCH = 1e-3, 64


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------
def load_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = struct.unpack(">I", raw[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def load_mnist(data_dir, split, mode):
    """Images (N,1,H,W) float32 and labels (N,) int64, prepared as `mode` says."""
    x = load_idx(f"{data_dir}/{split}-images-idx3-ubyte.gz").float() / 255.0
    y = load_idx(f"{data_dir}/{split}-labels-idx1-ubyte.gz").long()
    x = x.unsqueeze(1)  # (N,1,28,28) in [0,1]
    if mode == "ours":
        # dataset.rs `padded`: offset floor((32-28)/2) = 2; then `normalize`:
        # (v - mean) * (1/std) in f32 (augment.rs normalize).
        x = F.pad(x, (2, 2, 2, 2))
        scale = torch.tensor(1.0, dtype=torch.float32) / torch.tensor(MNIST_STD, dtype=torch.float32)
        x = (x - torch.tensor(MNIST_MEAN, dtype=torch.float32)) * scale
    return x.contiguous(), y


def authors_augment(x, gen):
    """data/mnist.py:33-38 on a batch of (B,1,28,28) [0,1] images."""
    b = x.shape[0]
    xp = F.pad(x, (2, 2, 2, 2))  # resize_with_pad 28 -> 32 (no scaling needed)
    oy = torch.randint(0, 5, (b,), generator=gen)
    ox = torch.randint(0, 5, (b,), generator=gen)
    out = torch.empty_like(x)
    for i in range(b):
        out[i] = xp[i, :, oy[i]:oy[i] + 28, ox[i]:ox[i] + 28]
    delta = (torch.rand(b, generator=gen) * 0.5 - 0.25).view(b, 1, 1, 1)
    return out + delta


def buffer_shuffle(n, buffer_size, gen):
    """tf.data Dataset.shuffle(buffer_size) order over 0..n-1."""
    buf, order, nxt = list(range(min(buffer_size, n))), [], min(buffer_size, n)
    while buf:
        j = int(torch.randint(0, len(buf), (1,), generator=gen))
        order.append(buf[j])
        if nxt < n:
            buf[j] = nxt
            nxt += 1
        else:
            buf[j] = buf[-1]
            buf.pop()
    return torch.tensor(order)


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------
def tf_same_pad(x, k, s):
    ih, iw = x.shape[-2:]
    ph = max((-(-ih // s) - 1) * s + k - ih, 0)
    pw = max((-(-iw // s) - 1) * s + k - iw, 0)
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class ConvSame(nn.Conv2d):
    """Keras Conv2D(padding="same") with TF's asymmetric padding."""

    def __init__(self, cin, cout, k, stride, init):
        super().__init__(cin, cout, k, stride=stride, padding=0, bias=True)
        fan_in, fan_out = cin * k * k, cout * k * k
        with torch.no_grad():
            if init == "glorot_uniform":
                lim = math.sqrt(6.0 / (fan_in + fan_out))
                self.weight.uniform_(-lim, lim)
            elif init == "he_normal":
                std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
                nn.init.trunc_normal_(self.weight, 0.0, std, -2 * std, 2 * std)
            else:
                raise ValueError(init)
            self.bias.zero_()

    def forward(self, x):
        return F.conv2d(tf_same_pad(x, self.kernel_size[0], self.stride[0]),
                        self.weight, self.bias, self.stride)


def keras_bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = ConvSame(cin, cout, 3, stride, "he_normal")
        self.bn1 = keras_bn(cout)
        self.conv2 = ConvSame(cout, cout, 3, 1, "he_normal")
        self.bn2 = keras_bn(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class Stem(nn.Module):
    def __init__(self, cout):
        super().__init__()
        self.conv = ConvSame(1, cout, 7, 2, "glorot_uniform")
        self.bn = keras_bn(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class VGG(nn.Module):
    def __init__(self, blocks, widths):
        super().__init__()
        self.stem = Stem(widths[0])
        self.blocks = nn.ModuleList()
        self.where = []  # (stage, index in stage) per block
        cin = widths[0]
        for s, (n, w) in enumerate(zip(blocks, widths)):
            for i in range(n):
                self.blocks.append(Block(cin, w, 2 if (i == 0 and s > 0) else 1))
                self.where.append((s, i))
                cin = w
        self.fc = nn.Linear(cin, NUM_CLASSES)
        with torch.no_grad():
            lim = math.sqrt(6.0 / (cin + NUM_CLASSES))
            self.fc.weight.uniform_(-lim, lim)
            self.fc.bias.zero_()

    def forward(self, x, taps=None):
        x = self.stem(x)
        if taps is not None:
            taps.append(x)
        for b in self.blocks:
            x = b(x)
            if taps is not None:
                taps.append(x)
        x = x.mean(dim=(2, 3))
        if taps is not None:
            taps.append(x)
        return self.fc(x)

    def rows(self):
        """(name, stage, index, module) for every measured row."""
        out = [("stem", None, None, self.stem)]
        out += [(f"block{k + 1}", s, i, b) for k, (b, (s, i)) in enumerate(zip(self.blocks, self.where))]
        out.append(("pooled", None, None, self.fc))
        return out

    def conv_kernels(self):
        return [m.weight for m in self.modules() if isinstance(m, nn.Conv2d)]


def weight_amplitude(module):
    """conflicting_bundle.py:86-100: max over trainable tensors of mean|t|."""
    return max(p.detach().abs().mean() for p in module.parameters()).item()


# ----------------------------------------------------------------------------
# Optimizer: tfa RectifiedAdam + tfa Lookahead
# ----------------------------------------------------------------------------
class TfaRAdam:
    def __init__(self, params, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-6,
                 weight_decay=1e-2, sma_threshold=5.0):
        self.params = [p for p in params]
        self.lr, self.b1, self.b2 = np.float32(lr), np.float32(beta_1), np.float32(beta_2)
        self.eps, self.wd, self.thr = np.float32(epsilon), np.float32(weight_decay), np.float32(sma_threshold)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.iterations = 0
        self.last_rectified = None

    def scalars(self, t):
        """The per-step scalars, in float32 as tfa computes them (var_dtype)."""
        f = np.float32
        t = f(t)
        b1p, b2p = self.b1 ** t, self.b2 ** t
        sma_inf = f(2.0) / (f(1.0) - self.b2) - f(1.0)
        sma_t = sma_inf - f(2.0) * t * b2p / (f(1.0) - b2p)
        with np.errstate(invalid="ignore"):
            r_t = np.sqrt((sma_t - f(4)) / (sma_inf - f(4)) * (sma_t - f(2)) / (sma_inf - f(2)) * sma_inf / sma_t)
        return b1p, b2p, sma_t, r_t

    @torch.no_grad()
    def step(self):
        t = self.iterations + 1
        b1p, b2p, sma_t, r_t = self.scalars(t)
        rectified = bool(sma_t >= self.thr)
        self.last_rectified = rectified
        one = np.float32(1.0)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.mul_(float(self.b1)).add_(g, alpha=float(one - self.b1))
            v.mul_(float(self.b2)).addcmul_(g, g, value=float(one - self.b2))
            m_corr = m / float(one - b1p)
            if rectified:
                v_corr = torch.sqrt(v / float(one - b2p))
                u = m_corr.mul_(float(r_t)).div_(v_corr.add_(float(self.eps)))
            else:
                u = m_corr
            u.add_(p, alpha=float(self.wd))
            p.sub_(u, alpha=float(self.lr))
        self.iterations = t


class Lookahead:
    """tfa Lookahead: slow := var at the first step; after the inner update of
    step t with t % k == 0: slow += alpha (var - slow); var := slow."""

    def __init__(self, inner, k=6, alpha=0.5):
        self.inner, self.k, self.alpha = inner, k, alpha
        self.slow = None

    @torch.no_grad()
    def step(self):
        if self.slow is None:
            self.slow = [p.detach().clone() for p in self.inner.params]
        self.inner.step()
        if self.inner.iterations % self.k == 0:
            for p, s in zip(self.inner.params, self.slow):
                s.add_(p - s, alpha=self.alpha)
                p.copy_(s)


# ----------------------------------------------------------------------------
# Metric
# ----------------------------------------------------------------------------
def calculate_bundles(X, Y, num_classes=NUM_CLASSES):
    """conflicting_bundle.py:103-157, greedy in sample order. X: (N, D) float32,
    Y: (N,) int64. Returns (number of bundles, H)."""
    n = X.shape[0]
    bundle = torch.zeros(n, dtype=torch.int64)
    ent_sum = torch.tensor(0.0, dtype=torch.float32)
    nb = 0
    for i in range(n):
        if bundle[i] != 0:
            continue
        nb += 1
        same = (X == X[i]).all(dim=1)
        bundle[same & (bundle == 0)] = nb
        counts = torch.bincount(Y[same], minlength=num_classes).float()
        p = counts / counts.sum()
        ent = -(p * torch.log(p + 1e-5)).sum()
        ent_sum = ent_sum + torch.clamp(ent, min=0.0) * same.sum().float()
    return nb, (ent_sum / float(n)).item()


def amplitude_check(w, a, lr=LR, batch_size=BATCH):
    """conflicting_bundle.py:78-79 in float32: w - (a*lr)/bs, flattened."""
    a = a.float()
    v = torch.tensor(w, dtype=torch.float32) - (a * torch.tensor(lr, dtype=torch.float32)) / torch.tensor(float(batch_size), dtype=torch.float32)
    return v.reshape(v.shape[0], -1)


@torch.no_grad()
def measure(model, xs, ys):
    """Per row: name, stage, index, w, number of bundles, H."""
    model.eval()
    taps_all = None
    for i in range(0, len(xs), BATCH):
        taps = []
        model(xs[i:i + BATCH], taps)
        taps = [t.reshape(t.shape[0], -1) for t in taps]
        taps_all = [[t] for t in taps] if taps_all is None else [a + [t] for a, t in zip(taps_all, taps)]
    model.train()
    out = []
    for (name, s, i, mod), acts in zip(model.rows(), taps_all):
        a = torch.cat(acts, 0)
        w = weight_amplitude(mod)
        nb, h = calculate_bundles(amplitude_check(w, a), ys)
        out.append({"row": name, "stage": s, "index": i, "w": w, "bundles": nb, "H": h})
    return out


def authors_prune(blocks, block_H):
    """auto_tune.py:47-60 on conflicts = block rows only (model.cb[0:-1])."""
    pruned, layer = list(blocks), 0
    for bt in range(len(blocks)):
        new = 0
        for _ in range(blocks[bt]):
            layer += 1
            if layer >= len(block_H):
                return {"blocks": pruned, "note": "IndexError in the authors' loop"}
            if block_H[layer] <= 0:
                new += 1
                continue
            pruned[bt] = new
            return {"blocks": pruned, "note": f"cut at stage {bt} position {new}, read block {layer + 1}'s H"}
    return {"blocks": pruned, "note": "no change"}


# ----------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------
@torch.no_grad()
def accuracy(model, x, y, bs=500):
    model.eval()
    correct = sum((model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item() for i in range(0, len(x), bs))
    model.train()
    return correct / len(x)


def w_snapshot(model, step, grad_stats=None, rectified=None):
    kernels = model.conv_kernels()
    kmax = [k.detach().abs().max().item() for k in kernels]
    j = int(np.argmax(kmax))
    snap = {
        "step": step,
        "max_abs_conv_kernel": kmax[j],
        "argmax_conv": j,  # 0 = stem conv, then conv1/conv2 of each block
        "max_abs_param": max(p.detach().abs().max().item() for p in model.parameters()),
        "w_rows": [weight_amplitude(m) for _, _, _, m in model.rows()],
    }
    if grad_stats is not None:
        snap.update(grad_stats)
    if rectified is not None:
        snap["rectified"] = rectified
    return snap


def train_probe(args, seed, xtr, ytr, xte, yte, blocks, widths, max_steps=None, w_steps=(), quiet=False,
                adam=False):
    torch.manual_seed(seed)
    model = VGG(blocks, widths)
    params = list(model.parameters())
    if adam:  # only for the self-test's check of model and data
        opt = torch.optim.Adam(params, lr=LR)
    else:
        opt = Lookahead(TfaRAdam(params, lr=LR, epsilon=1e-6, weight_decay=1e-2), k=6, alpha=0.5)
    gen = torch.Generator().manual_seed(10_000 + seed)
    n = len(xtr)
    if args.data == "ours":
        order = torch.randperm(n, generator=gen)
        batches = [order[i:i + BATCH] for i in range(0, n, BATCH)]
    else:
        order = buffer_shuffle(n, 10, gen)
        batches = [order[i:i + BATCH] for i in range(0, n - BATCH + 1, BATCH)]
    if max_steps is not None:
        batches = batches[:max_steps]
    traj = [w_snapshot(model, 0)] if 0 in w_steps else []
    t0 = time.time()
    loss_sum, correct, seen = 0.0, 0, 0
    for step, idx in enumerate(batches, 1):
        x = xtr[idx]
        if args.data == "authors":
            x = authors_augment(x, gen)
        y = ytr[idx]
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        for p in params:
            p.grad = None
        loss.backward()
        if not math.isfinite(loss.item()):
            print(f"  seed {seed} step {step}: loss {loss.item()}", flush=True)
        gstats = None
        if step in w_steps:
            before = [k.detach().clone() for k in model.conv_kernels()]
            gstats = {
                "max_abs_grad_conv_kernel": max(k.grad.abs().max().item() for k in model.conv_kernels()),
                "grad_norm": torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)).item(),
                "loss": loss.item(),
            }
        opt.step()
        if step in w_steps:
            gstats["max_abs_step_conv_kernel"] = max(
                (k.detach() - b).abs().max().item() for k, b in zip(model.conv_kernels(), before))
            traj.append(w_snapshot(model, step, gstats, getattr(getattr(opt, "inner", None), "last_rectified", None)))
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        seen += len(y)
        if not quiet and (step % 100 == 0 or step == len(batches)):
            el = time.time() - t0
            print(f"  seed {seed} step {step}/{len(batches)} loss {loss_sum / seen:.4f} "
                  f"acc {correct / seen:.4f} ({el:.0f}s, {el / step * 1000:.0f} ms/step)", flush=True)
    train_s = time.time() - t0
    return model, {"steps": len(batches), "train_loss": loss_sum / seen,
                   "train_accuracy": correct / seen, "train_seconds": train_s}, traj


def bundle_subset(args, seed, xtr, ytr):
    gen = torch.Generator().manual_seed(20_000 + seed)
    if args.subset == "random":
        idx = torch.randperm(len(xtr), generator=gen)[:args.bundle_samples]
        # unaugmented rows (--data authors: 28x28 in [0,1], their _no_augment)
        return xtr[idx], ytr[idx]
    # conflicting_bundle.py:48-56: first samples of a fresh pass over train_ds
    order = buffer_shuffle(len(xtr), 10, gen)[:args.bundle_samples] if args.data == "authors" \
        else torch.randperm(len(xtr), generator=gen)[:args.bundle_samples]
    xs, ys = xtr[order], ytr[order]
    if args.data == "authors":
        xs = authors_augment(xs, gen)
    return xs, ys


def run_seed(args, seed, data, cmd):
    xtr, ytr, xte, yte = data
    blocks = [int(b) for b in args.blocks.split(",")]
    widths = [w // args.width_divisor for w in (64, 128, 256, 512)]
    w_steps = set(int(s) for s in args.w_steps.split(","))
    t_all = time.time()
    model, stats, traj = train_probe(args, seed, xtr, ytr, xte, yte, blocks, widths,
                                     max_steps=args.max_steps, w_steps=w_steps)
    # the final step is always recorded (938 for ours, 937 for the authors' data)
    if traj and traj[-1]["step"] != stats["steps"]:
        traj.append(w_snapshot(model, stats["steps"]))
    t1 = time.time()
    test_acc = accuracy(model, xte, yte)
    xs, ys = bundle_subset(args, seed, xtr, ytr)
    rows = measure(model, xs, ys)
    metric_s = time.time() - t1
    block_rows = rows[1:-1]
    block_H = [r["H"] for r in block_rows]
    first = next((k for k, h in enumerate(block_H) if h > 0), None)
    first_any = next((k for k, r in enumerate(rows) if r["H"] > 0), None)
    if first is None:
        paper = {"blocks": blocks, "note": "no conflicting block"}
    else:
        s, i = block_rows[first]["stage"], block_rows[first]["index"]
        pb = list(blocks)
        pb[s] = i
        paper = {"blocks": pb, "note": f"remove block {first + 1} (stage {s}, index {i}) and the rest of stage {s}"}
    res = {
        "seed": seed,
        "command": cmd,
        "config": {
            "blocks": blocks, "widths": widths, "data": args.data, "subset": args.subset,
            "bundle_samples": args.bundle_samples, "batch_size": BATCH, "lr": LR,
            "optimizer": "tfa RectifiedAdam(lr 1e-3, eps 1e-6, wd 1e-2, sma_threshold 5) + Lookahead(6, 0.5), hand-written",
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "max_steps": args.max_steps,
        },
        "test_accuracy": test_acc,
        **stats,
        "H_last_block": block_rows[-1]["H"],
        "bundles_last_block": block_rows[-1]["bundles"],
        "H_pooled": rows[-1]["H"],
        "bundles_pooled": rows[-1]["bundles"],
        "H_stem": rows[0]["H"],
        "bundles_stem": rows[0]["bundles"],
        "first_conflicting_block": None if first is None else {
            "block": first + 1, "stage": block_rows[first]["stage"], "index": block_rows[first]["index"]},
        "first_conflicting_row": None if first_any is None else rows[first_any]["row"],
        "authors_trigger_H_last_block_gt_0": block_rows[-1]["H"] > 0,
        "authors_prune": authors_prune(blocks, block_H),
        "paper_prune": paper,
        "rows": rows,
        "w_trajectory": traj,
        "metric_seconds": metric_s,
        "wall_seconds": time.time() - t_all,
    }
    return res


def summary_line(r):
    fc = r["first_conflicting_block"]
    fcs = "none" if fc is None else f"block {fc['block']} (stage {fc['stage']}, index {fc['index']})"
    traj = ", ".join(f"{t['step']}:{t['max_abs_conv_kernel']:.3g}" for t in r["w_trajectory"])
    hs = " ".join("%.2f" % row["H"] for row in r["rows"][1:-1])
    bs = " ".join(str(row["bundles"]) for row in r["rows"][1:-1])
    return (f"seed {r['seed']}: test acc {100 * r['test_accuracy']:.2f}%  H^L(last block) {r['H_last_block']:.4f} "
            f"[{r['bundles_last_block']} bundles]  H(pooled) {r['H_pooled']:.4f} [{r['bundles_pooled']}]  "
            f"H(stem) {r['H_stem']:.4f} [{r['bundles_stem']}]\n"
            f"  first conflicting: {fcs}; authors' prune -> {r['authors_prune']['blocks']}, "
            f"paper's -> {r['paper_prune']['blocks']}\n"
            f"  H per block: {hs}\n"
            f"  bundles per block: {bs}\n"
            f"  max|conv kernel| by step: {traj}\n"
            f"  wall {r['wall_seconds']:.0f}s (train {r['train_seconds']:.0f}s, metric {r['metric_seconds']:.0f}s)")


# ----------------------------------------------------------------------------
# Self-test
# ----------------------------------------------------------------------------
def self_test(args):
    ok = True

    def check(cond, what):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        ok &= bool(cond)

    # 1. bundles on hand-made rows
    X = torch.tensor([[0., 0], [0, 0], [1, 0], [1, 0], [2, 2], [0, 0]])
    Y = torch.tensor([0, 1, 2, 2, 3, 0])
    nb, h = calculate_bundles(X, Y)
    p = torch.tensor([2 / 3, 1 / 3])
    want = 3 * float(-(p * torch.log(p + 1e-5)).sum()) / 6
    check(nb == 3 and abs(h - want) < 1e-6, f"hand-made bundles: {nb} bundles H {h:.6f} (want 3, {want:.6f})")
    nb, h = calculate_bundles(torch.zeros(4, 3), torch.tensor([0, 0, 0, 0]))
    check(nb == 1 and h == 0.0, f"one pure bundle: {nb} bundles H {h} (want 1, 0; max(0, -ln(1+1e-5)) = 0)")
    nb, h = calculate_bundles(torch.arange(8.).view(4, 2), torch.tensor([0, 1, 2, 3]))
    check(nb == 4 and h == 0.0, f"all distinct: {nb} bundles H {h} (want 4, 0)")
    nb, h = calculate_bundles(torch.zeros(10, 5), torch.arange(10))
    check(nb == 1 and abs(h - math.log(10)) < 1e-3, f"one bundle of 10 classes: H {h:.5f} (want ~ln 10 = {math.log(10):.5f})")
    # resolution: w=1, a=0 vs a=1e-5 -> 1 - 1.6e-10 == 1 in f32 -> one bundle; a=1 -> separate
    a = torch.tensor([[0.0], [1e-5], [1.0]])
    v = amplitude_check(1.0, a)
    nb, h = calculate_bundles(v, torch.tensor([0, 1, 1]))
    check(nb == 2, f"float32 resolution of w - a*lr/bs: {nb} bundles (want 2: a=0 and a=1e-5 merge)")
    # greedy == grouping by unique rows, on random data with duplicates
    g = torch.Generator().manual_seed(0)
    base = torch.randn(20, 6, generator=g)
    Xr = base[torch.randint(0, 20, (300,), generator=g)]
    Yr = torch.randint(0, 10, (300,), generator=g)
    nb, h = calculate_bundles(Xr, Yr)
    _, inv = torch.unique(Xr, dim=0, return_inverse=True)
    h2 = 0.0
    for b in inv.unique():
        yy = Yr[inv == b]
        pp = torch.bincount(yy, minlength=10).double() / len(yy)
        h2 += len(yy) * max(0.0, float(-(pp * torch.log(pp + 1e-5)).sum()))
    check(nb == len(inv.unique()) and abs(h - h2 / 300) < 1e-4,
          f"greedy vs unique-rows grouping: {nb} vs {len(inv.unique())} bundles, H {h:.5f} vs {h2 / 300:.5f}")

    # 2. TF "same" padding (asymmetric for stride 2)
    c = ConvSame(1, 1, 3, 2, "he_normal")
    with torch.no_grad():
        c.weight.fill_(1.0)
    o = c(torch.ones(1, 1, 4, 4))
    check(o.shape[-1] == 2 and o[0, 0, 0, 0].item() == 9 and o[0, 0, 1, 1].item() == 4,
          f"TF same, 3x3 s2 on 4x4 ones: {o.flatten().tolist()} (want [9,6,6,4])")
    c7 = ConvSame(1, 1, 7, 2, "glorot_uniform")
    check(c7(torch.ones(1, 1, 32, 32)).shape[-1] == 16 and tf_same_pad(torch.ones(1, 1, 32, 32), 7, 2).shape[-1] == 37,
          "TF same, 7x7 s2 on 32: pads 2 left / 3 right -> 16")
    net = VGG([3, 12, 41, 3], [8, 16, 32, 64])
    taps = []
    net.eval()
    net(torch.zeros(2, 1, 32, 32), taps)
    shapes = [tuple(t.shape[1:]) for t in taps]
    check(len(taps) == 61 and shapes[0] == (8, 16, 16) and shapes[1] == (8, 16, 16) and shapes[4] == (16, 8, 8)
          and shapes[16] == (32, 4, 4) and shapes[57] == (64, 2, 2) and shapes[-1] == (64,),
          f"VGG-120 rows: {len(taps)} (stem + 59 blocks + pooled), {shapes[0]} ... {shapes[57]} {shapes[-1]}")
    w0 = net.blocks[5].conv1.weight
    std = math.sqrt(2 / (16 * 9)) / 0.87962566103423978
    check(abs(w0.std().item() / math.sqrt(2 / (16 * 9)) - 1) < 0.1 and w0.abs().max().item() <= 2 * std + 1e-6,
          f"he_normal: std {w0.std().item():.4f} (want ~{math.sqrt(2 / (16 * 9)):.4f}), max {w0.abs().max().item():.4f} <= {2 * std:.4f}")

    # 3. optimizer: tfa RAdam == torch RAdam(decoupled) when eps = 0; step 1..5 = momentum SGD
    torch.manual_seed(1)
    pa = [torch.randn(5, 3, requires_grad=True), torch.randn(4, requires_grad=True)]
    pb = [p.detach().clone().requires_grad_(True) for p in pa]
    oa = TfaRAdam(pa, epsilon=0.0)
    ob = torch.optim.RAdam(pb, lr=1e-3, eps=0.0, weight_decay=1e-2, decoupled_weight_decay=True)
    diff, phases = 0.0, []
    for t in range(12):
        gs = [torch.randn_like(p) for p in pa]
        for p, q, gg in zip(pa, pb, gs):
            p.grad, q.grad = gg.clone(), gg.clone()
        oa.step()
        ob.step()
        phases.append(oa.last_rectified)
        diff = max(diff, max((p - q).abs().max().item() for p, q in zip(pa, pb)))
    check(diff < 1e-6 and phases == [False] * 5 + [True] * 7,
          f"tfa RAdam vs torch RAdam (eps 0): max diff {diff:.2e}; rectified from step {phases.index(True) + 1}")
    p1 = torch.tensor([2.0], requires_grad=True)
    o1 = TfaRAdam([p1])
    p1.grad = torch.tensor([300.0])
    o1.step()
    check(abs(p1.item() - (2.0 - 1e-3 * (300.0 + 1e-2 * 2.0))) < 1e-5,
          f"step 1 = var - lr (g + wd var): {p1.item():.5f} (want {2.0 - 1e-3 * 300.02:.5f})")

    # 4. a tiny VGG [1,1,1,1] trains.  With Ranger it is slow at first: RAdam's
    # rectification r_t is ~0.2 at step 100 and ~0.4 at step 300, and Lookahead
    # halves progress, so 300 steps give ~75%; Adam shows the net and data are fine.
    xtr, ytr = load_mnist(args.data_dir, "train", args.data)
    xte, yte = load_mnist(args.data_dir, "t10k", args.data)
    check(xtr.shape == (60000, 1, 32, 32) if args.data == "ours" else xtr.shape == (60000, 1, 28, 28),
          f"data {args.data}: {tuple(xtr.shape)}, border value {xtr[0, 0, 0, 0].item():.4f}, "
          f"mean {xtr.mean().item():.4f}")
    for opt_name, steps in (("Adam", 300), ("Ranger", 900)):
        t0 = time.time()
        model, st, _ = train_probe(args, 0, xtr, ytr, xte, yte, [1, 1, 1, 1], [8, 16, 32, 64],
                                   max_steps=steps, quiet=True, adam=opt_name == "Adam")
        acc = accuracy(model, xte[:2000], yte[:2000])
        check(acc > 0.9, f"tiny VGG [1,1,1,1], {opt_name}, {steps} steps: test acc {100 * acc:.2f}% "
              f"({time.time() - t0:.0f}s)")
    xs, ys = bundle_subset(args, 0, xtr, ytr)
    rows = measure(model, xs, ys)
    print("     tiny VGG rows (w, bundles, H): " +
          "; ".join(f"{r['row']} {r['w']:.3f} {r['bundles']} {r['H']:.3f}" for r in rows))
    print("self-test " + ("passed" if ok else "FAILED"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default=None, help="folder for seed{N}.json")
    ap.add_argument("--blocks", default="3,12,41,3")
    ap.add_argument("--width-divisor", type=int, default=8)
    ap.add_argument("--bundle-samples", type=int, default=512)
    ap.add_argument("--data", choices=["ours", "authors"], default="ours")
    ap.add_argument("--subset", choices=["random", "stream"], default="random")
    ap.add_argument("--max-steps", type=int, default=None, help="cut the epoch short (testing)")
    ap.add_argument("--w-steps", default="0,1,2,3,4,5,6,7,8,10,12,20,50,100,200,500,938")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    if args.self_test:
        sys.exit(0 if self_test(args) else 1)
    cmd = "python scripts/autotune_probe_torch.py " + " ".join(sys.argv[1:])
    xtr, ytr = load_mnist(args.data_dir, "train", args.data)
    xte, yte = load_mnist(args.data_dir, "t10k", args.data)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    for s in [int(s) for s in args.seeds.split(",")]:
        r = run_seed(args, s, (xtr, ytr, xte, yte), cmd)
        print(summary_line(r), flush=True)
        if args.out:
            with open(os.path.join(args.out, f"seed{s}.json"), "w") as f:
                json.dump(r, f, indent=1)
                f.write("\n")


if __name__ == "__main__":
    main()
