"""The delay SNN on the spike-timing task as a task of the pruning experiment (`sdrnet.prune.experiment`):
importing this module registers it there as ``"timing"`` (setup.cfg's ``sdrnet.prune_tasks`` entry point
names this module, so ``Budget(task="timing")`` finds it without importing it first).

>>> from sdrnet.prune import experiment
>>> experiment.get_task("timing") is spiking_timing_task
True
"""

from __future__ import annotations

import math

import numpy as np
import torch
from spikingjelly.activation_based import functional

from sdrnet.prune import rezero
from sdrnet.prune.experiment import METHODS, Budget, Task, register_task

from . import data
from .models import DelaySNN, SNNConfig, snn_loss, sum_softmax

__all__ = ["spiking_timing_task", "fit_delay_snn"]


def spiking_timing_task(seed: int, n_samples: int = 600, max_delay: int = 24, dropout: float = 0.1) -> Task:
    """The delay SNN (`snn.models.DelaySNN`, learned delays) on `snn.data.timing_task` (``n_samples``, ``seed``).

    Split as `snn.experiments` (25 % test, ``holdout(seed + 1)``); its 10 % validation part is trained on
    too (no checkpoint selection here). ``x``: dense spike counts ``[N, T, 140]``; ``forward`` gives the
    reference's class scores ``Σ_t softmax(v_out[t])`` (so cross-entropy on them is `snn.models.snn_loss`),
    in eval mode with the delays rounded to integer steps (``model.discretized()``), as `snn.train.evaluate`.
    ``make_model((h,) * L, seed)``: L hidden layers of h LIF neurons, delays 0–``max_delay`` steps.
    Training (`Task.fit`) follows `snn.train`: Adam on weights (``budget.lr``, one-cycle to 5×, weight decay
    1e-5, none on BatchNorm) and on delays (lr 0.1, cosine), σ shrinking to 0.23 over the first quarter of
    the epochs of a fresh model, delays clamped after every batch. A trained model (σ already final:
    fine-tuning after one-shot pruning) keeps σ and anneals both learning rates (5×``budget.lr``, 0.1)
    to zero per batch (cosine).
    Structured (whole-unit) pruning is not supported (`prune_neurons` knows ``nn.Linear`` only).
    """
    full = data.timing_task(n_samples=n_samples, seed=seed)
    rest, test = data.holdout(full, fraction=0.25, seed=seed + 1)
    xtr, xte = (torch.from_numpy(np.ascontiguousarray(d.to_dense().transpose(1, 0, 2))) for d in (rest, test))
    n_in, n_out = full.n_channels, full.n_classes

    def make_model(hidden, model_seed):
        if len(set(hidden)) != 1:
            raise ValueError(f"the delay SNN has equal hidden layers, got hidden={tuple(hidden)}")
        cfg = SNNConfig(
            n_inputs=n_in,
            n_hidden=int(hidden[0]),
            n_layers=len(hidden),
            n_outputs=n_out,
            max_delay=max_delay,
            delays="learned",
            dropout=dropout,
            dt=full.dt,
        )
        return DelaySNN(cfg, generator=torch.Generator().manual_seed(model_seed))

    def forward(model, x):
        net = model if model.training else model.discretized()
        return sum_softmax(net(x.transpose(0, 1)))

    return Task(
        "timing",
        xtr,
        torch.from_numpy(rest.labels),
        xte,
        torch.from_numpy(test.labels),
        make_model,
        forward,
        fit=fit_delay_snn,
        methods=tuple(m for m in METHODS if m != "neurons (structured)"),
    )


def fit_delay_snn(
    model,
    task: Task,
    epochs: int,
    budget: Budget,
    seed: int,
    after_backward=None,
    after_step=None,
    sigma_final: float = 0.23,
) -> None:
    """`snn.train`'s recipe on ``task``'s tensors (see `spiking_timing_task`), pruned weights kept at zero."""
    sigmas = [s.sigma for s in model.synapses if not s.discrete]
    trained = bool(sigmas) and max(sigmas) <= sigma_final + 1e-9
    n = task.x_train.shape[0]
    steps = epochs * math.ceil(n / budget.batch_size)
    groups = model.parameter_groups()
    opt_w = torch.optim.Adam(
        [{"params": groups["weights"], "weight_decay": 1e-5}, {"params": groups["norm"], "weight_decay": 0.0}],
        lr=5 * budget.lr if trained else budget.lr,
    )
    opts = [opt_w]
    if groups["delays"]:
        opts.append(torch.optim.Adam(groups["delays"], lr=0.1))
    if trained:  # fine-tuning: both learning rates annealed (cosine) from their peaks, per batch
        batch_scheds = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps) for o in opts]
        epoch_scheds = []
    else:  # snn.train: one-cycle (weights) and cosine (delays), per epoch
        batch_scheds = []
        epoch_scheds = [torch.optim.lr_scheduler.OneCycleLR(opt_w, max_lr=5 * budget.lr, total_steps=max(epochs, 2))]
        epoch_scheds += [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=epochs) for o in opts[1:]]
    sigma_epochs = epochs // 4
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.set_sigma(sigma_epochs if trained else epoch, sigma_epochs, sigma_final)
        model.train()
        for idx in torch.randperm(n, generator=gen).split(budget.batch_size):
            for o in opts:
                o.zero_grad(set_to_none=True)
            snn_loss(model(task.x_train[idx].transpose(0, 1)), task.y_train[idx]).backward()
            if after_backward is not None:
                after_backward(opt_w)
            for o in opts:
                o.step()
            model.clamp()
            rezero(model)
            if after_step is not None:
                after_step()
            for sc in batch_scheds:
                sc.step()
        for sc in epoch_scheds:
            sc.step()
    functional.reset_net(model)  # neuron state holds non-leaf tensors, which copy.deepcopy refuses


register_task("timing", spiking_timing_task)
