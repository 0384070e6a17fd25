"""Numba kernels of the core: pure functions on arrays, compiled on first call (``cache=True``).

Each kernel has a plain-numpy reference in ``tests/reference.py``. The public, validated
entry points are in `sdrnet.core.ops` and `sdrnet.core.network`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def propagate_kernel(time, unit, value, sample_ptr, indptr, post, weight, delay, has_delay, out):
    """out[t + d_ij, b, j] += w_ij * x_i(t) for every event (t, i, x) of sample b and synapse i -> j."""
    n_steps = out.shape[0]
    for b in range(sample_ptr.shape[0] - 1):
        for e in range(sample_ptr[b], sample_ptr[b + 1]):
            t, i, x = time[e], unit[e], value[e]
            for k in range(indptr[i], indptr[i + 1]):
                tt = t + delay[k] if has_delay else t
                if tt < n_steps:
                    out[tt, b, post[k]] += weight[k] * x


@njit(cache=True, nogil=True)
def overlap_kernel(active, active_ptr, indptr, post, out):
    """out[b, j] = number of synapses onto j whose presynaptic unit is active in sample b.

    Returns the index of the first sample holding a repeated active unit, or -1.
    """
    n_pre = indptr.shape[0] - 1
    seen = np.full(n_pre, -1, np.int64)
    for b in range(active_ptr.shape[0] - 1):
        for e in range(active_ptr[b], active_ptr[b + 1]):
            i = active[e]
            if seen[i] == b:
                return b
            seen[i] = b
            for k in range(indptr[i], indptr[i + 1]):
                out[b, post[k]] += 1
    return -1


@njit(cache=True, nogil=True)
def kwta_kernel(x, k, out):
    """out[r] = ascending indices of the k largest entries of x[r]; ties go to the lower index."""
    n = x.shape[1]
    for r in range(x.shape[0]):
        row = x[r]
        kth = np.partition(-row, k - 1)[k - 1]  # -(k-th largest value)
        n_above = 0
        for j in range(n):
            if -row[j] < kth:
                n_above += 1
        n_ties = k - n_above
        m = 0
        for j in range(n):
            if -row[j] < kth:
                out[r, m] = j
                m += 1
            elif -row[j] == kth and n_ties > 0:
                out[r, m] = j
                m += 1
                n_ties -= 1


@njit(cache=True, nogil=True)
def lif_layer_step(cur, bias, v, tau, v_th, v_reset, soft_reset, decay_input, spiked):
    """One SpikingJelly ``LIFNode`` step for a layer, in float32 with the same operation order.

    Input ``x = cur + bias``; ``cur`` (the ring-buffer slot just consumed) is zeroed.
    Updates ``v`` and ``spiked`` in place; returns the number of spikes.
    """
    reset = np.float32(0.0) if soft_reset else v_reset
    n_spikes = 0
    for j in range(v.shape[0]):
        x = cur[j] + bias[j]
        cur[j] = 0.0
        vj = v[j]
        if decay_input:
            h = vj + (x - (vj - reset)) / tau
        else:
            h = vj - (vj - reset) / tau + x
        s = h - v_th >= 0
        spiked[j] = s
        n_spikes += s
        if soft_reset:
            v[j] = h - v_th if s else h
        else:
            v[j] = v_reset if s else h
    return n_spikes


@njit(cache=True, nogil=True)
def network_kernel(in_time, in_unit, in_value, n_steps,
                   layer_off, tau, v_th, v_reset, soft_reset, decay_input, bias, v_init,
                   proj_src, proj_dst, proj_lag, proj_ptr, indptr, post, weight, delay,
                   n_ring, record_v_layer, layer_stop):
    """Run one sample through layers of LIF neurons, event-driven, with a delay ring buffer.

    Layer ``l`` owns neurons ``layer_off[l]:layer_off[l + 1]`` of the flat state. Projection
    ``p`` carries events from layer ``proj_src[p]`` (-1: the input) to ``proj_dst[p]``; its CSR
    rows are ``indptr[proj_ptr[p] + i]``. An event from step ``t`` arrives at step
    ``t + proj_lag[p] + delay[k]``. Within a step the input is delivered first, then the
    layers update in order, each delivering its spikes as it fires. Layer ``l`` is frozen (no
    update, no spikes) from step ``layer_stop[l]`` on.

    Returns spike (time, flat unit) arrays, final v, synaptic operations per projection and,
    if ``record_v_layer >= 0``, that layer's membrane potential at every step.
    """
    n_layers = layer_off.shape[0] - 1
    n_total = layer_off[n_layers]
    n_proj = proj_src.shape[0]
    ring = np.zeros(n_ring * n_total, np.float32)  # flat [slot, neuron]
    v = v_init.copy()
    spiked = np.zeros(n_total, np.bool_)
    synops = np.zeros(n_proj, np.int64)
    cap = 1024
    s_time = np.empty(cap, np.int32)
    s_unit = np.empty(cap, np.int32)
    n_spikes = 0
    if record_v_layer >= 0:
        v_seq = np.empty((n_steps, layer_off[record_v_layer + 1] - layer_off[record_v_layer]), np.float32)
    else:
        v_seq = np.empty((0, 0), np.float32)
    e = 0
    n_in = in_time.shape[0]
    for t in range(n_steps):
        row = (t % n_ring) * n_total
        while e < n_in and in_time[e] == t:
            for p in range(n_proj):
                if proj_src[p] == -1:
                    synops[p] += _deliver(ring, t, in_unit[e], in_value[e], p, proj_dst, proj_lag, proj_ptr,
                                          indptr, post, weight, delay, layer_off, n_ring, n_total)
            e += 1
        for lyr in range(n_layers):
            lo, hi = layer_off[lyr], layer_off[lyr + 1]
            if t >= layer_stop[lyr]:
                if lyr == record_v_layer:
                    v_seq[t] = v[lo:hi]
                continue
            fired = lif_layer_step(ring[row + lo:row + hi], bias[lo:hi], v[lo:hi], tau[lyr], v_th[lyr],
                                   v_reset[lyr], soft_reset[lyr], decay_input[lyr], spiked[lo:hi])
            if fired:
                for j in range(lo, hi):
                    if not spiked[j]:
                        continue
                    if n_spikes == cap:
                        cap *= 2
                        s_time = _grow(s_time, cap)
                        s_unit = _grow(s_unit, cap)
                    s_time[n_spikes] = t
                    s_unit[n_spikes] = j
                    n_spikes += 1
                    for p in range(n_proj):
                        if proj_src[p] == lyr:
                            synops[p] += _deliver(ring, t, j - lo, np.float32(1.0), p, proj_dst, proj_lag,
                                                  proj_ptr, indptr, post, weight, delay, layer_off, n_ring,
                                                  n_total)
            if lyr == record_v_layer:
                v_seq[t] = v[lo:hi]
    return s_time[:n_spikes], s_unit[:n_spikes], v, synops, v_seq


@njit(cache=True, nogil=True, inline="always")
def _deliver(ring, t, i, x, p, proj_dst, proj_lag, proj_ptr, indptr, post, weight, delay, layer_off, n_ring,
             n_total):
    """Add ``x * w`` of every synapse of row ``i`` of projection ``p`` into its arrival slot."""
    row = proj_ptr[p] + i
    base = layer_off[proj_dst[p]]
    slot0 = (t + proj_lag[p]) % n_ring
    start, stop = indptr[row], indptr[row + 1]
    for k in range(start, stop):
        slot = slot0 + delay[k]
        if slot >= n_ring:  # lag + delay < n_ring, so one wrap at most (cheaper than %)
            slot -= n_ring
        ring[slot * n_total + base + post[k]] += weight[k] * x
    return stop - start


@njit(cache=True, nogil=True)
def _grow(a, cap):
    out = np.empty(cap, a.dtype)
    out[:a.shape[0]] = a
    return out


# ---------------------------------------------------------------------------------------------- sparse × dense
# Dense activations ``x [B, n_pre]`` through the synapses' weights: ``out[b, j] = Σ_{k: i→j} w_k · x[b, i]``.
# Both kernels add ``w_k · x[b, i]`` into ``out[b, j]`` over ascending ``k`` (the CSR order, so ascending
# presynaptic unit), as a float32 multiply then an add (never fused), exactly as `propagate_kernel` does: they
# agree bit for bit with it and with each other. Every output element is written by one thread, so the thread
# count changes nothing either.

from llvmlite import ir  # noqa: E402
from numba import prange, types  # noqa: E402
from numba.core import cgutils  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

_I64 = ir.IntType(64)


@intrinsic
def _axpy_rows(typingctx, lanes, tile, tile_off, xbuf, x_off, post, weight, k0, k1):
    """``tile[tile_off + post[k]·L : +L] += weight[k] · xbuf[x_off : x_off + L]`` for ``k`` in ``[k0, k1)`` in
    order, the ``L = lanes`` inputs held in SIMD registers; nothing is done when they are all zero (adding
    ``w · 0`` to a sum that started at +0 changes nothing). Written in LLVM IR because numba's vectoriser
    leaves this loop scalar: it must assume that ``tile`` and ``xbuf`` overlap, and SLP vectorisation is off."""
    if not isinstance(lanes, types.IntegerLiteral):
        return None
    n = lanes.literal_value
    vec = ir.VectorType(ir.FloatType(), n)
    sig = types.void(lanes, tile, tile_off, xbuf, x_off, post, weight, k0, k1)

    def codegen(context, builder, signature, args):
        _, tile_v, tile_off_v, xbuf_v, x_off_v, post_v, weight_v, k0_v, k1_v = args
        tile_d, xbuf_d, post_d, weight_d = (context.make_array(signature.args[i])(context, builder, v).data
                                            for i, v in ((1, tile_v), (3, xbuf_v), (5, post_v), (6, weight_v)))
        x = builder.load(builder.bitcast(builder.gep(xbuf_d, [x_off_v]), vec.as_pointer()), align=4)
        nonzero = builder.bitcast(builder.fcmp_unordered("!=", x, ir.Constant(vec, [0.0] * n)), ir.IntType(n))
        with builder.if_then(builder.icmp_unsigned("!=", nonzero, ir.Constant(ir.IntType(n), 0))):
            with cgutils.for_range_slice(builder, k0_v, k1_v, ir.Constant(_I64, 1)) as (k, _):
                j = builder.sext(builder.load(builder.gep(post_d, [k])), _I64)
                w = builder.insert_element(ir.Constant(vec, ir.Undefined), builder.load(builder.gep(weight_d, [k])),
                                           ir.Constant(ir.IntType(32), 0))
                w = builder.shuffle_vector(w, ir.Constant(vec, ir.Undefined),
                                           ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n))
                at = builder.gep(tile_d, [builder.add(tile_off_v, builder.mul(j, ir.Constant(_I64, n)))])
                ptr = builder.bitcast(at, vec.as_pointer())
                builder.store(builder.fadd(builder.load(ptr, align=4), builder.fmul(w, x)), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _first_post_at_least(post, lo, hi, j):
    """First ``k`` in ``[lo, hi)`` with ``post[k] >= j`` (``post`` is sorted within a row), else ``hi``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if post[mid] < j:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True, inline="always")
def _block(n, n_blocks, blk):
    """Units ``[j0, j1)`` of block ``blk`` of ``n_blocks`` over ``n``."""
    return blk * n // n_blocks, (blk + 1) * n // n_blocks


@njit(cache=True, nogil=True, inline="always")
def _row_part(indptr, post, i, n_blocks, j0, j1):
    """Synapses ``[k0, k1)`` of row ``i`` whose targets lie in ``[j0, j1)``."""
    k0, k1 = indptr[i], indptr[i + 1]
    if n_blocks > 1:
        k0 = _first_post_at_least(post, k0, k1, j0)
        k1 = _first_post_at_least(post, k0, k1, j1)
    return k0, k1


@njit(cache=True, nogil=True, inline="always")
def _event_item(x, indptr, post, weight, n_blocks, out, item):
    """Event-driven, work item (sample, block of posts): every non-zero ``x[b, i]`` is scattered through the
    block's part of row ``i``, one synapse at a time."""
    b, blk = item // n_blocks, item % n_blocks
    j0, j1 = _block(out.shape[1], n_blocks, blk)
    x_b, out_b = x[b], out[b]
    for i in range(x.shape[1]):
        xi = x_b[i]
        if xi != 0:
            k0, k1 = _row_part(indptr, post, i, n_blocks, j0, j1)
            for k in range(k0, k1):
                out_b[np.uint32(post[k])] += weight[k] * xi  # unsigned: no negative-index wraparound


@njit(cache=True, nogil=True, inline="always")
def _batched_item(x, indptr, post, weight, lanes, n_blocks, out, item):
    """Batched (Elsen et al. 2020, "Fast Sparse ConvNets"), work item (tile of ``lanes`` = 8, 16 or 32 samples,
    block of posts): the tile is copied to ``[n_pre, lanes]`` (zero-padded), every synapse of the block is
    read once and applied to all its samples, ``[posts, lanes]`` accumulates and is written back."""
    n_b, n_pre = x.shape
    t, blk = item // n_blocks, item % n_blocks
    b0 = t * lanes
    nb = min(lanes, n_b - b0)
    j0, j1 = _block(out.shape[1], n_blocks, blk)
    xbuf = np.zeros(n_pre * lanes, np.float32)
    for lane in range(nb):
        for i in range(n_pre):
            xbuf[i * lanes + lane] = x[b0 + lane, i]
    tile = np.zeros((j1 - j0) * lanes, np.float32)
    off = -j0 * lanes
    for i in range(n_pre):
        k0, k1 = _row_part(indptr, post, i, n_blocks, j0, j1)
        if k0 == k1:
            continue
        if lanes == 32:
            _axpy_rows(32, tile, off, xbuf, i * 32, post, weight, k0, k1)
        elif lanes == 16:
            _axpy_rows(16, tile, off, xbuf, i * 16, post, weight, k0, k1)
        else:
            _axpy_rows(8, tile, off, xbuf, i * 8, post, weight, k0, k1)
    for lane in range(nb):
        for j in range(j0, j1):
            out[b0 + lane, j] = tile[(j - j0) * lanes + lane]


# Each kernel has a parallel driver (``prange`` over its work items, numba's threads) and a serial one: a
# parallel region waits for every thread, which costs more than a small product gains. ``out`` starts at zero.
@njit(cache=True, nogil=True, parallel=True)
def event_matmul_kernel(x, indptr, post, weight, n_blocks, out):
    """`_event_item` for every (sample, block), on all threads."""
    for item in prange(x.shape[0] * n_blocks):
        _event_item(x, indptr, post, weight, n_blocks, out, item)


@njit(cache=True, nogil=True)
def event_matmul_serial(x, indptr, post, weight, out):
    """`_event_item` for every sample, on the calling thread."""
    for item in range(x.shape[0]):
        _event_item(x, indptr, post, weight, 1, out, item)


@njit(cache=True, nogil=True, parallel=True)
def batched_matmul_kernel(x, indptr, post, weight, lanes, n_blocks, out):
    """`_batched_item` for every (tile, block), on all threads."""
    for item in prange((x.shape[0] + lanes - 1) // lanes * n_blocks):
        _batched_item(x, indptr, post, weight, lanes, n_blocks, out, item)


@njit(cache=True, nogil=True)
def batched_matmul_serial(x, indptr, post, weight, lanes, n_blocks, out):
    """`_batched_item` for every (tile, block), on the calling thread."""
    for item in range((x.shape[0] + lanes - 1) // lanes * n_blocks):
        _batched_item(x, indptr, post, weight, lanes, n_blocks, out, item)


@njit(cache=True, nogil=True)
def matmul_activity_kernel(x, counts):
    """Per input unit ``i``: ``counts[0, i]`` = non-zero ``x[:, i]``; ``counts[r, i]`` (r = 1, 2, 3) = tiles of
    8, 16, 32 samples holding a non-zero ``x[:, i]`` (tile ``t`` of width L: samples ``[t·L, t·L + L)``).
    ``counts`` starts at zero."""
    n_b, n_pre = x.shape
    hit = np.zeros((3, n_pre), np.int64)  # non-zeros so far in the current 8-, 16- and 32-tile
    for b in range(n_b):
        row, h8 = x[b], hit[0]
        for i in range(n_pre):
            h8[i] += row[i] != 0
        for r in range(3):
            if b % (8 << r) == (8 << r) - 1 or b == n_b - 1:  # a tile of width 8·2^r ends at b
                h, c = hit[r], counts[1 + r]
                for i in range(n_pre):
                    c[i] += h[i] > 0
                    if r == 0:
                        counts[0, i] += h[i]
                    if r < 2:
                        hit[r + 1, i] += h[i]
                    h[i] = 0
