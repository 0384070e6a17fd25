"""Pruning for neuromorphic targets: accuracy vs sparsity of ten pruning methods on 8×8 digits (large-sparse vs
small-dense at equal non-zeros), then a spiking MLP pruned gradually, fitted to Loihi's limits (8-bit weights),
run event-driven on the core against PyTorch, and written to NIR.

Run:  python examples/prune_for_loihi.py [options of `sdrnet prune`: --out, --full, --seed, --set, --target, ...]
(the same command; a shorter run is part of `sdrnet demo`, a smaller one of `sdrnet demo --quick`)
"""

from __future__ import annotations

import sys
from pathlib import Path

from sdrnet.prune.experiment import Budget, check_deploy, deploy, run
from sdrnet.prune.targets import PROFILES

DEMO = Budget(methods=("magnitude (global)", "gradual (GMP)", "random ERK", "RigL", "N:M SR-STE", "small dense"))
SMOKE = Budget(  # sdrnet demo --quick
    hidden=(32, 32),
    epochs=2,
    finetune=1,
    imp_epochs=1,
    sparsities=(0.5, 0.9, 0.98),
    methods=("magnitude (global)", "gradual (GMP)", "small dense"),
)


def main(
    out: Path = Path("runs/demo"),
    budget: Budget | None = None,
    seed: int = 0,
    target: str = "loihi",
    progress: bool = False,
    quick: bool = False,
) -> dict:
    """The demo part: the methods at ``budget`` (default `DEMO`; ``quick``: `SMOKE`), then the spiking MLP
    fitted to ``target``."""
    check_deploy(PROFILES[target])  # a target the network cannot fit fails here, before any training
    results = run(Path(out), budget=budget or (SMOKE if quick else DEMO), seed=seed, progress=progress)
    print()
    results["deploy"] = deploy(Path(out), PROFILES[target], seed=seed)
    return results


if __name__ == "__main__":
    from sdrnet.cli import main as sdrnet

    sys.exit(sdrnet(["prune", *sys.argv[1:]]))
