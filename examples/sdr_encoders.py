"""SDRs and encoders: set algebra, noise, metrics, and how scalar, random distributed (RDSE) and category
encoders turn similar values into overlapping SDRs (Ahmad & Hawkins 2016).

Run:  python examples/sdr_encoders.py [--out runs/demo] [--seed 0]   (also part of `sdrnet demo`)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sdrnet.encoders import RDSE, CategoryEncoder, ScalarEncoder
from sdrnet.report import format_table, save_figure
from sdrnet.sdr import SDR, SDRBatch, SDRMetrics


def main(out: Path = Path("runs/demo"), seed: int = 0) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n, a = 2048, 40
    x, y = SDR.random(n, a, rng), SDR.random(n, a, rng)
    noisy = x.add_noise(0.25, rng)
    algebra = [
        {"operation": "x", "active bits": x.n_active, "overlap with x": x.overlap(x)},
        {"operation": "random y", "active bits": y.n_active, "overlap with x": x.overlap(y)},
        {"operation": "x ∪ y", "active bits": x.union(y).n_active, "overlap with x": x.overlap(x.union(y))},
        {"operation": "x with 25% noise", "active bits": noisy.n_active, "overlap with x": x.overlap(noisy)},
        {"operation": "x subsampled to 20", "active bits": 20, "overlap with x": x.overlap(x.subsample(20, rng))},
    ]
    print(format_table(algebra, f"SDR algebra (n={n}, a={a})"))

    scalar = ScalarEncoder(0.0, 100.0, size=400, active_bits=21)
    rdse = RDSE(size=2048, active_bits=41, resolution=1.0, seed=seed + 1)
    values = np.arange(0.0, 60.0, 1.0)
    overlap = {
        name: enc.encode_batch(values).overlap(enc.encode(0.0))
        for name, enc in (
            ("ScalarEncoder(0..100, 400 bits, 21 active)", scalar),
            ("RDSE(2048 bits, 41 active, res 1)", rdse),
        )
    }
    print(
        format_table(
            [
                {"|x - 0|": float(v), **{k: int(o[i]) for k, o in overlap.items()}}
                for i, v in enumerate(values)
                if v in (0, 1, 2, 5, 10, 20, 40, 59)
            ],
            "\nencoders: overlap of encode(x) with encode(0)",
        )
    )
    colours = CategoryEncoder(["red", "green", "blue"], active_bits=10)
    print(
        f"\nCategoryEncoder: overlap(red, red) = {colours.encode('red').overlap(colours.encode('red'))}, "
        f"overlap(red, blue) = {colours.encode('red').overlap(colours.encode('blue'))}"
    )

    metrics = SDRMetrics(n, period=1000).update(SDRBatch.from_sdrs([rdse.encode(v) for v in rng.normal(0, 20, 500)]))
    print(f"\nmetrics of 500 RDSE codes of N(0, 20) values:\n{metrics}")

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, o in overlap.items():
        ax.plot(values, o, "o-", ms=3, label=name)
    ax.set(xlabel="|x − 0| (value units)", ylabel="overlap with encode(0)", title="Similar values → overlapping SDRs")
    ax.legend(fontsize=8)
    save_figure(fig, out / "sdr_encoders.png")
    return {"algebra": algebra, "overlap": {k: v.tolist() for k, v in overlap.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.out, args.seed)
