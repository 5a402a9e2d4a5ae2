"""Save a PyTorch model's layer activations for `cb report`.

    import cb_capture
    info = cb_capture.capture(model, loader, include=["layers.*"], samples=2048,
                              out="acts.npz", labels_out="labels.npy")
    w = cb_capture.max_abs_weight(model, include=["*.weight"])
    # then: cb report acts.npz --labels labels.npy --max-weight <w> --out report/

What it does:
- a forward hook on every module whose name matches one of the `include`
  globs (fnmatch, as `cb report --weights-include`) and none of `exclude`;
  by default (`include=None`) every leaf module (one without children);
- the model in eval mode, no gradients, batches from `loader` until
  `samples` samples have passed (the last batch is cut);
- each call's output (the first tensor of a tuple) flattened per sample and
  saved as float32, one array per call, in the order of the calls, in one
  `.npz` that `cb report` reads layer by layer; the labels as an int64
  `.npy`. A module that runs once per forward pass is saved under its name
  (`layers.3`); one that runs k times (torchvision's ResNet blocks call one
  `relu` twice) gives k layers, `layer1.0.relu#1` ... `layer1.0.relu#k`,
  each call a layer of its own in execution order. Every batch must make
  the same calls in the same order (else a ValueError names the module whose
  call count changed), and each output must have one row per sample.

Memory: the captured activations are held until written (N x all features x
4 bytes); capture fewer samples or fewer modules for a large model. The
.npz is written one array at a time (zip64, like numpy's savez).

Needs torch and numpy. Also a command line for a model saved whole with
`torch.save(model)`: `python cb_capture.py --help`.
"""

from __future__ import annotations

import fnmatch
import zipfile
from collections import Counter

import numpy as np
import torch

__all__ = ["call_names", "capture", "max_abs_weight", "select_modules", "write_npz"]


def select_modules(model: torch.nn.Module, include=None, exclude=()):
    """(name, module) pairs the hooks go on, in `named_modules` order."""
    picked = []
    for name, module in model.named_modules():
        if not name:
            continue  # the model itself
        if include is None:
            ok = next(module.children(), None) is None
        else:
            ok = any(fnmatch.fnmatchcase(name, g) for g in include)
        if ok and not any(fnmatch.fnmatchcase(name, g) for g in exclude):
            picked.append((name, module))
    if not picked:
        raise ValueError(f"no module of the model matches include={include!r} exclude={list(exclude)!r}")
    return picked


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for o in output:
            if isinstance(o, torch.Tensor):
                return o
    return None


def call_names(modules):
    """Layer names for one forward pass's calls, given the calling module's
    name per call in call order: the module's name when it ran once,
    `name#1`, `name#2`, ... (in call order) when it ran more than once."""
    counts = Counter(modules)
    seen = Counter()
    names = []
    for m in modules:
        if counts[m] == 1:
            names.append(m)
        else:
            seen[m] += 1
            names.append(f"{m}#{seen[m]}")
    return names


def _calls_differ(first, now, batch):
    """Why the calls of batch `batch` (module names in call order) do not
    match the first batch's."""
    a, b = Counter(first), Counter(now)
    for m in list(dict.fromkeys(first + now)):
        if a[m] != b[m]:
            return (f"module {m} ran {a[m]} time(s) in the first batch's forward pass but {b[m]} "
                    f"in batch {batch}: each call is a layer, so every batch must make the same calls")
    i = next(i for i, (x, y) in enumerate(zip(first, now)) if x != y)
    return (f"the modules ran in another order in batch {batch} than in the first: "
            f"call {i + 1} is {now[i]}, was {first[i]}")


def capture(model, loader, include=None, exclude=(), samples=2048, out="acts.npz",
            labels_out="labels.npy", device=None):
    """Runs `model` on `samples` samples of `loader` ((inputs, labels) batches)
    and saves the outputs of the selected modules' calls (see the module's
    docs for the names); returns a dict with the layer names, their feature
    counts and the number of samples."""
    if samples < 1:
        raise ValueError("samples must be at least 1")
    modules = select_modules(model, include, exclude)
    calls: list[tuple[str, np.ndarray]] = []  # this forward pass's, in call order
    first: list[str] | None = None  # the first batch's calling modules, in call order
    chunks: list[list[np.ndarray]] = []  # per call of a forward pass, per batch
    taken = 0
    want = 0  # samples of the current batch to keep

    def hook(name):
        def fn(_module, _inputs, output):
            t = _first_tensor(output)
            if t is None:
                return
            # The input is cut to `want` samples: an output with another
            # first dimension is not one row per sample.
            if t.dim() == 0 or t.shape[0] != want:
                rows = t.shape[0] if t.dim() else "no"
                raise ValueError(f"module {name}'s output has {rows} rows for a batch of {want} samples")
            # A copy: the array would otherwise share the tensor's memory, and
            # an in-place module after this one (torchvision's
            # ReLU(inplace=True)) would overwrite it with its own output.
            a = t.detach().reshape(want, -1).to("cpu", torch.float32, copy=True)
            calls.append((name, a.numpy()))
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in modules]
    labels = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch, (x, y) in enumerate(loader, 1):
                if taken >= samples:
                    break
                want = min(samples - taken, len(y))
                x = x[:want]
                if device is not None:
                    x = x.to(device)
                calls.clear()
                model(x)
                ran = [n for n, _ in calls]
                if first is None:
                    first = ran
                    chunks = [[] for _ in ran]
                elif ran != first:
                    raise ValueError(_calls_differ(first, ran, batch))
                for c, (_, a) in zip(chunks, calls):
                    c.append(a)
                labels.append(np.asarray(y[:want].cpu().numpy(), dtype=np.int64))
                taken += want
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        calls.clear()
    if taken == 0:
        raise ValueError("the loader gave no samples")
    if not first:
        raise ValueError("none of the selected modules returned a tensor")
    labels = np.concatenate(labels)
    layers = []
    for name, c in zip(call_names(first), chunks):
        layers.append((name, np.concatenate(c)))
        c.clear()  # the concatenated copy replaces the batches' arrays
    info = {"layers": [n for n, _ in layers], "features": [int(a.shape[1]) for _, a in layers],
            "samples": int(taken)}
    write_npz(out, layers)
    np.save(labels_out, labels)
    return info


def write_npz(path, layers):
    """Writes (name, array) pairs as a .npz in the given order, freeing each
    array's memory from the list once written."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for i in range(len(layers)):
            name, a = layers[i]
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(a), allow_pickle=False)
            layers[i] = (name, None)


def max_abs_weight(model, include=("*.weight",), exclude=()):
    """The largest absolute value over the parameters whose names match
    `include` (and not `exclude`): resolution mode's w_max."""
    best, n = 0.0, 0
    for name, p in model.named_parameters():
        if any(fnmatch.fnmatchcase(name, g) for g in include) and not any(
            fnmatch.fnmatchcase(name, g) for g in exclude
        ):
            best = max(best, float(p.detach().abs().max()))
            n += 1
    if n == 0:
        raise ValueError(f"no parameter matches include={list(include)!r}")
    return best


def _main():
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a model saved whole with torch.save(model)")
    ap.add_argument("data", help="a file saved with torch.save((inputs, labels))")
    ap.add_argument("--include", action="append", help="module name glob (repeatable); default: leaf modules")
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", default="acts.npz")
    ap.add_argument("--labels-out", default="labels.npy")
    args = ap.parse_args()
    model = torch.load(args.model, weights_only=False)
    x, y = torch.load(args.data)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=args.batch_size)
    info = capture(model, loader, args.include, args.exclude, args.samples, args.out, args.labels_out)
    w = max_abs_weight(model)
    print(f"saved {len(info['layers'])} layers of {info['samples']} samples to {args.out}, labels to {args.labels_out}")
    print(f"cb report {args.out} --labels {args.labels_out} --max-weight {w!r} --out report")


if __name__ == "__main__":
    _main()
