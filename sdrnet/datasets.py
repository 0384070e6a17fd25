"""Readers for standard data files: MNIST-style IDX."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _header(data: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """dtype, shape and header length of the IDX file ``path`` whose first bytes are ``data``.

    Header: two zero bytes, a type byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
    0x0E float64), the number of dimensions, then each dimension as a big-endian uint32.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: its magic number is {data[:4].hex() or 'missing'}, expected "
            f"0000, a type code in {[hex(c) for c in _IDX_DTYPES]} and the number of dimensions"
        )
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated header ({len(data)} bytes for {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    return np.dtype(_IDX_DTYPES[data[2]]), shape, 4 + 4 * ndim


def _gunzip(data: bytes, path: Path, *, prefix: int | None = None) -> bytes:
    """``data`` decompressed (only its first ``prefix`` bytes if given); a damaged stream is a ``ValueError``."""
    try:
        return gzip.decompress(data) if prefix is None else zlib.decompressobj(31).decompress(data, prefix)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: damaged gzip data ({err}); download the file again") from err


def read_idx(path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format; gzip-compressed or not) into an array of its shape and type."""
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, path)
    dtype, shape, start = _header(data, path)
    expected = int(np.prod(shape)) * dtype.itemsize
    body = data[start:]
    if len(body) != expected:
        raise ValueError(
            f"{path}: {len(body)} data bytes for shape {shape} of {dtype}, expected {expected}; truncated or corrupt"
        )
    return np.frombuffer(body, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def idx_shape(path) -> tuple[int, ...]:
    """The shape an IDX file declares, from its header alone; ``ValueError`` if the file is not IDX or its size
    disagrees with that shape (for a gzip file, the uncompressed size its trailer records, modulo 2**32)."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(4096)
        size = f.seek(0, 2)
        gzipped = head[:2] == _GZIP_MAGIC
        if gzipped:
            f.seek(max(size - 4, 0))
            size = int.from_bytes(f.read(4), "little")
    if gzipped:
        head = _gunzip(head, path, prefix=4 + 4 * 255)
    dtype, shape, start = _header(head, path)
    expected = start + int(np.prod(shape)) * dtype.itemsize
    if size != (expected % 2**32 if gzipped else expected):
        raise ValueError(
            f"{path}: {size} bytes{' uncompressed' if gzipped else ''} for shape {shape} of {dtype}, "
            f"expected {expected}; truncated or corrupt"
        )
    return shape


def mnist_files(folder, split: str = "train") -> tuple[Path, Path]:
    """The images and labels IDX files of ``split`` (``'train'`` or ``'test'``) in ``folder``, each ``name`` or
    ``name.gz``, checked from their headers: images ``[N, H, W]`` and labels ``[N]`` for the same ``N``."""
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder (expected one holding MNIST's IDX files)")
    found = []
    for name in MNIST_FILES[split]:
        path = next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"{name}[.gz] not found in {folder}")
        found.append(path)
    images, labels = (idx_shape(p) for p in found)
    if len(images) != 3 or len(labels) != 1 or images[0] != labels[0]:
        raise ValueError(f"MNIST files in {folder} disagree: images {images}, labels {labels}")
    return found[0], found[1]


def load_mnist(folder, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 28, 28]`` uint8 and labels ``[N]`` from the standard MNIST IDX files in ``folder``.

    ``split`` is ``'train'`` or ``'test'``; each file may be gzipped (``…-ubyte.gz``).
    """
    images, labels = mnist_files(folder, split)
    return read_idx(images), read_idx(labels)
