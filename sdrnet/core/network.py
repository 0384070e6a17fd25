"""`Network`: an event-driven simulator of LIF layers connected by `Synapses` (a stand-in for a neuromorphic chip)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import kernels
from .validation import as_array, check_int, frozen
from .parallel import block_plan, cache_blocks, get_num_threads, map_parts, split
from .events import Events
from .neurons import LIFParams
from .synapses import Synapses

__all__ = ["LIFParams", "Layer", "Network", "RunResult"]


@dataclass(frozen=True, eq=False)
class Layer:
    """A population of LIF neurons and the synapses that feed it (immutable, like its parts).

    ``synapses`` come from the previous layer (or the network input) with their delays;
    ``recurrent`` (optional, ``n x n``) come from this layer itself and arrive one step later
    than their delay says (a spike at ``t`` acts at ``t + 1 + d``, as in a recurrent layer
    that reads the previous step's spikes). ``bias`` is a constant input added every step
    (a scalar or one value per neuron), e.g. a folded BatchNorm.

    ``tail`` (optional) ends the layer like a zero-padded convolution over time ends: the layer
    runs ``tail`` steps past the end of its input (the previous layer's last step, or the input
    events' ``n_steps`` for the first layer) and is silent afterwards. ``None`` (default): the
    layer runs for every simulated step.

    A `Network` compiles its layers once, so a layer cannot change afterwards: fields cannot be
    reassigned and an array ``bias`` is kept as a read-only copy. Build a changed layer with
    ``dataclasses.replace(layer, bias=...)`` and a new `Network` from it.
    """

    synapses: Synapses
    neuron: LIFParams = field(default_factory=LIFParams)
    recurrent: Synapses | None = None
    bias: float | np.ndarray = 0.0
    tail: int | None = None

    def __post_init__(self):
        if not np.isscalar(self.bias):
            bias = as_array("bias", self.bias, kind="f")
            object.__setattr__(self, "bias", frozen(bias, bias.dtype).reshape(bias.shape))

    @property
    def n(self) -> int:
        return self.synapses.n_post


class RunResult(NamedTuple):
    """What `Network.run` returns.

    spikes : Events of the last layer;  layer_spikes : Events of every layer;
    v : final membrane potential per layer, float32 ``[B, n_l]``;
    synops : synaptic operations (events × fan-out) delivered into each layer, int64 ``[L]``;
    v_seq : the last layer's membrane potential at every step ``[T, B, n_out]`` if asked for.
    """

    spikes: Events
    layer_spikes: list[Events]
    v: list[np.ndarray]
    synops: np.ndarray
    v_seq: np.ndarray | None


class Network:
    """Layers of LIF neurons run event-driven, step by step, with per-synapse delays.

    Each step: input events are delivered through the first layer's synapses; then each
    layer reads its input current from a ring buffer of ``max delay + 1`` steps, updates
    its neurons (`LIFParams`) and sends its spikes through its outgoing synapses. Only
    events do work, so the cost is (events × fan-out), counted in ``RunResult.synops``.
    `run` computes exactly this, layer by layer and on several threads.
    """

    def __init__(self, layers: Sequence[Layer]):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one Layer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a Layer, got {type(layer).__name__}")
            if not isinstance(layer.synapses, Synapses):
                raise TypeError(f"layers[{i}].synapses must be Synapses, got {type(layer.synapses).__name__}")
            if i and layer.synapses.n_pre != layers[i - 1].n:
                raise ValueError(f"layers[{i}].synapses.n_pre ({layer.synapses.n_pre}) must equal the size of "
                                 f"layers[{i - 1}] ({layers[i - 1].n})")
            rec = layer.recurrent
            if rec is not None and (rec.n_pre, rec.n_post) != (layer.n, layer.n):
                raise ValueError(f"layers[{i}].recurrent must be {layer.n} x {layer.n}, got {rec.n_pre} x {rec.n_post}")
            if layer.tail is not None:
                check_int(f"layers[{i}].tail", layer.tail, 0)
            bias = as_array(f"layers[{i}].bias", layer.bias, kind="f")
            if bias.ndim > 1 or (bias.ndim == 1 and bias.shape[0] != layer.n):
                raise ValueError(f"layers[{i}].bias must be a scalar or have shape ({layer.n},), got {bias.shape}")
        self.layers = tuple(layers)  # a list could shrink under the compiled arrays the kernel indexes
        self._compiled = _flatten(layers)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].synapses.n_pre

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n

    def run(self, events: Events, n_steps: int | None = None, record_v: bool = False) -> RunResult:
        """Simulate every sample of ``events`` for ``n_steps`` steps (default ``events.n_steps``).

        Spikes whose delays carry them past the last step are not delivered; pass a larger
        ``n_steps`` to let them arrive. The default adds the layers' tails (`Layer.tail`) to
        ``events.n_steps``. Membrane potentials start at ``v_reset`` (0 for soft reset).

        Layer by layer: a layer's input (the network input, or the spikes of the layer before) is
        complete before it runs, so each layer runs its whole time loop at once, in blocks of neurons
        whose ring buffer fits the cache (a recurrent layer in one block), on `get_num_threads`
        threads split over samples (or over blocks, for fewer samples than threads). Every ring cell
        sums its inputs in the order of a step-by-step simulation of the whole network (by the
        source's step; within a step the input, then the layers in order, each by unit), so the
        result is that simulation's, bit for bit, for every thread count and block size.
        """
        if not isinstance(events, Events):
            raise TypeError(f"events must be Events, got {type(events).__name__}")
        if events.n_units != self.n_inputs:
            raise ValueError(f"events.n_units ({events.n_units}) must equal the network's inputs ({self.n_inputs})")
        tails = [layer.tail or 0 for layer in self.layers]
        n_steps = events.n_steps + sum(tails) if n_steps is None else check_int("n_steps", n_steps, 0)
        stop, end = [], events.n_steps
        for layer in self.layers:
            end = n_steps if layer.tail is None else end + layer.tail
            stop.append(min(end, n_steps))
        threads = get_num_threads()
        n_b = events.n_samples
        v_seq = np.empty((n_steps, n_b, self.n_outputs), np.float32) if record_v else _NO_V_SEQ
        src = (events.time, events.unit, events.value, events.sample_ptr)
        layer_spikes, v_layers = [], []
        synops = np.zeros(len(self.layers), np.int64)
        for i, plan in enumerate(self._compiled):
            synops[i] = plan.fan_out[src[1][src[0] < n_steps]].sum()
            v = np.empty((n_b, plan.n), np.float32)
            last = i == len(self.layers) - 1
            s_time, s_unit, ptr = plan.run(src, n_steps, stop[i], v, v_seq if last else _NO_V_SEQ, threads)
            if plan.rec_fan_out is not None:
                synops[i] += plan.rec_fan_out[s_unit].sum()
            spikes = Events(s_time, s_unit, None, ptr, n_steps=n_steps, n_units=plan.n, dt=events.dt)
            layer_spikes.append(spikes)
            v_layers.append(v)
            src = (spikes.time, spikes.unit, _UNIT_VALUES, spikes.sample_ptr)
        return RunResult(layer_spikes[-1], layer_spikes, v_layers, synops, v_seq if record_v else None)

    def __repr__(self) -> str:
        sizes = " -> ".join([str(self.n_inputs)] + [str(layer.n) for layer in self.layers])
        return f"Network({sizes}, synapses={sum(layer.synapses.nnz for layer in self.layers)})"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)  # typed as the layers' read-only arrays are, so the kernel compiles once for both
    return a


_NO_V_SEQ = np.zeros((0, 0, 0), np.float32)
_UNIT_VALUES = _readonly(np.zeros(0, np.float32))  # source events without values: every spike is 1
_NO_ROWS = (_readonly(np.zeros(1, np.int64)), _readonly(np.zeros(0, np.int32)), _readonly(np.zeros(0, np.float32)),
            _readonly(np.zeros(0, np.uint8)), False)
_MAX_RING_BYTES = 1 << 30  # a recurrent layer's ring buffer (one per thread) may not exceed this
_MAX_SLICE_BYTES = 16 << 20  # a feed-forward layer is split into blocks until each block's ring is at most this


class _LayerPlan:
    """One layer as `kernels.layer_kernel` reads it: the layer's own arrays (no copies), its LIF
    constants in float32, its ring size and its blocks of neurons (planned once per block count)."""

    def __init__(self, i: int, layer: Layer):
        syn, rec = layer.synapses, layer.recurrent
        p = layer.neuron
        self.n = n = layer.n
        self.synapses = syn
        self.rows = _rows(syn)
        self.rec_rows = _NO_ROWS if rec is None else _rows(rec)
        self.fan_out = syn.fan_out()
        self.rec_fan_out = None if rec is None else rec.fan_out()
        reset = np.float32(0.0 if p.v_reset is None else p.v_reset)
        self.lif = (np.float32(p.tau), np.float32(p.v_threshold), reset, p.v_reset is None, bool(p.decay_input))
        self.bias = np.ascontiguousarray(np.broadcast_to(np.asarray(layer.bias, np.float32), (n,)))
        self.v_init = np.full(n, reset, np.float32)
        self.n_ring = max(syn.max_delay, -1 if rec is None else 1 + rec.max_delay) + 1  # lag + delay < n_ring
        if rec is not None and self.n_ring * n * 4 > _MAX_RING_BYTES:
            raise ValueError(f"layers[{i}] is recurrent, so its neurons share one ring buffer: {self.n_ring} steps "
                             f"(the longest delay + 1, a recurrent one counting a step more) × {n} neurons × 4 B = "
                             f"{self.n_ring * n * 4 / 2**20:,.0f} MiB per thread, over the "
                             f"{_MAX_RING_BYTES >> 20} MiB allowed; shorten the delays or split the layer")
        self._plans: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # n_blocks -> (bounds, offsets)

    def blocks(self, n_samples: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
        """(bounds, offsets) of this layer's blocks for ``n_samples`` samples on ``threads`` threads."""
        if self.rec_fan_out is not None:
            return np.array([0, self.n], np.int64), np.zeros((0, 0), np.uint32)
        syn = self.synapses
        n_blocks = cache_blocks(self.n, self.n_ring, syn.nnz / syn.n_pre, n_samples, threads)
        n_blocks = max(n_blocks, min(-(-self.n_ring * self.n * 4 // _MAX_SLICE_BYTES), self.n))
        plan = self._plans.get(n_blocks)
        if plan is None:  # a few entries at most: one per thread count used
            plan = self._plans[n_blocks] = block_plan(syn, n_blocks)
        return plan

    def run(self, src, n_steps: int, stop: int, v_out: np.ndarray, v_seq: np.ndarray, threads: int):
        """The layer's spikes ``(time, unit, sample_ptr)`` for the source events ``src``; fills ``v_out``, ``v_seq``."""
        s_time, s_unit, s_value, s_ptr = src
        n_b = s_ptr.shape[0] - 1
        bounds, offsets = self.blocks(n_b, threads)
        n_blocks = bounds.shape[0] - 1
        by_sample = n_b >= threads or n_blocks == 1
        parts = split(n_b if by_sample else n_blocks, threads)

        def part(p):
            s0, s1, c0, c1 = (*parts[p], 0, n_blocks) if by_sample else (0, n_b, *parts[p])
            return kernels.layer_kernel(s_time, s_unit, s_value, s_ptr, s0, s1, n_steps, stop, *self.rows, offsets,
                                        bounds, c0, c1, *self.rec_rows, self.n_ring, *self.lif, self.bias,
                                        self.v_init, v_out, v_seq)

        out = map_parts(part, len(parts))
        time = np.concatenate([o[0] for o in out]) if out else np.zeros(0, np.int32)
        unit = np.concatenate([o[1] for o in out]) if out else np.zeros(0, np.int32)
        if by_sample:
            counts = np.concatenate([o[2] for o in out]) if out else np.zeros(0, np.int64)
        else:  # each part holds every sample's spikes of its blocks: order by (sample, time), blocks kept in turn
            counts = np.sum([o[2] for o in out], axis=0)
            sample = np.concatenate([np.repeat(np.arange(n_b), o[2]) for o in out])
            order = np.lexsort((time, sample))
            time, unit = time[order], unit[order]
        return time, unit, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _rows(syn: Synapses) -> tuple:
    """(indptr, post, weight, delay, has_delay) as the kernels take them."""
    has_delay = syn.delay is not None
    return syn.indptr, syn.post, syn.weight, syn.delay if has_delay else _NO_ROWS[3], has_delay


def _flatten(layers: list[Layer]) -> list[_LayerPlan]:
    """The layers as the kernel reads them, one `_LayerPlan` each (views of the layers' arrays)."""
    return [_LayerPlan(i, layer) for i, layer in enumerate(layers)]
