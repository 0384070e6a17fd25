"""The reference implementation of the delay SNN, built as Thvnvtos/SNN-delays builds it, for comparisons.

Every layer: permute ``[T, B, C] → [B, C, T]``, zero-pad ``(max_delay, max_delay // 2)`` steps, the
`dcls` package's ``Dcls1d(kernel_count=1, dilated_kernel_size=max_delay + 1, version='gauss')`` (``'max'``
at σ = 0 for integer delays, as the reference's fixed-random-delay model; a dense
per-synapse kernel and a dense convolution), permute back, BatchNorm, SpikingJelly LIF, Dropout. Its
position parameter P relates to our delay by ``delay = max_delay // 2 − P``. Used by the tests (equal
outputs) and by ``benchmarks/bench_snn.py`` (speed); needs ``pip install dcls``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .models import DelaySNN, _lif

__all__ = ["DclsSNN"]


class DclsSNN(nn.Module):
    """The same network as `model` on ``DCLS.construct.modules.Dcls1d``, holding a copy of its parameters."""

    def __init__(self, model: DelaySNN):
        from DCLS.construct.modules import Dcls1d

        super().__init__()
        cfg = self.config = model.config
        if cfg.delays == "none" or cfg.max_delay % 2:
            raise ValueError("the reference needs delays and an even max_delay (an odd Dcls1d kernel)")
        self.convs = nn.ModuleList()
        for syn in model.synapses:
            # integer delays: the reference's snn_delays_lr0, version 'max' at σ = 0 (one-hot taps)
            conv = Dcls1d(
                syn.in_features,
                syn.out_features,
                kernel_count=1,
                dilated_kernel_size=cfg.max_delay + 1,
                bias=False,
                version="max" if syn.discrete else "gauss",
            )
            with torch.no_grad():
                conv.weight.copy_(syn.weight.unsqueeze(-1))
                conv.P.copy_((cfg.max_delay // 2 - syn.delay).view_as(conv.P))
                conv.SIG.fill_(0.0 if syn.discrete else syn.sigma)
            conv.P.requires_grad_(syn.delay.requires_grad)
            conv.SIG.requires_grad_(False)
            self.convs.append(conv)
        self.norms = (
            nn.ModuleList(nn.BatchNorm1d(cfg.n_hidden) for _ in range(cfg.n_layers))
            if cfg.batchnorm
            else nn.ModuleList(nn.Identity() for _ in range(cfg.n_layers))
        )
        self.norms.load_state_dict(model.norms.state_dict())
        self.neurons = nn.ModuleList(_lif(cfg) for _ in range(cfg.n_layers))
        self.dropouts = nn.ModuleList(type(d)(d.p, step_mode="m") for d in model.dropouts)
        self.readout = _lif(cfg, float(model.readout.v_threshold))

    def _conv(self, conv, x):
        d = self.config.max_delay
        x = F.pad(x.permute(1, 2, 0), (d, d // 2))
        return conv(x).permute(2, 0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self)
        for conv, norm, lif, drop in zip(self.convs, self.norms, self.neurons, self.dropouts):
            h = self._conv(conv, x)
            h = norm(h.flatten(0, 1)).view_as(h)
            x = drop(lif(h))
        self.readout(self._conv(self.convs[-1], x))
        return self.readout.v_seq

    def clamp(self) -> None:
        for conv in self.convs:
            conv.clamp_parameters()
