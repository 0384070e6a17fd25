"""Activation-sparsity metrics with NeuroBench's definitions (NeuroBench v2.3.0, ``neurobench/metrics/workload``),
for time-major models ``[T, B, ...]``, plus the temporal (delta) sparsity of Yousefzadeh & Sifalakis.

- `activation_sparsity`: ``Σ zeros / Σ elements`` over the outputs of the activation modules
  (``ActivationSparsity``; by default ``nn.ReLU`` and ``nn.Sigmoid``, as NeuroBench hooks).
- `temporal_sparsity`: ``Σ [Δ = 0] / Σ elements`` over the delta layers' Δ (1 − the authors' logged
  ``count_nonzero(Δ)/#elements``).
- `synaptic_operations`: ``SynapticOperations`` — for every Linear/Conv, the forward pass of binarised
  copies (non-zero input → 1, non-zero weight → 1, no bias) summed: effective operations; the same with
  all-ones inputs and weights: dense. A layer whose inputs all lie in {−1, 0, 1} counts as ACs, else
  MACs. Averaged per sample (``B``).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn import functional as F

from .layers import CONNECTIONS, DELTAS, temporal_delta

__all__ = ["activation_sparsity", "temporal_sparsity", "synaptic_operations", "NEUROBENCH_ACTIVATIONS"]

NEUROBENCH_ACTIVATIONS = (nn.ReLU, nn.Sigmoid)  # neurobench/blocks/activation.py


def _check_input(model, x) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.dim() < 3:
        raise ValueError(f"x must be a time-major tensor [T, B, ...], got {getattr(x, 'shape', type(x).__name__)}")


@contextlib.contextmanager
def _evaluating(model: nn.Module):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was)


def _run_with_hooks(model, x, modules, pre: bool) -> list[tuple[nn.Module, torch.Tensor]]:
    """Forward ``x`` in eval mode; record (module, output) — or (module, input) when ``pre`` — of each hit."""
    seen, handles = [], []
    for m in model.modules():
        if m is not model and isinstance(m, modules):
            if pre:
                handles.append(m.register_forward_pre_hook(lambda mod, inp: seen.append((mod, inp[0]))))
            else:
                handles.append(m.register_forward_hook(lambda mod, inp, out: seen.append((mod, out))))
    try:
        with _evaluating(model):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def activation_sparsity(model: nn.Module, x: torch.Tensor, modules=NEUROBENCH_ACTIVATIONS) -> float:
    """NeuroBench ``ActivationSparsity``: zeros / elements over the outputs of every ``modules`` instance.

    0 means dense, 1 all zero; one forward pass on ``x`` in eval mode. Pass
    ``modules=(nn.ReLU, DeltaActivation)`` to count the delta layers' outputs too (NeuroBench's
    ``add_activation_module``).
    """
    _check_input(model, x)
    outs = [o for _, o in _run_with_hooks(model, x, tuple(modules), pre=False)]
    total = sum(o.numel() for o in outs)
    if total == 0:
        raise ValueError(f"model has no {tuple(m.__name__ for m in modules)} module that produced an output")
    return 1.0 - sum(int(torch.count_nonzero(o)) for o in outs) / total


def temporal_sparsity(model: nn.Module, x: torch.Tensor, by_layer: bool = False):
    """Fraction of zero temporal changes Δ over all delta layers (or a list, one per layer, with ``by_layer``).

    Δ is what the layer sends: ``q_t − q_{t−1}`` (``q_{−1} = 0``) for a `DeltaActivation`, the
    thresholded change for a `ThresholdDelta` — whichever its ``output`` mode.
    """
    _check_input(model, x)
    hits = _run_with_hooks(model, x, DELTAS, pre=False)
    if not hits:
        raise ValueError("model holds no delta layer (DeltaActivation or ThresholdDelta)")
    deltas = [out if m.output == "deltas" else temporal_delta(out) for m, out in hits]
    per_layer = [1.0 - int(torch.count_nonzero(d)) / d.numel() for d in deltas]
    if by_layer:
        return per_layer
    return 1.0 - sum(int(torch.count_nonzero(d)) for d in deltas) / sum(d.numel() for d in deltas)


def _binary_forward(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Linear):
        return F.linear(x, w)
    conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(layer)]
    if layer.padding_mode != "zeros":
        raise ValueError(f"only zero padding is supported, got padding_mode={layer.padding_mode!r}")
    return conv(x, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def synaptic_operations(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """NeuroBench ``SynapticOperations`` per sample: ``{"Effective_MACs", "Effective_ACs", "Dense"}``.

    For each Linear/Conv with input ``u`` and weight ``W``: effective ops ``= Σ [u≠0]·[W≠0]`` over every
    (input, weight) pair the layer multiplies (i.e. non-zero inputs × their non-zero fan-out), dense
    ops ``= Σ 1·1`` over the same pairs; bias excluded. Counted as ACs when every ``u ∈ {−1, 0, 1}``.
    Divided by the number of samples ``B = x.shape[1]``.
    """
    _check_input(model, x)
    macs = acs = dense = 0
    for layer, u in _run_with_hooks(model, x, CONNECTIONS, pre=True):
        w = layer.weight.detach()
        ops = int(_binary_forward(layer, (u != 0).to(w.dtype), (w != 0).to(w.dtype)).sum())
        dense += int(_binary_forward(layer, torch.ones_like(u, dtype=w.dtype), torch.ones_like(w)).sum())
        if bool(((u == 0) | (u == 1) | (u == -1)).all()):
            acs += ops
        else:
            macs += ops
    n = x.shape[1]
    return {"Effective_MACs": macs / n, "Effective_ACs": acs / n, "Dense": dense / n}
