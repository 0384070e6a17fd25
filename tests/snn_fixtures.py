"""A small delay SNN with non-trivial BatchNorm statistics and spiking hidden layers, shared by the tests."""

import torch

from snn.models import DelaySNN, SNNConfig


def trained_like_delay_snn(seed=0, **kw):
    """12 → 2×10 → 4 LIF, delays 0–6; returns (model, input batch [20, 8, 12] of spike counts)."""
    torch.manual_seed(seed)
    cfg = SNNConfig(n_inputs=12, n_hidden=10, n_layers=2, n_outputs=4, max_delay=6, dropout=0.2, **kw)
    model = DelaySNN(cfg)
    x = (torch.rand(20, 8, 12) < 0.3).float() * torch.randint(1, 3, (20, 8, 12))
    for _ in range(3):  # BatchNorm running statistics that are not the identity
        model(x)
    with torch.no_grad():
        for syn in model.synapses:
            syn.weight.mul_(3)
    return model, x


def interrupt_at_epoch(monkeypatch, epoch=None):
    """Make `snn.train` raise KeyboardInterrupt as epoch ``epoch`` (0-based; None: any) starts; returns the undo."""
    import snn.train as trainer

    real = trainer._train_epoch

    def run(*args):  # (net, model, opts, shard, cfg, device, epoch, rank)
        if epoch is None or args[-2] == epoch:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(trainer, "_train_epoch", run)
    return lambda: monkeypatch.setattr(trainer, "_train_epoch", real)
