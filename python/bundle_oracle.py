"""The bundle metric written in numpy from the paper's definitions (eqs. 2-3
and resolution mode), independent of the Rust code: the tests compare
`cb report`'s numbers with it.

Resolution mode: v = w_max - (lr * a) / batch_size, computed in numpy's
float32 (or float16: numpy rounds every float16 operation to float16, which
is what `--precision f16` specifies); rows are bundled when their v are
equal (-0.0 made +0.0 first); a row with a NaN or +-Inf input is a bundle of
its own.
"""

import numpy as np

EPS = 1e-5


def bundles(acts, w_max, lr=1e-3, batch_size=64, dtype=np.float32):
    """Bundle id per sample, numbered by each bundle's first sample."""
    a = np.asarray(acts, dtype=np.float32).reshape(len(acts), -1)
    finite = np.isfinite(a).all(axis=1)
    t = np.dtype(dtype).type
    v = t(w_max) - (t(lr) * a.astype(dtype)) / t(batch_size)
    v = v + t(0.0)  # -0.0 + 0.0 = +0.0
    ids, seen = [], {}
    for i in range(len(a)):
        key = v[i].tobytes() if finite[i] else ("alone", i)
        if key not in seen:
            seen[key] = len(seen)
        ids.append(seen[key])
    return np.array(ids)


def entropy(ids, labels):
    """H = (1/N) sum over bundles |D| max(0, -sum_n p(n) ln(p(n) + eps))."""
    ids, labels = np.asarray(ids), np.asarray(labels)
    total = 0.0
    for b in range(ids.max() + 1):
        members = labels[ids == b]
        _, counts = np.unique(members, return_counts=True)
        p = counts / len(members)
        total += len(members) * max(0.0, float(-(p * np.log(p + EPS)).sum()))
    return total / len(ids)


def layer(acts, labels, w_max, lr=1e-3, batch_size=64, dtype=np.float32):
    """(number of bundles, H^l, largest bundle's share) of one layer."""
    ids = bundles(acts, w_max, lr, batch_size, dtype)
    sizes = np.bincount(ids)
    return int(sizes.size), entropy(ids, labels), float(sizes.max() / len(ids))
