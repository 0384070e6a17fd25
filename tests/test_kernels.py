"""The Numba kernels against their plain-numpy references (tests/reference.py), property-based."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import kwta_ref, overlap_ref, propagate_ref

from sdrnet.core import Events, Synapses, kwta, overlap, propagate


@st.composite
def network_inputs(draw):
    n_pre, n_post = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    n_steps, n_samples = draw(st.integers(0, 20)), draw(st.integers(1, 5))
    activity = draw(st.sampled_from([0.0, 0.02, 0.2, 0.7]))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 1.0]))
    max_delay = draw(st.sampled_from([None, 0, 3, 40]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    # graded events (multiples of 1/4) so float32 sums are exact in any order
    x = np.where(
        rng.random((n_steps, n_samples, n_pre)) < activity, rng.integers(1, 8, (n_steps, n_samples, n_pre)) / 4, 0
    ).astype(np.float32)
    syn = Synapses.random_erdos_renyi(
        n_pre, n_post, density, rng, weight=lambda r, n: r.integers(-16, 16, n) / 8, max_delay=max_delay
    )
    return x, syn


@given(network_inputs(), st.sampled_from([None, 0, 5]))
def test_propagate_matches_dense_reference(inputs, n_steps):
    x, syn = inputs
    ev = Events.from_dense(x)
    out = propagate(ev, syn, n_steps=n_steps)
    expect_steps = x.shape[0] + syn.max_delay if n_steps is None else n_steps
    assert out.shape == (expect_steps, x.shape[1], syn.n_post) and out.dtype == np.float32
    np.testing.assert_array_equal(out, propagate_ref(x, syn, expect_steps))


def test_propagate_multapses_and_empty_samples():
    syn = Synapses.from_edges([0, 0, 1], [1, 1, 0], [1.0, 2.0, 4.0], [0, 2, 1], n_pre=2, n_post=2)
    ev = Events([0, 1], [0, 1], [1.0, 0.5], [0, 0, 2, 2], n_steps=3, n_units=2)
    out = propagate(ev, syn)
    assert out.shape == (5, 3, 2)
    assert not out[:, 0].any() and not out[:, 2].any()
    assert out[0, 1].tolist() == [0.0, 1.0] and out[2, 1].tolist() == [2.0, 2.0]


def test_propagate_checks_sizes():
    syn = Synapses.from_dense(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"events.n_units \(4\) must equal synapses.n_pre \(3\)"):
        propagate(Events.from_dense(np.ones((2, 4))), syn)
    with pytest.raises(TypeError, match="events must be Events"):
        propagate(np.ones((2, 3)), syn)


@st.composite
def sdr_batches(draw):
    n_pre, n_post = draw(st.integers(1, 60)), draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    syn = Synapses.random_erdos_renyi(n_pre, n_post, draw(st.sampled_from([0.0, 0.1, 0.5])), rng)
    sizes = draw(st.lists(st.integers(0, n_pre), min_size=1, max_size=5))
    return [rng.choice(n_pre, a, replace=False) for a in sizes], syn


@given(sdr_batches())
def test_overlap_matches_dense_reference(batch):
    active, syn = batch
    counts = overlap(active, syn)
    assert counts.dtype == np.int32 and counts.shape == (len(active), syn.n_post)
    np.testing.assert_array_equal(counts, overlap_ref(active, syn))
    np.testing.assert_array_equal(overlap(active[0], syn), counts[0])


def test_overlap_counts_multapses_and_rejects_repeats():
    syn = Synapses.from_edges([0, 0, 2], [1, 1, 1], n_pre=3, n_post=2)
    assert overlap(np.array([[0, 2], [1, 2]]), syn).tolist() == [[0, 3], [0, 1]]
    with pytest.raises(ValueError, match=r"active\[1\] repeats a unit"):
        overlap([np.array([0]), np.array([2, 2])], syn)
    with pytest.raises(ValueError, match="active must be < 3"):
        overlap([np.array([3])], syn)
    with pytest.raises(TypeError, match=r"active\[0\] must have an integer dtype"):
        overlap([np.array([0.5])], syn)


@given(st.integers(1, 6), st.integers(1, 50), st.data())
def test_kwta_matches_stable_sort(rows, n, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    k = data.draw(st.integers(1, n))
    # few distinct values: many ties, which must go to the lower index
    x = rng.integers(0, data.draw(st.sampled_from([2, 5, 1000])), (rows, n)).astype(np.float32)
    np.testing.assert_array_equal(kwta(x, k), kwta_ref(x, k))
    np.testing.assert_array_equal(kwta(x[0], k), kwta_ref(x[0], k)[0])


def test_kwta_errors():
    with pytest.raises(ValueError, match="k must be <= the row length 3"):
        kwta(np.zeros(3), 4)
    with pytest.raises(ValueError, match="k must be >= 1"):
        kwta(np.zeros(3), 0)
    with pytest.raises(ValueError, match="x must be finite"):
        kwta(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match=r"x must have shape \[n\] or \[B, n\]"):
        kwta(np.zeros((2, 2, 2)), 1)
