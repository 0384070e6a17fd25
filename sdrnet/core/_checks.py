"""Input validation shared by the core: clear errors that name the argument."""

from __future__ import annotations

import numpy as np


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


def check_int(name: str, value, low: int | None = None) -> int:
    """Return ``value`` as a Python int, rejecting bools, floats and values below ``low``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(0)), got {type(rng).__name__}"
        )
    return rng
