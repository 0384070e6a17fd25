"""A core `Network` on NEST through PyNN, for networks that outgrow one process.

`to_pynn` writes a network and its input events in PyNN's units as plain numpy arrays (a *plan*);
`simulate` builds and runs a plan on a PyNN backend with nothing but PyNN and numpy, so
`write_pynn_script` copies it verbatim into a standalone script; `run_nest` runs a plan on NEST's threads
(``local_num_threads``) and `read_pynn_run` reads a script's output, both as a `PyNNRun` in the core's steps.

**The neuron.** SpikingJelly's discrete LIF (`LIFParams`, hard reset; Fang et al. 2023, SpikingJelly
``LIFNode``) in steps of ``h`` (the network's ``dt``, or 1 ms for a network without one)::

    decay_input=False:  V[t] = V[t-1] - (V[t-1] - V_r) / tau + X[t] + b
    decay_input=True:   V[t] = V[t-1] + (X[t] + b - (V[t-1] - V_r)) / tau
    spike if V[t] >= theta, then V[t] = V_r

is PyNN's ``IF_curr_delta``, NEST's ``iaf_psc_delta`` on the grid, whose exact-integration step (Rotter &
Diesmann 1999; NEST ``iaf_psc_delta::update``) with no current (``i_offset = 0``) and ``t_ref = 0`` is::

    V[t] = E_L + P33 (V[t-1] - E_L) + sum_k J_k,   P33 = exp(-h / tau_m)
    spike if V[t] >= V_th (the core's >=, not NIR's >), then V[t] = V_reset

So ``tau_m = -h / ln(1 - 1/tau)``, taken among the doubles next to it so that NEST's ``P33`` is exactly the
double nearest ``1 - 1/tau`` (one exists for every tau tried above 1.31; below, the nearest ``P33`` is used);
``tau = 1`` gives ``P33 = 0`` and `IFParams` ``P33 = 1``. A spike of weight ``w`` jumps by ``J = w``
(decay_input=False) or ``w / tau`` (True). The bias folds into the resting potential, since
``E_L (1 - P33) = E_L / tau``: ``E_L = V_r + tau b`` (False) or ``V_r + b`` (True). ``V_th = theta``,
``V_reset = V_r``; ``cm`` is 1 nF (it only scales a current, and there is none).

**Time.** NEST delivers a spike one step after it at the earliest, so a delay of ``d`` steps becomes
``(d + 1) h``: each layer runs one step later than the one before it, as in `snn.export.run_brian2`. The
core's recurrent synapses already act one step late (a spike at ``t`` lands at ``t + 1 + d``), so they also
become ``(d + 1) h`` within the layer's shifted time. Input events at step ``t`` are PyNN spikes at
``(t + 2) h`` (PyNN relays spike sources through parrot neurons, one step; NEST refuses a spike at 0), so
layer ``l``'s spike at core step ``t`` is NEST's at ``(t + 3 + l) h`` (``lag`` in the plan). Until its first
step a layer rests at ``E_L = V_reset``, and its biased ``E_L`` is set then (PyNN ``Population.set`` between
runs), so the bias does not charge it during the steps it waits.

**Tails** (`Layer.tail`): a layer stops at step ``stop``; from that time its ``v_thresh`` is raised to ∞, so
it emits no more spikes and the layers after it receive what the core's do; a readout's potential is held
at its last value from ``stop`` on when the run is read back (`PyNNRun`), as the core holds it.

**Input** event values must be whole spike counts: a count ``k`` is ``k`` spikes at one time (NEST delivers
them as one spike of multiplicity ``k``).

**Refused** (ValueError naming the layer and the field): a soft reset (``v_reset=None``: ``iaf_psc_delta``
only resets to ``V_reset``), `CubaLIFParams`, `IFParams` with a bias (``P33 = 1`` leaves no resting
potential to carry it), ``v_threshold <= v_reset`` (NEST requires ``V_reset < V_th``).

**Rounding.** NEST computes in float64, the core in float32: the two are the same in real arithmetic,
and their spikes are bit for bit the same where both computations are exact, e.g. weights, biases and
thresholds on a dyadic grid (multiples of ``2**-k``) with tau a power of two. Otherwise a potential that
lands within rounding error of the threshold may fire in one and not in the other.

**MPI**: `simulate` gathers its recordings on rank 0 (PyNN's ``get_data``), so a script from
`write_pynn_script` runs under ``mpirun`` with an MPI build of NEST; the registry's ``nest-simulator``
wheels are built without MPI (``nest.build_info["have_mpi"]`` is False), so there it runs in one process
on ``threads`` threads.

**numba and NEST in one process**: NEST's wheel brings its own OpenMP runtime and loads it into the global
symbol scope; numba's OpenMP threads started after that crash. `run_nest` starts numba's threads before
it imports NEST; a program that imports ``nest`` or ``pyNN.nest`` itself should call
`sdrnet.core.get_num_threads` first (or set ``NUMBA_THREADING_LAYER=workqueue``).
"""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .events import Events
from .network import Network
from .neurons import IFParams, LIFParams
from .parallel import get_num_threads
from .validation import check_int

__all__ = ["PyNNRun", "to_pynn", "simulate", "run_nest", "write_pynn_script", "read_pynn_run"]

LAG = 3  # NEST step of layer 0's spike at core step 0: input at 2 h (parrot), + 1 step of minimum delay
_SIMULATORS = {"nest": {"spike_precision": "on_grid", "verbosity": "error"}, "spiNNaker": {}}
# what PyNN 0.13 and NEST 3.10 warn about their own calls and build (nothing a user can act on)
_NEST_NOISE = (
    r"(?s)\s*(.*is deprecated and will be removed in a future version of NEST"
    r"|Provided for backward compatibility only|Cannot find nest-config)"
)


class PyNNRun(NamedTuple):
    """A run on a PyNN backend in the core's steps, with `RunResult`'s fields of the same names: ``output``
    float32 ``[n_steps, B, n_out]`` (the readout's membrane potential, or the last layer's spikes),
    ``spikes`` the last layer's spikes and ``layer_spikes`` every layer's (`Events`)."""

    output: np.ndarray
    spikes: Events
    layer_spikes: tuple


# ---------------------------------------------------------------------------------------------- the plan


def to_pynn(network: Network, events: Events, n_steps: int | None = None) -> dict[str, np.ndarray]:
    """``network`` and ``events`` in PyNN's units (ms, mV, nF): a dict of numpy arrays that `simulate` runs
    and ``np.savez`` stores (the mapping: module docstring).

    ``n_steps`` defaults to `Network.run`'s for a fresh run (``events.n_steps + network.latency``); input
    events at or after it are not run. Keys: ``timestep`` (ms), ``max_delay`` (ms), ``t_stop`` (ms, the end of
    the PyNN run), ``n_steps``, ``lag``, ``sizes``, ``stops`` (each layer's last step + 1), ``readout``, the
    input as ``input_times`` (ms), ``input_units`` and ``input_ptr`` (per sample), and per layer ``l``
    ``layer{l}.<IF_curr_delta parameter>``, ``layer{l}.ff`` / ``layer{l}.rec`` (feed-forward / recurrent
    connections as rows ``[pre, post, weight (mV), delay (ms)]``), ``layer{l}.start`` (the time, ms, its
    resting potential becomes ``v_rest``: until then it rests at ``v_reset``, unbiased, as the core's layer
    before its first step) and ``layer{l}.freeze`` (the time its ``v_thresh`` becomes ∞, ms; ∞: never).
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be an sdrnet.core.Network, got {type(network).__name__}")
    network._check_events(events)
    n_steps = check_int("n_steps", events.n_steps + network.latency if n_steps is None else n_steps, 1)
    h = _timestep_ms(network.dt)
    plan: dict[str, Any] = {"timestep": h, "dt": np.nan if network.dt is None else network.dt}
    end, stops, max_delay = events.n_steps, [], 0
    for i, layer in enumerate(network.layers):
        end = n_steps if layer.tail is None else end + layer.tail
        stops.append(min(end, n_steps))
        plan.update(_layer_plan(i, layer, network.dt, h, stops[-1], n_steps))
        for syn in (layer.synapses, layer.recurrent):
            max_delay = max(max_delay, 0 if syn is None else syn.max_delay)
    last = network.layers[-1].neuron.resolve(network.dt)
    plan.update(
        n_steps=n_steps,
        lag=LAG,
        sizes=np.array([layer.n for layer in network.layers]),
        stops=np.array(stops),
        readout=not last.fires,
        max_delay=(max_delay + 1) * h,
        t_stop=(n_steps - 1 + LAG + len(network.layers) - 1) * h,
        n_inputs=network.n_inputs,
        **_input_plan(events, n_steps, h),
    )
    return {key: np.asarray(value) for key, value in plan.items()}


def _timestep_ms(dt: float | None) -> float:
    """PyNN's timestep (ms) for ``dt`` seconds: a whole number of NEST's tics (1 µs); 1 ms for no ``dt``."""
    if dt is None:
        return 1.0
    tics = dt * 1e6
    if tics < 0.5 or abs(tics - round(tics)) > 1e-6 * tics:
        raise ValueError(f"network.dt ({dt} s) must be a whole number of microseconds (NEST's time grid)")
    return round(tics) / 1000.0


def _nest_h(timestep: float) -> float:
    """NEST's step in ms as NEST computes it (``Time::get_ms``: ms per tic × tics)."""
    return (1 / 1000.0) * round(timestep * 1000.0)


def _layer_plan(i: int, layer, dt: float | None, h: float, stop: int, n_steps: int) -> dict[str, Any]:
    """Layer ``i`` as ``IF_curr_delta`` parameters and connection lists (module docstring)."""
    neuron = layer.neuron.resolve(dt)
    v_r, theta = _check_neuron(i, neuron, layer.bias)
    tau = 1.0 if isinstance(neuron, IFParams) else float(np.float32(neuron.tau))
    decay_input = isinstance(neuron, LIFParams) and neuron.decay_input
    gain = 1.0 / tau if decay_input else 1.0  # a spike's jump J = gain * w
    bias = np.broadcast_to(np.asarray(layer.bias, np.float32).astype(np.float64), (layer.n,))
    p33 = 1.0 if isinstance(neuron, IFParams) else 1.0 - 1.0 / tau
    key = f"layer{i}."
    return {
        key + "tau_m": _tau_m(p33, _nest_h(h)),
        key + "cm": 1.0,
        key + "v_rest": v_r + bias * (1.0 if decay_input else tau),
        key + "v_reset": v_r,
        key + "v_thresh": theta,
        key + "tau_refrac": 0.0,
        key + "ff": _connections(layer.synapses, gain, h),
        key + "rec": _connections(layer.recurrent, gain, h),
        key + "start": (LAG + i - 1) * h,
        key + "freeze": (stop + LAG + i - 1) * h if stop < n_steps else np.inf,
    }


def _check_neuron(i: int, neuron, bias) -> tuple[float, float]:
    """``(v_reset, v_threshold)`` of a neuron model that maps onto ``iaf_psc_delta``; ValueError otherwise."""
    if not isinstance(neuron, (LIFParams, IFParams)):
        raise ValueError(
            f"layers[{i}].neuron is {type(neuron).__name__}: only LIFParams and IFParams map exactly onto "
            "NEST's iaf_psc_delta (PyNN's IF_curr_delta)"
        )
    if neuron.v_reset is None:
        raise ValueError(
            f"layers[{i}].neuron.v_reset is None (a soft reset, V -= v_threshold): iaf_psc_delta resets to V_reset"
        )
    if isinstance(neuron, IFParams) and np.any(np.asarray(bias) != 0):
        raise ValueError(
            f"layers[{i}].bias is not 0: an IF neuron maps onto iaf_psc_delta without leak (P33 = 1), "
            "whose resting potential then cannot carry a constant input"
        )
    v_r, theta = float(np.float32(neuron.v_reset)), float(np.float32(neuron.v_threshold))
    if not theta > v_r:
        raise ValueError(
            f"layers[{i}].neuron.v_threshold ({theta}) must exceed v_reset ({v_r}): NEST requires V_reset < V_th"
        )
    return v_r, theta


def _tau_m(p33: float, h: float) -> float:
    """The ``tau_m`` (ms) for which NEST's ``exp(-h / tau_m)`` is ``p33`` (the nearest, if none is exact)."""
    if p33 == 0.0:
        return h / 1024.0  # exp(-1024) is 0 in float64
    if p33 == 1.0:
        return h * 2.0**60  # exp(-2**-60) is 1 in float64
    guess = -h / math.log(p33)
    candidates = [guess]
    up = down = guess
    for _ in range(64):
        up, down = math.nextafter(up, math.inf), math.nextafter(down, 0.0)
        candidates += [up, down]
    return min(candidates, key=lambda tau_m: abs(math.exp(-h / tau_m) - p33))


def _connections(syn, gain: float, h: float) -> np.ndarray:
    """Rows ``[pre, post, jump (mV), delay (ms)]``: the core delay ``d`` becomes ``(d + 1) h``."""
    if syn is None:
        return np.zeros((0, 4))
    delay = np.zeros(syn.nnz) if syn.delay is None else syn.delay.astype(np.float64)
    return np.column_stack([syn.pre(), syn.post, syn.weight.astype(np.float64) * gain, (delay + 1) * h])


def _input_plan(events: Events, n_steps: int, h: float) -> dict[str, np.ndarray]:
    """The input events before ``n_steps`` as PyNN spike times ``(t + 2) h``, a count ``k`` as ``k`` spikes."""
    value = events.value.astype(np.float64)
    if np.any(value < 0) or np.any(value != np.rint(value)):
        raise ValueError("events.value must be whole, non-negative spike counts (PyNN spike sources emit spikes)")
    keep = events.time < n_steps
    counts = np.where(keep, value, 0).astype(np.int64)
    sample = np.repeat(np.arange(events.n_samples), np.diff(events.sample_ptr))
    per_sample = np.bincount(sample, weights=counts, minlength=events.n_samples).astype(np.int64)
    return {
        "input_times": (np.repeat(events.time, counts) + 2.0) * h,
        "input_units": np.repeat(events.unit, counts),
        "input_ptr": np.concatenate([[0], np.cumsum(per_sample)]),
    }


# ---------------------------------------------------------------------------------------------- PyNN side
# simulate and its helpers use only PyNN and numpy (as np): write_pynn_script copies their source.


def simulate(sim, plan: dict, **setup) -> dict:
    """Build and run ``plan`` (`to_pynn`) on the PyNN backend module ``sim`` (e.g. ``pyNN.nest``), one sample
    at a time, each after ``sim.setup(timestep, min_delay=timestep, max_delay, **setup)``; ``setup`` holds the
    backend's options (NEST: ``threads``, ``spike_precision="on_grid"``). Returns PyNN's spike times of every
    layer (``layer{l}.spike_times`` in ms, ``.spike_units``, ``.spike_ptr`` per sample) and, for a readout,
    its membrane potential ``v`` ``[B, steps + 1, n]`` (mV, from time 0), with the plan's entries that
    `read_pynn_run` needs to put them into the core's steps.
    """
    from pyNN.parameters import Sequence

    if sim.__name__ == "pyNN.nest" and not hasattr(sim.IF_curr_delta, "variable_map"):
        sim.IF_curr_delta.variable_map = {"v": "V_m"}  # PyNN 0.13.0 neither sets nor records its v (PyNN #844)
    h, ptr = float(plan["timestep"]), plan["input_ptr"]
    out = {key: plan[key] for key in ("timestep", "dt", "n_steps", "lag", "sizes", "stops", "readout")}
    runs = []
    for b in range(len(ptr) - 1):
        sim.setup(timestep=h, min_delay=h, max_delay=float(plan["max_delay"]), **setup)
        times: list[list[float]] = [[] for _ in range(int(plan["n_inputs"]))]
        for t, u in zip(plan["input_times"][ptr[b] : ptr[b + 1]], plan["input_units"][ptr[b] : ptr[b + 1]]):
            times[int(u)].append(float(t))
        source = sim.Population(len(times), sim.SpikeSourceArray(spike_times=[Sequence(t) for t in times]))
        pops = _pynn_build(sim, plan, source)
        _pynn_run(sim, plan, pops)
        runs.append([pop.get_data().segments[0] for pop in pops])
        sim.end()
    for i in range(len(plan["sizes"])):
        out.update(_pynn_spikes(f"layer{i}.", [segments[i] for segments in runs]))
    if plan["readout"]:
        out["v"] = np.stack([_pynn_v(segments[-1]) for segments in runs]) if runs else np.zeros((0, 0, 0))
    return out


def _pynn_build(sim, plan: dict, source) -> list:
    """The plan's layers as ``IF_curr_delta`` populations fed by ``source``, at rest, recording."""
    pops, pre = [], source
    for i, n in enumerate(plan["sizes"]):
        key = f"layer{i}."
        names = ("tau_m", "cm", "v_reset", "v_thresh", "tau_refrac")
        cell = sim.IF_curr_delta(
            v_rest=float(plan[key + "v_reset"]), **{name: float(plan[key + name]) for name in names}
        )
        pop = sim.Population(int(n), cell, initial_values={"v": float(plan[key + "v_reset"])}, label=f"layer{i}")
        for src, rows in ((pre, plan[key + "ff"]), (pop, plan[key + "rec"])):
            for receptor, part in (("excitatory", rows[rows[:, 2] > 0]), ("inhibitory", rows[rows[:, 2] < 0])):
                if len(part):
                    connector = sim.FromListConnector(part, column_names=["weight", "delay"])
                    sim.Projection(src, pop, connector, sim.StaticSynapse(), receptor_type=receptor)
        last = i == len(plan["sizes"]) - 1
        pop.record(["spikes", "v"] if last and plan["readout"] else "spikes")
        pops.append(pop)
        pre = pop
    return pops


def _pynn_run(sim, plan: dict, pops: list) -> None:
    """Run until ``t_stop``; each layer rests at ``v_reset`` until its ``start`` (its resting potential then
    becomes ``v_rest``, which carries the bias) and stops spiking at its ``freeze`` time (``v_thresh = inf``)."""
    changes: dict = {}
    for i, pop in enumerate(pops):
        key = f"layer{i}."
        changes.setdefault(float(plan[key + "start"]), []).append((pop, {"v_rest": plan[key + "v_rest"]}))
        if np.isfinite(plan[key + "freeze"]):
            changes.setdefault(float(plan[key + "freeze"]), []).append((pop, {"v_thresh": np.inf}))
    ahead = float(plan["timestep"]) if sim.__name__ == "pyNN.nest" else 0.0  # pyNN.nest runs NEST one step on
    for t in sorted(changes):  # t: the simulator's time when the change is made, so it acts from step t + h on
        sim.run_until(t - ahead)
        for pop, values in changes[t]:
            pop.set(**values)
    sim.run_until(float(plan["t_stop"]))


def _pynn_spikes(key: str, segments: list) -> dict:
    """One layer's spikes over the samples' neo segments: times (ms), units and the samples' boundaries."""
    times, units, counts = [], [], []
    for seg in segments:
        n = 0
        for train in seg.spiketrains:
            t = np.asarray(train.rescale("ms").magnitude, np.float64)
            times.append(t)
            units.append(np.full(t.shape[0], int(train.annotations["source_index"])))
            n += t.shape[0]
        counts.append(n)
    return {
        key + "spike_times": np.concatenate(times) if times else np.zeros(0),
        key + "spike_units": np.concatenate(units) if units else np.zeros(0, np.int64),
        key + "spike_ptr": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    }


def _pynn_v(segment) -> np.ndarray:
    """The recorded membrane potential ``[steps + 1, n]`` (mV) with the columns in neuron order."""
    signal = segment.filter(name="v")[0]
    order = np.argsort(np.asarray(signal.array_annotations["channel_index"]))
    return np.asarray(signal.magnitude, np.float64)[:, order]


_PORTABLE = (simulate, _pynn_build, _pynn_run, _pynn_spikes, _pynn_v)


# ---------------------------------------------------------------------------------------------- runs


def run_nest(network: Network, events: Events, n_steps: int | None = None, threads: int = 1) -> PyNNRun:
    """Run ``events`` through ``network`` on NEST (PyNN's ``pyNN.nest``, on-grid spikes) with ``threads``
    threads (NEST's ``local_num_threads``); returns the spikes and the output in the core's steps, to
    compare with ``network.run(events, n_steps=n_steps)`` (the mapping: module docstring)."""
    from sdrnet.optional import require

    threads = check_int("threads", threads, 1)
    plan = to_pynn(network, events, n_steps)
    get_num_threads()  # numba's OpenMP threads must start before NEST loads its own libgomp, or they crash
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NEST_NOISE, category=UserWarning)
        sim = require("pyNN.nest", "sdrnet.core.pynn.run_nest")
        raw = simulate(sim, plan, threads=threads, **_SIMULATORS["nest"])
    return _in_steps(raw)


def write_pynn_script(
    network: Network,
    path,
    events: Events,
    n_steps: int | None = None,
    simulator: str = "nest",
    threads: int = 1,
) -> Path:
    """Write ``network`` and ``events`` as a standalone PyNN script ``path`` (a ``.py``) next to its plan
    (``<stem>.npz``, `to_pynn`); ``python <path>`` runs it (it needs only PyNN, numpy and the backend)
    and writes ``<stem>_run.npz``, which `read_pynn_run` reads. ``simulator``: ``"nest"`` (``pyNN.nest``,
    on ``threads`` threads) or ``"spiNNaker"`` (``pyNN.spiNNaker``; see the docs for its delay and weight
    limits). Returns the path of the script."""
    if simulator not in _SIMULATORS:
        raise ValueError(f"simulator must be one of {sorted(_SIMULATORS)}, got {simulator!r}")
    threads = check_int("threads", threads, 1)
    path = Path(path)
    if path.suffix != ".py":
        raise ValueError(f"path must name a .py file, got {str(path)!r}")
    plan: dict[str, Any] = to_pynn(network, events, n_steps)
    np.savez(path.with_suffix(".npz"), **plan)
    setup = {**_SIMULATORS[simulator], **({"threads": threads} if simulator == "nest" else {})}
    path.write_text(_script(repr(network), simulator, setup, path.stem))
    return path


def _script(title: str, simulator: str, setup: dict, stem: str) -> str:
    body = "\n\n".join(inspect.getsource(f) for f in _PORTABLE)
    return f'''"""{title} as a PyNN script, written by sdrnet.core.pynn.write_pynn_script.

Run it with `python {stem}.py` (under mpirun with an MPI build of NEST); it reads {stem}.npz and writes
{stem}_run.npz: read it with sdrnet.core.pynn.read_pynn_run. It needs PyNN, numpy and the simulator.
"""

import os
import warnings

import numpy as np

warnings.filterwarnings("ignore", message={_NEST_NOISE!r}, category=UserWarning)
import pyNN.{simulator} as sim  # noqa: E402

SETUP = {setup!r}
HERE = os.path.dirname(os.path.abspath(__file__))


{body}


if __name__ == "__main__":
    raw = simulate(sim, dict(np.load(os.path.join(HERE, "{stem}.npz"))), **SETUP)
    if sim.rank() == 0:
        np.savez(os.path.join(HERE, "{stem}_run.npz"), **raw)
'''


def read_pynn_run(path) -> PyNNRun:
    """The output file of a script from `write_pynn_script` (``<stem>_run.npz``) as a `PyNNRun`."""
    with np.load(Path(path)) as data:
        return _in_steps(dict(data))


def _in_steps(raw: dict) -> PyNNRun:
    """`simulate`'s output in the core's steps: layer ``l``'s NEST step ``s`` is core step ``s - lag - l``;
    a readout's potential is held from its stop on."""
    h, n_steps, lag = float(raw["timestep"]), int(raw["n_steps"]), int(raw["lag"])
    dt = None if np.isnan(raw["dt"]) else float(raw["dt"])
    layers = []
    for i, n in enumerate(raw["sizes"]):
        key = f"layer{i}."
        step = np.rint(raw[key + "spike_times"] / h).astype(np.int64) - lag - i
        if np.any((step < 0) | (step >= n_steps)):
            raise ValueError(f"layer {i} spiked outside the run's {n_steps} steps: not a run of this plan")
        ptr = raw[key + "spike_ptr"]
        layers.append(Events(step, raw[key + "spike_units"], None, ptr, n_steps=n_steps, n_units=int(n), dt=dt))
    if raw["readout"]:
        first = lag + len(layers) - 1
        v = raw["v"][:, first : first + n_steps].astype(np.float32).transpose(1, 0, 2).copy()
        stop = int(raw["stops"][-1])
        v[stop:] = v[stop - 1] if stop else raw["v"][:, 0].astype(np.float32)
        output = v
    else:
        output = layers[-1].to_dense()
    return PyNNRun(output, layers[-1], tuple(layers))
