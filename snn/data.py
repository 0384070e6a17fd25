"""Spiking audio data for delay-learning SNNs: SHD, SSC and a synthetic timing task.

The Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) (Cramer et al.
2020, "The Heidelberg spiking data sets for the systematic evaluation of spiking neural
networks") are HDF5 files of spike trains from a 700-channel cochlea model. This module

- downloads them (``urllib`` only) from the official site with the published MD5s,
  resuming a partial download, and caches them under ``$SDRNET_DATA`` or
  ``~/.cache/sdrnet/`` (:func:`fetch`);
- reads the official layout and bins it to ``dt`` (10 ms) with the 700 channels
  sum-pooled by ``pool`` (5 -> 140), as in Hammouamri et al. 2023 ("Learning Delays in
  SNNs using DCLS", recipe in their ``datasets.py``) (:func:`read_spike_h5`,
  :func:`load_shd`, :func:`load_ssc`): on a fixed grid by default, or
  (``binning='dcls'``) into their exact frames, which start at the next unused spike;
- reads them through tonic's data set classes instead (``reader='tonic'``,
  :func:`read_tonic`), on the same grid;
- splits a validation set off a training set (:func:`holdout`), yields padded
  time-major torch batches ``[T, B, C]`` (:func:`batches`);
- generates a synthetic task in the same layout whose classes differ only in the
  relative timing of spike volleys (:func:`timing_task`), and writes any of these in
  the official layout (:func:`write_spike_h5`).

Importing this module loads numpy and ``sdrnet.core`` only; h5py, tqdm, tonic and torch are
imported inside the functions that use them (torch only in :func:`batches`).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from sdrnet.core import Events
from sdrnet.core.validation import as_array, check_int
from sdrnet.optional import require

__all__ = [
    "SpikeDataset",
    "load_shd",
    "load_ssc",
    "read_spike_h5",
    "read_tonic",
    "write_spike_h5",
    "bin_spikes",
    "BINNINGS",
    "READERS",
    "holdout",
    "holdout_indices",
    "batches",
    "timing_task",
    "timing_task_spikes",
    "timing_patterns",
    "fetch",
    "download_file",
    "md5sum",
    "data_root",
    "SpikeDataError",
    "MIRRORS",
    "ZIP_MD5",
    "SPLITS",
    "N_CLASSES",
    "N_UNITS",
    "MAX_TIME",
]

MIRRORS = ("https://zenkelab.org/datasets/", "https://compneuro.net/datasets/")
# Verified: identical in tonic (tonic/datasets/hsd.py) and SpikingJelly (whose 2.0.0
# SpikingSpeechCommands wrongly lists the SHD archives). The .h5.gz files are not used: their
# published MD5s (md5sums.txt on the site) disagree between third-party copies.
ZIP_MD5 = {
    "shd_train.h5.zip": "f3252aeb598ac776c1b526422d90eecb",
    "shd_test.h5.zip": "1503a5064faa34311c398fb0a1ed0a6f",
    "ssc_train.h5.zip": "d102be95e7144fcc0553d1f45ba94170",
    "ssc_valid.h5.zip": "b4eee3516a4a90dd0c71a6ac23a8ae43",
    "ssc_test.h5.zip": "a35ff1e9cffdd02a20eb850c17c37748",
}
SPLITS = {"shd": ("train", "test"), "ssc": ("train", "valid", "test")}
N_CLASSES = {"shd": 20, "ssc": 35}
N_UNITS = 700
# Default cap on spike times (seconds) when the grid follows the data: SHD/SSC samples last at most
# about 1.4 s, so 5 s keeps every official sample while one corrupt time (say 60,000 s) cannot
# stretch every dense sample to millions of steps. At dt = 10 ms a dense sample is <= 500 steps.
MAX_TIME = 5.0
_MAX_STEPS = 2**31 - 1  # steps are stored as int32 (sdrnet.core.Events)
_CHUNK = 512  # samples binned at a time (bounds memory on SSC)
_DENSE_KEYS = 1 << 24  # largest (sample, step, channel) space counted with a bincount


class SpikeDataError(ValueError):
    """Spike data that is not valid SHD/SSC data: wrong layout or dtype, times that are not finite
    seconds >= 0, units out of range, times and units of different lengths, labels outside the classes.

    Raised for a file, the message names it, what is wrong, and says to delete it and fetch it again.
    """


# ---------------------------------------------------------------------------- dataset type
@dataclass(frozen=True, eq=False)
class SpikeDataset:
    """Binned spike trains with labels.

    Attributes
    ----------
    events : Events
        One sample per example; ``time`` is the step, ``unit`` the (pooled) channel and
        ``value`` the spike count in that step and channel.
    labels : int64 [N]
        Class of each sample, ``0 <= label < n_classes``.
    n_classes : int
    name, split : str
        E.g. ``'shd'``, ``'train'``.
    sample_info : dict of str -> array [N]
        Per-sample side information that follows the samples when subsetting
        (``'speaker'`` for SHD/SSC; ``'onset'`` for the timing task).
    extra : dict
        File-level information (``'keys'`` class names, ``'meta_info'``, ``'dropped_spikes'``,
        the timing task's ``'offsets'``...), carried unchanged by subsets.
    """

    events: Events
    labels: np.ndarray
    n_classes: int
    name: str = ""
    split: str = ""
    sample_info: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.events, Events):
            raise TypeError(f"events must be sdrnet.core.Events, got {type(self.events).__name__}")
        labels = as_array("labels", self.labels, kind="i", ndim=1)
        n = self.events.n_samples
        if labels.shape[0] != n:
            raise ValueError(f"labels must have one entry per sample ({n}), got {labels.shape[0]}")
        n_classes = check_int("n_classes", self.n_classes, 1)
        labels = _check_labels(labels, n_classes)
        info = {}
        for key, value in dict(self.sample_info).items():
            value = np.asarray(value)
            if value.ndim < 1 or value.shape[0] != n:
                raise ValueError(f"sample_info[{key!r}] must have one entry per sample ({n}), got shape {value.shape}")
            info[key] = value
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "n_classes", n_classes)
        object.__setattr__(self, "sample_info", info)

    def __len__(self) -> int:
        return self.events.n_samples

    def __getitem__(self, index) -> SpikeDataset:
        """The samples selected by an int, a slice, an integer array or a boolean mask (always a dataset)."""
        return self.subset(index)

    def subset(self, index) -> SpikeDataset:
        """A dataset of the selected samples (int, slice, integer array or boolean mask [N])."""
        idx = np.atleast_1d(np.arange(len(self))[index])
        return SpikeDataset(
            _take(self.events, idx),
            self.labels[idx],
            self.n_classes,
            self.name,
            self.split,
            {k: v[idx] for k, v in self.sample_info.items()},
            dict(self.extra),
        )

    @property
    def n_channels(self) -> int:
        return self.events.n_units

    @property
    def n_steps(self) -> int:
        """Length of the common time grid (the longest sample, or the ``n_steps`` asked for)."""
        return self.events.n_steps

    @property
    def dt(self) -> float | None:
        return self.events.dt

    @property
    def lengths(self) -> np.ndarray:
        """Steps per sample, int64 [N]: its last occupied step + 1 (0 for a sample with no spikes)."""
        return _lengths(self.events, np.arange(len(self)))

    def to_dense(self) -> np.ndarray:
        """Counts as a dense float32 array ``[T, N, C]`` on the common grid."""
        return self.events.to_dense()

    def __repr__(self) -> str:
        return (
            f"SpikeDataset(name={self.name!r}, split={self.split!r}, n_samples={len(self)}, "
            f"n_classes={self.n_classes}, n_channels={self.n_channels}, n_steps={self.n_steps}, dt={self.dt})"
        )


def _check_labels(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer ``labels`` as int64, refusing (before the cast, which could wrap) any outside ``[0, n_classes)``."""
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise SpikeDataError(
            f"labels must lie in [0, n_classes={n_classes}), but sample {bad[0]} has label "
            f"{labels[bad[0]]} ({bad.size} samples out of range)"
        )
    return labels.astype(np.int64)


def _take(events: Events, idx: np.ndarray) -> Events:
    """Vectorised sample selection from CSR events (no loop over samples)."""
    sel, ptr = _event_index(events.sample_ptr, idx)
    return Events(
        events.time[sel],
        events.unit[sel],
        events.value[sel],
        ptr,
        n_steps=events.n_steps,
        n_units=events.n_units,
        dt=events.dt,
    )


def _event_index(sample_ptr: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Event positions of samples ``idx`` (in that order) and the CSR pointer of the selection."""
    starts, counts = sample_ptr[idx], sample_ptr[idx + 1] - sample_ptr[idx]
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    sel = np.arange(ptr[-1], dtype=np.int64) + np.repeat(starts - ptr[:-1], counts)
    return sel, ptr


def _lengths(events: Events, idx: np.ndarray) -> np.ndarray:
    """Last occupied step + 1 of samples ``idx`` (events are sorted by time within a sample)."""
    stop = events.sample_ptr[idx + 1]
    nonempty = stop > events.sample_ptr[idx]
    out = np.zeros(idx.shape[0], np.int64)
    out[nonempty] = events.time[stop[nonempty] - 1].astype(np.int64) + 1
    return out


# ---------------------------------------------------------------------------- binning
def bin_spikes(
    times_list,
    units_list,
    dt: float = 0.01,
    pool: int = 5,
    n_units: int = N_UNITS,
    n_steps: int | None = None,
    origin: str = "zero",
    max_time: float = MAX_TIME,
    *,
    binning: str = "grid",
) -> tuple[Events, int]:
    """Bin per-sample spike trains into steps of ``dt`` seconds and sum-pool the channels.

    ``binning='grid'`` (the default): a spike at ``t`` seconds of unit ``u`` adds 1 to step
    ``floor((t - t0) / dt)`` (computed in float64 from the stored float16 time) of channel
    ``u // pool``. ``t0`` is 0 (``origin='zero'``, the default) or the sample's first spike
    (``origin='first_spike'``, SpikingJelly 2.0.0's ``duration`` frames).

    ``binning='dcls'``: the frames of the DCLS-delay results (Hammouamri et al. 2023), made by
    SpikingJelly's SHD/SSC fixed-duration integration as it was until commit 01823bed (2024-03-30,
    issue #507): in milliseconds ``m = 1000 * t`` computed in the times' own dtype (float16 for the
    official files), a frame starts at the first spike not yet used, ``m_l``, and takes every
    following spike with ``m - m_l <= 1000 * dt`` (that difference rounded to the dtype too); the
    next frame starts at the next spike. So a frame spans up to ``dt`` *from its first spike*, both
    ends included, and silent stretches make no empty frames: step ``k`` is the ``k``-th frame, not
    the time ``k * dt``, and a sample has as many steps as frames. Counts and pooling as for the
    grid, so ``to_dense()`` gives, per sample, their frames summed over ``pool`` channels bit for bit
    (a silent sample gets no frame; SpikingJelly fails on one). It needs each sample's times sorted
    (as in the official files) and ``origin='zero'`` (its frames start at the first spike anyway).

    ``n_steps=None`` extends the grid to the last occupied step of the longest sample, so no
    spike is lost, up to ``max_time`` seconds after ``t0`` (default :data:`MAX_TIME` = 5 s;
    SHD/SSC samples last at most about 1.4 s): a later spike raises a ``ValueError`` naming its
    sample, its index in the sample and its time, before anything is allocated, since every
    dense sample ``[T, C]`` spans the whole grid. Pass a larger ``max_time`` for longer
    recordings. With an explicit ``n_steps``, spikes at or after ``n_steps * dt`` are dropped
    and counted (the second return value) and ``max_time`` is not used.

    Times must be finite and ``>= 0``, units in ``[0, n_units)``; a :class:`SpikeDataError`
    names the first offending sample and spike (indices count from the first sample given).

    Current SpikingJelly bins on a fixed grid from the first spike (``origin='first_spike'``), but
    computes ``1000 * t`` in float16 milliseconds and puts a spike lying exactly on the last
    frame's end into that frame; ``binning='grid'`` does neither.

    Returns ``(events, n_dropped)``; ``events.value`` holds the counts.
    """
    grid = _grid(dt, pool, n_units, n_steps, origin, max_time, binning)
    times_list, units_list = list(times_list), list(units_list)
    if len(times_list) != len(units_list):
        raise ValueError(
            f"times_list and units_list must hold the same number of samples, "
            f"got {len(times_list)} and {len(units_list)}"
        )
    return _bin_chunks(_chunked(times_list, units_list), grid)


@dataclass(frozen=True)
class _Grid:
    """Checked binning parameters (see :func:`bin_spikes`)."""

    dt: float
    pool: int
    n_units: int
    n_steps: int | None
    origin: str
    max_time: float
    binning: str = "grid"


BINNINGS = ("grid", "dcls")


def _grid(dt, pool, n_units, n_steps, origin, max_time, binning="grid") -> _Grid:
    dt, pool, n_units = _check_grid(dt, pool, n_units)
    if n_steps is not None and check_int("n_steps", n_steps, 1) >= _MAX_STEPS:
        raise ValueError(f"n_steps must be < 2**31 - 1 (steps are int32), got {n_steps}")
    if origin not in ("zero", "first_spike"):
        raise ValueError(f"origin must be 'zero' or 'first_spike', got {origin!r}")
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")
    if binning == "dcls" and origin != "zero":
        raise ValueError("origin applies to binning='grid'; binning='dcls' frames start at each sample's first spike")
    if isinstance(max_time, bool) or not isinstance(max_time, (int, float, np.floating, np.integer)):
        raise TypeError(f"max_time must be a number of seconds, got {type(max_time).__name__}")
    if not (np.isfinite(max_time) and 0 < max_time and max_time / dt < _MAX_STEPS):
        raise ValueError(
            f"max_time must be a positive finite number of seconds with max_time / dt < 2**31 "
            f"(int32 steps), got max_time={max_time!r} with dt={dt:g}"
        )
    return _Grid(dt, pool, n_units, n_steps, origin, float(max_time), binning)


def _check_grid(dt, pool, n_units) -> tuple[float, int, int]:
    if (
        isinstance(dt, bool)
        or not isinstance(dt, (int, float, np.floating, np.integer))
        or not (np.isfinite(dt) and dt > 0)
    ):
        raise ValueError(f"dt must be a positive finite number of seconds, got {dt!r}")
    pool, n_units = check_int("pool", pool, 1), check_int("n_units", n_units, 1)
    if n_units % pool:
        divisors = [d for d in range(1, min(n_units, 20) + 1) if n_units % d == 0]
        raise ValueError(
            f"pool must divide n_units={n_units} so that every channel sums the same number of "
            f"units (e.g. {divisors}), got {pool}"
        )
    return float(dt), pool, n_units


def _steps_and_channels(first: int, times_list, units_list, grid: _Grid):
    """Flat step and channel of every spike of samples ``first, first + 1, ...`` (checked) and their spike counts."""
    t_given, u, lengths = _flat_spikes(first, times_list, units_list)
    t = t_given.astype(np.float64)
    _check_spikes(first, t, u, lengths, grid.n_units)
    if grid.binning == "dcls":
        step = _dcls_frames(first, t_given, lengths, grid.dt).astype(np.float64)
    else:
        if grid.origin == "first_spike" and t.size:
            t = t - np.repeat(_segment_min(t, lengths), lengths)
        step = np.floor(t / grid.dt)
    if grid.n_steps is None:
        _check_late(first, t, lengths, grid)
    else:
        step = np.minimum(step, grid.n_steps)  # dropped later; the clip keeps the int64 cast exact
    return step.astype(np.int64), u.astype(np.int64) // grid.pool, lengths


def _flat_spikes(first: int, times_list, units_list):
    """Concatenated times (in their dtype) and units of consecutive samples, and each sample's spike count."""
    lengths = np.zeros(len(times_list), np.int64)
    t_parts, u_parts = [], []
    for i, (t, u) in enumerate(zip(times_list, units_list), first):
        t = as_array(f"times[{i}]", t, kind="b", ndim=1)  # a number; _check_spikes refuses non-finite ones by name
        u = as_array(f"units[{i}]", u, kind="i", ndim=1)
        if t.shape != u.shape:
            raise SpikeDataError(
                f"times[{i}] and units[{i}] must have the same length, got {t.shape[0]} and {u.shape[0]}"
            )
        lengths[i - first] = t.shape[0]
        t_parts.append(t)
        u_parts.append(u)
    t = np.concatenate(t_parts) if t_parts else np.zeros(0)
    u = np.concatenate(u_parts) if u_parts else np.zeros(0, np.int64)
    return t, u, lengths


def _dcls_frames(first: int, t, lengths, dt: float) -> np.ndarray:
    """Frame of every spike under SpikingJelly's fixed-duration SHD integration before 2024-03-30.

    Its loop (``integrate_events_by_fixed_duration_shd``)::

        t = 1000 * events['t']; left = right = 0
        while True:
            t_l = t[left]
            while right < N and not t[right] - t_l > duration: right += 1
            frames.append(count(x[left:right])); left = right
            if right == N: break

    Here every sample's next frame start is found by one vectorised bisection over the sorted
    times, with the same arithmetic (the times' dtype), for all samples of the chunk at once.
    """
    ms = 1000 * t  # float16 stays float16, as in SpikingJelly
    duration = ms.dtype.type(1000 * dt) if ms.dtype.kind == "f" else 1000 * dt
    if not (np.isfinite(duration) and duration > 0):
        raise ValueError(f"binning='dcls' needs 1000 * dt = {1000 * dt:g} ms to be a positive finite {ms.dtype}")
    if not ms.size:
        return np.zeros(0, np.int64)
    _check_sorted(first, t, lengths)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    is_start = np.zeros(ms.shape[0], bool)
    cur, end = starts[lengths > 0], ends[lengths > 0]
    while cur.size:
        is_start[cur] = True
        nxt = _next_frame(ms, cur, end, duration)
        keep = nxt < end
        cur, end = nxt[keep], end[keep]
    count = np.cumsum(is_start)
    return count - np.repeat(count[np.minimum(starts, ms.shape[0] - 1)], lengths)


def _next_frame(ms, lo, hi, duration) -> np.ndarray:
    """For each frame start ``lo`` (sample ending at ``hi``): the first ``j`` with ``ms[j] - ms[lo] > duration``
    (in the dtype of ``ms``), else ``hi``; a bisection, since that difference grows with ``j`` in sorted times."""
    t_l = ms[lo]
    while True:
        open_ = hi - lo > 1  # invariant: the test fails at lo and holds at hi (or hi is the end)
        if not open_.any():
            return hi
        mid = (lo + hi) // 2
        over = (ms[mid] - t_l) > duration
        hi = np.where(open_ & over, mid, hi)
        lo = np.where(open_ & ~over, mid, lo)


def _check_sorted(first: int, t, lengths) -> None:
    """Refuse a sample whose times decrease (``binning='dcls'`` scans them in order)."""
    same = np.repeat(np.arange(lengths.shape[0]), lengths)
    bad = (t[1:] < t[:-1]) & (same[1:] == same[:-1])
    if bad.any():
        p = int(np.argmax(bad)) + 1
        raise SpikeDataError(
            f"binning='dcls' needs each sample's spike times sorted, as in the official files, but "
            f"{_where(first, p, lengths)} at {t[p]} s comes after {t[p - 1]} s"
        )


def _check_spikes(first: int, t, u, lengths, n_units: int) -> None:
    """Refuse non-finite or negative times and units outside ``[0, n_units)``, naming the first offender."""
    checks = (
        (~np.isfinite(t), t, "spike times must be finite"),
        (t < 0, t, "spike times must be >= 0 seconds"),
        ((u < 0) | (u >= n_units), u, f"spike units must lie in [0, {n_units})"),
    )
    for bad, values, rule in checks:
        if bad.any():
            p = int(np.argmax(bad))
            raise SpikeDataError(f"{rule}, got {values[p]} ({_where(first, p, lengths)})")


def _check_late(first: int, t, lengths, grid: _Grid) -> None:
    """Refuse a spike past ``grid.max_time`` (the grid would stretch every dense sample to reach it)."""
    late = t > grid.max_time
    if late.any():
        p = int(np.argmax(late))
        after = " after its sample's first spike" if grid.origin == "first_spike" else ""
        raise ValueError(
            f"a spike at {t[p]:g} s{after} ({_where(first, p, lengths)}) lies past max_time={grid.max_time:g} s "
            f"(SHD/SSC samples last at most about 1.4 s): on the grid of dt={grid.dt:g} s every dense sample would "
            f"span {t[p] / grid.dt:.3g} steps. Pass a larger max_time if the recordings are that long, or an "
            "explicit n_steps to drop (and count) the spikes at or after n_steps * dt"
        )


def _where(first: int, p: int, lengths) -> str:
    """``'sample s, spike j'`` of position ``p`` in the flat spikes of samples ``first, first + 1, ...``."""
    ends = np.cumsum(lengths)
    s = int(np.searchsorted(ends, p, side="right"))
    return f"sample {first + s}, spike {p - int(ends[s] - lengths[s])}"


def _segment_min(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Minimum of each non-empty segment of ``x`` (``lengths`` entries per segment); 0 for empty ones."""
    out = np.zeros(lengths.shape[0])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    nz = lengths > 0
    out[nz] = np.minimum.reduceat(x, starts[nz])
    return out


def _count_chunk(step, chan, lengths, n_channels):
    """Spike counts per (sample, step, channel) of one chunk: four int64 arrays sorted by that key."""
    sample = np.repeat(np.arange(lengths.shape[0]), lengths)
    n_t = int(step.max()) + 1 if step.size else 1
    key = (sample * n_t + step) * n_channels + chan
    size = lengths.shape[0] * n_t * n_channels
    if size <= _DENSE_KEYS:  # a bincount over the key space is faster than sorting
        counts = np.bincount(key, minlength=size)
        uniq = np.flatnonzero(counts)
        counts = counts[uniq]
    else:
        uniq, counts = np.unique(key, return_counts=True)
    s, rest = np.divmod(uniq, n_t * n_channels)
    t, c = np.divmod(rest, n_channels)
    return s, t, c, counts


def _bin_chunks(chunks, grid: _Grid) -> tuple[Events, int]:
    """Bin ``(first, times_list, units_list)`` chunks of consecutive samples into one `Events` (counts).

    ``grid.n_steps=None``: the grid ends at the last occupied step; else later steps are dropped
    and their spikes counted (the second return value).
    """
    parts, n_samples = [], 0
    n_channels = grid.n_units // grid.pool
    for first, times_list, units_list in chunks:
        step, chan, lengths = _steps_and_channels(first, times_list, units_list, grid)
        s, t, c, counts = _count_chunk(step, chan, lengths, n_channels)
        parts.append(
            ((s + n_samples).astype(np.int32), t.astype(np.int32), c.astype(np.int32), counts.astype(np.float32))
        )
        n_samples += lengths.shape[0]
    s, t, c, counts = (np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64) for k in range(4))
    n_dropped, n_steps = 0, grid.n_steps
    if n_steps is None:
        n_steps = int(t.max()) + 1 if t.size else 1
    else:
        keep = t < n_steps
        n_dropped = int(counts[~keep].sum(dtype=np.float64))
        s, t, c, counts = s[keep], t[keep], c[keep], counts[keep]
    ptr = np.searchsorted(s, np.arange(n_samples + 1))
    events = Events(t, c, counts, ptr, n_steps=n_steps, n_units=n_channels, dt=grid.dt)
    return events, n_dropped


def _chunked(times, units, size=None):
    """``(first, times[first:b], units[first:b])`` over consecutive chunks (lists or h5py datasets)."""
    size = size or _CHUNK
    for a in range(0, len(times), size):
        yield a, times[a : a + size], units[a : a + size]


# ---------------------------------------------------------------------------- HDF5 files
def read_spike_h5(
    path,
    dt: float = 0.01,
    pool: int = 5,
    n_classes: int | None = None,
    *,
    n_steps: int | None = None,
    origin: str = "zero",
    n_units: int = N_UNITS,
    name: str = "",
    split: str = "",
    max_time: float = MAX_TIME,
    binning: str = "grid",
) -> SpikeDataset:
    """Read an SHD/SSC-layout HDF5 file, check it and bin it (see :func:`bin_spikes`; ``binning='dcls'``
    gives the DCLS-delay authors' frames).

    Layout (Cramer et al. 2020; zenkelab.org/datasets): ``spikes/times`` (variable-length
    float16 seconds per sample), ``spikes/units`` (variable-length ints in ``[0, 700)``),
    ``labels`` [N]; optional ``extra/speaker`` [N], ``extra/keys`` (class names) and
    ``extra/meta_info/{gender, age, body_height}`` (per speaker).

    The layout is checked before binning: the three datasets exist, times are variable-length
    floats and units variable-length integers (one array per sample, as many as labels), labels
    are integers in ``[0, n_classes)``; then every sample's times and units have equal lengths,
    times are finite and ``>= 0``, units lie in ``[0, n_units)``. A file that fails raises
    :class:`SpikeDataError` (a file that cannot be read as HDF5, e.g. a truncated download,
    ``OSError``) naming the file, the problem (sample and spike where it applies) and saying to
    delete it and fetch it again.

    ``n_classes=None`` takes ``max(labels) + 1`` (pass it: a split may miss a class). With
    ``n_steps=None`` the grid follows the longest sample up to ``max_time`` seconds (default
    :data:`MAX_TIME`; a later spike raises a ``ValueError`` naming the file, sample and time).
    With an explicit ``n_steps``, spikes past the grid are dropped; their number is in
    ``extra['dropped_spikes']`` and a warning is issued.
    """
    grid = _grid(dt, pool, n_units, n_steps, origin, max_time, binning)
    if n_classes is not None:
        n_classes = check_int("n_classes", n_classes, 1)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (an HDF5 file in the SHD/SSC layout)")
    try:
        events, n_dropped, labels, n_classes, info, extra = _read_h5(path, grid, n_classes)
    except SpikeDataError as exc:
        raise SpikeDataError(f"{path} is not a valid SHD/SSC file: {exc}. {_REFETCH}") from None
    except OSError as exc:
        raise OSError(
            f"{path} cannot be read as HDF5 ({exc}): the file is truncated (an interrupted copy or "
            f"download) or is not an HDF5 file. {_REFETCH}"
        ) from exc
    except ValueError as exc:  # a spike past max_time
        raise ValueError(f"{path}: {exc}") from None
    extra["dropped_spikes"] = n_dropped
    if n_dropped:
        warnings.warn(f"{path}: {n_dropped} spikes in steps >= n_steps = {n_steps} were dropped", stacklevel=2)
    return SpikeDataset(events, labels, n_classes, name or path.stem, split, info, extra)


_REFETCH = (
    "If it is a cached download, delete it and run again: snn.data.fetch (and so load_shd/load_ssc) "
    "extracts it anew from the verified archive, or downloads it"
)


def _read_h5(path: Path, grid: _Grid, n_classes: int | None):
    """Binned events, dropped spike count, labels, class count and extras of a file (layout checked)."""
    import h5py

    with h5py.File(path, "r") as f:
        times_ds, units_ds, labels = _official_layout(f, h5py)
        if n_classes is None:
            n_classes = max(int(labels.max()) + 1, 1) if labels.size else 1
        labels = _check_labels(labels, n_classes)
        events, n_dropped = _bin_chunks(_chunked(times_ds, units_ds), grid)
        info, extra = _read_extra(f, labels.shape[0])
    return events, n_dropped, labels, n_classes, info, extra


def _official_layout(f, h5py):
    """``spikes/times`` and ``spikes/units`` (h5py datasets) and the labels of a file, their layout checked."""
    for key in ("spikes/times", "spikes/units", "labels"):
        if not isinstance(f.get(key), h5py.Dataset):
            raise SpikeDataError(f"dataset {key!r} is missing (found {sorted(_h5_names(f))})")
    times_ds, units_ds, labels_ds = f["spikes/times"], f["spikes/units"], f["labels"]
    if labels_ds.ndim != 1 or labels_ds.dtype.kind not in "iu":
        raise SpikeDataError(f"labels must be a 1-D integer array, found {labels_ds.dtype} of shape {labels_ds.shape}")
    n = labels_ds.shape[0]
    for key, ds, kinds, what in (
        ("spikes/times", times_ds, "f", "floats (seconds)"),
        ("spikes/units", units_ds, "iu", "integers"),
    ):
        base = h5py.check_vlen_dtype(ds.dtype)
        if base is None or base.kind not in kinds:
            found = f"variable-length {base}" if base is not None else f"fixed-size {ds.dtype}"
            raise SpikeDataError(f"{key} must hold one variable-length array of {what} per sample, found {found}")
        if ds.shape != (n,):
            raise SpikeDataError(
                f"spikes/times {times_ds.shape}, spikes/units {units_ds.shape} and labels ({n},) "
                "must have the same number of samples"
            )
    return times_ds, units_ds, labels_ds[()]


def _h5_names(f) -> list[str]:
    names = []
    f.visit(names.append)
    return names


def _read_extra(f, n: int) -> tuple[dict, dict]:
    """Per-sample (``speaker``) and file-level (``keys``, ``meta_info``) entries of ``extra/``."""
    info, extra = {}, {}
    if "extra/speaker" in f:
        speaker = np.asarray(f["extra/speaker"][()])
        if speaker.shape != (n,) or speaker.dtype.kind not in "iu":
            raise SpikeDataError(f"extra/speaker must be {n} integers, found {speaker.dtype} of shape {speaker.shape}")
        info["speaker"] = speaker.astype(np.int64)
    if "extra/keys" in f:
        extra["keys"] = [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"][()]]
    if "extra/meta_info" in f:
        extra["meta_info"] = {k: np.asarray(v[()]) for k, v in f["extra/meta_info"].items()}
    return info, extra


def write_spike_h5(path, times_list, units_list, labels, extra: dict | None = None) -> Path:
    """Write spike trains in the official SHD/SSC HDF5 layout.

    ``spikes/times``: variable-length float16 seconds; ``spikes/units``: variable-length uint16;
    ``labels``: uint8 (uint16 if a label exceeds 255). ``extra`` may hold ``'speaker'`` (per
    sample, written as uint16 ``extra/speaker``), ``'keys'`` (class names, written as byte
    strings ``extra/keys``) and ``'meta_info'`` (a dict of arrays, ``extra/meta_info/...``).
    Times are rounded to float16 as in the official files.
    """
    import h5py

    times_list, units_list = list(times_list), list(units_list)
    labels = as_array("labels", labels, kind="i", ndim=1)
    n = labels.shape[0]
    if len(times_list) != n or len(units_list) != n:
        raise ValueError(
            f"times_list ({len(times_list)}), units_list ({len(units_list)}) and labels ({n}) "
            "must have the same number of samples"
        )
    if n and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError(f"labels must lie in [0, 65535], got [{labels.min()}, {labels.max()}]")
    times16, units16 = _to_official(times_list, units_list)
    extra = dict(extra or {})
    unknown = set(extra) - {"speaker", "keys", "meta_info"}
    if unknown:
        raise ValueError(f"extra may hold 'speaker', 'keys' and 'meta_info', got {sorted(unknown)}")
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("spikes/times", data=_vlen(times16, np.float16), dtype=h5py.vlen_dtype(np.float16))
        f.create_dataset("spikes/units", data=_vlen(units16, np.uint16), dtype=h5py.vlen_dtype(np.uint16))
        f.create_dataset("labels", data=labels.astype(np.uint8 if labels.max(initial=0) < 256 else np.uint16))
        _write_extra(f, extra, n)
    return path


def _to_official(times_list, units_list) -> tuple[list, list]:
    """Checked float16 times and uint16 units per sample."""
    times16, units16 = [], []
    for i, (t, u) in enumerate(zip(times_list, units_list)):
        t = as_array(f"times_list[{i}]", t, kind="f", ndim=1)
        u = as_array(f"units_list[{i}]", u, kind="i", ndim=1)
        if t.shape != u.shape:
            raise ValueError(
                f"times_list[{i}] and units_list[{i}] must have the same length, got {t.shape[0]} and {u.shape[0]}"
            )
        if t.size and (t.min() < 0 or t.max() > 65504):
            raise ValueError(f"times_list[{i}] must lie in [0, 65504] seconds (float16), got [{t.min()}, {t.max()}]")
        if u.size and (u.min() < 0 or u.max() > 65535):
            raise ValueError(f"units_list[{i}] must lie in [0, 65535] (uint16), got [{u.min()}, {u.max()}]")
        times16.append(t.astype(np.float16))
        units16.append(u.astype(np.uint16))
    return times16, units16


def _vlen(arrays, dtype) -> np.ndarray:
    out = np.empty(len(arrays), object)
    for i, a in enumerate(arrays):
        out[i] = np.asarray(a, dtype)
    return out


def _write_extra(f, extra: dict, n: int) -> None:
    if "speaker" in extra:
        speaker = as_array("extra['speaker']", extra["speaker"], kind="i", ndim=1)
        if speaker.shape[0] != n:
            raise ValueError(f"extra['speaker'] must have one entry per sample ({n}), got {speaker.shape[0]}")
        f.create_dataset("extra/speaker", data=speaker.astype(np.uint16))
    if "keys" in extra:
        f.create_dataset("extra/keys", data=np.array([str(k).encode() for k in extra["keys"]]))
    for key, value in dict(extra.get("meta_info", {})).items():
        f.create_dataset(f"extra/meta_info/{key}", data=np.asarray(value))


# ---------------------------------------------------------------------------- download
def data_root(root=None) -> Path:
    """The cache folder: ``root``, else ``$SDRNET_DATA``, else ``~/.cache/sdrnet``."""
    return Path(root or os.environ.get("SDRNET_DATA") or Path.home() / ".cache" / "sdrnet").expanduser()


def md5sum(path, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str, split: str, root=None, download: bool = True, progress: bool = True, mirrors=None) -> Path:
    """Path of ``{name}_{split}.h5`` in the cache, downloading and extracting it if needed.

    Looks for ``{root}/{name}_{split}.h5``; else for a verified ``{name}_{split}.h5.zip``;
    else (``download=True``) fetches the zip from each of ``mirrors`` (default
    :data:`MIRRORS`) in turn, checks its MD5 against :data:`ZIP_MD5` and extracts it. A mirror
    that cannot be reached, answers with an HTTP error, drops the connection or serves a file
    with the wrong MD5 hands over to the next one; when all fail, one ``OSError`` lists each
    mirror and its failure (a ``ValueError`` if every mirror served a file with the wrong MD5).
    An interrupted download leaves ``….zip.part``, resumed by the next call or mirror (HTTP
    Range; see :func:`download_file`). The extracted ``.h5`` is checked when read
    (:func:`read_spike_h5`).
    """
    _check_split(name, split)
    root = data_root(root)
    target = root / f"{name}_{split}.h5"
    if target.exists():
        return target
    archive = root / f"{target.name}.zip"
    md5 = ZIP_MD5[archive.name]
    if not archive.exists():
        if not download:
            raise FileNotFoundError(
                f"{target} not found. Download it with snn.data.fetch({name!r}, {split!r}, root={str(root)!r}) "
                f"or by hand from {MIRRORS[0]}{archive.name} (MD5 {md5}) and unzip it into {root}"
            )
        _download_from_mirrors(archive, md5, MIRRORS if mirrors is None else mirrors, progress)
    else:
        _verify(archive, md5, "it is not the official archive; delete it and run again to download it anew")
    _extract_h5(archive, target)
    return target


def _check_split(name: str, split: str) -> None:
    if name not in SPLITS:
        raise ValueError(f"name must be one of {sorted(SPLITS)}, got {name!r}")
    if split not in SPLITS[name]:
        raise ValueError(f"split must be one of {SPLITS[name]} for {name.upper()}, got {split!r}")


def _download_from_mirrors(archive: Path, md5: str, mirrors, progress: bool) -> None:
    mirrors = [mirrors] if isinstance(mirrors, str) else list(mirrors)
    if not mirrors:
        raise ValueError("mirrors must name at least one base URL (e.g. snn.data.MIRRORS)")
    failures = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + archive.name
        try:
            download_file(url, archive, md5, progress=progress)
            return
        # OSError covers URLError, HTTPError, dropped connections and timeouts; ValueError a bad MD5
        except (OSError, ValueError, http.client.HTTPException) as exc:
            failures.append((url, exc))
    kind = ValueError if all(isinstance(exc, ValueError) for _, exc in failures) else OSError
    raise kind(
        f"could not download {archive.name} from any mirror:\n" + "\n".join(f"  {url}: {exc}" for url, exc in failures)
    )


def download_file(url: str, dest, md5: str, progress: bool = True, chunk: int = 1 << 20, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a partial ``.part`` and checking its MD5.

    A ``.part`` left by an interrupted download (even one killed at 0 bytes) is continued with
    an HTTP ``Range`` request; the download starts over when the server ignores the range, and
    once more from byte 0 when the continued file has the wrong MD5 or the server answers 416
    to a ``.part`` that is not the whole file (a stale ``.part`` of another file, or longer than
    this one). If the stream ends before its announced length, the ``.part`` is kept and an
    ``OSError`` says to run again. A complete file with the wrong MD5 is deleted and a
    ``ValueError`` gives expected and actual MD5s.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    if _get(url, part, offset, progress, chunk, timeout) and md5sum(part) != md5:
        part.unlink()  # the kept bytes were not the start of this file
        _get(url, part, 0, progress, chunk, timeout)
    _verify(
        part,
        md5,
        f"the download from {url} is corrupt; the file was deleted, run again to download it anew",
        delete=True,
    )
    os.replace(part, dest)
    return dest


def _get(url: str, part: Path, offset: int, progress: bool, chunk: int, timeout: float) -> bool:
    """Fetch ``url`` into ``part``, after its first ``offset`` bytes if the server honours a Range.

    True if the result continues the old bytes (a 206 answer, or 416: nothing left to send).
    """
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part holds the whole file, or more than it
            return True
        raise
    with response:
        return _stream(response, part, offset, url, progress, chunk)


def _stream(response, part: Path, offset: int, url: str, progress: bool, chunk: int) -> bool:
    """Write the response body to ``part`` (appending after a 206 answer) with a progress bar; True if appended."""
    from tqdm.auto import tqdm

    resumed = offset > 0 and getattr(response, "status", None) == 206
    start = offset if resumed else 0
    length = response.headers.get("Content-Length")
    total = start + int(length) if length is not None else None
    written = start
    with (
        open(part, "ab" if resumed else "wb") as out,
        tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            desc=part.name[:-5],
            disable=not progress,
            leave=False,
        ) as bar,
    ):
        try:
            for block in iter(lambda: response.read(chunk), b""):
                out.write(block)
                written += len(block)
                bar.update(len(block))
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise OSError(
                f"download of {url} interrupted at {written} bytes ({exc}); the partial file {part} "
                "was kept: run again to resume"
            ) from exc
    if total is not None and written < total:
        raise OSError(
            f"download of {url} stopped at {written} of {total} bytes; the partial file {part} was kept: "
            "run again to resume"
        )
    return resumed


def _verify(path: Path, md5: str, advice: str, delete: bool = False) -> None:
    actual = md5sum(path)
    if actual != md5:
        if delete:
            path.unlink()
        raise ValueError(f"{path}: MD5 mismatch, expected {md5}, got {actual}: {advice}")


def _extract_h5(archive: Path, target: Path) -> None:
    """Extract the ``.h5`` member of ``archive`` to ``target`` (atomically, via ``target.tmp``)."""
    try:
        with zipfile.ZipFile(archive) as z:
            members = [m for m in z.namelist() if m.endswith(".h5")]
            exact = [m for m in members if Path(m).name == target.name]
            if not exact and len(members) != 1:
                raise ValueError(f"{archive} should contain {target.name}, holds {z.namelist()}")
            tmp = target.with_name(target.name + ".tmp")
            with z.open((exact or members)[0]) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{archive} is not a valid zip file ({exc}); delete it and run again") from None
    os.replace(tmp, target)


# ---------------------------------------------------------------------------- loaders
def load_shd(
    split: str = "train",
    root=None,
    dt: float = 0.01,
    pool: int = 5,
    download: bool = True,
    *,
    n_steps: int | None = None,
    origin: str = "zero",
    progress: bool = True,
    max_time: float = MAX_TIME,
    binning: str = "grid",
    reader: str = "sdrnet",
) -> SpikeDataset:
    """Spiking Heidelberg Digits (20 classes; 8156 train / 2264 test), binned to ``dt`` and pooled by ``pool``.

    SHD has no validation split; the DCLS-delay reference code selects its checkpoint on the
    test set. Use :func:`holdout` on the training set instead.

    The file is fetched by :func:`fetch` and read by :func:`read_spike_h5`, which checks its
    layout and caps the grid at ``max_time`` seconds (default :data:`MAX_TIME` = 5 s, the
    longest SHD sample lasts about 1.4 s), so at most ``max_time / dt`` steps per sample.

    ``binning='grid'`` (the default) bins on a fixed grid of ``dt``; ``binning='dcls'`` makes the
    frames of the DCLS-delay results (Hammouamri et al. 2023, SpikingJelly's integration of 2023):
    each frame starts at the next unused spike and silences are skipped, so their inputs are
    reproduced bit for bit (see :func:`bin_spikes`).

    ``reader='tonic'`` reads the samples through ``tonic.datasets.SHD`` instead (``pip install
    'sdrnet[tonic]'``; tonic keeps the files under ``root/SHD`` and downloads them itself) and bins
    them by :func:`read_tonic`: the same steps on the grid (``binning='dcls'`` needs the float16
    seconds of the file, which tonic turns into integer microseconds).
    """
    options = dict(dt=dt, pool=pool, n_steps=n_steps, origin=origin, max_time=max_time, binning=binning)
    return _load("shd", split, root, download, progress, reader, options)


def load_ssc(
    split: str = "train",
    root=None,
    dt: float = 0.01,
    pool: int = 5,
    download: bool = True,
    *,
    n_steps: int | None = None,
    origin: str = "zero",
    progress: bool = True,
    max_time: float = MAX_TIME,
    binning: str = "grid",
    reader: str = "sdrnet",
) -> SpikeDataset:
    """Spiking Speech Commands (35 classes; 75466 train / 9981 valid / 20382 test), binned and pooled.

    Fetched, checked and capped at ``max_time`` seconds as in :func:`load_shd`; ``binning`` and
    ``reader`` (``tonic.datasets.SSC``, files under ``root/SSC``) as there.
    """
    options = dict(dt=dt, pool=pool, n_steps=n_steps, origin=origin, max_time=max_time, binning=binning)
    return _load("ssc", split, root, download, progress, reader, options)


READERS = ("sdrnet", "tonic")


def _load(name, split, root, download, progress, reader, options) -> SpikeDataset:
    if reader not in READERS:
        raise ValueError(f"reader must be one of {READERS}, got {reader!r}")
    if reader == "sdrnet":
        path = fetch(name, split, root, download=download, progress=progress)
        return read_spike_h5(path, n_classes=N_CLASSES[name], name=name, split=split, **options)
    if options.pop("binning") != "grid":
        raise ValueError(
            "binning='dcls' needs the float16 seconds of the HDF5 file, which tonic turns into integer "
            "microseconds: use reader='sdrnet'"
        )
    dataset = _tonic_dataset(name, split, root, download)
    return read_tonic(dataset, n_classes=N_CLASSES[name], name=name, split=split, **options)


def _tonic_dataset(name: str, split: str, root, download: bool):
    """``tonic.datasets.SHD``/``SSC`` of a split, cached under ``data_root(root)/SHD`` (or ``/SSC``)."""
    _check_split(name, split)
    datasets = require("tonic.datasets", f"snn.data.load_{name}(reader='tonic')")
    root = data_root(root)
    cls = datasets.SHD if name == "shd" else datasets.SSC
    folder = root / cls.__name__
    h5, archive = folder / f"{name}_{split}.h5", folder / f"{name}_{split}.h5.zip"
    if not download and not (h5.is_file() and archive.is_file()):
        raise FileNotFoundError(
            f"{h5} and {archive.name} (where tonic keeps {name.upper()}) not found: pass download=True "
            f"to let tonic download them, or use reader='sdrnet' (files in {root})"
        )
    if name == "shd":
        return cls(save_to=str(root), train=split == "train")
    return cls(save_to=str(root), split=split)


def read_tonic(
    dataset,
    dt: float = 0.01,
    pool: int = 5,
    n_classes: int | None = None,
    *,
    n_steps: int | None = None,
    origin: str = "zero",
    name: str = "",
    split: str = "",
    max_time: float = MAX_TIME,
) -> SpikeDataset:
    """A tonic data set (``tonic.datasets.SHD``/``SSC``, or any of ``(events, target)`` samples) as a
    :class:`SpikeDataset`, binned on the grid of :func:`bin_spikes`.

    Each sample's structured array goes through ``sdrnet.core.Events.from_tonic`` with the data
    set's ``sensor_size`` (``(700, 1, 1)`` for SHD/SSC: the unit is the channel; ``(W, H, P)`` units
    otherwise), then the units are sum-pooled by ``pool``. tonic holds SHD/SSC times as integer
    microseconds (``1e6 * t`` of the float16 seconds, truncated), and that truncation never crosses
    an edge of a grid of whole microseconds: with ``origin='zero'`` the steps are those of
    :func:`read_spike_h5` on the same file (tested at dt = 1, 4 and 10 ms). With
    ``origin='first_spike'`` both the spike and the origin are truncated, so a spike within 1 µs of
    an edge may land one step off.

    ``n_steps`` and ``max_time`` as in :func:`read_spike_h5` (spikes dropped by an explicit
    ``n_steps`` are counted in ``extra['dropped_spikes']``, with a warning). The data set must have
    no ``transform`` (the raw arrays are binned here). ``sample_info['speaker']`` and
    ``extra['keys']`` come from the data set's ``speaker`` and ``classes`` when it has them.
    """
    from sdrnet.core.tonic import events_from_tonic

    if getattr(dataset, "transform", None) is not None:
        raise ValueError("read_tonic bins the raw event arrays: build the tonic data set without a transform")
    sensor = tuple(getattr(dataset, "sensor_size", None) or ())
    if len(sensor) != 3:
        raise TypeError(f"dataset must be a tonic data set with a sensor_size (W, H, P), got {type(dataset).__name__}")
    grid = _grid(dt, pool, int(np.prod(sensor)), n_steps, origin, max_time)
    parts, labels = [], []
    for first in range(0, len(dataset), _CHUNK):
        samples = [dataset[i] for i in range(first, min(first + _CHUNK, len(dataset)))]
        arrays = [events for events, _ in samples]
        if grid.n_steps is None:
            _check_late(first, *_tonic_seconds(arrays, grid.origin), grid)
        origin_ = "first_event" if grid.origin == "first_spike" else "zero"
        parts.append(events_from_tonic(arrays, sensor, grid.dt, origin=origin_).pool_units(grid.pool))
        labels.extend(int(target) for _, target in samples)
    events, n_dropped = _fit_steps(parts, grid)
    labels = np.asarray(labels, np.int64)
    if n_classes is None:
        n_classes = max(int(labels.max()) + 1, 1) if labels.size else 1
    info, extra = _tonic_extra(dataset, labels.shape[0])
    extra["dropped_spikes"] = n_dropped
    if n_dropped:
        warnings.warn(f"{n_dropped} spikes in steps >= n_steps={n_steps} were dropped", stacklevel=2)
    return SpikeDataset(events, labels, check_int("n_classes", n_classes, 1), name, split, info, extra)


def _tonic_seconds(arrays, origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Flat seconds after ``t0`` (0 or the sample's first spike) of tonic arrays (t in µs), and their lengths."""
    lengths = np.array([a.shape[0] for a in arrays], np.int64)
    t = [a["t"].astype(np.float64) - (a["t"].min() if origin == "first_spike" and a.size else 0) for a in arrays]
    return (np.concatenate(t) if t else np.zeros(0)) * 1e-6, lengths


def _fit_steps(parts: list, grid: _Grid) -> tuple[Events, int]:
    """The binned chunks as one `Events` on ``grid.n_steps`` steps (default: the last occupied), and the
    number of spikes dropped beyond it."""
    n_channels = grid.n_units // grid.pool
    if not parts:
        return Events([], [], None, [0], n_steps=grid.n_steps or 1, n_units=n_channels, dt=grid.dt), 0
    ev = Events.concatenate(parts)
    n_steps = grid.n_steps or max(ev.n_steps, 1)
    keep = ev.time < n_steps
    ptr = np.concatenate([[0], np.cumsum(np.bincount(ev.sample_ids()[keep], minlength=ev.n_samples))])
    out = Events(ev.time[keep], ev.unit[keep], ev.value[keep], ptr, n_steps=n_steps, n_units=n_channels, dt=grid.dt)
    return out, int(ev.value[~keep].sum(dtype=np.float64))


def _tonic_extra(dataset, n: int) -> tuple[dict, dict]:
    """``speaker`` (per sample) and ``keys`` (class names) of a tonic SHD/SSC data set, when it has them."""
    info, extra = {}, {}
    speaker = getattr(dataset, "speaker", getattr(dataset, "_speaker", None))  # tonic 1.7's SSC has only _speaker
    if speaker is not None:
        speaker = np.asarray(speaker)
        if speaker.shape == (n,) and speaker.dtype.kind in "iu":
            info["speaker"] = speaker.astype(np.int64)
    classes = getattr(dataset, "classes", None)
    if classes is not None:
        extra["keys"] = [k.decode() if isinstance(k, bytes) else str(k) for k in classes]
    return info, extra


# ---------------------------------------------------------------------------- validation split
def holdout_indices(
    labels, fraction: float = 0.1, seed: int = 0, groups=None, disjoint_groups: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and validation indices, stratified by label (and by ``groups``, e.g. speakers).

    Each stratum (a label, or a (label, group) pair) of ``n`` samples gives ``round(fraction * n)``
    of them to validation, but at most ``n - 1``. With ``disjoint_groups=True`` whole groups go to
    validation instead (unseen speakers, as in SHD's test set), chosen at random until they hold
    about ``fraction`` of the samples; label balance is then not guaranteed.
    """
    labels = as_array("labels", labels, kind="i", ndim=1)
    if not (isinstance(fraction, (float, int)) and 0 < fraction < 1):
        raise ValueError(f"fraction must be a number in (0, 1), got {fraction!r}")
    rng = np.random.default_rng(check_int("seed", seed, 0))
    if groups is not None:
        groups = as_array("groups", groups, kind="i", ndim=1)
        if groups.shape != labels.shape:
            raise ValueError(f"groups must have one entry per sample ({labels.shape[0]}), got {groups.shape[0]}")
    if disjoint_groups:
        if groups is None:
            raise ValueError("disjoint_groups=True needs groups (e.g. the speakers)")
        ids, counts = np.unique(groups, return_counts=True)
        order = rng.permutation(ids.shape[0])
        cum = np.cumsum(counts[order])
        n_take = int(np.searchsorted(cum, fraction * labels.shape[0])) + 1
        valid = np.isin(groups, ids[order[: min(n_take, ids.shape[0] - 1)]])
    else:
        strata = labels if groups is None else np.unique(np.stack([labels, groups]), axis=1, return_inverse=True)[1]
        valid = np.zeros(labels.shape[0], bool)
        for s in np.unique(strata):
            members = rng.permutation(np.flatnonzero(strata == s))
            k = min(int(round(fraction * members.shape[0])), members.shape[0] - 1)
            valid[members[:k]] = True
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def holdout(
    dataset: SpikeDataset, fraction: float = 0.1, seed: int = 0, by_speaker: str | None = None
) -> tuple[SpikeDataset, SpikeDataset]:
    """Split a training set into ``(train, valid)``, stratified by label.

    Use this to select checkpoints: SHD has no validation split, and the DCLS-delay reference
    code (Hammouamri et al. 2023) selects its best checkpoint on the test set, which biases
    the reported test accuracy upwards. ``by_speaker='stratify'`` stratifies by (label,
    speaker); ``by_speaker='disjoint'`` holds out whole speakers (see :func:`holdout_indices`).
    """
    if not isinstance(dataset, SpikeDataset):
        raise TypeError(f"dataset must be a SpikeDataset, got {type(dataset).__name__}")
    if by_speaker not in (None, "stratify", "disjoint"):
        raise ValueError(f"by_speaker must be None, 'stratify' or 'disjoint', got {by_speaker!r}")
    groups = None
    if by_speaker is not None:
        if "speaker" not in dataset.sample_info:
            raise ValueError("by_speaker needs dataset.sample_info['speaker'] (extra/speaker in the file)")
        groups = dataset.sample_info["speaker"]
    train_idx, valid_idx = holdout_indices(dataset.labels, fraction, seed, groups, by_speaker == "disjoint")
    prefix = f"{dataset.split}-" if dataset.split else ""
    return (
        replace(dataset.subset(train_idx), split=prefix + "train"),
        replace(dataset.subset(valid_idx), split=prefix + "valid"),
    )


# ---------------------------------------------------------------------------- torch batches
def batches(
    dataset: SpikeDataset,
    batch_size: int,
    shuffle: bool = False,
    seed=None,
    device=None,
    n_steps: int | None = None,
    drop_last: bool = False,
):
    """Yield ``(x, y)``: x float32 ``[T, B, C]`` (time-major counts), y int64 ``[B]``.

    ``x`` is zero-padded to the longest sample of the batch (the reference's
    ``pad_sequence_collate``), or to ``n_steps`` when given (a longer sample raises).
    ``seed`` (int or ``numpy.random.Generator``) drives the shuffle: an int gives the same order
    on every call; pass one Generator and reuse it to reshuffle each epoch. The batch is built
    on ``device`` by one scatter of its CSR events (no loop over spikes).
    """
    import torch

    if not isinstance(dataset, SpikeDataset):
        raise TypeError(f"dataset must be a SpikeDataset, got {type(dataset).__name__}")
    batch_size = check_int("batch_size", batch_size, 1)
    if n_steps is not None:
        n_steps = check_int("n_steps", n_steps, 1)
    order = np.arange(len(dataset))
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(order)
    ev = dataset.events
    time = torch.from_numpy(ev.time.astype(np.int64))
    unit = torch.from_numpy(ev.unit.astype(np.int64))
    value = torch.from_numpy(ev.value.copy())  # Events arrays may be read-only; torch wants writeable ones
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for a in range(0, stop, batch_size):
        idx = order[a : a + batch_size]
        yield _batch(dataset, idx, time, unit, value, n_steps, device, torch)


def _batch(dataset, idx, time, unit, value, n_steps, device, torch):
    lengths = _lengths(dataset.events, idx)
    T = int(lengths.max(initial=1)) if n_steps is None else n_steps
    if lengths.max(initial=0) > T:
        worst = int(np.argmax(lengths))
        raise ValueError(
            f"sample {idx[worst]} has {lengths[worst]} steps, more than n_steps={n_steps}; "
            "pass a larger n_steps (or n_steps=None to pad to the longest sample)"
        )
    sel, ptr = _event_index(dataset.events.sample_ptr, idx)
    sel = torch.from_numpy(sel)
    b = torch.from_numpy(np.repeat(np.arange(idx.shape[0]), np.diff(ptr)))
    x = torch.zeros((T, idx.shape[0], dataset.n_channels), dtype=torch.float32, device=device)
    x[time[sel].to(device), b.to(device), unit[sel].to(device)] = value[sel].to(device)
    y = torch.from_numpy(dataset.labels[idx]).to(device)
    return x, y


# ---------------------------------------------------------------------------- synthetic timing task
def timing_patterns(
    n_classes: int = 10, n_groups: int = 5, max_offset: int = 15, min_gap: int = 3, min_distance: int = 3, seed: int = 0
) -> np.ndarray:
    """Class-specific volley offsets, int64 ``[n_classes, n_groups]`` (steps).

    Every pattern contains 0 and ``max_offset`` (so all classes span the same time), its offsets
    are pairwise ``>= min_gap`` apart (no two groups of one class fire in the same step), and any
    two patterns differ by ``>= min_distance`` steps in at least one group (L-infinity).
    Drawn by rejection from ``numpy.random.default_rng(seed)``.
    """
    n_classes, n_groups = check_int("n_classes", n_classes, 2), check_int("n_groups", n_groups, 2)
    max_offset, min_gap = check_int("max_offset", max_offset, 1), check_int("min_gap", min_gap, 0)
    min_distance = check_int("min_distance", min_distance, 1)
    if (n_groups - 1) * min_gap > max_offset:
        raise ValueError(f"n_groups={n_groups} volleys {min_gap} steps apart do not fit in max_offset={max_offset}")
    rng = np.random.default_rng(check_int("seed", seed, 0))
    patterns: list[np.ndarray] = []
    for _ in range(100_000):
        p = np.concatenate([[0, max_offset], rng.integers(0, max_offset + 1, n_groups - 2)])
        p = rng.permutation(p)
        s = np.sort(p)
        if np.all(np.diff(s) >= min_gap) and all(np.abs(p - q).max() >= min_distance for q in patterns):
            patterns.append(p)
            if len(patterns) == n_classes:
                return np.stack(patterns).astype(np.int64)
    raise ValueError(
        f"could not draw {n_classes} distinct patterns with n_groups={n_groups}, max_offset={max_offset}, "
        f"min_gap={min_gap}, min_distance={min_distance}; loosen them"
    )


def timing_task_spikes(
    n_samples: int = 2000,
    n_classes: int = 10,
    seed: int = 0,
    *,
    n_groups: int = 5,
    max_offset: int = 15,
    min_gap: int = 3,
    jitter: float = 0.5,
    dropout: float = 0.1,
    noise_rate: float = 2.0,
    n_steps: int = 100,
    dt: float = 0.01,
    n_units: int = N_UNITS,
    pattern_seed: int = 0,
) -> dict:
    """Raw spike trains of the timing task (see :func:`timing_task`), float16 seconds, as in SHD files.

    Returns a dict with ``times`` and ``units`` (lists of per-sample arrays, sorted by time),
    ``labels``, ``onset`` (steps), ``offsets`` ([n_classes, n_groups]) and ``groups`` (group of
    every raw unit); ``write_spike_h5(path, d['times'], d['units'], d['labels'])`` writes it.
    """
    n_samples, n_steps = check_int("n_samples", n_samples, 1), check_int("n_steps", n_steps, 1)
    n_units = check_int("n_units", n_units, 1)
    _check_task_numbers(dropout, jitter, noise_rate, dt, n_steps)
    offsets = timing_patterns(n_classes, n_groups, max_offset, min_gap, seed=pattern_seed)
    if n_units % n_groups:
        raise ValueError(f"n_groups={n_groups} must divide n_units={n_units}")
    margin = int(np.ceil(3 * jitter))
    first, last = margin, n_steps - max_offset - margin - 1  # onset range keeping every spike in the grid
    if last < first:
        raise ValueError(
            f"n_steps={n_steps} is too short for max_offset={max_offset} and jitter={jitter}: "
            f"need n_steps >= {max_offset + 2 * margin + 1}"
        )
    rng = np.random.default_rng(check_int("seed", seed, 0))
    labels = rng.permutation(np.arange(n_samples) % n_classes)
    onset = rng.integers(first, last + 1, n_samples)
    groups = np.repeat(np.arange(n_groups), n_units // n_groups)
    volley_steps = onset[:, None] + offsets[labels][:, groups]  # [N, n_units]
    s_v, u_v, t_v = _volleys(rng, volley_steps, dropout, jitter, margin, dt)
    s_n, u_n, t_n = _background(rng, n_samples, n_units, noise_rate, n_steps * dt)
    times, units = _per_sample(
        np.concatenate([s_v, s_n]),
        np.concatenate([u_v, u_n]),
        np.concatenate([t_v, t_n]),
        n_samples,
        n_units,
        n_steps * dt,
    )
    return {
        "times": times,
        "units": units,
        "labels": labels.astype(np.int64),
        "onset": onset,
        "offsets": offsets,
        "groups": groups,
    }


def _check_task_numbers(dropout, jitter, noise_rate, dt, n_steps) -> None:
    _check_fraction("dropout", dropout, upper_open=True)
    for arg, value in (("jitter", jitter), ("noise_rate", noise_rate)):
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value >= 0):
            raise ValueError(f"{arg} must be a finite number >= 0, got {value!r}")
    if not (isinstance(dt, (int, float)) and 0 < dt and n_steps * dt <= 60):
        raise ValueError(
            f"dt must be a positive number of seconds with n_steps * dt <= 60 s (float16 times), "
            f"got dt={dt!r}, n_steps={n_steps}"
        )


def _volleys(rng, volley_steps, dropout, jitter, margin, dt):
    """One spike per raw unit (unless dropped) at its volley step + clipped normal jitter + U[0, 1) steps."""
    shape = volley_steps.shape
    fire = rng.random(shape) >= dropout
    shift = np.clip(rng.normal(0.0, jitter, shape), -margin, margin) if jitter else 0.0
    steps = volley_steps + shift + rng.random(shape)
    s, u = np.nonzero(fire)
    return s, u, steps[s, u] * dt


def _background(rng, n_samples, n_units, rate, duration):
    """Poisson background: ``rate`` Hz per unit over ``[0, duration)`` seconds, the same in every class."""
    counts = rng.poisson(rate * n_units * duration, n_samples)
    s = np.repeat(np.arange(n_samples), counts)
    return s, rng.integers(0, n_units, s.shape[0]), rng.random(s.shape[0]) * duration


def _per_sample(s, u, t, n_samples, n_units, duration):
    """Per-sample float16 times (kept below ``duration``) and uint16 units, sorted by time then unit."""
    t16 = np.minimum(t.astype(np.float16), np.nextafter(np.float16(duration), np.float16(0)))
    # non-negative float16 bit patterns sort like their values: one int64 key sorts by sample, time, unit
    order = np.argsort((s * 65536 + t16.view(np.uint16)) * n_units + u)
    split = np.cumsum(np.bincount(s, minlength=n_samples))[:-1]
    return np.split(t16[order], split), np.split(u[order].astype(np.uint16), split)


def _check_fraction(name, value, upper_open=False) -> None:
    ok = isinstance(value, (int, float)) and 0 <= value and (value < 1 if upper_open else value <= 1)
    if not ok:
        raise ValueError(f"{name} must be a number in [0, 1{')' if upper_open else ']'}, got {value!r}")


def timing_task(
    n_samples: int = 2000,
    n_classes: int = 10,
    seed: int = 0,
    *,
    n_groups: int = 5,
    max_offset: int = 15,
    min_gap: int = 3,
    jitter: float = 0.5,
    dropout: float = 0.1,
    noise_rate: float = 2.0,
    n_steps: int = 100,
    dt: float = 0.01,
    pool: int = 5,
    n_units: int = N_UNITS,
    pattern_seed: int = 0,
) -> SpikeDataset:
    """A synthetic SHD-shaped task whose classes differ only in the relative timing of spike volleys.

    Layout as SHD: ``n_units`` = 700 raw units, times in float16 seconds, binned to ``dt``
    (10 ms) on a fixed grid of ``n_steps`` (100) steps and pooled by ``pool`` (5) to 140 channels.

    The raw units are split into ``n_groups`` (5) contiguous groups (140 units, 28 pooled
    channels each). In every sample each group fires one volley: each of its units spikes once
    (unless dropped with probability ``dropout`` = 0.1) at step
    ``onset + offsets[label, g] + clip(N(0, jitter), ±ceil(3 jitter)) + U[0, 1)``, so most units
    of a group fall within ±1 step (``jitter`` = 0.5 steps). ``offsets`` (:func:`timing_patterns`,
    drawn once from ``pattern_seed``, so train and test sets made with different ``seed`` share
    them) are integers in ``[0, max_offset]`` (15) that include 0 and ``max_offset``, are at least
    ``min_gap`` (3) steps apart within a class and differ by at least 3 steps between classes.
    The ``onset`` is uniform per sample, so absolute time carries (almost) nothing; on top comes
    Poisson background noise at ``noise_rate`` (2 Hz) per raw unit.

    Every unit fires with the same count distribution in every class (Bernoulli(1 - dropout) +
    Poisson noise), so a rate-only classifier is at chance; the class is in which groups fire
    how many steps after which, which a network with per-synapse delays of up to
    ``max_offset`` steps can align into coincidences, while a network of almost memoryless
    neurons without delays sees one group at a time (volleys of one class never share a step).
    ``n_classes`` = 10 classes, balanced (``n_samples`` = 2000 samples, ``seed`` = 0).
    ``sample_info['onset']`` and ``extra['offsets']`` hold the ground truth.
    """
    raw = timing_task_spikes(
        n_samples,
        n_classes,
        seed,
        n_groups=n_groups,
        max_offset=max_offset,
        min_gap=min_gap,
        jitter=jitter,
        dropout=dropout,
        noise_rate=noise_rate,
        n_steps=n_steps,
        dt=dt,
        n_units=n_units,
        pattern_seed=pattern_seed,
    )
    events, dropped = bin_spikes(raw["times"], raw["units"], dt, pool, n_units, n_steps=n_steps)
    assert dropped == 0, dropped  # the onset range keeps every spike inside the grid
    extra = {
        "offsets": raw["offsets"],
        "groups": raw["groups"],
        "dropped_spikes": 0,
        "params": dict(
            n_groups=n_groups,
            max_offset=max_offset,
            min_gap=min_gap,
            jitter=jitter,
            dropout=dropout,
            noise_rate=noise_rate,
            pattern_seed=pattern_seed,
            seed=seed,
        ),
    }
    return SpikeDataset(events, raw["labels"], n_classes, "timing", "", {"onset": raw["onset"]}, extra)
