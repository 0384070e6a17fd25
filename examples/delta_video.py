"""Delta activation layers (Yousefzadeh & Sifalakis 2021) on moving digits: the same small CNN with and without
delta layers — accuracy, activation/temporal sparsity and NeuroBench synaptic operations — and the trained
delta network run event-driven on the sparse core, matching its dense forward pass.

Run:  python examples/delta_video.py [options of `sdrnet delta`: --out, --full, --seed, --set, ...]
(the same command; its quick budget is part of `sdrnet demo`, a smaller one of `sdrnet demo --quick`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from sdrnet.report import format_table
from snn.delta import DeltaActivation, quantize, temporal_delta
from snn.delta.experiment import Budget, run

SMOKE = Budget(n_train=200, n_test=60, n_steps=4, epochs=1, finetune_epochs=1, penalties=(0.0, 0.1), event_clips=10)


def one_layer() -> list[dict]:
    """One unit's activation over 6 frames through a delta layer with θ = 0.25: what it would send."""
    x = torch.tensor([0.00, 0.10, 0.55, 0.60, 0.62, 0.20]).reshape(6, 1, 1)
    q = quantize(x, torch.tensor(0.25))
    d = temporal_delta(q)
    layer_out = DeltaActivation(0.25, output="deltas")(x)
    assert torch.equal(layer_out, d)
    return [
        {
            "t": t,
            "x_t": float(x[t]),
            "q_t = θ·round(x_t/θ)": float(q[t]),
            "Δ_t = q_t − q_(t−1)": float(d[t]),
            "sent": "event" if d[t] != 0 else "–",
        }
        for t in range(6)
    ]


def main(out: Path = Path("runs/demo"), budget: Budget | None = None, seed: int = 0, quick: bool = False) -> dict:
    """The demo part: one unit, then the experiment at ``budget`` (default `Budget.quick()`; ``quick``: `SMOKE`)."""
    print(format_table(one_layer(), "one unit through a delta layer (θ = 0.25): only changes are sent"))
    return run(Path(out), budget=budget or (SMOKE if quick else Budget.quick()), seed=seed, progress=False)


if __name__ == "__main__":
    from sdrnet.cli import main as sdrnet

    sys.exit(sdrnet(["delta", *sys.argv[1:]]))
