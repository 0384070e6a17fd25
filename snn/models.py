"""The delay-learning SNN of Hammouamri et al. (2023) and its ablations, on SpikingJelly's LIF neurons.

``[DelayedLinear → BatchNorm → LIF → Dropout] × L`` and a readout ``DelayedLinear → LIF(threshold 1e9)``
whose membrane potential v_out[t] is the logits. Loss (the reference's ``loss='sum'``)::

    m = Σ_t softmax(v_out[t]),   loss = CrossEntropy(m, y),   prediction = argmax m

Each layer lengthens the sequence by its ``tail`` (``max_delay // 2``), as the reference's padding does.
Variants (``delays=``): ``'learned'`` (the paper), ``'random'`` (the paper's fixed-random-delay ablation,
the reference's ``snn_delays_lr0``: the initial delays rounded to integer steps before training — its
``main.py`` calls ``round_pos()`` — and never trained, with exact one-hot taps: its ``Dcls1d`` version
``'max'`` at σ = 0, no Gaussian), ``'none'`` (plain linear synapses, the reference's ``snn``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn
from torch.nn import functional as F

from sdrnet.core.validation import check_dt

from .delays import DelayedLinear, sigma_at

__all__ = ["DelaySNN", "SNNConfig", "sum_softmax", "snn_loss"]

DELAY_MODES = ("learned", "random", "none")
OUTPUT_THRESHOLD = 1e9  # the reference's readout never spikes


@dataclass(frozen=True)
class SNNConfig:
    """Architecture of a `DelaySNN` (the SHD recipe by default: 140 → 2×256 → 20, delays 0–24 steps).

    ``max_delay`` is the largest delay in steps; the reference's ``max_delay`` is the kernel size,
    one more (25 for SHD). ``dt`` is the length of one step in seconds, the bin width of the data the
    model is trained on (`snn.train` sets it); None (configs from before it existed) leaves ``tau`` and
    the delays in steps of unstated length, and an export to physical time then asks for it.
    """

    n_inputs: int = 140
    n_hidden: int = 256
    n_layers: int = 2
    n_outputs: int = 20
    max_delay: int = 24
    delays: str = "learned"
    tau: float = 1.005  # 10.05 ms at 10 ms steps
    dropout: float = 0.4
    batchnorm: bool = True
    surrogate_alpha: float = 5.0
    dt: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "dt", check_dt(self.dt))
        if self.delays not in DELAY_MODES:
            raise ValueError(f"delays must be one of {DELAY_MODES}, got {self.delays!r}")
        for name in ("n_inputs", "n_hidden", "n_layers", "n_outputs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_delay < 0:
            raise ValueError(f"max_delay must be >= 0, got {self.max_delay}")
        if not self.tau > 1.0:
            raise ValueError(f"tau must be > 1 (SpikingJelly's LIFNode), got {self.tau}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def layer_delay(self) -> int:
        return 0 if self.delays == "none" else self.max_delay


def _lif(cfg: SNNConfig, v_threshold: float = 1.0) -> neuron.LIFNode:
    return neuron.LIFNode(
        tau=cfg.tau,
        decay_input=False,
        v_threshold=v_threshold,
        v_reset=0.0,
        surrogate_function=surrogate.ATan(alpha=cfg.surrogate_alpha),
        detach_reset=True,
        step_mode="m",
        store_v_seq=v_threshold == OUTPUT_THRESHOLD,
    )


class DelaySNN(nn.Module):
    """Feed-forward LIF network with learnable synaptic delays; ``forward(x [T, B, C]) -> v_out [T', B, K]``.

    ``T' = T + (n_layers + 1) · tail``. SpikingJelly neurons keep state between calls; `forward` resets
    them (``functional.reset_net``) before each batch.
    """

    def __init__(self, config: SNNConfig = SNNConfig(), generator: torch.Generator | None = None):
        super().__init__()
        cfg = self.config = config
        sizes = [cfg.n_inputs] + [cfg.n_hidden] * cfg.n_layers
        self.synapses = nn.ModuleList(
            DelayedLinear(a, b, max_delay=cfg.layer_delay, learn_delays=cfg.delays == "learned", generator=generator)
            for a, b in zip(sizes, sizes[1:] + [cfg.n_outputs])
        )
        if cfg.delays == "random":
            for syn in self.synapses:
                syn.discretize()
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(cfg.n_hidden) if cfg.batchnorm else nn.Identity() for _ in range(cfg.n_layers)
        )
        self.neurons = nn.ModuleList(_lif(cfg) for _ in range(cfg.n_layers))
        self.dropouts = nn.ModuleList(layer.Dropout(cfg.dropout, step_mode="m") for _ in range(cfg.n_layers))
        self.readout = _lif(cfg, OUTPUT_THRESHOLD)

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        """Membrane potential of the readout at every step ``[T', B, n_outputs]`` (and the hidden spikes)."""
        if x.dim() != 3 or x.shape[-1] != self.config.n_inputs:
            raise ValueError(f"x must be [T, B, {self.config.n_inputs}] (time-major), got {tuple(x.shape)}")
        functional.reset_net(self)
        spikes = []
        for syn, norm, lif, drop in zip(self.synapses, self.norms, self.neurons, self.dropouts):
            h = syn(x)
            h = norm(h.flatten(0, 1)).view_as(h)
            s = lif(h)
            spikes.append(s)
            x = drop(s)
        self.readout(self.synapses[-1](x))
        v = self.readout.v_seq
        return (v, spikes) if return_spikes else v

    def delay_layers(self) -> list[DelayedLinear]:
        return list(self.synapses)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``weights`` (synaptic weights), ``norm`` (BatchNorm affine) and ``delays`` (learnable delays)."""
        delays = [s.delay for s in self.synapses if s.delay.requires_grad]
        norm = [p for n in self.norms for p in n.parameters()]
        weights = [s.weight for s in self.synapses] + [s.bias for s in self.synapses if s.bias is not None]
        return {"weights": weights, "norm": norm, "delays": delays}

    def set_sigma(self, epoch: int, final_epoch: int, sigma_final: float = 0.23) -> float:
        """Gaussian width for the given number of completed epochs (`sigma_at`); returns σ (0 when no layer
        has Gaussian taps: fixed integer delays or none)."""
        live = [syn for syn in self.synapses if not syn.discrete and syn.max_delay]
        sigma = sigma_at(epoch, self.config.max_delay // 2, sigma_final, final_epoch) if live else 0.0
        for syn in live:
            syn.sigma = sigma
        return sigma

    def clamp(self) -> None:
        for syn in self.synapses:
            syn.clamp()

    def discretize(self) -> DelaySNN:
        """Round every delay to integer steps (one-hot taps), as the reference does before evaluation."""
        for syn in self.synapses:
            syn.discretize()
        return self

    def discretized(self) -> DelaySNN:
        """A copy with integer delays in eval mode (this model is left as it is)."""
        functional.reset_net(self)  # neuron state tensors are not graph leaves and cannot be deep-copied
        return copy.deepcopy(self).discretize().eval()

    def n_parameters(self) -> dict[str, int]:
        groups = self.parameter_groups()
        counts = {k: sum(p.numel() for p in v) for k, v in groups.items()}
        if self.config.delays != "learned":
            counts["delays"] = 0
        return counts


def sum_softmax(v_out: torch.Tensor) -> torch.Tensor:
    """``m = Σ_t softmax(v_out[t])`` ``[B, K]``: the reference's class score (its ``loss='sum'``)."""
    return torch.softmax(v_out, dim=2).sum(0)


def snn_loss(v_out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the summed softmax, exactly as the reference (``CrossEntropyLoss(m, y)``)."""
    return F.cross_entropy(sum_softmax(v_out), y)
