"""Readers for standard data files: MNIST-style IDX."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format; gzip-compressed or not) into an array of its shape and type.

    Header: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: its magic number is {data[:4].hex() or 'missing'}, expected "
                         f"0000, a type code in {[hex(c) for c in _IDX_DTYPES]} and the number of dimensions")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[4 + 4 * ndim:]
    if len(body) != expected:
        raise ValueError(f"{path}: {len(body)} data bytes for shape {shape} of {dtype}, expected {expected}; "
                         "truncated or corrupt")
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def load_mnist(folder, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` from the standard MNIST IDX files in ``folder``.

    ``split`` is ``'train'`` or ``'test'``; each file may be gzipped (``…-ubyte.gz``).
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    arrays = []
    for name in MNIST_FILES[split]:
        candidates = [folder / name, folder / f"{name}.gz"]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise FileNotFoundError(f"{name}[.gz] not found in {folder}")
        arrays.append(read_idx(found))
    images, labels = arrays
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise ValueError(f"MNIST files in {folder} disagree: images {images.shape}, labels {labels.shape}")
    return images, labels
