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
