"""Validated entry points to the kernels: `propagate`, `overlap`, `kwta`, `sparse_matmul`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from . import kernels
from .events import Events
from .parallel import block_plan, cache_blocks, get_cache_size, get_num_threads, worth_sharing
from .synapses import FanIn, Synapses
from .validation import as_array, as_float32, check_int, check_range

__all__ = ["propagate", "overlap", "kwta", "sparse_matmul", "MatmulResult", "MATMUL_KERNELS"]

_NO_DELAY = np.zeros(1, np.uint8)
_NO_DELAY.setflags(write=False)  # typed like the read-only delays of Synapses: one compiled kernel


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
    delay = synapses.delay if has_delay else _NO_DELAY
    fan_out = synapses.nnz / synapses.n_pre
    n_blocks = cache_blocks(
        synapses.n_post, synapses.max_delay + 1, fan_out, events.n_samples, get_num_threads(), events.n_events * fan_out
    )
    bounds, offsets = block_plan(synapses, n_blocks)
    kernels.propagate_kernel(
        events.time,
        events.unit,
        events.value,
        events.sample_ptr,
        synapses.indptr,
        synapses.post,
        synapses.weight,
        delay,
        has_delay,
        synapses.max_delay,
        offsets,
        bounds,
        out,
    )
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
    _check_synapses(synapses)
    single = (
        isinstance(active, np.ndarray)
        and active.ndim == 1
        or (not isinstance(active, np.ndarray) and len(active) > 0 and np.isscalar(active[0]))
    )
    indices, ptr = active_lists([active] if single else active)
    check_range("active", indices, 0, synapses.n_pre)
    n_b = ptr.shape[0] - 1
    out = np.zeros((n_b, synapses.n_post), np.int32)
    threads = get_num_threads()
    work = int(synapses.fan_out()[indices].sum()) if indices.size else 0
    n_blocks = cache_blocks(synapses.n_post, 0, synapses.nnz / synapses.n_pre, n_b, threads, work)
    bounds, _ = block_plan(synapses, n_blocks, with_offsets=False)
    n_chunks = min(threads, n_b * (bounds.shape[0] - 1)) if worth_sharing(work) else 1
    bad = np.full(max(1, n_chunks), -1, np.int64)
    kernels.overlap_kernel(indices, ptr, synapses.indptr, synapses.post, bad.shape[0], bounds, out, bad)
    if bad.max() >= 0:
        raise ValueError(f"active[{bad[bad >= 0].min()}] repeats a unit; an SDR lists each active unit once")
    return out[0] if single else out


def kwta(x, k: int) -> np.ndarray:
    """k-winners-take-all: indices of the ``k`` largest entries of each row, in ascending order.

    Ties are broken deterministically in favour of the lower index.

    Parameters
    ----------
    x : real array ``[n]`` or ``[B, n]``, finite; integers of any width compare exactly
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
    rows = np.ascontiguousarray(np.atleast_2d(_exact_float64(x)))
    out = np.empty((rows.shape[0], k), np.int64)
    kernels.kwta_kernel(rows, k, out)
    return out[0] if x.ndim == 1 else out


def _exact_float64(x: np.ndarray) -> np.ndarray:
    """``x`` as float64 where that is exact; else (int64 beyond 2**53, longdouble) its dense ranks,
    which keep the order and the ties, so the k largest are the same entries."""
    wide = x.dtype.itemsize > 8 or x.dtype.kind in "iu" and x.dtype.itemsize == 8
    if wide and x.size and not (-(2**53) <= x.min() and x.max() <= 2**53):
        return np.unique(x.ravel(), return_inverse=True)[1].reshape(x.shape).astype(np.float64)
    return x.astype(np.float64)


def _check_pair(events: Events, synapses: Synapses) -> None:
    if not isinstance(events, Events):
        raise TypeError(f"events must be Events, got {type(events).__name__}")
    _check_synapses(synapses)
    if events.n_units != synapses.n_pre:
        raise ValueError(f"events.n_units ({events.n_units}) must equal synapses.n_pre ({synapses.n_pre})")
    _check_events_in_bounds(events)


def _check_synapses(synapses: Synapses) -> None:
    """Type and O(1) CSR shape check at a kernel entry.

    `Synapses` are immutable after their validated construction (read-only arrays, no setters), so
    ``post`` and ``indptr`` stay in range without an O(nnz) scan per call; this catches a subclass
    or a stand-in whose arrays disagree in length.
    """
    if not isinstance(synapses, Synapses):
        raise TypeError(f"synapses must be Synapses, got {type(synapses).__name__}")
    nnz = synapses.post.shape[0]
    lengths = [synapses.weight.shape[0]] + ([] if synapses.delay is None else [synapses.delay.shape[0]])
    if (
        synapses.indptr.shape[0] != synapses.n_pre + 1
        or synapses.indptr[0] != 0
        or synapses.indptr[-1] != nnz
        or any(n != nnz for n in lengths)
    ):
        raise ValueError("synapses has inconsistent CSR arrays (indptr, post, weight, delay)")


def _check_events_in_bounds(events: Events) -> None:
    """O(E) bounds check of what the kernel indexes with: as cheap as the kernel's own pass over the events."""
    n = events.time.shape[0]
    ptr = events.sample_ptr
    if (
        events.unit.shape[0] != n
        or events.value.shape[0] != n
        or ptr[0] != 0
        or ptr[-1] != n
        or np.any(ptr[1:] < ptr[:-1])
    ):
        raise ValueError("events has inconsistent arrays (time, unit, value, sample_ptr)")
    check_range("events.time", events.time, 0, events.n_steps)
    check_range("events.unit", events.unit, 0, events.n_units)


def active_lists(active: Sequence | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(active, np.ndarray) and active.ndim == 2:
        arr = as_array("active", active, kind="i")
        ptr = np.arange(arr.shape[0] + 1, dtype=np.int64) * arr.shape[1]
        return arr.ravel().astype(np.int64), ptr
    rows = [as_array(f"active[{b}]", a, kind="i", ndim=1) for b, a in enumerate(active)]
    ptr = np.concatenate([[0], np.cumsum([r.shape[0] for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
    return indices, ptr


# ---------------------------------------------------------------------------------------------- sparse × dense
MATMUL_KERNELS = ("auto", "event", "batched", "gather")
_LANES = (8, 16, 32)  # samples per batched tile, in the order of matmul_activity_kernel's work[2:]
# The cost model's constants, ns on one thread (fitted on a 2-vCPU AMD EPYC with 1 MiB of L2; a misfit on
# another machine costs time, never a different result):
_EVENT_NS = 0.7  # one synaptic event of the scalar scatter, its target in cache
_ROW_NS, _LANE_NS = 0.42, 0.0475  # one synapse applied to a tile of L samples: _ROW_NS + _LANE_NS · L
_GATHER_NS = 1.0  # one synapse of the gather kernel for a tile of up to 32 samples
_COPY_NS = 0.9  # one input scanned for events, or copied into or out of a tile
_TILE_SHARE = 16  # a batched accumulator [block posts, L] takes at most 1/16 of the L2: on a 2 MiB-L2 Xeon,
# 2048 posts × 32 samples (10-20 % of weights) ran 1.4x faster in blocks of 64-128 KB than in one of 256 KB
_MIN_BLOCK = 64  # fewest posts per block when posts are split between threads
_PARALLEL_NS = 250_000  # products predicted faster than this run on one thread: a parallel region waits
# for all its threads, ~10 µs on idle cores but a scheduler time slice (measured 8 ms) while another process
# holds one, which a product this small cannot win back


class MatmulResult(NamedTuple):
    """What `sparse_matmul` returns.

    out : float32 ``[B, n_post]``;  kernel : ``"event"``, ``"batched"`` or ``"gather"``, the kernel that ran;
    lanes : samples per tile (batched 8, 16 or 32; gather 1, 8, 16 or 32; 0 for the event kernel);
    events : non-zero inputs;  synops : synaptic operations an event-driven machine does (events × fan-out).
    """

    out: np.ndarray
    kernel: str
    lanes: int
    events: int
    synops: int


def sparse_matmul(x, synapses: Synapses, kernel: str = "auto") -> MatmulResult:
    """A batch of dense activations through the synapses' weights: ``out[b, j] = Σ_{k: i→j} w_k · x[b, i]``.

    Three kernels, on all numba threads, give bit-identical results (each output sums its terms in ascending
    presynaptic order, multiply then add in float32, as `propagate` does for one time step; the thread
    count changes nothing either). Two scatter through `Synapses` (CSR by presynaptic unit):

    - ``"event"``: every non-zero ``x[b, i]`` is an event scattered through row ``i`` of the CSR, one
      synapse at a time, so zeros cost nothing: work = events × fan-out, ~1 ns each in cache.
    - ``"batched"``: tiles of L = 8, 16 or 32 samples; every synapse is read once and applied to the L
      samples in SIMD registers, as the sparse-weight × dense-activation kernels of Elsen et al. (2020,
      "Fast Sparse ConvNets"); a row is skipped when its input is zero in all L samples. Work = active
      (tile, row) pairs × fan-out, each costing about as much as 1–2 events but covering L samples.

    One gathers through a `FanIn` (the same synapses CSR by postsynaptic unit, as lean):

    - ``"gather"``: for a tile of 1–32 samples, each output sums its fan-in in SIMD registers and is written
      once (Elsen et al.'s kernel proper); zeros cost as much as non-zeros, but no accumulator goes through
      memory, so on batches of dense activations it runs several times faster than ``"batched"``.

    With `Synapses`, ``kernel="auto"`` takes the scatter kernel a cost model predicts faster (``_EVENT_NS``,
    ``_ROW_NS + _LANE_NS · L`` per unit of work, ``_COPY_NS`` per element a tile copies) from exact counts of
    the work each would do (one pass over ``x``): dense activations and batches favour ``"batched"``, sparse
    events ``"event"``. With a `FanIn`, it is ``"gather"``.

    Parameters
    ----------
    x : real array ``[B, n_pre]``, finite (computed in float32)
    synapses : Synapses without delays (a matrix product has no time; `propagate` applies delays), or a FanIn
    kernel : ``"auto"`` (default), ``"event"`` or ``"batched"`` (Synapses), ``"gather"`` (FanIn)

    Returns
    -------
    MatmulResult (``out`` float32 ``[B, n_post]``, the kernel used, its tile width, events, synops)
    """
    if not isinstance(synapses, (Synapses, FanIn)):
        raise TypeError(f"synapses must be Synapses or FanIn, got {type(synapses).__name__}")
    if kernel not in MATMUL_KERNELS:
        raise ValueError(f"kernel must be one of {MATMUL_KERNELS}, got {kernel!r}")
    if isinstance(synapses, FanIn):
        return _gather(x, synapses, kernel)
    if kernel == "gather":
        raise ValueError("kernel='gather' reads the fan-in layout: pass sdrnet.core.FanIn(synapses)")
    if synapses.max_delay > 0:
        raise ValueError(
            f"synapses have delays (up to {synapses.max_delay} steps), which a matrix product "
            "cannot apply; use propagate"
        )
    x = _matmul_input(x, synapses.n_pre)
    counts = np.zeros(2 + len(_LANES), np.int64)
    kernels.matmul_activity_kernel(x, synapses.indptr, counts)
    n_events, *work = counts.tolist()
    (kernel, lanes), cost_ns = _choose_kernel(kernel, work, x.shape[0], synapses)
    threads = get_num_threads() if cost_ns >= _PARALLEL_NS else 1
    out = np.zeros((x.shape[0], synapses.n_post), np.float32)
    csr = synapses.indptr, synapses.post, synapses.weight
    if kernel == "event" and threads == 1:
        kernels.event_matmul_serial(x, *csr, out)
    elif kernel == "event":
        kernels.event_matmul_kernel(x, *csr, _blocks(synapses.n_post, threads, x.shape[0]), out)
    else:
        n_groups = _blocks(synapses.n_post, threads, -(-x.shape[0] // lanes))
        n_blocks = _tile_blocks(synapses.n_post, lanes, n_groups)
        if threads == 1:
            kernels.batched_matmul_serial(x, *csr, lanes, n_blocks, out)
        else:
            kernels.batched_matmul_kernel(x, *csr, lanes, n_blocks, n_groups, out)
    return MatmulResult(out, kernel, lanes, n_events, work[0])


def _gather(x, fan_in: FanIn, kernel: str) -> MatmulResult:
    """`sparse_matmul` on the fan-in layout: the gather kernel, tiles of 1 sample or of the fewest of 8, 16, 32
    lanes that hold the batch (32 beyond)."""
    if kernel not in ("auto", "gather"):
        raise ValueError(f"kernel={kernel!r} scatters through Synapses; a FanIn runs kernel='gather' (or 'auto')")
    x = _matmul_input(x, fan_in.n_pre)
    counts = np.zeros(2 + len(_LANES), np.int64)
    kernels.matmul_activity_kernel(x, fan_in._fan_out, counts)
    n_b = x.shape[0]
    lanes = 1 if n_b == 1 else next((lanes for lanes in _LANES if lanes >= n_b), _LANES[-1])
    n_tiles = -(-n_b // lanes)
    threads = get_num_threads() if _GATHER_NS * n_tiles * fan_in.nnz >= _PARALLEL_NS else 1
    out = np.zeros((n_b, fan_in.n_post), np.float32)
    csr = fan_in.indptr, fan_in.pre, fan_in.weight
    if threads == 1:
        kernels.gather_matmul_serial(x, *csr, lanes, out)
    else:
        kernels.gather_matmul_kernel(x, *csr, lanes, _blocks(fan_in.n_post, threads, n_tiles), out)
    return MatmulResult(out, "gather", lanes, int(counts[0]), int(counts[1]))


def _matmul_input(x, n_pre: int) -> np.ndarray:
    x = as_array("x", x, kind="f", ndim=2)
    if x.shape[1] != n_pre:
        raise ValueError(f"x must have shape [B, n_pre={n_pre}], got {x.shape}")
    return np.ascontiguousarray(as_float32("x (flattened)", x.ravel()).reshape(x.shape))


def _blocks(n: int, threads: int, items: int) -> int:
    """Blocks of ``n`` units so that ``items`` × blocks keeps ``threads`` busy, at least _MIN_BLOCK units each."""
    return max(1, min(-(-threads // max(items, 1)), n // _MIN_BLOCK))


def _tile_blocks(n_post: int, lanes: int, n_groups: int) -> int:
    """Blocks of posts for batched tiles of ``lanes`` samples: accumulators ``[posts, lanes]`` of at most
    L2 / _TILE_SHARE, at least _MIN_BLOCK posts each, in a multiple of the ``n_groups`` the threads share."""
    n_blocks = min(-(-n_post * lanes * 4 * _TILE_SHARE // get_cache_size()), max(1, n_post // _MIN_BLOCK))
    return -(-max(n_blocks, n_groups) // n_groups) * n_groups


def _choose_kernel(kernel: str, work: list[int], n_b: int, synapses: Synapses) -> tuple[tuple[str, int], float]:
    """((kernel, lanes), predicted ns) of least predicted cost; ``work[0]`` = events × fan-out, ``work[r]`` =
    Σ fan-out over active (tile of ``_LANES[r - 1]`` samples, input) pairs. A forced ``kernel`` only picks lanes."""
    best = ("event", 0), _EVENT_NS * work[0] + _COPY_NS * n_b * synapses.n_pre
    if kernel == "event":
        return best
    if kernel == "batched":
        best = ("batched", _LANES[0]), np.inf  # the first tile width's cost (finite) replaces it
    for r, lanes in enumerate(_LANES, start=1):
        padded = -(-n_b // lanes) * lanes
        cost = (_ROW_NS + _LANE_NS * lanes) * work[r] + _COPY_NS * padded * (synapses.n_pre + synapses.n_post)
        if cost < best[1]:
            best = ("batched", lanes), cost
        if lanes >= n_b:  # a wider tile would only pad
            break
    return best
