"""Threads and cache sizes for the core's kernels.

The kernels run on numba's thread count (`get_num_threads`, set with `set_num_threads` or the
``NUMBA_NUM_THREADS`` environment variable; like `numba.set_num_threads` the setting belongs to the
calling thread). Kernels with outputs of a known size split their work inside numba (``prange``);
kernels whose output size is only known at the end (spikes, matches) run as ``nogil`` calls on a
shared thread pool, one call per part (`map_parts`). Either way every output element is written by
one thread, in the same order as on one thread, so results are bit-identical for every thread count.

Cache blocking reads the L2 size of the machine (``/sys/devices/system/cpu/cpu0/cache``; 1 MiB when
it cannot be read); ``SDRNET_L2_BYTES`` or `set_cache_size` override it. Whether a slice must fit in L2
at all is measured once per process and L2 size (`next_level_is_fast`, ~20 ms): where a scatter into
4 × L2 costs about what one into L2 does, slices may be that large.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numba
import numpy as np

from . import kernels
from .validation import check_int

__all__ = [
    "get_num_threads",
    "set_num_threads",
    "get_cache_size",
    "set_cache_size",
    "map_parts",
    "split",
    "cache_blocks",
    "block_plan",
    "parts",
    "worth_sharing",
    "next_level_is_fast",
]

_DEFAULT_L2 = 1 << 20
_cache_size: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_worker = threading.local()


def get_num_threads() -> int:
    """Threads the core's kernels use (numba's setting for the calling thread)."""
    return numba.get_num_threads()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``1 <= n <=`` ``NUMBA_NUM_THREADS``, which defaults to the number of CPUs)."""
    n = check_int("n", n, 1, _max_threads())
    numba.set_num_threads(n)


def _max_threads() -> int:
    # numba.config sets its NUMBA_* names at run time from the environment (globals()): no type checker sees them
    return numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]


def get_cache_size() -> int:
    """L2 cache bytes per core the cache-blocked kernels plan for."""
    if _cache_size is not None:
        return _cache_size
    env = os.environ.get("SDRNET_L2_BYTES")
    if env:
        try:
            return check_int("SDRNET_L2_BYTES", int(env), 1024)
        except ValueError:
            raise ValueError(f"SDRNET_L2_BYTES must be a whole number of bytes >= 1024, got {env!r}") from None
    return _machine_l2()


def set_cache_size(n_bytes: int | None) -> None:
    """Plan cache blocks for an L2 of ``n_bytes`` per core (``None``: the machine's). Changes speed only."""
    global _cache_size
    _cache_size = None if n_bytes is None else check_int("n_bytes", n_bytes, 1024)


def _machine_l2(root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """The L2 size of CPU 0 from sysfs (Linux), else `_DEFAULT_L2`."""
    try:
        for index in sorted(root.glob("index*")):
            if (index / "level").read_text().strip() == "2" and (index / "type").read_text().strip() != "Instruction":
                size = (index / "size").read_text().strip().upper()
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
                return int(size.rstrip("KMG")) * scale
    except (OSError, ValueError):
        pass
    return _DEFAULT_L2


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``[0, n)`` as at most ``parts`` contiguous, non-empty, nearly equal ranges."""
    parts = max(1, min(parts, n))
    return [(p * n // parts, (p + 1) * n // parts) for p in range(parts)]


def map_parts(fn, n_parts: int) -> list:
    """``[fn(0), ..., fn(n_parts - 1)]``, the parts run at the same time on the shared pool (``fn`` releases
    the GIL in its numba kernels). Called from inside a part, it runs the parts in turn (no nesting)."""
    if n_parts <= 1 or getattr(_in_worker, "active", False):
        return [fn(p) for p in range(n_parts)]
    futures = [_shared_pool().submit(_as_worker, fn, p) for p in range(1, n_parts)]
    try:
        first = _as_worker(fn, 0)  # the calling thread takes part 0
    finally:
        wait(futures)  # no part outlives the call, even when part 0 raises
    return [first] + [f.result() for f in futures]


def _as_worker(fn, p):
    before = getattr(_in_worker, "active", False)
    _in_worker.active = True
    try:
        return fn(p)
    finally:
        _in_worker.active = before


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _max_threads() - 1), thread_name_prefix="sdrnet")
        return _pool


# Cache blocks of postsynaptic units. A kernel with a delay window of S steps over n posts scatters into
# S·n float32 (a ring buffer, or the output's rows t..t+S); split into blocks, each block's slice stays in
# cache for its whole pass, at the price of one more pass over the events per block, which starts every row
# a second time (a row start costs a cache miss, ~30-150 ns). Measured with benchmarks/bench_core.py
# (10k posts, delays <= 64: a 2.6 MB ring; one sample): on a 2-vCPU Xeon (2 MiB L2 per core, whose share of
# the L3 was slow: ~150 ns from 8 MB on), fan-out 1,000 ran 1.2-1.35x faster one thread in 3-4 blocks
# (slices of L2/3-L2/2) than in one, while fan-out 100 ran slower in any split (1 block 157-164 M/s,
# 2 blocks 125-145); on a 2-vCPU AMD EPYC (1 MiB L2, fast L3) slices up to 4 x L2 ran as fast as L2-sized
# ones and rows cut into short segments cost more than the slices saved: there a random scatter into 2.6 MB
# cost what one into 64 KB did (1.4-1.6 ns; 3.3 ns into 8 MB), and fan-out 1,000 ran 1.7x faster in one block
# than in four. Blocks therefore hold slices of at most L2 / _SLICE_DIVISOR, or 4 x L2 where the probe finds
# the next level fast (`_slice_bytes`), and only while rows keep _MIN_SEGMENT synapses per block.
_SLICE_DIVISOR = 2
_FAST_RATIO = 1.5  # the next level is "fast" when a scatter into 4 x L2 costs less than this x one into L2/2
_fast_beyond: dict[int, bool] = {}  # L2 bytes -> next_level_is_fast
_MIN_SEGMENT = 250  # synapses of a row per block, on average
_MIN_WIDTH = 64  # posts per block
_OFFSET_BYTES = 0.5  # block offsets are kept per row only while they cost at most this per synapse
_MIN_PARALLEL_WORK = 1 << 17  # synapses visited: below this, handing parts to threads costs more than it saves


def cache_blocks(
    n_post: int, n_slots: int, mean_fan_out: float, n_items: int, threads: int, work: float = float("inf")
) -> int:
    """Blocks of ``n_post`` posts for a window of ``n_slots`` steps, so that the slices fit the cache
    (above) and, for a call worth sharing (`worth_sharing` of the ``work``, synapses it visits),
    ``n_items`` independent items (samples) × blocks keep ``threads`` threads busy: fewer items than threads
    share the blocks, so their number is then a multiple of ``threads``."""
    n_blocks = -(-n_slots * n_post * 4 // _slice_bytes())
    n_blocks = min(n_blocks, max(1, int(mean_fan_out // _MIN_SEGMENT)))
    if n_items < threads and worth_sharing(work):
        n_blocks = -(-max(n_blocks, threads) // threads) * threads  # the threads share the blocks evenly
    return max(1, min(n_blocks, n_post // _MIN_WIDTH))


def _slice_bytes() -> int:
    """Most bytes of one block's slice: 4 × L2 where the next cache level is fast, else L2 / _SLICE_DIVISOR."""
    l2 = get_cache_size()
    return 4 * l2 if next_level_is_fast() else l2 // _SLICE_DIVISOR


def next_level_is_fast() -> bool:
    """Whether a random scatter into 4 × L2 costs less than 1.5 × one into L2/2 (measured
    once per L2 size, best of 5 × 2¹⁹ scatters each). A misjudgement costs speed, never a different result."""
    l2 = get_cache_size()
    if l2 not in _fast_beyond:
        rng = np.random.default_rng(0)
        sizes = (l2 // 2, 4 * l2)
        bufs = [np.ones(max(n // 4, 1), np.float32) for n in sizes]  # ones: every page touched up front
        idxs = [rng.integers(0, b.shape[0], 1 << 19) for b in bufs]
        best = [np.inf, np.inf]
        for rep in range(6):  # interleaved, so a burst of noise hits both sizes alike
            for i in range(2):
                t0 = time.perf_counter()
                kernels.scatter_probe(bufs[i], idxs[i])
                if rep:  # the first round compiles (or loads) the kernel and warms the caches
                    best[i] = min(best[i], time.perf_counter() - t0)
        _fast_beyond[l2] = best[1] < _FAST_RATIO * best[0]
    return _fast_beyond[l2]


def worth_sharing(work: float) -> bool:
    """Whether a call that visits ``work`` synapses is worth handing to several threads."""
    return work >= _MIN_PARALLEL_WORK


def block_plan(synapses, n_blocks: int, with_offsets: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(bounds, offsets)`` for `sdrnet.core.kernels`: ``n_blocks`` nearly equal blocks of posts (one when
    a row is not sorted by post, which blocks need), and, if asked, per-row block offsets where they are
    cheap (else empty: the kernels find a row's block by binary search)."""
    if n_blocks > 1 and not kernels.rows_sorted(synapses.indptr, synapses.post):
        n_blocks = 1
    n = synapses.n_post
    bounds = np.array([c * n // n_blocks for c in range(n_blocks + 1)], np.int64)
    offsets = np.zeros((0, 0), np.uint32)
    if with_offsets and n_blocks > 1 and (n_blocks + 1) * 4 * synapses.n_pre <= _OFFSET_BYTES * synapses.nnz:
        offsets = np.empty((synapses.n_pre, n_blocks + 1), np.uint32)
        kernels.block_offsets(synapses.indptr, synapses.post, bounds, offsets)
    return bounds, offsets


def parts(n_items: int, synapses, work: int, threads: int) -> tuple[list[tuple[int, int, int, int]], bool]:
    """``[(s0, s1, j0, j1)]``: items (samples) × posts in at most ``threads`` parts for `map_parts`, split
    by items when there are enough of them, else into blocks of posts; one part when ``work`` (synapses
    the whole call visits) is too small to share. The flag tells whether posts were split."""
    n_post = synapses.n_post
    if threads == 1 or not worth_sharing(work):
        return [(0, n_items, 0, n_post)], False
    if n_items >= threads:
        return [(s0, s1, 0, n_post) for s0, s1 in split(n_items, threads)], False
    bounds, _ = block_plan(
        synapses, cache_blocks(n_post, 0, synapses.nnz / synapses.n_pre, n_items, threads, work), with_offsets=False
    )
    blocks = [(int(bounds[c]), int(bounds[c + 1])) for c in range(bounds.shape[0] - 1)]
    return [(0, n_items, blocks[c0][0], blocks[c1 - 1][1]) for c0, c1 in split(len(blocks), threads)], len(blocks) > 1
