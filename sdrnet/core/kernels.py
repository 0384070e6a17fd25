"""Numba kernels of the core: pure functions on arrays, compiled on first call (``cache=True``).

Each kernel has a plain-numpy reference in ``tests/reference.py``. The public, validated
entry points are in `sdrnet.core.ops` and `sdrnet.core.network`.

Threads and blocks. A kernel's work is split into items that own disjoint outputs: samples, and blocks
of postsynaptic units ``[bounds[c], bounds[c + 1])``. An item adds its terms into each output element
in the order a single pass would (events in order; a row's synapses in CSR order, i.e. by ``post``), so
the result is bit-identical for every block split and thread count. ``offsets[i, c]`` is where row
``i``'s synapses onto block ``c`` start, relative to ``indptr[i]`` (`block_offsets`; rows are sorted by
``post``, so a block's synapses of a row are contiguous).

Indices inside the scatter loops are unsigned, so numba emits no negative-index wraparound; that halves
the instructions per synaptic event (measured: 28 → 15 per synapse, about 2× the events per second).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

_PREFETCH_AHEAD = 4  # events: a row's first cache lines are requested this many events before it is read
_PREFETCH_SYNAPSES = 32  # synapses of a row requested ahead (two cache lines of post and of weight)
_NO_OFFSETS = np.zeros((0, 0), np.uint32)
_TRANSPOSE = 16  # side of the squares a batched tile is transposed in (16 float32: one cache line)


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Ask the CPU to bring ``arr[idx]`` into cache (LLVM ``llvm.prefetch``: read, keep). A hint: no effect
    on results, and no fault for an address past the end."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _prefetch_row(post, weight, delay, has_delay, k0, k1):
    """Prefetch the start of synapses ``[k0, k1)``."""
    for k in range(k0, min(k1, k0 + _PREFETCH_SYNAPSES), 16):
        _prefetch(post, k)
        _prefetch(weight, k)
    if has_delay and k1 > k0:
        _prefetch(delay, k0)


@njit(cache=True, nogil=True)
def scatter_probe(buf, idx):
    """``buf[idx[k]] += 1`` for every ``k``: the random scatter whose cost `parallel.next_level_is_fast` times."""
    for k in range(idx.shape[0]):
        buf[idx[k]] += np.float32(1.0)


@njit(cache=True, nogil=True, parallel=True)
def block_offsets(indptr, post, bounds, offsets):
    """``offsets[i, c]`` = first synapse of row ``i`` with ``post >= bounds[c]``, minus ``indptr[i]``."""
    for i in prange(indptr.shape[0] - 1):
        k, hi = indptr[i], indptr[i + 1]
        for c in range(bounds.shape[0]):
            k = first_at_least(post, k, hi, bounds[c])
            offsets[i, c] = k - indptr[i]


@njit(cache=True, nogil=True, parallel=True)
def rows_sorted(indptr, post):
    """True when every row's synapses are sorted by ``post`` (what blocks need)."""
    unsorted = 0
    for i in prange(indptr.shape[0] - 1):
        for k in range(indptr[i] + 1, indptr[i + 1]):
            if post[k] < post[k - 1]:
                unsorted += 1
                break
    return unsorted == 0


@njit(cache=True, nogil=True, inline="always")
def _segment(indptr, post, offsets, bounds, i, c):
    """Synapses ``[k0, k1)`` of row ``i`` onto block ``c``: the whole row for one block, else from
    ``offsets`` or, when it is empty, by binary search."""
    k0, k1 = indptr[i], indptr[i + 1]
    if bounds.shape[0] == 2:
        return k0, k1
    if offsets.shape[0]:
        return k0 + offsets[i, c], k0 + offsets[i, c + 1]
    k0 = first_at_least(post, k0, k1, bounds[c])
    return k0, first_at_least(post, k0, k1, bounds[c + 1])


@njit(cache=True, nogil=True, parallel=True)
def propagate_kernel(
    time, unit, value, sample_ptr, indptr, post, weight, delay, has_delay, max_delay, offsets, bounds, out
):
    """``out[t + d_k, b, post_k] += w_k · x`` for every event ``(t, i, x)`` of sample ``b`` and synapse ``k``
    of row ``i`` (arrivals at or after ``out.shape[0]`` are dropped). Items: (sample, block)."""
    n_steps, n_b, n_post = out.shape
    n_blocks = bounds.shape[0] - 1
    flat = out.reshape(-1)
    stride = np.uint64(n_b * n_post)  # one time step
    ahead = n_blocks == 1 or offsets.shape[0] > 0  # a binary search would cost more than the prefetch saves
    for item in prange(n_b * n_blocks):
        b, c = item // n_blocks, item % n_blocks
        e0, e1 = sample_ptr[b], sample_ptr[b + 1]
        for e in range(e0, e1):
            if ahead and e + _PREFETCH_AHEAD < e1:
                k0, k1 = _segment(indptr, post, offsets, bounds, unit[e + _PREFETCH_AHEAD], c)
                _prefetch_row(post, weight, delay, has_delay, k0, k1)
            t, x = time[e], value[e]
            k0, k1 = _segment(indptr, post, offsets, bounds, unit[e], c)
            base = np.uint64((t * n_b + b) * n_post)
            if not has_delay:
                if t < n_steps:
                    _scatter_flat(flat, base, post, weight, x, k0, k1)
            elif t + max_delay < n_steps:
                _scatter_delayed(flat, base, stride, post, weight, delay, x, k0, k1)
            else:
                for k in range(k0, k1):
                    if t + np.int64(delay[k]) < n_steps:
                        flat[base + np.uint64(delay[k]) * stride + np.uint64(post[k])] += weight[k] * x


@njit(cache=True, nogil=True, inline="always")
def _scatter_flat(out, base, post, weight, x, k0, k1):
    k, k1 = np.uint64(k0), np.uint64(k1)
    while k < k1:
        out[base + np.uint64(post[k])] += weight[k] * x
        k += np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def _scatter_delayed(out, base, stride, post, weight, delay, x, k0, k1):
    k, k1 = np.uint64(k0), np.uint64(k1)
    while k < k1:
        out[base + np.uint64(delay[k]) * stride + np.uint64(post[k])] += weight[k] * x
        k += np.uint64(1)


@njit(cache=True, nogil=True, parallel=True)
def overlap_kernel(active, active_ptr, indptr, post, n_chunks, bounds, out, bad):
    """``out[b, j]`` = synapses onto ``j`` whose presynaptic unit is active in sample ``b``.

    Items: (sample, block), in ``n_chunks`` contiguous runs, one per thread. ``bad[chunk]`` is set to the
    first sample of the chunk that lists a unit twice (that sample's counts are then incomplete), else -1.
    """
    n_b = active_ptr.shape[0] - 1
    n_blocks = bounds.shape[0] - 1
    n_items = n_b * n_blocks
    for chunk in prange(n_chunks):
        seen = np.full(indptr.shape[0] - 1, -1, np.int64)
        bad[chunk] = -1
        for item in range(chunk * n_items // n_chunks, (chunk + 1) * n_items // n_chunks):
            b, c = item // n_blocks, item % n_blocks
            out_b = out[b]
            for e in range(active_ptr[b], active_ptr[b + 1]):
                i = active[e]
                if seen[i] == item:
                    bad[chunk] = b
                    break
                seen[i] = item
                k0, k1 = _segment(indptr, post, _NO_OFFSETS, bounds, i, c)
                for k in range(np.uint64(k0), np.uint64(k1)):
                    out_b[np.uint64(post[k])] += 1
            if bad[chunk] >= 0:
                break


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
def neuron_step(code, c, cur, bias, state, spiked):
    """One step of a layer of neurons (`sdrnet.core.neurons`: ``code`` picks the model, ``c`` its
    `kernel_constants`), in float32 with the operation order of the model's numpy ``step``.

    Input ``x = cur + bias``; ``cur`` (the ring-buffer slot just consumed) is zeroed. Updates ``state``
    (``[n_vars, w]``, row 0 the membrane potential) and ``spiked`` in place; returns the number of spikes.
    LIF (code 0; SpikingJelly ``LIFNode``), ``c = [tau, v_threshold, v_reset (0 if soft), soft, decay_input]``;
    IF (code 1; SpikingJelly ``IFNode``), ``c = [0, v_threshold, v_reset (0 if soft), soft]``;
    CubaLIF (code 2; snnTorch ``Synaptic``, state row 1 the synaptic current),
    ``c = [alpha, v_threshold, beta, reset mechanism (0 subtract, 1 zero, 2 none), reset_delay]``.
    """
    n_spikes = 0
    v = state[0]
    if code <= 1:
        tau, v_th, v_reset, soft, decay_input = c[0], c[1], c[2], c[3] != 0, c[4] != 0
        for j in range(v.shape[0]):
            x = cur[j] + bias[j]
            cur[j] = 0.0
            vj = v[j]
            if code == 1:
                h = vj + x
            elif decay_input:
                h = vj + (x - (vj - v_reset)) / tau
            else:
                h = vj - (vj - v_reset) / tau + x
            s = h - v_th >= 0
            spiked[j] = s
            n_spikes += s
            if soft:
                v[j] = h - v_th if s else h
            else:
                v[j] = v_reset if s else h
    elif code == 2:
        alpha, v_th, beta, mechanism, delayed = c[0], c[1], c[2], int(c[3]), c[4] != 0
        i = state[1]
        zero, one = np.float32(0.0), np.float32(1.0)
        for j in range(v.shape[0]):
            x = cur[j] + bias[j]
            cur[j] = 0.0
            vj = v[j]
            r = one if vj - v_th > 0 else zero  # the reset signal of the previous step's spike
            ij = alpha * i[j] + x
            h = beta * vj + ij
            if mechanism == 0:
                vj = h - v_th if r > 0 else h  # h − r·θ without 0·∞ for a readout (θ = ∞)
            elif mechanism == 1:
                vj = h - h * r
            else:
                vj = h
            s = vj - v_th > 0
            if not delayed and mechanism < 2:  # snnTorch reset_delay=False: reset in the spike's own step too
                d = (one if s else zero) - r
                if d != 0:
                    vj = vj - d * v_th if mechanism == 0 else vj - d * vj
            i[j] = ij
            v[j] = vj
            spiked[j] = s
            n_spikes += s
    return n_spikes


@njit(cache=True, nogil=True)
def layer_kernel(
    src_time,
    src_unit,
    src_value,
    src_ptr,
    s0,
    s1,
    n_steps,
    stop,
    indptr,
    post,
    weight,
    delay,
    has_delay,
    offsets,
    bounds,
    c0,
    c1,
    rec_indptr,
    rec_post,
    rec_weight,
    rec_delay,
    rec_has_delay,
    own_time,
    own_unit,
    own_ptr,
    n_ring,
    code,
    consts,
    bias,
    state,
    v_seq,
):
    """Run one layer of neurons (`neuron_step`) over samples ``[s0, s1)`` and blocks ``[c0, c1)``.

    The source events ``(time, unit, value)`` of sample ``b`` are ``src_ptr[b]:src_ptr[b + 1]``, sorted by
    time then unit (``src_value`` empty: every value is 1). An event at step ``t`` reaches post ``j`` at
    ``t + d_k`` through a ring buffer of ``n_ring`` steps per block. Each block runs the whole time loop:
    at step ``t`` it takes the events of step ``t``, then updates its neurons, then, if the layer is
    recurrent (``rec_indptr`` has more than one entry; one block only), sends its spikes through the
    recurrent synapses to arrive at ``t + 1 + d_k``. This is the order of a step-by-step simulation of the
    whole network (input first, then the layers in order), so every ring cell sums its terms in the same
    order. The layer is frozen (no update, no spikes) from step ``stop`` on.

    Events still in flight from an earlier run have negative times (``t >= -(n_ring - 1)``), as have the
    layer's own earlier spikes ``own_*`` (recurrent layers): they are delivered first, where they land at
    step 0 or later, in the order the earlier run would have delivered them.

    Updates ``state[:, b, j]`` (row 0: the membrane potential) and, when ``v_seq`` is not empty, writes every
    step's potential into ``v_seq[t, b, j]``. Returns spike times and units, sorted by (sample, time, unit),
    and the spike count of each sample.
    """
    recurrent = rec_indptr.shape[0] > 1
    record = v_seq.shape[0] > 0
    max_w = 0
    for c in range(c0, c1):
        max_w = max(max_w, bounds[c + 1] - bounds[c])
    ring = np.empty(n_ring * max_w, np.float32)  # [slot, neuron of the block]
    spiked = np.zeros(max_w, np.bool_)
    n_vars = state.shape[0]
    work = np.empty(n_vars * max_w, np.float32)  # a block's state, contiguous: `neuron_step` vectorises on it
    rows = np.empty(2 * n_ring, np.uint64)  # `_ring_rows` of the current block
    slots, one = np.uint64(n_ring), np.float32(1.0)
    cap, n_sp = 1024, 0
    s_time, s_unit = np.empty(cap, np.int32), np.empty(cap, np.int32)
    counts = np.zeros(s1 - s0, np.int64)
    t_end = min(stop, n_steps)
    whole = bounds.shape[0] == 2
    ahead = whole or offsets.shape[0] > 0  # a binary search would cost more than the prefetch saves
    for b in range(s0, s1):
        e0 = src_ptr[b]
        e1 = first_at_least(src_time, e0, src_ptr[b + 1], t_end)  # events up to t_end
        first = n_sp
        for c in range(c0, c1):
            j0, j1 = bounds[c], bounds[c + 1]
            w = j1 - j0
            width, origin = np.uint64(w), np.uint64(j0)
            ring[: n_ring * w] = 0.0
            _ring_rows(rows, n_ring, width)
            st = work[: n_vars * w].reshape((n_vars, w))
            st[:] = state[:, b, j0:j1]
            e = _carried(
                ring,
                slots,
                width,
                origin,
                src_time,
                src_unit,
                src_value,
                e0,
                e1,
                indptr,
                post,
                weight,
                delay,
                has_delay,
                offsets,
                bounds,
                c,
                own_time,
                own_unit,
                own_ptr[b],
                own_ptr[b + 1],
                rec_indptr,
                rec_post,
                rec_weight,
                rec_delay,
                rec_has_delay,
            )
            for t in range(t_end):
                slot0 = np.uint64(t % n_ring)
                e = _deliver(
                    ring, rows, slot0, origin, src_time, src_unit, src_value, e, e1, t,
                    indptr, post, weight, delay, has_delay, offsets, bounds, c, ahead, whole,
                )  # fmt: skip
                row = t % n_ring * w
                fired = neuron_step(code, consts, ring[row : row + w], bias[j0:j1], st, spiked[:w])
                if record:
                    v_seq[t, b, j0:j1] = st[0]
                if fired:
                    if n_sp + w > cap:
                        cap = max(2 * cap, n_sp + w)
                        s_time, s_unit = grow(s_time, cap), grow(s_unit, cap)
                    new = n_sp
                    for jj in range(w):  # listed without a branch: a branch per neuron cost ~4x the layer (measured)
                        s_time[n_sp], s_unit[n_sp] = t, j0 + jj
                        n_sp += spiked[jj]
                    if recurrent:
                        for q in range(new, n_sp):
                            j = s_unit[q]
                            _scatter_ring(
                                ring,
                                rows,
                                slot0 + np.uint64(1),
                                origin,
                                rec_post,
                                rec_weight,
                                rec_delay,
                                rec_has_delay,
                                one,
                                rec_indptr[j],
                                rec_indptr[j + 1],
                            )
            if record:
                for t in range(t_end, n_steps):
                    v_seq[t, b, j0:j1] = st[0]
            state[:, b, j0:j1] = st
        if c1 - c0 > 1:
            _sort_by_time(s_time, s_unit, first, n_sp, t_end)
        counts[b - s0] = n_sp - first
    return s_time[:n_sp], s_unit[:n_sp], counts


@njit(cache=True, nogil=True, inline="always")
def _deliver(
    ring,
    rows,
    slot0,
    origin,
    src_time,
    src_unit,
    src_value,
    e,
    e1,
    t,
    indptr,
    post,
    weight,
    delay,
    has_delay,
    offsets,
    bounds,
    c,
    ahead,
    whole,
):
    """Deliver the source events of step ``t`` from ``e`` on into the ring (`_scatter_ring`, ring rows from
    ``slot0``); returns the first event of a later step. ``whole``: one block, rows are not cut."""
    one = np.float32(1.0)
    while e < e1 and src_time[e] == t:
        if ahead and e + _PREFETCH_AHEAD < e1:
            i = src_unit[e + _PREFETCH_AHEAD]
            k0, k1 = (indptr[i], indptr[i + 1]) if whole else _segment(indptr, post, offsets, bounds, i, c)
            _prefetch_row(post, weight, delay, has_delay, k0, k1)
        i = src_unit[e]
        k0, k1 = (indptr[i], indptr[i + 1]) if whole else _segment(indptr, post, offsets, bounds, i, c)
        x = src_value[e] if src_value.shape[0] else one
        _scatter_ring(ring, rows, slot0, origin, post, weight, delay, has_delay, x, k0, k1)
        e += 1
    return e


@njit(cache=True, nogil=True)
def _carried(
    ring,
    n_ring,
    width,
    origin,
    src_time,
    src_unit,
    src_value,
    e,
    e1,
    indptr,
    post,
    weight,
    delay,
    has_delay,
    offsets,
    bounds,
    c,
    own_time,
    own_unit,
    o,
    o1,
    rec_indptr,
    rec_post,
    rec_weight,
    rec_delay,
    rec_has_delay,
):
    """Deliver the events of negative steps (in flight from an earlier run) whose arrival is at step 0 or later:
    step by step, the source events, then the layer's own spikes through the recurrent synapses (one step
    later). Returns the first source event at step 0 or later."""
    one = np.float32(1.0)
    while (e < e1 and src_time[e] < 0) or o < o1:
        t = min(src_time[e] if e < e1 and src_time[e] < 0 else 0, own_time[o] if o < o1 else 0)
        while e < e1 and src_time[e] == t:
            k0, k1 = _segment(indptr, post, offsets, bounds, src_unit[e], c)
            x = src_value[e] if src_value.shape[0] else one
            _scatter_late(ring, t, n_ring, width, origin, post, weight, delay, has_delay, x, k0, k1)
            e += 1
        while o < o1 and own_time[o] == t:
            u = own_unit[o]
            _scatter_late(
                ring,
                t + 1,
                n_ring,
                width,
                origin,
                rec_post,
                rec_weight,
                rec_delay,
                rec_has_delay,
                one,
                rec_indptr[u],
                rec_indptr[u + 1],
            )
            o += 1
    return e


@njit(cache=True, nogil=True, inline="always")
def _scatter_late(ring, t, n_ring, width, origin, post, weight, delay, has_delay, x, k0, k1):
    """`_scatter_ring` for a source at step ``t < n_ring`` steps before 0: only what arrives at step 0 or later."""
    for k in range(k0, k1):
        arrival = t + (np.int64(delay[k]) if has_delay else 0)
        if arrival >= 0:
            ring[np.uint64(arrival) % n_ring * width + np.uint64(post[k]) - origin] += weight[k] * x


@njit(cache=True, nogil=True)
def landed_synops(time, unit, lo, hi, indptr, delay, has_delay, max_delay):
    """How many deliveries of the events ``(time, unit)`` arrive at a step in ``[lo, hi)``."""
    total = 0
    for e in range(time.shape[0]):
        t, i = np.int64(time[e]), unit[e]
        k0, k1 = indptr[i], indptr[i + 1]
        if t >= lo and t + max_delay < hi:
            total += k1 - k0
        elif t + max_delay >= lo and t < hi:
            for k in range(k0, k1):
                arrival = t + (np.int64(delay[k]) if has_delay else 0)
                total += lo <= arrival < hi
    return total


@njit(cache=True, nogil=True, inline="always")
def _scatter_ring(ring, rows, slot, origin, post, weight, delay, has_delay, x, k0, k1):
    """``ring[rows[slot + d_k] + post_k - origin] += w_k · x`` for ``k`` in ``[k0, k1)``, in order, where
    ``rows[s]`` is the offset of ring row ``s mod n_ring`` (`_ring_rows`; ``slot + d_k < 2 n_ring``). A table,
    not a wrap test: whether a delay passes the ring's end is a coin toss per synapse, and the mispredicted
    branch cost more than the scatter (measured)."""
    k, k1 = np.uint64(k0), np.uint64(k1)
    if has_delay:
        while k < k1:
            ring[rows[slot + np.uint64(delay[k])] + np.uint64(post[k]) - origin] += weight[k] * x
            k += np.uint64(1)
    else:
        row = rows[slot] - origin
        while k < k1:
            ring[row + np.uint64(post[k])] += weight[k] * x
            k += np.uint64(1)


@njit(cache=True, nogil=True, inline="always")
def _ring_rows(rows, n_ring, width):
    """``rows[s]`` = offset of ring row ``s mod n_ring`` (rows of ``width``), for ``s`` in ``[0, 2 n_ring)``."""
    for s in range(rows.shape[0]):
        rows[s] = np.uint64(s % n_ring) * width


@njit(cache=True, nogil=True)
def _sort_by_time(time, unit, lo, hi, n_steps):
    """Stable counting sort of ``time[lo:hi]`` (``unit`` alongside), all in ``[0, n_steps)``."""
    pos = np.zeros(n_steps + 1, np.int64)
    for e in range(lo, hi):
        pos[time[e] + 1] += 1
    for t in range(n_steps):
        pos[t + 1] += pos[t]
    t_old, u_old = time[lo:hi].copy(), unit[lo:hi].copy()
    for e in range(hi - lo):
        p = lo + pos[t_old[e]]
        pos[t_old[e]] += 1
        time[p], unit[p] = t_old[e], u_old[e]


@njit(cache=True, nogil=True)
def grow(a, cap):
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


# ---------------------------------------------------------------------------------------------- sparse × dense
# Dense activations ``x [B, n_pre]`` through the synapses' weights: ``out[b, j] = Σ_{k: i→j} w_k · x[b, i]``.
# Both kernels add ``w_k · x[b, i]`` into ``out[b, j]`` over ascending ``k`` (the CSR order, so ascending
# presynaptic unit), as a float32 multiply then an add (never fused), exactly as `propagate_kernel` does: they
# agree bit for bit with it and with each other. Every output element is written by one thread, so the thread
# count changes nothing either.

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
        tile_d, xbuf_d, post_d, weight_d = (
            context.make_array(signature.args[i])(context, builder, v).data
            for i, v in ((1, tile_v), (3, xbuf_v), (5, post_v), (6, weight_v))
        )
        x = builder.load(builder.bitcast(builder.gep(xbuf_d, [x_off_v]), vec.as_pointer()), align=4)
        nonzero = builder.bitcast(builder.fcmp_unordered("!=", x, ir.Constant(vec, [0.0] * n)), ir.IntType(n))
        with builder.if_then(builder.icmp_unsigned("!=", nonzero, ir.Constant(ir.IntType(n), 0))):
            with cgutils.for_range_slice(builder, k0_v, k1_v, ir.Constant(_I64, 1)) as (k, _):
                j = builder.sext(builder.load(builder.gep(post_d, [k])), _I64)
                w = builder.insert_element(
                    ir.Constant(vec, ir.Undefined),
                    builder.load(builder.gep(weight_d, [k])),
                    ir.Constant(ir.IntType(32), 0),
                )
                w = builder.shuffle_vector(
                    w, ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n)
                )
                at = builder.gep(tile_d, [builder.add(tile_off_v, builder.mul(j, ir.Constant(_I64, n)))])
                ptr = builder.bitcast(at, vec.as_pointer())
                builder.store(builder.fadd(builder.load(ptr, align=4), builder.fmul(w, x)), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _dot_rows(typingctx, lanes, tile, tile_off, xbuf, pre, weight, k0, k1):
    """``tile[tile_off : +L] = Σ_k weight[k] · xbuf[pre[k]·L : +L]`` over ``k`` in ``[k0, k1)`` in order, from +0,
    the ``L = lanes`` sums held in SIMD registers (the gather twin of `_axpy_rows`: loads only, no stores)."""
    if not isinstance(lanes, types.IntegerLiteral):
        return None
    n = lanes.literal_value
    vec = ir.VectorType(ir.FloatType(), n)
    sig = types.void(lanes, tile, tile_off, xbuf, pre, weight, k0, k1)

    def codegen(context, builder, signature, args):
        _, tile_v, tile_off_v, xbuf_v, pre_v, weight_v, k0_v, k1_v = args
        tile_d, xbuf_d, pre_d, weight_d = (
            context.make_array(signature.args[i])(context, builder, v).data
            for i, v in ((1, tile_v), (3, xbuf_v), (4, pre_v), (5, weight_v))
        )
        acc = cgutils.alloca_once_value(builder, ir.Constant(vec, [0.0] * n))
        with cgutils.for_range_slice(builder, k0_v, k1_v, ir.Constant(_I64, 1)) as (k, _):
            i = builder.sext(builder.load(builder.gep(pre_d, [k])), _I64)
            w = builder.insert_element(
                ir.Constant(vec, ir.Undefined), builder.load(builder.gep(weight_d, [k])), ir.Constant(ir.IntType(32), 0)
            )
            w = builder.shuffle_vector(
                w, ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), n), [0] * n)
            )
            at = builder.bitcast(builder.gep(xbuf_d, [builder.mul(i, ir.Constant(_I64, n))]), vec.as_pointer())
            builder.store(builder.fadd(builder.load(acc), builder.fmul(w, builder.load(at, align=4))), acc)
        builder.store(builder.load(acc), builder.bitcast(builder.gep(tile_d, [tile_off_v]), vec.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def first_at_least(post, lo, hi, j):
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
        k0 = first_at_least(post, k0, k1, j0)
        k1 = first_at_least(post, k0, k1, j1)
    return k0, k1


@njit(cache=True, nogil=True, inline="always")
def _event_item(x, indptr, post, weight, n_blocks, out, item):
    """Event-driven, work item (sample, block of posts): every non-zero ``x[b, i]`` is scattered through the
    block's part of row ``i``, one synapse at a time. The non-zeros are listed first without a branch (a
    branch on each input mispredicts on a random half of them, ~5 ns each, more than the events cost)."""
    b, blk = item // n_blocks, item % n_blocks
    j0, j1 = _block(out.shape[1], n_blocks, blk)
    x_b, out_b = x[b], out[b]
    active = np.empty(x.shape[1], np.int64)
    n_active = 0
    for i in range(x.shape[1]):
        active[n_active] = i
        n_active += x_b[i] != 0
    for e in range(n_active):
        i = active[e]
        xi = x_b[i]
        k0, k1 = _row_part(indptr, post, i, n_blocks, j0, j1)
        for k in range(k0, k1):
            out_b[np.uint32(post[k])] += weight[k] * xi  # unsigned: no negative-index wraparound


@njit(cache=True, nogil=True, inline="always")
def _batched_item(x, indptr, post, weight, lanes, n_blocks, n_groups, out, item):
    """Batched (Elsen et al. 2020, "Fast Sparse ConvNets"), work item (tile of ``lanes`` = 8, 16 or 32 samples,
    group of blocks of posts): the tile is copied once to ``[n_pre, lanes]`` (zero-padded); for each block in
    turn, every synapse onto it is read once and applied to all the tile's samples, an accumulator
    ``[block posts, lanes]`` small enough to stay in cache sums them and is written back. A row's synapses onto
    consecutive blocks follow each other (rows are sorted by post), so a cursor per row walks them."""
    n_b, n_pre = x.shape
    t, g = item // n_groups, item % n_groups
    c0, c1 = _block(n_blocks, n_groups, g)
    b0 = t * lanes
    nb = min(lanes, n_b - b0)
    xbuf = _tile_of(x, b0, nb, lanes)
    n_post = out.shape[1]
    cursor = np.empty(n_pre, np.int64)
    first = _block(n_post, n_blocks, c0)[0]
    for i in range(n_pre):
        cursor[i] = first_at_least(post, indptr[i], indptr[i + 1], first)
    tile = np.empty(-(-n_post // n_blocks) * lanes, np.float32)
    for c in range(c0, c1):
        j0, j1 = _block(n_post, n_blocks, c)
        tile[: (j1 - j0) * lanes] = 0.0
        off = -j0 * lanes
        for i in range(n_pre):
            k0 = k1 = cursor[i]
            end = indptr[i + 1]
            while k1 < end and post[k1] < j1:
                k1 += 1
            cursor[i] = k1
            if k0 == k1:
                continue
            if lanes == 32:
                _axpy_rows(32, tile, off, xbuf, i * 32, post, weight, k0, k1)
            elif lanes == 16:
                _axpy_rows(16, tile, off, xbuf, i * 16, post, weight, k0, k1)
            else:
                _axpy_rows(8, tile, off, xbuf, i * 8, post, weight, k0, k1)
        for q0 in range(j0, j1, _TRANSPOSE):
            for lane in range(nb):
                for j in range(q0, min(q0 + _TRANSPOSE, j1)):
                    out[b0 + lane, j] = tile[(j - j0) * lanes + lane]


@njit(cache=True, nogil=True, inline="always")
def _tile_of(x, b0, nb, lanes):
    """Samples ``[b0, b0 + nb)`` of ``x`` as ``[n_pre, lanes]`` (zero-padded), transposed in squares so that
    reads and writes both stay in a few cache lines."""
    n_pre = x.shape[1]
    xbuf = np.zeros(n_pre * lanes, np.float32)
    for i0 in range(0, n_pre, _TRANSPOSE):
        for lane in range(nb):
            for i in range(i0, min(i0 + _TRANSPOSE, n_pre)):
                xbuf[i * lanes + lane] = x[b0 + lane, i]
    return xbuf


@njit(cache=True, nogil=True, inline="always")
def _gather_item(x, indptr, pre, weight, lanes, n_groups, out, item):
    """Gather (fan-in layout, `FanIn`), work item (tile of ``lanes`` = 1, 8, 16 or 32 samples, group of posts):
    each post's sums over its fan-in, ascending presynaptic unit, stay in registers and are written once; the
    weights are read once per tile, the inputs from a tile ``[n_pre, lanes]`` in cache. This is the kernel of
    Elsen et al. (2020, "Fast Sparse ConvNets"): a sparse weight row times a dense block of activations."""
    n_b = x.shape[0]
    t, g = item // n_groups, item % n_groups
    j0, j1 = _block(out.shape[1], n_groups, g)
    b0 = t * lanes
    if lanes == 1:
        x_b, out_b = x[b0], out[b0]
        for j in range(j0, j1):
            acc = np.float32(0.0)
            for k in range(indptr[j], indptr[j + 1]):
                acc += weight[k] * x_b[np.uint32(pre[k])]
            out_b[j] = acc
        return
    nb = min(lanes, n_b - b0)
    xbuf = _tile_of(x, b0, nb, lanes)
    tile = np.empty(_TRANSPOSE * lanes, np.float32)
    for q0 in range(j0, j1, _TRANSPOSE):
        q1 = min(q0 + _TRANSPOSE, j1)
        for j in range(q0, q1):
            k0, k1, off = indptr[j], indptr[j + 1], (j - q0) * lanes
            if lanes == 32:
                _dot_rows(32, tile, off, xbuf, pre, weight, k0, k1)
            elif lanes == 16:
                _dot_rows(16, tile, off, xbuf, pre, weight, k0, k1)
            else:
                _dot_rows(8, tile, off, xbuf, pre, weight, k0, k1)
        for lane in range(nb):
            for j in range(q0, q1):
                out[b0 + lane, j] = tile[(j - q0) * lanes + lane]


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
def batched_matmul_kernel(x, indptr, post, weight, lanes, n_blocks, n_groups, out):
    """`_batched_item` for every (tile, group of the ``n_blocks`` blocks), on all threads."""
    for item in prange((x.shape[0] + lanes - 1) // lanes * n_groups):
        _batched_item(x, indptr, post, weight, lanes, n_blocks, n_groups, out, item)


@njit(cache=True, nogil=True)
def batched_matmul_serial(x, indptr, post, weight, lanes, n_blocks, out):
    """`_batched_item` for every tile (all ``n_blocks`` blocks in one group), on the calling thread."""
    for item in range((x.shape[0] + lanes - 1) // lanes):
        _batched_item(x, indptr, post, weight, lanes, n_blocks, 1, out, item)


@njit(cache=True, nogil=True, parallel=True)
def gather_matmul_kernel(x, indptr, pre, weight, lanes, n_groups, out):
    """`_gather_item` for every (tile, group of posts), on all threads."""
    for item in prange((x.shape[0] + lanes - 1) // lanes * n_groups):
        _gather_item(x, indptr, pre, weight, lanes, n_groups, out, item)


@njit(cache=True, nogil=True)
def gather_matmul_serial(x, indptr, pre, weight, lanes, out):
    """`_gather_item` for every tile (all posts in one group), on the calling thread."""
    for item in range((x.shape[0] + lanes - 1) // lanes):
        _gather_item(x, indptr, pre, weight, lanes, 1, out, item)


@njit(cache=True, nogil=True)
def matmul_activity_kernel(x, indptr, work):
    """The work of each kernel, from one pass over ``x``: ``work[0]`` = non-zero inputs (events), ``work[1]`` =
    Σ events × fan-out, ``work[1 + r]`` (r = 1, 2, 3) = Σ fan-out over (tile of 8, 16, 32 samples, input
    non-zero in the tile) pairs, tile ``t`` of width L holding samples ``[t·L, t·L + L)``. ``work`` starts at 0."""
    n_b, n_pre = x.shape
    hit = np.zeros((3, n_pre), np.int64)  # non-zeros so far in the current 8-, 16- and 32-tile
    for b in range(n_b):
        row, h8 = x[b], hit[0]
        for i in range(n_pre):
            h8[i] += row[i] != 0
        for r in range(3):
            if b % (8 << r) == (8 << r) - 1 or b == n_b - 1:  # a tile of width 8·2^r ends at b
                h = hit[r]
                for i in range(n_pre):
                    fan = indptr[i + 1] - indptr[i]
                    work[2 + r] += fan * (h[i] > 0)
                    if r == 0:
                        work[0] += h[i]
                        work[1] += h[i] * fan
                    if r < 2:
                        hit[r + 1, i] += h[i]
                    h[i] = 0
