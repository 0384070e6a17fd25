"""Structured pruning that physically removes hidden units, found from the module graph (a networkx DiGraph).

A unit ``j`` of an ``nn.Linear`` ``A`` can be removed when every path from ``A``'s output goes through
unit-wise modules only (ReLU and friends, dropout, SpikingJelly neurons, which act on each unit on its
own) into the *inputs* of other ``nn.Linear`` layers. Removing it deletes row ``j`` of ``A.weight`` and
``A.bias`` and column ``j`` of every consumer's weight: the network is exactly the one in which unit
``j`` never contributes (as Torch-Pruning's DepGraph and NNI's ``ModelSpeedup``). Units are ranked by
the L2 norm of their group — incoming row, bias and outgoing columns (Torch-Pruning
``MagnitudeImportance(p=2)``).
"""

from __future__ import annotations

import networkx as nx
import torch
from torch import fx, nn

from .masks import get_mask, instance_of, set_mask
from .methods import check_sparsity

__all__ = ["module_graph", "unit_groups", "prune_neurons", "UNITWISE"]

UNITWISE = (nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Dropout, nn.Identity)


def _is_unitwise(module: nn.Module) -> bool:
    return isinstance(module, UNITWISE) or instance_of(module, "spikingjelly.activation_based", "BaseNode")


class _Tracer(fx.Tracer):
    """Treat every module without children (and every SpikingJelly neuron) as one node."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return not any(True for _ in m.children()) or _is_unitwise(m)


def module_graph(model: nn.Module) -> nx.DiGraph:
    """The data flow between ``model``'s leaf modules, traced with ``torch.fx``, as a networkx DiGraph.

    Nodes are fx node names with attributes ``op`` (placeholder, call_module, call_function, ...),
    ``target`` (the qualified module name for call_module) and ``module`` (the module or None).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    try:
        traced = _Tracer().trace(model)
    except Exception as exc:
        raise TypeError(
            f"model ({type(model).__name__}) cannot be traced into a module graph by torch.fx: {exc}"
        ) from None
    modules = dict(model.named_modules())
    graph = nx.DiGraph()
    for node in traced.nodes:
        module = modules.get(node.target) if node.op == "call_module" else None
        graph.add_node(node.name, op=node.op, target=str(node.target), module=module)
        for source in node.all_input_nodes:
            graph.add_edge(source.name, node.name)
    return graph


def unit_groups(model: nn.Module, graph: nx.DiGraph | None = None) -> dict[str, list[str]]:
    """``{linear name: [consumer linear names]}`` for every ``nn.Linear`` whose units can be removed."""
    graph = module_graph(model) if graph is None else graph
    groups = {}
    for node, data in graph.nodes(data=True):
        if isinstance(data["module"], nn.Linear):
            consumers = _consumers(graph, node)
            if consumers:
                groups[data["target"]] = [graph.nodes[c]["target"] for c in consumers]
    return groups


def _consumers(graph: nx.DiGraph, node: str) -> list[str] | None:
    """Linear nodes reached from ``node`` through unit-wise modules only; None if anything else is reached."""
    found, stack, seen = [], list(graph.successors(node)), set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        module = graph.nodes[n]["module"]
        if isinstance(module, nn.Linear):
            found.append(n)
        elif module is not None and _is_unitwise(module):
            stack.extend(graph.successors(n))
        else:
            return None
    return sorted(found) or None


def prune_neurons(model: nn.Module, amount: float, layers: list[str] | None = None) -> dict[str, list[int]]:
    """Remove the fraction ``amount`` of the hidden units of each removable ``nn.Linear`` (at least one stays).

    ``layers`` (qualified names) restricts the layers; a named layer whose units cannot be removed
    raises before anything changes. Returns ``{layer: kept unit indices}``. Masks (ours) are sliced
    along; SpikingJelly neurons after a shrunk layer have their state reset.
    """
    amount = check_sparsity(amount, "amount")
    groups = unit_groups(model)
    if layers is not None:
        missing = [name for name in layers if name not in groups]
        if missing:
            raise ValueError(f"layers {missing} have no removable units (removable: {sorted(groups)})")
        groups = {name: groups[name] for name in layers}
    modules = dict(model.named_modules())
    plans = {name: _keep_units(modules, name, consumers, amount) for name, consumers in groups.items()}
    for name, keep in plans.items():
        _shrink(model, modules, name, groups[name], keep)
    for module in model.modules():
        if _is_unitwise(module) and hasattr(module, "reset"):
            module.reset()
    return {name: keep.tolist() for name, keep in plans.items()}


def _keep_units(modules, name, consumers, amount) -> torch.Tensor:
    layer = modules[name]
    score = layer.weight.detach().pow(2).sum(1)
    if layer.bias is not None:
        score = score + layer.bias.detach().pow(2)
    for c in consumers:
        score = score + modules[c].weight.detach().pow(2).sum(0)
    n_keep = max(1, layer.out_features - int(round(amount * layer.out_features)))
    return torch.sort(torch.topk(score.sqrt(), n_keep).indices).values


def _shrink(model, modules, name, consumers, keep) -> None:
    layer = modules[name]
    new = _linear_like(layer, layer.in_features, keep.numel())
    _copy(layer, new, rows=keep)
    _set_module(model, name, new)
    modules[name] = new
    for c in consumers:
        old = modules[c]
        replacement = _linear_like(old, keep.numel(), old.out_features)
        _copy(old, replacement, cols=keep)
        _set_module(model, c, replacement)
        modules[c] = replacement


def _linear_like(old: nn.Linear, n_in: int, n_out: int) -> nn.Linear:
    return nn.Linear(n_in, n_out, bias=old.bias is not None, device=old.weight.device, dtype=old.weight.dtype)


@torch.no_grad()
def _copy(old: nn.Linear, new: nn.Linear, rows=None, cols=None) -> None:
    """Copy weight (and bias, and mask) keeping output units ``rows`` or input units ``cols``."""

    def pick(t):
        return t[rows] if rows is not None else t[:, cols]

    new.weight.copy_(pick(old.weight.detach()))
    if old.bias is not None:
        new.bias.copy_(old.bias.detach()[rows] if rows is not None else old.bias.detach())
    mask = get_mask(old, "weight")
    if mask is not None:
        set_mask(new, "weight", pick(mask))


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)
