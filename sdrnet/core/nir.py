"""Exchange a `Network` with NIR (the Neuromorphic Intermediate Representation, neuromorphs/NIR; Pedersen et
al., Nature Communications 2024), by the NIR 1.0 spec. ``nir`` is imported inside the functions.

Export (`network_to_nir`). A layer becomes one neuron node, its neuron model's ``to_nir``
(`sdrnet.core.neurons`): ``nir.LIF``, ``nir.IF`` or ``nir.CubaLIF`` with every time in seconds, the
threshold moved so that NIR's ``v > θ`` fires exactly where the core's ``v >= θ`` does (`nir_threshold`),
and a readout (``v_threshold = inf``) as the non-spiking ``nir.LI`` / ``nir.I`` / ``nir.CubaLI``. A
memoryless readout (a LIF readout with ``tau = 1`` step, e.g. `sdrnet.prune.export.READOUT`: its
potential is its input, ``v = W x + b``) is an ``Affine`` straight into the ``Output``. The synapses are
one branch per distinct delay ``d`` (NIR sums the edges that enter a node)::

    source ─> [Scale(s)] ─┬─> Delay(d·dt) ─> Linear(W_d) ─┐
                          └──────────────> Affine(W_0, b) ─┴─> LIF

``W_d[j, i]`` holds the synapses ``i → j`` of delay ``d``: at most one Delay node per distinct delay per
layer and no all-zero branch. NIR stores weights as dense arrays (a scipy sparse matrix is no NIR
weight: ``nir.write`` stores numpy arrays through h5py and the consumers load them with
``torch.from_numpy``), so a branch is dense; ``nir.write`` gzip-compresses every array, so its zeros cost
little in the file. A layer whose weights lie exactly on a symmetric integer grid (``w = q·s`` with
``|q| <= 2^(b-1) - 1``, ``s = max|w| / (2^(b-1) - 1)``, ``b <= 16`` bits, as `sdrnet.prune.export.quantize_network`
makes them) keeps its integers: the branches hold ``q`` and one ``Scale(s)`` on the layer's input
multiplies the incoming spikes by ``s`` (for spikes, ``q·(s·1)`` is the same float as the core's weight
``w``; ``float32(q·s) == w`` is checked for every synapse). ``integer_weights=False`` writes plain float
weights (for consumers without ``Scale``: snnTorch, SpikingJelly). Recurrent synapses (`Layer.recurrent`)
are a loop ``neuron → [Delay] → Linear → neuron``: a loop acts one step later (a discrete consumer
reads the previous step's spikes, as snnTorch's ``RLeaky``), so a recurrent delay ``d`` is a
``Delay(d·dt)`` in the loop and ``d = 0`` none. A layer that stops (`Layer.tail`) has no NIR form: refused
unless ``drop_tails=True``.

Import (`network_from_nir`) reads any graph of these nodes (nested subgraphs are flattened, ``Identity``
passes through): every path from a neuron (or the input) through ``Scale``, ``Delay`` (per-channel
delays in whole steps) and at most one ``Linear``/``Affine`` to the next neuron is a set of synapses;
the neuron nodes must form a chain, each read by the next, and a path from a neuron back to itself is
its recurrent synapses (whatever the order of the edges). Everything else — a skip connection, a
feedback loop between two layers, a loop without a neuron, an unsupported node type or field — raises
ValueError naming the nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

import numpy as np

from sdrnet.optional import require

from .network import Layer, Network
from .neurons import LIFParams, NeuronModel, neuron_from_nir
from .protocol import step_length
from .synapses import Synapses
from .validation import check_bool, check_dt

__all__ = ["network_to_nir", "network_from_nir"]

_MAX_PATHS = 100_000  # parallel paths between two neurons (each a set of synapses) before import refuses


def _nir():
    return require("nir", "sdrnet.core.nir")


# ---------------------------------------------------------------------------------------------- export


def network_to_nir(
    network: Network, dt: float | None = None, *, drop_tails: bool = False, integer_weights: bool = True
):
    """The NIR graph of ``network``: one neuron node per layer, its synapses as parallel Delay branches.

    ``dt`` (seconds per step) is the network's own (`Network.dt`); pass it for a network without one.
    ValueError if neither says (τ and delays in seconds depend on it) or if the two disagree.

    A layer with a ``tail`` (it stops that many steps after its input ends) raises ValueError naming it
    and its node: NIR cannot say that a node stops. ``drop_tails=True`` exports such layers as running for
    every step, which changes what they do after the tail (e.g. a delay SNN's spikes past its padding).
    ``integer_weights`` (default True) keeps a quantised layer's integer weights and its scale (module
    docstring). A readout (a layer that never fires) must be the last layer: in NIR its potential would
    feed the next layer (ValueError).
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
    drop_tails = check_bool("drop_tails", drop_tails)
    integer_weights = check_bool("integer_weights", integer_weights)
    graph = _Builder(nir, dt, integer_weights)
    source = graph.add("input", nir.Input(input_type=np.array([network.n_inputs])))
    last = len(network.layers) - 1
    for i, layer in enumerate(network.layers):
        source = _export_layer(graph, i, layer, source, last, drop_tails)
    if source != "output":
        graph.add("output", nir.Output(output_type=np.array([network.n_outputs])))
        graph.edges.append((source, "output"))
    return nir.NIRGraph(
        nodes=graph.nodes, edges=graph.edges, metadata={"dt": float(dt), "source": "sdrnet.core.Network"}
    )


@dataclass
class _Builder:
    """The nodes and edges of a graph being written."""

    nir: Any
    dt: float
    integer_weights: bool

    def __post_init__(self) -> None:
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node) -> str:
        self.nodes[name] = node
        return name


def _export_layer(graph: _Builder, i: int, layer: Layer, source: str, last: int, drop_tails: bool) -> str:
    """Add layer ``i`` fed by node ``source``; returns its neuron node's name (``"output"`` for a memoryless
    readout, whose weights feed the Output)."""
    nir, neuron = graph.nir, layer.neuron.resolve(graph.dt)
    memoryless = isinstance(neuron, LIFParams) and not neuron.fires and neuron.tau == 1.0
    try:
        node = None if memoryless else neuron.to_nir(layer.n, graph.dt)
    except ValueError as exc:
        raise ValueError(f"layers[{i}]: {exc}") from None
    name = "output" if node is None else f"{type(node).__name__.lower()}{i}"  # lif0, if1, li2, cubalif0, ...
    if layer.tail is not None and not drop_tails:
        raise ValueError(
            f"layers[{i}] has tail={layer.tail} (NIR node {name!r}: it stops {layer.tail} steps after its "
            "input ends), which NIR cannot express; pass drop_tails=True to export every layer as running "
            "for all steps"
        )
    if not neuron.fires and i != last:
        raise ValueError(
            f"layers[{i}] is a readout (v_threshold=inf) but feeds layers[{i + 1}]: in NIR its potential "
            "would be the next layer's input; only the last layer can be a readout"
        )
    if not neuron.fires and layer.recurrent is not None and layer.recurrent.nnz:
        raise ValueError(f"layers[{i}] is a readout (never fires) with recurrent synapses, which never act")
    bias = np.broadcast_to(np.asarray(layer.bias, np.float64), (layer.n,)).copy()
    if node is None:
        bias += neuron._rest()[0]  # v = v_rest + W x + b: the potential of a LIF readout with tau = 1
        graph.add("output", nir.Output(output_type=np.array([layer.n])))
    else:
        graph.add(name, node)
    _export_synapses(graph, f"{i}", source, name, layer.synapses, bias.astype(np.float32))
    if layer.recurrent is not None and layer.recurrent.nnz:
        _export_synapses(graph, f"{i}r", name, name, layer.recurrent, None)
    return name


def _export_synapses(graph: _Builder, tag: str, source: str, target: str, synapses: Synapses, bias) -> None:
    """The branches ``source → [Scale] → [Delay(d·dt)] → Linear/Affine(W_d) → target`` of ``synapses``; the bias
    (None: none) rides on the first branch as an ``Affine``."""
    nir = graph.nir
    scale = _grid_scale(synapses) if graph.integer_weights else None
    weight = synapses.weight if scale is None else np.rint(synapses.weight / np.float64(scale)).astype(np.float32)
    if scale is not None:
        graph.add(f"scale{tag}", nir.Scale(scale=np.full(synapses.n_pre, scale)))
        graph.edges.append((source, f"scale{tag}"))
        source = f"scale{tag}"
    for k, (d, w) in enumerate(_by_delay(synapses, weight)):
        name = f"w{tag}_d{d}"
        graph.add(name, nir.Affine(weight=w, bias=bias) if k == 0 and bias is not None else nir.Linear(weight=w))
        if d:
            delay = graph.add(f"delay{tag}_d{d}", nir.Delay(delay=np.full(synapses.n_pre, d * graph.dt)))
            graph.edges += [(source, delay), (delay, name)]
        else:
            graph.edges.append((source, name))
        graph.edges.append((name, target))


def _grid_scale(synapses: Synapses) -> float | None:
    """``s`` if every weight is exactly ``float32(q·s)`` with integer ``|q| <= Q = 2^(b-1) - 1`` and
    ``s = max|w| / Q`` for the fewest bits ``b`` in 2..16 (the grid of `sdrnet.prune.export.quantize_synapses`,
    per layer); None if there is none or ``s = 1`` (the weights are integers already)."""
    w = synapses.weight.astype(np.float64)
    peak = float(np.abs(w).max()) if synapses.nnz else 0.0
    if peak == 0.0:
        return None
    for bits in range(2, 17):
        s = peak / (2 ** (bits - 1) - 1)
        if np.array_equal((np.rint(w / s) * s).astype(np.float32), synapses.weight):
            return None if s == 1.0 else s
    return None


def _by_delay(synapses: Synapses, weight: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``[(d, W_d [n_post, n_pre])]`` for each distinct delay, ascending, of ``weight`` (one per synapse);
    one zero-delay all-zero matrix if there are no synapses (it carries the bias)."""
    pre = synapses.pre()
    delay = np.zeros(synapses.nnz, np.int64) if synapses.delay is None else synapses.delay.astype(np.int64)
    out = []
    for d in np.unique(delay) if synapses.nnz else np.zeros(1, np.int64):
        w = np.zeros((synapses.n_post, synapses.n_pre), np.float32)
        sel = delay == d
        np.add.at(w, (synapses.post[sel], pre[sel]), weight[sel])
        out.append((int(d), w))
    return out


# ---------------------------------------------------------------------------------------------- import

_NEURONS = ("LIF", "LI", "IF", "I", "CubaLIF", "CubaLI")
_SYNAPTIC = ("Linear", "Affine", "Scale", "Delay")


def network_from_nir(graph, dt: float | None = None) -> Network:
    """A `Network` from a NIR graph (module docstring: what it reads), with ``dt`` seconds per step (default:
    the graph's ``metadata["dt"]``; a different one resamples τ and the delays), which the `Network` keeps.

    Neuron nodes read by their model's ``from_nir`` (`sdrnet.core.neurons.neuron_from_nir`); an ``Affine``
    into the ``Output`` is a memoryless readout (``LIFParams(tau=1, v_threshold=inf, decay_input=False)``).
    A ``Delay`` that is not a whole, non-negative number of steps, a skip connection, a loop between layers
    or through no neuron, and any node or field the core cannot run raise ValueError naming the nodes;
    the import never follows a loop (each path is walked once)."""
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph, got {type(graph).__name__}")
    dt = check_dt(graph.metadata.get("dt") if dt is None else dt, "dt")
    if dt is None:
        raise ValueError("dt is not in graph.metadata; pass dt (seconds per step)")
    nodes, edges = _flatten(nir, graph, "")
    source, sink = _check_nodes(nir, nodes, edges)
    projections = _projections(nodes, edges, source, sink, dt)
    chain = _chain(projections, source, sink)
    layers = [_import_layer(nodes, projections, chain, k, dt) for k in range(1, len(chain))]
    return Network(layers, dt=dt)


def _flatten(nir, graph, prefix: str) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The nodes and edges of ``graph`` with nested graphs inlined (``"outer.inner"`` names) and pass-through
    nodes (a nested graph's Input/Output, ``Identity``) removed, their edges joined."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    ends: dict[str, tuple[str, str]] = {}  # nested graph -> (its Input, its Output), flattened names
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner, inner_edges = _flatten(nir, node, full + ".")
            ends[name] = (f"{full}.{_only(nir.Input, node, full)}", f"{full}.{_only(nir.Output, node, full)}")
            for key in ends[name]:
                inner[key] = _PASS
            nodes.update(inner)
            edges += inner_edges
        else:
            nodes[full] = _PASS if type(node).__name__ == "Identity" else node
    for a, b in graph.edges:
        a = ends[a][1] if a in ends else prefix + a
        b = ends[b][0] if b in ends else prefix + b
        edges.append((a, b))
    return nodes, _join_pass_through(nodes, edges) if not prefix else edges


_PASS = object()  # marks a node that passes its input on unchanged


def _only(kind, graph, name: str) -> str:
    found = [k for k, v in graph.nodes.items() if isinstance(v, kind)]
    if len(found) != 1:
        raise ValueError(f"nested graph {name!r} must have one {kind.__name__} node, got {found}")
    return found[0]


def _join_pass_through(nodes: dict[str, Any], edges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    for name in [k for k, v in nodes.items() if v is _PASS]:
        into = [a for a, b in edges if b == name]
        out = [b for a, b in edges if a == name]
        if name in into:
            raise ValueError(f"node {name!r} passes its own output back to itself (a loop through no neuron)")
        edges = [e for e in edges if name not in e] + [(a, b) for a in into for b in out]
        del nodes[name]
    return edges


def _check_nodes(nir, nodes: dict[str, Any], edges: list[tuple[str, str]]) -> tuple[str, str]:
    """The names of the one Input and one Output; ValueError naming any node or edge the core cannot read."""
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ValueError(f"edge ({a!r}, {b!r}) names a node {end!r} that is not in the graph")
    known = _NEURONS + _SYNAPTIC + ("Input", "Output")
    for name, node in nodes.items():
        if type(node).__name__ not in known or not isinstance(node, getattr(nir, type(node).__name__)):
            raise ValueError(
                f"node {name!r} is nir.{type(node).__name__}, which network_from_nir does not read (it reads "
                f"{', '.join(known)}, Identity and nested graphs)"
            )
    ends = []
    for kind in ("Input", "Output"):
        found = [k for k, v in nodes.items() if isinstance(v, getattr(nir, kind))]
        if len(found) != 1:
            raise ValueError(f"graph must have one {kind} node, got {found}")
        ends.append(found[0])
    shape = np.asarray(nodes[ends[0]].input_type["input"]).ravel()
    if shape.size != 1:
        raise ValueError(f"Input node {ends[0]!r} has shape {shape.tolist()}; the core reads a vector of inputs")
    return ends[0], ends[1]


@dataclass
class _Projection:
    """Synapses from one neuron node (or the input) to another (or the Output), summed over its paths."""

    pre: list[np.ndarray]
    post: list[np.ndarray]
    weight: list[np.ndarray]
    delay: list[np.ndarray]
    bias: np.ndarray | None
    paths: list[list[str]]
    n_post: int

    def synapses(self, n_pre: int, n_post: int) -> Synapses:
        """The synapses, one per (pre, post, delay) with the weights of parallel paths added."""
        pre, post, delay = (np.concatenate(x).astype(np.int64) for x in (self.pre, self.post, self.delay))
        key = np.stack([pre, post, delay])
        unique, inverse = np.unique(key, axis=1, return_inverse=True)
        weight = np.zeros(unique.shape[1], np.float64)
        np.add.at(weight, inverse.ravel(), np.concatenate(self.weight))
        keep = weight != 0
        pre, post, delay = unique[:, keep]
        return Synapses.from_edges(
            pre, post, weight[keep].astype(np.float32), delay if delay.any() else None, n_pre=n_pre, n_post=n_post
        )


def _projections(nodes, edges, source: str, sink: str, dt: float) -> dict[tuple[str, str], _Projection]:
    """Every path from a neuron node (or the Input) through synaptic nodes to a neuron node (or the
    Output), as synapses grouped by (from, to). Each path is walked once; a loop through synaptic nodes
    only raises ValueError."""
    out: dict[str, list[str]] = {name: [] for name in nodes}
    for a, b in edges:
        out[a].append(b)
    ends = {k for k, v in nodes.items() if type(v).__name__ in _NEURONS} | {source, sink}
    projections: dict[tuple[str, str], _Projection] = {}
    reached = {source}
    n_paths = 0
    for start in ends - {sink}:
        stack: list[list[str]] = [[start]]
        while stack:
            path = stack.pop()
            nexts = out[path[-1]]
            if not nexts and path[-1] not in ends:
                raise ValueError(f"node {path[-1]!r} feeds nothing (path {' -> '.join(path)})")
            for b in nexts:
                if b in path[1:]:
                    raise ValueError(f"the loop {' -> '.join(path[path.index(b) :] + [b])} passes through no neuron")
                reached.add(b)
                if b in ends:
                    n_paths += 1
                    if n_paths > _MAX_PATHS:
                        raise ValueError(f"more than {_MAX_PATHS} parallel paths between neuron nodes")
                    _add_path(projections, nodes, path + [b], dt)
                else:
                    stack.append(path + [b])
    unreached = [k for k in nodes if k not in reached]
    if unreached:
        raise ValueError(f"nodes {unreached} are not reached from a neuron or the Input")
    return projections


def _size(node) -> int | None:
    """The number of neurons of a neuron node (None for the Input/Output: checked elsewhere)."""
    return np.asarray(node.r).size if hasattr(node, "r") else None  # r may be a torch tensor (Norse)


def _width(node) -> int:
    """The number of values a neuron node or the Input sends."""
    size = _size(node)
    return size if size is not None else int(np.asarray(node.input_type["input"]).ravel()[0])


def _add_path(projections, nodes, path: list[str], dt: float) -> None:
    """Add the synapses of one path ``[from, synaptic nodes..., to]`` to ``projections[(from, to)]``."""
    n = _width(nodes[path[0]])
    # per channel before the weight node ([0]) and after it ([1]): scale and delay; the bias enters at it
    scale, delay = [np.ones(n)], [np.zeros(n, np.int64)]
    weight_node, weight, bias = None, np.zeros((0, 0)), None
    for name in path[1:-1]:
        node, kind = nodes[name], type(nodes[name]).__name__
        if kind in ("Linear", "Affine"):
            if weight_node is not None:
                raise ValueError(f"path {' -> '.join(path)} has two weight nodes ({weight_node!r}, {name!r})")
            weight = np.asarray(node.weight, np.float64)
            if weight.ndim != 2 or weight.shape[1] != n:
                raise ValueError(f"{kind} node {name!r} has weight shape {weight.shape}; expected [n_out, {n}]")
            weight_node, n = name, weight.shape[0]
            scale, delay = scale + [np.ones(n)], delay + [np.zeros(n, np.int64)]
            bias = _vector(node.bias, n, f"{name}.bias") if kind == "Affine" else None
        elif kind == "Scale":
            s = _vector(node.scale, n, f"{name}.scale")
            scale[-1] = scale[-1] * s
            bias = None if bias is None else bias * s
        else:  # Delay
            d = _delay_steps(node, name, n, dt)
            if bias is not None and bias.any() and d.any():
                raise ValueError(f"the bias of {weight_node!r} passes through Delay node {name!r} (a delayed constant)")
            delay[-1] = delay[-1] + d
    size = _size(nodes[path[-1]])
    if size is not None and size != n:
        raise ValueError(f"path {' -> '.join(path)} carries {n} values into {path[-1]!r} of {size} neurons")
    if weight_node is None:  # element-wise: one synapse per channel
        i = j = np.arange(n)
        w, d = scale[0], delay[0]
    else:
        j, i = np.nonzero(weight)
        w = weight[j, i] * scale[0][i] * scale[1][j]
        d = delay[0][i] + delay[1][j]
    p = projections.setdefault((path[0], path[-1]), _Projection([], [], [], [], None, [], n))
    if p.n_post != n:
        raise ValueError(f"paths into {path[-1]!r} carry {p.n_post} and {n} values")
    p.pre.append(i), p.post.append(j), p.weight.append(w), p.delay.append(d), p.paths.append(path)
    if bias is not None:
        p.bias = bias if p.bias is None else p.bias + bias


def _vector(values, n: int, name: str) -> np.ndarray:
    """``values`` as ``n`` float64 (a scalar broadcasts); ValueError naming the field otherwise."""
    arr = np.asarray(values, np.float64)
    if arr.size == 1:
        return np.full(n, float(arr.ravel()[0]))
    if arr.shape != (n,):
        raise ValueError(f"{name} has shape {arr.shape}; expected ({n},)")
    return arr


def _delay_steps(node, name: str, n: int, dt: float) -> np.ndarray:
    """A Delay node's delays (per channel) in whole steps of ``dt``; ValueError naming the node if one is
    negative or between two steps."""
    steps = _vector(node.delay, n, f"{name}.delay") / dt
    whole = np.rint(steps)
    bad = (steps < 0) | (np.abs(steps - whole) > 1e-6 * np.maximum(1.0, np.abs(steps)))
    if bad.any():
        raise ValueError(
            f"Delay node {name!r} is {steps[bad][0]:g} steps of dt={dt:g} s; the core needs a whole, "
            "non-negative number of steps"
        )
    return whole.astype(np.int64)


def _chain(projections, source: str, sink: str) -> list[str]:
    """``[input, neuron nodes in order..., (output if a memoryless readout)]``: each read by the next (and
    by itself: recurrent); ValueError naming the nodes of a skip connection or of a loop between layers."""
    order: dict[str, set[str]] = {}
    for a, b in projections:
        order.setdefault(b, set())
        if a != b:
            order[b].add(a)
    try:
        nodes = list(TopologicalSorter(order).static_order())
    except CycleError as exc:
        raise ValueError(
            f"the neuron nodes {exc.args[1]} feed each other in a loop; the core's layers are a chain"
        ) from None
    depth = {source: 0}
    for name in nodes:
        if name != source:
            depth[name] = 1 + max(depth.get(a, -(10**9)) for a in order[name]) if order[name] else -(10**9)
    chain = sorted((k for k in depth if depth[k] >= 0), key=depth.__getitem__)
    stray = [k for k in depth if depth[k] < 0]
    if stray:
        raise ValueError(f"nodes {stray} are not fed from the Input")
    for a, b in zip(chain, chain[1:]):
        if depth[a] == depth[b]:
            raise ValueError(f"{a!r} and {b!r} are parallel layers; the core's layers are a chain")
    for (a, b), p in projections.items():
        if a != b and depth[b] != depth[a] + 1:
            raise ValueError(
                f"{' and '.join(' -> '.join(path) for path in p.paths)} skips from {a!r} to {b!r}: the core's "
                "layers read only the layer before them (and themselves, recurrent)"
            )
    if chain[-1] != sink:
        raise ValueError(f"the last neuron node {chain[-1]!r} does not feed the Output {sink!r}")
    direct = projections[(chain[-2], sink)].paths == [[chain[-2], sink]]
    if direct and chain[-2] == source:
        raise ValueError(f"the Input {source!r} feeds the Output {sink!r} with no neuron node between")
    return chain[:-1] if direct else chain


def _import_layer(nodes, projections, chain: list[str], k: int, dt: float) -> Layer:
    """Layer ``k - 1`` of ``chain`` (its neuron node ``chain[k]``, fed by ``chain[k - 1]``)."""
    name, before = chain[k], chain[k - 1]
    node = nodes[name]
    feed = projections[(before, name)]
    n_pre, n = _width(nodes[before]), feed.n_post
    neuron: NeuronModel
    if _size(node) is None:  # the Output, fed by weights: a memoryless readout
        neuron = LIFParams(tau=1.0, v_threshold=np.inf, v_reset=0.0, decay_input=False)
    else:
        neuron = neuron_from_nir(node, dt, name=name)
    if not neuron.fires and k != len(chain) - 1:
        raise ValueError(f"{name!r} never fires (a readout) but feeds {chain[k + 1]!r}; only the last layer can")
    own = projections.get((name, name))
    bias = np.zeros(n)
    for p in (feed, own):
        if p is not None and p.bias is not None:
            bias += p.bias  # a constant input every step, wherever it enters
    return Layer(
        feed.synapses(n_pre, n),
        neuron,
        recurrent=None if own is None else own.synapses(n, n),
        bias=bias.astype(np.float32),
    )
