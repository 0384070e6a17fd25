"""snn.data against careless and hostile input: time caps, labels, foreign or damaged cache files,
interrupted downloads and failing mirrors (servers simulated in-process, no network)."""

import hashlib
import http.server
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import h5py
import numpy as np
import pytest
from test_snn_data import FakeResponse, FakeServer, make_zip, reference_dense, write_raw_h5

from snn import data as D

NAME = "shd_train.h5.zip"


# ---------------------------------------------------------------------------- helpers


def spikes(n_samples, n_spikes=5, seed=0):
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.random(n_spikes) * 0.9).astype(np.float16) for _ in range(n_samples)]
    units = [rng.integers(0, 700, n_spikes).astype(np.uint16) for _ in range(n_samples)]
    return times, units


def write_vlen(path, times, units, labels, times_dtype=np.float16, units_dtype=np.uint16):
    """The SHD layout with chosen element dtypes (plain h5py)."""
    with h5py.File(path, "w") as f:
        tds = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(times_dtype))
        uds = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(units_dtype))
        for i, (t, u) in enumerate(zip(times, units)):
            tds[i] = np.asarray(t, times_dtype)
            uds[i] = np.asarray(u, units_dtype)
        f.create_dataset("labels", data=np.asarray(labels))
    return path


class Site(http.server.BaseHTTPRequestHandler):
    """A real HTTP server (in a thread) whose routes serve bytes in a given manner.

    ``routes[path] = (body, mode)``; modes: ``'ok'`` (ignores Range, like http.server), ``'range'``
    (honours Range: 206, or 416 past the end), ``'cut'`` (announces the full length, sends half
    and closes), ``'corrupt'`` (one byte flipped), ``'stall'`` (sends half, then hangs until ``release``).
    """

    routes: dict = {}
    seen: list = []
    release = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.seen.append((self.path, self.headers.get("Range")))
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, mode = self.routes[self.path]
        start = int(self.headers["Range"][6:-1]) if mode == "range" and self.headers.get("Range") else 0
        if start >= len(body) > 0 and mode == "range":
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode == "corrupt":
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.wfile.write(body[start : len(body) // 2] if mode in ("cut", "stall") else body[start:])
        if mode == "stall":
            self.wfile.flush()
            self.release.wait(60)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    Site.routes, Site.seen = {}, []
    Site.release.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Site
    Site.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def archive(tmp_path, monkeypatch):
    blob, times, units = make_zip(tmp_path)
    monkeypatch.setitem(D.ZIP_MD5, NAME, hashlib.md5(blob).hexdigest())
    return tmp_path / "cache", blob, times, units


# ---------------------------------------------------------------------------- 1. time cap


def test_a_spike_far_past_any_sample_is_refused_naming_sample_time_and_parameter(tmp_path):
    times, units = spikes(6)
    times[3] = np.array([0.1, 0.2, 60000.0], np.float16)
    units[3] = np.array([1, 2, 3], np.uint16)
    with pytest.raises(ValueError, match=r"60000 s \(sample 3, spike 2\).*max_time=5 s"):
        D.bin_spikes(times, units)
    path = D.write_spike_h5(tmp_path / "shd_train.h5", times, units, [0] * 6)
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path))}.*sample 3.*max_time"):
        D.load_shd(root=tmp_path, download=False)
    # asked for explicitly: a longer cap keeps the spike, an explicit grid drops and counts it
    ev, dropped = D.bin_spikes(times, units, max_time=70000.0)
    assert dropped == 0 and ev.n_steps == int(np.floor(60000.0 / 0.01)) + 1
    with pytest.warns(UserWarning, match="1 spikes"):
        ds = D.read_spike_h5(path, n_steps=100)
    assert ds.n_steps == 100 and ds.extra["dropped_spikes"] == 1
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, 100))


def test_the_default_cap_is_above_every_shd_ssc_sample_and_grids_stay_small():
    times, units = [np.array([0.0, 1.4, 4.99], np.float16)], [np.array([0, 1, 2], np.uint16)]
    ev, _ = D.bin_spikes(times, units)  # 1.4 s is the longest SHD/SSC sample
    assert ev.n_steps == int(np.floor(float(np.float16(4.99)) / 0.01)) + 1
    assert D.MAX_TIME / 0.01 <= 1000  # a dense SHD batch then stays below 1000 x 256 x 140 floats


def test_times_beyond_int64_steps_are_dropped_not_wrapped():
    t, u = [np.array([0.05, 1e300])], [np.array([0, 5])]
    ev, dropped = D.bin_spikes(t, u, n_steps=10)
    assert dropped == 1 and ev.time.tolist() == [5] and ev.unit.tolist() == [0]


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "5", True, 1e10])
def test_max_time_is_checked(bad):
    with pytest.raises((ValueError, TypeError), match="max_time must be"):
        D.bin_spikes([np.array([0.1])], [np.array([1])], max_time=bad)


# ---------------------------------------------------------------------------- 2. labels


def test_a_label_outside_the_classes_is_refused_naming_sample_and_label(tmp_path):
    times, units = spikes(4)
    D.write_spike_h5(tmp_path / "shd_train.h5", times, units, [0, 3, 25, 1])
    where = re.escape(str(tmp_path))
    with pytest.raises(ValueError, match=rf"{where}.*\[0, n_classes=20\), but sample 2 has label 25"):
        D.load_shd(root=tmp_path, download=False)
    ev, _ = D.bin_spikes(times, units)
    with pytest.raises(ValueError, match=r"\[0, n_classes=5\), but sample 1 has label -1"):
        D.SpikeDataset(ev, np.array([0, -1, 2, 3]), 5)
    huge = np.array([0, 1, 2, 2**63 + 5], np.uint64)  # must not wrap to a negative int64
    with pytest.raises(ValueError, match=f"sample 3 has label {2**63 + 5}"):
        D.SpikeDataset(ev, huge, 5)


# ---------------------------------------------------------------------------- 3. foreign files in the cache


def test_integer_times_are_not_taken_for_seconds(tmp_path):
    times, units = spikes(3)
    micro = [np.round(t.astype(np.float64) * 1e6).astype(np.uint32) for t in times]  # e.g. microseconds
    write_vlen(tmp_path / "shd_train.h5", micro, units, [0, 1, 2], times_dtype=np.uint32)
    with pytest.raises(ValueError, match=r"shd_train.h5.*spikes/times.*float.*uint32.*delete it"):
        D.load_shd(root=tmp_path, download=False)


def test_fixed_size_arrays_are_not_the_shd_layout(tmp_path):
    with h5py.File(tmp_path / "shd_train.h5", "w") as f:
        f["spikes/times"] = np.zeros(3, np.float32)
        f["spikes/units"] = np.zeros(3, np.uint16)
        f["labels"] = np.zeros(3, np.uint8)
    with pytest.raises(ValueError, match=r"shd_train.h5.*spikes/times.*variable-length.*delete it"):
        D.load_shd(root=tmp_path, download=False)


@pytest.mark.parametrize("problem", ["unit", "length", "negative"])
def test_bad_content_names_the_file_the_sample_and_the_advice(tmp_path, problem):
    times, units = spikes(5)
    if problem == "unit":
        units[4] = np.array([1, 2, 700, 3, 4], np.uint16)
        expected = r"units must lie in \[0, 700\), got 700 \(sample 4, spike 2\)"
    elif problem == "length":
        units[2] = units[2][:-1]
        expected = r"times\[2\] and units\[2\] must have the same length"
    else:
        times[1] = np.array([0.1, -0.5, 0.2, 0.3, 0.4], np.float16)
        expected = r"must be >= 0 seconds, got -0.5 \(sample 1, spike 1\)"
    write_vlen(tmp_path / "shd_train.h5", times, units, [0] * 5)
    with pytest.raises(ValueError, match=rf"{re.escape(str(tmp_path))}/shd_train.h5.*{expected}.*delete it"):
        D.load_shd(root=tmp_path, download=False)


# ---------------------------------------------------------------------------- 6. loader messages


def test_a_nan_is_reported_at_its_global_sample_and_spike(tmp_path):
    times, units = spikes(600, n_spikes=10)
    times[555] = times[555].copy()
    times[555][7] = np.nan
    with pytest.raises(ValueError, match=r"sample 555, spike 7"):
        D.bin_spikes(times, units)
    write_raw_h5(tmp_path / "shd_train.h5", times, units, [0] * 600, [0] * 600)
    with pytest.raises(ValueError, match=r"shd_train.h5.*must be finite, got nan \(sample 555, spike 7\).*delete it"):
        D.load_shd(root=tmp_path, download=False)


@pytest.mark.parametrize("keep", [0, 0.5, 0.9])
def test_a_truncated_or_empty_cache_file_names_itself_and_says_to_delete_it(tmp_path, keep):
    times, units = spikes(50, n_spikes=40)
    whole = D.write_spike_h5(tmp_path / "whole.h5", times, units, [1] * 50).read_bytes()
    (tmp_path / "shd_train.h5").write_bytes(whole[: int(keep * len(whole))])
    with pytest.raises(OSError, match=rf"{re.escape(str(tmp_path))}/shd_train.h5.*truncated.*delete it"):
        D.load_shd(root=tmp_path, download=False)
    with pytest.raises(FileNotFoundError):
        D.read_spike_h5(tmp_path / "missing.h5")


# ---------------------------------------------------------------------------- 4. interrupted downloads


def test_zero_byte_part_left_by_a_kill_starts_over(archive, site):
    cache, blob, times, units = archive
    base, handler = site
    handler.routes["/d/" + NAME] = (blob, "range")
    cache.mkdir()
    (cache / (NAME + ".part")).write_bytes(b"")
    ds = D.read_spike_h5(D.fetch("shd", "train", root=cache, progress=False, mirrors=[base + "/d/"]))
    assert handler.seen == [("/d/" + NAME, None)] and (cache / NAME).read_bytes() == blob
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, ds.n_steps))


def test_resume_after_the_downloading_process_is_killed(archive, site):
    cache, blob, times, units = archive
    base, handler = site
    handler.routes["/stall/" + NAME] = (blob, "stall")
    handler.routes["/d/" + NAME] = (blob, "range")
    code = (
        f"import snn.data as D; D.ZIP_MD5[{NAME!r}] = {D.ZIP_MD5[NAME]!r}; "
        f"D.fetch('shd', 'train', root={str(cache)!r}, progress=False, mirrors=[{base + '/stall/'!r}])"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    part, deadline = cache / (NAME + ".part"), time.monotonic() + 120
    while not (part.exists() and handler.seen):  # the child has the answer and has opened its .part
        assert proc.poll() is None and time.monotonic() < deadline, "the download did not start"
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    assert part.stat().st_size == 0  # half the body was received, nothing written yet: a 0-byte .part
    ds = D.read_spike_h5(D.fetch("shd", "train", root=cache, progress=False, mirrors=[base + "/d/"]))
    assert handler.seen[-1] == ("/d/" + NAME, None) and (cache / NAME).read_bytes() == blob
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, ds.n_steps))


def test_a_real_server_ignoring_range_restarts_instead_of_appending(archive, site):
    cache, blob, _, _ = archive
    base, handler = site
    handler.routes["/d/" + NAME] = (blob, "ok")
    cache.mkdir()
    (cache / (NAME + ".part")).write_bytes(blob[:100])
    D.fetch("shd", "train", root=cache, progress=False, mirrors=[base + "/d/"])
    assert handler.seen == [("/d/" + NAME, "bytes=100-")] and (cache / NAME).read_bytes() == blob


@pytest.mark.parametrize("stale", ["longer", "same size, wrong bytes", "wrong prefix"])
def test_a_stale_part_is_replaced_by_a_fresh_download(archive, site, stale):
    cache, blob, _, _ = archive
    base, handler = site
    handler.routes["/d/" + NAME] = (blob, "range")
    cache.mkdir()
    part = {
        "longer": blob + b"garbage",
        "same size, wrong bytes": bytes(len(blob)),
        "wrong prefix": bytes(len(blob) // 2),
    }[stale]
    (cache / (NAME + ".part")).write_bytes(part)
    D.fetch("shd", "train", root=cache, progress=False, mirrors=[base + "/d/"])
    assert (cache / NAME).read_bytes() == blob and not (cache / (NAME + ".part")).exists()
    assert handler.seen == [("/d/" + NAME, f"bytes={len(part)}-"), ("/d/" + NAME, None)]


# ---------------------------------------------------------------------------- 5. mirrors


@pytest.mark.parametrize("failure", ["cut", "corrupt", "missing"])
def test_the_next_mirror_is_tried_when_one_fails(archive, site, failure):
    cache, blob, times, units = archive
    base, handler = site
    handler.routes["/good/" + NAME] = (blob, "range")
    if failure != "missing":
        handler.routes["/bad/" + NAME] = (blob, failure)
    path = D.fetch("shd", "train", root=cache, progress=False, mirrors=[base + "/bad/", base + "/good/"])
    assert (cache / NAME).read_bytes() == blob
    ds = D.read_spike_h5(path)
    np.testing.assert_array_equal(ds.to_dense(), reference_dense(times, units, 0.01, 5, ds.n_steps))
    assert [p for p, _ in handler.seen] == ["/bad/" + NAME, "/good/" + NAME]
    # a cut stream leaves its half, which the second mirror continues (Range) instead of restarting
    assert handler.seen[1][1] == (f"bytes={len(blob) // 2}-" if failure == "cut" else None)


def test_a_connection_dropped_mid_stream_falls_through_to_the_next_mirror(archive, monkeypatch):
    cache, blob, _, _ = archive

    class Dropping(FakeResponse):
        def read(self, n=-1):
            raise ConnectionResetError("connection reset by peer")

    good = FakeServer({NAME: blob})

    def urlopen(request, timeout=None):
        if request.full_url.startswith(D.MIRRORS[0]):
            return Dropping(b"", len(blob), 200)
        return good(request, timeout)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    D.fetch("shd", "train", root=cache, progress=False)
    assert (cache / NAME).read_bytes() == blob and good.requests == [(D.MIRRORS[1] + NAME, None)]


def test_when_every_mirror_fails_one_error_lists_each(archive, site):
    cache, blob, _, _ = archive
    base, handler = site
    handler.routes["/a/" + NAME] = (blob, "cut")
    handler.routes["/b/" + NAME] = (blob, "corrupt")
    mirrors = [base + "/a/", base + "/b/", base + "/c/"]
    with pytest.raises(OSError) as info:
        D.fetch("shd", "train", root=cache, progress=False, mirrors=mirrors)
    lines = str(info.value).splitlines()
    assert lines[0] == f"could not download {NAME} from any mirror:"
    assert lines[1].startswith(f"  {base}/a/{NAME}: ") and "stopped at" in lines[1]
    assert lines[2].startswith(f"  {base}/b/{NAME}: ") and "MD5 mismatch" in lines[2]
    assert lines[3].startswith(f"  {base}/c/{NAME}: ") and "404" in lines[3] and len(lines) == 4
    with pytest.raises(ValueError, match="mirrors must name at least one"):
        D.fetch("shd", "train", root=cache, progress=False, mirrors=[])


def test_every_mirror_serving_a_corrupt_file_is_a_checksum_error(archive, site):
    cache, blob, _, _ = archive
    base, handler = site
    for m in "ab":
        handler.routes[f"/{m}/{NAME}"] = (blob, "corrupt")
    with pytest.raises(ValueError, match=r"(?s)from any mirror.*/a/.*MD5 mismatch.*/b/.*MD5 mismatch"):
        D.fetch("shd", "train", root=cache, progress=False, mirrors=[base + "/a/", base + "/b/"])
    assert not (cache / (NAME + ".part")).exists() and not (cache / NAME).exists()


def test_http_errors_other_than_416_are_not_taken_for_a_complete_file(archive, monkeypatch):
    cache, blob, _, _ = archive
    cache.mkdir()
    (cache / (NAME + ".part")).write_bytes(blob[:10])

    def urlopen(request, timeout=None):
        raise urllib.error.HTTPError(request.full_url, 503, "Service Unavailable", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    with pytest.raises(OSError, match="503"):
        D.fetch("shd", "train", root=cache, progress=False)
    assert (cache / (NAME + ".part")).read_bytes() == blob[:10]  # kept for a later resume
