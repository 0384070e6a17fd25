"""A Brian2 spiking model of dendritic segments with NMDA-like plateaus, driven by SDR patterns.

The combinatorial model (:class:`dendrites.neuron.DendriticPopulation`) says a segment
detects an input SDR when at least θ of its synapses are active, and a neuron responds
when any of its segments does (Ahmad & Hawkins 2016, "How do neurons operate on sparse
distributed representations?", arXiv:1601.00720, section 3 and figure 1: an NMDA spike
when >= θ synapses on a segment are co-active). :func:`simulate_brian2` runs the same
population as a Brian2 network in continuous time and reports which segments fired a
plateau and which neurons fired, so the two models can be compared pattern by pattern.

brian2 is imported inside the function; importing this module does not need it.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass

import numpy as np

from sdrnet.core.validation import check_rng

from .neuron import DendriticPopulation, active_lists

__all__ = ["Brian2Result", "simulate_brian2"]


@dataclass(frozen=True)
class Brian2Result:
    """What :func:`simulate_brian2` observed.

    Attributes
    ----------
    segment_detections : bool [B, n_segments]
        Segment ``j`` fired an NMDA plateau during pattern ``b``'s window.
    neuron_responses : bool [B, n_neurons]
        The soma of neuron ``k`` fired during pattern ``b``'s window.
    input_spikes, segment_spikes, neuron_spikes : (int64 [k] unit, float64 [k] time in ms)
        Raw spikes of the input cells, the segments (plateau onsets) and the somata.
    runtime_s : float
        Wall-clock seconds of ``Network.run`` (code generation included).
    """

    segment_detections: np.ndarray
    neuron_responses: np.ndarray
    input_spikes: tuple[np.ndarray, np.ndarray]
    segment_spikes: tuple[np.ndarray, np.ndarray]
    neuron_spikes: tuple[np.ndarray, np.ndarray]
    runtime_s: float


def _positive(name: str, value, *, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number (milliseconds), got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be finite and {'>=' if zero_ok else '>'} 0 ms, got {value}")
    return value


def simulate_brian2(
    population: DendriticPopulation,
    inputs,
    *,
    rng: np.random.Generator,
    interval_ms: float = 50.0,
    jitter_ms: float = 1.0,
    tau_nmda_ms: float = 100.0,
    plateau_ms: float = 20.0,
    dt_ms: float = 0.1,
    target: str = "numpy",
) -> Brian2Result:
    """Present ``inputs`` to ``population`` as spikes in a Brian2 network; record plateaus and somatic spikes.

    Input cell ``i`` (a ``SpikeGeneratorGroup`` of ``n_inputs``) spikes once for each pattern
    ``b`` it is active in, at ``b * interval_ms + U[0, jitter_ms)``. Each segment is one unit
    of a ``NeuronGroup`` (Ahmad & Hawkins 2016: an NMDA spike when >= θ synapses co-activate)::

        dg/dt = -g / tau_nmda                  (co-active synapse count, decaying)
        on an input spike (one Brian2 synapse per synapse of population.synapses):
            g += int(not_refractory)           (inputs during a plateau change nothing)
        threshold g > theta - 0.5  ->  NMDA plateau: reset g = 0, refractory for plateau_ms
        at every b * interval_ms (run_regularly, before the pattern's spikes):  g = 0

    The refractory period is the plateau state; a segment fires at most one plateau per
    pattern. Each neuron's soma (a ``NeuronGroup`` of ``n_neurons``) is driven by its own segments
    (``population.segment_neuron_``)::

        v : 1;  on a plateau onset of one of its segments: v += 1;  threshold v > 0.5, reset v = 0

    Exact agreement with ``population.segment_overlap(inputs) >= theta``: a segment with
    ``c <= theta - 1`` active synapses never has ``g > theta - 0.5``; one with ``c >= theta`` is
    checked one time step after its last input, when every spike has decayed for less than
    ``w = jitter_ms + dt_ms``, so ``g >= theta * exp(-w / tau_nmda_ms)``, which must exceed
    ``theta - 0.5`` (checked). A plateau must end before the next pattern:
    ``interval_ms > jitter_ms + plateau_ms + 2 * dt_ms`` (checked).

    Parameters
    ----------
    population : DendriticPopulation with at least one segment
    inputs : SDRBatch, list of int index arrays, ``[B, a]`` int array or one SDR (a batch of one)
    rng : numpy.random.Generator, draws the jitter
    interval_ms, jitter_ms, tau_nmda_ms, plateau_ms, dt_ms : float, milliseconds
        ``interval_ms`` must be a multiple of ``dt_ms``.
    target : "numpy" (no compiler needed) or "cython"
        Brian2 code-generation target, set for this run only.

    Returns
    -------
    Brian2Result
    """
    if not isinstance(population, DendriticPopulation):
        raise TypeError(f"population must be a DendriticPopulation, got {type(population).__name__}")
    if population.n_segments == 0:
        raise ValueError("population has no segments; add or learn some first")
    rng = check_rng(rng)
    if target not in ("numpy", "cython"):
        raise ValueError(f"target must be 'numpy' or 'cython', got {target!r}")
    dt = _positive("dt_ms", dt_ms)
    interval = _positive("interval_ms", interval_ms)
    jitter = _positive("jitter_ms", jitter_ms, zero_ok=True)
    tau = _positive("tau_nmda_ms", tau_nmda_ms)
    plateau = _positive("plateau_ms", plateau_ms)
    steps = round(interval / dt)
    if abs(steps * dt - interval) > 1e-9 * interval:
        raise ValueError(f"interval_ms ({interval}) must be a multiple of dt_ms ({dt})")
    if not interval > jitter + plateau + 2 * dt:
        raise ValueError(
            f"interval_ms ({interval}) must exceed jitter_ms + plateau_ms + 2 * dt_ms "
            f"({jitter + plateau + 2 * dt}) so that each plateau ends before the next pattern"
        )
    theta = population.theta
    if not theta * math.exp(-(jitter + dt) / tau) > theta - 0.5:
        need = (jitter + dt) / -math.log1p(-0.5 / theta)
        raise ValueError(
            f"tau_nmda_ms ({tau}) is too short for jitter_ms ({jitter}) and dt_ms ({dt}): "
            f"theta * exp(-(jitter_ms + dt_ms) / tau_nmda_ms) must exceed theta - 0.5 "
            f"(theta={theta}); use tau_nmda_ms > {need:.3g}"
        )

    indices, ptr, _ = active_lists(inputs, population.n_inputs)
    n_patterns = ptr.shape[0] - 1
    if n_patterns == 0:
        raise ValueError("inputs must hold at least one pattern")
    pattern = np.repeat(np.arange(n_patterns), np.diff(ptr))
    key = pattern * population.n_inputs + indices
    if np.unique(key).shape[0] != key.shape[0]:
        raise ValueError("inputs repeat an active cell within a pattern; an SDR lists each active cell once")
    spike_t = pattern * interval + rng.uniform(0.0, jitter, indices.shape[0])

    import brian2 as b2

    gc.collect()  # free earlier calls' Brian2 objects, so generated names (and Cython's cache) repeat
    previous = b2.prefs.codegen.target
    b2.prefs.codegen.target = target  # for this call only: connect() already generates code
    try:
        return _run(b2, population, indices, spike_t, n_patterns, interval, tau, plateau, dt)
    finally:
        b2.prefs.codegen.target = previous


def _run(b2, population, indices, spike_t, n_patterns, interval, tau, plateau, dt) -> Brian2Result:
    ms = b2.ms
    syn = population.synapses
    n_seg, n_neu = population.n_segments, population.n_neurons
    src = b2.SpikeGeneratorGroup(population.n_inputs, indices, spike_t * ms, dt=dt * ms, name="inputs")
    seg = b2.NeuronGroup(
        n_seg,
        "dg/dt = -g / tau_nmda : 1",
        threshold="g > theta - 0.5",
        reset="g = 0",
        refractory=plateau * ms,
        method="exact",
        dt=dt * ms,
        name="segments",
    )
    seg.run_regularly("g = 0", dt=interval * ms, when="start", name="segments_reset")
    soma = b2.NeuronGroup(n_neu, "v : 1", threshold="v > 0.5", reset="v = 0", dt=dt * ms, name="somata")
    in_syn = b2.Synapses(src, seg, on_pre="g_post += int(not_refractory_post)", dt=dt * ms, name="input_synapses")
    if syn.nnz:
        in_syn.connect(i=syn.pre(), j=syn.post)
    else:  # every segment is empty; Brian2 refuses to run a Synapses without synapses
        in_syn.active = False
    seg_syn = b2.Synapses(seg, soma, on_pre="v_post += 1", dt=dt * ms, name="plateau_synapses")
    seg_syn.connect(i=np.arange(n_seg), j=population.segment_neuron_)
    monitors = [b2.SpikeMonitor(g, name=f"{g.name}_spikes") for g in (src, seg, soma)]
    net = b2.Network(src, seg, soma, in_syn, seg_syn, *monitors)

    start = time.perf_counter()
    net.run(n_patterns * interval * ms, namespace={"tau_nmda": tau * ms, "theta": population.theta})
    runtime = time.perf_counter() - start

    raw = [(np.asarray(m.i[:], np.int64), np.asarray(m.t[:] / ms, np.float64)) for m in monitors]

    def per_pattern(unit, t, size):
        out = np.zeros((n_patterns, size), bool)
        out[np.floor(t / interval).astype(np.int64), unit] = True
        return out

    return Brian2Result(
        segment_detections=per_pattern(*raw[1], n_seg),
        neuron_responses=per_pattern(*raw[2], n_neu),
        input_spikes=raw[0],
        segment_spikes=raw[1],
        neuron_spikes=raw[2],
        runtime_s=runtime,
    )
