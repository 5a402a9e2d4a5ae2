"""The per-layer criteria besides the bundle metric, written in numpy from
their papers, independent of the Rust code (src/criteria/): the tests
compare `cb report --criteria ...` with them.

- Batch entropy (Peer, Stabinger, Engl, Rodriguez-Sanchez, TMLR 2022,
  arXiv 2208.01134; `batch_entropy` in their code): each unit's activations
  over the batch taken as Gaussian with the unbiased standard deviation,
  H = mean over units of 0.5 * ln(pi * e * std^2 + 1).
- Block influence (ShortGPT, Men et al. 2024): BI = 1 - mean over samples of
  cos(input, output), the input of layer l being layer l-1's output.
- Angular distance (Gromov et al. 2024): mean over samples of
  arccos(cos(x_l, x_{l+n})) / pi.

Cosines of a zero row: 1 when both rows are zero, 0 when only one is.
A similarity of layers of different widths does not apply: None.
Everything in float64.
"""

import numpy as np


def rows(a):
    a = np.asarray(a)
    return a.reshape(len(a), -1).astype(np.float64)


def batch_entropy(a):
    x = rows(a)
    std = x.std(axis=0, ddof=1)
    return float(np.mean(0.5 * np.log(np.pi * np.e * std**2 + 1.0)))


def cosines(a, b):
    """Per-sample cosine, or None when the widths differ."""
    x, y = rows(a), rows(b)
    if x.shape != y.shape:
        return None
    nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
    out = np.empty(len(x))
    for i in range(len(x)):
        if nx[i] == 0 and ny[i] == 0:
            out[i] = 1.0
        elif nx[i] == 0 or ny[i] == 0:
            out[i] = 0.0
        else:
            out[i] = np.clip(np.dot(x[i], y[i]) / (nx[i] * ny[i]), -1.0, 1.0)
    return out


def block_influence(inp, out):
    c = cosines(inp, out)
    return None if c is None else float(1.0 - c.mean())


def angular_distance(a, b):
    c = cosines(a, b)
    return None if c is None else float(np.mean(np.arccos(c) / np.pi))


def per_layer(layers, skip=1):
    """{criterion: [value or None per layer]} for (name, array) pairs in
    file order: block influence from the previous layer, angular distance
    to the layer `skip` later."""
    arrays = [a for _, a in layers]
    L = len(arrays)
    return {
        "batch_entropy": [batch_entropy(a) for a in arrays],
        "block_influence": [None] + [block_influence(arrays[i - 1], arrays[i]) for i in range(1, L)],
        "angular_distance": [angular_distance(arrays[i], arrays[i + skip]) if i + skip < L else None
                             for i in range(L)],
    }
