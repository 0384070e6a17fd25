"""Input validation shared by the core: clear errors that name the argument."""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

INT32_MAX = int(np.iinfo(np.int32).max)
FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_array(name: str, x, *, kind: str, ndim: int | None = None) -> np.ndarray:
    """Return ``x`` as a numpy array of the given kind ('i' integer, 'f' real, 'b' bool or number).

    Integer arrays may be given for real kinds; real arrays are never silently cast to integers.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}: {exc}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if arr.size == 0 and arr.dtype == object:
        arr = arr.astype(np.float64)
    if kind == "i":
        if arr.size == 0 and arr.dtype.kind == "f":
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must have an integer dtype, got {arr.dtype}")
    elif kind == "f":
        if arr.dtype.kind not in "iufb":
            raise TypeError(f"{name} must have a real dtype, got {arr.dtype}")
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite (no NaN or inf)")
    elif kind == "b":
        if arr.dtype.kind not in "iufb":
            raise TypeError(f"{name} must be boolean or numeric, got {arr.dtype}")
    return arr


def check_range(name: str, arr: np.ndarray, low: int, high: int | None = None) -> None:
    """Raise unless ``low <= arr < high`` everywhere (``high=None``: no upper bound)."""
    if arr.size == 0:
        return
    lo, hi = arr.min(), arr.max()
    if lo < low:
        raise ValueError(f"{name} must be >= {low}, got a minimum of {lo}")
    if high is not None and hi >= high:
        raise ValueError(f"{name} must be < {high}, got a maximum of {hi}")


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as a Python int, rejecting bools, floats and values outside ``[low, high]``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}")
    return int(value)


def check_size32(name: str, value, low: int = 0) -> int:
    """A size or count the kernels index with int32: an int in ``[low, 2**31 - 1]``."""
    value = check_int(name, value, low)
    if value > INT32_MAX:
        raise ValueError(f"{name} must be <= {INT32_MAX} (the kernels index with int32), got {value}")
    return value


def as_float32(name: str, x: np.ndarray) -> np.ndarray:
    """``x`` (finite reals) as float32, refusing values that overflow to inf or underflow from non-zero to 0."""
    with np.errstate(over="ignore"):
        out = x.astype(np.float32)
    if x.dtype.kind != "f" or x.dtype.itemsize <= 4:  # integers, bools, float16/32 always fit
        return out
    bad = np.flatnonzero(np.isinf(out) | ((out == 0) & (x != 0)))
    if bad.size:
        i = bad[0]
        what = "overflows float32 (|x| > 3.4e38)" if np.isinf(out[i]) else "underflows to 0 in float32 (|x| < 1.4e-45)"
        raise ValueError(f"{name}[{i}] = {float(x[i]):g} {what}")
    return out


def check_float32(name: str, x) -> np.float32:
    """A real scalar (not a bool, str or None) as float32, refusing a finite value float32 cannot hold."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}: {x!r}")
    given_inf = isinstance(x, (float, np.floating)) and np.isinf(x)
    big_int = isinstance(x, (int, np.integer)) and abs(int(x)) > FLOAT32_MAX
    with np.errstate(over="ignore"):
        out = np.float32(np.inf if big_int else x)
    if (np.isinf(out) and not given_inf) or (out == 0 and x != 0):
        raise ValueError(f"{name} = {x!s:.24} cannot be held in float32 (|x| must lie within 1.4e-45 .. 3.4e38)")
    return out


def frozen(x: np.ndarray, dtype) -> np.ndarray:
    """An immutable copy of ``x`` as ``dtype``: backed by ``bytes``, so not even ``setflags(write=True)``
    can make it writeable, and what a kernel reads stays what the constructor validated."""
    return np.frombuffer(np.ascontiguousarray(x, dtype).tobytes(), dtype)


def check_bool(name: str, value) -> bool:
    """``value`` if it is a bool (Python's or numpy's), else a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}: {value!r}")
    return bool(value)


@overload
def check_dt(dt, name: str = "dt", *, allow_none: Literal[False]) -> float: ...
@overload
def check_dt(dt, name: str = "dt", *, allow_none: bool = True) -> float | None: ...
def check_dt(dt, name: str = "dt", *, allow_none: bool = True) -> float | None:
    """A step length in seconds as a float; None stays None if ``allow_none`` (else it is a wrong type).

    TypeError unless ``dt`` is a real number (a bool is not); ValueError unless it is finite and > 0.
    """
    if dt is None and allow_none:
        return None
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive finite number of seconds, got {type(dt).__name__}: {dt!r}")
    try:
        value = float(dt)
    except OverflowError:  # an int beyond float range: not finite
        value = math.inf
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive finite number of seconds, got {dt!r}")
    return value


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {type(rng).__name__}"
        )
    return rng
