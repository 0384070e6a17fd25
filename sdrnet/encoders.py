"""Encoders: numbers and categories to SDRs whose overlap reflects similarity.

After htm.core's ``ScalarEncoder`` and ``RDSE`` (github.com/htm-community/htm.core,
``src/htm/encoders``). Semantically similar inputs get overlapping SDRs, so that the
overlap ``x · y`` that dendritic segments threshold (Ahmad & Hawkins 2016,
arXiv:1601.00720) measures similarity.

>>> enc = ScalarEncoder(0, 10, size=7, active_bits=3)
>>> enc.encode(0).sparse.tolist(), enc.encode(5).sparse.tolist(), enc.encode(10).sparse.tolist()
([0, 1, 2], [2, 3, 4], [4, 5, 6])
>>> rdse = RDSE(size=1000, active_bits=20, resolution=0.5)
>>> rdse.encode(3.0).overlap(rdse.encode(3.5))   # neighbouring buckets share 19 of 20 bits
19
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import numpy as np

from .core.validation import as_array, check_bool, check_int
from .sdr import SDR, SDRBatch

__all__ = ["RDSE", "CategoryEncoder", "ScalarEncoder"]


def _check_real(name: str, x, *, finite: bool = True) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    if np.isnan(x):
        raise ValueError(f"{name} must not be NaN")
    if finite and not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return float(x)


def _check_sizes(size, active_bits) -> tuple[int, int]:
    size = check_int("size", size, 1)
    active_bits = check_int("active_bits", active_bits, 1)
    if active_bits > size:
        raise ValueError(f"active_bits must be <= size ({size}), got {active_bits}")
    return size, active_bits


def _values(xs) -> np.ndarray:
    """``xs`` as a float64 vector: real, not boolean, no NaN (infinities are left to the caller)."""
    arr = as_array("xs", xs, kind="b", ndim=1)
    if arr.dtype.kind == "b":
        raise TypeError("xs must hold real numbers, got booleans")
    arr = arr.astype(np.float64)
    nan = np.flatnonzero(np.isnan(arr))
    if nan.size:
        raise ValueError(f"xs[{nan[0]}] is NaN; encoders need a number")
    return arr


def _encode_one(encoder, x) -> SDR:
    try:
        return encoder.encode_batch(np.array([_check_real("x", x, finite=False)]))[0]
    except ValueError as exc:  # name the scalar argument, not xs[0]
        raise ValueError(str(exc).replace("xs[0]", "x")) from None


def _blocks(starts: np.ndarray, width: int, size: int) -> SDRBatch:
    """Rows of ``width`` consecutive bits from ``starts`` (wrapping modulo ``size``)."""
    bits = np.sort((starts[:, None] + np.arange(width)) % size, axis=1)
    return SDRBatch._trusted(size, bits.ravel(), np.arange(starts.shape[0] + 1, dtype=np.int64) * width)


# ---------------------------------------------------------------------------- scalar
class ScalarEncoder:
    """A contiguous block of ``active_bits`` bits whose position codes the value.

    Non-periodic: there are ``size − active_bits + 1`` buckets over ``[minimum, maximum]``;
    ``x`` goes to bucket ``round((x − minimum) / (maximum − minimum) · (size − active_bits))``
    (half up), whose block starts at bit ``bucket``. Values ``k`` buckets apart share
    ``max(0, active_bits − k)`` bits.

    Periodic: ``size`` buckets around a circle on which ``maximum`` is ``minimum``;
    bucket ``round((x − minimum) / (maximum − minimum) · size) mod size`` and the block
    wraps past the last bit.

    Parameters
    ----------
    minimum, maximum : float, ``minimum < maximum``
    size : int >= 1, bits of the output
    active_bits : int, ``1 <= active_bits <= size``
    periodic : bool
    clip_input : bool
        Out-of-range values are clipped to the range (periodic: wrapped onto the circle)
        instead of raising ``ValueError``.
    """

    def __init__(
        self,
        minimum: float,
        maximum: float,
        size: int,
        active_bits: int,
        *,
        periodic: bool = False,
        clip_input: bool = False,
    ):
        self.minimum = _check_real("minimum", minimum)
        self.maximum = _check_real("maximum", maximum)
        if not self.minimum < self.maximum:
            raise ValueError(f"minimum must be < maximum, got minimum={minimum}, maximum={maximum}")
        if not np.isfinite(self.maximum - self.minimum):
            raise ValueError(f"maximum - minimum must be finite, got {maximum} - {minimum}")
        self.size, self.active_bits = _check_sizes(size, active_bits)
        self.periodic, self.clip_input = check_bool("periodic", periodic), check_bool("clip_input", clip_input)

    @property
    def n_buckets(self) -> int:
        return self.size if self.periodic else self.size - self.active_bits + 1

    @property
    def resolution(self) -> float:
        """Input change that moves the block by one bit (``inf`` when there is a single bucket)."""
        steps = self.size if self.periodic else self.size - self.active_bits
        return (self.maximum - self.minimum) / steps if steps else float("inf")

    def encode(self, x: float) -> SDR:
        """Encode one number."""
        return _encode_one(self, x)

    def encode_batch(self, xs) -> SDRBatch:
        """Encode a 1-D array of numbers, one SDR per value."""
        return _blocks(self.bucket(xs), self.active_bits, self.size)

    def bucket(self, xs) -> np.ndarray:
        """int64 bucket (= first active bit, before wrapping) of each value of ``xs``."""
        x = _values(xs)
        lo, hi, span = self.minimum, self.maximum, self.maximum - self.minimum
        if self.clip_input and self.periodic:
            inf = np.flatnonzero(~np.isfinite(x))
            if inf.size:
                raise ValueError(f"xs[{inf[0]}] = {x[inf[0]]} cannot be wrapped onto the periodic range [{lo}, {hi}]")
            x = lo + np.mod(x - lo, span)
        elif self.clip_input:
            x = np.clip(x, lo, hi)
        out = np.flatnonzero((x < lo) | (x > hi))
        if out.size:
            raise ValueError(
                f"xs[{out[0]}] = {x[out[0]]} is outside the range [{lo}, {hi}] (pass clip_input=True to clip it)"
            )
        steps = self.size if self.periodic else self.size - self.active_bits
        bucket = np.floor((x - lo) / span * steps + 0.5).astype(np.int64)
        return bucket % self.size if self.periodic else bucket

    def __repr__(self) -> str:
        return (
            f"ScalarEncoder(minimum={self.minimum}, maximum={self.maximum}, size={self.size}, "
            f"active_bits={self.active_bits}, periodic={self.periodic}, clip_input={self.clip_input})"
        )


# ---------------------------------------------------------------------------- RDSE
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MAX_BUCKET = 2**62


def _mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (Steele, Lea & Flood 2014) on uint64 arrays, wrapping arithmetic."""
    z = np.asarray(z, np.uint64)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class RDSE:
    """Random distributed scalar encoder (htm.core's ``RDSE``).

    ``x`` goes to bucket ``i = floor(x / resolution)``. Each integer ``k`` (a "slot") has
    a pseudo-random bit ``h(k) mod size``, where ``h(k) = mix64(mix64(seed) + k · γ)`` is
    the SplitMix64 hash (``γ = 0x9E3779B97F4A7C15``, arithmetic modulo 2**64; a negative
    ``k`` is taken as its two's-complement). Bucket ``i`` activates the bits of its window
    of slots ``i, i + 1, ..., i + active_bits − 1``, so buckets ``i`` and ``i + k`` share
    ``active_bits − k`` slots: nearby values overlap, and buckets ``active_bits`` or more
    apart are unrelated random SDRs (overlap about ``active_bits² / size``). The encoding
    needs no stored state and is the same in every process and on every platform.

    Collisions: two slots of one window can hash to the same bit. The window's slots
    are then taken in order ``j = 0, 1, ...``; a slot whose bit is already active moves
    to the next inactive bit (``bit + 1``, ``bit + 2``, ... modulo ``size``, i.e. linear
    probing). Every bucket thus has exactly ``active_bits`` distinct bits. Collisions are
    rare when ``active_bits² ≪ size``; where one occurs the overlap of neighbouring
    buckets can differ from ``active_bits − k`` by a bit or so.

    Parameters
    ----------
    size : int >= 1
    active_bits : int, ``1 <= active_bits <= size``
    resolution : float > 0, input width of one bucket
    seed : int in ``[0, 2**64)``
    """

    def __init__(self, size: int, active_bits: int, resolution: float, *, seed: int = 0):
        self.size, self.active_bits = _check_sizes(size, active_bits)
        self.resolution = _check_real("resolution", resolution)
        if self.resolution <= 0:
            raise ValueError(f"resolution must be > 0, got {resolution}")
        self.seed = check_int("seed", seed, 0)
        if self.seed >= 2**64:
            raise ValueError(f"seed must be < 2**64, got {seed}")
        self._key = _mix64(np.array(self.seed, np.uint64))

    def bucket(self, xs) -> np.ndarray:
        """int64 ``floor(x / resolution)`` for each value of ``xs``."""
        x = _values(xs)
        q = np.floor(x / self.resolution)
        bad = np.flatnonzero(~(np.abs(q) < _MAX_BUCKET))
        if bad.size:
            raise ValueError(
                f"xs[{bad[0]}] = {x[bad[0]]} is too large for resolution {self.resolution} "
                f"(|x / resolution| must be < 2**62)"
            )
        return q.astype(np.int64)

    def slot_bits(self, slots) -> np.ndarray:
        """``h(k) mod size`` for integer slots ``k`` (before collision handling)."""
        k = np.asarray(slots, np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            h = _mix64(self._key + k * _GAMMA)
        return (h % np.uint64(self.size)).astype(np.int64)

    def encode(self, x: float) -> SDR:
        """Encode one number."""
        return _encode_one(self, x)

    def encode_batch(self, xs) -> SDRBatch:
        """Encode a 1-D array of numbers, one SDR per value."""
        buckets = self.bucket(xs)
        bits = self.slot_bits(buckets[:, None] + np.arange(self.active_bits))
        ordered = np.sort(bits, axis=1)
        for r in np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1)):
            ordered[r] = np.sort(self._probe(bits[r]))
        return SDRBatch._trusted(
            self.size, ordered.ravel(), np.arange(len(buckets) + 1, dtype=np.int64) * self.active_bits
        )

    def _probe(self, bits: np.ndarray) -> list[int]:
        """Resolve collisions within one window by linear probing, slots in order."""
        used: set[int] = set()
        for b in bits.tolist():
            while b in used:
                b = (b + 1) % self.size
            used.add(b)
        return sorted(used)

    def __repr__(self) -> str:
        return f"RDSE(size={self.size}, active_bits={self.active_bits}, resolution={self.resolution}, seed={self.seed})"


# ---------------------------------------------------------------------------- categories
class CategoryEncoder:
    """One block of ``active_bits`` bits per category, no overlap between categories.

    Category number ``c`` (its position in ``categories``) activates bits
    ``c · active_bits, ..., (c + 1) · active_bits − 1``; bits beyond
    ``len(categories) · active_bits`` (when ``size`` is larger) are never active.

    Parameters
    ----------
    categories : iterable of distinct hashable values (not a string)
    active_bits : int >= 1
    size : int, default ``len(categories) · active_bits``; at least that
    """

    def __init__(self, categories: Iterable[Hashable], active_bits: int, *, size: int | None = None):
        if isinstance(categories, (str, bytes)):
            raise TypeError("categories must be a collection of categories, not a single string")
        cats = list(categories)
        if not cats:
            raise ValueError("categories must not be empty")
        self._index: dict = {}
        for c in cats:
            if c in self._index:
                raise ValueError(f"categories must be distinct, got {c!r} twice")
            self._index[c] = len(self._index)
        self.categories = tuple(cats)
        self.active_bits = check_int("active_bits", active_bits, 1)
        need = len(cats) * self.active_bits
        self.size = need if size is None else check_int("size", size, 1)
        if self.size < need:
            raise ValueError(f"size must be >= len(categories) * active_bits = {need}, got {size}")

    def index(self, category) -> int:
        """Position of ``category`` in ``categories``; ``ValueError`` naming it when unknown."""
        try:
            return self._index[category]
        except KeyError:
            raise ValueError(f"unknown category {category!r}; known: {list(self.categories)}") from None

    def encode(self, category) -> SDR:
        """Encode one category."""
        return self.encode_batch([category])[0]

    def encode_batch(self, categories: Iterable) -> SDRBatch:
        """Encode a sequence of categories, one SDR per item."""
        if isinstance(categories, (str, bytes)):
            raise TypeError("categories must be a sequence of categories, not a single string")
        starts = np.array([self.index(c) for c in categories], np.int64) * self.active_bits
        return _blocks(starts, self.active_bits, self.size)

    def __repr__(self) -> str:
        return f"CategoryEncoder({len(self.categories)} categories, active_bits={self.active_bits}, size={self.size})"
