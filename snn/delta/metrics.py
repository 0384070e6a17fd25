"""Activation-sparsity metrics with NeuroBench's definitions (NeuroBench v2.3.0, ``neurobench/metrics/workload``),
for time-major models ``[T, B, ...]``, plus the temporal (delta) sparsity of Yousefzadeh & Sifalakis.

- `activation_sparsity`: ``Σ zeros / Σ elements`` over the outputs of the activation modules
  (``ActivationSparsity``; by default ``nn.ReLU`` and ``nn.Sigmoid``, as NeuroBench hooks).
- `temporal_sparsity`: ``Σ [Δ = 0] / Σ elements`` over the delta layers' Δ (1 − the authors' logged
  ``count_nonzero(Δ)/#elements``).
- `synaptic_operations`: ``SynapticOperations`` — for every Linear/Conv, the forward pass of binarised
  copies (non-zero input → 1, non-zero weight → 1, no bias) summed: effective operations; the same with
  all-ones inputs and weights: dense; recurrent cells as ``recurrent_cell_macs``. A layer whose inputs
  all lie in {−1, 0, 1} counts as ACs, else MACs. Averaged per sample (``B``).

Modules are matched with ``isinstance`` (subclasses such as SpikingJelly's ``layer.Conv2d`` count), and a
module returning a tuple — snnTorch's ``Leaky(output=True)`` gives ``(spk, mem)`` — counts its first
element, the spikes, as NeuroBench does.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from .layers import CONNECTIONS, DELTAS, temporal_delta

__all__ = ["activation_sparsity", "temporal_sparsity", "synaptic_operations", "NEUROBENCH_ACTIVATIONS"]

NEUROBENCH_ACTIVATIONS = (nn.ReLU, nn.Sigmoid)  # neurobench/blocks/activation.py
RECURRENT_CELLS = (nn.RNNCell, nn.LSTMCell, nn.GRUCell)  # the nn.RNNCellBase kinds neurobench/metrics/utils counts


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


def _run_with_hooks(model, x, modules, pre: bool) -> list[tuple[nn.Module, object]]:
    """Forward ``x`` in eval mode; record (module, output) — or (module, input args) when ``pre`` — of each hit.

    An output that is a tuple is recorded as its first element: the spikes of snnTorch's ``(spk, mem)``
    (NeuroBench's ``NeuronHook`` keeps ``output[0]``)."""
    seen, handles = [], []
    for m in model.modules():
        if m is not model and isinstance(m, modules):
            if pre:
                handles.append(m.register_forward_pre_hook(lambda mod, inp: seen.append((mod, inp))))
            else:
                handles.append(
                    m.register_forward_hook(
                        lambda mod, inp, out: seen.append((mod, out[0] if isinstance(out, tuple) else out))
                    )
                )
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


def _binary(t: torch.Tensor, all_ones: bool) -> torch.Tensor:
    """NeuroBench's ``binarize_tensor``: non-zero → 1 (and zero → 1 too when ``all_ones``)."""
    return torch.ones_like(t) if all_ones else (t != 0).to(t.dtype)


def _binary_layer(layer: nn.Module, all_ones: bool) -> nn.Module:
    """NeuroBench's ``make_binary_copy`` of a Linear/Conv: a copy (its own forward, hooks dropped) with
    binarised weights and no bias, so subclasses (SpikingJelly's multi-step ``layer.Conv2d``) count as they run."""
    binary = copy.deepcopy(layer)
    binary._forward_pre_hooks.clear()
    binary._forward_hooks.clear()
    with torch.no_grad():
        binary.weight.copy_(_binary(binary.weight, all_ones))
        if binary.bias is not None:
            binary.bias.zero_()
    return binary


def _cell_ops(cell: nn.RNNCellBase, args: tuple, all_ones: bool) -> int:
    """NeuroBench 2.3.0 ``recurrent_cell_macs`` for one call ``cell(x[, state])``, state = ``h`` or ``(h, c)``.

    ``W_ih·x + W_hh·h`` on binarised copies (no bias), plus, for LSTMCell, the products of the binarised
    gates in ``c' = f·c + i·g`` and ``h' = o·tanh(c')``, and for GRUCell those of ``r·(W_hn·h + b_hn)`` and
    ``h' = (1 − z)·n + z·h`` — term by term as NeuroBench computes them (its dense count fills x and h
    with ones but, for an LSTMCell, only binarises the nested ``(h, c)``). Without a state the hidden
    terms are absent (PyTorch's zero state); NeuroBench 2.3.0 then reads only the batch's first sample.
    """
    x, state = args[0], (args[1] if len(args) > 1 else None)
    lstm = isinstance(cell, nn.LSTMCell)
    h, c = state if lstm and state is not None else (state, None)
    w_ih, w_hh = _binary(cell.weight_ih, all_ones), _binary(cell.weight_hh, all_ones)
    col = lambda t, fill: _binary(t, fill).reshape(-1, t.shape[-1]).T  # [features, B]
    out_ih = w_ih @ col(x, all_ones)
    out_hh = torch.zeros_like(out_ih) if h is None else w_hh @ col(h, all_ones and not lstm)
    b_ih = _binary(cell.bias_ih, all_ones)[:, None] if cell.bias else torch.zeros_like(out_ih[:, :1])
    b_hh = _binary(cell.bias_hh, all_ones)[:, None] if cell.bias else torch.zeros_like(out_ih[:, :1])
    out = out_ih + out_hh
    ops = out.sum()
    if isinstance(cell, nn.RNNCell):
        return int(ops)
    if lstm:
        i, f, g, o = ((out + b_ih + b_hh) != 0).to(out.dtype).reshape(4, cell.hidden_size, -1)
        c_next = i * g if c is None else f * col(c, False) + i * g
        return int(ops + c_next.sum() + ((o * (c_next != 0)) != 0).sum())
    rzn = (out + b_ih + b_hh).reshape(3, cell.hidden_size, -1)
    hh_n = out_hh.reshape(3, cell.hidden_size, -1)[2]
    n_hh = ((rzn[0] != 0) * ((hh_n + b_hh.reshape(3, cell.hidden_size, -1)[2]) != 0)) != 0
    n = (hh_n + b_ih[2] + n_hh) != 0  # NeuroBench's line as written: W_hn·h and bias_ih[2]
    z = rzn[1]
    h_t = torch.zeros_like(z) if h is None else col(h, all_ones)
    keep, update = ((1 - z) != 0) * n, (z != 0) * h_t
    return int(ops + n_hh.sum() + ((keep != 0).to(z.dtype) + (update != 0).to(z.dtype)).sum())


def _layer_ops(layer: nn.Module, args: tuple, binaries: dict) -> tuple[int, int]:
    """(effective, dense) operations of one call of a Linear/Conv or recurrent cell."""
    if isinstance(layer, RECURRENT_CELLS):
        return _cell_ops(layer, args, False), _cell_ops(layer, args, True)
    if id(layer) not in binaries:
        binaries[id(layer)] = tuple(_binary_layer(layer, ones) for ones in (False, True))
    u = args[0]
    effective, dense = binaries[id(layer)]
    return int(effective(_binary(u, False)).sum()), int(dense(_binary(u, True)).sum())


def synaptic_operations(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """NeuroBench ``SynapticOperations`` per sample: ``{"Effective_MACs", "Effective_ACs", "Dense"}``.

    For each Linear/Conv (or subclass) with input ``u`` and weight ``W``: effective ops ``= Σ [u≠0]·[W≠0]``
    over every (input, weight) pair the layer multiplies (i.e. non-zero inputs × their non-zero fan-out),
    dense ops ``= Σ 1·1`` over the same pairs; bias excluded. ``nn.RNNCell``/``LSTMCell``/``GRUCell`` count
    as NeuroBench's ``recurrent_cell_macs`` (`_cell_ops`), once per call. A call counts as ACs when every
    input (``x``, for a cell) is in {−1, 0, 1}. Divided by the number of samples ``B = x.shape[1]``.
    Whole ``nn.RNN``/``LSTM``/``GRU`` layers raise, as in NeuroBench ("not yet supported").
    """
    _check_input(model, x)
    whole = next((m for m in model.modules() if isinstance(m, nn.RNNBase)), None)
    if whole is not None:
        raise ValueError(
            f"{type(whole).__name__} layers are not counted by NeuroBench's SynapticOperations "
            "(not yet supported there); step a cell (nn.LSTMCell, ...) through time instead"
        )
    macs = acs = dense = 0
    binaries: dict = {}
    for layer, args in _run_with_hooks(model, x, CONNECTIONS + RECURRENT_CELLS, pre=True):
        ops, all_ops = _layer_ops(layer, args, binaries)
        dense += all_ops
        u = args[0]
        if bool(((u == 0) | (u == 1) | (u == -1)).all()):
            acs += ops
        else:
            macs += ops
    n = x.shape[1]
    return {"Effective_MACs": macs / n, "Effective_ACs": acs / n, "Dense": dense / n}
