"""Validated entry points to the event-driven kernels: `propagate`, `overlap`, `kwta`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import kernels
from ._checks import as_array, check_int, check_range
from .events import Events
from .synapses import Synapses

__all__ = ["propagate", "overlap", "kwta"]


def propagate(events: Events, synapses: Synapses, n_steps: int | None = None) -> np.ndarray:
    """Event-driven synaptic input: ``currents[t, b, j] = Σ_i Σ_{k: i→j} w_k · x_{b,i}(t − d_k)``.

    Only events do work: the cost is (number of events) × (fan-out), not n_pre × n_post per step.

    Parameters
    ----------
    events : Events with ``n_units == synapses.n_pre``
    synapses : Synapses (delays in steps; none means 0)
    n_steps : int, optional
        Length of the output. Default ``events.n_steps + synapses.max_delay``, so every
        delayed event arrives; a shorter ``n_steps`` drops what arrives later, by request.

    Returns
    -------
    currents : float32 ``[n_steps, B, n_post]``
    """
    _check_pair(events, synapses)
    if n_steps is None:
        n_steps = events.n_steps + synapses.max_delay
    n_steps = check_int("n_steps", n_steps, 0)
    out = np.zeros((n_steps, events.n_samples, synapses.n_post), np.float32)
    has_delay = synapses.delay is not None
    delay = synapses.delay if has_delay else np.zeros(1, np.uint8)
    kernels.propagate_kernel(events.time, events.unit, events.value, events.sample_ptr, synapses.indptr,
                             synapses.post, synapses.weight, delay, has_delay, out)
    return out


def overlap(active, synapses: Synapses) -> np.ndarray:
    """Count active synapses per postsynaptic unit for binary inputs given as active indices.

    ``counts[b, j] = |{k : pre_k ∈ active_b, post_k = j}|``: the overlap ``x · y`` of dendritic
    segment ``j`` (its synapses) with input SDR ``b``, which Ahmad & Hawkins (2016) compare with
    the threshold θ. Weights are ignored: a stored synapse is a connected one.

    Parameters
    ----------
    active : int array [a] (one SDR), int array [B, a], or a sequence of B int arrays
        Indices of the active presynaptic units, each in ``[0, n_pre)``, no repeats within a sample.
    synapses : Synapses

    Returns
    -------
    counts : int32 ``[n_post]`` for one SDR, else ``[B, n_post]``
    """
    if not isinstance(synapses, Synapses):
        raise TypeError(f"synapses must be Synapses, got {type(synapses).__name__}")
    single = isinstance(active, np.ndarray) and active.ndim == 1 or (
        not isinstance(active, np.ndarray) and len(active) > 0 and np.isscalar(active[0]))
    indices, ptr = _active_lists([active] if single else active)
    check_range("active", indices, 0, synapses.n_pre)
    out = np.zeros((ptr.shape[0] - 1, synapses.n_post), np.int32)
    bad = kernels.overlap_kernel(indices, ptr, synapses.indptr, synapses.post, out)
    if bad >= 0:
        raise ValueError(f"active[{bad}] repeats a unit; an SDR lists each active unit once")
    return out[0] if single else out


def kwta(x, k: int) -> np.ndarray:
    """k-winners-take-all: indices of the ``k`` largest entries of each row, in ascending order.

    Ties are broken deterministically in favour of the lower index.

    Parameters
    ----------
    x : real array ``[n]`` or ``[B, n]``, no NaN
    k : int, ``1 <= k <= n``

    Returns
    -------
    winners : int64 ``[k]`` or ``[B, k]``
    """
    x = as_array("x", x, kind="f")
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape [n] or [B, n], got {x.shape}")
    n = x.shape[-1]
    k = check_int("k", k, 1)
    if k > n:
        raise ValueError(f"k must be <= the row length {n}, got {k}")
    rows = np.ascontiguousarray(np.atleast_2d(x), dtype=np.float64)
    out = np.empty((rows.shape[0], k), np.int64)
    kernels.kwta_kernel(rows, k, out)
    return out[0] if x.ndim == 1 else out


def _check_pair(events: Events, synapses: Synapses) -> None:
    if not isinstance(events, Events):
        raise TypeError(f"events must be Events, got {type(events).__name__}")
    if not isinstance(synapses, Synapses):
        raise TypeError(f"synapses must be Synapses, got {type(synapses).__name__}")
    if events.n_units != synapses.n_pre:
        raise ValueError(f"events.n_units ({events.n_units}) must equal synapses.n_pre ({synapses.n_pre})")


def _active_lists(active: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(active, np.ndarray) and active.ndim == 2:
        arr = as_array("active", active, kind="i")
        ptr = np.arange(arr.shape[0] + 1, dtype=np.int64) * arr.shape[1]
        return arr.ravel().astype(np.int64), ptr
    rows = [as_array(f"active[{b}]", a, kind="i", ndim=1) for b, a in enumerate(active)]
    ptr = np.concatenate([[0], np.cumsum([r.shape[0] for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return indices, ptr
