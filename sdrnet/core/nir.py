"""Exchange a `Network` with NIR (the Neuromorphic Intermediate Representation, neuromorphs/NIR; Pedersen et
al., Nature Communications 2024). ``nir`` is imported inside the functions.

A layer becomes one neuron node (``nir.LIF``, ``nir.IF`` or ``nir.CubaLIF``: its neuron model's
``to_nir``, `sdrnet.core.neurons`) fed by one branch per distinct synaptic delay ``d`` (NIR sums the
edges that enter a node)::

    source ─> Delay(d·dt, shape n_pre) ─> Linear(W_d) ─┐
    source ──────────────────────────────> Affine(W_0, b) ─┴─> LIF

where ``W_d[j, i]`` holds the weights of the synapses ``i → j`` with delay ``d`` (dense, as NIR
stores weights) and the bias rides on the first branch (an ``Affine``). A readout layer keeps
``v_threshold = inf``. NIR parameters are physical: τ and delays are written in seconds, so the export
needs the step length ``dt`` (the network's `Network.dt`, or given) and refuses to guess it; ``dt``
also travels in the graph's metadata, and the import gives its `Network` that ``dt``. What a neuron
model cannot say in NIR (a soft reset) and recurrent synapses raise; so does a layer that stops
(`Layer.tail`): NIR nodes run for as long as their input, so ``network_to_nir`` refuses a tail unless
``drop_tails=True`` (the graph then runs that layer on). On import, every ``Delay`` must be a whole
number of steps ``dt``.
"""

from __future__ import annotations

import numpy as np

from sdrnet.optional import require

from .network import Layer, Network
from .neurons import neuron_from_nir
from .protocol import check_dt, step_length
from .synapses import Synapses

__all__ = ["network_to_nir", "network_from_nir"]


def _nir():
    return require("nir", "sdrnet.core.nir")


def network_to_nir(network: Network, dt: float | None = None, *, drop_tails: bool = False):
    """The NIR graph of ``network`` (neuron nodes, per-synapse integer delays as parallel Delay branches).

    ``dt`` (seconds per step) is the network's own (`Network.dt`); pass it for a network without one.
    ValueError if neither says (τ and delays in seconds depend on it) or if the two disagree.

    A layer with a ``tail`` (it stops that many steps after its input ends) raises ValueError, naming
    it: NIR cannot say that a node stops. ``drop_tails=True`` exports such layers as running for every
    step, which changes what they do after the tail (e.g. a delay SNN's spikes past its padding).
    """
    nir = _nir()
    if not isinstance(network, Network):
        raise TypeError(f"network must be an sdrnet.core.Network, got {type(network).__name__}")
    dt = step_length(network.dt, dt, "network.dt")
    if dt is None:
        raise ValueError(
            "network_to_nir needs dt (seconds per step) to write tau and delays in seconds: the "
            "network has none (Network(layers, dt=...)); pass dt="
        )
    if not isinstance(drop_tails, bool):
        raise TypeError(f"drop_tails must be a bool, got {type(drop_tails).__name__}")
    tails = [i for i, layer in enumerate(network.layers) if layer.tail is not None]
    if tails and not drop_tails:
        i = tails[0]
        raise ValueError(
            f"layers[{i}] has tail={network.layers[i].tail} (it stops {network.layers[i].tail} steps "
            "after its input ends), which NIR cannot express; pass drop_tails=True to export "
            "every layer as running for all steps"
        )
    nodes = {"input": nir.Input(input_type=np.array([network.n_inputs]))}
    edges = []
    source = "input"
    for i, layer in enumerate(network.layers):
        if layer.recurrent is not None:
            raise ValueError(f"layers[{i}] has recurrent synapses, which network_to_nir does not export")
        try:
            neuron = layer.neuron.to_nir(layer.n, dt)
        except ValueError as exc:
            raise ValueError(f"layers[{i}]: {exc}") from None
        lif = f"{type(neuron).__name__.lower()}{i}"  # lif0, if0, cubalif0
        nodes[lif] = neuron
        bias = np.broadcast_to(np.asarray(layer.bias, np.float32), (layer.n,)).copy()
        for k, (d, weight) in enumerate(_by_delay(layer.synapses)):
            name = f"w{i}_d{d}"
            nodes[name] = nir.Affine(weight=weight, bias=bias) if k == 0 else nir.Linear(weight=weight)
            if d:
                nodes[f"delay{i}_d{d}"] = nir.Delay(delay=np.full(layer.synapses.n_pre, d * dt))
                edges += [(source, f"delay{i}_d{d}"), (f"delay{i}_d{d}", name)]
            else:
                edges.append((source, name))
            edges.append((name, lif))
        source = lif
    nodes["output"] = nir.Output(output_type=np.array([network.n_outputs]))
    edges.append((source, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": float(dt), "source": "sdrnet.core.Network"})


def _by_delay(synapses: Synapses) -> list[tuple[int, np.ndarray]]:
    """``[(d, W_d [n_post, n_pre])]`` for each distinct delay, ascending (one zero-delay matrix if empty)."""
    pre, delay = synapses.pre(), synapses.delay.astype(np.int64) if synapses.delay is not None else None
    delay = np.zeros(synapses.nnz, np.int64) if delay is None else delay
    out = []
    for d in np.unique(delay) if synapses.nnz else np.zeros(1, np.int64):
        w = np.zeros((synapses.n_post, synapses.n_pre), np.float32)
        sel = delay == d
        np.add.at(w, (synapses.post[sel], pre[sel]), synapses.weight[sel])
        out.append((int(d), w))
    return out


def network_from_nir(graph, dt: float | None = None) -> Network:
    """Rebuild a `Network` from a graph made by `network_to_nir` (or of the same shape: Input → [Delay →]
    Linear/Affine → LIF → ... → Output) with ``dt`` seconds per step (default: the graph's
    ``metadata["dt"]``; a different one resamples τ and the delays), which the `Network` keeps.

    A ``Delay`` that is not a whole, non-negative number of steps raises ValueError naming the node
    (the core's delays are integer steps)."""
    nir = _nir()

    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    dt = check_dt(graph.metadata.get("dt") if dt is None else dt, "dt")
    if dt is None:
        raise ValueError("dt is not in graph.metadata; pass dt (seconds per step)")
    into = {}
    for a, b in graph.edges:
        into.setdefault(b, []).append(a)
    chain = _lif_chain(graph, into)
    layers = []
    for lif_name in chain:
        layers.append(_layer(graph, into, lif_name, dt))
    return Network(layers, dt=dt)


def _lif_chain(graph, into) -> list[str]:
    """Neuron node names (LIF, IF, CubaLIF) from the input to the output."""
    nir = _nir()

    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(outputs) != 1 or len(into.get(outputs[0], [])) != 1:
        raise ValueError("graph must have one Output node with one incoming edge")
    chain, node = [], into[outputs[0]][0]
    while not isinstance(graph.nodes[node], nir.Input):
        if not isinstance(graph.nodes[node], (nir.LIF, nir.IF, nir.CubaLIF)):
            raise ValueError(
                f"node {node!r} is {type(graph.nodes[node]).__name__}; expected a chain of neuron "
                "layers (LIF, IF, CubaLIF)"
            )
        chain.append(node)
        node = _source_of(graph, into, into[node][0])
    return chain[::-1]


def _source_of(graph, into, weight_node: str) -> str:
    """The neuron/Input node feeding a weight branch (through its Delay, if any)."""
    nir = _nir()

    prev = into[weight_node][0]
    return into[prev][0] if isinstance(graph.nodes[prev], nir.Delay) else prev


def _layer(graph, into, lif_name: str, dt: float) -> Layer:
    nir = _nir()

    neuron = neuron_from_nir(graph.nodes[lif_name], dt, name=lif_name)
    pre, post, w, d = [], [], [], []
    bias = np.zeros(np.size(graph.nodes[lif_name].v_threshold), np.float32)
    n_pre = None
    for branch in into[lif_name]:
        node = graph.nodes[branch]
        if not isinstance(node, (nir.Linear, nir.Affine)):
            raise ValueError(f"{branch!r} feeds {lif_name!r} but is {type(node).__name__}, not Linear/Affine")
        source = into[branch][0]
        delay = _delay_steps(graph.nodes[source], source, dt) if isinstance(graph.nodes[source], nir.Delay) else 0
        j, i = np.nonzero(node.weight)
        pre.append(i), post.append(j), w.append(node.weight[j, i]), d.append(np.full(i.size, delay))
        n_pre = node.weight.shape[1]
        if isinstance(node, nir.Affine):
            bias = bias + np.asarray(node.bias, np.float32)
    synapses = Synapses.from_edges(
        np.concatenate(pre),
        np.concatenate(post),
        np.concatenate(w).astype(np.float32),
        np.concatenate(d),
        n_pre=n_pre,
        n_post=bias.size,
    )
    if synapses.max_delay == 0:
        synapses = Synapses(synapses.indptr, synapses.post, synapses.weight, None, n_post=synapses.n_post)
    return Layer(synapses, neuron, bias=bias)


def _delay_steps(node, name: str, dt: float) -> int:
    """A Delay node's delay in whole steps of ``dt``; ValueError if it is negative or between two steps."""
    steps = _uniform(node.delay, f"{name}.delay") / dt
    whole = round(steps)
    if steps < 0 or abs(steps - whole) > 1e-6 * max(1.0, abs(steps)):
        raise ValueError(
            f"Delay node {name!r} is {steps:g} steps of dt={dt:g} s; the core needs a whole, "
            "non-negative number of steps"
        )
    return int(whole)


def _uniform(values, name: str) -> float:
    arr = np.asarray(values, np.float64).ravel()
    if arr.size == 0 or not np.all(arr == arr[0]):
        raise ValueError(f"{name} must be the same for every unit, got {arr[:5]}...")
    return float(arr[0])
