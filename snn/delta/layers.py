"""Delta activation layers (Yousefzadeh & Sifalakis, arXiv 2107.07305) and the threshold-and-residual
delta of Delta Networks (Neil et al. 2017) / lava-dl ``slayer.axon.Delta``, for time-major tensors ``[T, B, ...]``.

- `DeltaActivation`: quantise with a trainable step θ, ``q_t = θ·round(x_t/θ)`` (straight-through round),
  and emit the temporal change ``Δ_t = q_t − q_{t−1}`` (``q_{−1} = 0``). Training adds the L1 penalty
  ``Σ_layers fan_out · mean|Δ|`` (`delta_penalty`), as the authors' ``custom_layers.py`` does.
- `ThresholdDelta`: send ``Δ_t = x_t − x̂_{t−1}`` only where ``|Δ_t| ≥ θ``, update the reference
  ``x̂`` only there, so ``|x_t − x̂_t| < θ`` at every step (no drift).
- `insert_delta` puts delta layers after every activation of an ``nn.Sequential`` (and on its input);
  `sigma_delta` rewrites such a network so that every Linear/Conv receives Δ and accumulates
  ``z_t = z_{t−1} + W·Δ_t`` (lava-dl's sigma-delta form), which is what an event-driven processor runs.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

__all__ = [
    "quantize",
    "DeltaActivation",
    "ThresholdDelta",
    "TimeDistributed",
    "Accumulate",
    "insert_delta",
    "sigma_delta",
    "delta_penalty",
    "delta_layers",
    "temporal_delta",
    "CONNECTIONS",
]

CONNECTIONS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_LINEAR_PASS = (nn.Flatten, nn.Identity, nn.Dropout)  # linear, elementwise-free: a Δ passes through unchanged
_MIN_THETA = 1e-12


class _RoundSTE(torch.autograd.Function):
    """round() forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def quantize(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``q = θ·round(x/θ)`` with a straight-through round (Yousefzadeh & Sifalakis, Sec. 3; ``custom_layers.py``).

    Gradients (closed form): ``∂q/∂x = 1`` and ``∂q/∂θ = round(x/θ) − x/θ``.
    """
    return theta * _RoundSTE.apply(x / theta)


def temporal_delta(q: torch.Tensor) -> torch.Tensor:
    """``Δ_t = q_t − q_{t−1}`` along dim 0 with ``q_{−1} = 0`` (the authors' ``delta_level=1``)."""
    return torch.cat([q[:1], q[1:] - q[:-1]], dim=0)


def _check_output(output: str) -> str:
    if output not in ("values", "deltas"):
        raise ValueError(f"output must be 'values' or 'deltas', got {output!r}")
    return output


def _check_fan_out(fan_out) -> int:
    if isinstance(fan_out, bool) or not isinstance(fan_out, (int, np.integer)) or fan_out < 1:
        raise ValueError(f"fan_out must be an int >= 1 (synapses each unit drives), got {fan_out!r}")
    return int(fan_out)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _check_time_major(x: torch.Tensor, per: str, channels: int | None) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(
            f"x must be a floating-point torch.Tensor [T, B, ...], got {type(x).__name__}"
            + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else "")
        )
    if x.dim() < 3:
        raise ValueError(f"x must be time-major [T, B, features...] (at least 3-D), got shape {tuple(x.shape)}")
    if per == "channel" and x.shape[2] != channels:
        raise ValueError(f"x must have {channels} channels at dim 2 (per='channel'), got shape {tuple(x.shape)}")


def _threshold_shape(threshold, per: str, channels: int | None) -> torch.Tensor:
    if per not in ("layer", "channel"):
        raise ValueError(f"per must be 'layer' or 'channel', got {per!r}")
    if per == "channel" and (isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1):
        raise ValueError(f"channels must be a positive int when per='channel', got {channels!r}")
    if per == "layer" and channels is not None:
        raise ValueError(f"channels is only used with per='channel'; got channels={channels!r} with per='layer'")
    values = threshold.detach().cpu().numpy() if isinstance(threshold, torch.Tensor) else np.asarray(threshold)
    if values.dtype.kind not in "iuf":
        raise TypeError(f"threshold must be a number or numbers (θ > 0), got {threshold!r}")
    theta = torch.as_tensor(values, dtype=torch.float32).clone()
    if not torch.isfinite(theta).all() or (theta <= 0).any():
        raise ValueError(f"threshold must be finite and > 0, got {threshold}")
    size = 1 if per == "layer" else channels
    if theta.numel() not in (1, size):
        raise ValueError(f"threshold must be a scalar or hold {size} values (per={per!r}), got {theta.numel()}")
    return theta.reshape(-1).expand(size).clone()


class DeltaActivation(nn.Module):
    """Delta Activation Layer (Yousefzadeh & Sifalakis 2021, arXiv 2107.07305, Sec. 3).

    ``q_t = θ·round(x_t/θ)`` (straight-through round; θ = |threshold|, trainable, one per layer or per
    channel) and ``Δ_t = q_t − q_{t−1}`` with ``q_{−1} = 0``. ``output='values'`` passes ``q`` forward
    (the authors' default ``delta_level=0``: Δ serves the loss and the metrics); ``output='deltas'``
    passes Δ (``delta_level=1``; the next layer must accumulate, see `sigma_delta`).

    In training mode the layer keeps ``penalty = fan_out · mean|Δ|`` of its last forward pass
    (``sp_rate · n_outputs · mean|Δ|`` in ``custom_layers.py``); `delta_penalty` sums them.
    ``fan_out`` is the number of synapses each unit drives (``filters·k·k`` after a conv,
    ``out_features`` before a Linear); `insert_delta` sets it.

    Input: float tensor ``[T, B, C, ...]`` (time-major); ``per='channel'`` quantises channel ``C`` (dim 2)
    with its own θ and needs ``channels=C``.
    """

    def __init__(
        self,
        threshold=0.1,
        per: str = "layer",
        trainable: bool = True,
        output: str = "values",
        channels: int | None = None,
        fan_out: int = 1,
    ):
        super().__init__()
        theta = _threshold_shape(threshold, per, channels)
        self.per, self.channels, self.output = per, channels, _check_output(output)
        self.fan_out = _check_fan_out(fan_out)
        self.threshold = nn.Parameter(theta, requires_grad=_check_bool("trainable", trainable))
        self.penalty: torch.Tensor | None = None

    def theta(self, ndim: int) -> torch.Tensor:
        """θ = |threshold| shaped to broadcast against a ``ndim``-D time-major tensor."""
        theta = self.threshold.abs().clamp_min(_MIN_THETA)
        return theta.reshape(1, 1, -1, *([1] * (ndim - 3))) if self.per == "channel" else theta.reshape(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_time_major(x, self.per, self.channels)
        q = quantize(x, self.theta(x.dim()))
        delta = temporal_delta(q)
        self.penalty = self.fan_out * delta.abs().mean() if self.training else None
        return q if self.output == "values" else delta

    def train(self, mode: bool = True):
        self.penalty = None  # drop the last graph (also keeps the layer deep-copyable)
        return super().train(mode)

    def extra_repr(self) -> str:
        return (
            f"per={self.per!r}, output={self.output!r}, fan_out={self.fan_out}, "
            f"trainable={self.threshold.requires_grad}"
        )


class ThresholdDelta(nn.Module):
    """Threshold-and-residual delta (Neil et al. 2017, Delta Networks; lava-dl ``slayer.axon.Delta``).

    ``Δx_t = x_t − x̂_{t−1}``; send ``Δ_t = Δx_t`` where ``|Δx_t| ≥ θ`` and 0 elsewhere;
    ``x̂_t = x̂_{t−1} + Δ_t`` with ``x̂_{−1} = 0``. The residual ``r_t = x_t − x̂_t`` is carried, so
    ``|x_t − x̂_t| < θ`` at every step: nothing drifts (lava-dl writes the same recursion as
    ``Δx[t] = x[t] − x[t−1] + r[t−1]``). ``output='values'`` passes ``x̂``, ``'deltas'`` passes Δ.
    θ is fixed (a buffer); the backward pass is straight-through (``∂x̂/∂x = 1``). In training mode
    ``penalty = fan_out · mean|Δ|`` as in `DeltaActivation`.
    """

    def __init__(
        self, threshold=0.1, per: str = "layer", output: str = "values", channels: int | None = None, fan_out: int = 1
    ):
        super().__init__()
        self.register_buffer("threshold", _threshold_shape(threshold, per, channels))
        self.per, self.channels, self.output = per, channels, _check_output(output)
        self.fan_out = _check_fan_out(fan_out)
        self.penalty: torch.Tensor | None = None

    def theta(self, ndim: int) -> torch.Tensor:
        theta = self.threshold
        return theta.reshape(1, -1, *([1] * (ndim - 3))) if self.per == "channel" else theta.reshape(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_time_major(x, self.per, self.channels)
        theta = self.theta(x.dim())
        sent, ref = [], torch.zeros_like(x[0])
        with torch.no_grad():
            for x_t in x.detach():
                change = x_t - ref
                d = torch.where(change.abs() >= theta, change, torch.zeros_like(change))
                ref = ref + d
                sent.append(d)
        delta = torch.stack(sent)
        x_hat = x + (torch.cumsum(delta, 0) - x).detach()  # value x̂, straight-through gradient
        self.penalty = self.fan_out * delta.abs().mean() if self.training else None
        return x_hat if self.output == "values" else delta

    def train(self, mode: bool = True):
        self.penalty = None
        return super().train(mode)

    def extra_repr(self) -> str:
        return f"per={self.per!r}, output={self.output!r}, fan_out={self.fan_out}"


DELTAS = (DeltaActivation, ThresholdDelta)


class TimeDistributed(nn.Module):
    """Apply ``module`` to every step of a time-major ``[T, B, ...]`` tensor by merging T and B
    (SpikingJelly's ``SeqToANNContainer``), e.g. a ``Conv2d`` on clips ``[T, B, C, H, W]``."""

    def __init__(self, module: nn.Module):
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"x must be time-major [T, B, ...], got shape {tuple(x.shape)}")
        y = self.module(x.flatten(0, 1))
        return y.reshape(x.shape[0], x.shape[1], *y.shape[1:])


class Accumulate(nn.Module):
    """Sigma of a sigma-delta network (lava-dl ``slayer.dendrite.Sigma``): ``z_t = Σ_{s≤t} W·Δ_s + b = W·q_t + b``.

    Wraps a bias-free copy of a connection layer (so hooks and NeuroBench see it receive Δ) and adds
    the bias once, after the running sum over time.
    """

    def __init__(self, layer: nn.Module):
        super().__init__()
        if _connection(layer) is None:
            raise TypeError(f"layer must be a Linear/Conv (or a TimeDistributed one), got {type(layer).__name__}")
        layer = copy.deepcopy(layer)
        inner = _connection(layer)
        self.bias = inner.bias
        inner.bias = None
        self.layer = layer

    def forward(self, delta: torch.Tensor) -> torch.Tensor:
        z = torch.cumsum(self.layer(delta), dim=0)
        if self.bias is None:
            return z
        return z + self.bias.reshape(-1, *([1] * (z.dim() - 3)))


def _connection(module: nn.Module) -> nn.Module | None:
    """The Linear/Conv inside ``module`` (itself or the one a `TimeDistributed` wraps), else None."""
    inner = module.module if isinstance(module, TimeDistributed) else module
    return inner if isinstance(inner, CONNECTIONS) else None


def _fan_out(layer: nn.Module) -> int:
    """Synapses driven by one input unit, as the paper weighs its penalty: ``filters·k·k`` or ``out_features``."""
    if isinstance(layer, nn.Linear):
        return layer.out_features
    k = 1
    for s in layer.kernel_size:
        k *= s
    return layer.out_channels * k // layer.groups


def _check_sequential(model) -> None:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential (time-major layers in order), got {type(model).__name__}")


def _flat(model: nn.Sequential) -> list[nn.Module]:
    """The leaves of a (possibly nested) Sequential, in order; `TimeDistributed`/`Accumulate` count as leaves."""
    out = []
    for m in model:
        out.extend(_flat(m) if isinstance(m, nn.Sequential) else [m])
    return out


def insert_delta(
    model: nn.Sequential,
    threshold=0.1,
    *,
    after=(nn.ReLU,),
    on_input: bool = True,
    per: str = "layer",
    trainable: bool = True,
    kind: str = "quantize",
) -> nn.Sequential:
    """A copy of ``model`` with a delta layer after every module of type ``after`` (and first, on the input).

    The placement of Yousefzadeh & Sifalakis (after every activation and on the input). Each delta
    layer's ``fan_out`` is that of the next Linear/Conv (for the penalty); ``per='channel'`` takes
    its channel count from the preceding Linear/Conv (the input delta is always per layer).
    ``kind='quantize'`` inserts `DeltaActivation`, ``'threshold'`` inserts `ThresholdDelta`.
    Nested ``nn.Sequential`` are flattened; the model must work on time-major ``[T, B, ...]`` tensors.
    """
    _check_sequential(model)
    if kind not in ("quantize", "threshold"):
        raise ValueError(f"kind must be 'quantize' or 'threshold', got {kind!r}")
    on_input, trainable = _check_bool("on_input", on_input), _check_bool("trainable", trainable)
    if not (isinstance(after, type) or (isinstance(after, tuple) and all(isinstance(a, type) for a in after))):
        raise TypeError(f"after must be a module class or a tuple of classes, got {after!r}")
    leaves = [copy.deepcopy(m) for m in _flat(model)]
    if on_input:
        leaves.insert(0, nn.Identity())  # marks where the input delta goes
    out, channels = [], None
    for i, m in enumerate(leaves):
        out.append(m)
        conn = _connection(m)
        if conn is not None:
            channels = conn.out_features if isinstance(conn, nn.Linear) else conn.out_channels
        if isinstance(m, after) or (on_input and i == 0):
            nxt = next((c for c in map(_connection, leaves[i + 1 :]) if c is not None), None)
            n_out = 1 if nxt is None else _fan_out(nxt)
            p = "layer" if on_input and i == 0 else per
            ch = channels if p == "channel" else None
            if p == "channel" and ch is None:
                raise ValueError(f"per='channel' needs a Linear/Conv before the delta layer after {m}")
            layer = (
                DeltaActivation(threshold, p, trainable, channels=ch, fan_out=n_out)
                if kind == "quantize"
                else ThresholdDelta(threshold, p, channels=ch, fan_out=n_out)
            )
            out.append(layer)
    return nn.Sequential(*[m for m in out if not (on_input and m is leaves[0])])


def sigma_delta(model: nn.Sequential) -> nn.Sequential:
    """A copy of ``model`` in which delta layers output Δ and each Linear/Conv they feed accumulates.

    ``q → W·q + b`` becomes ``Δ → Σ_t W·Δ_t + b`` (`Accumulate`), equal up to float rounding, so every
    connection layer receives the sparse Δ — what an event-driven processor computes and what
    NeuroBench's ``SynapticOperations`` then counts. Only shape-only modules (Flatten, Identity,
    Dropout) may sit between a delta layer and the layer it feeds.
    """
    _check_sequential(model)
    out, pending = [], False
    for m in (copy.deepcopy(m) for m in _flat(model)):
        if isinstance(m, DELTAS):
            m.output, pending = "deltas", True
        elif _connection(m) is not None and pending:
            m, pending = Accumulate(m), False
        elif pending and not isinstance(m, _LINEAR_PASS):
            raise ValueError(
                f"{type(m).__name__} sits between a delta layer and the Linear/Conv it feeds; "
                "only Flatten/Identity/Dropout may (put the delta layer after it)"
            )
        out.append(m)
    return nn.Sequential(*out)


def delta_layers(model: nn.Module) -> list[nn.Module]:
    """Every `DeltaActivation` and `ThresholdDelta` in ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, DELTAS)]


def delta_penalty(model: nn.Module) -> torch.Tensor:
    """``Σ_l fan_out_l · mean|Δ_l|`` over the delta layers' last forward pass in training mode.

    The paper's temporal-sparsity loss (``custom_layers.py``: ``sp_rate · n_outputs · mean|Δ|`` per
    layer); multiply by the penalty strength ``sp_rate`` and add it to the task loss.
    """
    layers = delta_layers(model)
    if not layers:
        raise ValueError("model holds no delta layer (DeltaActivation or ThresholdDelta)")
    missing = [i for i, m in enumerate(layers) if m.penalty is None]
    if missing:
        raise ValueError(f"delta layers {missing} have no penalty: run a forward pass in training mode first")
    return sum(m.penalty for m in layers)
