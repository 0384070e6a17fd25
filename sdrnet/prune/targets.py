"""Neuromorphic target profiles: check an exported network against a chip's limits, and fit a model to one.

Limits (shared/refs, "Neuromorphic targets"): Loihi 1 — 8-bit weights (``num_weight_bits`` 0–8,
brian2_loihi), synaptic delays 0–62 steps, 131,072 neurons, 130 M synapses; Xylo Audio — 16 inputs,
1,000 hidden and 8 output neurons, fan-out ≤ 64, 8-bit weights (rockpool.ai); SpiNNaker 1 — 16-bit
weights and 4-bit delays in its 32-bit synaptic word (sPyNNaker ``synapse_row.h``). Anything else:
build your own `TargetProfile`. ``None`` means "no limit checked".
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sdrnet.core import Network
from sdrnet.report import format_table

from .export import CoreMLP, _parse, check_bits, quantize, to_core, weight_bits
from .masks import effective_weight, set_mask

__all__ = [
    "TargetProfile",
    "Violation",
    "TargetError",
    "LOIHI",
    "XYLO",
    "SPINNAKER",
    "PROFILES",
    "check",
    "check_sizes",
    "report",
    "fit_to_target",
    "FitResult",
]


@dataclass(frozen=True)
class TargetProfile:
    """Hardware limits; ``weight_scale``: one weight scale per ``"layer"`` or per output ``"unit"``."""

    name: str
    weight_bits: int | None = None
    weight_scale: str = "layer"
    max_delay: int | None = None
    max_neurons: int | None = None
    max_hidden: int | None = None
    max_inputs: int | None = None
    max_outputs: int | None = None
    max_fan_out: int | None = None
    max_fan_in: int | None = None
    max_synapses: int | None = None

    def __post_init__(self):
        if self.weight_scale not in ("layer", "unit"):
            raise ValueError(f"weight_scale must be 'layer' or 'unit', got {self.weight_scale!r}")
        for key in (
            "weight_bits",
            "max_delay",
            "max_neurons",
            "max_hidden",
            "max_inputs",
            "max_outputs",
            "max_fan_out",
            "max_fan_in",
            "max_synapses",
        ):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{key} must be a non-negative int or None, got {value!r}")

    def check(self, network) -> list[Violation]:
        return check(network, self)


LOIHI = TargetProfile("Loihi", weight_bits=8, max_delay=62, max_neurons=131_072, max_synapses=130_000_000)
XYLO = TargetProfile("Xylo Audio", weight_bits=8, max_hidden=1000, max_inputs=16, max_outputs=8, max_fan_out=64)
SPINNAKER = TargetProfile("SpiNNaker", weight_bits=16, max_delay=15)
PROFILES = {"loihi": LOIHI, "xylo": XYLO, "spinnaker": SPINNAKER}


@dataclass(frozen=True)
class Violation:
    """One broken limit: where (``layer`` index or ``"network"``), which rule, the limit and the value found.
    ``fixable``: pruning or quantising the weights can cure it."""

    where: str
    rule: str
    limit: int
    value: int
    fixable: bool

    def __str__(self) -> str:
        return f"{self.where}: {self.rule} is {self.value:,}, the target allows {self.limit:,}"


class TargetError(ValueError):
    """The network cannot be made to fit the target; ``violations`` says exactly why."""

    def __init__(self, profile: TargetProfile, violations: list[Violation]):
        self.profile, self.violations = profile, violations
        super().__init__(f"does not fit {profile.name}:\n" + "\n".join(f"  - {v}" for v in violations))

    @property
    def summary(self) -> str:
        """The same in one line."""
        return f"does not fit {self.profile.name}: " + "; ".join(map(str, self.violations))


def _layers(network) -> list[tuple]:
    """``[(synapses, recurrent or None, n_neurons)]`` of a `Network` or a `CoreMLP`."""
    if isinstance(network, Network):
        return [(lay.synapses, lay.recurrent, lay.n) for lay in network.layers]
    if isinstance(network, CoreMLP):
        return [(s, None, s.n_post) for s in network.with_layout("fan-out").synapses]
    raise TypeError(f"network must be an sdrnet.core.Network or a CoreMLP, got {type(network).__name__}")


def _over(out: list, where: str, rule: str, limit, value, fixable: bool) -> None:
    if limit is not None and value > limit:
        out.append(Violation(where, rule, int(limit), int(value), fixable))


def check_sizes(n_inputs: int, sizes, profile: TargetProfile) -> list[Violation]:
    """The limits of ``profile`` that a network of ``n_inputs`` inputs and layers of ``sizes`` neurons (the
    last one the output) breaks whatever its weights: pruning and quantising cannot fix these, so they can
    be checked before any training."""
    sizes = [int(n) for n in sizes]
    if not sizes:
        raise ValueError("sizes must hold the number of neurons of at least one layer")
    out: list[Violation] = []
    _over(out, "network", "input units", profile.max_inputs, n_inputs, False)
    _over(out, "network", "output neurons", profile.max_outputs, sizes[-1], False)
    _over(out, "network", "hidden neurons", profile.max_hidden, sum(sizes[:-1]), False)
    _over(out, "network", "neurons", profile.max_neurons, sum(sizes), False)
    return out


def check(network, profile: TargetProfile) -> list[Violation]:
    """Every limit of ``profile`` that ``network`` breaks (an empty list: it fits)."""
    layers = _layers(network)
    out = check_sizes(layers[0][0].n_pre, [n for _, _, n in layers], profile)
    _over(
        out,
        "network",
        "synapses",
        profile.max_synapses,
        sum(s.nnz + (r.nnz if r is not None else 0) for s, r, _ in layers),
        True,
    )
    for i, (syn, rec, _) in enumerate(layers):
        for label, s in (("", syn), (" (recurrent)", rec)):
            if s is None:
                continue
            where = f"layer {i}{label}"
            _over(out, where, "synaptic delay (steps)", profile.max_delay, s.max_delay, False)
            _over(out, where, "fan-in", profile.max_fan_in, s.fan_in().max(initial=0), True)
            if profile.weight_bits is not None and not check_bits(s, profile.weight_bits, profile.weight_scale):
                out.append(
                    Violation(
                        where,
                        f"weight bits (per {profile.weight_scale})",
                        profile.weight_bits,
                        weight_bits(s, profile.weight_scale),
                        True,
                    )
                )
    _over(out, "input units", "fan-out", profile.max_fan_out, layers[0][0].fan_out().max(initial=0), True)
    for i, (_, rec, n) in enumerate(layers):  # a neuron's synapses into the next layer and back into its own
        fan = layers[i + 1][0].fan_out() if i + 1 < len(layers) else np.zeros(n, np.int64)
        if rec is not None:
            fan = fan + rec.fan_out()
        _over(out, f"layer {i}", "fan-out", profile.max_fan_out, fan.max(initial=0), True)
    return out


def report(violations: list[Violation], profile: TargetProfile) -> str:
    """A table of the violations, or a line saying that the network fits."""
    if not violations:
        return f"fits {profile.name}: no violations"
    return format_table(
        [
            {
                "where": v.where,
                "limit": v.rule,
                "allowed": v.limit,
                "found": v.value,
                "fixable by pruning/quantising": "yes" if v.fixable else "no",
            }
            for v in violations
        ],
        f"{len(violations)} violation(s) of the {profile.name} profile",
    )


@dataclass
class FitResult:
    """What `fit_to_target` returns: the fitted model (a copy), its core export and what was done."""

    model: nn.Module
    network: Network | CoreMLP
    steps: list[str]
    before: list[Violation]


def fit_to_target(model: nn.Module, profile: TargetProfile, dt: float | None = None) -> FitResult:
    """Prune and quantise a copy of ``model`` until its export fits ``profile``, or raise `TargetError`.

    Fixable limits: fan-out and fan-in (each unit keeps its largest-|w| synapses), weight bits
    (`quantize` with the profile's bits and scale), total synapses (global magnitude pruning).
    Neuron counts, inputs, outputs and delays cannot be cured by pruning weights: they are reported.
    ``model`` itself is never changed. ``dt`` (seconds per step) goes to the exported spiking `Network`
    (`to_core`), for exports to physical time such as NIR.
    """
    if not isinstance(profile, TargetProfile):
        raise TypeError(f"profile must be a TargetProfile, got {type(profile).__name__}")
    _parse(model)
    before = check(to_core(model), profile)
    hard = [v for v in before if not v.fixable]
    if hard:
        raise TargetError(profile, hard)
    work = _fresh_copy(model)
    linears = [lin for _, lin, _ in _parse(work)]
    steps = []
    if profile.max_synapses is not None:
        total = sum(lin.weight.numel() for lin in linears)
        nnz = sum(int((effective_weight(lin) != 0).sum()) for lin in linears)
        if nnz > profile.max_synapses:
            from .methods import magnitude_prune

            magnitude_prune(linears, 1 - profile.max_synapses / total, "global")
            steps.append(f"global magnitude pruning to {profile.max_synapses:,} synapses")
    for limit, dim, label in ((profile.max_fan_out, 0, "fan-out"), (profile.max_fan_in, 1, "fan-in")):
        if limit is not None:
            for lin in linears:
                _limit_fan(lin, limit, dim)
            steps.append(f"kept the {limit} largest |w| per unit ({label})")
    if profile.weight_bits is not None:
        quantize(linears, profile.weight_bits, profile.weight_scale)
        steps.append(f"quantised weights to {profile.weight_bits} bits per {profile.weight_scale}")
    network = to_core(work, dt=dt)
    left = check(network, profile)
    if left:
        raise TargetError(profile, left)
    return FitResult(work, network, steps, before)


def _fresh_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` with its neurons' memories reset; ``model`` is not touched.

    Right after a training step SpikingJelly's membrane ``v`` is a non-leaf tensor of the autograd
    graph, which ``copy.deepcopy`` refuses: such tensors are copied detached (through the deepcopy
    memo), then every memory module of the copy is reset (SpikingJelly ``MemoryModule.reset``, what
    ``functional.reset_net`` calls), so the copy starts from rest like a freshly built model.
    """
    memo = {}
    for module in model.modules():
        for value in _attribute_values(module):
            if isinstance(value, torch.Tensor) and value.grad_fn is not None:
                memo[id(value)] = value.detach().clone()
    work = copy.deepcopy(model, memo)
    for module in work.modules():
        if isinstance(getattr(module, "_memories", None), dict) and callable(getattr(module, "reset", None)):
            module.reset()
    return work


def _attribute_values(module: nn.Module):
    """The plain attributes of ``module`` and the values of its dict attributes (SpikingJelly's ``_memories``)."""
    for value in vars(module).values():
        yield value
        if isinstance(value, dict):
            yield from value.values()


def _limit_fan(linear: nn.Linear, limit: int, dim: int) -> None:
    """Keep the ``limit`` largest |w| of each input column (``dim=0``: fan-out) or output row (``dim=1``: fan-in)."""
    w = effective_weight(linear).abs()
    if w.shape[dim] <= limit:
        return
    idx = torch.topk(w, limit, dim=dim).indices
    set_mask(linear, "weight", torch.zeros_like(w, dtype=torch.bool).scatter_(dim, idx, True))
