"""`Network`: an event-driven simulator of spiking layers connected by `Synapses` (a stand-in for a neuromorphic chip)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import kernels
from .events import Events
from .neurons import LIFParams, NeuronModel
from .parallel import block_plan, cache_blocks, get_num_threads, map_parts, split
from .protocol import CoreModel, RunResult
from .synapses import Synapses
from .validation import as_array, check_bool, check_dt, check_int, frozen

__all__ = ["Layer", "Network", "NetworkState"]


@dataclass(frozen=True, eq=False)
class Layer:
    """A population of LIF neurons and the synapses that feed it (immutable, like its parts).

    ``synapses`` come from the previous layer (or the network input) with their delays;
    ``recurrent`` (optional, ``n x n``) come from this layer itself and arrive one step later
    than their delay says (a spike at ``t`` acts at ``t + 1 + d``, as in a recurrent layer
    that reads the previous step's spikes). ``bias`` is a constant input added every step
    (a scalar or one value per neuron), e.g. a folded BatchNorm.

    ``neuron`` is the neuron model (`sdrnet.core.neurons`: `LIFParams` by default), in steps or in
    seconds (then the `Network` needs ``dt``).

    ``tail`` (optional) ends the layer like a zero-padded convolution over time ends: the layer
    runs ``tail`` steps past the end of its input (the previous layer's end, or the end of the input
    events for the first layer) and is silent afterwards. ``None`` (default): the layer runs for every
    simulated step.

    A `Network` compiles its layers once, so a layer cannot change afterwards: fields cannot be
    reassigned and an array ``bias`` is kept as a read-only copy. Build a changed layer with
    ``dataclasses.replace(layer, bias=...)`` and a new `Network` from it.
    """

    synapses: Synapses
    neuron: NeuronModel = field(default_factory=LIFParams)
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


class NetworkState(NamedTuple):
    """Where a `Network` stopped: pass it to ``run(..., state=)`` to continue exactly.

    t : steps simulated so far;  neurons : per layer, the neuron model's state variables, float32
    ``[n_vars, B, n_l]`` (row 0 the membrane potential; `v` gives those rows);  in_flight : per layer, the
    source events still on their way to it (their delays reach past the last step), as
    ``(time, unit, value, sample_ptr)`` with times relative to the next step (negative);  own : per
    recurrent layer, its latest spikes still on their way through its recurrent synapses
    ``(time, unit, sample_ptr)`` (None for a feed-forward layer).
    """

    t: int
    neurons: tuple
    in_flight: tuple
    own: tuple

    @property
    def v(self) -> tuple:
        """The membrane potential of every layer, float32 ``[B, n_l]``."""
        return tuple(n[0] for n in self.neurons)

    @property
    def n_samples(self) -> int:
        return self.neurons[0].shape[1]


Record = str | Sequence | dict


class Network(CoreModel):
    """Layers of spiking neurons run event-driven, step by step, with per-synapse delays.

    Each step: input events are delivered through the first layer's synapses; then each
    layer reads its input current from a ring buffer of ``max delay + 1`` steps, updates
    its neurons (`LIFParams` or another model of `sdrnet.core.neurons`) and sends its spikes
    through its outgoing synapses. Only events do work, so the cost is (events × fan-out),
    counted in ``RunResult.synops``. `run` computes exactly this, layer by layer and on
    several threads.

    ``dt`` is the length of a step in seconds (None: steps without a stated length); neuron models
    given in seconds are turned into steps with it, and exports to physical time (NIR, Brian2) use it.
    """

    def __init__(self, layers: Sequence[Layer], dt: float | None = None):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must hold at least one Layer")
        self.dt = check_dt(dt)
        for i, layer in enumerate(layers):
            _check_layer(i, layer, layers[i - 1] if i else None)
        self.layers = tuple(layers)  # a list could shrink under the compiled arrays the kernel indexes
        self._compiled = [_LayerPlan(i, layer, self.dt) for i, layer in enumerate(layers)]

    @property
    def n_inputs(self) -> int:
        return self.layers[0].synapses.n_pre

    @property
    def n_outputs(self) -> int:
        return self.layers[-1].n

    @property
    def latency(self) -> int:
        """Steps the network needs after its input ends for every delivery to land: per layer its ``tail`` if
        it has one, else its longest delay. (A recurrent layer's own spikes keep arriving after that.)"""
        return sum(layer.tail if layer.tail is not None else layer.synapses.max_delay for layer in self.layers)

    def init_state(self, batch: int) -> NetworkState:
        """The state before the first step for ``batch`` samples: every neuron at rest, nothing in flight."""
        batch = check_int("batch", batch, 0)
        neurons = tuple(np.repeat(plan.neuron.init_state(plan.n)[:, None, :], batch, axis=1) for plan in self._compiled)
        empty = (_NO_TIME, _NO_TIME, _UNIT_VALUES, np.zeros(batch + 1, np.int64))
        own = tuple(None if plan.rec_fan_out is None else empty[:2] + empty[3:] for plan in self._compiled)
        return NetworkState(0, neurons, (empty,) * len(self.layers), own)

    def run(
        self,
        events: Events,
        state: NetworkState | None = None,
        n_steps: int | None = None,
        record: Record = (),
        output: bool = True,
    ) -> RunResult:
        """Simulate every sample of ``events`` for ``n_steps`` steps.

        ``n_steps`` defaults to ``events.n_steps + latency`` for a fresh run (``state=None``), so that every
        delivery lands (`latency`; tails count as the layer's end), and to ``events.n_steps`` when continuing
        from ``state``: what is still in flight then stays in the returned state for the next call. So a long
        input cut into chunks and run as ``s = net.init_state(B)``, ``r = net.run(chunk, state=s)``,
        ``s = r.state``, ... gives, chunk after chunk, the spikes and potentials of one run over the whole input
        (a last call ``net.run(empty, state=s, n_steps=net.latency)`` lets the pipeline drain). Input events at
        or after ``n_steps`` are not run. A layer with a ``tail`` stops ``tail`` steps after the end of the
        input events of this call (its input's end, for later layers).

        ``record``: ``"v"`` (or ``("v",)``) records every layer's membrane potential at every step,
        ``{"v": [0, 2]}`` only those layers': ``result.records["v"][l]`` is float32 ``[n_steps, B, n_l]``.

        Returns a `RunResult`: ``output`` is the last layer's membrane potential at every step if it never fires
        (a readout, ``v_threshold = inf``), else its spikes at every step (float32 ``[n_steps, B, n_out]``);
        ``output=False`` leaves it out (None) and saves building it (``4·n_steps·B·n_out`` bytes), for a run
        that needs only the spikes or the final state; ``spikes``/``layer_spikes`` the spikes as `Events`;
        ``state`` a `NetworkState`; ``synops`` the deliveries into each layer that arrive inside the run
        (events × the synapses they reach; a recurrent layer's own included).

        Layer by layer: a layer's input (the network input, or the spikes of the layer before) is
        complete before it runs, so each layer runs its whole time loop at once, in blocks of neurons
        whose ring buffer fits the cache (a recurrent layer in one block), on `get_num_threads`
        threads split over samples (or over blocks, for fewer samples than threads). Every ring cell
        sums its inputs in the order of a step-by-step simulation of the whole network (by the
        source's step; within a step the input, then the layers in order, each by unit), so the
        result is that simulation's, bit for bit, for every thread count and block size.
        """
        self._check_events(events)
        output = check_bool("output", output)
        fresh = state is None
        state = self.init_state(events.n_samples) if fresh else self._check_state(state, events.n_samples)
        if n_steps is None:
            n_steps = events.n_steps + (self.latency if fresh else 0)
        n_steps = check_int("n_steps", n_steps, 0)
        asked = _wanted(record, len(self.layers))
        wanted = set(asked)
        readout = not self._compiled[-1].neuron.fires
        if readout and output:
            wanted.add(len(self.layers) - 1)
        threads = get_num_threads()
        n_b = events.n_samples
        src = (events.time, events.unit, events.value, events.sample_ptr)
        end = events.n_steps
        layer_spikes, neurons, in_flight, own, v_seqs = [], [], [], [], {}
        synops = np.zeros(len(self.layers), np.int64)
        for i, plan in enumerate(self._compiled):
            layer = self.layers[i]
            end = n_steps if layer.tail is None else end + layer.tail
            stop = min(end, n_steps)
            src = _join(state.in_flight[i], src) if not fresh else src
            v_seq = np.empty((n_steps, n_b, plan.n), np.float32) if i in wanted else _NO_V_SEQ
            st = state.neurons[i].copy()
            rec = plan.recurrent
            carried = state.own[i] if rec is not None else _no_own(n_b)
            s_time, s_unit, ptr = plan.run(src, n_steps, stop, st, v_seq, threads, carried)
            synops[i] = plan.landed(src[0], src[1], stop)
            spikes = Events(s_time, s_unit, None, ptr, n_steps=n_steps, n_units=plan.n, dt=events.dt or self.dt)
            if rec is not None:
                mine = _join((*carried[:2], _UNIT_VALUES, carried[2]), (s_time, s_unit, _UNIT_VALUES, ptr))
                synops[i] += plan.landed_own(mine[0], mine[1], stop)
                own.append(_later(mine, n_steps, 1 + rec.max_delay, values=False))
            else:
                own.append(None)
            in_flight.append(_later(src, n_steps, plan.synapses.max_delay))
            layer_spikes.append(spikes)
            neurons.append(st)
            if i in wanted:
                v_seqs[i] = v_seq
            src = (spikes.time, spikes.unit, _UNIT_VALUES, spikes.sample_ptr)
        if not output:
            out = None
        elif readout:
            out = v_seqs[len(self.layers) - 1]
        else:
            out = layer_spikes[-1].to_dense()
        records = {"v": {i: v for i, v in v_seqs.items() if i in asked}} if record else {}
        new_state = NetworkState(state.t + n_steps, tuple(neurons), tuple(in_flight), tuple(own))
        return RunResult(out, new_state, synops, records, layer_spikes[-1], tuple(layer_spikes))

    def _check_events(self, events) -> None:
        if not isinstance(events, Events):
            raise TypeError(f"events must be Events, got {type(events).__name__}")
        if events.n_units != self.n_inputs:
            raise ValueError(f"events.n_units ({events.n_units}) must equal the network's inputs ({self.n_inputs})")
        if events.dt is not None and self.dt is not None and not np.isclose(events.dt, self.dt, rtol=1e-9, atol=0):
            raise ValueError(f"events.dt ({events.dt} s) differs from the network's dt ({self.dt} s)")

    def _check_state(self, state, n_samples: int) -> NetworkState:
        if not isinstance(state, NetworkState):
            raise TypeError(
                f"state must be a NetworkState (from init_state or a RunResult), got {type(state).__name__}"
            )
        if len(state.neurons) != len(self.layers) or any(
            s.shape != (len(p.neuron.state_vars), n_samples, p.n) for s, p in zip(state.neurons, self._compiled)
        ):
            raise ValueError(
                f"state does not fit this network with {n_samples} samples: its neuron states have "
                f"shapes {[s.shape for s in state.neurons]}"
            )
        return state

    def __repr__(self) -> str:
        sizes = " -> ".join([str(self.n_inputs)] + [str(layer.n) for layer in self.layers])
        dt = "" if self.dt is None else f", dt={self.dt:g} s"
        return f"Network({sizes}, synapses={sum(layer.synapses.nnz for layer in self.layers)}{dt})"


def _check_layer(i: int, layer, previous) -> None:
    if not isinstance(layer, Layer):
        raise TypeError(f"layers[{i}] must be a Layer, got {type(layer).__name__}")
    if not isinstance(layer.synapses, Synapses):
        raise TypeError(f"layers[{i}].synapses must be Synapses, got {type(layer.synapses).__name__}")
    if previous is not None and layer.synapses.n_pre != previous.n:
        raise ValueError(
            f"layers[{i}].synapses.n_pre ({layer.synapses.n_pre}) must equal the size of layers[{i - 1}] ({previous.n})"
        )
    rec = layer.recurrent
    if rec is not None and (rec.n_pre, rec.n_post) != (layer.n, layer.n):
        raise ValueError(f"layers[{i}].recurrent must be {layer.n} x {layer.n}, got {rec.n_pre} x {rec.n_post}")
    if layer.tail is not None:
        check_int(f"layers[{i}].tail", layer.tail, 0)
    bias = as_array(f"layers[{i}].bias", layer.bias, kind="f")
    if bias.ndim > 1 or (bias.ndim == 1 and bias.shape[0] != layer.n):
        raise ValueError(f"layers[{i}].bias must be a scalar or have shape ({layer.n},), got {bias.shape}")


def _wanted(record, n_layers: int) -> set[int]:
    """The layers whose membrane potential ``record`` asks for (see `Network.run`)."""
    if isinstance(record, str):
        record = (record,)
    if isinstance(record, dict):
        unknown = set(record) - {"v"}
        layers = record.get("v", ())
    else:
        record = tuple(record)
        unknown = set(record) - {"v"}
        layers = range(n_layers) if "v" in record else ()
    if unknown:
        raise ValueError(f"record can ask for 'v' (membrane potentials), got {sorted(map(str, unknown))}")
    out = set()
    for layer in layers:
        out.add(check_int("record['v'] layer", layer, 0, n_layers - 1))
    return out


def _join(early, late):
    """The events of ``early`` then ``late`` for each sample (both ``(time, unit, value, sample_ptr)``)."""
    if early[0].shape[0] == 0:
        return late
    n_b = late[3].shape[0] - 1
    sample = np.concatenate([np.repeat(np.arange(n_b), np.diff(early[3])), np.repeat(np.arange(n_b), np.diff(late[3]))])
    order = np.argsort(sample, kind="stable")
    values = (
        _UNIT_VALUES
        if late[2].shape[0] == 0 and early[2].shape[0] == 0
        else np.concatenate([_values(early), _values(late)])[order]
    )
    ptr = early[3] + late[3]
    return (np.concatenate([early[0], late[0]])[order], np.concatenate([early[1], late[1]])[order], values, ptr)


def _values(events) -> np.ndarray:
    return events[2] if events[2].shape[0] else np.ones(events[0].shape[0], np.float32)


def _later(events, n_steps: int, reach: int, values: bool = True):
    """The events of the last ``reach`` steps before ``n_steps``, with times relative to ``n_steps``."""
    time, unit, value, ptr = events
    keep = (time >= n_steps - reach) & (time < n_steps)
    sample = np.repeat(np.arange(ptr.shape[0] - 1), np.diff(ptr))
    counts = np.bincount(sample[keep], minlength=ptr.shape[0] - 1)
    new_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    out_time = (time[keep].astype(np.int64) - n_steps).astype(np.int32)
    if not values:
        return out_time, unit[keep], new_ptr
    return out_time, unit[keep], value[keep] if value.shape[0] else _UNIT_VALUES, new_ptr


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)  # typed as the layers' read-only arrays are, so the kernel compiles once for both
    return a


_NO_V_SEQ = np.zeros((0, 0, 0), np.float32)
_UNIT_VALUES = _readonly(np.zeros(0, np.float32))  # source events without values: every spike is 1
_NO_ROWS = (
    _readonly(np.zeros(1, np.int64)),
    _readonly(np.zeros(0, np.int32)),
    _readonly(np.zeros(0, np.float32)),
    _readonly(np.zeros(0, np.uint8)),
    False,
)
_NO_TIME = _readonly(np.zeros(0, np.int32))
_MAX_RING_BYTES = 1 << 30  # a recurrent layer's ring buffer (one per thread) may not exceed this
_MAX_SLICE_BYTES = 16 << 20  # a feed-forward layer is split into blocks until each block's ring is at most this


def _no_own(n_samples: int):
    return _NO_TIME, _NO_TIME, np.zeros(n_samples + 1, np.int64)


class _LayerPlan:
    """One layer as `kernels.layer_kernel` reads it: the layer's own arrays (no copies), its neuron model in
    steps and its kernel constants, its ring size and its blocks of neurons (planned once per block count)."""

    def __init__(self, i: int, layer: Layer, dt: float | None):
        syn, rec = layer.synapses, layer.recurrent
        self.neuron = layer.neuron.resolve(dt)
        self.n = n = layer.n
        self.synapses, self.recurrent = syn, rec
        self.rows = _rows(syn)
        self.rec_rows = _NO_ROWS if rec is None else _rows(rec)
        self.fan_out = syn.fan_out()
        self.rec_fan_out = None if rec is None else rec.fan_out()
        self.code, self.consts = self.neuron.code, self.neuron.kernel_constants()
        self.bias = np.ascontiguousarray(np.broadcast_to(np.asarray(layer.bias, np.float32), (n,)))
        self.n_ring = max(syn.max_delay, -1 if rec is None else 1 + rec.max_delay) + 1  # lag + delay < n_ring
        if rec is not None and self.n_ring * n * 4 > _MAX_RING_BYTES:
            raise ValueError(
                f"layers[{i}] is recurrent, so its neurons share one ring buffer: {self.n_ring} steps "
                f"(the longest delay + 1, a recurrent one counting a step more) × {n} neurons × 4 B = "
                f"{self.n_ring * n * 4 / 2**20:,.0f} MiB per thread, over the "
                f"{_MAX_RING_BYTES >> 20} MiB allowed; shorten the delays or split the layer"
            )
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

    def landed(self, time, unit, stop: int) -> int:
        """Deliveries of the source events ``(time, unit)`` that arrive in ``[0, stop)``."""
        return kernels.landed_synops(
            time, unit, 0, stop, self.rows[0], self.rows[3], self.rows[4], self.synapses.max_delay
        )

    def landed_own(self, time, unit, stop: int) -> int:
        """Deliveries of the layer's own spikes through its recurrent synapses (one step later) in ``[0, stop)``."""
        if self.recurrent is None:
            raise ValueError("landed_own: this layer has no recurrent synapses")
        rec = self.rec_rows
        return kernels.landed_synops(time, unit, -1, stop - 1, rec[0], rec[3], rec[4], self.recurrent.max_delay)

    def run(self, src, n_steps: int, stop: int, state: np.ndarray, v_seq: np.ndarray, threads: int, own):
        """The layer's spikes ``(time, unit, sample_ptr)`` for the source events ``src`` (and its own earlier
        spikes ``own``, recurrent layers); updates ``state`` and fills ``v_seq``."""
        s_time, s_unit, s_value, s_ptr = src
        n_b = s_ptr.shape[0] - 1
        bounds, offsets = self.blocks(n_b, threads)
        n_blocks = bounds.shape[0] - 1
        by_sample = n_b >= threads or n_blocks == 1
        parts = split(n_b if by_sample else n_blocks, threads)

        def part(p):
            s0, s1, c0, c1 = (*parts[p], 0, n_blocks) if by_sample else (0, n_b, *parts[p])
            return kernels.layer_kernel(
                s_time,
                s_unit,
                s_value,
                s_ptr,
                s0,
                s1,
                n_steps,
                stop,
                *self.rows,
                offsets,
                bounds,
                c0,
                c1,
                *self.rec_rows,
                *own,
                self.n_ring,
                self.code,
                self.consts,
                self.bias,
                state,
                v_seq,
            )

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
