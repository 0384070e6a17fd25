"""Neurons with active dendritic segments (Ahmad & Hawkins 2016), stored on the event-driven core.

A segment is a set of synapses onto input cells and fires (an NMDA spike) when at least θ
of them are active; a neuron responds when any of its segments fires. All segments of a
population are the postsynaptic units of one :class:`sdrnet.core.Synapses` matrix
(inputs → segments), so a segment's overlap with an input SDR is one event-driven pass
of the SDR's active bits (:func:`sdrnet.core.overlap`).
"""

from __future__ import annotations

import numpy as np

from sdrnet.core import Synapses, overlap
from sdrnet.core.ops import active_lists as index_lists
from sdrnet.core.parallel import get_num_threads, map_parts, parts
from sdrnet.core.synapses import fixed_partners
from sdrnet.core.validation import as_array, check_int, check_range, check_rng
from sdrnet.sdr import SDR, SDRBatch

from . import kernels

__all__ = ["DendriticPopulation", "DendriticNeuron", "segment_matches", "overlap_histogram", "active_lists"]


class DendriticPopulation:
    """``n_neurons`` neurons over ``n_inputs`` input cells, each with any number of segments.

    Parameters
    ----------
    n_inputs : int
        Size ``n`` of the input population (the SDR size).
    n_neurons : int
    theta : int
        NMDA threshold θ: a segment fires when ``overlap >= theta``.
    synapses_per_segment : int
        ``s``, the synapses a segment grows when it learns a pattern (``theta <= s``).

    Attributes
    ----------
    segment_neuron_ : int64 [n_segments], the neuron that owns each segment
    """

    def __init__(self, n_inputs: int, n_neurons: int = 1, *, theta: int, synapses_per_segment: int):
        self.n_inputs = check_int("n_inputs", n_inputs, 1)
        self.n_neurons = check_int("n_neurons", n_neurons, 1)
        self.synapses_per_segment = check_int("synapses_per_segment", synapses_per_segment, 1)
        self.theta = check_int("theta", theta, 1)
        if self.theta > self.synapses_per_segment:
            raise ValueError(f"theta must be <= synapses_per_segment ({self.synapses_per_segment}), got {self.theta}")
        if self.synapses_per_segment > self.n_inputs:
            raise ValueError(f"synapses_per_segment must be <= n_inputs ({self.n_inputs}), got {synapses_per_segment}")
        self.segment_neuron_ = np.zeros(0, np.int64)
        self._presyn: list[np.ndarray] = []
        self._synapses: tuple[Synapses, int] | None = None

    @property
    def n_segments(self) -> int:
        return len(self._presyn)

    @property
    def synapses(self) -> Synapses:
        """All segments as one ``Synapses`` matrix, inputs → segments (built on demand)."""
        return self._built()[0]

    def _built(self) -> tuple[Synapses, int]:
        """The synapse matrix and the largest segment's size, built once per change of the segments."""
        if self._synapses is None:
            sizes = [len(p) for p in self._presyn]
            pre = np.concatenate(self._presyn) if self._presyn else np.zeros(0, np.int64)
            post = np.repeat(np.arange(self.n_segments), sizes)
            syn = Synapses.from_edges(pre, post, n_pre=self.n_inputs, n_post=max(self.n_segments, 1))
            self._synapses = syn, max(sizes, default=0)
        return self._synapses

    def segment_synapses(self, segment: int) -> np.ndarray:
        """Sorted input cells that segment ``segment`` has synapses onto."""
        return self._presyn[check_int("segment", segment, 0)].copy()

    def learn(self, pattern, rng: np.random.Generator, *, neuron: int = 0, segment: int | None = None) -> int:
        """Learn ``pattern`` by growing ``s`` synapses onto a random subsample of its active cells.

        With ``segment=None`` a new segment of ``neuron`` is grown; with an existing ``segment``
        the new synapses join it (a segment storing a union of patterns, Ahmad & Hawkins 2016).
        Returns the segment index.
        """
        active = self._one_input(pattern)
        rng = check_rng(rng)
        if active.shape[0] < self.synapses_per_segment:
            raise ValueError(
                f"pattern has {active.shape[0]} active cells; a segment needs at least "
                f"synapses_per_segment={self.synapses_per_segment}"
            )
        grown = rng.choice(active, self.synapses_per_segment, replace=False)
        if segment is None:
            return self.add_segments(grown[None, :], neuron=neuron)[0]
        segment = check_int("segment", segment, 0)
        if segment >= self.n_segments:
            raise ValueError(f"segment must be < n_segments={self.n_segments}, got {segment}")
        self._presyn[segment] = np.union1d(self._presyn[segment], grown)
        self._synapses = None
        return segment

    def add_segments(self, presyn, *, neuron=0) -> np.ndarray:
        """Add segments with the given synapses: ``presyn`` int ``[k, m]`` or a list of k int arrays.

        ``neuron`` (an int or ``k`` ints) owns them. Returns the new segment indices.
        """
        if isinstance(presyn, np.ndarray) and presyn.ndim == 2:
            rows = np.sort(as_array("presyn", presyn, kind="i"), axis=1).astype(np.int64)
        else:
            rows = [
                np.sort(as_array(f"presyn[{r}]", p, kind="i", ndim=1)).astype(np.int64) for r, p in enumerate(presyn)
            ]
        for p in rows if isinstance(rows, list) else [rows]:
            check_range("presyn", p, 0, self.n_inputs)
            if np.any(np.diff(p, axis=-1) == 0):
                raise ValueError("presyn repeats an input cell within a segment; a segment has one synapse per cell")
        owner = np.broadcast_to(as_array("neuron", neuron, kind="i"), (len(rows),))
        check_range("neuron", owner, 0, self.n_neurons)
        first = self.n_segments
        self._presyn.extend(rows)
        self.segment_neuron_ = np.concatenate([self.segment_neuron_, owner.astype(np.int64)])
        self._synapses = None
        return np.arange(first, self.n_segments)

    @classmethod
    def random(
        cls, n_inputs: int, n_segments: int, rng: np.random.Generator, *, theta: int, synapses_per_segment: int
    ) -> DendriticPopulation:
        """One neuron per segment, each segment on ``s`` distinct input cells drawn uniformly.

        The same distribution as segments that each learned a different random pattern.
        """
        pop = cls(
            n_inputs, check_int("n_segments", n_segments, 1), theta=theta, synapses_per_segment=synapses_per_segment
        )
        cells, _ = fixed_partners(
            n_inputs, n_segments, synapses_per_segment, rng, ("synapses_per_segment", "n_inputs", "n_segments")
        )
        pop.add_segments(cells.reshape(n_segments, synapses_per_segment), neuron=np.arange(n_segments))
        return pop

    def segment_overlap(self, inputs) -> np.ndarray:
        """Active synapses per segment, int32 ``[B, n_segments]`` (``[n_segments]`` for one input)."""
        indices, ptr, single = self._inputs(inputs)
        counts = overlap([indices[ptr[b] : ptr[b + 1]] for b in range(ptr.shape[0] - 1)], self.synapses)
        counts = counts[:, : self.n_segments]
        return counts[0] if single else counts

    def active_segments(self, inputs) -> tuple[np.ndarray, np.ndarray]:
        """``(input, segment)`` index pairs of every segment at or above θ, ordered by input."""
        indices, ptr, _ = self._inputs(inputs)
        return _matches(indices, ptr, *self._built(), self.theta)

    def respond(self, inputs) -> np.ndarray:
        """bool ``[B, n_neurons]`` (``[n_neurons]`` for one input): does any segment of the neuron fire?"""
        indices, ptr, single = self._inputs(inputs)
        sample, segment = _matches(indices, ptr, *self._built(), self.theta)
        out = np.zeros((ptr.shape[0] - 1, self.n_neurons), bool)
        out[sample, self.segment_neuron_[segment]] = True
        return out[0] if single else out

    # ------------------------------------------------------------------ inputs
    def _one_input(self, pattern) -> np.ndarray:
        indices, ptr, single = self._inputs(pattern)
        if not single:
            raise ValueError(f"pattern must be one SDR (or 1-D active indices), got {ptr.shape[0] - 1} inputs")
        return indices

    def _inputs(self, inputs) -> tuple[np.ndarray, np.ndarray, bool]:
        return active_lists(inputs, self.n_inputs)


class DendriticNeuron(DendriticPopulation):
    """One neuron with many dendritic segments; :meth:`respond` returns bool ``[B]`` (or a bool)."""

    def __init__(self, n_inputs: int, *, theta: int, synapses_per_segment: int):
        super().__init__(n_inputs, 1, theta=theta, synapses_per_segment=synapses_per_segment)

    def respond(self, inputs):
        out = super().respond(inputs)[..., 0]
        return bool(out) if out.ndim == 0 else out


def active_lists(inputs, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Inputs as CSR active lists ``(indices, ptr, single)``, checked against size ``n``.

    Accepts an ``SDR`` (single), an ``SDRBatch``, 1-D active indices (single), a 2-D
    ``[B, a]`` index array or a sequence of 1-D index arrays.
    """
    if isinstance(inputs, (SDR, SDRBatch)):
        if inputs.n != n:
            raise ValueError(f"inputs have size n={inputs.n}, expected n={n}")
        if isinstance(inputs, SDR):
            return inputs.sparse, np.array([0, inputs.n_active], np.int64), True
        return inputs.indices, inputs.indptr, False
    single = (
        isinstance(inputs, np.ndarray)
        and inputs.ndim == 1
        or (not isinstance(inputs, np.ndarray) and len(inputs) > 0 and np.isscalar(inputs[0]))
    )
    indices, ptr = index_lists([inputs] if single else inputs)
    check_range("inputs", indices, 0, n)
    return indices, ptr, single


def segment_matches(inputs, synapses: Synapses, theta: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, segment) pair whose overlap reaches θ, without forming the overlap matrix.

    ``inputs`` as for :func:`active_lists`; segments are the postsynaptic units of
    ``synapses``. Returns int64 arrays ``(input, segment)``, ordered by input.
    """
    indices, ptr, _ = active_lists(inputs, _check_synapses(synapses).n_pre)
    return _matches(indices, ptr, synapses, _max_fan_in(synapses), check_int("theta", theta, 1))


def overlap_histogram(inputs, synapses: Synapses) -> np.ndarray:
    """``hist[c]`` = number of (input, segment) pairs with overlap exactly ``c``, int64 ``[max fan-in + 1]``.

    Gives the false-match rate for every θ at once: ``P(overlap >= θ) = hist[θ:].sum() / hist.sum()``.
    """
    indices, ptr, _ = active_lists(inputs, _check_synapses(synapses).n_pre)
    max_fan_in = _max_fan_in(synapses)
    split, _ = _parts(indices, ptr, synapses)

    def part(p):
        s0, s1, j0, j1 = split[p]
        counts, seen = _scratch(synapses, j1 - j0, max_fan_in)
        hist = np.zeros(max_fan_in + 1, np.int64)
        bad = kernels.overlap_histogram_kernel(
            indices, ptr, s0, s1, synapses.indptr, synapses.post, j0, j1, j1 - j0 == synapses.n_post, counts, seen, hist
        )
        return bad, hist

    results = map_parts(part, len(split))
    _check_repeats([bad for bad, _ in results])
    hist = np.sum([h for _, h in results], axis=0)
    hist[0] = (ptr.shape[0] - 1) * synapses.n_post - hist[1:].sum()
    return hist


def _matches(indices, ptr, synapses: Synapses, max_fan_in: int, theta: int) -> tuple[np.ndarray, np.ndarray]:
    split, by_segment = _parts(indices, ptr, synapses)

    def part(p):
        s0, s1, j0, j1 = split[p]
        counts, seen = _scratch(synapses, j1 - j0, max_fan_in)
        return kernels.segment_matches_kernel(
            indices,
            ptr,
            s0,
            s1,
            synapses.indptr,
            synapses.post,
            j0,
            j1,
            j1 - j0 == synapses.n_post,
            theta,
            counts,
            seen,
        )

    results = map_parts(part, len(split))
    _check_repeats([bad for _, _, bad in results])
    sample = np.concatenate([r[0] for r in results])
    segment = np.concatenate([r[1] for r in results])
    if by_segment:  # each part holds its segments of every input
        order = np.lexsort((segment, sample))
        sample, segment = sample[order], segment[order]
    return sample, segment


def _parts(indices, ptr, synapses: Synapses):
    """Inputs × segments in parts for the threads (`sdrnet.core.parallel.parts`)."""
    work = int(synapses.fan_out()[indices].sum()) if indices.size else 0
    return parts(ptr.shape[0] - 1, synapses, work, get_num_threads())


def _check_repeats(bad: list[int]) -> None:
    bad = [b for b in bad if b >= 0]
    if bad:
        raise ValueError(f"input {min(bad)} repeats an active cell; an SDR lists each active cell once")


def _check_synapses(synapses) -> Synapses:
    if not isinstance(synapses, Synapses):
        raise TypeError(f"synapses must be Synapses, got {type(synapses).__name__}")
    return synapses


def _max_fan_in(synapses: Synapses) -> int:
    return int(np.bincount(synapses.post, minlength=synapses.n_post).max(initial=0))


def _scratch(synapses: Synapses, n_segments: int, max_fan_in: int) -> tuple[np.ndarray, np.ndarray]:
    """Counters for ``n_segments`` segments (uint8 when every segment has <= 255 synapses) and per-input repeat marks."""
    dtype = np.uint8 if max_fan_in <= np.iinfo(np.uint8).max else np.uint32
    return np.zeros(n_segments, dtype), np.full(synapses.n_pre, -1, np.int64)
