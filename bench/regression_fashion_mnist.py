#!/usr/bin/env python3
"""Writes a .npy folder of Fashion-MNIST's images with real targets, for the
README's regression figures: y = A (q/255) - mean + noise, A a fixed Gaussian
3x784 matrix (seed 0, entries N(0, 1/28^2)), the mean that of the training
targets, noise N(0, 0.1^2), so a test MSE of 0.01 is the best any model can
do. Plain Python (no NumPy); about 15 s.

    bench/regression_fashion_mnist.py OUT_DIR [FASHION_MNIST_DIR]
    krrdistill distill --dataset npy --data OUT_DIR --ipc 1 --out out-reg
"""
import gzip
import os
import random
import struct
import sys


def write_npy(path, descr, shape, data):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(map(str, shape)))
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)


def main():
    out = sys.argv[1]
    source = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    train = gzip.open(os.path.join(source, "train-images-idx3-ubyte.gz")).read()[16:]
    test = gzip.open(os.path.join(source, "t10k-images-idx3-ubyte.gz")).read()[16:]
    rng = random.Random(0)
    k, d = 3, 784
    A = [[rng.gauss(0, 1) / 28 for _ in range(d)] for _ in range(k)]

    def linear(images):
        n = len(images) // d
        return [[sum(a * q for a, q in zip(row, images[d * i:d * (i + 1)])) / 255.0 for row in A]
                for i in range(n)]

    train_y, test_y = linear(train), linear(test)
    mean = [sum(y[j] for y in train_y) / len(train_y) for j in range(k)]

    def targets(rows):
        values = [y[j] - mean[j] + 0.1 * rng.gauss(0, 1) for y in rows for j in range(k)]
        return struct.pack("<%dd" % len(values), *values)

    os.makedirs(out, exist_ok=True)
    write_npy(os.path.join(out, "x_train.npy"), "|u1", (len(train_y), 28, 28), train)
    write_npy(os.path.join(out, "x_test.npy"), "|u1", (len(test_y), 28, 28), test)
    write_npy(os.path.join(out, "y_train.npy"), "<f8", (len(train_y), k), targets(train_y))
    write_npy(os.path.join(out, "y_test.npy"), "<f8", (len(test_y), k), targets(test_y))


if __name__ == "__main__":
    main()
