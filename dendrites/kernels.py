"""Numba kernels for dendritic segments: threshold detection and overlap histograms.

Segments are the postsynaptic units of a ``Synapses`` matrix (CSR by input cell). Both
kernels count each segment's active synapses for one input at a time in a small scratch
array (uint8/uint32, one entry per segment, cache-resident), act on the counts, and clear
them: a memset when the input touched a good part of the segments, else only the entries it
touched. The cost is (active bits) × (fan-out per bit) and no [inputs × segments] matrix is
ever written. Plain-numpy references: ``tests/reference.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def segment_matches_kernel(active, active_ptr, indptr, post, theta, counts, seen, out_sample, out_segment):
    """Record every (input b, segment j) whose overlap reaches ``theta``.

    Writes the first ``len(out_sample)`` matches, ordered by input, and returns the total
    number of matches (the caller retries with more room when it is larger), or
    ``-(b + 1)`` when input ``b`` lists an active cell twice.
    """
    cap = out_sample.shape[0]
    found = 0
    for b in range(active_ptr.shape[0] - 1):
        touched = 0
        for e in range(active_ptr[b], active_ptr[b + 1]):
            i = active[e]
            if seen[i] == b:
                return -(b + 1)
            seen[i] = b
            touched += indptr[i + 1] - indptr[i]
            for k in range(indptr[i], indptr[i + 1]):
                j = post[k]
                c = counts[j] + 1
                counts[j] = c
                if c == theta:
                    if found < cap:
                        out_sample[found] = b
                        out_segment[found] = j
                    found += 1
        if 16 * touched >= counts.shape[0]:  # a memset of the whole array is cheaper
            counts[:] = 0
        else:
            for e in range(active_ptr[b], active_ptr[b + 1]):
                i = active[e]
                for k in range(indptr[i], indptr[i + 1]):
                    counts[post[k]] = 0
    return found


@njit(cache=True, nogil=True)
def overlap_histogram_kernel(active, active_ptr, indptr, post, counts, seen, hist):
    """``hist[c] +=`` the number of (input, segment) pairs with overlap exactly ``c >= 1``.

    Returns -1, or ``b`` when input ``b`` lists an active cell twice.
    """
    n_segments = counts.shape[0]
    for b in range(active_ptr.shape[0] - 1):
        lo, hi = active_ptr[b], active_ptr[b + 1]
        touched = 0
        for e in range(lo, hi):
            i = active[e]
            if seen[i] == b:
                return b
            seen[i] = b
            touched += indptr[i + 1] - indptr[i]
            for k in range(indptr[i], indptr[i + 1]):
                counts[post[k]] += 1
        if 4 * touched >= n_segments:  # scan every segment
            for j in range(n_segments):
                if counts[j] > 0:
                    hist[counts[j]] += 1
                    counts[j] = 0
        else:  # the first synapse to reach a segment reads its count, then clears it
            for e in range(lo, hi):
                i = active[e]
                for k in range(indptr[i], indptr[i + 1]):
                    j = post[k]
                    if counts[j] > 0:
                        hist[counts[j]] += 1
                        counts[j] = 0
    return -1
