"""`Events`: a batch of event streams (spikes or graded events) stored CSR over samples."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from .validation import INT32_MAX, as_array, as_float32, check_dt, check_int, check_range, check_size32, frozen

__all__ = ["Events"]


class Events:
    """A batch of event streams: who fired, when, and how much.

    Events of sample ``b`` are ``time[p], unit[p], value[p]`` for ``p`` in
    ``range(sample_ptr[b], sample_ptr[b + 1])`` (CSR over samples, so samples
    may have different numbers of events). Within a sample, events are sorted
    by time, then unit. The same ``(time, unit)`` may occur more than once; the
    values then add up (``coalesce`` merges them).

    Parameters
    ----------
    time : int array [E]
        Time step of each event, ``0 <= time < n_steps``.
    unit : int array [E]
        Unit (neuron, channel, input bit) of each event, ``0 <= unit < n_units``.
    value : float array [E] or None
        Event value (1.0 for spikes, the default), finite.
    sample_ptr : int array [B + 1] or None
        Sample boundaries; ``None`` means one sample holding all events.
    n_steps, n_units : int
        Size of the time grid and of the unit population.
    dt : float or None
        Duration of one time step in seconds, when known.

    Attributes
    ----------
    time, unit : int32 [E];  value : float32 [E];  sample_ptr : int64 [B + 1]
        Immutable: the arrays are read-only and the attributes cannot be reassigned, so what
        the kernels read is what the constructor validated. ``n_steps`` and ``n_units`` are at
        most ``2**31 - 1`` (times and units are int32); values must be representable in float32.
    """

    __slots__ = ("_time", "_unit", "_value", "_sample_ptr", "_n_steps", "_n_units", "_dt")

    def __init__(self, time, unit, value=None, sample_ptr=None, *, n_steps: int, n_units: int, dt: float | None = None):
        n_steps = check_size32("n_steps", n_steps)
        n_units = check_size32("n_units", n_units, 1)
        time = as_array("time", time, kind="i", ndim=1)
        unit = as_array("unit", unit, kind="i", ndim=1)
        n = time.shape[0]
        if unit.shape[0] != n:
            raise ValueError(f"unit must have the same length as time ({n}), got {unit.shape[0]}")
        if value is None:
            value = np.ones(n, np.float32)
        value = as_float32("value", as_array("value", value, kind="f", ndim=1))
        if value.shape[0] != n:
            raise ValueError(f"value must have the same length as time ({n}), got {value.shape[0]}")
        if sample_ptr is None:
            sample_ptr = np.array([0, n], np.int64)
        sample_ptr = as_array("sample_ptr", sample_ptr, kind="i", ndim=1)
        if sample_ptr.shape[0] < 1 or sample_ptr[0] != 0 or sample_ptr[-1] != n:
            raise ValueError(f"sample_ptr must start at 0 and end at the number of events ({n}), got {sample_ptr}")
        if np.any(sample_ptr[1:] < sample_ptr[:-1]):
            raise ValueError("sample_ptr must be non-decreasing")
        check_range("time", time, 0, n_steps)
        check_range("unit", unit, 0, n_units)
        sample_ptr = sample_ptr.astype(np.int64)  # in [0, n] now, so the cast is exact
        order = _sort_order(sample_ptr, time, unit, n_units)
        if order is not None:
            time, unit, value = time[order], unit[order], value[order]
        self._time, self._unit, self._value = frozen(time, np.int32), frozen(unit, np.int32), frozen(value, np.float32)
        self._sample_ptr = frozen(sample_ptr, np.int64)
        self._n_steps, self._n_units, self._dt = n_steps, n_units, check_dt(dt)

    def __reduce__(self):
        """Pickle through the constructor, so an unpickled `Events` is validated and immutable too."""
        return (
            partial(Events, n_steps=self._n_steps, n_units=self._n_units, dt=self._dt),
            (self._time, self._unit, self._value, self._sample_ptr),
        )

    time = property(lambda self: self._time, doc="Time step of each event, int32 [E] (read-only).")
    unit = property(lambda self: self._unit, doc="Unit of each event, int32 [E] (read-only).")
    value = property(lambda self: self._value, doc="Value of each event, float32 [E] (read-only).")
    sample_ptr = property(lambda self: self._sample_ptr, doc="Sample boundaries, int64 [B + 1] (read-only).")
    n_steps = property(lambda self: self._n_steps, doc="Size of the time grid.")
    n_units = property(lambda self: self._n_units, doc="Size of the unit population.")
    dt = property(lambda self: self._dt, doc="Duration of one step in seconds, or None.")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(cls, x, dt: float | None = None) -> Events:
        """Events from a dense array ``[T, N]`` (one sample) or ``[T, B, N]``; zeros are not events."""
        x = as_array("x", x, kind="f")
        if x.ndim == 2:
            x = x[:, None, :]
        elif x.ndim != 3:
            raise ValueError(f"x must have shape [T, N] or [T, B, N], got {x.shape}")
        n_steps, n_samples, n_units = x.shape
        b, t, u = np.nonzero(np.transpose(x, (1, 0, 2)))
        ptr = np.searchsorted(b, np.arange(n_samples + 1))
        return cls(t, u, x[t, b, u], ptr, n_steps=n_steps, n_units=max(n_units, 1), dt=dt)

    @classmethod
    def from_spike_times(cls, times, units, dt: float, n_units: int, n_steps: int | None = None) -> Events:
        """Bin spike times (seconds) onto a grid of step ``dt`` (the SHD/SSC layout).

        ``times``/``units`` are 1-D arrays for one sample, or equal-length sequences of
        1-D arrays for a batch. A spike at time ``t`` goes to step ``floor(t / dt)``;
        several spikes of one unit in one step become one event whose value is their
        count. ``n_steps`` defaults to the last occupied step + 1 over the batch; a
        spike at or after ``n_steps * dt`` raises instead of being dropped.
        """
        dt = check_dt(dt, allow_none=False)
        single = _is_one_sample(times)
        times_list = [times] if single else list(times)
        units_list = [units] if single else list(units)
        if len(times_list) != len(units_list):
            raise ValueError(
                f"times and units must hold the same number of samples, got {len(times_list)} and {len(units_list)}"
            )
        steps, unit_arrays = [], []
        for i, (t, u) in enumerate(zip(times_list, units_list)):
            t = as_array(f"times[{i}]", t, kind="f", ndim=1).astype(np.float64)
            u = as_array(f"units[{i}]", u, kind="i", ndim=1)
            if t.shape != u.shape:
                raise ValueError(f"times[{i}] and units[{i}] must have the same length, got {t.shape} and {u.shape}")
            if t.size and t.min() < 0:
                raise ValueError(f"times[{i}] must be non-negative seconds, got a minimum of {t.min()}")
            steps.append(_steps(f"times[{i}]", t, dt))
            unit_arrays.append(u)
        last = max((int(s.max()) for s in steps if s.size), default=-1)
        if n_steps is None:
            n_steps = last + 1
        elif last >= n_steps:
            raise ValueError(f"a spike falls in step {last}, beyond n_steps={n_steps} (t >= n_steps * dt)")
        ptr = np.concatenate([[0], np.cumsum([s.size for s in steps])])
        cat = np.concatenate(steps) if steps else np.zeros(0, np.int64)
        ucat = np.concatenate(unit_arrays) if unit_arrays else np.zeros(0, np.int64)
        return cls(cat, ucat, None, ptr, n_steps=n_steps, n_units=n_units, dt=dt).coalesce()

    @classmethod
    def from_tonic(
        cls,
        events,
        sensor_size,
        dt: float,
        *,
        origin: str = "zero",
        time_unit: float = 1e-6,
        n_steps: int | None = None,
    ) -> Events:
        """Bin tonic structured event arrays (fields ``t``, ``x``, and ``y``, ``p`` as the sensor has them).

        ``events``: one array (one sample) or a sequence of them; ``sensor_size``: tonic's ``(W, H, P)``,
        e.g. ``(700, 1, 1)`` for SHD. An event at ``t`` (``time_unit`` seconds per tick: tonic's
        microseconds) goes to step ``floor((t - t0) / (dt / time_unit))``, ``t0`` = 0 or the sample's
        first event (``origin='first_event'``); its unit is ``(p * H + y) * W + x`` (tonic's frame
        layout ``[P, H, W]``); values are counts. See `sdrnet.core.tonic.events_from_tonic`.
        """
        from .tonic import events_from_tonic

        return events_from_tonic(events, sensor_size, dt, origin=origin, time_unit=time_unit, n_steps=n_steps)

    @classmethod
    def concatenate(cls, samples: Sequence[Events]) -> Events:
        """Stack the samples of several `Events` into one batch (``n_steps`` is the maximum)."""
        samples = list(samples)
        if not samples:
            raise ValueError("samples must hold at least one Events")
        for i, e in enumerate(samples):
            if not isinstance(e, Events):
                raise TypeError(f"samples[{i}] must be Events, got {type(e).__name__}")
            if e.n_units != samples[0].n_units:
                raise ValueError(f"samples[{i}] has n_units={e.n_units}, samples[0] has {samples[0].n_units}")
            if e.dt != samples[0].dt:
                raise ValueError(f"samples[{i}] has dt={e.dt}, samples[0] has {samples[0].dt}")
        offsets = np.cumsum([0] + [e.n_events for e in samples[:-1]])
        ptr = np.concatenate([[0]] + [e.sample_ptr[1:] + o for e, o in zip(samples, offsets)])
        return cls(
            np.concatenate([e.time for e in samples]),
            np.concatenate([e.unit for e in samples]),
            np.concatenate([e.value for e in samples]),
            ptr,
            n_steps=max(e.n_steps for e in samples),
            n_units=samples[0].n_units,
            dt=samples[0].dt,
        )

    # ------------------------------------------------------------------ views
    @property
    def n_samples(self) -> int:
        return self.sample_ptr.shape[0] - 1

    @property
    def n_events(self) -> int:
        return self.time.shape[0]

    def __len__(self) -> int:
        return self.n_samples

    def sample_ids(self) -> np.ndarray:
        """Sample index of every event, int64 [E]."""
        return np.repeat(np.arange(self.n_samples), np.diff(self.sample_ptr))

    def events_per_sample(self) -> np.ndarray:
        return np.diff(self.sample_ptr)

    def __getitem__(self, index) -> Events:
        """Select samples by an int, a slice or an integer array."""
        idx = np.arange(self.n_samples)[index]
        idx = np.atleast_1d(idx)
        starts, stops = self.sample_ptr[idx], self.sample_ptr[idx + 1]
        sel = np.concatenate([np.arange(a, b) for a, b in zip(starts, stops)]) if idx.size else np.zeros(0, np.int64)
        ptr = np.concatenate([[0], np.cumsum(stops - starts)])
        return Events(
            self.time[sel], self.unit[sel], self.value[sel], ptr, n_steps=self.n_steps, n_units=self.n_units, dt=self.dt
        )

    def window(self, start: int, stop: int) -> Events:
        """The steps ``[start, stop)`` of every sample as events of ``stop - start`` steps (times shifted by
        ``start``): the chunks of a stream, e.g. for `sdrnet.core.Network.run` with ``state=``."""
        start = check_int("start", start, 0, self.n_steps)
        stop = check_int("stop", stop, start, self.n_steps)
        keep = (self.time >= start) & (self.time < stop)
        counts = np.bincount(self.sample_ids()[keep], minlength=self.n_samples)
        ptr = np.concatenate([[0], np.cumsum(counts)])
        return Events(
            self.time[keep] - start,
            self.unit[keep],
            self.value[keep],
            ptr,
            n_steps=stop - start,
            n_units=self.n_units,
            dt=self.dt,
        )

    def __repr__(self) -> str:
        dt = "" if self.dt is None else f", dt={self.dt:g}"
        return (
            f"Events(n_samples={self.n_samples}, n_steps={self.n_steps}, n_units={self.n_units}, "
            f"n_events={self.n_events}{dt})"
        )

    # ------------------------------------------------------------------ conversions
    def to_dense(self, dtype=np.float32) -> np.ndarray:
        """Dense array ``[T, B, N]``; values of repeated ``(time, unit)`` events add up."""
        out = np.zeros((self.n_steps, self.n_samples, self.n_units), dtype)
        np.add.at(out, (self.time, self.sample_ids(), self.unit), self.value)
        return out

    def to_torch(self, device=None, dtype=None):
        """Dense torch tensor ``[T, B, N]`` (SpikingJelly multi-step layout); imports torch lazily."""
        import torch

        return torch.as_tensor(self.to_dense(), device=device, dtype=dtype or torch.float32)

    def coalesce(self) -> Events:
        """Merge repeated ``(time, unit)`` events of a sample into one, summing their values."""
        if self.n_events == 0:
            return self
        sid, key = self.sample_ids(), self._key()
        first = np.concatenate([[True], (key[1:] != key[:-1]) | (sid[1:] != sid[:-1])])
        if first.all():
            return self
        starts = np.flatnonzero(first)
        value = np.add.reduceat(self.value.astype(np.float64), starts).astype(np.float32)
        ptr = np.searchsorted(starts, self.sample_ptr)
        return Events(
            self.time[starts], self.unit[starts], value, ptr, n_steps=self.n_steps, n_units=self.n_units, dt=self.dt
        )

    def rebin(self, factor: int) -> Events:
        """Coarser time grid: step ``t`` goes to ``t // factor``; values in one new step add up."""
        factor = check_int("factor", factor, 1)
        dt = None if self.dt is None else self.dt * factor
        return Events(
            self.time // factor,
            self.unit,
            self.value,
            self.sample_ptr,
            n_steps=-(-self.n_steps // factor),
            n_units=self.n_units,
            dt=dt,
        ).coalesce()

    def pool_units(self, factor: int) -> Events:
        """Sum-pool neighbouring units: unit ``u`` goes to ``u // factor`` (700 SHD channels, 5 → 140)."""
        factor = check_int("factor", factor, 1)
        return Events(
            self.time,
            self.unit // factor,
            self.value,
            self.sample_ptr,
            n_steps=self.n_steps,
            n_units=-(-self.n_units // factor),
            dt=self.dt,
        ).coalesce()

    # ------------------------------------------------------------------ internals
    def _key(self) -> np.ndarray:
        """``time * n_units + unit``: orders the events within a sample (< 2**62, no overflow)."""
        return self.time.astype(np.int64) * self.n_units + self.unit


def _sort_order(sample_ptr, time, unit, n_units) -> np.ndarray | None:
    """The permutation that sorts events by (sample, time, unit), or None if they already are."""
    if time.shape[0] < 2:
        return None
    sid = np.repeat(np.arange(sample_ptr.shape[0] - 1), np.diff(sample_ptr))
    key = time.astype(np.int64) * n_units + unit.astype(np.int64)
    if np.all((key[1:] >= key[:-1]) | (sid[1:] != sid[:-1])):
        return None
    return np.lexsort((key, sid))


def _steps(name: str, t: np.ndarray, dt: float) -> np.ndarray:
    """``floor(t / dt)`` as int64, refusing steps beyond the int32 time grid instead of wrapping."""
    with np.errstate(over="ignore"):
        steps = np.floor(t / dt)
    if steps.size and steps.max() >= INT32_MAX:
        i = int(np.argmax(steps))
        raise ValueError(
            f"{name} has a spike at {t[i]:g} s (position {i}), in step {steps[i]:.0f} with dt={dt:g}: "
            f"an Events grid holds at most {INT32_MAX} steps (int32 times); use a larger dt"
        )
    return steps.astype(np.int64)


def _is_one_sample(x) -> bool:
    """True for a flat sequence of numbers, False for a sequence of per-sample arrays."""
    if isinstance(x, np.ndarray):
        return x.dtype != object and x.ndim <= 1
    x = list(x)
    return len(x) == 0 or np.isscalar(x[0])
