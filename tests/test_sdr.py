"""SDR, SDRBatch and SDRMetrics against independent references: Python sets, dense numpy, hand-computed values."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdrnet.core import Synapses
from sdrnet.core import overlap as core_overlap
from sdrnet.sdr import (
    SDR,
    SDRBatch,
    SDRMetrics,
    activation_frequency,
    binary_entropy,
    consecutive_overlap,
    intersection,
    normalized_entropy,
    normalized_overlap,
    union,
)


@st.composite
def active_sets(draw, k=2, max_n=120):
    """A size n and k sets of active bits."""
    n = draw(st.integers(1, max_n))
    return n, [draw(st.sets(st.integers(0, n - 1), max_size=n)) for _ in range(k)]


def seeds():
    return st.integers(0, 2**32 - 1)


def half_up(x):
    return math.floor(x + 0.5)


# ---------------------------------------------------------------------------- SDR basics
@given(active_sets(k=1))
def test_views_match_the_set(case):
    n, (s,) = case
    order = np.random.default_rng(len(s)).permutation(sorted(s)).astype(np.int64)
    x = SDR(n, order)
    assert x.sparse.tolist() == sorted(s) and x.sparse.dtype == np.int64
    assert x.dense.dtype == bool and x.dense.shape == (n,)
    assert set(np.flatnonzero(x.dense).tolist()) == s
    assert len(x) == x.n_active == len(s) and x.sparsity == len(s) / n and x.n == n
    assert SDR.from_dense(x.dense) == x == SDR.from_dense(x.dense.astype(np.int8))
    assert hash(x) == hash(SDR(n, sorted(s)))


def test_sdr_is_immutable_and_repr_is_short():
    x = SDR(100, range(0, 100, 5))
    with pytest.raises(ValueError):
        x.sparse[0] = 3
    with pytest.raises(ValueError):
        x.dense[0] = False
    assert repr(x) == "SDR(n=100, n_active=20, active=[0, 5, 10, 15, 20, 25, 30, 35, ...])"
    assert SDR(5) == SDR(5, []) and SDR(5).n_active == 0
    assert SDR(5, [1]) != SDR(6, [1]) and SDR(5, [1]) != "SDR"


@pytest.mark.parametrize(
    "args, exc, msg",
    [
        ((0, []), ValueError, "n must be >= 1, got 0"),
        ((5.0, []), TypeError, "n must be an int, got float"),
        ((True, []), TypeError, "n must be an int, got bool"),
        ((10, [1.0, 2.0]), TypeError, "active must have an integer dtype, got float64"),
        ((10, [True, False]), TypeError, "active must have an integer dtype, got bool"),
        ((10, [3, 10]), ValueError, "active must be < 10, got a maximum of 10"),
        ((10, [-1, 3]), ValueError, "active must be >= 0, got a minimum of -1"),
        ((10, [3, 1, 3]), ValueError, "active must not repeat an index, got 3 more than once"),
        ((10, [[1, 2]]), ValueError, r"active must be 1-D, got shape \(1, 2\)"),
    ],
)
def test_sdr_rejects_bad_input(args, exc, msg):
    with pytest.raises(exc, match=msg):
        SDR(*args)


def test_from_dense_rejects_non_binary():
    with pytest.raises(ValueError, match="x must hold only 0 and 1 .* got the value 2"):
        SDR.from_dense([0, 2, 1])
    with pytest.raises(ValueError, match="x must hold only 0 and 1 .* got the value 0.5"):
        SDR.from_dense([0, 0.5])
    with pytest.raises(ValueError, match="x must be 1-D"):
        SDR.from_dense(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"x must have at least one column"):
        SDR.from_dense(np.zeros(0, bool))


@given(st.integers(1, 300), st.data(), seeds())
def test_random_has_exactly_a_distinct_bits(n, data, seed):
    a = data.draw(st.integers(0, n))
    x = SDR.random(n, a, np.random.default_rng(seed))
    assert len(set(x.sparse.tolist())) == a == x.n_active
    assert SDR(n, x.sparse) == x  # revalidated: in range, sorted, unique


def test_random_errors(rng):
    with pytest.raises(ValueError, match=r"a must be <= n \(5\), got 6"):
        SDR.random(5, 6, rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        SDR.random(5, 2, 0)
    with pytest.raises(TypeError, match="a must be an int, got float"):
        SDR.random(5, 2.0, rng)


# ---------------------------------------------------------------------------- set algebra
@given(active_sets(k=2))
def test_set_algebra_matches_python_sets(case):
    n, (s, t) = case
    x, y = SDR(n, sorted(s)), SDR(n, sorted(t))
    assert x.overlap(y) == len(s & t) == y.overlap(x)
    assert x.intersection(y).sparse.tolist() == sorted(s & t)
    assert x.union(y).sparse.tolist() == sorted(s | t)
    assert int(np.dot(x.dense.astype(int), y.dense.astype(int))) == x.overlap(y)  # x · y of the dense vectors
    m = max(len(s), len(t))
    assert normalized_overlap(x, y) == (len(s & t) / m if m else 0.0)


@given(active_sets(k=4))
def test_many_way_union_and_intersection(case):
    n, sets = case
    sdrs = [SDR(n, sorted(s)) for s in sets]
    assert union(*sdrs).sparse.tolist() == sorted(set().union(*sets))
    assert intersection(*sdrs).sparse.tolist() == sorted(set(sets[0]).intersection(*sets[1:]))
    assert sdrs[0].union(*sdrs[1:]) == union(*sdrs)
    assert union(sdrs[0]) == sdrs[0] == intersection(sdrs[0])


def test_set_algebra_errors():
    x, y = SDR(10, [1]), SDR(11, [1])
    for op in (x.overlap, x.union, x.intersection, lambda o: union(x, o)):
        with pytest.raises(ValueError, match="has n=11, expected n=10: SDR sizes must match"):
            op(y)
    with pytest.raises(TypeError, match="other must be an SDR, got list"):
        x.overlap([1])
    with pytest.raises(ValueError, match="sdrs must hold at least one SDR"):
        union()


@given(active_sets(k=1), st.data(), seeds())
def test_subsample_is_a_subset_of_size_k(case, data, seed):
    n, (s,) = case
    x, rng = SDR(n, sorted(s)), np.random.default_rng(seed)
    k = data.draw(st.integers(0, len(s)))
    sub = x.subsample(k, rng)
    assert set(sub.sparse.tolist()) <= s and sub.n_active == k and sub.n == n
    frac = data.draw(st.floats(0, 1))
    assert x.subsample(frac, rng).n_active == half_up(frac * len(s))


def test_subsample_errors(rng):
    x = SDR(10, [1, 2, 3])
    with pytest.raises(ValueError, match=r"k must be in \[0, 3\] \(the number of active bits\), got 4"):
        x.subsample(4, rng)
    with pytest.raises(ValueError, match=r"k must be in \[0, 1\], got 1.5"):
        x.subsample(1.5, rng)
    with pytest.raises(TypeError, match="k must be a real number"):
        x.subsample(True, rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        x.subsample(1, None)


@given(st.integers(1, 200), st.data(), seeds())
def test_add_noise_moves_exactly_v_bits(n, data, seed):
    a = data.draw(st.integers(0, n))
    rng = np.random.default_rng(seed)
    x = SDR.random(n, a, rng)
    fraction = data.draw(st.floats(0, 1))
    v = half_up(fraction * a)
    if v > n - a:  # rounding up past the free bits
        with pytest.raises(ValueError, match="fraction=.* bits are inactive"):
            x.add_noise(fraction, rng)
        return
    y = x.add_noise(fraction, rng)
    assert y.n_active == a and y.overlap(x) == a - v
    assert SDR(n, y.sparse) == y
    assert len(set(y.sparse.tolist()) - set(x.sparse.tolist())) == v


def test_add_noise_is_random_and_errors(rng):
    x = SDR.random(1000, 50, rng)
    assert x.add_noise(0.5, rng) != x.add_noise(0.5, rng)
    assert x.add_noise(0.0, rng) == x
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
            x.add_noise(bad, rng)
    with pytest.raises(TypeError, match="fraction must be a real number"):
        x.add_noise("0.1", rng)
    with pytest.raises(ValueError, match="fraction=1.0 moves 3 active bits but only 1 bits are inactive"):
        SDR(4, [0, 1, 2]).add_noise(1.0, rng)


# ---------------------------------------------------------------------------- SDRBatch
@st.composite
def batches(draw, max_n=60, max_b=6):
    n = draw(st.integers(1, max_n))
    sets = draw(st.lists(st.sets(st.integers(0, n - 1), max_size=n), min_size=0, max_size=max_b))
    return n, sets


@given(batches())
def test_batch_round_trips(case):
    n, sets = case
    sdrs = [SDR(n, sorted(s)) for s in sets]
    b = SDRBatch.from_sdrs(sdrs, n=n)
    dense = np.zeros((len(sets), n), bool)
    for i, s in enumerate(sets):
        dense[i, sorted(s)] = True
    assert len(b) == len(sets) and b.n == n
    np.testing.assert_array_equal(b.dense, dense)
    assert SDRBatch.from_dense(dense) == b == SDRBatch(n, b.indices, b.indptr)
    assert list(b) == sdrs and [b[i] for i in range(len(b))] == sdrs
    assert b.n_active.tolist() == [len(s) for s in sets]
    np.testing.assert_allclose(b.sparsity, [len(s) / n for s in sets])
    assert [r.tolist() for r in b.as_active_lists()] == [sorted(s) for s in sets]


def test_batch_constructor_sorts_rows_and_validates():
    b = SDRBatch(10, [5, 1, 9, 3, 2], [0, 2, 2, 5])
    assert [s.sparse.tolist() for s in b] == [[1, 5], [], [2, 3, 9]]
    with pytest.raises(ValueError, match="indices must not repeat within a row, got 3 twice in row 1"):
        SDRBatch(10, [1, 3, 3], [0, 1, 3])
    SDRBatch(10, [3, 3], [0, 1, 2])  # the same bit in two rows is fine
    with pytest.raises(ValueError, match=r"indptr must start at 0 and end at len\(indices\) \(2\)"):
        SDRBatch(10, [1, 2], [0, 1])
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        SDRBatch(10, [1, 2], [0, 2, 1, 2])
    with pytest.raises(ValueError, match="indices must be < 10"):
        SDRBatch(10, [10], [0, 1])
    with pytest.raises(TypeError, match="indices must have an integer dtype"):
        SDRBatch(10, [1.0], [0, 1])
    with pytest.raises(ValueError, match="from_sdrs needs n when sdrs is empty"):
        SDRBatch.from_sdrs([])
    with pytest.raises(ValueError, match=r"sdrs\[1\] has n=4, expected n=3"):
        SDRBatch.from_sdrs([SDR(3), SDR(4)])
    with pytest.raises(TypeError, match=r"sdrs\[0\] must be an SDR, got list"):
        SDRBatch.from_sdrs([[1, 2]])
    assert len(SDRBatch.from_sdrs([], n=3)) == 0


def test_batch_indexing(rng):
    b = SDRBatch.random(30, 4, 7, rng)
    rows = list(b)
    assert b[-1] == rows[6] and b[2] == rows[2]
    assert list(b[1:6:2]) == rows[1:6:2] and list(b[::-1]) == rows[::-1]
    assert list(b[[4, 0, 4]]) == [rows[4], rows[0], rows[4]]
    assert list(b[np.arange(7) % 2 == 0]) == rows[::2]
    assert len(b[3:3]) == 0 and b[3:3].n == 30
    with pytest.raises(IndexError, match="SDR index 7 out of range for a batch of 7"):
        b[7]
    with pytest.raises(IndexError):
        b[[0, 9]]
    assert repr(b) == "SDRBatch(B=7, n=30, n_active 4..4)"


@given(st.integers(1, 200), st.data(), st.integers(0, 20), seeds())
def test_batch_random_has_exactly_a_distinct_per_row(n, data, size, seed):
    a = data.draw(st.integers(0, n))
    b = SDRBatch.random(n, a, size, np.random.default_rng(seed))
    assert len(b) == size and (b.n_active == a).all()
    for s in b:
        assert len(set(s.sparse.tolist())) == a
    assert SDRBatch(n, b.indices, b.indptr) == b


def test_batch_random_is_uniform(rng):
    b = SDRBatch.random(20, 5, 4000, rng)
    freq = activation_frequency(b)  # each bit on with probability 1/4; 4000 rows give sd ~0.007
    assert np.abs(freq - 0.25).max() < 0.04
    patterns = math.comb(20, 5)  # expected distinct patterns among 4000 uniform draws: ~3526, sd ~25
    expected = patterns * (1 - (1 - 1 / patterns) ** 4000)
    assert abs(len({s.sparse.tobytes() for s in b}) - expected) < 150


@given(batches(), batches(), st.data())
def test_batch_overlap_matrix_matches_pairwise(case1, case2, data):
    n, sets1 = case1
    sets2 = [{i % n for i in s} for s in case2[1]]
    b1 = SDRBatch.from_sdrs([SDR(n, sorted(s)) for s in sets1], n=n)
    b2 = SDRBatch.from_sdrs([SDR(n, sorted(s)) for s in sets2], n=n)
    m = b1.overlap(b2)
    assert m.shape == (len(sets1), len(sets2)) and m.dtype == np.int64
    assert m.tolist() == [[len(s & t) for t in sets2] for s in sets1]
    if sets2:
        assert b1.overlap(b2[0]).tolist() == [x.overlap(b2[0]) for x in b1]


def test_batch_overlap_errors():
    with pytest.raises(ValueError, match="other has n=4, expected n=3"):
        SDRBatch.from_sdrs([SDR(3)]).overlap(SDR(4))
    with pytest.raises(TypeError, match="other must be an SDR or SDRBatch, got ndarray"):
        SDRBatch.from_sdrs([SDR(3)]).overlap(np.zeros(3))


@given(st.integers(2, 100), st.data(), seeds())
def test_batch_add_noise_per_row(n, data, seed):
    rng = np.random.default_rng(seed)
    sizes = data.draw(st.lists(st.integers(0, n // 2), min_size=0, max_size=6))
    b = SDRBatch.from_sdrs([SDR.random(n, a, rng) for a in sizes], n=n)
    fraction = data.draw(st.floats(0, 1))
    noisy = b.add_noise(fraction, rng)
    v = [half_up(fraction * a) for a in sizes]
    assert noisy.n_active.tolist() == sizes
    assert np.diag(noisy.overlap(b)).tolist() == [a - k for a, k in zip(sizes, v)]
    assert SDRBatch(n, noisy.indices, noisy.indptr) == noisy


def test_batch_add_noise_errors(rng):
    b = SDRBatch.from_sdrs([SDR(4, [0]), SDR(4, [0, 1, 2])])
    with pytest.raises(ValueError, match="fraction=1.0 moves 3 bits of row 1 but only 1 are inactive"):
        b.add_noise(1.0, rng)
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\], got 2"):
        b.add_noise(2, rng)


def test_active_lists_feed_core_overlap(rng):
    b = SDRBatch.from_sdrs([SDR.random(40, a, rng) for a in (0, 3, 7, 40)])
    syn = Synapses.random_erdos_renyi(40, 9, 0.3, rng)
    counts = core_overlap(b.as_active_lists(), syn)
    np.testing.assert_array_equal(counts, b.dense.astype(np.int64) @ (syn.to_dense() != 0))
    np.testing.assert_array_equal(counts[2], core_overlap(b[2].sparse, syn))


# ---------------------------------------------------------------------------- metrics
def test_binary_and_normalized_entropy_by_hand():
    np.testing.assert_allclose(
        binary_entropy([0, 1, 0.5, 0.25]), [0, 0, 1, -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))]
    )
    # cell 0 always on, cells 1-3 each on a third of the time: mean 1/2, H(1/2) = 1
    h3 = -(1 / 3 * math.log2(1 / 3) + 2 / 3 * math.log2(2 / 3))
    assert normalized_entropy([1, 1 / 3, 1 / 3, 1 / 3]) == pytest.approx(3 * h3 / 4)
    assert normalized_entropy([0.2] * 5) == pytest.approx(1.0)
    assert normalized_entropy([0, 0, 0]) == 0.0 == normalized_entropy([1, 1])
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        binary_entropy([1.5])
    with pytest.raises(ValueError, match="frequencies must not be empty"):
        normalized_entropy([])


@given(st.integers(1, 40), st.integers(1, 30), st.data(), seeds())
def test_metrics_equal_plain_means_within_the_period(n, samples, data, seed):
    rng = np.random.default_rng(seed)
    sizes = [data.draw(st.integers(0, n)) for _ in range(samples)]
    b = SDRBatch.from_sdrs([SDR.random(n, a, rng) for a in sizes], n=n)
    m = SDRMetrics(n, period=data.draw(st.integers(samples, 2000))).update(b)
    sp = np.array(sizes) / n
    assert m.samples_ == samples
    np.testing.assert_allclose(m.sparsity_, [sp.mean(), sp.std(), sp.min(), sp.max()], atol=1e-12)
    freq = b.dense.mean(axis=0)
    np.testing.assert_allclose(m.activation_frequency_, freq, atol=1e-12)
    np.testing.assert_allclose(activation_frequency(b), freq)
    sets = [set(s.sparse.tolist()) for s in b]
    pairs = [len(s & t) / max(len(s), len(t)) if max(len(s), len(t)) else 0.0 for s, t in itertools.pairwise(sets)]
    np.testing.assert_allclose(consecutive_overlap(b), pairs)
    if pairs:
        np.testing.assert_allclose(m.overlap_, [np.mean(pairs), np.std(pairs), min(pairs), max(pairs)], atol=1e-12)
    else:
        assert all(math.isnan(v) for v in m.overlap_)
    assert m.entropy() == pytest.approx(normalized_entropy(freq), abs=1e-9)


def test_metrics_ema_beyond_the_period(rng):
    sizes = [2, 9, 4, 4, 30, 1, 0, 7]
    b = SDRBatch.from_sdrs([SDR.random(50, a, rng) for a in sizes])
    m = SDRMetrics(50, period=3)
    for s in b:  # one at a time, same as a whole batch
        m.update(s)
    mean, freq = 0.0, np.zeros(50)
    for t, s in enumerate(b, start=1):
        alpha = 1 / min(3, t)
        mean = (1 - alpha) * mean + alpha * s.sparsity
        freq = (1 - alpha) * freq + alpha * s.dense
    assert m.sparsity_.mean == pytest.approx(mean)
    assert (m.sparsity_.min, m.sparsity_.max) == (0.0, 30 / 50)
    np.testing.assert_allclose(m.activation_frequency_, freq)
    whole = SDRMetrics(50, period=3).update(b)
    assert str(whole) == str(m)


def test_metrics_forget_and_entropy_of_balanced_patterns():
    shifts = SDRBatch.from_sdrs([SDR(10, [i, (i + 1) % 10]) for i in range(10)])
    m = SDRMetrics(10, period=100).update(shifts)
    assert m.entropy() == pytest.approx(1.0)
    assert m.overlap_.mean == pytest.approx(0.5)  # consecutive shifts share one of two bits
    stuck = SDRBatch.from_sdrs([SDR(10, [0, i]) for i in range(1, 10)])
    assert SDRMetrics(10).update(stuck).entropy() < 0.9
    m = SDRMetrics(10, period=5).update(SDRBatch.from_sdrs([SDR(10, range(10))] * 50))
    m.update(SDRBatch.from_sdrs([SDR(10, [3])] * 100))
    assert m.sparsity_.mean == pytest.approx(0.1) and m.sparsity_.max == 1.0
    assert m.activation_frequency_[3] == pytest.approx(1.0) and m.activation_frequency_[0] < 1e-9


def test_metrics_report_and_errors():
    m = SDRMetrics(8)
    assert math.isnan(m.entropy()) and math.isnan(m.sparsity_.mean)
    m.update(SDR(8, [1, 2]))
    text = str(m)
    assert "samples=1" in text and "sparsity" in text and "entropy" in text and "overlap" in text
    assert SDRMetrics(8).update(SDR(8)).entropy() == 0.0
    with pytest.raises(ValueError, match="sdr has n=9, expected n=8"):
        m.update(SDR(9))
    with pytest.raises(TypeError, match="sdr must be an SDR or SDRBatch, got list"):
        m.update([1, 2])
    with pytest.raises(ValueError, match="period must be >= 1, got 0"):
        SDRMetrics(8, period=0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        SDRMetrics(0)
    with pytest.raises(ValueError, match="batch must hold at least one SDR"):
        activation_frequency(SDRBatch.from_sdrs([], n=3))


def test_docstring_examples():
    import doctest

    import sdrnet.sdr

    assert doctest.testmod(sdrnet.sdr).failed == 0
