"""A trained delay SNN, run event-driven: on the core (`export`, `DelaySNNCore`), in Brian2 (`run_brian2`) and as
NIR (`to_nir`).

`export(model)` rounds every delay to integer steps, folds each eval-mode BatchNorm into the weights and
a constant input per neuron (``s = γ/√(σ²_B + ε)``: ``w' = s·w``, ``b = β − s·μ_B``), drops Dropout
(identity at inference) and returns an `sdrnet.core.Network` of LIF layers whose synapses carry the
delays (zero weights are not stored). Each layer runs ``tail`` steps past its input, as the PyTorch
model's padding does (`sdrnet.core.Layer.tail`), so the readout's membrane potential equals the model's
v_out step for step. The network's ``dt`` (seconds per step) is the model's (`SNNConfig.dt`, the bin
width of its training data), so the exports to physical time (NIR, Brian2) write τ and the delays in
seconds. Importing this module registers the family with `sdrnet.core.to_core` (``"delay_snn"``):
``to_core(model)`` gives a `DelaySNNCore`.
"""

from __future__ import annotations

import warnings

import numpy as np

from sdrnet.optional import require

torch = require("torch", "snn.export")
require("spikingjelly", "snn.export")

from sdrnet.core import Events, Layer, LIFParams, Network, Synapses  # noqa: E402
from sdrnet.core.protocol import CoreModel, RunResult, register_core, step_length  # noqa: E402

from .models import DelaySNN, sum_softmax  # noqa: E402

__all__ = ["DelaySNNCore", "export", "predict_core", "run_brian2", "to_nir"]


@torch.no_grad()
def export(model: DelaySNN, dt: float | None = None) -> Network:
    """The model as a core `Network` (integer delays, BatchNorm folded, readout threshold ∞).

    The network's ``dt`` is ``model.config.dt`` or, for a model without one, the given ``dt`` (None if
    neither says: its steps then have no stated length); ValueError if the two disagree."""
    if not isinstance(model, DelaySNN):
        raise TypeError(f"model must be a snn.models.DelaySNN, got {type(model).__name__}")
    cfg = model.config
    dt = step_length(cfg.dt, dt, "model.config.dt")
    layers = []
    for i, syn in enumerate(model.synapses):
        w = syn.weight.detach().double().cpu().numpy()
        bias = np.zeros(syn.out_features)
        if syn.bias is not None:
            bias += syn.bias.detach().double().cpu().numpy()
        if i < cfg.n_layers and cfg.batchnorm:
            scale, shift = _fold(model.norms[i])
            w, bias = w * scale[:, None], bias * scale + shift
        post, pre = np.nonzero(w)
        delay = syn.integer_delays().cpu().numpy()[post, pre]
        synapses = Synapses.from_edges(
            pre,
            post,
            w[post, pre].astype(np.float32),
            delay.astype(np.uint16) if syn.max_delay else None,
            n_pre=syn.in_features,
            n_post=syn.out_features,
        )
        neuron = LIFParams(tau=cfg.tau, v_threshold=1.0 if i < cfg.n_layers else np.inf, v_reset=0.0, decay_input=False)
        layers.append(Layer(synapses, neuron, bias=bias.astype(np.float32), tail=syn.tail))
    return Network(layers, dt=dt)


def _fold(norm: torch.nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    var = norm.running_var.double().cpu().numpy()
    mean = norm.running_mean.double().cpu().numpy()
    gamma = norm.weight.detach().double().cpu().numpy() if norm.affine else np.ones_like(var)
    beta = norm.bias.detach().double().cpu().numpy() if norm.affine else np.zeros_like(var)
    scale = gamma / np.sqrt(var + norm.eps)
    return scale, beta - scale * mean


class DelaySNNCore(CoreModel):
    """A `DelaySNN` on the core: its `export`ed `Network` (``network``), scored as the model scores.

    `run` is the network's: ``output`` is the readout's membrane potential ``[T', B, K]`` (v_out step for
    step), `scores` the reference's ``Σ_t softmax(v_out[t])`` (`snn.models.sum_softmax`), `predict` its
    argmax. ``events`` is an `Events` or a dense spike-count array ``[T, B, n_inputs]`` (numpy or torch).
    """

    def __init__(self, network: Network):
        if not isinstance(network, Network):
            raise TypeError(f"network must be an sdrnet.core.Network, got {type(network).__name__}")
        self.network = network

    @property
    def dt(self) -> float | None:
        return self.network.dt

    @property
    def n_inputs(self) -> int:
        return self.network.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.network.n_outputs

    def init_state(self, batch: int):
        return self.network.init_state(batch)

    def run(self, events, state=None, n_steps: int | None = None, record=()) -> RunResult:
        if not isinstance(events, Events):
            dense = events.detach().cpu().numpy() if isinstance(events, torch.Tensor) else events
            events = Events.from_dense(dense, dt=self.dt)
        return self.network.run(events, state=state, n_steps=n_steps, record=record)

    def scores(self, result: RunResult) -> np.ndarray:
        return sum_softmax(torch.from_numpy(result.output)).numpy()


def _to_core(model: DelaySNN, dt: float | None = None) -> DelaySNNCore:
    return DelaySNNCore(export(model, dt=dt))


register_core("delay_snn", lambda model: isinstance(model, DelaySNN), _to_core)


def predict_core(network: Network, events: Events) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deprecated: ``core = sdrnet.core.to_core(model)``, then ``core.run``/``core.scores``/``core.predict``.

    Run ``events`` through the exported network: (predictions [B], scores Σ_t softmax(v_out) [B, K], synops)."""
    warnings.warn(
        "predict_core is deprecated: use sdrnet.core.to_core(model) (a DelaySNNCore) and its run, scores and predict",
        DeprecationWarning,
        stacklevel=2,
    )
    core = DelaySNNCore(network)
    res = core.run(events)
    scores = core.scores(res)
    return scores.argmax(1), scores, res.synops


def run_brian2(network: Network, events: Events, sample: int = 0, dt: float | None = None) -> dict:
    """Simulate one sample of ``events`` through ``network`` in Brian2 (per-synapse delays), one Brian2 step of
    ``defaultclock.dt`` = the network's ``dt`` (`Network.dt`, or the given ``dt`` for a network without one;
    ValueError if neither says or if they disagree) per core step.

    Each layer's neuron model runs as its `sdrnet.core.neurons` Brian2 description (``brian2()``: the
    delay SNN's ``v ← v − v/τ + I + b``, spike at v ≥ θ, reset to 0) in Brian2's ``groups`` slot;
    synapses add ``w`` to ``I`` after ``S.delay = d·dt``. Brian2 delivers a spike in
    the ``synapses`` slot of its step, after the thresholds, so each layer adds one step of latency;
    the spike times returned here are shifted back by it (layer l: l steps), so they compare directly
    with `Network.run`. Input counts above 1 use replicated input neurons (a SpikeGeneratorGroup
    neuron fires at most once per step).

    Returns ``{'spikes': [(times, units) per layer], 'v_out': [T', n_out], 'dt': Brian2's step in seconds}``.
    """
    b2 = require("brian2", "run_brian2")
    if not 0 <= sample < events.n_samples:
        raise ValueError(f"sample must be in [0, {events.n_samples}), got {sample}")
    seconds = step_length(network.dt, dt, "network.dt")
    if seconds is None:
        raise ValueError(
            "run_brian2 needs dt (seconds per step) for Brian2's defaultclock.dt: the network has none "
            "(export(model, dt=...), Network(layers, dt=...)); pass dt="
        )
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    dt = b2.defaultclock.dt = seconds * b2.second
    one = events[sample]
    counts = np.rint(one.value).astype(int)
    if np.any(counts < 0) or not np.allclose(counts, one.value):
        raise ValueError("run_brian2 needs non-negative integer event values (spike counts)")
    n_rep = max(int(counts.max(initial=1)), 1)
    rep = np.concatenate([np.arange(c) for c in counts]) if counts.size else np.zeros(0, int)
    units = np.repeat(one.unit, counts) * n_rep + rep
    source = b2.SpikeGeneratorGroup(network.n_inputs * n_rep, units, np.repeat(one.time, counts) * dt)
    n_steps = events.n_steps + network.latency  # as Network.run: every delivery lands
    groups, objects, end = [], [source], events.n_steps
    for i, layer in enumerate(network.layers):
        end = n_steps if layer.tail is None else end + layer.tail
        g = _brian2_layer(b2, layer, seconds, i + 1, min(end, n_steps) + i + 1)
        pre = layer.synapses.pre() if i else layer.synapses.pre() * n_rep
        syn = b2.Synapses(groups[-1] if i else source, g, "w : 1", on_pre="I_post += w")
        offsets = np.zeros(1, int) if i else np.arange(n_rep)
        syn.connect(i=(pre[:, None] + offsets).ravel(), j=np.repeat(layer.synapses.post, offsets.size))
        syn.w = np.repeat(layer.synapses.weight, offsets.size)
        delay = layer.synapses.delay if layer.synapses.delay is not None else np.zeros(layer.synapses.nnz, int)
        syn.delay = np.repeat(delay, offsets.size) * dt
        groups.append(g)
        objects += [g, syn]
    monitors = [b2.SpikeMonitor(g) for g in groups]
    v_mon = b2.StateMonitor(groups[-1], "v", record=True, when="end")
    net = b2.Network(*objects, *monitors, v_mon)
    net.run((n_steps + len(groups)) * dt)
    spikes = []
    for lag, mon in enumerate(monitors, 1):
        steps = np.rint(np.asarray(mon.t / dt)).astype(int) - lag
        spikes.append((steps, np.asarray(mon.i)))
    lag = len(groups)
    return {
        "spikes": spikes,
        "v_out": np.asarray(v_mon.v).T[lag : lag + n_steps],
        "dt": float(b2.defaultclock.dt / b2.second),
    }


def _brian2_layer(b2, layer: Layer, dt: float, start: int, stop: int):
    """The layer's neurons (their model's `brian2` description, in steps of ``dt``), live in Brian2 steps
    [start, stop) = [i + 1, stop + i + 1): layer ``i``'s core steps shifted by the latency (compared in
    whole steps, ``t_in_timesteps``, so no rounding of ``t`` enters)."""
    live = "(t_in_timesteps >= start and t_in_timesteps < stop)"
    g = layer.neuron.resolve(dt).brian2().group(b2, layer.n, live=live, namespace={"start": start, "stop": stop})
    g.b = np.broadcast_to(np.asarray(layer.bias, float), (layer.n,))
    return g


def to_nir(
    model: DelaySNN | Network,
    path=None,
    dt: float | None = None,
    *,
    drop_tails: bool = False,
    integer_weights: bool = True,
):
    """The exported network as a NIR graph (and written to ``path`` if given), by NIR's spec
    (`sdrnet.core.nir.network_to_nir`): LIF layers with NIR's strict threshold, the readout as NIR's
    non-spiking ``LI``, the synapses as one Delay → Linear branch per distinct delay (integers and a
    ``Scale`` for a quantised layer unless ``integer_weights=False``).

    τ and the delays are written in seconds: ``dt`` is the model's (``model.config.dt``, or a `Network`'s
    ``dt``), or given for a model without one; ValueError if neither says or if the two disagree.

    An exported `DelaySNN` has layer tails (`sdrnet.core.Layer.tail`, its zero padding over time), which NIR
    cannot express: this raises ValueError naming the layer unless ``drop_tails=True``, and then the graph's
    layers run on past the padding: they agree with the model at least up to the end of the input.
    """
    from sdrnet.core.nir import network_to_nir

    network = export(model, dt=dt) if isinstance(model, DelaySNN) else model
    if isinstance(model, DelaySNN) and network.dt is None:
        raise ValueError(
            "to_nir needs dt (seconds per step) to write tau and delays in seconds: model.config.dt "
            "is None (snn.train sets it from the training data); pass dt="
        )
    graph = network_to_nir(network, dt=dt, drop_tails=drop_tails, integer_weights=integer_weights)
    if path is not None:
        require("nir", "to_nir").write(path, graph)
    return graph
