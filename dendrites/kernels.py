"""Numba kernels for dendritic segments: threshold detection and overlap histograms.

Segments are the postsynaptic units of a ``Synapses`` matrix (CSR by input cell). Both
kernels count each segment's active synapses for one input at a time in a small scratch
array (uint8/uint32, one entry per segment, cache-resident), act on the counts, and clear
them: a memset when the input touched a good part of the segments, else only the entries it
touched. The cost is (active bits) × (fan-out per bit) and no [inputs × segments] matrix is
ever written. Plain-numpy references: ``tests/reference.py``.

Threads: each call handles inputs ``[s0, s1)`` and segments ``[j0, j1)`` (a row's synapses onto
them are contiguous, rows being sorted by segment), so calls on disjoint parts run at once
without sharing anything (``nogil``); their results do not depend on the split.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sdrnet.core.kernels import first_at_least, grow


@njit(cache=True, nogil=True, inline="always")
def _part(indptr, post, i, j0, j1, whole):
    """Synapses of row ``i`` onto segments ``[j0, j1)`` (the whole row when ``whole``)."""
    k0, k1 = indptr[i], indptr[i + 1]
    if whole:
        return k0, k1
    k0 = first_at_least(post, k0, k1, j0)
    return k0, first_at_least(post, k0, k1, j1)


@njit(cache=True, nogil=True, inline="always")
def _clear(counts, active, lo, hi, indptr, post, j0, j1, whole, touched, memset_ratio):
    """Zero the counts input ``active[lo:hi]`` raised: all at once when it touched a good part of them."""
    if memset_ratio * touched >= counts.shape[0]:
        counts[:] = 0
    else:
        for e in range(lo, hi):
            k0, k1 = _part(indptr, post, active[e], j0, j1, whole)
            for k in range(k0, k1):
                counts[post[k] - j0] = 0


@njit(cache=True, nogil=True)
def segment_matches_kernel(active, active_ptr, s0, s1, indptr, post, j0, j1, whole, theta, counts, seen):
    """Every (input ``b``, segment ``j``) of inputs ``[s0, s1)`` and segments ``[j0, j1)`` whose overlap
    reaches ``theta``, ordered by input then segment.

    ``whole``: ``[j0, j1)`` holds every segment. ``counts`` (``j1 - j0`` zeros) and ``seen`` (``-1`` per
    input cell) are scratch. Returns
    ``(sample, segment, bad)``: ``bad`` is the first input that lists an active cell twice, else -1.
    """
    cap, found = 1024, 0
    out_sample, out_segment = np.empty(cap, np.int64), np.empty(cap, np.int64)
    hits = np.empty(256, np.int64)
    for b in range(s0, s1):
        lo, hi = active_ptr[b], active_ptr[b + 1]
        touched = n_hits = 0
        for e in range(lo, hi):
            i = active[e]
            if seen[i] == b:
                return out_sample[:found], out_segment[:found], b
            seen[i] = b
            k0, k1 = _part(indptr, post, i, j0, j1, whole)
            touched += k1 - k0
            n_hits = _count_row(counts, post, k0, k1, j0, theta, hits, n_hits)
        if n_hits > hits.shape[0]:  # more hits than the buffer holds (rare): read them off the counts
            hits = np.empty(2 * n_hits, np.int64)
            n_hits = 0
            for j in range(counts.shape[0]):
                if counts[j] >= theta:
                    hits[n_hits] = j
                    n_hits += 1
        while found + n_hits > cap:
            cap *= 2
            out_sample, out_segment = grow(out_sample, cap), grow(out_segment, cap)
        out_sample[found : found + n_hits] = b
        out_segment[found : found + n_hits] = np.sort(hits[:n_hits]) + j0
        found += n_hits
        _clear(counts, active, lo, hi, indptr, post, j0, j1, whole, touched, 16)
    return out_sample[:found], out_segment[:found], -1


@njit(cache=True, nogil=True)
def _count_row(counts, post, k0, k1, j0, theta, hits, n_hits):
    """Add one active input's synapses ``k0:k1`` to the counts; note (while there is room) each segment that
    reaches ``theta``. A function of its own: with the growing output arrays in the same loop the count
    loop ran 6x slower."""
    for k in range(k0, k1):
        j = post[k] - j0
        c = counts[j] + 1
        counts[j] = c
        if c == theta:
            if n_hits < hits.shape[0]:
                hits[n_hits] = j
            n_hits += 1
    return n_hits


@njit(cache=True, nogil=True)
def overlap_histogram_kernel(active, active_ptr, s0, s1, indptr, post, j0, j1, whole, counts, seen, hist):
    """``hist[c] +=`` the number of (input, segment) pairs of inputs ``[s0, s1)`` and segments ``[j0, j1)``
    with overlap exactly ``c >= 1``. ``whole``, ``counts`` and ``seen`` as in `segment_matches_kernel`.

    Returns -1, or the first input ``b`` that lists an active cell twice.
    """
    n_segments = counts.shape[0]
    for b in range(s0, s1):
        lo, hi = active_ptr[b], active_ptr[b + 1]
        touched = 0
        for e in range(lo, hi):
            i = active[e]
            if seen[i] == b:
                return b
            seen[i] = b
            k0, k1 = _part(indptr, post, i, j0, j1, whole)
            touched += k1 - k0
            for k in range(k0, k1):
                counts[post[k] - j0] += 1
        if 4 * touched >= n_segments:  # scan every segment
            for j in range(n_segments):
                if counts[j] > 0:
                    hist[counts[j]] += 1
                    counts[j] = 0
        else:  # the first synapse to reach a segment reads its count, then clears it
            for e in range(lo, hi):
                k0, k1 = _part(indptr, post, active[e], j0, j1, whole)
                for k in range(k0, k1):
                    j = post[k] - j0
                    if counts[j] > 0:
                        hist[counts[j]] += 1
                        counts[j] = 0
    return -1
