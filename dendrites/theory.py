"""Closed forms of Ahmad & Hawkins (2016) for dendritic segments operating on SDRs.

Notation (the paper's): ``n`` cells, ``a`` of them active, a segment with ``s`` synapses
detects a pattern when at least ``θ`` of its synapses are active (an NMDA spike);
``v`` is the number of active bits replaced by noise and ``M`` the number of patterns
stored in a union.

Every probability here is a hypergeometric tail. By default it is evaluated in log
space, each term as a sum of logs of ratios of nearby integers (see ``_log_tail``; relative
error about 1e-13 for any ``n`` below 2**63, where ``log C(n, k)`` from ``gammaln`` loses
0.3 % at n = 1e12), terms combined with log-sum-exp, so values far below the float64 range
stay representable through the ``log_*`` variants and whole grids evaluate at once;
``exact=True`` evaluates the same sum with Python's exact integer binomials (scalars only,
any size) and rounds once at the end.

Sources: Ahmad, S. & Hawkins, J. (2016), "How do neurons operate on sparse distributed
representations? A mathematical theory of sparsity, neurons and active dendrites",
arXiv:1601.00720; Numenta's figure code, numenta/htmresearch ``projects/sdr_paper/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.special import gammaln, logsumexp

__all__ = [
    "overlap_set_size",
    "false_match",
    "log_false_match",
    "false_negative",
    "log_false_negative",
    "union_synapses",
    "union_active",
    "union_size_pmf",
    "union_false_match",
    "ThresholdAnalysis",
    "threshold_analysis",
]


def overlap_set_size(n: int, a: int, b: int, x_size: int) -> int:
    """Number of SDRs of size ``n`` with ``a`` active bits that overlap ``x`` in exactly ``b`` bits.

    ``|Ω_x(n, a, b)| = C(|x|, b) · C(n − |x|, a − b)``  (Ahmad & Hawkins 2016; overlap set of
    Ahmad & Hawkins 2015). Exact (a Python int).
    """
    n, a, b, x_size = (_check_size(k, v) for k, v in (("n", n), ("a", a), ("b", b), ("x_size", x_size)))
    _check_le("a", a, "n", n)
    _check_le("x_size", x_size, "n", n)
    return math.comb(x_size, b) * math.comb(n - x_size, a - b) if b <= a else 0


def _false_match_args(n, a, s, theta):
    n, a, s, theta = _validated(n=n, a=a, s=s, theta=theta)
    _false_match_order(n, a, s, theta)
    return n, a, s, theta


def _false_match_order(n, a, s, theta):
    _check_le("a", a, "n", n)
    _check_le("s", s, "n", n)
    _check_le("theta", theta, "s", s)


def log_false_match(n, a, s, theta):
    """Natural log of :func:`false_match`; never underflows (``-inf`` only for an exact zero)."""
    n, a, s, theta = _false_match_args(n, a, s, theta)
    return _log_tail(n, s, a, theta, s)


def false_match(n, a, s, theta, *, exact: bool = False):
    """Probability that a random input with ``a`` of ``n`` cells active matches a segment.

    The segment has ``s`` synapses and threshold ``θ`` (Ahmad & Hawkins 2016, the false-match
    probability of a subsampling segment; numenta ``sdr_paper_unions.py``):

        P = Σ_{b=θ}^{s} C(s, b) · C(n − s, a − b) / C(n, a)

    Arguments broadcast like numpy arrays of integers. ``exact=True`` sums exact integer
    binomials instead (scalars only). Use :func:`log_false_match` where ``P`` < 1e-308.
    """
    if exact:
        n, a, s, theta = (_check_size(k, v) for k, v in (("n", n), ("a", a), ("s", s), ("theta", theta)))
        _false_match_order(n, a, s, theta)  # Python ints: any size
        return _exact_tail(n, s, a, theta, s)
    return _exp(log_false_match(n, a, s, theta))


def _false_negative_args(a, s, theta, v):
    a, s, theta, v = _validated(a=a, s=s, theta=theta, v=v)
    _false_negative_order(a, s, theta, v)
    return a, s, theta, v


def _false_negative_order(a, s, theta, v):
    _check_le("s", s, "a", a)
    _check_le("theta", theta, "s", s)
    _check_le("v", v, "a", a)


def log_false_negative(a, s, theta, v):
    """Natural log of :func:`false_negative`."""
    a, s, theta, v = _false_negative_args(a, s, theta, v)
    return _log_tail(a, s, v, s - theta + 1, s)


def false_negative(a, s, theta, v, *, exact: bool = False):
    """Probability that a segment misses its own pattern after noise.

    The segment grew ``s`` synapses onto a subsample of a pattern's ``a`` active cells; then
    ``v`` of the ``a`` active cells are replaced by others. It misses when more than
    ``s − θ`` of its synapses lost their input (Ahmad & Hawkins 2016, robustness to noise):

        P(miss) = Σ_{b=s−θ+1}^{s} C(s, b) · C(a − s, v − b) / C(a, v)

    Independent of ``n``. Arguments broadcast; ``exact=True`` for exact binomials (scalars).
    """
    if exact:
        a, s, theta, v = (_check_size(k, x) for k, x in (("a", a), ("s", s), ("theta", theta), ("v", v)))
        _false_negative_order(a, s, theta, v)
        return _exact_tail(a, s, v, s - theta + 1, s)
    return _exp(log_false_negative(a, s, theta, v))


def union_synapses(n, s, M):
    """Expected synapses on a segment that stores the union of ``M`` patterns, ``s`` each.

    ``s_M = n · (1 − (1 − s/n)^M)`` (Ahmad & Hawkins 2016, the union property;
    numenta ``sdr_paper_unions.py``).
    """
    n, s, M = _validated(n=n, s=s, M=M)
    _check_le("s", s, "n", n)
    fraction = np.divide(s, n, out=np.zeros(np.broadcast(s, n).shape), where=n > 0)  # n = 0 holds s = 0 and s_M = 0
    return n * (1.0 - (1.0 - fraction) ** M)


def union_active(n, a, M):
    """Expected active bits in the union of ``M`` random inputs of ``a`` active bits each.

    ``a_M = n · (1 − (1 − a/n)^M)`` (Ahmad & Hawkins 2016, the union property).
    """
    return union_synapses(n, a, M)


def union_size_pmf(n: int, s: int, M: int) -> np.ndarray:
    """Exact distribution of the size of the union of ``M`` independent random ``s``-subsets of ``n``.

    ``pmf[k] = P(|x_1 ∪ … ∪ x_M| = k)``, float64 ``[n + 1]``; its mean is :func:`union_synapses`.
    Each new subset overlaps a union of ``k`` cells in a hypergeometric number ``o`` of cells,
    so the union grows by ``s − o``: a Markov chain over ``k``, iterated ``M`` times.
    """
    n, s, M = (_check_size(k, v) for k, v in (("n", n), ("s", s), ("M", M)))
    _check_le("s", s, "n", n)
    pmf = np.zeros(n + 1)
    pmf[0] = 1.0
    k, o = np.arange(n + 1)[:, None], np.arange(s + 1)[None, :]
    step = np.exp(_log_comb(k, o) + _log_comb(n - k, s - o) - _log_comb(n, s))  # P(o | k)
    step /= step.sum(axis=1, keepdims=True)  # rows are distributions; remove log-space rounding
    target = np.minimum(k + s - o, n)
    for _ in range(M):
        new = np.zeros(n + 1)
        np.add.at(new, target, pmf[:, None] * step)
        pmf = new
    return pmf


def union_false_match(n, a, s, theta, M, *, form: str = "synapses", size: str = "expected"):
    """False-match probability of a segment when unions are involved.

    ``form="synapses"``: the segment stores ``M`` patterns, ``s`` synapses each, and is tested
    against one random input of ``a`` bits (numenta ``sdr_paper_unions.py``). ``form="inputs"``:
    a segment of ``s`` synapses is tested against the union of ``M`` random inputs of ``a`` bits.

    ``size="expected"`` (the paper's calculation) puts the rounded expected union size
    (:func:`union_synapses` / :func:`union_active`) into :func:`false_match`;
    ``size="distribution"`` averages :func:`false_match` over the exact distribution of the
    union's size (:func:`union_size_pmf`; scalar arguments), which is what a simulation measures.
    """
    if form not in ("synapses", "inputs"):
        raise ValueError(f"form must be 'synapses' or 'inputs', got {form!r}")
    if size == "expected":
        if form == "synapses":
            return false_match(n, a, np.rint(union_synapses(n, s, M)).astype(np.int64), theta)
        return false_match(n, np.rint(union_active(n, a, M)).astype(np.int64), s, theta)
    if size != "distribution":
        raise ValueError(f"size must be 'expected' or 'distribution', got {size!r}")
    grown = s if form == "synapses" else a
    pmf = union_size_pmf(n, grown, M)
    k = np.flatnonzero(pmf)  # the support, at most M·s wide
    pmf = pmf[k]
    if form == "synapses":
        _check_le("theta", theta, "s", s)
        fm = np.where(k >= theta, _exp(_log_tail(n, k, a, np.minimum(theta, k), k)), 0.0)
    else:
        fm = _exp(_log_tail(n, s, k, theta, s))
    return float(pmf @ fm)


@dataclass(frozen=True)
class ThresholdAnalysis:
    """False-positive rates over a grid of (n, sparsity, s) for each threshold θ.

    ``rates[i]`` holds the false-match probabilities of ``thetas[i]`` over the whole grid
    (segments with ``s < θ`` can never fire and count as 0, as in Numenta's script).
    """

    thetas: np.ndarray
    rates: np.ndarray  # [n_theta, n_grid]
    median: np.ndarray
    mean: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray


def threshold_analysis(
    thetas=range(3, 25),
    n=range(1000, 17001, 4000),
    sparsity=(0.005, 0.01, 0.015, 0.02, 0.025, 0.03),
    s=range(20, 51, 5),
) -> ThresholdAnalysis:
    """The optimal-threshold analysis of Ahmad & Hawkins (2016): false matches versus θ.

    For every θ, the false-match probability over all ``n × sparsity × s`` with
    ``a = round(sparsity · n)``; the defaults are the grid of numenta's
    ``compute_optimal_threshold.py`` (n = 1,000–17,000, sparsity 0.5–3 %, s = 20–50). The
    median falls below 1e-7 from about θ = 8 on: the paper's argument that NMDA
    thresholds of 8–20 synapses make segments reliable pattern detectors.
    """
    thetas = _validated(thetas=np.asarray(thetas))[0]
    sp = np.asarray(sparsity, dtype=float)
    if sp.size == 0 or np.any((sp <= 0) | (sp > 1)):
        raise ValueError(f"sparsity must lie in (0, 1], got {sparsity}")
    n_, s_ = _validated(n=np.asarray(n), s=np.asarray(s))
    nn, spp, ss = (x.ravel() for x in np.meshgrid(n_, sp, s_, indexing="ij"))
    aa = np.rint(spp * nn).astype(np.int64)
    th = thetas[:, None]
    rates = np.where(th <= ss, _exp(_log_tail(nn, ss, aa, np.minimum(th, ss), ss)), 0.0)
    return ThresholdAnalysis(thetas, rates, np.median(rates, 1), rates.mean(1), rates.min(1), rates.max(1))


# ---------------------------------------------------------------------------- internals
def _log_comb(n, k):
    ok = (k >= 0) & (k <= n)
    with np.errstate(invalid="ignore"):
        val = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
    return np.where(ok, val, -np.inf)


def _log_tail(N, K, draws, lo, hi):
    """log Σ_{b=lo}^{hi} C(K, b) C(N − K, draws − b) / C(N, draws), broadcast over all arguments.

    Each hypergeometric term is a product of ratios of nearby integers, with ``k = min(K, draws)``
    and ``d = max(K, draws)`` (the pmf is symmetric in them):

        C(k, b) · Π_{j<b} (d − j) / (N − k + 1 + j) · Π_{i<k−b} (1 − d / (N − i))

    (pair the k factors of ``(N − k)! / N!`` with those of ``d! / (d − b)!`` and of
    ``(N − d)! / (N − d − k + b)!``). Every factor is formed from integers before any rounding, so
    the log's error is a few ulps per factor, whatever ``N``: the log-gamma form
    ``log C(N, ·)`` loses ``N log N · 2**-53`` (0.3 % of P at N = 1e12, everything at 1e18).
    """
    N, K, draws, lo, hi = np.broadcast_arrays(*(np.asarray(x, dtype=np.int64) for x in (N, K, draws, lo, hi)))
    k, d = np.minimum(K, draws), np.maximum(K, draws)
    hi, lo = np.minimum(hi, k), np.maximum(lo, 0)  # terms with b > min(K, draws) vanish
    width = int(max(np.max(hi - lo, initial=-1) + 1, 1))
    j = np.arange(int(np.max(k, initial=0)), dtype=np.float64)
    Nf, kf, df = (x[..., None].astype(np.float64) for x in (N, k, d))
    with np.errstate(divide="ignore", invalid="ignore"):  # factors past k are never read
        ratio = np.log((df - j) / (Nf - kf + 1.0 + j))
        keep = np.where(df < Nf - j, np.log1p(-df / (Nf - j)), -np.inf)  # 1 − d/(N − i) = 0 from i = N − d on
    zero = np.zeros(N.shape + (1,))
    prefix_ratio = np.concatenate([zero, np.cumsum(ratio, axis=-1)], axis=-1)
    prefix_keep = np.concatenate([zero, np.cumsum(keep, axis=-1)], axis=-1)
    b = lo[..., None] + np.arange(width)
    inside = b <= hi[..., None]
    b_in = np.where(inside, b, 0)
    log_factorial = gammaln(np.arange(j.shape[0] + 1) + 1.0)  # C(k, b) from a table: b <= k <= max k
    terms = (
        log_factorial[k][..., None]
        - log_factorial[b_in]
        - log_factorial[k[..., None] - b_in]
        + np.take_along_axis(prefix_ratio, b_in, -1)
        + np.take_along_axis(prefix_keep, k[..., None] - b_in, -1)
    )
    out = logsumexp(np.where(inside, terms, -np.inf), axis=-1)
    out = np.minimum(out, 0.0)  # a probability; rounding may put log(1) a hair above 0
    return out[()] if out.ndim == 0 else out


def _exact_tail(N: int, K: int, draws: int, lo: int, hi: int) -> float:
    num = sum(math.comb(K, b) * math.comb(N - K, draws - b) for b in range(max(lo, 0), hi + 1) if b <= draws)
    return float(Fraction(num, math.comb(N, draws)))


def _exp(log_p):
    out = np.exp(log_p)
    return float(out) if np.ndim(out) == 0 else out


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int (a count of cells or synapses), got {type(value).__name__}: {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _validated(**arrays):
    """Each argument as an int64 array (or scalar); floats, bools and negatives are rejected."""
    out = []
    for name, x in arrays.items():
        arr = np.asarray(x)
        if arr.dtype == object and all(isinstance(v, int) and not isinstance(v, bool) for v in arr.flat):
            raise ValueError(f"{name} must be < 2**63 (use exact=True for larger counts), got {x!r}")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must be an integer or integer array (a count), got {arr.dtype}: {x!r}")
        if arr.size and arr.min() < 0:
            raise ValueError(f"{name} must be >= 0, got a minimum of {arr.min()}")
        if arr.size and arr.max() > np.iinfo(np.int64).max:  # uint64 beyond int64 would wrap negative
            raise ValueError(f"{name} must be < 2**63 (use exact=True for larger counts), got a maximum of {arr.max()}")
        out.append(arr.astype(np.int64))
    return out


def _check_le(name_small: str, small, name_big: str, big) -> None:
    small, big = np.broadcast_arrays(small, big)
    bad = small > big
    if np.any(bad):
        i = np.argmax(bad)
        sv, bv = small.flat[i], big.flat[i]
        raise ValueError(f"{name_small} must be <= {name_big}, got {name_small}={sv} > {name_big}={bv}")
