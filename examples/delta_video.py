"""Delta activation layers (Yousefzadeh & Sifalakis 2021) on moving digits: the same small CNN with and without
delta layers — accuracy, activation/temporal sparsity and NeuroBench synaptic operations — and the trained
delta network run event-driven on the sparse core, matching its dense forward pass.

Run:  python examples/delta_video.py [--out runs/delta] [--full] [--seed 0]   (same as `sdrnet delta`;
the quick budget is part of `sdrnet demo`)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from sdrnet.report import format_table
from snn.delta import DeltaActivation, quantize, temporal_delta
from snn.delta.experiment import FULL, QUICK, Budget, run


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


def main(out: Path = Path("runs/demo"), budget: Budget = QUICK, seed: int = 0) -> dict:
    print(format_table(one_layer(), "one unit through a delta layer (θ = 0.25): only changes are sent"))
    return run(Path(out), budget=budget, seed=seed, progress=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/delta"))
    parser.add_argument("--full", action="store_true", help="more clips, epochs and penalty strengths")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.out, budget=FULL if args.full else QUICK, seed=args.seed)
