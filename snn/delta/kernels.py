"""Numba kernels of the event-driven delta network (`snn.delta.EventDrivenNet`).

One connection layer and the elementwise neuron after it in one pass per clip and step: the changes
``Δ_t = q_t − q_{t−1}`` of the layer's input, the event-driven product ``c_t = W·Δ_t`` over runs of
consecutive posts (a conv's posts in channel-last order, so each input event adds ``kh·kw`` contiguous
vectors of ``c_out`` weights — vectorised), the running sum ``S_t = S_{t−1} + c_t`` and ``z_t = S_t + b``,
then ReLU / the quantiser ``θ·round(z/θ)`` (round half to even, as ``torch.round``).

The arithmetic is that of `sdrnet.core.sparse_matmul` followed by a float64 ``cumsum`` (what the layer-by-layer
path computes): ``Δ`` rounded once from float64 to float32, each post's ``c_t`` summed in float32 in ascending
presynaptic order, ``S`` in float64, ``z`` rounded to float32 — so the output is the same bit for bit.
Clips are independent, so every thread count gives the same bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

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
def _stage_clip(q_in, q_bits, run_ptr, run_post, run_len, run_w, weight, fan_out, internal, bias, ops, theta, inv_theta, q_out,
                stats, q_max, b):
    """Clip ``b`` through one stage: ``q_out[:, b]`` from ``q_in[:, b]``; ``stats[b]`` = (events, synops),
    ``q_max[b]`` = the bits of max |q_in[:, b]| (``q_bits`` is ``q_in`` viewed as int32: for finite floats the
    order of ``bits & 0x7fffffff`` is the order of ``|q|``, and an integer maximum vectorises)."""
    n_steps, _, n_in = q_in.shape
    n_post = internal.shape[0]
    prev = np.zeros(n_in, np.float32)
    delta = np.empty(n_in, np.float32)
    active = np.empty(n_in, np.int64)
    current = np.zeros(n_post, np.float32)  # c_t in internal (channel-last) order
    running = np.zeros(n_post, np.float64)  # S_t by unit
    events, synops, top = 0, 0, np.int32(0)
    for t in range(n_steps):
        q_t, bits_t = q_in[t, b], q_bits[t, b]
        for i in range(n_in):
            delta[i] = np.float32(np.float64(q_t[i]) - np.float64(prev[i]))
            prev[i] = q_t[i]
        for i in range(n_in):
            top = max(top, bits_t[i] & np.int32(0x7FFFFFFF))
        n_active = 0
        for i in range(n_in):  # branch-free list of the non-zero Δ (a branch mispredicts on half of them)
            active[n_active] = i
            n_active += delta[i] != 0
        for e in range(n_active):
            i = active[e]
            d = delta[i]
            for r in range(run_ptr[i], run_ptr[i + 1]):
                out = current[run_post[r]:run_post[r] + run_len[r]]  # views indexed from 0: no wraparound check
                w = weight[run_w[r]:run_w[r] + run_len[r]]
                for m in range(out.shape[0]):
                    out[m] += w[m] * d
            synops += fan_out[i]
        events += n_active
        row = q_out[t, b]
        for j in range(n_post):
            s = running[j] + current[np.uint32(internal[j])]
            running[j] = s
            row[j] = np.float32(s + bias[j])
        current[:] = 0.0
        _neuron(row, ops, theta, inv_theta)
    stats[b, 0], stats[b, 1], q_max[b] = events, synops, top


@njit(cache=True, nogil=True, parallel=True)
def stage_kernel(q_in, q_bits, run_ptr, run_post, run_len, run_w, weight, fan_out, internal, bias, ops, theta, inv_theta, q_out,
                 stats, q_max):
    """`_stage_clip` for every clip, on all threads."""
    for b in prange(q_in.shape[1]):
        _stage_clip(q_in, q_bits, run_ptr, run_post, run_len, run_w, weight, fan_out, internal, bias, ops, theta, inv_theta, q_out,
                    stats, q_max, b)


@njit(cache=True, nogil=True)
def stage_serial(q_in, q_bits, run_ptr, run_post, run_len, run_w, weight, fan_out, internal, bias, ops, theta, inv_theta, q_out,
                 stats, q_max):
    """`_stage_clip` for every clip, on the calling thread."""
    for b in range(q_in.shape[1]):
        _stage_clip(q_in, q_bits, run_ptr, run_post, run_len, run_w, weight, fan_out, internal, bias, ops, theta, inv_theta, q_out,
                    stats, q_max, b)
