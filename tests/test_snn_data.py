"""snn.data: SHD/SSC files (written here in the official layout), download checks, splits, batches, timing task."""

import hashlib
import io
import urllib.error
import urllib.request
import zipfile

import h5py
import numpy as np
import pytest

from snn import data as D

# ---------------------------------------------------------------------------- helpers


def random_spikes(rng, n_samples, max_time=0.8, n_units=700, max_spikes=60):
    """Per-sample sorted float16 times (seconds) and units, as in the official files."""
    times, units = [], []
    for _ in range(n_samples):
        k = int(rng.integers(0, max_spikes))
        t = np.sort(rng.random(k) * max_time).astype(np.float16)
        times.append(t)
        units.append(rng.integers(0, n_units, k).astype(np.uint16))
    return times, units


def write_raw_h5(path, times, units, labels, speaker):
    """The SHD layout written with plain h5py (independent of write_spike_h5)."""
    with h5py.File(path, "w") as f:
        tds = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float16))
        uds = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(zip(times, units)):
            tds[i] = t
            uds[i] = u
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))
        f.create_dataset("extra/speaker", data=np.asarray(speaker, np.uint16))
        f.create_dataset("extra/keys", data=np.array([b"null", b"eins", b"zwei"]))
        f.create_dataset("extra/meta_info/age", data=np.array([20, 30], np.uint8))


def reference_dense(times, units, dt, pool, n_steps):
    """Plain loop binning: step floor(t/dt) (float64 of the float16 time), channel u // pool."""
    out = np.zeros((n_steps, len(times), 700 // pool), np.float32)
    for b, (ts, us) in enumerate(zip(times, units)):
        for t, u in zip(ts, us):
            step = int(np.floor(float(t) / dt))
            if step < n_steps:
                out[step, b, int(u) // pool] += 1
    return out


def last_step(times, dt):
    return max(int(np.floor(float(t.max()) / dt)) for t in times if t.size) + 1


@pytest.fixture
def shd_files(tmp_path):
    rng = np.random.default_rng(7)
    times, units = random_spikes(rng, 12)
    times[3] = np.zeros(0, np.float16)  # a silent sample
    units[3] = np.zeros(0, np.uint16)
    labels = rng.integers(0, 3, 12)
    speaker = rng.integers(0, 2, 12)
    write_raw_h5(tmp_path / "shd_train.h5", times, units, labels, speaker)
    return tmp_path, times, units, labels, speaker


# ---------------------------------------------------------------------------- reading and binning


@pytest.mark.parametrize("dt,pool", [(0.01, 5), (0.005, 1), (0.02, 7), (0.004, 10)])
def test_load_shd_matches_plain_binning(shd_files, dt, pool):
    root, times, units, labels, speaker = shd_files
    ds = D.load_shd("train", root=root, dt=dt, pool=pool, download=False)
    n_steps = last_step(times, dt)
    assert (ds.name, ds.split, ds.n_classes, len(ds)) == ("shd", "train", 20, 12)
    assert ds.n_channels == 700 // pool and ds.n_steps == n_steps and ds.dt == dt
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, dt, pool, n_steps))
    np.testing.assert_array_equal(ds.labels, labels)
    np.testing.assert_array_equal(ds.sample_info["speaker"], speaker)
    assert ds.extra["keys"] == ["null", "eins", "zwei"] and ds.extra["dropped_spikes"] == 0
    np.testing.assert_array_equal(ds.extra["meta_info"]["age"], [20, 30])
    expected_len = [int(np.floor(float(t.max()) / dt)) + 1 if t.size else 0 for t in times]
    np.testing.assert_array_equal(ds.lengths, expected_len)
    assert ds.events.value.sum() == sum(t.size for t in times)


def test_write_spike_h5_pins_the_official_layout(tmp_path):
    rng = np.random.default_rng(0)
    times, units = random_spikes(rng, 5)
    path = D.write_spike_h5(
        tmp_path / "ssc_valid.h5",
        times,
        units,
        [0, 34, 3, 3, 1],
        extra={
            "speaker": [5, 6, 5, 7, 8],
            "keys": [f"w{i}" for i in range(35)],
            "meta_info": {"gender": np.array([0, 1, 1])},
        },
    )
    with h5py.File(path, "r") as f:
        assert h5py.check_vlen_dtype(f["spikes/times"].dtype) == np.float16
        assert h5py.check_vlen_dtype(f["spikes/units"].dtype) == np.uint16
        assert f["labels"].dtype == np.uint8 and f["extra/speaker"].dtype == np.uint16
        assert f["extra/keys"][0] == b"w0" and f["extra/meta_info/gender"].shape == (3,)
        for i in range(5):
            np.testing.assert_array_equal(f["spikes/times"][i], times[i])
            np.testing.assert_array_equal(f["spikes/units"][i], units[i])
    ds = D.load_ssc("valid", root=tmp_path, download=False)
    assert (ds.name, ds.split, ds.n_classes, ds.n_channels) == ("ssc", "valid", 35, 140)
    np.testing.assert_array_equal(ds.labels, [0, 34, 3, 3, 1])
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, ds.n_steps))
    with h5py.File(D.write_spike_h5(tmp_path / "big.h5", times[:1], units[:1], [300]), "r") as f:
        assert f["labels"].dtype == np.uint16


def test_spikes_on_bin_edges():
    # 0.25, 0.5 and 0.75 s are exact in float16 and exact multiples of 0.01 s and 0.25 s
    t = np.array([0.0, 0.25, np.nextafter(np.float16(0.5), np.float16(0)), 0.5, 0.75], np.float16)
    u = np.array([0, 5, 9, 10, 699], np.uint16)
    ev, dropped = D.bin_spikes([t], [u], dt=0.01, pool=5)
    assert dropped == 0 and ev.n_steps == 76
    assert list(zip(ev.time, ev.unit)) == [(0, 0), (25, 1), (49, 1), (50, 2), (75, 139)]
    ev, _ = D.bin_spikes([t], [u], dt=0.25, pool=1)
    assert ev.time.tolist() == [0, 1, 1, 2, 3]


def test_counts_add_up_within_a_bin_and_channel():
    t = np.array([0.011, 0.012, 0.013, 0.0125], np.float16)
    u = np.array([0, 1, 4, 5], np.uint16)
    ev, _ = D.bin_spikes([t], [u], dt=0.01, pool=5)
    assert ev.time.tolist() == [1, 1] and ev.unit.tolist() == [0, 1] and ev.value.tolist() == [3.0, 1.0]


def test_explicit_n_steps_drops_and_counts(shd_files):
    root, times, units, _, _ = shd_files
    n_late = sum(int((t.astype(np.float64) >= 0.3).sum()) for t in times)
    assert n_late > 0
    with pytest.warns(UserWarning, match=f"{n_late} spikes"):
        ds = D.read_spike_h5(root / "shd_train.h5", n_steps=30)
    assert ds.n_steps == 30 and ds.extra["dropped_spikes"] == n_late
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, 30))
    assert ds.n_classes == 3 and ds.name == "shd_train"  # inferred from the labels / the file name


def test_origin_first_spike_shifts_each_sample():
    t = [np.array([0.1, 0.125, 0.3], np.float16), np.array([0.05], np.float16)]
    u = [np.array([0, 1, 2], np.uint16), np.array([3], np.uint16)]
    ev, _ = D.bin_spikes(t, u, dt=0.01, pool=1, origin="first_spike")
    expected = [int(np.floor((float(a) - float(t[0][0])) / 0.01)) for a in t[0]] + [0]
    assert ev.time.tolist() == expected


# ---------------------------------------------------------------------------- the DCLS authors' frames


def sj2023_frames(times, units, duration=10, W=700):
    """SpikingJelly's integrate_events_by_fixed_duration_shd as of 2023 (before commit 01823bed), which the
    DCLS-delay results used, written out plainly: t in float16 ms, frames from the next unused spike."""
    x, t = units, 1000 * times
    N = t.size
    frames, left, right = [], 0, 0
    while True:
        t_l = t[left]
        while True:
            if right == N or t[right] - t_l > duration:
                break
            right += 1
        frame = np.zeros(W)
        counts = np.bincount(x[left:right].astype(int))
        frame[np.arange(counts.size)] += counts
        frames.append(frame[None])
        left = right
        if right == N:
            return np.concatenate(frames)


def snn_delays_binned(frames, n_bins=5):
    """SNN-delays' BinnedSpikingHeidelbergDigits: float32 frames, n_bins neighbouring channels summed."""
    frames = frames.astype(np.float32)
    binned = np.zeros((frames.shape[0], frames.shape[1] // n_bins))
    for i in range(binned.shape[1]):
        binned[:, i] = frames[:, n_bins * i : n_bins * (i + 1)].sum(axis=1)
    return binned


def bursty_spikes(rng, n_samples):
    """Sorted float16 seconds in bursts with silences, spikes exactly 10 ms after a frame start, tiny times."""
    times, units = [], []
    for _ in range(n_samples):
        onsets = np.sort(rng.random(int(rng.integers(1, 6))) * 1.3)
        t = np.concatenate([a + rng.random(int(rng.integers(1, 80))) * rng.choice([0.005, 0.03, 0.2]) for a in onsets])
        t = np.concatenate([t, [0.25, 0.26, 0.27, 1e-5, 6e-8]])  # 250 / 260 / 270 ms: differences of exactly 10
        t = np.sort(t.astype(np.float16))
        times.append(t)
        units.append(rng.integers(0, 700, t.size).astype(np.uint16))
    return times, units


def test_dcls_binning_reproduces_the_2023_spikingjelly_frames_bit_for_bit(tmp_path):
    rng = np.random.default_rng(11)
    times, units = bursty_spikes(rng, 40)
    D.write_spike_h5(tmp_path / "shd_train.h5", times, units, rng.integers(0, 20, 40))
    ds = D.load_shd("train", root=tmp_path, download=False, binning="dcls")
    grid = D.load_shd("train", root=tmp_path, download=False)
    dense = ds.to_dense()
    for b, (t, u) in enumerate(zip(times, units)):
        ref = snn_delays_binned(sj2023_frames(t, u))
        assert ds.lengths[b] == ref.shape[0]
        np.testing.assert_array_equal(dense[: ref.shape[0], b, :], ref)
        assert not dense[ref.shape[0] :, b, :].any()
    assert ds.n_steps < grid.n_steps  # silences make no frames
    assert (ds.events.value.sum(), ds.n_channels, ds.dt) == (grid.events.value.sum(), 140, 0.01)
    ev, _ = D.bin_spikes(times, units, binning="dcls", pool=1)
    np.testing.assert_array_equal(ev[0].to_dense()[: ds.lengths[0], 0], sj2023_frames(times[0], units[0]))


def test_dcls_binning_other_durations_n_steps_and_refusals():
    rng = np.random.default_rng(12)
    times, units = bursty_spikes(rng, 6)
    ev, _ = D.bin_spikes(times, units, dt=0.004, pool=1, binning="dcls")
    for b, (t, u) in enumerate(zip(times, units)):
        ref = sj2023_frames(t, u, duration=4)
        np.testing.assert_array_equal(ev[b].to_dense()[: ref.shape[0], 0], ref)
    n_frames = [sj2023_frames(t, u).shape[0] for t, u in zip(times, units)]
    ev, dropped = D.bin_spikes(times, units, binning="dcls", n_steps=5)
    assert ev.n_steps == 5 and dropped == sum(t.size for t in times) - ev.value.sum() > 0
    assert min(n_frames) > 5
    silent, _ = D.bin_spikes(
        [np.zeros(0, np.float16)] + times[:1], [np.zeros(0, np.uint16)] + units[:1], binning="dcls"
    )
    assert silent.events_per_sample()[0] == 0 and silent.n_steps == n_frames[0]
    with pytest.raises(D.SpikeDataError, match=r"sorted.*sample 1, spike 1"):
        D.bin_spikes([np.array([0.1], np.float16), np.array([0.2, 0.1], np.float16)], [[1], [2, 3]], binning="dcls")
    with pytest.raises(ValueError, match="origin applies to binning='grid'"):
        D.bin_spikes(times, units, binning="dcls", origin="first_spike")
    with pytest.raises(ValueError, match="binning must be one of"):
        D.bin_spikes(times, units, binning="frames")


def test_bad_inputs(tmp_path, shd_files):
    root = shd_files[0]
    t, u = [np.array([0.1], np.float16)], [np.array([3], np.uint16)]
    with pytest.raises(ValueError, match="pool must divide n_units=700"):
        D.bin_spikes(t, u, pool=3)
    with pytest.raises(ValueError, match="dt must be a positive"):
        D.bin_spikes(t, u, dt=0)
    with pytest.raises(ValueError, match=r"must be >= 0 seconds"):
        D.bin_spikes([np.array([-0.1])], u)
    with pytest.raises(ValueError, match=r"units must lie in \[0, 700\)"):
        D.bin_spikes(t, [np.array([700])])
    with pytest.raises(TypeError, match=r"units\[0\] must have an integer dtype"):
        D.bin_spikes(t, [np.array([3.0])])
    with pytest.raises(ValueError, match="same length"):
        D.bin_spikes(t, [np.array([1, 2])])
    with pytest.raises(ValueError, match="origin"):
        D.bin_spikes(t, u, origin="first")
    with pytest.raises(ValueError, match="split must be one of"):
        D.load_shd("valid", root=root, download=False)
    with pytest.raises(FileNotFoundError, match="f3252aeb598ac776c1b526422d90eecb|1503a5"):
        D.load_shd("test", root=root, download=False)
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.create_dataset("labels", data=[0])
    with pytest.raises(ValueError, match="'spikes/times' is missing"):
        D.read_spike_h5(tmp_path / "x.h5")
    with pytest.raises(ValueError, match=r"labels \(3\) must have the same number"):
        D.write_spike_h5(tmp_path / "y.h5", t, u, [0, 1, 2])
    with pytest.raises(ValueError, match="extra may hold"):
        D.write_spike_h5(tmp_path / "y.h5", t, u, [0], extra={"speakers": [1]})


def test_spike_dataset_validation_and_subset(shd_files):
    ds = D.load_shd(root=shd_files[0], download=False)
    with pytest.raises(ValueError, match="labels must have one entry per sample"):
        D.SpikeDataset(ds.events, ds.labels[:-1], 20)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, n_classes=2\)"):
        D.SpikeDataset(ds.events, ds.labels * 0 + 2, 2)
    with pytest.raises(ValueError, match="sample_info\\['speaker'\\]"):
        D.SpikeDataset(ds.events, ds.labels, 20, sample_info={"speaker": [1]})
    with pytest.raises(TypeError, match="events must be"):
        D.SpikeDataset(ds.to_dense(), ds.labels, 20)
    idx = np.array([5, 3, 0])
    sub = ds[idx]
    np.testing.assert_array_equal(sub.to_dense(), ds.to_dense()[:, idx])
    np.testing.assert_array_equal(sub.sample_info["speaker"], ds.sample_info["speaker"][idx])
    assert len(ds[2]) == 1 and len(ds[ds.labels == ds.labels[0]]) == int((ds.labels == ds.labels[0]).sum())
    assert sub.extra["keys"] == ds.extra["keys"]


# ---------------------------------------------------------------------------- download and checksums


def make_zip(folder, name="shd_train.h5"):
    rng = np.random.default_rng(3)
    times, units = random_spikes(rng, 4)
    h5 = D.write_spike_h5(folder / name, times, units, [0, 1, 2, 3])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.write(h5, name)
    h5.unlink()
    return buf.getvalue(), times, units


class FakeServer:
    """Stands in for urllib.request.urlopen: serves bytes, honours Range, can cut a stream short."""

    def __init__(self, blobs, cut_at=None, honour_range=True, fail=()):
        self.blobs, self.cut_at, self.honour_range, self.fail = blobs, cut_at, honour_range, fail
        self.requests = []

    def __call__(self, request, timeout=None):
        url, rng_header = request.full_url, request.get_header("Range")
        self.requests.append((url, rng_header))
        if any(url.startswith(f) for f in self.fail):
            raise urllib.error.URLError("mirror down")
        blob = self.blobs[url.rsplit("/", 1)[1]]
        start = int(rng_header[6:-1]) if rng_header and self.honour_range else 0
        if start >= len(blob) and rng_header:
            raise urllib.error.HTTPError(url, 416, "Range Not Satisfiable", {}, None)
        body = blob[start:]
        if self.cut_at is not None:
            body, self.cut_at = body[: self.cut_at], None  # only the first answer is cut
        return FakeResponse(body, len(blob) - start, 206 if start else 200)


class FakeResponse(io.BytesIO):
    def __init__(self, body, length, status):
        super().__init__(body)
        self.status, self.headers = status, {"Content-Length": str(length)}


@pytest.fixture
def served(tmp_path, monkeypatch):
    blob, times, units = make_zip(tmp_path)
    monkeypatch.setitem(D.ZIP_MD5, "shd_train.h5.zip", hashlib.md5(blob).hexdigest())
    return tmp_path / "cache", blob, times, units


def test_download_verify_extract_and_load(served, monkeypatch):
    cache, blob, times, units = served
    server = FakeServer({"shd_train.h5.zip": blob})
    monkeypatch.setattr(urllib.request, "urlopen", server)
    ds = D.load_shd("train", root=cache, progress=False)
    assert server.requests == [("https://zenkelab.org/datasets/shd_train.h5.zip", None)]
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, ds.n_steps))
    assert (cache / "shd_train.h5.zip").read_bytes() == blob and not (cache / "shd_train.h5.zip.part").exists()
    D.load_shd("train", root=cache)  # cached: no new request
    assert len(server.requests) == 1


def test_data_root_from_environment(served, monkeypatch):
    cache, blob, _, _ = served
    monkeypatch.setenv("SDRNET_DATA", str(cache))
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({"shd_train.h5.zip": blob}))
    assert D.data_root() == cache and D.fetch("shd", "train", progress=False) == cache / "shd_train.h5"


def test_partial_download_is_kept_and_resumed(served, monkeypatch):
    cache, blob, _, _ = served
    server = FakeServer({"shd_train.h5.zip": blob}, cut_at=len(blob) // 3)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    one = D.MIRRORS[:1]  # with a second mirror the download would continue there (test_data_trust.py)
    with pytest.raises(OSError, match=f"stopped at {len(blob) // 3} of {len(blob)} bytes.*run again to resume"):
        D.fetch("shd", "train", root=cache, progress=False, mirrors=one)
    assert (cache / "shd_train.h5.zip.part").stat().st_size == len(blob) // 3
    path = D.fetch("shd", "train", root=cache, progress=False, mirrors=one)
    assert server.requests[-1][1] == f"bytes={len(blob) // 3}-"
    assert (cache / "shd_train.h5.zip").read_bytes() == blob and path.exists()


def test_resume_restarts_when_the_server_ignores_range(served, monkeypatch):
    cache, blob, _, _ = served
    cache.mkdir()
    (cache / "shd_train.h5.zip.part").write_bytes(blob[:100])
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({"shd_train.h5.zip": blob}, honour_range=False))
    D.fetch("shd", "train", root=cache, progress=False)
    assert (cache / "shd_train.h5.zip").read_bytes() == blob


def test_complete_part_file_is_verified_after_416(served, monkeypatch):
    cache, blob, _, _ = served
    cache.mkdir()
    (cache / "shd_train.h5.zip.part").write_bytes(blob)
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({"shd_train.h5.zip": blob}))
    assert D.fetch("shd", "train", root=cache, progress=False).exists()


def test_bad_checksum_names_file_and_md5s(served, monkeypatch):
    cache, blob, _, _ = served
    bad = blob[:-1] + bytes([blob[-1] ^ 1])
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({"shd_train.h5.zip": bad}))
    expected, actual = hashlib.md5(blob).hexdigest(), hashlib.md5(bad).hexdigest()
    with pytest.raises(ValueError, match=f"shd_train.h5.zip.part: MD5 mismatch, expected {expected}, got {actual}"):
        D.fetch("shd", "train", root=cache, progress=False)
    assert not (cache / "shd_train.h5.zip.part").exists() and not (cache / "shd_train.h5").exists()
    (cache / "shd_train.h5.zip").write_bytes(bad)  # a bad archive put there by hand is refused, not deleted
    with pytest.raises(ValueError, match="delete it and run again"):
        D.fetch("shd", "train", root=cache, download=False)
    assert (cache / "shd_train.h5.zip").exists()


def test_the_official_checksums_are_used(tmp_path, monkeypatch):
    blob, _, _ = make_zip(tmp_path)  # not the official archive
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({"shd_test.h5.zip": blob}))
    with pytest.raises(ValueError, match="expected 1503a5064faa34311c398fb0a1ed0a6f"):
        D.fetch("shd", "test", root=tmp_path / "c", progress=False)


def test_falls_back_to_the_mirror(served, monkeypatch):
    cache, blob, _, _ = served
    server = FakeServer({"shd_train.h5.zip": blob}, fail=("https://zenkelab.org",))
    monkeypatch.setattr(urllib.request, "urlopen", server)
    D.fetch("shd", "train", root=cache, progress=False)
    assert [r[0] for r in server.requests] == [m + "shd_train.h5.zip" for m in D.MIRRORS]
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer({}, fail=("https://",)))
    with pytest.raises(OSError, match="from any mirror"):
        D.fetch("shd", "test", root=cache, progress=False)


def test_file_url_download_through_real_urllib(served, tmp_path):
    cache, blob, times, units = served
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "shd_train.h5.zip").write_bytes(blob)
    path = D.fetch("shd", "train", root=cache, progress=False, mirrors=[(tmp_path / "site").as_uri() + "/"])
    ds = D.read_spike_h5(path)
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, ds.n_steps))


def test_zip_without_the_h5_is_refused(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.h5", b"x")
        z.writestr("b.h5", b"y")
    monkeypatch.setitem(D.ZIP_MD5, "shd_train.h5.zip", hashlib.md5(buf.getvalue()).hexdigest())
    (tmp_path / "shd_train.h5.zip").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="should contain shd_train.h5"):
        D.fetch("shd", "train", root=tmp_path, download=False)


# ---------------------------------------------------------------------------- holdout


def test_holdout_is_stratified_disjoint_and_deterministic():
    labels = np.repeat(np.arange(4), [50, 30, 20, 11])
    tr, va = D.holdout_indices(labels, 0.2, seed=1)
    assert np.intersect1d(tr, va).size == 0 and np.union1d(tr, va).tolist() == list(range(labels.size))
    assert np.bincount(labels[va]).tolist() == [10, 6, 4, 2]
    tr2, va2 = D.holdout_indices(labels, 0.2, seed=1)
    assert np.array_equal(va, va2) and not np.array_equal(va, D.holdout_indices(labels, 0.2, seed=2)[1])
    assert D.holdout_indices(np.array([0, 0, 1]), 0.9)[1].tolist().count(2) == 0  # a lone sample stays in train
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\)"):
        D.holdout_indices(labels, 1.0)


def test_holdout_of_a_dataset_by_speaker():
    ds = D.timing_task(200, n_classes=4, seed=3)
    speaker = np.arange(200) % 10
    ds = D.SpikeDataset(ds.events, ds.labels, 4, "t", "train", {"speaker": speaker})
    train, valid = D.holdout(ds, 0.1, seed=0)
    assert (train.split, valid.split, len(train) + len(valid)) == ("train-train", "train-valid", 200)
    tr_idx, va_idx = D.holdout_indices(ds.labels, 0.1, 0)
    np.testing.assert_array_equal(valid.to_dense(), ds.to_dense()[:, va_idx])
    _, va = D.holdout_indices(ds.labels, 0.5, 0, groups=speaker)
    pairs, counts = np.unique(ds.labels * 10 + speaker, return_counts=True)
    got = dict(zip(*np.unique(ds.labels[va] * 10 + speaker[va], return_counts=True)))
    assert all(got.get(p, 0) == min(round(0.5 * c), c - 1) for p, c in zip(pairs, counts))
    train, valid = D.holdout(ds, 0.3, seed=0, by_speaker="disjoint")
    assert set(train.sample_info["speaker"]).isdisjoint(valid.sample_info["speaker"])
    assert 0.2 <= len(valid) / 200 <= 0.5
    with pytest.raises(ValueError, match="needs dataset.sample_info"):
        D.holdout(D.timing_task(20, n_classes=2), by_speaker="stratify")


# ---------------------------------------------------------------------------- batches


def test_batches_pad_to_the_longest_and_match_dense(shd_files):
    torch = pytest.importorskip("torch")
    ds = D.load_shd(root=shd_files[0], download=False)
    dense = ds.to_dense()
    seen = []
    for x, y in D.batches(ds, 5, shuffle=True, seed=4):
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (y.shape[0], 140)
        seen.append(y)
    order = np.random.default_rng(4).permutation(len(ds))
    for k, (x, y) in enumerate(D.batches(ds, 5, shuffle=True, seed=4)):
        idx = order[5 * k : 5 * k + 5]
        assert x.shape[0] == max(ds.lengths[idx].max(), 1)
        np.testing.assert_array_equal(x.numpy(), dense[: x.shape[0], idx])
        assert not dense[x.shape[0] :, idx].any()  # nothing cut off: the rest is padding
        np.testing.assert_array_equal(y.numpy(), ds.labels[idx])
    assert sum(len(y) for y in seen) == len(ds)
    xs = [x for x, _ in D.batches(ds, 5, n_steps=ds.n_steps, drop_last=True)]
    assert len(xs) == 2 and all(x.shape == (ds.n_steps, 5, 140) for x in xs)
    np.testing.assert_array_equal(torch.cat(xs, 1).numpy(), dense[:, :10])


def test_batches_shuffle_generator_and_errors(shd_files):
    pytest.importorskip("torch")
    ds = D.load_shd(root=shd_files[0], download=False)
    gen = np.random.default_rng(0)
    first = np.concatenate([y.numpy() for _, y in D.batches(ds, 4, shuffle=True, seed=gen)])
    assert sorted(first.tolist()) == sorted(ds.labels.tolist())
    with pytest.raises(ValueError, match="more than n_steps=3"):
        next(D.batches(ds, 4, n_steps=3))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        next(D.batches(ds, 0))
    with pytest.raises(TypeError, match="dataset must be a SpikeDataset"):
        next(D.batches(ds.events, 4))


# ---------------------------------------------------------------------------- the timing task


@pytest.fixture(scope="module")
def task():
    return D.timing_task(600, seed=0), D.timing_task(300, seed=1)


def group_activity(ds):
    x = ds.to_dense()
    return x.reshape(x.shape[0], x.shape[1], ds.extra["params"]["n_groups"], -1).sum(-1)  # [T, N, G]


def test_timing_task_shape_balance_and_determinism(task):
    train, test = task
    assert (train.n_channels, train.n_steps, train.dt, train.n_classes) == (140, 100, 0.01, 10)
    assert np.bincount(train.labels).tolist() == [60] * 10
    again = D.timing_task(600, seed=0)
    np.testing.assert_array_equal(again.to_dense(), train.to_dense())
    np.testing.assert_array_equal(again.labels, train.labels)
    np.testing.assert_array_equal(test.extra["offsets"], train.extra["offsets"])  # shared class patterns
    assert not np.array_equal(test.labels[:300], train.labels[:300])
    off = train.extra["offsets"]
    assert off.min() == 0 and off.max() == 15 and (off.min(1) == 0).all() and (off.max(1) == 15).all()
    assert (np.diff(np.sort(off, 1), axis=1) >= 3).all()
    dist = np.abs(off[:, None] - off[None]).max(-1)
    assert (dist[~np.eye(10, dtype=bool)] >= 3).all()


def test_timing_task_rate_only_is_at_chance_and_timing_is_perfect(task):
    from sklearn.linear_model import LogisticRegression

    train, test = task
    counts = [np.log1p(ds.to_dense().sum(0)) for ds in task]  # per-channel spike counts
    rate = LogisticRegression(C=0.1, max_iter=500).fit(counts[0], train.labels).score(counts[1], test.labels)
    assert rate < 0.2  # chance is 0.1
    # what an almost memoryless network without delays sees: which groups fire in the same step
    co = [np.einsum("tng,tnh->ngh", g, g).reshape(len(g[0]), -1) for g in map(group_activity, task)]
    coact = (
        LogisticRegression(C=0.1, max_iter=500).fit(np.log1p(co[0]), train.labels).score(np.log1p(co[1]), test.labels)
    )
    assert coact < 0.2
    # timing-aware: the peak step of every group's volley, matched to the class offsets up to a shift
    peaks = group_activity(test).argmax(0)  # [N, G]
    residual = peaks[:, None, :] - test.extra["offsets"][None]  # [N, K, G]
    err = np.abs(residual - np.median(residual, -1, keepdims=True)).max(-1)
    assert (err.argmin(1) == test.labels).mean() == 1.0
    onset_err = residual[np.arange(len(test)), test.labels].min(-1) - test.sample_info["onset"]
    assert np.abs(onset_err).max() <= 2


def test_timing_task_same_counts_per_class(task):
    from scipy.stats import f_oneway

    train, _ = task
    counts = train.to_dense().sum(0).reshape(len(train), 5, 28)  # [N, group, channel]
    expected = 5 * 0.9 + 5 * 2.0 * 1.0  # 5 units per channel: a volley spike each (p = 0.9) + 2 Hz for 1 s
    assert abs(counts.mean() - expected) < 0.05
    # one-way ANOVA across classes of each group's spike count per sample, and of the total
    per_group = counts.sum(2)
    for values in [*per_group.T, per_group.sum(1)]:
        assert f_oneway(*[values[train.labels == k] for k in range(10)]).pvalue > 1e-3


def test_timing_task_written_as_official_file_reads_back_identically(tmp_path):
    raw = D.timing_task_spikes(40, n_classes=4, seed=5)
    D.write_spike_h5(tmp_path / "timing.h5", raw["times"], raw["units"], raw["labels"])
    back = D.read_spike_h5(tmp_path / "timing.h5", n_steps=100)
    direct = D.timing_task(40, n_classes=4, seed=5)
    np.testing.assert_array_equal(back.to_dense(), direct.to_dense())
    np.testing.assert_array_equal(back.labels, direct.labels)
    assert back.extra["dropped_spikes"] == 0 and all(t.dtype == np.float16 for t in raw["times"])
    assert all(np.all(np.diff(t.astype(np.float64)) >= 0) for t in raw["times"])


def test_timing_task_parameters_and_bad_inputs():
    quiet = D.timing_task(50, n_classes=3, noise_rate=0.0, dropout=0.0, jitter=0.0, seed=2)
    assert quiet.events.value.sum() == 50 * 700  # exactly one spike per unit, no noise
    g = group_activity(quiet)  # [T, N, G]; without jitter a volley is one step (but float16 rounding of times)
    peak = g.argmax(0)
    assert (g.max(0) >= 0.95 * 140).all()
    t = np.arange(100)[:, None, None]
    assert not g[np.abs(t - peak[None]) > 1].any()
    expected = quiet.sample_info["onset"][:, None] + quiet.extra["offsets"][quiet.labels]
    np.testing.assert_array_equal(peak, expected)
    with pytest.raises(ValueError, match="do not fit in max_offset"):
        D.timing_task(10, n_groups=8, max_offset=15, min_gap=3)
    with pytest.raises(ValueError, match="n_steps=19 is too short.*need n_steps >= 20"):
        D.timing_task(10, n_steps=19)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
        D.timing_task(10, dropout=1.0)
    with pytest.raises(ValueError, match="jitter must be a finite number"):
        D.timing_task(10, jitter=-1.0)
    with pytest.raises(ValueError, match="could not draw 40 distinct patterns"):
        D.timing_patterns(40, n_groups=2, max_offset=4, min_gap=1)
    with pytest.raises(ValueError, match="n_groups=3 must divide n_units=700"):
        D.timing_task(10, n_groups=3, min_gap=2)


def test_batches_on_cuda(shd_files):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    ds = D.load_shd(root=shd_files[0], download=False)
    x, y = next(D.batches(ds, 6, device="cuda"))
    assert x.is_cuda and y.is_cuda
    np.testing.assert_array_equal(x.cpu().numpy(), ds.to_dense()[: x.shape[0], :6])


def test_importing_snn_data_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, snn.data; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
