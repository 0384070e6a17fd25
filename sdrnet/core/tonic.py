"""tonic's event arrays as `Events`, so any tonic data set feeds the core.

tonic (Lenz et al., github.com/neuromorphs/tonic) hands out each recording as a numpy structured
array: ``t`` (integer microseconds in its data sets), ``x``, and, as the sensor has them, ``y`` and
``p`` (polarity); ``sensor_size`` is ``(W, H, P)``, e.g. ``(700, 1, 1)`` for SHD/SSC (``x`` is the
cochlea channel, ``p`` an artificial 1) and ``(34, 34, 2)`` for N-MNIST. `events_from_tonic` (also
``Events.from_tonic``) bins them; `ToEvents` is the same as a tonic transform::

    ds = tonic.datasets.NMNIST(save_to, transform=ToEvents(tonic.datasets.NMNIST.sensor_size, dt=1e-3))
    events, label = ds[0]

This module needs neither tonic nor torch: it reads the arrays' fields only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .events import Events
from .validation import INT32_MAX, as_array, check_dt, check_int, check_size32

__all__ = ["ToEvents", "events_from_tonic", "tonic_units", "collate"]

_ORIGINS = ("zero", "first_event")


def events_from_tonic(
    events, sensor_size, dt: float, *, origin: str = "zero", time_unit: float = 1e-6, n_steps: int | None = None
) -> Events:
    """Bin tonic structured event arrays onto a grid of ``dt`` seconds.

    ``events`` is one structured array (one sample) or a sequence of them (a batch). An event at
    time ``t`` goes to step ``floor((t - t0) / Δ)`` with ``Δ = dt / time_unit`` ticks of ``t``
    (``time_unit`` = 1e-6: tonic's microseconds), computed by ``numpy.floor_divide`` in float64. ``Δ``
    is taken as the whole number it is meant to be when the float quotient misses one by rounding
    only (0.004 / 1e-6 gives 4000.0000000000005: 4000 µs), so the steps are exact for integer times
    below 2**53 ticks and a whole number of ticks per step. ``t0`` is 0
    (``origin='zero'``) or the sample's first event (``origin='first_event'``, what tonic's ``ToFrame``
    does without ``start_time``).

    The unit of an event is its pixel and polarity flattened as tonic's frames ``[P, H, W]``:
    ``unit = (p * H + y) * W + x``, so ``n_units = W * H * P`` and
    ``to_dense().reshape(T, B, P, H, W)`` is tonic's ``ToFrame`` layout; for audio (``H = P = 1``)
    the unit is the channel ``x``. A missing ``y`` (or ``p``) field needs ``H = 1`` (``P = 1``). On a
    single-polarity sensor (``P = 1``) ``p`` is ignored, but must hold one value per sample, as in
    tonic. Several events of one unit in one step become one event whose value is their count.

    ``n_steps`` defaults to the last occupied step + 1 over the batch; an event at or after
    ``n_steps * dt`` raises instead of being dropped.
    """
    sensor = _check_sensor(sensor_size)
    dt = check_dt(dt, allow_none=False)
    ticks_per_step = _ticks_per_step(dt, _check_time_unit(time_unit))
    if origin not in _ORIGINS:
        raise ValueError(f"origin must be one of {_ORIGINS}, got {origin!r}")
    single = isinstance(events, np.ndarray)
    samples = [events] if single else list(events)
    steps, units = [], []
    for i, sample in enumerate(samples):
        name = "events" if single else f"events[{i}]"
        sample = _check_struct(name, sample)
        steps.append(_steps(name, sample["t"], ticks_per_step, origin))
        units.append(tonic_units(sample, sensor, name))
    last = max((int(s.max()) for s in steps if s.size), default=-1)
    if n_steps is None:
        n_steps = last + 1
    elif last >= check_size32("n_steps", n_steps):
        raise ValueError(f"an event falls in step {last}, beyond n_steps={n_steps} (t - t0 >= n_steps * dt)")
    ptr = np.concatenate([[0], np.cumsum([s.size for s in steps], dtype=np.int64)])
    time = np.concatenate(steps) if steps else np.zeros(0, np.int64)
    unit = np.concatenate(units) if units else np.zeros(0, np.int64)
    n_units = sensor[0] * sensor[1] * sensor[2]
    return Events(time, unit, None, ptr, n_steps=n_steps, n_units=n_units, dt=dt).coalesce()


def tonic_units(events: np.ndarray, sensor_size, name: str = "events") -> np.ndarray:
    """``(p * H + y) * W + x`` of every event (int64), checked against ``sensor_size = (W, H, P)``."""
    width, height, n_pol = _check_sensor(sensor_size)
    events = _check_struct(name, events)
    fields = events.dtype.names or ()
    x = _coordinate(events, "x", name, width)
    y = _coordinate(events, "y", name, height) if "y" in fields else _absent(events, "y", name, height)
    if "p" not in fields:
        p = _absent(events, "p", name, n_pol)
    elif n_pol == 1:
        p = _single_polarity(events["p"], name)
    else:
        p = _coordinate(events, "p", name, n_pol)
    return (p * height + y) * width + x


@dataclass(frozen=True)
class ToEvents:
    """A tonic transform (usable in ``tonic.transforms.Compose``) turning one recording into `Events`.

    ``ToEvents(sensor_size, dt)(events)`` is ``events_from_tonic(events, sensor_size, dt, ...)``; see
    there for the binning and the unit layout. The arguments are checked when the transform is built.
    """

    sensor_size: tuple[int, int, int]
    dt: float
    origin: str = "zero"
    time_unit: float = 1e-6
    n_steps: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "sensor_size", _check_sensor(self.sensor_size))
        object.__setattr__(self, "dt", check_dt(self.dt, allow_none=False))
        object.__setattr__(self, "time_unit", _check_time_unit(self.time_unit))
        if self.origin not in _ORIGINS:
            raise ValueError(f"origin must be one of {_ORIGINS}, got {self.origin!r}")
        if self.n_steps is not None:
            check_size32("n_steps", self.n_steps)

    def __call__(self, events) -> Events:
        return events_from_tonic(
            events, self.sensor_size, self.dt, origin=self.origin, time_unit=self.time_unit, n_steps=self.n_steps
        )


def collate(batch) -> tuple[Events, np.ndarray]:
    """``(Events, targets)`` of a list of ``(Events, target)`` pairs (a ``DataLoader``'s ``collate_fn`` for
    a data set transformed by `ToEvents`): the samples stacked by ``Events.concatenate``."""
    batch = list(batch)
    return Events.concatenate([events for events, _ in batch]), np.asarray([target for _, target in batch])


# ---------------------------------------------------------------------------- checks
def _check_sensor(sensor_size) -> tuple[int, int, int]:
    try:
        size = tuple(sensor_size)
    except TypeError:
        raise TypeError(f"sensor_size must be a tuple (W, H, P), got {type(sensor_size).__name__}") from None
    if len(size) != 3:
        raise ValueError(f"sensor_size must be (W, H, P) (tonic's layout, e.g. (700, 1, 1) for SHD), got {size}")
    width, height, n_pol = (check_int(f"sensor_size[{k}]", s, 1) for k, s in enumerate(size))
    check_size32("W * H * P (the number of units)", width * height * n_pol, 1)
    return width, height, n_pol


def _ticks_per_step(dt: float, time_unit: float) -> float:
    """``dt / time_unit``, snapped to the nearest integer when within float rounding (1e-9 relative) of it."""
    ticks = dt / time_unit
    whole = round(ticks)
    return float(whole) if whole >= 1 and abs(ticks - whole) <= 1e-9 * ticks else ticks


def _check_time_unit(time_unit) -> float:
    if isinstance(time_unit, (bool, np.bool_)) or not isinstance(time_unit, (int, float, np.integer, np.floating)):
        raise TypeError(f"time_unit must be the seconds per tick of t (1e-6 for tonic), got {time_unit!r}")
    if not (np.isfinite(time_unit) and time_unit > 0):
        raise ValueError(f"time_unit must be a positive number of seconds per tick of t, got {time_unit}")
    return float(time_unit)


def _check_struct(name: str, events) -> np.ndarray:
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise TypeError(
            f"{name} must be a numpy structured array with fields 't', 'x' (and 'y', 'p' as the sensor has them), "
            f"got {type(events).__name__}"
        )
    if events.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one event per entry), got shape {events.shape}")
    missing = [f for f in ("t", "x") if f not in events.dtype.names]
    if missing:
        raise ValueError(f"{name} has no field {missing[0]!r} (fields: {events.dtype.names})")
    return events


def _steps(name: str, t, ticks_per_step: float, origin: str) -> np.ndarray:
    """``floor((t - t0) / ticks_per_step)`` as int64, refusing negative steps and steps beyond int32."""
    t = as_array(f"{name}['t']", t, kind="f", ndim=1)
    if t.dtype.kind == "b":
        raise TypeError(f"{name}['t'] must hold times (integers or reals), got {t.dtype}")
    if t.size == 0:
        return np.zeros(0, np.int64)
    t0 = t.min() if origin == "first_event" else 0
    rel = (t.astype(np.int64) - t0 if t.dtype.kind in "iu" else t - t0).astype(np.float64)
    if rel.min() < 0:
        raise ValueError(
            f"{name}['t'] must be >= 0 with origin='zero', got {t.min()}; pass origin='first_event' to count from "
            "each sample's first event"
        )
    steps = np.floor_divide(rel, ticks_per_step)
    if steps.max() >= INT32_MAX:
        raise ValueError(
            f"{name}['t'] reaches step {steps.max():.0f}: an Events grid holds at most {INT32_MAX} steps (int32 "
            "times); use a larger dt, or check time_unit (seconds per tick of t)"
        )
    return steps.astype(np.int64)


def _coordinate(events: np.ndarray, field: str, name: str, size: int) -> np.ndarray:
    values = as_array(f"{name}[{field!r}]", events[field], kind="b", ndim=1)
    if values.dtype.kind == "f":
        raise TypeError(f"{name}[{field!r}] must be integer (or bool), got {values.dtype}")
    values = values.astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= size):
        bad = int(np.flatnonzero((values < 0) | (values >= size))[0])
        raise ValueError(f"{name}[{field!r}] must lie in [0, {size}) (sensor_size), got {values[bad]} at event {bad}")
    return values


def _absent(events: np.ndarray, field: str, name: str, size: int) -> np.ndarray:
    if size != 1:
        raise ValueError(f"{name} has no field {field!r}, but sensor_size gives it {size} values (1 needed)")
    return np.zeros(events.shape[0], np.int64)


def _single_polarity(p, name: str) -> np.ndarray:
    """Zeros for a single-polarity sensor, whose ``p`` must hold one value (SHD's artificial 1)."""
    if p.size and np.any(p != p[0]):
        raise ValueError(
            f"{name}['p'] holds several polarities ({np.unique(p)[:4]}...), but sensor_size has P = 1; "
            "pass a sensor_size with P = 2"
        )
    return np.zeros(p.shape[0], np.int64)
