"""Active-dendrite deep networks in PyTorch (Iyer et al. 2022, "Avoiding Catastrophe: Active Dendrites
Enable Multi-Task Learning in Dynamic Environments", Frontiers in Neurorobotics 16:846219).

A hidden unit computes a feed-forward sum and owns ``num_segments`` dendritic segments that see a
context vector ``c`` (Iyer et al. 2022, Sec. "Active dendrites neuron", eqs. 1-3):

    ŷ = wᵀx + b                        feed-forward activation (eq. 1)
    d_j = u_jᵀc,  j* = argmax_j |d_j|   segment activations, the strongest one by magnitude (eq. 2)
    y = ŷ · σ(d_{j*})                  the winning segment gates the unit, keeping its sign (eq. 3)

and k-winners-take-all keeps only the ``k`` largest units of a layer (Sec. "Sparse representations
via k-winners-take-all"). The modules follow the interface and semantics of Numenta's ``nupic.torch``
(``KWinners``, ``SparseWeights``) and ``nupic.research`` (``DendriteSegments``, the dendritic layers,
``DendriticMLP``), which pin ``torch<=2.0`` and are not on PyPI.

Speed: in the paper's protocol a training batch carries one task's context (every row the same) and
test contexts come from a few prototypes, so the segments are evaluated once per *distinct* context
row and the winning activation is gathered per sample (`group_contexts`). Outputs and gradients are
those of the dense ``einsum("ijk,bk->bij")`` evaluation, up to float rounding.

`to_core` exports a trained `DendriticMLP` to `sdrnet.core.Synapses` (zeros not stored) and runs it
with the event-driven kernels, a `sdrnet.core.CoreModel`; importing this module registers the family with
`sdrnet.core.to_core` (``"dendrites"``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sdrnet.core import RunResult, Synapses, kwta, sparse_matmul
from sdrnet.core.protocol import StaticCoreModel, register_core

__all__ = [
    "DendriteSegments",
    "DendriticLayer",
    "KWinners",
    "SparseWeights",
    "DendriticMLP",
    "MODES",
    "group_contexts",
    "rezero_weights",
    "rezero_after_step",
    "update_boost_strength",
    "CoreDendriticMLP",
    "to_core",
]

MODES = ("absmax_gating", "gating", "biasing")


# ---------------------------------------------------------------------------------------------- checks
def _check_size(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def _check_fraction(name: str, value, *, high_open: bool = True) -> float:
    ok = 0.0 <= value < 1.0 if high_open else 0.0 < value <= 1.0
    if not ok:
        bounds = "[0, 1)" if high_open else "(0, 1]"
        raise ValueError(f"{name} must be in {bounds}, got {value}")
    return float(value)


def _check_input(name: str, x, width: int, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != width:
        raise ValueError(f"{name} must have shape [B, {what}={width}], got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def _check_context(context, batch: int, dim_context: int) -> torch.Tensor:
    if not isinstance(context, torch.Tensor):
        raise TypeError(f"context must be a torch.Tensor, got {type(context).__name__}")
    if context.dim() == 1:
        context = context[None]
    if context.dim() != 2 or context.shape[1] != dim_context or context.shape[0] not in (1, batch):
        raise ValueError(
            f"context must have shape [B={batch}, dim_context={dim_context}], "
            f"[1, {dim_context}] or [{dim_context}], got {tuple(context.shape)}"
        )
    if not context.is_floating_point():
        raise TypeError(f"context must be a floating-point tensor, got {context.dtype}")
    return context


def random_off_mask(rows: int, cols: int, sparsity: float) -> torch.Tensor:
    """Bool ``[rows, cols]`` mask, True = weight held at zero; exactly ``cols - round((1 - sparsity)·cols)``
    entries per row are off (nupic's ``random_mask`` along the output dimension), drawn from torch's RNG."""
    n_off = cols - int(round((1.0 - sparsity) * cols))
    order = torch.rand(rows, cols).argsort(dim=1)
    return torch.zeros(rows, cols, dtype=torch.bool).scatter_(1, order[:, :n_off], True)


# ---------------------------------------------------------------------------------------------- sparsity
class _ZeroMask:
    """Holds a persistent bool ``zero_mask`` buffer and sets ``_masked_weight()`` to zero where it is True.

    Re-zeroing multiplies by a float copy of the kept entries (several times faster than ``masked_fill_``
    on CPU), then fills the masked entries with ``masked_fill_`` when the weights hold a NaN or inf (which a
    product with 0 keeps). The copy is not saved; it is rebuilt whenever ``zero_mask`` changes (edited in
    place, assigned or loaded), and the forward pass re-zeroes first after such a change.
    """

    def _register_mask(self, mask: torch.Tensor) -> None:
        self.register_buffer("zero_mask", mask)
        self.register_buffer("_keep", None, persistent=False)
        self._keep_of = None  # the (storage, version) of zero_mask that _keep was built from

    def _mask_state(self) -> tuple[int, int]:
        return self.zero_mask.data_ptr(), self.zero_mask._version

    @torch.no_grad()
    def rezero(self) -> None:
        """Set the masked weights back to zero (after every optimizer step)."""
        if self._keep_of != self._mask_state():
            self._keep = (~self.zero_mask).to(self._masked_weight().dtype) if bool(self.zero_mask.any()) else None
            self._keep_of = self._mask_state()
        if self._keep is None:
            return
        weight = self._masked_weight()
        weight.mul_(self._keep)
        if not bool(torch.isfinite(weight.sum())):
            weight.masked_fill_(self.zero_mask, 0.0)

    def _apply_mask_edits(self) -> None:
        if self._keep_of != self._mask_state():
            self.rezero()


class SparseWeights(_ZeroMask, nn.Module):
    """A ``nn.Linear`` with a fixed random fraction ``sparsity`` of its weights held at zero (nupic.torch).

    Each output unit keeps ``round((1 - sparsity)·in_features)`` input weights. The optimizer still
    updates the zeroed weights, so call `rezero` after every step: ``rezero_after_step(optimizer,
    model)`` does it with an optimizer step post-hook. The mask is a persistent buffer, so it travels
    with ``state_dict``, ``deepcopy`` and ``.to()``.
    """

    def __init__(self, module: nn.Linear, sparsity: float):
        super().__init__()
        if not isinstance(module, nn.Linear):
            raise TypeError(f"module must be a torch.nn.Linear, got {type(module).__name__}")
        self.module = module
        self.sparsity = _check_fraction("sparsity", sparsity)
        self._register_mask(random_off_mask(*module.weight.shape, self.sparsity))
        self.rezero()

    @property
    def weight(self) -> nn.Parameter:
        return self.module.weight

    @property
    def bias(self) -> nn.Parameter | None:
        return self.module.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._apply_mask_edits()
        return self.module(x)  # the weights are already zero where masked (rezero after every step)

    def _masked_weight(self) -> torch.Tensor:
        return self.module.weight

    def extra_repr(self) -> str:
        return f"sparsity={self.sparsity}"


def rezero_weights(model: nn.Module) -> None:
    """Re-zero the masked weights of every `SparseWeights` and `DendriteSegments` inside ``model``."""
    for m in model.modules():
        if isinstance(m, (SparseWeights, DendriteSegments)):
            m.rezero()


def rezero_after_step(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Register an optimizer step post-hook that calls `rezero_weights(model)`; returns the hook handle."""
    return optimizer.register_step_post_hook(lambda *_: rezero_weights(model))


# ---------------------------------------------------------------------------------------------- k-WTA
class KWinners(nn.Module):
    """k-winners-take-all with boosting, as ``nupic.torch.modules.KWinners`` (Ahmad & Scheinkman 2019).

    Keeps the ``k = round(n·percent_on)`` largest units of each row (``k_inference = int(k ·
    k_inference_factor)`` in eval mode) and zeroes the rest; ties at the threshold all win
    (``break_ties=True`` keeps exactly k). Boosting only chooses the winners: the selection uses
    ``x · exp((k/n − duty_cycle) · boost_strength)``, the output keeps ``x``. In training, after each
    batch of size B the duty cycle (the running fraction of rows in which a unit is active, > 0) is

        duty ← (duty · (period − B) + active_count) / period,   period = min(duty_cycle_period, seen rows)

    and `update_boost_strength` multiplies ``boost_strength`` by ``boost_strength_factor`` (call it
    once per epoch, or `update_boost_strength(model)`).
    """

    def __init__(
        self,
        n: int,
        percent_on: float,
        k_inference_factor: float = 1.5,
        boost_strength: float = 1.0,
        boost_strength_factor: float = 0.9,
        duty_cycle_period: int = 1000,
        break_ties: bool = False,
        relu: bool = False,
    ):
        super().__init__()
        self.n = _check_size("n", n)
        self.percent_on = _check_fraction("percent_on", percent_on, high_open=False)
        self.k = int(round(n * percent_on))
        if self.k < 1:
            raise ValueError(f"percent_on={percent_on} leaves no winner among n={n} units (round(n·percent_on) = 0)")
        if k_inference_factor <= 0:
            raise ValueError(f"k_inference_factor must be > 0, got {k_inference_factor}")
        self.k_inference = int(self.k * k_inference_factor)
        if not 1 <= self.k_inference <= n:
            raise ValueError(f"k_inference = int(k·k_inference_factor) = {self.k_inference} must be in [1, n={n}]")
        if boost_strength < 0 or not 0 <= boost_strength_factor <= 1:
            raise ValueError(
                f"boost_strength must be >= 0 and boost_strength_factor in [0, 1], "
                f"got {boost_strength} and {boost_strength_factor}"
            )
        self.boost_strength_factor = float(boost_strength_factor)
        self.duty_cycle_period = _check_size("duty_cycle_period", duty_cycle_period)
        self.break_ties, self.relu = bool(break_ties), bool(relu)
        self.register_buffer("boost_strength", torch.tensor(float(boost_strength)))
        self.register_buffer("duty_cycle", torch.zeros(n))
        self.register_buffer("learning_iterations", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("x", x, self.n, "n")
        k = self.k if self.training else self.k_inference
        out = torch.where(self._losers(x.detach(), k), 0.0, x)
        if self.training:
            self._update_duty_cycle(out)
        return out

    def _losers(self, x: torch.Tensor, k: int) -> torch.Tensor:
        boost = float(self.boost_strength)
        if boost > 0:
            x = x * torch.exp((k / self.n - self.duty_cycle) * boost)
        if self.break_ties:
            losers = torch.ones_like(x, dtype=torch.bool).scatter_(1, x.topk(k, dim=1).indices, False)
            return losers | (x <= 0) if self.relu else losers
        threshold = x.topk(k, dim=1, sorted=False).values.amin(dim=1, keepdim=True)  # = kthvalue, faster
        if self.relu:
            threshold = threshold.clamp(min=0)
        return x < threshold

    @torch.no_grad()
    def _update_duty_cycle(self, out: torch.Tensor) -> None:
        batch = out.shape[0]
        self.learning_iterations += batch
        period = min(self.duty_cycle_period, int(self.learning_iterations))
        self.duty_cycle.mul_(period - batch).add_((out > 0).sum(dim=0, dtype=torch.float)).div_(period)

    def update_boost_strength(self) -> None:
        """Decay the boost strength: ``boost_strength *= boost_strength_factor`` (nupic: once per epoch)."""
        self.boost_strength.mul_(self.boost_strength_factor)

    def extra_repr(self) -> str:
        return (
            f"n={self.n}, percent_on={self.percent_on}, k={self.k}, k_inference={self.k_inference}, "
            f"boost_strength={float(self.boost_strength):.4g}, duty_cycle_period={self.duty_cycle_period}"
        )


def update_boost_strength(model: nn.Module) -> None:
    """Call `KWinners.update_boost_strength` on every k-WTA layer inside ``model``."""
    for m in model.modules():
        if isinstance(m, KWinners):
            m.update_boost_strength()


# ---------------------------------------------------------------------------------------------- dendrites
def group_contexts(context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Distinct context rows and, per sample, the index of its row.

    Returns ``(contexts, inverse)`` with ``context == contexts[inverse]``; ``inverse`` is None when
    ``contexts`` already lines up with the batch (one row for every sample, the paper's training
    batches, or every row distinct). The one-row test costs a comparison; otherwise ``torch.unique``.
    A context that needs a gradient is not grouped: each of its rows gets its own samples' gradient.
    """
    if context.shape[0] > 1 and context.requires_grad and torch.is_grad_enabled():
        return context, None
    if context.shape[0] == 1 or bool((context == context[:1]).all()):
        return context[:1], None
    contexts, inverse = torch.unique(context, dim=0, return_inverse=True)
    return (context, None) if contexts.shape[0] == context.shape[0] else (contexts, inverse)


class DendriteSegments(_ZeroMask, nn.Module):
    """``num_segments`` dendritic segments on each of ``num_units`` units: ``d[b, i, j] = u_ijᵀ c_b`` (eq. 2).

    ``weights`` is ``[num_units, num_segments, dim_context]`` as in nupic.research; a fixed random
    fraction ``sparsity`` of each segment's weights is held at zero (`rezero` after every step). The
    activations of all segments are one GEMM against the weights viewed as ``[units·segments, dim]``.
    Initialised U(−h, h), h = 1/√((1 − sparsity)·dim_context) (nupic.research "modified" Kaiming).
    """

    def __init__(self, num_units: int, num_segments: int, dim_context: int, sparsity: float = 0.0):
        super().__init__()
        self.num_units = _check_size("num_units", num_units)
        self.num_segments = _check_size("num_segments", num_segments)
        self.dim_context = _check_size("dim_context", dim_context)
        self.sparsity = _check_fraction("sparsity", sparsity)
        self.weights = nn.Parameter(torch.empty(num_units, num_segments, dim_context))
        mask = random_off_mask(num_units * num_segments, dim_context, self.sparsity)
        self._register_mask(mask.view(num_units, num_segments, dim_context))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt((1.0 - self.sparsity) * self.dim_context)
        self.weights.uniform_(-bound, bound)
        self.rezero()

    def _masked_weight(self) -> torch.Tensor:
        return self.weights

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """Segment activations ``[B, num_units, num_segments]`` for contexts ``[B, dim_context]``."""
        _check_input("context", context, self.dim_context, "dim_context")
        return self._activations(context)

    def _activations(self, context: torch.Tensor) -> torch.Tensor:
        self._apply_mask_edits()
        flat = self.weights.view(self.num_units * self.num_segments, self.dim_context)
        return F.linear(context, flat).view(-1, self.num_units, self.num_segments)

    def extra_repr(self) -> str:
        return (
            f"num_units={self.num_units}, num_segments={self.num_segments}, "
            f"dim_context={self.dim_context}, sparsity={self.sparsity}"
        )


def select_segment(d: torch.Tensor, mode: str) -> torch.Tensor:
    """The activation that modulates each unit: ``d_{argmax_j |d_j|}`` (absmax_gating, eq. 2) or ``max_j d_j``."""
    if mode == "absmax_gating":
        return d.gather(-1, d.abs().argmax(-1, keepdim=True)).squeeze(-1)
    return d.max(-1).values


class DendriticLayer(nn.Module):
    """A sparse linear layer whose units are modulated by their dendritic segments (Iyer et al. 2022).

    ``mode``:
    - ``"absmax_gating"`` (the paper's layer, eq. 3): ``y = ŷ · σ(d_{j*})``, ``j* = argmax_j |d_j|``;
    - ``"gating"``: ``y = ŷ · σ(max_j d_j)``;
    - ``"biasing"``: ``y = ŷ + max_j d_j``.

    ``module_sparsity`` and ``dendrite_sparsity`` are the fractions of feed-forward and segment
    weights held at zero. ``forward(x [B, in_features], context [B, dim_context] or [dim_context])``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_segments: int,
        dim_context: int,
        mode: str = "absmax_gating",
        module_sparsity: float = 0.5,
        dendrite_sparsity: float = 0.0,
        bias: bool = True,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        linear = nn.Linear(_check_size("in_features", in_features), _check_size("out_features", out_features), bias)
        self.linear = SparseWeights(linear, module_sparsity)
        self.segments = DendriteSegments(out_features, num_segments, dim_context, dendrite_sparsity)

    @property
    def in_features(self) -> int:
        return self.linear.module.in_features

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        _check_input("x", x, self.in_features, "in_features")
        context = _check_context(context, x.shape[0], self.segments.dim_context)
        return self.modulated(x, *group_contexts(context))

    def modulated(self, x: torch.Tensor, contexts: torch.Tensor, inverse: torch.Tensor | None) -> torch.Tensor:
        """The output when sample ``b`` sees ``contexts[inverse[b]]`` (``inverse`` None: row b, or the one row)."""
        d = select_segment(self.segments._activations(contexts), self.mode)
        if inverse is not None:
            d = d[inverse]
        y = self.linear(x)
        return y + d if self.mode == "biasing" else y * torch.sigmoid(d)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


# ---------------------------------------------------------------------------------------------- network
class DendriticMLP(nn.Module):
    """An MLP whose hidden units have active dendrites, with k-WTA or ReLU (nupic.research ``DendriticMLP``).

    Hidden layer ``i``: `DendriticLayer` (or, with ``num_segments=0``, a point-neuron `SparseWeights`
    linear layer that ignores the context) followed by `KWinners` (``kw=True``: ``kw_percent_on`` of the
    units, no boosting, ``k_inference_factor=1`` as in nupic.research) or ReLU. The classifier is a
    `SparseWeights` linear layer without dendrites. Feed-forward weights start U(−h, h) with h =
    1/√(input density · weight density · fan-in), the input density being ``kw_percent_on`` after a
    k-WTA layer (nupic.research "modified" Kaiming initialisation).

    The paper's permuted-MNIST network: ``DendriticMLP(784, (2048, 2048), 10, num_segments=<tasks>,
    dim_context=784, kw=True, kw_percent_on=0.05, weight_sparsity=0.5)``.

    ``forward(x [B, input_size], context [B, dim_context] or [dim_context])`` returns logits
    ``[B, output_size]``; `forward_indexed` takes a context table and an index per sample instead.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes,
        output_size: int,
        num_segments: int,
        dim_context: int,
        kw: bool = True,
        kw_percent_on: float = 0.05,
        weight_sparsity: float = 0.5,
        dendrite_sparsity: float = 0.0,
        mode: str = "absmax_gating",
        kw_boost_strength: float = 0.0,
    ):
        super().__init__()
        self.input_size = _check_size("input_size", input_size)
        self.hidden_sizes = tuple(_check_size("hidden_sizes[i]", h) for h in hidden_sizes)
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes must name at least one hidden layer")
        self.output_size = _check_size("output_size", output_size)
        self.num_segments = _check_size("num_segments", num_segments, 0)
        self.dim_context = _check_size("dim_context", dim_context)
        self.kw, self.kw_percent_on, self.mode = bool(kw), kw_percent_on, mode
        self.layers, self.activations = nn.ModuleList(), nn.ModuleList()
        fan_in, input_density = input_size, 1.0
        for h in self.hidden_sizes:
            if self.num_segments:
                layer = DendriticLayer(fan_in, h, num_segments, dim_context, mode, weight_sparsity, dendrite_sparsity)
            else:
                layer = SparseWeights(nn.Linear(fan_in, h), weight_sparsity)
            _init_feedforward(layer if isinstance(layer, SparseWeights) else layer.linear, input_density)
            self.layers.append(layer)
            self.activations.append(
                KWinners(
                    h,
                    kw_percent_on,
                    k_inference_factor=1.0,
                    boost_strength=kw_boost_strength,
                    boost_strength_factor=0.0 if kw_boost_strength == 0 else 0.9,
                )
                if kw
                else nn.ReLU()
            )
            fan_in, input_density = h, kw_percent_on if kw else 1.0
        self.output = SparseWeights(nn.Linear(fan_in, output_size), weight_sparsity)
        _init_feedforward(self.output, input_density)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        _check_input("x", x, self.input_size, "input_size")
        if not self.num_segments:
            return self._forward(x, None, None)
        context = _check_context(context, x.shape[0], self.dim_context)
        return self._forward(x, *group_contexts(context))

    def forward_indexed(self, x: torch.Tensor, contexts: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Logits when sample ``b`` sees ``contexts[index[b]]``: contexts ``[P, dim_context]``, index ``[B]``.

        Each context row's segments are evaluated once, whatever the batch (e.g. P task prototypes).
        """
        _check_input("x", x, self.input_size, "input_size")
        _check_input("contexts", contexts, self.dim_context, "dim_context")
        if not isinstance(index, torch.Tensor) or index.dtype != torch.long or index.shape != (x.shape[0],):
            raise ValueError(
                f"index must be an int64 tensor of shape [B={x.shape[0]}], got "
                f"{getattr(index, 'dtype', type(index).__name__)} {tuple(getattr(index, 'shape', ()))}"
            )
        if index.numel() and not 0 <= int(index.min()) <= int(index.max()) < contexts.shape[0]:
            raise ValueError(f"index must be in [0, {contexts.shape[0]}) (rows of contexts)")
        return self._forward(x, contexts, index)

    def _forward(self, x, contexts, inverse):
        for layer, activation in zip(self.layers, self.activations):
            x = activation(layer.modulated(x, contexts, inverse) if self.num_segments else layer(x))
        return self.output(x)

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, dim_context={self.dim_context}, kw={self.kw}"


@torch.no_grad()
def _init_feedforward(sparse: SparseWeights, input_density: float) -> None:
    fan_in = sparse.module.in_features
    bound = 1.0 / math.sqrt(input_density * (1.0 - sparse.sparsity) * fan_in)
    sparse.module.weight.uniform_(-bound, bound)
    sparse.rezero()


# ---------------------------------------------------------------------------------------------- core export
@dataclass
class CoreDendriticMLP(StaticCoreModel):
    """A trained `DendriticMLP` on the event-driven core: feed-forward sums by `sdrnet.core.sparse_matmul`.

    ``synapses[i]`` holds layer ``i``'s non-zero feed-forward weights (pre = input unit, post = output
    unit); only non-zero inputs are events, so after a 5 % k-WTA layer the next sum touches 5 % of
    the rows (the dense input layer may run batched instead: the same sums). Dendritic modulation
    (numpy) and k-WTA (`sdrnet.core.kwta`) are applied on top.

    A static `sdrnet.core.CoreModel` (``dt`` None, no state): `run` returns the logits ``[B, output_size]``
    as ``output``, ``synops`` per feed-forward projection (non-zero inputs × their fan-out) and the kernel each
    projection ran; ``predict(x, context=...)`` the argmax. ``kernels`` as an attribute is set only by the
    deprecated `forward`.
    """

    synapses: list
    biases: list[np.ndarray]
    segments: list[np.ndarray | None]
    k: list[int | None]
    boost: list[np.ndarray | None]
    mode: str
    kernels: list[str] = field(default=None, repr=False)

    def run(
        self, events, state=None, n_steps: int | None = None, record=(), context=None, kernel: str = "auto"
    ) -> RunResult:
        """Logits (eval mode) for inputs ``events`` (float ``[B, input_size]``, numpy or torch, or a one-step
        `sdrnet.core.Events`) and ``context`` (``[B, dim_context]``, ``[1, dim_context]`` or ``[dim_context]``;
        needed when the layers have segments); ``kernel`` (``"auto"``, ``"event"``, ``"batched"``; ``"gather"``
        in the fan-in layout, `with_layout`) goes to `sdrnet.core.sparse_matmul`: the same logits. ``state`` must be None, ``n_steps`` None or 1 and
        ``record`` empty (the model records nothing)."""
        x = self.static_input(events, state, n_steps, record)
        context = self._context(context, x.shape[0])
        sums = []
        for i, segments in enumerate(self.segments):
            y = self._feedforward(x, i, kernel, sums)
            if segments is not None:
                y = self._modulate(y, context, segments)
            x = self._activate(y, self.k[i], self.boost[i])
        out = self._feedforward(x, len(self.segments), kernel, sums)
        return RunResult(
            out, None, np.array([r.synops for r in sums], np.int64), {}, kernels=tuple(r.kernel for r in sums)
        )

    def forward(self, x: np.ndarray, context: np.ndarray | None = None, kernel: str = "auto") -> np.ndarray:
        """Deprecated: ``run(x, context=context, kernel=kernel).output``; sets ``kernels``."""
        warnings.warn(
            "CoreDendriticMLP.forward is deprecated: use CoreDendriticMLP.run(x, context=...).output "
            "(kernels and synops are fields of the RunResult)",
            DeprecationWarning,
            stacklevel=2,
        )
        result = self.run(x, context=context, kernel=kernel)
        self.kernels = list(result.kernels)
        return result.output

    def _context(self, context, batch: int) -> np.ndarray | None:
        dims = {seg.shape[2] for seg in self.segments if seg is not None}
        if not dims:
            return None
        dim = dims.pop()
        if context is None:
            raise TypeError(f"context is required: the layers have dendritic segments (context [B, {dim}])")
        if isinstance(context, torch.Tensor):
            context = context.detach().cpu().numpy()
        context = np.asarray(context)
        if context.dtype.kind != "f":
            raise TypeError(f"context must be a floating-point array, got {context.dtype}")
        context = context[None] if context.ndim == 1 else context
        if context.ndim != 2 or context.shape[1] != dim or context.shape[0] not in (1, batch):
            raise ValueError(
                f"context must have shape [B={batch}, dim_context={dim}], [1, {dim}] or [{dim}], got {context.shape}"
            )
        return context.astype(np.float32)

    def _feedforward(self, x: np.ndarray, i: int, kernel: str, sums: list | None = None) -> np.ndarray:
        """Layer ``i``'s feed-forward sum plus bias; its `sdrnet.core.MatmulResult` goes to ``sums``."""
        result = sparse_matmul(x, self.synapses[i], kernel)
        if sums is not None:
            sums.append(result)
        return result.out + self.biases[i]

    def _modulate(self, y: np.ndarray, context: np.ndarray, segments: np.ndarray) -> np.ndarray:
        d = np.einsum("usk,bk->bus", segments, context)
        if self.mode == "absmax_gating":
            d_star = np.take_along_axis(d, np.abs(d).argmax(-1)[..., None], -1)[..., 0]
        else:
            d_star = d.max(-1)
        return y + d_star if self.mode == "biasing" else y / (1.0 + np.exp(-d_star))

    @staticmethod
    def _activate(y: np.ndarray, k: int | None, boost: np.ndarray | None) -> np.ndarray:
        if k is None:
            return np.maximum(y, 0.0)
        winners = kwta(y if boost is None else y * boost, k)
        out = np.zeros_like(y)
        np.put_along_axis(out, winners, np.take_along_axis(y, winners, 1), 1)
        return out


def to_core(model: DendriticMLP, dt: float | None = None) -> CoreDendriticMLP:
    """Export ``model`` (as in eval mode) to `CoreDendriticMLP`: `Synapses.from_dense` of each layer's
    feed-forward weights (zeros not stored), the segment weights, and k-WTA's inference k and boosting.
    The model runs without time steps: ``dt`` must be None. The same as ``sdrnet.core.to_core(model)``."""
    if not isinstance(model, DendriticMLP):
        raise TypeError(f"model must be a DendriticMLP, got {type(model).__name__}")
    if dt is not None:
        raise ValueError(f"a DendriticMLP runs without time steps: dt must be None, got {dt!r}")
    linears = [layer if isinstance(layer, SparseWeights) else layer.linear for layer in model.layers]
    linears.append(model.output)
    synapses = [Synapses.from_dense(_numpy(lin.weight).T) for lin in linears]
    biases = [
        np.zeros(lin.module.out_features, np.float32) if lin.bias is None else _numpy(lin.bias) for lin in linears
    ]
    segments = [_numpy(layer.segments.weights) if isinstance(layer, DendriticLayer) else None for layer in model.layers]
    k, boost = [], []
    for act in model.activations:
        kw = isinstance(act, KWinners)
        k.append(act.k_inference if kw else None)
        strength = float(act.boost_strength) if kw else 0.0
        boost.append(_numpy(torch.exp((act.k_inference / act.n - act.duty_cycle) * strength)) if strength > 0 else None)
    return CoreDendriticMLP(synapses, biases, segments, k, boost, model.mode)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


register_core("dendrites", lambda model: isinstance(model, DendriticMLP), to_core)
