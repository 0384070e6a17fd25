"""Numba kernels of the event-driven delta network (`snn.delta.EventDrivenNet`).

One connection layer and the elementwise neuron after it in one pass per clip and step: the changes
``Δ_t = q_t − q_{t−1}`` of the layer's input, the event-driven product ``c_t = W·Δ_t`` over runs of
consecutive posts (a conv's posts in channel-last order, so each input event adds ``kh·kw`` contiguous
vectors of ``c_out`` weights — vectorised), the running sum ``S_t = S_{t−1} + c_t`` and ``z_t = S_t + b``,
then ReLU / the quantiser ``θ·round(z/θ)`` (round half to even, as ``torch.round``).

The arithmetic is that of `sdrnet.core.sparse_matmul` followed by a float64 ``cumsum`` (what the layer-by-layer
path computes): ``Δ`` rounded once from float64 to float32, each post's ``c_t`` summed in float32 in ascending
presynaptic order, ``S`` in float64, ``z`` rounded to float32 — so the output is the same bit for bit.
Clips are independent, so every split of them over threads gives the same bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

RELU, QUANTIZE, QUANTIZE_POW2 = 0, 1, 2  # neuron op codes (POW2: every θ a power of two, 1/θ normal)


@njit(cache=True, nogil=True, inline="always")
def _neuron(row, ops, theta, inv_theta):
    """The elementwise ops on one step's float32 ``row``, in order, each one vectorised pass. With θ a power of
    two, ``z·(1/θ)`` is ``z/θ`` exactly (both the one rounding of the same real number) and needs no division."""
    for o in range(ops.shape[0]):
        th, inv = theta[o], inv_theta[o]
        if ops[o] == RELU:
            for j in range(row.shape[0]):
                v = row[j]
                row[j] = np.float32(0.0) if v < 0 else v  # NaN stays NaN, as in torch.relu
        elif ops[o] == QUANTIZE_POW2:
            for j in range(row.shape[0]):
                row[j] = th[j] * np.rint(row[j] * inv[j])
        else:
            for j in range(row.shape[0]):
                row[j] = th[j] * np.rint(row[j] / th[j])


@njit(cache=True, nogil=True, inline="always")
def _stage_step(
    q_t,
    prev,
    delta,
    active,
    run_ptr,
    run_post,
    run_len,
    run_w,
    weight,
    fan_out,
    internal,
    bias,
    ops,
    theta,
    inv_theta,
    current,
    running,
    row,
    stats,
    q_max,
):
    """One step of one stage for one clip: ``row`` (its output) from its input ``q_t`` and ``prev`` (the input
    one step earlier, updated); ``stats`` += (events, synops); ``q_max[0]`` = max of the bits of ``|q_t|``
    (for finite floats the order of ``bits & 0x7fffffff`` is the order of ``|q|``, and an integer maximum
    vectorises)."""
    bits_t = q_t.view(np.int32)
    top = q_max[0]
    for i in range(q_t.shape[0]):
        delta[i] = np.float32(np.float64(q_t[i]) - np.float64(prev[i]))
        prev[i] = q_t[i]
        top = max(top, bits_t[i] & np.int32(0x7FFFFFFF))
    q_max[0] = top
    n_active = 0
    for i in range(q_t.shape[0]):  # branch-free list of the non-zero Δ (a branch mispredicts on half of them)
        active[n_active] = i
        n_active += delta[i] != 0
    synops = 0
    for e in range(n_active):
        i = active[e]
        d = delta[i]
        for r in range(run_ptr[i], run_ptr[i + 1]):
            out = current[run_post[r] : run_post[r] + run_len[r]]  # views indexed from 0: no wraparound check
            w = weight[run_w[r] : run_w[r] + run_len[r]]
            for m in range(out.shape[0]):
                out[m] += w[m] * d
        synops += fan_out[i]
    stats[0] += n_active
    stats[1] += synops
    for j in range(row.shape[0]):
        s = running[j] + current[np.uint32(internal[j])]
        running[j] = s
        row[j] = np.float32(s + bias[j])
    current[:] = 0.0
    _neuron(row, ops, theta, inv_theta)


@njit(cache=True, nogil=True, inline="always")
def _network_clip(q_in, net, out, stats, q_max, b):
    """Clip ``b`` through every stage, step by step (all state of the clip stays in cache): ``out[:, b]`` from
    ``q_in[:, b]``; ``stats[b, l]`` = (events, synops) of stage ``l``, ``q_max[b, l]`` the bits of its input's
    max |q|. ``net`` holds one tuple per field of ``_Fused`` and the biases, one entry per stage."""
    run_ptr, run_post, run_len, run_w, weight, fan_out, internal, bias, ops, theta, inv_theta = net
    n_stages = len(run_ptr)
    sizes = np.empty(n_stages + 1, np.int64)
    sizes[0] = q_in.shape[2]
    for s in range(n_stages):
        sizes[s + 1] = internal[s].shape[0]
    ends = np.cumsum(sizes)
    prev, delta = np.zeros(ends[-1], np.float32), np.empty(ends[-1], np.float32)
    active = np.empty(ends[-1], np.int64)
    rows, current = np.empty(ends[-1], np.float32), np.zeros(ends[-1], np.float32)
    running = np.zeros(ends[-1], np.float64)
    for t in range(q_in.shape[0]):
        rows[: sizes[0]] = q_in[t, b]
        for s in range(n_stages):
            i0, i1, j1 = ends[s] - sizes[s], ends[s], ends[s + 1]
            _stage_step(
                rows[i0:i1],
                prev[i0:i1],
                delta[i0:i1],
                active[i0:i1],
                run_ptr[s],
                run_post[s],
                run_len[s],
                run_w[s],
                weight[s],
                fan_out[s],
                internal[s],
                bias[s],
                ops[s],
                theta[s],
                inv_theta[s],
                current[i1:j1],
                running[i1:j1],
                rows[i1:j1],
                stats[b, s],
                q_max[b, s : s + 1],
            )
        out[t, b] = rows[ends[-2] :]


@njit(cache=True, nogil=True)
def network_kernel(q_in, net, out, stats, q_max, b0, b1):
    """`_network_clip` for clips ``b0 ≤ b < b1``, on the calling thread without the GIL (threads split the clips:
    a numba ``prange`` cannot take the tuples of ``net``)."""
    for b in range(b0, b1):
        _network_clip(q_in, net, out, stats, q_max, b)
