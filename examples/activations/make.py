"""Regenerates layer.npy and labels.npy (standard library only, seeded).

A "dying ReLU" layer: class-dependent pre-activations shifted far below zero,
so most samples of different classes collapse onto the zero vector."""
import random
import struct

random.seed(7)
N, D, C = 512, 8, 10


def header(descr, shape):
    dims = "({},)".format(shape[0]) if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    h = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, dims)
    while (10 + len(h) + 1) % 64:
        h += " "
    h += "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode()


labels = [i % C for i in range(N)]
rows = [[max(0.0, random.gauss(0.3 * y - 2.0, 1.0)) for _ in range(D)] for y in labels]
with open("layer.npy", "wb") as f:
    f.write(header("<f4", (N, D)))
    f.write(b"".join(struct.pack("<f", x) for r in rows for x in r))
with open("labels.npy", "wb") as f:
    f.write(header("|u1", (N,)))
    f.write(bytes(labels))
