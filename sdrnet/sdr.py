"""Sparse distributed representations (SDRs): value types, set algebra and metrics.

An SDR is a binary vector of ``n`` bits of which a few (``a ≪ n``) are active. It is
stored as the sorted indices of its active bits. Two SDRs ``x`` and ``y`` match when
their overlap ``x · y = |x ∧ y|`` reaches a threshold θ. Random SDRs rarely overlap by
chance, subsamples of an SDR still match it, and unions of SDRs can be matched against
(Ahmad & Hawkins 2016, "How do neurons operate on sparse distributed representations? A
mathematical theory of sparsity, neurons and active dendrites", arXiv:1601.00720,
sections 2-4). The closed-form probabilities live in ``dendrites.theory``.

The API follows htm.core's ``SDR`` and ``Metrics`` (github.com/htm-community/htm.core).
SDRs here are immutable values, not buffers: every operation returns a new SDR.

>>> import numpy as np
>>> x = SDR(10, [1, 4, 7])
>>> y = SDR(10, [4, 7, 9])
>>> x.overlap(y), x.union(y).sparse.tolist(), x.intersection(y).sparse.tolist()
(2, [1, 4, 7, 9], [4, 7])
>>> rng = np.random.default_rng(0)
>>> z = SDR.random(1000, 20, rng)
>>> z.add_noise(0.25, rng).overlap(z)   # 5 of the 20 bits moved
15
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np

from .core._sampling import sample_rows
from .core.validation import as_array, check_int, check_range, check_rng

__all__ = [
    "SDR",
    "SDRBatch",
    "SDRMetrics",
    "Summary",
    "activation_frequency",
    "binary_entropy",
    "consecutive_overlap",
    "intersection",
    "normalized_entropy",
    "normalized_overlap",
    "union",
]


# ---------------------------------------------------------------------------- helpers
def _check_fraction(name: str, x) -> float:
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(x).__name__}")
    if not 0.0 <= float(x) <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {x}")
    return float(x)


def _round_half_up(x):
    """Round half up (as C's ``std::round`` does for x >= 0, which htm.core uses)."""
    return np.floor(np.asarray(x, np.float64) + 0.5).astype(np.int64)


def _count(name: str, k, a: int) -> int:
    """``k`` bits out of ``a``: an int in ``[0, a]`` or a fraction in ``[0, 1]`` (rounded half up)."""
    if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
        if not 0 <= k <= a:
            raise ValueError(f"{name} must be in [0, {a}] (the number of active bits), got {k}")
        return int(k)
    return int(_round_half_up(_check_fraction(name, k) * a))


def _as_binary(name: str, x, ndim: int) -> np.ndarray:
    arr = as_array(name, x, kind="b", ndim=ndim)
    if arr.dtype.kind != "b":
        bad = arr[(arr != 0) & (arr != 1)]
        if bad.size:
            raise ValueError(f"{name} must hold only 0 and 1 (or booleans), got the value {bad.flat[0]}")
    if arr.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one column (n >= 1), got shape {arr.shape}")
    return arr.astype(bool)


def _same_n(x, other, name: str = "other") -> None:
    if not isinstance(other, (SDR, SDRBatch)):
        raise TypeError(f"{name} must be an SDR or SDRBatch, got {type(other).__name__}")
    if other.n != x.n:
        raise ValueError(f"{name} has n={other.n}, expected n={x.n}: SDR sizes must match")


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


# ---------------------------------------------------------------------------- SDR
class SDR:
    """One sparse distributed representation: ``n`` bits, the ones in ``active`` on.

    Parameters
    ----------
    n : int >= 1
        Number of bits (cells).
    active : int array [a]
        Indices of the active bits, each in ``[0, n)``, no repeats, any order
        (stored sorted). Floats and booleans are rejected (``SDR.from_dense`` takes a mask).
    """

    __slots__ = ("_active", "_dense", "_n")

    def __init__(self, n: int, active=()):
        n = check_int("n", n, 1)
        arr = as_array("active", active, kind="i", ndim=1)
        check_range("active", arr, 0, n)
        arr = np.sort(arr.astype(np.int64))
        rep = arr[1:][arr[1:] == arr[:-1]]
        if rep.size:
            raise ValueError(f"active must not repeat an index, got {int(rep[0])} more than once")
        self._set(n, arr)

    def _set(self, n: int, arr: np.ndarray) -> None:
        self._n, self._active, self._dense = n, _readonly(arr), None

    @classmethod
    def _trusted(cls, n: int, sorted_unique: np.ndarray) -> SDR:
        out = cls.__new__(cls)
        out._set(n, np.asarray(sorted_unique, np.int64))
        return out

    # -- constructors
    @classmethod
    def from_dense(cls, x) -> SDR:
        """SDR from a boolean (or 0/1) vector ``[n]``."""
        x = _as_binary("x", x, 1)
        return cls._trusted(x.shape[0], np.flatnonzero(x))

    @classmethod
    def random(cls, n: int, a: int, rng: np.random.Generator) -> SDR:
        """A uniformly random SDR with exactly ``a`` of ``n`` bits active."""
        n = check_int("n", n, 1)
        a = check_int("a", a, 0)
        if a > n:
            raise ValueError(f"a must be <= n ({n}), got {a}")
        return cls._trusted(n, np.sort(check_rng(rng).choice(n, a, replace=False)))

    # -- views
    @property
    def n(self) -> int:
        return self._n

    @property
    def sparse(self) -> np.ndarray:
        """Sorted int64 indices of the active bits (read-only)."""
        return self._active

    @property
    def dense(self) -> np.ndarray:
        """Boolean vector ``[n]`` (read-only, computed once)."""
        if self._dense is None:
            d = np.zeros(self._n, bool)
            d[self._active] = True
            self._dense = _readonly(d)
        return self._dense

    @property
    def n_active(self) -> int:
        return int(self._active.shape[0])

    @property
    def sparsity(self) -> float:
        """Fraction of active bits, ``a / n``."""
        return self.n_active / self._n

    def __len__(self) -> int:
        return self.n_active

    def __eq__(self, other) -> bool:
        if not isinstance(other, SDR):
            return NotImplemented
        return self._n == other._n and np.array_equal(self._active, other._active)

    def __hash__(self) -> int:
        return hash((self._n, self._active.tobytes()))

    def __repr__(self) -> str:
        head = ", ".join(str(i) for i in self._active[:8].tolist())
        more = ", ..." if self.n_active > 8 else ""
        return f"SDR(n={self._n}, n_active={self.n_active}, active=[{head}{more}])"

    # -- set algebra
    def overlap(self, other: SDR) -> int:
        """``x · y = |x ∧ y|``, the number of bits active in both (Ahmad & Hawkins 2016, eq. for a match)."""
        _check_sdr(self, other, "other")
        return int(np.intersect1d(self._active, other._active, assume_unique=True).shape[0])

    def intersection(self, *others: SDR) -> SDR:
        """Bits active in this SDR and in every one of ``others``."""
        return intersection(self, *others)

    def union(self, *others: SDR) -> SDR:
        """Bits active in this SDR or in any of ``others``."""
        return union(self, *others)

    def subsample(self, k, rng: np.random.Generator) -> SDR:
        """Keep a uniformly random subset of the active bits.

        ``k`` is a count (int in ``[0, a]``) or a fraction (float in ``[0, 1]``, giving
        ``round(k · a)`` bits, half up). A subsample of ``s`` bits still matches the
        original at any θ <= s (Ahmad & Hawkins 2016, section on subsampling).
        """
        rng = check_rng(rng)
        keep = _count("k", k, self.n_active)
        return SDR._trusted(self._n, np.sort(rng.choice(self._active, keep, replace=False)))

    def add_noise(self, fraction: float, rng: np.random.Generator) -> SDR:
        """Move ``v = round(fraction · a)`` (half up) random active bits to random inactive bits.

        The number of active bits is unchanged and the overlap with the original is
        exactly ``a − v``: the noise model of Ahmad & Hawkins 2016 (v of the a active
        cells replaced) and of htm.core's ``SDR.addNoise``.
        """
        rng = check_rng(rng)
        fraction = _check_fraction("fraction", fraction)
        a, n = self.n_active, self._n
        v = int(_round_half_up(fraction * a))
        if v > n - a:
            raise ValueError(f"fraction={fraction} moves {v} active bits but only {n - a} bits are inactive")
        keep = np.delete(self._active, rng.choice(a, v, replace=False))
        inactive = np.flatnonzero(~self.dense)
        return SDR._trusted(n, np.union1d(keep, rng.choice(inactive, v, replace=False)))


def _check_sdr(x, other, name: str) -> None:
    if not isinstance(other, SDR):
        raise TypeError(f"{name} must be an SDR, got {type(other).__name__}")
    _same_n(x, other, name)


def _check_many(sdrs: tuple) -> None:
    if not sdrs:
        raise ValueError("sdrs must hold at least one SDR")
    for i, s in enumerate(sdrs):
        _check_sdr(sdrs[0], s, f"sdrs[{i}]")


def union(*sdrs: SDR) -> SDR:
    """Union ``x ∨ y ∨ ...`` of one or more SDRs of the same size (Ahmad & Hawkins 2016, section on unions)."""
    _check_many(sdrs)
    return SDR._trusted(sdrs[0].n, np.unique(np.concatenate([s.sparse for s in sdrs])))


def intersection(*sdrs: SDR) -> SDR:
    """Intersection ``x ∧ y ∧ ...`` of one or more SDRs of the same size."""
    _check_many(sdrs)
    out = sdrs[0].sparse
    for s in sdrs[1:]:
        out = np.intersect1d(out, s.sparse, assume_unique=True)
    return SDR._trusted(sdrs[0].n, out)


# ---------------------------------------------------------------------------- SDRBatch
class SDRBatch:
    """``B`` SDRs of the same size ``n``, stored CSR: row ``b`` is ``indices[indptr[b]:indptr[b + 1]]``.

    Parameters
    ----------
    n : int >= 1
    indices : int array [nnz], each in ``[0, n)``, no repeats within a row (rows are stored sorted)
    indptr : int array [B + 1], non-decreasing, from 0 to ``nnz``
    """

    __slots__ = ("_dense", "_indices", "_indptr", "_n")

    def __init__(self, n: int, indices, indptr):
        n = check_int("n", n, 1)
        indices = as_array("indices", indices, kind="i", ndim=1)
        indptr = as_array("indptr", indptr, kind="i", ndim=1)
        nnz = indices.shape[0]
        if indptr.shape[0] < 1 or indptr[0] != 0 or indptr[-1] != nnz:
            raise ValueError(f"indptr must start at 0 and end at len(indices) ({nnz}), got {indptr}")
        if np.any(np.diff(indptr) < 0):
            raise ValueError("indptr must be non-decreasing")
        check_range("indices", indices, 0, n)
        indptr = indptr.astype(np.int64)
        rows = np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))
        indices = indices.astype(np.int64)[np.lexsort((indices, rows))]
        dup = np.flatnonzero((indices[1:] == indices[:-1]) & (rows[1:] == rows[:-1]))
        if dup.size:
            raise ValueError(f"indices must not repeat within a row, got {indices[dup[0]]} twice in row {rows[dup[0]]}")
        self._set(n, indices, indptr)

    def _set(self, n: int, indices: np.ndarray, indptr: np.ndarray) -> None:
        self._n, self._indices, self._indptr, self._dense = n, _readonly(indices), _readonly(indptr), None

    @classmethod
    def _trusted(cls, n: int, indices: np.ndarray, indptr: np.ndarray) -> SDRBatch:
        out = cls.__new__(cls)
        out._set(n, np.asarray(indices, np.int64), np.asarray(indptr, np.int64))
        return out

    # -- constructors
    @classmethod
    def from_sdrs(cls, sdrs: Iterable[SDR], n: int | None = None) -> SDRBatch:
        """Stack SDRs of the same size; ``n`` is needed only when ``sdrs`` is empty."""
        sdrs = list(sdrs)
        for i, s in enumerate(sdrs):
            if not isinstance(s, SDR):
                raise TypeError(f"sdrs[{i}] must be an SDR, got {type(s).__name__}")
        if n is None and not sdrs:
            raise ValueError("from_sdrs needs n when sdrs is empty")
        n = check_int("n", sdrs[0].n if n is None else n, 1)
        for i, s in enumerate(sdrs):
            if s.n != n:
                raise ValueError(f"sdrs[{i}] has n={s.n}, expected n={n}: SDR sizes must match")
        indptr = np.concatenate([[0], np.cumsum([s.n_active for s in sdrs], dtype=np.int64)])
        indices = np.concatenate([s.sparse for s in sdrs]) if sdrs else np.zeros(0, np.int64)
        return cls._trusted(n, indices, indptr)

    @classmethod
    def from_dense(cls, x) -> SDRBatch:
        """SDRBatch from a boolean (or 0/1) matrix ``[B, n]``."""
        x = _as_binary("x", x, 2)
        rows, cols = np.nonzero(x)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=x.shape[0]))])
        return cls._trusted(x.shape[1], cols, indptr)

    @classmethod
    def random(cls, n: int, a: int, size: int, rng: np.random.Generator) -> SDRBatch:
        """``size`` independent uniformly random SDRs, each with exactly ``a`` of ``n`` bits active.

        Vectorised over rows, in memory O(size · a) (`sample_rows`), not O(size · n).
        """
        n, a, size = check_int("n", n, 1), check_int("a", a, 0), check_int("size", size, 0)
        if a > n:
            raise ValueError(f"a must be <= n ({n}), got {a}")
        rng = check_rng(rng)
        indices = sample_rows(np.full(size, n), np.full(size, a), rng)
        return cls._trusted(n, indices, np.arange(size + 1, dtype=np.int64) * a)

    # -- views
    @property
    def n(self) -> int:
        return self._n

    @property
    def indices(self) -> np.ndarray:
        return self._indices

    @property
    def indptr(self) -> np.ndarray:
        return self._indptr

    @property
    def n_active(self) -> np.ndarray:
        """int64 ``[B]``: active bits per SDR."""
        return np.diff(self._indptr)

    @property
    def sparsity(self) -> np.ndarray:
        """float ``[B]``: ``a_b / n`` per SDR."""
        return self.n_active / self._n

    @property
    def dense(self) -> np.ndarray:
        """Boolean matrix ``[B, n]`` (read-only, computed once)."""
        if self._dense is None:
            d = np.zeros((len(self), self._n), bool)
            d[np.repeat(np.arange(len(self)), self.n_active), self._indices] = True
            self._dense = _readonly(d)
        return self._dense

    def as_active_lists(self) -> list[np.ndarray]:
        """The B rows as a list of int64 index arrays: the input ``sdrnet.core.overlap`` takes.

        (A bare ``(indices, indptr)`` pair would be read by ``core.overlap`` as two SDRs;
        the CSR arrays themselves are the ``indices`` and ``indptr`` attributes.)
        """
        p = self._indptr
        return [self._indices[p[b] : p[b + 1]] for b in range(len(self))]

    def __len__(self) -> int:
        return int(self._indptr.shape[0] - 1)

    def __iter__(self) -> Iterator[SDR]:
        for b in range(len(self)):
            yield self._row(b)

    def _row(self, b: int) -> SDR:
        return SDR._trusted(self._n, self._indices[self._indptr[b] : self._indptr[b + 1]])

    def __getitem__(self, key):
        """``batch[b]`` is an SDR; a slice, integer array or boolean mask gives an SDRBatch."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            b = int(key) + len(self) if key < 0 else int(key)
            if not 0 <= b < len(self):
                raise IndexError(f"SDR index {key} out of range for a batch of {len(self)}")
            return self._row(b)
        try:
            rows = np.arange(len(self))[key]
        except IndexError as exc:
            raise IndexError(f"bad SDRBatch index {key!r}: {exc}") from None
        if rows.ndim != 1:
            raise TypeError(f"SDRBatch index must be an int, slice, 1-D int array or mask, got {key!r}")
        return self._take(rows)

    def _take(self, rows: np.ndarray) -> SDRBatch:
        lengths = self.n_active[rows]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        pos = np.repeat(self._indptr[rows] - indptr[:-1], lengths) + np.arange(indptr[-1])
        return SDRBatch._trusted(self._n, self._indices[pos], indptr)

    def __eq__(self, other) -> bool:
        if not isinstance(other, SDRBatch):
            return NotImplemented
        return (
            self._n == other._n
            and np.array_equal(self._indptr, other._indptr)
            and np.array_equal(self._indices, other._indices)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        a = self.n_active
        stats = f", n_active {a.min()}..{a.max()}" if a.size else ""
        return f"SDRBatch(B={len(self)}, n={self._n}{stats})"

    # -- algebra
    def overlap(self, other: SDR | SDRBatch) -> np.ndarray:
        """Overlaps ``|x_b ∧ y|``: int64 ``[B]`` against one SDR, ``[B, B2]`` against a batch.

        Computed on the active indices (a sparse product for a batch), in memory proportional to
        the SDRs and the result, never to ``B · n``; counts are exact integers.
        """
        _same_n(self, other)
        if isinstance(other, SDR):
            hits = np.concatenate([[0], np.cumsum(np.isin(self._indices, other.sparse))])
            return hits[self._indptr[1:]] - hits[self._indptr[:-1]]
        import scipy.sparse as sp

        x, y = (
            sp.csr_array((np.ones(b._indices.shape[0], np.int64), b._indices, b._indptr), shape=(len(b), b._n))
            for b in (self, other)
        )
        return (x @ y.T).toarray()

    def add_noise(self, fraction: float, rng: np.random.Generator) -> SDRBatch:
        """``SDR.add_noise`` on every row: ``round(fraction · a_b)`` bits of row ``b`` move.

        Vectorised, in memory O(B · a): a uniform ``v_b``-subset of the row's active bits turns
        off and a uniform ``v_b``-subset of its inactive bits turns on (`sample_rows`, drawn as
        ranks among the inactive bits).
        """
        rng = check_rng(rng)
        fraction = _check_fraction("fraction", fraction)
        a = self.n_active
        v = _round_half_up(fraction * a)
        bad = np.flatnonzero(v > self._n - a)
        if bad.size:
            b = bad[0]
            raise ValueError(f"fraction={fraction} moves {v[b]} bits of row {b} but only {self._n - a[b]} are inactive")
        rows, moved = np.repeat(np.arange(len(self)), a), np.repeat(np.arange(len(self)), v)
        keep = np.ones(self._indices.shape[0], bool)
        keep[self._indptr[moved] + sample_rows(a, v, rng)] = False
        rank = sample_rows(self._n - a, v, rng)  # the rank-th inactive bit of its row turns on
        # the r-th inactive bit is r + #{active x_j with x_j - j <= r}, j its position in the row
        before = self._indices - (np.arange(rows.shape[0]) - self._indptr[rows])
        count = (
            np.searchsorted(_row_keys(rows, before, self._n + 1), _row_keys(moved, rank, self._n + 1), side="right")
            - self._indptr[moved]
        )
        new = np.concatenate(
            [_row_keys(rows[keep], self._indices[keep], self._n), _row_keys(moved, rank + count, self._n)]
        )
        return SDRBatch._trusted(self._n, np.sort(new) - rows * self._n, self._indptr)


def _row_keys(rows: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
    """``rows · width + values``: one sorted key space for per-row values in ``[0, width)``."""
    if rows.size and (int(rows.max()) + 1) * width >= 2**63:
        raise ValueError(f"rows x row width ({int(rows.max()) + 1} x {width}) must be < 2**63")
    return rows * np.int64(width) + values


# ---------------------------------------------------------------------------- exact batch metrics
def normalized_overlap(x: SDR, y: SDR) -> float:
    """``|x ∧ y| / max(|x|, |y|)``, in [0, 1]; 0 when both are empty (htm.core's ``Overlap``)."""
    _check_sdr(x, y, "y")
    m = max(x.n_active, y.n_active)
    return x.overlap(y) / m if m else 0.0


def consecutive_overlap(batch: SDRBatch) -> np.ndarray:
    """float ``[B − 1]``: ``normalized_overlap(batch[b], batch[b + 1])`` for each consecutive pair."""
    if not isinstance(batch, SDRBatch):
        raise TypeError(f"batch must be an SDRBatch, got {type(batch).__name__}")
    if len(batch) < 2:
        return np.zeros(0)
    rows = np.repeat(np.arange(len(batch)), batch.n_active)
    key = _row_keys(rows, batch.indices, batch.n)
    later = rows > 0  # bit i of row b + 1 is key - n in row b's key space
    both = np.bincount(rows[later][np.isin(key[later] - batch.n, key)] - 1, minlength=len(batch) - 1)
    m = np.maximum(batch.n_active[1:], batch.n_active[:-1])
    return np.where(m > 0, both / np.maximum(m, 1), 0.0)


def activation_frequency(batch: SDRBatch) -> np.ndarray:
    """float ``[n]``: fraction of the batch's SDRs in which each bit is active (the exact mean)."""
    if not isinstance(batch, SDRBatch):
        raise TypeError(f"batch must be an SDRBatch, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("batch must hold at least one SDR")
    return np.bincount(batch.indices, minlength=batch.n) / len(batch)


def binary_entropy(p) -> np.ndarray:
    """``H(p) = −p·log2 p − (1 − p)·log2(1 − p)`` in bits, elementwise, with ``0·log 0 = 0``."""
    p = as_array("p", p, kind="f")
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError(f"p must be in [0, 1], got values from {p.min()} to {p.max()}")
    p = p.astype(np.float64)
    return -(_xlog2x(p) + _xlog2x(1.0 - p))


def _xlog2x(p: np.ndarray) -> np.ndarray:
    out = np.zeros_like(p)
    m = p > 0
    out[m] = p[m] * np.log2(p[m])
    return out


def normalized_entropy(frequencies) -> float:
    """Entropy of the cells' activation frequencies ``f_i``, scaled to [0, 1] (htm.core's ``ActivationFrequency``).

    ``E = Σ_i H(f_i) / (n · H(f̄))`` with ``H`` the binary entropy and ``f̄`` the mean
    frequency (= the mean sparsity). ``H`` is concave, so ``Σ H(f_i) <= n · H(f̄)``
    (Jensen) with equality exactly when all cells are active equally often: 1.0 means
    every cell carries the same load, values near 0 mean a few cells do all the work.
    Returns 0.0 when ``f̄`` is 0 or 1 (no entropy is possible).
    """
    f = as_array("frequencies", frequencies, kind="f", ndim=1)
    if f.size == 0:
        raise ValueError("frequencies must not be empty")
    h_max = float(binary_entropy(f.mean()))
    return float(binary_entropy(f).mean() / h_max) if h_max > 0 else 0.0


# ---------------------------------------------------------------------------- streaming metrics
class Summary(NamedTuple):
    """Mean, standard deviation, minimum and maximum of a metric (NaN before any sample)."""

    mean: float
    std: float
    min: float
    max: float


class _RunningStat:
    """Exponential moving mean and variance with ``alpha = 1 / min(period, count)``, plus min/max.

    Variance update of Finch 2009 ("Incremental calculation of weighted mean and variance",
    section 9), as in htm.core's ``Sparsity``; while ``count <= period`` it is the exact
    running mean and population variance (Welford).
    """

    __slots__ = ("count", "max", "mean", "min", "period", "var")

    def __init__(self, period: int):
        self.period, self.count, self.mean, self.var = period, 0, 0.0, 0.0
        self.min, self.max = np.inf, -np.inf

    def add(self, x: float) -> None:
        self.count += 1
        alpha = 1.0 / min(self.period, self.count)
        diff = x - self.mean
        self.mean += alpha * diff
        self.var = (1.0 - alpha) * (self.var + alpha * diff * diff)
        self.min, self.max = min(self.min, x), max(self.max, x)

    def summary(self) -> Summary:
        if self.count == 0:
            return Summary(np.nan, np.nan, np.nan, np.nan)
        return Summary(self.mean, float(np.sqrt(max(self.var, 0.0))), self.min, self.max)


class SDRMetrics:
    """Streaming statistics of a sequence of SDRs, after htm.core's ``Metrics``.

    Every statistic is an exponential moving average with ``alpha = 1 / min(period, t)``
    at the ``t``-th sample, so for the first ``period`` samples it is the exact mean.

    Attributes
    ----------
    samples_ : int, SDRs seen
    sparsity_ : Summary of ``a / n`` (EMA mean and std, min and max over all samples)
    activation_frequency_ : float ``[n]``, EMA of each bit's activity
    overlap_ : Summary of ``normalized_overlap`` between consecutive SDRs
        ("overlap stability": near 1 for slowly changing inputs, near the sparsity for
        unrelated random ones); its EMA counts pairs, so ``t`` SDRs give ``t − 1`` samples.

    ``entropy()`` is ``normalized_entropy(activation_frequency_)``.
    """

    def __init__(self, n: int, period: int = 1000):
        self.n = check_int("n", n, 1)
        self.period = check_int("period", period, 1)
        self.samples_ = 0
        self._freq = np.zeros(self.n)
        self._sparsity = _RunningStat(self.period)
        self._overlap = _RunningStat(self.period)
        self._previous: SDR | None = None

    def update(self, sdr: SDR | SDRBatch) -> SDRMetrics:
        """Add one SDR, or the rows of an SDRBatch in order. Returns ``self``."""
        if not isinstance(sdr, (SDR, SDRBatch)):
            raise TypeError(f"sdr must be an SDR or SDRBatch, got {type(sdr).__name__}")
        if sdr.n != self.n:
            raise ValueError(f"sdr has n={sdr.n}, expected n={self.n}")
        for x in [sdr] if isinstance(sdr, SDR) else sdr:
            self._add(x)
        return self

    def _add(self, x: SDR) -> None:
        self.samples_ += 1
        alpha = 1.0 / min(self.period, self.samples_)
        self._freq *= 1.0 - alpha
        self._freq[x.sparse] += alpha
        self._sparsity.add(x.sparsity)
        if self._previous is not None:
            self._overlap.add(normalized_overlap(self._previous, x))
        self._previous = x

    @property
    def sparsity_(self) -> Summary:
        return self._sparsity.summary()

    @property
    def overlap_(self) -> Summary:
        return self._overlap.summary()

    @property
    def activation_frequency_(self) -> np.ndarray:
        return self._freq.copy()

    def entropy(self) -> float:
        """``Σ_i H(f_i) / (n · H(f̄))`` of the activation frequencies (``normalized_entropy``); NaN if no samples."""
        return normalized_entropy(self._freq) if self.samples_ else float("nan")

    def __str__(self) -> str:
        s, o, f = self.sparsity_, self.overlap_, self._freq
        return "\n".join(
            [
                f"SDRMetrics(n={self.n}, period={self.period}, samples={self.samples_})",
                f"  sparsity              mean {s.mean:.4f}  std {s.std:.4f}  min {s.min:.4f}  max {s.max:.4f}",
                f"  activation frequency  min {f.min():.4f}  mean {f.mean():.4f}  max {f.max():.4f}  "
                + f"entropy {self.entropy():.4f}",
                f"  overlap               mean {o.mean:.4f}  std {o.std:.4f}  min {o.min:.4f}  max {o.max:.4f}",
            ]
        )

    __repr__ = __str__
