"""Monte Carlo experiments of Ahmad & Hawkins (2016), run on dendritic segments on the core.

Each function draws random SDRs and segments, counts detections with the event-driven
kernels, and returns a :class:`MonteCarlo` estimate to set beside the closed form of
:mod:`dendrites.theory` (same arguments, same meaning).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sdrnet.core.validation import check_int, check_rng
from sdrnet.sdr import SDRBatch

from .neuron import DendriticPopulation, overlap_histogram

__all__ = ["MonteCarlo", "simulate_false_match", "simulate_false_negative", "simulate_union_false_match"]


@dataclass(frozen=True)
class MonteCarlo:
    """``hits`` out of ``trials`` (segment × input pairs) for each threshold in ``thetas``."""

    thetas: np.ndarray
    hits: np.ndarray
    trials: int

    @property
    def rate(self) -> np.ndarray:
        return self.hits / self.trials

    def stderr(self, p=None) -> np.ndarray:
        """Binomial standard error ``sqrt(p (1 − p) / trials)``, at the estimate or at a given ``p``."""
        p = self.rate if p is None else np.asarray(p, dtype=float)
        return np.sqrt(p * (1 - p) / self.trials)


def simulate_false_match(
    n: int,
    a: int,
    s: int,
    thetas,
    rng: np.random.Generator,
    *,
    n_segments: int = 1000,
    n_inputs: int = 1000,
    batch: int = 1000,
) -> MonteCarlo:
    """Random segments of ``s`` synapses against random inputs of ``a`` of ``n`` cells.

    Estimates :func:`dendrites.theory.false_match` for every θ in ``thetas`` from one overlap
    histogram over ``n_segments × n_inputs`` pairs.
    """
    thetas = _thetas(thetas, s)
    rng = check_rng(rng)
    pop = DendriticPopulation.random(n, n_segments, rng, theta=int(thetas.min()), synapses_per_segment=s)
    hist = _histogram(pop, n, a, n_inputs, batch, rng)
    return MonteCarlo(thetas, _tail(hist, thetas), n_segments * n_inputs)


def simulate_false_negative(
    n: int, a: int, s: int, thetas, v: int, rng: np.random.Generator, *, n_segments: int = 500, n_trials: int = 100
) -> MonteCarlo:
    """Each of ``n_segments`` segments learns its own random pattern (``s`` of its ``a`` cells);
    every trial replaces ``v`` active cells of every pattern and counts the segments that miss.

    Estimates :func:`dendrites.theory.false_negative` (the setting of the paper's noise figure:
    n = 6000, a = 128, s = 30, 500 segments, θ = 8, 12, 16).
    """
    thetas = _thetas(thetas, s)
    rng = check_rng(rng)
    v, n_trials = check_int("v", v, 0), check_int("n_trials", n_trials, 1)
    if v > a:
        raise ValueError(f"v must be <= a={a}, got {v}")
    patterns = SDRBatch.random(n, a, check_int("n_segments", n_segments, 1), rng)
    pop = DendriticPopulation(n, n_segments, theta=int(thetas.min()), synapses_per_segment=s)
    for j, pattern in enumerate(patterns):
        pop.learn(pattern, rng, neuron=j)
    misses = np.zeros(thetas.shape[0], np.int64)
    own = np.arange(n_segments)
    for _ in range(n_trials):
        own_overlap = pop.segment_overlap(patterns.add_noise(v / a, rng))[own, own]
        misses += (own_overlap[None, :] < thetas[:, None]).sum(axis=1)
    return MonteCarlo(thetas, misses, n_segments * n_trials)


def simulate_union_false_match(
    n: int,
    a: int,
    s: int,
    thetas,
    M: int,
    rng: np.random.Generator,
    *,
    form: str = "synapses",
    n_segments: int = 200,
    n_inputs: int = 1000,
    batch: int = 1000,
) -> MonteCarlo:
    """False matches with unions (the paper's union property).

    ``form="synapses"``: every segment learns ``M`` random patterns (``s`` synapses each, grown
    onto the same segment) and is tested against random inputs of ``a`` cells.
    ``form="inputs"``: random segments of ``s`` synapses against unions of ``M`` random inputs.
    Compare with :func:`dendrites.theory.union_false_match` (``size="distribution"``).
    """
    thetas = _thetas(thetas, s)
    rng, M = check_rng(rng), check_int("M", M, 1)
    if form == "synapses":
        pop = DendriticPopulation(n, n_segments, theta=int(thetas.min()), synapses_per_segment=s)
        for j in range(check_int("n_segments", n_segments, 1)):
            segment = None
            for pattern in SDRBatch.random(n, max(a, s), M, rng):
                segment = pop.learn(pattern, rng, neuron=j, segment=segment)
        hist = _histogram(pop, n, a, n_inputs, batch, rng)
    elif form == "inputs":
        pop = DendriticPopulation.random(n, n_segments, rng, theta=int(thetas.min()), synapses_per_segment=s)
        n_inputs = check_int("n_inputs", n_inputs, 1)
        parts = SDRBatch.random(n, a, n_inputs * M, rng).dense.reshape(n_inputs, M, n)
        hist = overlap_histogram(SDRBatch.from_dense(parts.any(axis=1)), pop.synapses)
    else:
        raise ValueError(f"form must be 'synapses' or 'inputs', got {form!r}")
    return MonteCarlo(thetas, _tail(hist, thetas), n_segments * n_inputs)


def _thetas(thetas, s: int) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thetas))
    if t.dtype.kind not in "iu" or t.ndim != 1 or t.size == 0:
        raise TypeError(f"thetas must be an int or a 1-D sequence of ints, got {thetas!r}")
    if t.min() < 1 or t.max() > s:
        raise ValueError(f"thetas must lie in [1, s={s}], got {t.tolist()}")
    return t.astype(np.int64)


def _histogram(pop: DendriticPopulation, n: int, a: int, n_inputs: int, batch: int, rng) -> np.ndarray:
    """Overlap histogram of every segment of ``pop`` against ``n_inputs`` random inputs, in batches."""
    n_inputs, batch = check_int("n_inputs", n_inputs, 1), check_int("batch", batch, 1)
    return sum(
        overlap_histogram(SDRBatch.random(n, a, min(batch, n_inputs - start), rng), pop.synapses)
        for start in range(0, n_inputs, batch)
    )  # same segments each batch: same histogram length


def _tail(hist: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    tail = np.concatenate([np.cumsum(hist[::-1])[::-1], [0]])  # tail[c] = pairs with overlap >= c
    return tail[np.minimum(thetas, hist.shape[0])]
