import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sdrnet.core import Events


def dense_inputs(max_t=8, max_b=4, max_n=9):
    shape = st.tuples(st.integers(0, max_t), st.integers(1, max_b), st.integers(1, max_n))
    return shape.flatmap(lambda s: arrays(np.float32, s, elements=st.sampled_from([0.0, 0.0, 0.0, 1.0, -2.5, 0.125])))


@given(dense_inputs())
def test_dense_round_trip(x):
    ev = Events.from_dense(x)
    assert ev.n_samples == x.shape[1] and ev.n_steps == x.shape[0] and ev.n_units == x.shape[2]
    assert ev.n_events == np.count_nonzero(x)
    np.testing.assert_array_equal(ev.to_dense(), x)
    assert ev.time.dtype == np.int32 and ev.unit.dtype == np.int32 and ev.value.dtype == np.float32


@given(dense_inputs())
def test_events_sorted_by_time_within_sample(x):
    ev = Events.from_dense(x)
    for b in range(ev.n_samples):
        t = ev.time[ev.sample_ptr[b] : ev.sample_ptr[b + 1]]
        assert np.all(np.diff(t) >= 0)


def test_constructor_sorts_unsorted_input():
    ev = Events([3, 0, 1, 0], [1, 2, 0, 0], [1, 2, 3, 4], [0, 2, 4], n_steps=4, n_units=3)
    assert ev.time.tolist() == [0, 3, 0, 1] and ev.unit.tolist() == [2, 1, 0, 0]
    assert ev.value.tolist() == [2, 1, 4, 3]


def test_2d_input_is_one_sample():
    x = np.array([[0, 1], [1, 0], [0, 0]], np.float32)
    ev = Events.from_dense(x)
    assert ev.n_samples == 1 and ev.to_dense()[:, 0].tolist() == x.tolist()


@given(dense_inputs(), st.integers(1, 5))
def test_rebin_sums_values_like_dense(x, factor):
    ev = Events.from_dense(x, dt=0.001)
    r = ev.rebin(factor)
    T = x.shape[0]
    tt = -(-T // factor)
    ref = np.zeros((tt,) + x.shape[1:], np.float64)
    for t in range(T):
        ref[t // factor] += x[t]
    np.testing.assert_allclose(r.to_dense(), ref, rtol=1e-6)
    assert r.dt == pytest.approx(0.001 * factor) and r.n_steps == tt


@given(dense_inputs(), st.integers(1, 4))
def test_pool_units_sums_groups(x, factor):
    p = Events.from_dense(x).pool_units(factor)
    n = -(-x.shape[2] // factor)
    ref = np.zeros(x.shape[:2] + (n,))
    for u in range(x.shape[2]):
        ref[:, :, u // factor] += x[:, :, u]
    np.testing.assert_allclose(p.to_dense(), ref, rtol=1e-6)
    # pooled events are unique per (sample, time, unit)
    key = np.stack([p.sample_ids(), p.time, p.unit])
    assert np.unique(key, axis=1).shape[1] == key.shape[1]


def test_from_spike_times_bins_and_counts():
    times = np.array([0.0, 0.004, 0.011, 0.0105, 0.055], np.float16)
    units = np.array([3, 3, 1, 1, 699])
    ev = Events.from_spike_times(times, units, dt=0.01, n_units=700)
    assert ev.n_steps == 6 and ev.dt == 0.01
    assert ev.time.tolist() == [0, 1, 5] and ev.unit.tolist() == [3, 1, 699]
    assert ev.value.tolist() == [2.0, 2.0, 1.0]  # counts, as SpikingJelly's frames
    pooled = ev.pool_units(5)
    assert pooled.n_units == 140 and pooled.unit.tolist() == [0, 0, 139]


def test_from_spike_times_batch_shares_a_grid():
    ev = Events.from_spike_times(
        [np.array([0.0, 0.03]), np.array([], np.float32)],
        [np.array([0, 1]), np.array([], np.int64)],
        dt=0.01,
        n_units=2,
    )
    assert ev.n_samples == 2 and ev.n_steps == 4 and ev.events_per_sample().tolist() == [2, 0]


def test_concatenate_and_getitem():
    rng = np.random.default_rng(0)
    a = Events.from_dense((rng.random((5, 2, 4)) < 0.3).astype(np.float32))
    b = Events.from_dense((rng.random((7, 3, 4)) < 0.3).astype(np.float32))
    c = Events.concatenate([a, b])
    assert c.n_samples == 5 and c.n_steps == 7
    np.testing.assert_array_equal(c[:2].to_dense()[:5], a.to_dense())
    np.testing.assert_array_equal(c[2:].to_dense(), b.to_dense())
    np.testing.assert_array_equal(c[3].to_dense()[:, 0], b.to_dense()[:, 1])
    np.testing.assert_array_equal(c[[4, 0]].to_dense()[:5, 1], a.to_dense()[:, 0])


def test_to_torch_matches_dense():
    torch = pytest.importorskip("torch")
    x = np.zeros((3, 2, 4), np.float32)
    x[1, 0, 2] = 1
    x[2, 1, 3] = 0.5
    t = Events.from_dense(x).to_torch()
    assert t.dtype == torch.float32 and tuple(t.shape) == (3, 2, 4)
    np.testing.assert_array_equal(t.numpy(), x)


def test_empty_events():
    ev = Events([], [], None, None, n_steps=0, n_units=3)
    assert ev.n_events == 0 and ev.to_dense().shape == (0, 1, 3)
    assert Events.from_dense(np.zeros((4, 3, 2))).n_events == 0


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(time=[-1], unit=[0], n_steps=3, n_units=2), ValueError, "time must be >= 0"),
        (dict(time=[3], unit=[0], n_steps=3, n_units=2), ValueError, "time must be < 3"),
        (dict(time=[0], unit=[2], n_steps=3, n_units=2), ValueError, "unit must be < 2"),
        (dict(time=[0.5], unit=[0], n_steps=3, n_units=2), TypeError, "time must have an integer dtype"),
        (dict(time=[0], unit=[0], value=[np.nan], n_steps=3, n_units=2), ValueError, "value must be finite"),
        (dict(time=[0, 1], unit=[0], n_steps=3, n_units=2), ValueError, "unit must have the same length"),
        (dict(time=[0], unit=[0], sample_ptr=[0, 2], n_steps=3, n_units=2), ValueError, "sample_ptr must start at 0"),
        (dict(time=[0], unit=[0], n_steps=3, n_units=0), ValueError, "n_units must be >= 1"),
        (dict(time=[[0]], unit=[0], n_steps=3, n_units=1), ValueError, "time must be 1-D"),
    ],
)
def test_constructor_errors(kwargs, err, match):
    time, unit = kwargs.pop("time"), kwargs.pop("unit")
    value, ptr = kwargs.pop("value", None), kwargs.pop("sample_ptr", None)
    with pytest.raises(err, match=match):
        Events(time, unit, value, ptr, **kwargs)


def test_from_dense_errors():
    with pytest.raises(ValueError, match=r"x must have shape \[T, N\] or \[T, B, N\]"):
        Events.from_dense(np.zeros(4))
    with pytest.raises(ValueError, match="x must be finite"):
        Events.from_dense(np.array([[np.nan]]))
    with pytest.raises(TypeError, match="x must have a real dtype"):
        Events.from_dense(np.array([["a"]]))


def test_from_spike_times_errors():
    with pytest.raises(ValueError, match="dt must be a positive"):
        Events.from_spike_times([0.1], [0], dt=0, n_units=1)
    with pytest.raises(ValueError, match="non-negative"):
        Events.from_spike_times([-0.1], [0], dt=0.01, n_units=1)
    with pytest.raises(ValueError, match="beyond n_steps=2"):
        Events.from_spike_times([0.05], [0], dt=0.01, n_units=1, n_steps=2)
    with pytest.raises(ValueError, match="unit must be < 4"):
        Events.from_spike_times([0.0], [4], dt=0.01, n_units=4)
    with pytest.raises(ValueError, match="same number of samples"):
        Events.from_spike_times([np.zeros(1), np.zeros(1)], [np.zeros(1, int)], dt=0.01, n_units=1)


def test_concatenate_errors():
    a = Events.from_dense(np.ones((2, 3)))
    with pytest.raises(ValueError, match="n_units=2"):
        Events.concatenate([a, Events.from_dense(np.ones((2, 2)))])
    with pytest.raises(TypeError, match=r"samples\[1\] must be Events"):
        Events.concatenate([a, np.ones(3)])
    with pytest.raises(ValueError, match="at least one"):
        Events.concatenate([])
