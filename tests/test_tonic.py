"""tonic's structured event arrays as `Events` (sdrnet.core.tonic) and SHD/SSC read through tonic (snn.data)."""

import numpy as np
import pytest

from sdrnet.core import Events
from sdrnet.core.tonic import ToEvents, collate, events_from_tonic

SHD_DTYPE = np.dtype([("t", int), ("x", int), ("p", int)])  # tonic.datasets.SHD.dtype
GESTURE_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])  # DVSGesture


def struct(dtype, **fields):
    out = np.empty(len(fields["t"]), dtype)
    for name, values in fields.items():
        out[name] = values
    return out


def shd_like(rng, n=400, t_max=1_000_000):
    """SHD in tonic's format: t in µs (some exactly on 10 ms edges), x the channel, p an artificial 1."""
    k = min(n, 20)
    t = np.sort(np.concatenate([rng.integers(0, t_max, n - k), rng.integers(0, t_max // 10_000, k) * 10_000]))
    return struct(SHD_DTYPE, t=t, x=rng.integers(0, 700, n), p=np.ones(n, int))


def dvs_like(rng, n=600, sensor=(34, 28, 2), t_max=70_000, dtype=GESTURE_DTYPE):
    t = np.sort(rng.integers(0, t_max, n))
    w, h, _ = sensor
    return struct(dtype, x=rng.integers(0, w, n), y=rng.integers(0, h, n), p=rng.random(n) < 0.5, t=t)


def plain_frames(ev, sensor, window_us, t0=0):
    """Reference: counts [T, P, H, W] by np.add.at at step (t - t0) // window (Python integers)."""
    w, h, n_pol = sensor
    step = (ev["t"].astype(np.int64) - t0) // window_us
    y = ev["y"] if "y" in ev.dtype.names else np.zeros(ev.shape[0], int)
    p = ev["p"].astype(int) if n_pol > 1 else np.zeros(ev.shape[0], int)
    out = np.zeros((int(step.max()) + 1, n_pol, h, w))
    np.add.at(out, (step, p, y, ev["x"].astype(int)), 1)
    return out


def test_shd_like_events_bin_to_channel_counts_like_plain_numpy():
    rng = np.random.default_rng(0)
    ev = shd_like(rng)
    out = Events.from_tonic(ev, (700, 1, 1), 0.01)
    assert out.n_units == 700 and out.dt == 0.01 and out.n_samples == 1
    ref = plain_frames(ev, (700, 1, 1), 10_000)
    assert out.n_steps == ref.shape[0]
    np.testing.assert_array_equal(out.to_dense()[:, 0, :], ref[:, 0, 0, :])
    assert out.value.sum() == ev.shape[0] and out.value.max() >= 1


@pytest.mark.parametrize("dtype", [GESTURE_DTYPE, np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])])
def test_dvs_units_are_tonic_frame_layout_p_y_x(dtype):
    rng = np.random.default_rng(1)
    sensor = (34, 28, 2)
    ev = dvs_like(rng, sensor=sensor, dtype=dtype)
    out = events_from_tonic(ev, sensor, 0.003)
    ref = plain_frames(ev, sensor, 3000)
    np.testing.assert_array_equal(out.to_dense().reshape(out.n_steps, 2, 28, 34), ref)
    first = events_from_tonic(ev, sensor, 0.003, origin="first_event")
    np.testing.assert_array_equal(
        first.to_dense().reshape(first.n_steps, 2, 28, 34), plain_frames(ev, sensor, 3000, t0=ev["t"].min())
    )


def test_a_batch_is_the_concatenation_of_its_samples_and_n_steps_is_checked():
    rng = np.random.default_rng(2)
    samples = [shd_like(rng, n, t_max=1_100_000) for n in (50, 0, 120)]
    batch = events_from_tonic(samples, (700, 1, 1), 0.01, n_steps=120)
    singles = [events_from_tonic(s, (700, 1, 1), 0.01, n_steps=120) for s in samples]
    np.testing.assert_array_equal(batch.to_dense(), Events.concatenate(singles).to_dense())
    np.testing.assert_array_equal(batch.sample_ptr, np.cumsum([0] + [e.n_events for e in singles]))
    with pytest.raises(ValueError, match="beyond n_steps=50"):
        events_from_tonic(samples, (700, 1, 1), 0.01, n_steps=50)


def test_time_unit_and_float_times():
    ev = struct(np.dtype([("t", float), ("x", int)]), t=[0.0, 0.0049, 0.005, 0.0123], x=[0, 1, 1, 2])
    out = events_from_tonic(ev, (3, 1, 1), 0.005, time_unit=1.0)  # t in seconds
    assert out.time.tolist() == [0, 0, 1, 2] and out.unit.tolist() == [0, 1, 1, 2]


@pytest.mark.parametrize(
    "fields, sensor, kwargs, error, match",
    [
        (dict(t=[0, 5], x=[0, 3]), (3, 1, 1), {}, ValueError, r"events\['x'\] must lie in \[0, 3\)"),
        (dict(t=[0, 5], x=[0, 1], p=[0, 1]), (3, 1, 1), {}, ValueError, "several polarities"),
        (dict(t=[-1, 5], x=[0, 1]), (3, 1, 1), {}, ValueError, "origin='first_event'"),
        (dict(t=[0, 5], x=[0, 1]), (3, 2, 1), {}, ValueError, "no field 'y'"),
        (dict(t=[0, 5], x=[0, 1]), (3, 1), {}, ValueError, r"sensor_size must be \(W, H, P\)"),
        (dict(t=[0, 5], x=[0.0, 1.0]), (3, 1, 1), {}, TypeError, "must be integer"),
        (dict(t=[0, 5], x=[0, 1]), (3, 1, 1), dict(origin="start"), ValueError, "origin must be one of"),
        (dict(t=[0, 5], x=[0, 1]), (3, 1, 1), dict(time_unit=0), ValueError, "time_unit must be a positive"),
    ],
)
def test_bad_input_names_the_argument(fields, sensor, kwargs, error, match):
    dtype = np.dtype([(k, float if isinstance(v[0], float) else int) for k, v in fields.items()])
    with pytest.raises(error, match=match):
        events_from_tonic(struct(dtype, **fields), sensor, 1e-6, **kwargs)
    with pytest.raises(TypeError, match="structured array"):
        events_from_tonic(np.zeros((3, 2)), (3, 1, 1), 0.01)
    with pytest.raises(ValueError, match="no field 't'"):
        events_from_tonic(np.zeros(3, [("x", int)]), (3, 1, 1), 0.01)


def test_to_events_transform_and_collate():
    rng = np.random.default_rng(3)
    transform = ToEvents((700, 1, 1), 0.01, n_steps=110)
    ev = shd_like(rng)
    np.testing.assert_array_equal(
        transform(ev).to_dense(), events_from_tonic(ev, (700, 1, 1), 0.01, n_steps=110).to_dense()
    )
    with pytest.raises(ValueError, match="dt must be a positive"):
        ToEvents((700, 1, 1), -1.0)
    batch = [(transform(shd_like(rng, n)), label) for n, label in ((30, 4), (60, 7))]
    events, labels = collate(batch)
    assert labels.tolist() == [4, 7] and events.n_samples == 2
    np.testing.assert_array_equal(events[1].to_dense(), batch[1][0].to_dense())


# ---------------------------------------------------------------------------- against tonic itself
def test_matches_tonic_to_frame_and_runs_in_compose():
    tonic = pytest.importorskip("tonic")
    rng = np.random.default_rng(4)
    sensor = (34, 28, 2)
    ev = dvs_like(rng, sensor=sensor)
    last = ev["t"][-1]
    assert last % 3000 and (last - ev["t"][0]) % 3000  # tonic's ToFrame drops an event lying on the last edge
    for origin, start in (("zero", 0), ("first_event", None)):
        frames = tonic.transforms.ToFrame(sensor, time_window=3000, include_incomplete=True, start_time=start)(
            ev.copy()
        )
        out = events_from_tonic(ev, sensor, 0.003, origin=origin)
        np.testing.assert_array_equal(out.to_dense().reshape(out.n_steps, 2, 28, 34), frames)
    down = tonic.transforms.Downsample(spatial_factor=0.5)
    half = (17, 14, 2)
    composed = tonic.transforms.Compose([down, ToEvents(half, 0.003)])(ev.copy())
    frames = tonic.transforms.ToFrame(half, time_window=3000, include_incomplete=True, start_time=0)(down(ev.copy()))
    np.testing.assert_array_equal(composed.to_dense().reshape(composed.n_steps, 2, 14, 17), frames)
