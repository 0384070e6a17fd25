"""Spiking networks with learnable synaptic delays (Hammouamri, Khalfaoui-Hassani & Masquelier 2023) on the
built-in timing task: learned delays vs fixed random delays vs none, how far training moved each delay, and the
trained network run event-driven on the sparse core. SHD/SSC accuracy requires the SHD/SSC files: the command
that fetches them and trains the paper's recipe is printed at the end.

Run:  python examples/snn_delays_timing.py [--out runs/snn_delays] [--full] [--seed 0] [--set key=value]
      [--config FILE] [--format png|pdf|svg] [--no-progress]   (writes config.json and results.json; a short run
      is part of `sdrnet demo`, a smaller one of `sdrnet demo --quick`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from snn.experiments import Budget, run

SHD_COMMAND = "sdrnet snn-train --recipe shd --out runs/shd   # downloads SHD (~130 MB) to ~/.cache/sdrnet"
SMOKE = Budget(samples=200, epochs=2, n_hidden=16)  # sdrnet demo --quick


def main(
    out: Path = Path("runs/demo"),
    budget: Budget | None = None,
    seed: int = 0,
    quick: bool = False,
    progress: bool = False,
    fmt: str = "png",
) -> dict:
    """The demo part: the ablation at ``budget`` (default `Budget.quick()`; ``quick``: `SMOKE`), on one thread."""
    torch.set_num_threads(1)
    budget = budget or (SMOKE if quick else Budget.quick())
    results = run(Path(out), budget=budget, seed=seed, progress=progress, fmt=fmt)
    print(
        f"\nSHD/SSC accuracy requires the SHD/SSC files; the paper's SHD recipe fetches them and trains:\n  "
        f"{SHD_COMMAND}\n  (--recipe ssc for SSC; paper: SHD 95.07 ± 0.24 %, SSC 80.69 ± 0.21 %)"
    )
    return results


def command(argv: list[str] | None = None) -> int:
    """This script's command line: the options of every sdrnet experiment, config.json and results.json."""
    from sdrnet import experiment
    from sdrnet.cli import Parser

    parser = Parser(prog="python examples/snn_delays_timing.py", description=__doc__.splitlines()[0])
    experiment.add_options(parser, "3,000 samples, 2×128 hidden, 30 epochs, 3 seeds", Path("runs/snn_delays"))
    args = parser.parse_args(argv)
    try:
        budget, seed = experiment.budget_from_args(Budget, args)
        args.out.mkdir(parents=True, exist_ok=True)
    except (TypeError, ValueError, OSError) as err:
        parser.error(" ".join(str(err).split()))
    try:
        experiment.write_config(args.out, "snn_delays_timing", budget, seed, full=args.full)
        results = main(args.out, budget, seed, progress=not args.no_progress, fmt=args.format)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    experiment.write_results(args.out, results)
    print(f"config.json and results.json in {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(command())
