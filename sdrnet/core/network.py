"""`Network`: an event-driven simulator of LIF layers connected by `Synapses` (a stand-in for a neuromorphic chip)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from . import kernels
from ._checks import as_array, check_float32, check_int, frozen
from .events import Events
from .synapses import Synapses

__all__ = ["LIFParams", "Layer", "Network", "RunResult"]


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a leaky integrate-and-fire neuron, exactly as SpikingJelly's ``LIFNode``.

    Charge (discrete time, SpikingJelly ``neuron.LIFNode``)::

        decay_input=True:   H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau
        decay_input=False:  H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]

    fire ``S[t] = H[t] >= v_threshold``; reset ``V[t] = V_reset`` if ``S[t]`` (hard reset) or
    ``V[t] = H[t] - v_threshold`` (soft reset, ``v_reset=None``, where V_reset above reads 0).
    ``v_threshold=inf`` gives a non-spiking readout whose membrane potential is the output.
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True

    def __post_init__(self):
        if not (np.isfinite(check_float32("tau", self.tau)) and self.tau >= 1.0):
            raise ValueError(f"tau must be a finite number >= 1 (time steps), got {self.tau}")
        if np.isnan(check_float32("v_threshold", self.v_threshold)):
            raise ValueError("v_threshold must not be NaN")
        if self.v_reset is not None and not np.isfinite(check_float32("v_reset", self.v_reset)):
            raise ValueError(f"v_reset must be finite or None (soft reset), got {self.v_reset}")
        if not isinstance(self.decay_input, (bool, np.bool_)):
            raise TypeError(f"decay_input must be a bool, got {type(self.decay_input).__name__}: {self.decay_input!r}")


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
    layer reads its input current from a ring buffer of ``max delay + 2`` steps, updates
    its neurons (`LIFParams`) and sends its spikes through its outgoing synapses. Only
    events do work, so the cost is (events × fan-out), counted in ``RunResult.synops``.
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
        """
        if not isinstance(events, Events):
            raise TypeError(f"events must be Events, got {type(events).__name__}")
        if events.n_units != self.n_inputs:
            raise ValueError(f"events.n_units ({events.n_units}) must equal the network's inputs ({self.n_inputs})")
        tails = [layer.tail or 0 for layer in self.layers]
        n_steps = events.n_steps + sum(tails) if n_steps is None else check_int("n_steps", n_steps, 0)
        stop = np.full(len(self.layers), n_steps, np.int64)
        end = events.n_steps
        for i, layer in enumerate(self.layers):
            end = n_steps if layer.tail is None else end + layer.tail
            stop[i] = min(end, n_steps)
        c = self._compiled
        n_layers = len(self.layers)
        off = c["layer_off"]
        record = n_layers - 1 if record_v else -1
        times, units, vs, v_seqs = [], [], [], []
        synops = np.zeros(len(c["proj_dst"]), np.int64)
        for b in range(events.n_samples):
            lo, hi = events.sample_ptr[b], events.sample_ptr[b + 1]
            keep = events.time[lo:hi] < n_steps
            s_t, s_u, v, ops, v_seq = kernels.network_kernel(
                events.time[lo:hi][keep], events.unit[lo:hi][keep], events.value[lo:hi][keep], n_steps,
                off, c["tau"], c["v_th"], c["v_reset"], c["soft"], c["decay_input"], c["bias"], c["v_init"],
                c["proj_src"], c["proj_dst"], c["proj_lag"], c["proj_ptr"], c["indptr"], c["post"],
                c["weight"], c["delay"], c["n_ring"], record, stop)
            times.append(s_t)
            units.append(s_u)
            vs.append(v)
            v_seqs.append(v_seq)
            synops += ops
        layer_spikes = self._split_layers(times, units, n_steps, events.dt)
        v_final = np.stack(vs) if vs else np.zeros((0, off[-1]), np.float32)
        v_layers = [v_final[:, off[lyr]:off[lyr + 1]] for lyr in range(n_layers)]
        per_layer = np.zeros(n_layers, np.int64)
        np.add.at(per_layer, c["proj_dst"], synops)  # exact integers, unlike a float-weighted bincount
        v_seq = np.stack(v_seqs, axis=1) if record_v else None
        return RunResult(layer_spikes[-1], layer_spikes, v_layers, per_layer, v_seq)

    def _split_layers(self, times, units, n_steps, dt) -> list[Events]:
        """Per-sample spikes over the flat neuron index -> one `Events` per layer."""
        n_samples = len(times)
        sample = np.repeat(np.arange(n_samples), [t.size for t in times])
        t_all = np.concatenate(times) if times else np.zeros(0, np.int32)
        u_all = np.concatenate(units) if units else np.zeros(0, np.int32)
        off = self._compiled["layer_off"]
        out = []
        for lyr, layer in enumerate(self.layers):
            m = (u_all >= off[lyr]) & (u_all < off[lyr + 1])
            ptr = np.concatenate([[0], np.cumsum(np.bincount(sample[m], minlength=n_samples))])
            out.append(Events(t_all[m], u_all[m] - off[lyr], None, ptr, n_steps=n_steps, n_units=layer.n, dt=dt))
        return out

    def __repr__(self) -> str:
        sizes = " -> ".join([str(self.n_inputs)] + [str(layer.n) for layer in self.layers])
        return f"Network({sizes}, synapses={sum(layer.synapses.nnz for layer in self.layers)})"


def _flatten(layers: list[Layer]) -> dict:
    """Concatenate the layers' parameters and projections into the flat arrays the kernel reads."""
    sizes = [layer.n for layer in layers]
    off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    projections = []  # (src, dst, lag, synapses)
    for i, layer in enumerate(layers):
        projections.append((i - 1, i, 0, layer.synapses))
        if layer.recurrent is not None:
            projections.append((i, i, 1, layer.recurrent))
    indptr, post, weight, delay, ptr = [], [], [], [], []
    n_rows = nnz = 0
    for _, _, _, s in projections:
        ptr.append(n_rows)
        indptr.append(s.indptr[:-1] + nnz)
        post.append(s.post)
        weight.append(s.weight)
        delay.append(s.delay if s.delay is not None else np.zeros(s.nnz, np.uint16))
        n_rows += s.n_pre
        nnz += s.nnz
    indptr.append(np.array([nnz]))
    neurons = [layer.neuron for layer in layers]
    return dict(
        layer_off=off,
        tau=np.array([p.tau for p in neurons], np.float32),
        v_th=np.array([p.v_threshold for p in neurons], np.float32),
        v_reset=np.array([0.0 if p.v_reset is None else p.v_reset for p in neurons], np.float32),
        soft=np.array([p.v_reset is None for p in neurons]),
        decay_input=np.array([p.decay_input for p in neurons]),
        bias=np.concatenate([np.broadcast_to(np.asarray(layer.bias, np.float32), (layer.n,)) for layer in layers]),
        v_init=np.concatenate([np.full(layer.n, 0.0 if layer.neuron.v_reset is None else layer.neuron.v_reset,
                                       np.float32) for layer in layers]),
        proj_src=np.array([p[0] for p in projections], np.int64),
        proj_dst=np.array([p[1] for p in projections], np.int64),
        proj_lag=np.array([p[2] for p in projections], np.int64),
        proj_ptr=np.array(ptr, np.int64),
        indptr=np.concatenate(indptr).astype(np.int64),
        post=np.concatenate(post).astype(np.int32),
        weight=np.concatenate(weight).astype(np.float32),
        delay=np.concatenate(delay).astype(np.uint16),
        n_ring=int(max(p[2] + p[3].max_delay for p in projections) + 2),
    )
