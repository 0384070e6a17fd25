"""Numba kernels of Sparsey: learned binary synapses stored as growable rows, and the CSA over them.

A projection's learned synapses (weight 1) are kept by presynaptic unit: the cells that unit ``j``
connects to are ``store[start[j] : start[j] + length[j]]``, in a block of ``capacity[j]`` slots.
Single-trial learning appends to the rows; a full row moves to the end of ``store`` with twice the
room, so memory stays proportional to the learned synapses. :func:`code_kernel` runs the code
selection algorithm for a batch in one pass over the active inputs' rows; :func:`learn_kernel` does
it for one input and learns the code. Plain-numpy references: the steps of ``sdrnet.sparsey.csa``
and the per-cell loops of ``tests/test_sparsey.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, nogil=True)
def row_sums_kernel(active, active_ptr, start, length, store, out):
    """``out[b, i] += 1`` for every learned synapse ``j → i`` whose unit ``j`` is active in sample ``b``."""
    for b in range(active_ptr.shape[0] - 1):
        for e in range(active_ptr[b], active_ptr[b + 1]):
            j = active[e]
            for k in range(start[j], start[j] + length[j]):
                out[b, store[k]] += 1


@njit(cache=True, nogil=True)
def _extend(j, cells, extra, start, length, capacity, store, used):
    """Append ``cells`` to row ``j``; a row without room first moves to ``store[used:]`` with room for ``extra``
    more (and at least twice its capacity). Returns the new number of used slots."""
    n = cells.shape[0]
    if length[j] + n > capacity[j]:
        room = max(2 * capacity[j], length[j] + extra)
        for t in range(length[j]):
            store[used + t] = store[start[j] + t]
        start[j], capacity[j] = used, room
        used += room
    for t in range(n):
        store[start[j] + length[j] + t] = cells[t]
    length[j] += n
    return used


@njit(cache=True, nogil=True)
def compact_kernel(start, length, capacity, store, out):
    """Copy every row of ``store`` into ``out`` back to back, each keeping its capacity; returns the slots used."""
    used = 0
    for j in range(start.shape[0]):
        out[used : used + length[j]] = store[start[j] : start[j] + length[j]]
        start[j] = used
        used += capacity[j]
    return used


@njit(cache=True, nogil=True)
def grow_rows_kernel(active, winners, allowed, start, length, capacity, store, used, slot, new):
    """Add the synapses ``active[r] → winners[w]`` where ``allowed[r, w]`` and the synapse is not stored yet.

    ``slot`` (``[n_post]``, all −1) is scratch; ``new[w]`` counts the synapses added onto ``winners[w]``.
    ``store`` must have room for every row to move once; returns the new number of used slots.
    """
    n_win = winners.shape[0]
    for w in range(n_win):
        slot[winners[w]] = w
    present = np.zeros(n_win, np.bool_)
    for r in range(active.shape[0]):
        j = active[r]
        present[:] = False
        for k in range(start[j], start[j] + length[j]):
            w = slot[store[k]]
            if w >= 0:
                present[w] = True
        for w in range(n_win):
            if allowed[r, w] and not present[w]:
                used = _extend(j, winners[w : w + 1], n_win, start, length, capacity, store, used)
                new[w] += 1
    for w in range(n_win):
        slot[winners[w]] = -1
    return used


@njit(cache=True, nogil=True)
def _tally(b, active, active_ptr, start, length, store, field_ptr, field_mac, counts, n_active):
    """U sums ``counts[cell]`` and active inputs per mac field ``n_active[m]`` of sample ``b`` (steps 2–3)."""
    counts[:] = 0
    n_active[:] = 0
    for e in range(active_ptr[b], active_ptr[b + 1]):
        j = active[e]
        for k in range(start[j], start[j] + length[j]):
            counts[store[k]] += 1
        for k in range(field_ptr[j], field_ptr[j + 1]):
            n_active[field_mac[k]] += 1


@njit(cache=True, nogil=True)
def _choose(b, counts, n_active, K, h_factor, d_factor, params, uniforms, winners, familiarity, rivals):
    """Steps 1 and 3–8 of the CSA for sample ``b`` from its U sums; see :func:`code_kernel`."""
    u_exponent, active_min, active_max, familiarity_min = params[0], params[1], params[2], params[3]
    gamma, chi, slope, center = params[4], params[5], params[6], params[7]
    M, Q = winners.shape[1], winners.shape[2]
    plain = h_factor.shape[0] == 0 and d_factor.shape[0] == 0  # then V and μ depend on the U sum alone
    V, mu, full = np.empty((Q, K)), np.empty(K), np.empty(Q, np.int64)
    v_of, mu_of = np.empty(n_active.max() + 1), np.empty(n_active.max() + 1)
    for m in range(M):
        a = n_active[m]
        if a < active_min or a > active_max:
            winners[b, m, :] = -1
            continue
        for c in range(a + 1 if plain else 0):
            v_of[c] = c / a if u_exponent == 1.0 else (c / a) ** u_exponent
        total = 0.0
        for q in range(Q):  # steps 3–5, with the argmax and the fully matching cells of each CM
            best, w, full[q] = -1.0, 0, 0
            for k in range(K):
                cell = (m * Q + q) * K + k
                if plain:
                    v = v_of[counts[cell]]
                else:
                    v = min(counts[cell] / a, 1.0)
                    if u_exponent != 1.0:
                        v **= u_exponent
                    if h_factor.shape[0]:
                        v *= h_factor[b, cell]
                    if d_factor.shape[0]:
                        v *= d_factor[b, cell]
                V[q, k] = v
                if v > best:  # the first maximum, as np.argmax
                    best, w = v, k
                full[q] += v >= 1.0 - 1e-9
            winners[b, m, q] = w
            total += best
        G = total / Q
        familiarity[b, m] = G
        if uniforms.shape[0]:  # learning: steps 6–8, one winner drawn from ρ = μ / Σ μ per CM
            g = max(0.0, (G - familiarity_min) / (1.0 - familiarity_min))
            eta = 1.0 + g**gamma * chi * K
            for c in range(a + 1 if plain else 0):
                mu_of[c] = _mu(v_of[c], eta, slope, center)
            for q in range(Q):
                for k in range(K):
                    mu[k] = mu_of[counts[(m * Q + q) * K + k]] if plain else _mu(V[q, k], eta, slope, center)
                winners[b, m, q] = _draw(mu, uniforms[b, m, q])
        for q in range(Q):  # another cell matching the input fully: the code is not unique
            if full[q] - (V[q, winners[b, m, q]] >= 1.0 - 1e-9) > 0:
                rivals[b, m] += 1


@njit(cache=True, nogil=True)
def _mu(v, eta, slope, center):
    """Step 7: ``μ = 1 + (η − 1) / (1 + exp(−λ (V − v₀)))``; exactly 1 when η = 1 (no exp needed)."""
    if eta == 1.0:
        return 1.0
    return 1.0 + (eta - 1.0) / (1.0 + np.exp(min(700.0, max(-700.0, -slope * (v - center)))))


@njit(cache=True, nogil=True)
def _draw(mu, u):
    """Step 8: the first ``k`` whose cumulative ``ρ = μ / Σ μ`` exceeds ``u · Σ ρ`` (at most K − 1)."""
    s = 0.0
    for k in range(mu.shape[0]):
        s += mu[k]
    cum = np.empty(mu.shape[0])
    acc = 0.0
    for k in range(mu.shape[0]):
        acc += mu[k] / s
        cum[k] = acc
    r = u * cum[-1]
    w = 0
    while w < mu.shape[0] - 1 and cum[w] <= r:
        w += 1
    return w


@njit(cache=True, nogil=True)
def code_kernel(
    active,
    active_ptr,
    start,
    length,
    store,
    field_ptr,
    field_mac,
    K,
    h_factor,
    d_factor,
    params,
    uniforms,
    winners,
    familiarity,
    rivals,
):
    """The code selection algorithm of Sparsey for a batch, on the growable rows of the U synapses.

    Per sample ``b`` and mac ``m`` (``winners`` ``[B, M, Q]``, ``familiarity`` ``[B, M]`` and ``rivals``
    ``[B, M]`` zeroed by the caller): the raw U sums and the number ``a`` of active inputs in ``m``'s
    field (``field_ptr``/``field_mac``: the macs each input feeds), the gate ``π⁻ <= a <= π⁺`` (step 1,
    winners −1 where closed), ``V = min(1, u/a)^{e_U} · H^{e_H} · D^{e_D}`` (steps 3–4; ``h_factor``
    and ``d_factor`` ``[B, cells]`` hold ``H^{e_H}`` and ``D^{e_D}``, 1 where absent, or are empty), G (step 5),
    then per CM the winner: ``argmax V`` when ``uniforms`` is empty (recognition), else drawn from
    ρ = μ/Σμ with ``uniforms[b, m, q]`` (steps 6–8). ``rivals[b, m]`` counts the CMs where a cell
    besides the winner has V = 1. ``params`` = float64 [e_U, π⁻, π⁺, G⁻, γ, χ, λ, v₀].
    Plain-numpy steps: ``sdrnet.sparsey.csa``.
    """
    counts, n_active = np.empty(winners.shape[1] * winners.shape[2] * K, np.int32), np.empty(winners.shape[1], np.int64)
    for b in range(active_ptr.shape[0] - 1):
        _tally(b, active, active_ptr, start, length, store, field_ptr, field_mac, counts, n_active)
        _choose(b, counts, n_active, K, h_factor, d_factor, params, uniforms, winners, familiarity, rivals)


@njit(cache=True, nogil=True, parallel=True)
def code_kernel_parallel(
    active,
    active_ptr,
    start,
    length,
    store,
    field_ptr,
    field_mac,
    K,
    h_factor,
    d_factor,
    params,
    uniforms,
    winners,
    familiarity,
    rivals,
):
    """:func:`code_kernel` with the samples spread over numba's threads."""
    for b in prange(active_ptr.shape[0] - 1):
        counts, n_active = (
            np.empty(winners.shape[1] * winners.shape[2] * K, np.int32),
            np.empty(winners.shape[1], np.int64),
        )
        _tally(b, active, active_ptr, start, length, store, field_ptr, field_mac, counts, n_active)
        _choose(b, counts, n_active, K, h_factor, d_factor, params, uniforms, winners, familiarity, rivals)


@njit(cache=True, nogil=True)
def _popcount(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, nogil=True)
def learn_kernel(
    active,
    start,
    length,
    capacity,
    store,
    used,
    field_ptr,
    field_mac,
    K,
    h_factor,
    d_factor,
    params,
    uniforms,
    frozen,
    winners,
    familiarity,
    rivals,
    learned,
    collision_rate,
):
    """Learning mode on one input: :func:`code_kernel`, then single-trial learning of the U synapses.

    Every active input ``j`` connects to the winner of each CM of every mac that computed a code, is
    not ``frozen`` and has ``j`` in its field; ``learned[m]`` counts the synapses of mac ``m`` and
    ``collision_rate[m]`` follows the fraction of its CMs with a rival full match (running mean over
    about 32 learned codes: ``rate += (rivals / Q − rate) / 32``). The
    tally keeps, per cell, the set of active inputs it is connected to (bits of ``active``'s
    positions), so the missing synapses of a winner are known without a second pass over the rows.
    Returns the new number of used slots of ``store``, or ``−(room needed)`` without changing anything
    when ``store`` is too small.
    """
    M, Q = winners.shape[1], winners.shape[2]
    need = 0
    for j in active:
        need += max(2 * capacity[j], length[j] + Q * (field_ptr[j + 1] - field_ptr[j]))
    if used + need > store.shape[0]:
        return -need
    words = (active.shape[0] + 63) // 64
    linked = np.zeros((words, M * Q * K), np.uint64)  # bit r of linked[r // 64, cell]: active[r] → cell is stored
    counts, n_active = np.zeros(M * Q * K, np.int32), np.zeros(M, np.int64)
    for r in range(active.shape[0]):
        j, bit, bits = active[r], np.uint64(1) << np.uint64(r % 64), linked[r // 64]
        for k in range(start[j], start[j] + length[j]):
            bits[store[k]] |= bit
        for k in range(field_ptr[j], field_ptr[j + 1]):
            n_active[field_mac[k]] += 1
    for w in range(words):
        bits = linked[w]
        for cell in range(M * Q * K):
            counts[cell] += _popcount(bits[cell])
    _choose(0, counts, n_active, K, h_factor, d_factor, params, uniforms, winners, familiarity, rivals)
    learning = np.zeros(M, np.bool_)
    for m in range(M):
        learning[m] = winners[0, m, 0] >= 0 and not frozen[m]
        if learning[m]:
            collision_rate[m] += (rivals[0, m] / Q - collision_rate[m]) / 32
    pending = np.empty(Q * M, store.dtype)  # the cells one row gains
    for r in range(active.shape[0]):
        j, bit, bits = active[r], np.uint64(1) << np.uint64(r % 64), linked[r // 64]
        n_new = 0
        for f in range(field_ptr[j], field_ptr[j + 1]):
            m = field_mac[f]
            for q in range(Q if learning[m] else 0):
                cell = (m * Q + q) * K + winners[0, m, q]
                if not bits[cell] & bit:
                    pending[n_new] = cell
                    n_new += 1
                    learned[m] += 1
        if n_new:
            used = _extend(
                j, pending[:n_new], Q * (field_ptr[j + 1] - field_ptr[j]), start, length, capacity, store, used
            )
    return used
