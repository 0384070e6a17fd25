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


def shd_like(rng, n=400, t_max=1_000_000, edge_us=10_000):
    """SHD in tonic's format: t in µs (some exactly on edges of ``edge_us``), x the channel, p an artificial 1."""
    k = min(n, 20)
    t = np.sort(np.concatenate([rng.integers(0, t_max, n - k), rng.integers(0, t_max // edge_us, k) * edge_us]))
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


@pytest.mark.parametrize("dt, window_us", [(0.01, 10_000), (0.004, 4000), (0.003, 3000), (0.001, 1000)])
def test_shd_like_events_bin_to_channel_counts_like_plain_numpy(dt, window_us):
    rng = np.random.default_rng(0)
    ev = shd_like(rng, edge_us=window_us)  # 0.004 / 1e-6 is 4000.0000000000005 in floats: edges must still hold
    out = Events.from_tonic(ev, (700, 1, 1), dt)
    assert out.n_units == 700 and out.dt == dt and out.n_samples == 1
    ref = plain_frames(ev, (700, 1, 1), window_us)
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


# ---------------------------------------------------------------------------- SHD/SSC through tonic's classes
def edge_spikes(rng, n_samples, max_time=1.2):
    """Sorted float16 seconds (some exactly on 1/4/10 ms edges, some just below) and units."""
    edges = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float16)
    below = np.nextafter(edges[1:], np.float16(0))
    times, units = [], []
    for i in range(n_samples):
        parts = [rng.random(int(rng.integers(1, 200))) * max_time, edges, below] if i != 2 else [[]]  # 2 is silent
        t = np.sort(np.concatenate(parts).astype(np.float16))
        times.append(t)
        units.append(rng.integers(0, 700, t.size).astype(np.uint16))
    return times, units


@pytest.fixture
def tonic_layout(tmp_path):
    """SHD/SSC files in tonic's layout (root/SHD/shd_train.h5 beside its archive) and in sdrnet's (root/)."""
    from snn import data as D

    rng = np.random.default_rng(5)
    files = {}
    for name, split, folder in (("shd", "train", "SHD"), ("ssc", "valid", "SSC")):
        times, units = edge_spikes(rng, 9)
        labels = rng.integers(0, 3, 9)
        extra = {"speaker": rng.integers(0, 4, 9), "keys": ["null", "eins", "zwei"]}
        (tmp_path / folder).mkdir()
        for path in (tmp_path / folder / f"{name}_{split}.h5", tmp_path / f"{name}_{split}.h5"):
            D.write_spike_h5(path, times, units, labels, extra)
        (tmp_path / folder / f"{name}_{split}.h5.zip").write_bytes(b"")  # tonic only checks that it exists
        files[name] = (times, units, labels)
    return tmp_path, files


@pytest.mark.parametrize("dt,pool", [(0.01, 5), (0.004, 1), (0.001, 7)])
def test_shd_and_ssc_through_tonic_bin_like_the_hdf5_reader(tonic_layout, dt, pool):
    pytest.importorskip("tonic")
    from snn import data as D

    root, files = tonic_layout
    for load, split in ((D.load_shd, "train"), (D.load_ssc, "valid")):
        ours = load(split, root=root, dt=dt, pool=pool, download=False)
        via = load(split, root=root, dt=dt, pool=pool, download=False, reader="tonic")
        assert (via.name, via.split, via.n_classes, via.n_steps, via.dt) == (
            ours.name,
            ours.split,
            ours.n_classes,
            ours.n_steps,
            ours.dt,
        )
        np.testing.assert_array_equal(via.to_dense(), ours.to_dense())
        np.testing.assert_array_equal(via.labels, ours.labels)
        np.testing.assert_array_equal(via.sample_info["speaker"], ours.sample_info["speaker"])
        assert via.extra["keys"] == ours.extra["keys"] == ["null", "eins", "zwei"]
    times, units, _ = files["shd"]  # and against plain numpy: floor(t / dt) of the float64 time
    via = D.load_shd(root=root, dt=dt, pool=pool, download=False, reader="tonic").to_dense()
    plain = np.zeros((max(int(t.max() / dt) for t in times if t.size) + 1, 9, 700 // pool))
    for b, (t, u) in enumerate(zip(times, units)):
        np.add.at(plain, (np.floor(t.astype(np.float64) / dt).astype(int), b, u.astype(int) // pool), 1)
    np.testing.assert_array_equal(via, plain)


def test_tonic_reader_n_steps_and_refusals(tonic_layout):
    tonic = pytest.importorskip("tonic")
    from snn import data as D

    root, _ = tonic_layout
    with pytest.warns(UserWarning, match="spikes"):
        ours = D.load_shd(root=root, download=False, n_steps=40)
    with pytest.warns(UserWarning, match=f"{ours.extra['dropped_spikes']} spikes"):
        via = D.load_shd(root=root, download=False, n_steps=40, reader="tonic")
    assert via.extra["dropped_spikes"] == ours.extra["dropped_spikes"] > 0
    np.testing.assert_array_equal(via.to_dense(), ours.to_dense())
    with pytest.raises(ValueError, match="use reader='sdrnet'"):
        D.load_shd(root=root, download=False, reader="tonic", binning="dcls")
    with pytest.raises(ValueError, match="reader must be one of"):
        D.load_shd(root=root, download=False, reader="spikingjelly")
    with pytest.raises(FileNotFoundError, match="download=True"):
        D.load_shd("test", root=root, download=False, reader="tonic")
    with pytest.raises(ValueError, match="lies past max_time=0.5"):
        D.load_shd(root=root, download=False, reader="tonic", max_time=0.5)
    transformed = tonic.datasets.SHD(save_to=str(root), transform=ToEvents((700, 1, 1), 0.01))
    with pytest.raises(ValueError, match="without a transform"):
        D.read_tonic(transformed)
    events, label = transformed[0]  # the transform itself, inside tonic's data set
    ev, target = tonic.datasets.SHD(save_to=str(root))[0]
    assert label == target
    np.testing.assert_array_equal(events.to_dense(), Events.from_tonic(ev, (700, 1, 1), 0.01).to_dense())
