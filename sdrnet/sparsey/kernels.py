"""Numba kernels for Sparsey's learned binary synapses, stored as growable rows.

A projection's learned synapses (weight 1) are kept by presynaptic unit: the cells that unit ``j``
connects to are ``store[start[j] : start[j] + length[j]]``, in a block of ``capacity[j]`` slots.
Single-trial learning appends to the rows; a full row moves to the end of ``store`` with twice the
room, so a learning step costs (active units) × (their row lengths + the winners), like a sum, and
memory stays proportional to the learned synapses. Plain-numpy references: ``tests/test_sparsey.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def row_sums_kernel(active, active_ptr, start, length, store, out):
    """``out[b, i] += 1`` for every learned synapse ``j → i`` whose unit ``j`` is active in sample ``b``."""
    for b in range(active_ptr.shape[0] - 1):
        for e in range(active_ptr[b], active_ptr[b + 1]):
            j = active[e]
            for k in range(start[j], start[j] + length[j]):
                out[b, store[k]] += 1


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
            if not allowed[r, w] or present[w]:
                continue
            if length[j] == capacity[j]:
                room = max(2 * capacity[j], length[j] + n_win)
                store[used:used + length[j]] = store[start[j]:start[j] + length[j]]
                start[j], capacity[j] = used, room
                used += room
            store[start[j] + length[j]] = winners[w]
            length[j] += 1
            new[w] += 1
    for w in range(n_win):
        slot[winners[w]] = -1
    return used
