"""Uniform random subsets, many rows at once, in memory proportional to the subsets drawn."""

from __future__ import annotations

import numpy as np


def sample_rows(m: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each row ``b``, a uniformly random ``k[b]``-subset of ``range(m[b])``, sorted; rows concatenated.

    Memory and time are O(Σ k) (plus a sort), never O(Σ m): a row with ``2k > m`` draws the
    ``m − k`` values it leaves out instead, so no row holds more than twice its output.
    Rows are independent. Each row's draw treats every value alike (a relabelling of
    ``range(m)`` maps the procedure onto itself), so every k-subset is equally likely.
    """
    m, k = np.asarray(m, np.int64), np.asarray(k, np.int64)
    dense = 2 * k > m
    if not dense.any():
        return _distinct_rows(m, k, rng)
    left_out = _distinct_rows(m[dense], m[dense] - k[dense], rng)
    kept = np.ones(int(m[dense].sum()), bool)
    start = np.concatenate([[0], np.cumsum(m[dense])[:-1]])
    kept[np.repeat(start, m[dense] - k[dense]) + left_out] = False
    flat = np.flatnonzero(kept)
    dense_rows = np.flatnonzero(dense)
    dense_values = flat - np.repeat(start, k[dense])
    sparse_values = _distinct_rows(m[~dense], k[~dense], rng)
    rows = np.concatenate([np.repeat(np.flatnonzero(~dense), k[~dense]), np.repeat(dense_rows, k[dense])])
    values = np.concatenate([sparse_values, dense_values])
    return values[np.argsort(rows, kind="stable")]


def _distinct_rows(m: np.ndarray, k: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``k[b]`` distinct uniform values of ``range(m[b])`` per row (``2k <= m``), sorted, rows concatenated.

    Draw with replacement, keep the distinct values, redraw what repeated, until none repeats:
    with ``2k <= m`` a redraw repeats with probability below 1/2, so few rounds are needed.
    Values live in one key space, row ``b`` at offset ``m[0] + … + m[b−1]``.
    """
    if m.size and int(m.max()) * m.size >= 2**63:
        raise ValueError(f"rows x row length ({m.size} x {int(m.max())}) must be < 2**63")
    start = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)
    rows = np.repeat(np.arange(m.size), k)
    keys = np.sort(start[rows] + rng.integers(0, m[rows]))
    while True:
        repeat = np.flatnonzero(keys[1:] == keys[:-1]) + 1
        if repeat.size == 0:
            break
        row = np.searchsorted(start, keys[repeat], side="right") - 1
        keys = np.delete(keys, repeat)
        fresh = np.sort(start[row] + rng.integers(0, m[row]))
        keys = np.insert(keys, np.searchsorted(keys, fresh), fresh)
    return keys - start[rows]
