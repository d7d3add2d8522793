#!/usr/bin/env python3
"""Writes a .npy folder of hand-made features of Fashion-MNIST, for the
README's feature-matrix figures: each image's 4x4 average pooling (7x7 = 49
values of q/255), square-rooted, as float32 (n, 49); labels as uint8. Plain
Python (no NumPy); about a minute.

    bench/features_fashion_mnist.py OUT_DIR [FASHION_MNIST_DIR]
    krrdistill distill --dataset npy --data OUT_DIR --ipc 1 --out out-features
"""
import gzip
import math
import os
import struct
import sys


def write_npy(path, descr, shape, data):
    dims = ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "")
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, dims)
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)


def features(images):
    values = []
    for i in range(len(images) // 784):
        img = images[784 * i:784 * (i + 1)]
        for by in range(7):
            for bx in range(7):
                total = sum(img[(4 * by + dy) * 28 + 4 * bx + dx] for dy in range(4) for dx in range(4))
                values.append(math.sqrt(total / (16 * 255.0)))
    return struct.pack("<%df" % len(values), *values)


def main():
    out = sys.argv[1]
    source = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    os.makedirs(out, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = gzip.open(os.path.join(source, prefix + "-images-idx3-ubyte.gz")).read()[16:]
        labels = gzip.open(os.path.join(source, prefix + "-labels-idx1-ubyte.gz")).read()[8:]
        n = len(labels)
        write_npy(os.path.join(out, "x_%s.npy" % split), "<f4", (n, 49), features(images))
        write_npy(os.path.join(out, "y_%s.npy" % split), "|u1", (n,), labels)


if __name__ == "__main__":
    main()
