"""dendrites.theory against brute-force enumeration, exact binomials and Numenta's published values."""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dendrites import theory


def _subsets(n, k):
    return [frozenset(c) for c in itertools.combinations(range(n), k)]


def _brute_false_match(n, a, s, theta):
    """Fraction of (segment, input) pairs, over every segment of s synapses and every input of a bits, that match."""
    segments, inputs = _subsets(n, s), _subsets(n, a)
    hits = sum(len(seg & x) >= theta for seg in segments for x in inputs)
    return hits / (len(segments) * len(inputs))


def _brute_false_negative(a, s, theta, v):
    """Pattern = a active bits; every segment on s of them; every choice of the v bits that noise removes."""
    segments, removed = _subsets(a, s), _subsets(a, v)
    misses = sum(s - len(seg & r) < theta for seg in segments for r in removed)
    return misses / (len(segments) * len(removed))


@given(
    st.integers(2, 9).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n)).flatmap(
            lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.just(t[2]), st.integers(1, t[2]))
        )
    )
)
def test_false_match_equals_enumeration(args):
    n, a, s, theta = args
    expected = _brute_false_match(n, a, s, theta)
    assert theory.false_match(n, a, s, theta) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert theory.false_match(n, a, s, theta, exact=True) == pytest.approx(expected, rel=1e-15, abs=0)


@given(
    st.integers(1, 10).flatmap(
        lambda a: st.tuples(st.just(a), st.integers(1, a), st.integers(0, a)).flatmap(
            lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.integers(1, t[1]), st.just(t[2]))
        )
    )
)
def test_false_negative_equals_enumeration(args):
    a, s, theta, v = args
    expected = _brute_false_negative(a, s, theta, v)
    assert theory.false_negative(a, s, theta, v) == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert theory.false_negative(a, s, theta, v, exact=True) == pytest.approx(expected, rel=1e-15, abs=0)


@pytest.mark.parametrize("n,a,x_size", [(8, 3, 3), (9, 4, 2), (7, 5, 6)])
def test_overlap_set_size_counts_subsets(n, a, x_size):
    x = frozenset(range(x_size))
    counts = np.bincount([len(x & y) for y in _subsets(n, a)], minlength=a + 1)
    assert [theory.overlap_set_size(n, a, b, x_size) for b in range(a + 1)] == counts.tolist()


def test_union_sizes_are_exact_expectations():
    n, s, M = 6, 2, 3
    sizes = [len(frozenset().union(*t)) for t in itertools.product(_subsets(n, s), repeat=M)]
    assert theory.union_synapses(n, s, M) == pytest.approx(np.mean(sizes), rel=1e-12)
    assert theory.union_active(n, s, M) == theory.union_synapses(n, s, M)


def test_union_size_pmf_and_union_false_match_by_enumeration():
    n, s, M, a, theta = 6, 2, 3, 3, 2
    unions = [frozenset().union(*t) for t in itertools.product(_subsets(n, s), repeat=M)]
    pmf = np.bincount([len(u) for u in unions], minlength=n + 1) / len(unions)
    np.testing.assert_allclose(theory.union_size_pmf(n, s, M), pmf, atol=1e-12)
    inputs = _subsets(n, a)
    fm_synapses = np.mean([np.mean([len(u & x) >= theta for x in inputs]) for u in unions])
    assert theory.union_false_match(n, a, s, theta, M, size="distribution") == pytest.approx(fm_synapses, rel=1e-9)
    # form="inputs": a segment of s' synapses against the union of M inputs of s bits each
    fm_inputs = np.mean([np.mean([len(seg & u) >= theta for seg in _subsets(n, a)]) for u in unions])
    assert theory.union_false_match(n, s, a, theta, M, form="inputs", size="distribution") == pytest.approx(
        fm_inputs, rel=1e-9
    )


def test_issue_check_values():
    assert theory.false_match(2000, 64, 24, 12) == pytest.approx(8.0e-13, rel=0.01)
    assert theory.false_match(2000, 32, 20, 10) == pytest.approx(3.9e-14, rel=0.01)


# Theoretical values that Numenta computed with sympy for the paper's figures
# (numenta/htmresearch projects/sdr_paper/plot_effect_of_n.py, plot_effect_of_s.py,
# plot_noise_results.py, sdr_paper_unions.py). Every list there starts at n = 300, although the
# script plots the a = 128 and a = 256 curves from x = 500: a one-point shift in their figure.
NUMENTA_FALSE_MATCH = [  # (n, a, s, theta, P)
    (300, 64, 24, 12, 0.00109461662333690),
    (2100, 64, 24, 12, 4.51268292560082e-13),
    (19900, 64, 24, 12, 1.07499989501613e-24),
    (300, 128, 24, 12, 0.292078213737764),
    (2100, 256, 24, 12, 5.89560747849969e-6),
    (2000, 32, 20, 10, 3.90434126921476e-14),
    (4000, 32, 30, 15, 1.03307534135054e-25),
    (16000, 4000, 2, 1, 0.437511719482468),
    (4000, 200, 30, 15, 1.45516736670963e-12),
]
NUMENTA_NOISE = [  # (a, s, theta, v, P(miss))
    (128, 30, 8, 64, 0.000735429456875121),
    (128, 30, 8, 102, 0.770861966941236),
    (128, 30, 12, 26, 7.92695349343630e-10),
    (128, 30, 16, 19, 2.65549705827547e-8),
    (128, 30, 16, 64, 0.582501773030327),
]


@pytest.mark.parametrize("n,a,s,theta,p", NUMENTA_FALSE_MATCH)
def test_false_match_matches_numenta(n, a, s, theta, p):
    assert theory.false_match(n, a, s, theta) == pytest.approx(p, rel=1e-9)
    assert theory.false_match(n, a, s, theta, exact=True) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize("a,s,theta,v,p", NUMENTA_NOISE)
def test_false_negative_matches_numenta(a, s, theta, v, p):
    assert theory.false_negative(a, s, theta, v) == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize(
    "n,M,p", [(10000, 1, 5.30352419025194e-20), (1000, 3, 0.501650232353378), (20000, 19, 8.14089056445047e-5)]
)
def test_union_of_synapses_matches_numenta(n, M, p):
    # sdr_paper_unions.py: a = 200, theta = 15, s = 25; the segment grows round(s_M) synapses
    assert theory.union_false_match(n, 200, 25, 15, M) == pytest.approx(p, rel=1e-9)


def test_union_of_inputs_puts_rounded_a_m_into_false_match():
    n, a, s, theta, M = 2000, 30, 20, 10, np.arange(1, 40)
    a_m = np.rint(n * (1 - (1 - a / n) ** M)).astype(int)
    expected = [theory.false_match(n, int(k), s, theta, exact=True) for k in a_m]
    np.testing.assert_allclose(theory.union_false_match(n, a, s, theta, M, form="inputs"), expected, rtol=1e-9)


def test_log_space_beyond_float_range_and_broadcasting():
    assert theory.log_false_match(1000, 50, 60, 55) == -np.inf  # theta > a: exactly impossible
    # Below the float64 range (< 1e-308) the log form keeps the value; exact log from integer binomials.
    n, a, s, theta = 200000, 200, 200, 150
    num = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, s + 1))
    exact_log = math.log(num) - math.log(math.comb(n, a))
    assert exact_log < -700 and theory.false_match(n, a, s, theta) == 0.0
    assert theory.log_false_match(n, a, s, theta) == pytest.approx(exact_log, rel=1e-12)
    grid = theory.false_match(np.array([1000, 2000, 4000])[:, None], 64, np.array([20, 24]), 12)
    assert grid.shape == (3, 2)
    assert grid[1, 1] == pytest.approx(theory.false_match(2000, 64, 24, 12, exact=True), rel=1e-9)


def test_threshold_analysis_reproduces_the_nmda_argument():
    res = theory.threshold_analysis()
    assert res.rates.shape == (22, 5 * 6 * 7)
    assert np.all(np.diff(res.median) < 0)  # higher thresholds, fewer false positives
    # The paper: from theta = 8 on, the median false-positive rate is below 1e-7
    assert res.median[res.thetas == 8][0] < 1e-7 < res.median[res.thetas == 7][0]
    n, a, s, theta = 9000, round(0.02 * 9000), 35, 10  # one grid point, recomputed exactly
    col = (2 * 6 + 3) * 7 + 3
    assert res.rates[theta - 3, col] == pytest.approx(theory.false_match(n, a, s, theta, exact=True), rel=1e-9)
    assert np.all(res.rates[res.thetas > 20][:, :1] == 0)  # s = 20 < theta: can never fire


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: theory.false_match(100, 10, 20, 21), "theta must be <= s"),
        (lambda: theory.false_match(100, 101, 20, 10), "a must be <= n"),
        (lambda: theory.false_match(100.0, 10, 20, 10), "n must be an integer"),
        (lambda: theory.false_match(100, 10, -3, 1), "s must be >= 0"),
        (lambda: theory.false_match(100, 10, 20, 10.5, exact=True), "theta must be an int"),
        (lambda: theory.false_negative(20, 30, 10, 5), "s must be <= a"),
        (lambda: theory.false_negative(40, 30, 10, 41), "v must be <= a"),
        (lambda: theory.union_false_match(100, 10, 5, 3, 2, form="both"), "form must be"),
        (lambda: theory.union_false_match(100, 10, 5, 3, 2, size="mean"), "size must be"),
        (lambda: theory.union_size_pmf(100, 5, 2.0), "M must be an int"),
        (lambda: theory.threshold_analysis(sparsity=[0.0, 0.1]), "sparsity must lie"),
        (lambda: theory.overlap_set_size(10, 11, 2, 3), "a must be <= n"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def _exact_false_match(n, a, s, theta):
    num = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, min(s, a) + 1))
    return Fraction(num, math.comb(n, a))


def _exact_log(p: Fraction) -> float:
    """log of a positive Fraction far below the float range: scale it to about 2**60 with integers first."""
    shift = p.denominator.bit_length() - p.numerator.bit_length() + 60
    return math.log((p.numerator << shift) // p.denominator) - shift * math.log(2)


@pytest.mark.parametrize(
    "n, a, s, theta",
    [
        (10**12, 200, 30, 2),
        (10**12, 2000, 40, 3),
        (10**12, 40, 40, 1),
        (10**18, 100, 50, 1),
        (10**18, 1000, 30, 2),
        (2**62 + 12345, 300, 20, 1),
    ],
)
def test_false_match_is_accurate_for_huge_n(n, a, s, theta):
    # log-gamma sums lose n log n * 2**-53: a relative error of 2.7e-3 at 1e12, 1e12 at 1e18
    exact = _exact_false_match(n, a, s, theta)
    assert theory.false_match(n, a, s, theta) == pytest.approx(float(exact), rel=1e-11)
    assert theory.log_false_match(n, a, s, theta) == pytest.approx(_exact_log(exact), rel=1e-12)
    assert theory.false_match(n, a, s, theta, exact=True) == float(exact)


def test_log_false_match_far_below_float64_at_huge_n():
    n, a, s, theta = 10**18, 100, 50, 40
    exact = _exact_false_match(n, a, s, theta)  # about 1e-570
    assert float(exact) == 0.0
    assert theory.log_false_match(n, a, s, theta) == pytest.approx(_exact_log(exact), rel=1e-12)
    grid = theory.log_false_match(np.array([10**12, 10**18]), a, s, theta)
    assert grid[1] == pytest.approx(_exact_log(exact), rel=1e-12)
    assert grid[0] == pytest.approx(_exact_log(_exact_false_match(10**12, a, s, theta)), rel=1e-12)


def test_false_negative_is_accurate_for_huge_a():
    a, s, theta, v = 10**18, 30, 28, 1000
    num = sum(math.comb(s, b) * math.comb(a - s, v - b) for b in range(s - theta + 1, s + 1))
    exact = Fraction(num, math.comb(a, v))
    assert theory.false_negative(a, s, theta, v) == pytest.approx(float(exact), rel=1e-11)


def test_counts_beyond_int64_are_refused_or_exact():
    with pytest.raises(ValueError, match=r"n must be < 2\*\*63"):
        theory.false_match(np.uint64(2**63 + 5), 3, 3, 1)  # would wrap negative as int64
    with pytest.raises(ValueError, match=r"n must be < 2\*\*63 \(use exact=True"):
        theory.false_match(2**70, 3, 3, 1)
    assert theory.false_match(2**70, 3, 3, 1, exact=True) == float(_exact_false_match(2**70, 3, 3, 1))


def test_union_of_nothing_is_empty():
    # n = 0 forces s = 0: the union of M empty sets is empty, not 0 * (1 - (1 - 0/0)^M) = NaN
    for M in (0, 1, 5):
        assert theory.union_synapses(0, 0, M) == 0.0 and theory.union_active(0, 0, M) == 0.0
    np.testing.assert_array_equal(theory.union_synapses(np.array([0, 10]), 0, 3), [0.0, 0.0])
    assert theory.union_synapses(np.array([0, 100]), np.array([0, 10]), 2)[1] == pytest.approx(100 * (1 - 0.9**2))
