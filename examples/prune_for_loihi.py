"""Pruning for neuromorphic targets: accuracy vs sparsity of ten pruning methods on 8×8 digits (large-sparse vs
small-dense at equal non-zeros), then a spiking MLP pruned gradually, fitted to Loihi's limits (8-bit weights),
run event-driven on the core against PyTorch, and written to NIR.

Run:  python examples/prune_for_loihi.py [--out runs/prune] [--full] [--seed 0] [--target loihi|xylo|spinnaker]
(a shorter run is part of `sdrnet demo`)
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from sdrnet.prune.experiment import FULL, QUICK, Budget, check_deploy, deploy, run
from sdrnet.prune.targets import PROFILES

DEMO = replace(
    QUICK, methods=("magnitude (global)", "gradual (GMP)", "random ERK", "RigL", "N:M SR-STE", "small dense")
)


def main(
    out: Path = Path("runs/demo"), budget: Budget = DEMO, seed: int = 0, target: str = "loihi", progress: bool = False
) -> dict:
    check_deploy(PROFILES[target])  # a target the network cannot fit fails here, before any training
    results = run(Path(out), budget=budget, seed=seed, progress=progress)
    print()
    results["deploy"] = deploy(Path(out), PROFILES[target], seed=seed)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/prune"))
    parser.add_argument("--full", action="store_true", help="hidden 2×256, 40 epochs, 3 seeds (minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", choices=sorted(PROFILES), default="loihi")
    args = parser.parse_args()
    main(args.out, FULL if args.full else QUICK, args.seed, args.target, progress=True)
