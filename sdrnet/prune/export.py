"""Export a pruned PyTorch network to the event-driven core (zeros not stored) and quantise its weights.

`to_core` reads an ``nn.Sequential`` of ``nn.Linear`` layers followed by either SpikingJelly
``LIFNode``s (multi-step, time-major ``[T, B, C]``) — giving a `sdrnet.core.Network` — or ``nn.ReLU``
— giving a `CoreMLP` that runs each layer by `sdrnet.core.sparse_matmul`: event-driven (only the
non-zero inputs do work) or batched over samples, whichever its cost model predicts faster, with the
same result. ``nn.Dropout``/``nn.Identity`` are skipped (eval mode). Both are `sdrnet.core.CoreModel`s:
``run(...)`` returns a `sdrnet.core.RunResult`. Importing this module registers the family with
`sdrnet.core.to_core` (``"prune"``), so ``sdrnet.core.to_core(model)`` gives the same.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from sdrnet.core import Events, Layer, LIFParams, Network, RunResult, Synapses, sparse_matmul
from sdrnet.core.protocol import StaticCoreModel, register_core

from .masks import effective_weight, layer_names, targets

__all__ = [
    "CoreMLP",
    "to_core",
    "core_forward",
    "READOUT",
    "quantize",
    "quantize_synapses",
    "quantize_network",
    "weight_bits",
    "check_bits",
]

# A trailing nn.Linear becomes this layer: tau = 1 and decay_input=False give V[t] = X[t] (the Linear's
# output at step t; SpikingJelly LIFNode update), and v_threshold = inf never fires.
READOUT = LIFParams(tau=1.0, v_threshold=float("inf"), v_reset=0.0, decay_input=False)


@dataclass
class CoreMLP(StaticCoreModel):
    """A ReLU MLP on core `Synapses`: ``h ← relu(W·h + b)`` per layer by `sdrnet.core.sparse_matmul`, whose
    event kernel is one time step of `propagate` (only non-zero inputs do work) and whose batched kernel
    reads each weight once for a tile of samples; both give the same bits. In the fan-in layout
    (``with_layout("fan-in")``: `sdrnet.core.FanIn` projections, as lean) each layer gathers instead, several
    times faster on batches of dense activations, again with the same bits.

    A static model (``dt`` None, no state): `run` returns the logits ``[B, n_outputs]`` as ``output``,
    ``synops`` per layer (non-zero inputs × their fan-out) and the kernel each layer ran. ``synops`` and
    ``kernels`` as attributes are set only by the deprecated `forward`.
    """

    synapses: list[Synapses]
    biases: list[np.ndarray]
    relu: list[bool]
    synops: np.ndarray = field(default=None, repr=False)
    kernels: list[str] = field(default=None, repr=False)

    def run(self, events, state=None, n_steps: int | None = None, record=(), kernel: str = "auto") -> RunResult:
        """Logits of ``events`` (float ``[B, n_inputs]``, numpy or torch, or a one-step `Events`).

        ``kernel``: ``"auto"`` (the cost model of `sparse_matmul` per layer), ``"event"`` or ``"batched"``
        (fan-out layout), ``"gather"`` (fan-in layout): the same logits. ``state`` must be None and ``n_steps`` None or 1; the model records nothing
        (``record`` empty)."""
        h = self.static_input(events, state, n_steps, record)
        synops, kernels = np.zeros(len(self.synapses), np.int64), []
        for i, (syn, bias, relu) in enumerate(zip(self.synapses, self.biases, self.relu)):
            result = sparse_matmul(h, syn, kernel)
            synops[i] = result.synops
            kernels.append(result.kernel)
            h = result.out + bias
            if relu:
                np.maximum(h, 0, out=h)
        return RunResult(h, None, synops, {}, kernels=tuple(kernels))

    def forward(self, x, kernel: str = "auto") -> np.ndarray:
        """Deprecated: ``run(x, kernel=kernel).output``. Returns the logits and sets ``synops`` and ``kernels``."""
        warnings.warn(
            "CoreMLP.forward is deprecated: use CoreMLP.run(x).output (synops and kernels are fields of the RunResult)",
            DeprecationWarning,
            stacklevel=2,
        )
        result = self.run(x, kernel=kernel)
        self.synops, self.kernels = result.synops, list(result.kernels)
        return result.output

    __call__ = forward


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, np.float32)


def _is_lif(module: nn.Module) -> bool:
    """Exactly a SpikingJelly ``LIFNode`` (by class name: a plain ReLU MLP never imports SpikingJelly)."""
    cls = type(module)
    return cls.__qualname__ == "LIFNode" and cls.__module__.startswith("spikingjelly.activation_based.")


def _parse(model: nn.Module) -> list[tuple[int, nn.Linear, nn.Module | None]]:
    """``[(index, linear, activation or None)]`` of a supported ``nn.Sequential``; TypeError otherwise."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of nn.Linear and LIFNode/nn.ReLU, got {type(model).__name__}")
    items = [(i, m) for i, m in enumerate(model) if not isinstance(m, (nn.Dropout, nn.Identity))]
    stack, k = [], 0
    while k < len(items):
        i, m = items[k]
        if not isinstance(m, nn.Linear):
            raise TypeError(
                f"model[{i}] is {type(m).__name__}; to_core supports nn.Linear, each followed by "
                f"SpikingJelly LIFNode or nn.ReLU (nn.Dropout/nn.Identity are skipped)"
            )
        act = items[k + 1][1] if k + 1 < len(items) and not isinstance(items[k + 1][1], nn.Linear) else None
        if act is not None and not (type(act) is nn.ReLU or _is_lif(act)):
            raise TypeError(
                f"model[{items[k + 1][0]}] is {type(act).__name__}; to_core supports LIFNode or nn.ReLU after a Linear"
            )
        stack.append((i, m, act))
        k += 1 + (act is not None)
    if not stack:
        raise TypeError("model holds no nn.Linear")
    return stack


def _weight(linear: nn.Linear) -> np.ndarray:
    return effective_weight(linear, "weight").cpu().numpy().astype(np.float32).T  # [in, out]


def _bias(linear: nn.Linear) -> np.ndarray:
    if linear.bias is None:
        return np.zeros(linear.out_features, np.float32)
    return linear.bias.detach().cpu().numpy().astype(np.float32)


def to_core(model: nn.Module, dt: float | None = None) -> Network | CoreMLP:
    """Export a pruned ``nn.Sequential`` to the core; zero weights are not stored.

    Linear → LIFNode stacks give a `Network`: each Linear's weights become the next layer's
    `Synapses`, its bias the layer's per-step bias, the LIFNode's ``tau``, ``v_threshold``,
    ``v_reset`` (None: soft reset) and ``decay_input`` its `LIFParams`; a trailing Linear becomes a
    `READOUT` layer whose membrane potential is the Linear's output (the run's ``output``).
    A spiking model does not know the length of its steps, so the network's ``dt`` (seconds per step) is
    the one given: with ``dt=None`` its steps have no stated length, which runs on the core, but exports to
    physical time refuse it (`sdrnet.core.nir.network_to_nir` then needs ``dt``).
    ReLU MLPs give a `CoreMLP` (no time: ``dt`` must be None). Raises TypeError on any other layer, before
    doing anything.
    """
    stack = _parse(model)
    spiking = any(act is not None and _is_lif(act) for _, _, act in stack)
    if not spiking:
        if dt is not None:
            raise ValueError(f"a ReLU MLP runs without time steps: dt must be None, got {dt!r}")
        return CoreMLP(
            [Synapses.from_dense(_weight(lin)) for _, lin, _ in stack],
            [_bias(lin) for _, lin, _ in stack],
            [act is not None for _, _, act in stack],
        )
    layers = []
    for n, (i, lin, act) in enumerate(stack):
        if act is None and n < len(stack) - 1 or isinstance(act, nn.ReLU):
            raise TypeError(
                f"model[{i}]: a spiking model needs a LIFNode after every Linear but the last "
                f"(found {type(act).__name__ if act is not None else 'Linear -> Linear'})"
            )
        layers.append(
            Layer(Synapses.from_dense(_weight(lin)), READOUT if act is None else _lif_params(act, i), bias=_bias(lin))
        )
    return Network(layers, dt=dt)


def _matches(model) -> bool:
    """An ``nn.Sequential`` of ``nn.Linear`` with only ReLU, LIFNode, Dropout and Identity between (so not a delta
    network, whose delta layers are none of these)."""
    return (
        isinstance(model, nn.Sequential)
        and any(isinstance(m, nn.Linear) for m in model)
        and all(isinstance(m, (nn.Linear, nn.Dropout, nn.Identity)) or type(m) is nn.ReLU or _is_lif(m) for m in model)
    )


register_core("prune", _matches, to_core)


def _lif_params(node, index: int) -> LIFParams:
    if node.step_mode != "m":
        raise ValueError(
            f"model[{index}]: LIFNode must be multi-step (step_mode='m', inputs [T, B, C]), "
            f"got step_mode={node.step_mode!r}"
        )
    return LIFParams(
        tau=float(node.tau),
        v_threshold=float(node.v_threshold),
        v_reset=None if node.v_reset is None else float(node.v_reset),
        decay_input=bool(node.decay_input),
    )


def core_forward(network: Network, x) -> tuple[np.ndarray, RunResult]:
    """Deprecated: ``result = network.run(Events.from_dense(x))``; ``result.output`` is the first value.

    Run ``x`` (float ``[T, B, n_inputs]``, numpy or torch) through ``network``; returns the output ``[T, B, n_out]``
    (the last layer's spikes, or its membrane potential for a `READOUT` layer) and the `RunResult`."""
    warnings.warn(
        "core_forward is deprecated: use network.run(Events.from_dense(x)) and its output",
        DeprecationWarning,
        stacklevel=2,
    )
    x = _numpy(x)
    if x.ndim != 3 or x.shape[2] != network.n_inputs:
        raise ValueError(f"x must have shape [T, B, {network.n_inputs}], got {x.shape}")
    result = network.run(Events.from_dense(x))
    return result.output, result


# ---------------------------------------------------------------------------------------------- quantisation
def _check_quant(bits, per) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an int in [2, 16], got {bits!r}")
    if per not in ("layer", "unit"):
        raise ValueError(f"per must be 'layer' or 'unit' (one scale per output unit), got {per!r}")


def _quantize_values(w: np.ndarray, group: np.ndarray, n_groups: int, bits: int) -> np.ndarray:
    """Symmetric uniform quantisation: ``q = clip(round(w / s_g), −Q, Q)``, ``s_g = max_g |w| / Q``,
    ``Q = 2^(bits−1) − 1``; returns ``q · s_g`` (a weight stays zero; one scale per group)."""
    q_max = 2 ** (bits - 1) - 1
    peak = np.zeros(n_groups, np.float64)
    np.maximum.at(peak, group, np.abs(w.astype(np.float64)))
    scale = np.where(peak > 0, peak / q_max, 1.0)[group]
    return (np.clip(np.round(w / scale), -q_max, q_max) * scale).astype(np.float32)


def quantize(model, bits: int, per: str = "layer") -> dict[str, float]:
    """Quantise the weights of every target layer in place (`_quantize_values`; ``per="unit"``: one scale
    per output unit). Returns the largest absolute change per layer (keys as `masks.layer_names`)."""
    _check_quant(bits, per)
    pairs = targets(model)
    errors = {}
    for label, (module, name) in zip(layer_names(model, pairs), pairs):
        w = effective_weight(module, name)
        flat = w.reshape(w.shape[0], -1).cpu().numpy()
        group = np.repeat(np.arange(flat.shape[0]), flat.shape[1]) if per == "unit" else np.zeros(flat.size, int)
        q = _quantize_values(flat.ravel(), group, flat.shape[0], bits).reshape(w.shape)
        with torch.no_grad():
            getattr(module, name).copy_(torch.from_numpy(q))
        errors[label] = float(np.abs(q - w.cpu().numpy()).max())
    return errors


def quantize_synapses(synapses: Synapses, bits: int, per: str = "layer") -> Synapses:
    """The same synapses with weights quantised (``per="unit"``: one scale per postsynaptic unit)."""
    _check_quant(bits, per)
    group = synapses.post if per == "unit" else np.zeros(synapses.nnz, np.int64)
    w = _quantize_values(synapses.weight, group, synapses.n_post, bits)
    return Synapses(synapses.indptr, synapses.post, w, synapses.delay, n_post=synapses.n_post)


def quantize_network(network: Network, bits: int, per: str = "layer") -> Network:
    """A copy of ``network`` with every layer's synapses quantised (`quantize_synapses`); everything else
    (neurons, bias, ``tail``, ``dt``) as it was."""
    return Network(
        [
            replace(
                lay,
                synapses=quantize_synapses(lay.synapses, bits, per),
                recurrent=None if lay.recurrent is None else quantize_synapses(lay.recurrent, bits, per),
            )
            for lay in network.layers
        ],
        dt=network.dt,
    )


def check_bits(synapses: Synapses, bits: int, per: str = "layer") -> bool:
    """Whether every weight is ``q · s`` with integer ``|q| <= 2^(bits−1) − 1`` and ``s = max |w| / (2^(bits−1) − 1)``
    (per layer or per postsynaptic unit), up to float32 rounding."""
    if synapses.nnz == 0:
        return True
    group = synapses.post if per == "unit" else np.zeros(synapses.nnz, np.int64)
    w = synapses.weight.astype(np.float64)
    peak = np.zeros(synapses.n_post, np.float64)
    np.maximum.at(peak, group, np.abs(w))
    q_max = 2 ** (bits - 1) - 1
    r = w / np.where(peak > 0, peak / q_max, 1.0)[group]
    return bool(np.all(np.abs(r - np.round(r)) <= 1e-4 + 2.0**-21 * np.abs(r)))


def weight_bits(synapses: Synapses, per: str = "layer") -> int:
    """Fewest bits (2..32) in which `check_bits` holds; 32 means "not a low-bit grid" (0 without synapses)."""
    if synapses.nnz == 0:
        return 0
    return next((b for b in range(2, 17) if check_bits(synapses, b, per)), 32)
