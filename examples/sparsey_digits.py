"""Sparsey (Rinkus 2010, 2014) on the event-driven core: similar inputs get similar codes, the capacity of
one macrocolumn against its closed form, and single-trial learning of scikit-learn's 8×8 digits next to
k-NN and logistic regression on the same split.

Run:  python examples/sparsey_digits.py [--out runs/sparsey] [--full] [--seed 0]   (same as `sdrnet sparsey`, which
also takes MNIST's IDX files with `--mnist DIR`; a shorter run is part of `sdrnet demo`)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sdrnet.report import format_table
from sdrnet.sparsey import Macrocolumn
from sdrnet.sparsey.experiments import FULL, QUICK, Budget, run

DEMO = Budget(pairs=40, capacity_trials=1, loads=(100, 300, 500))


def one_macrocolumn(seed: int = 0) -> list[dict]:
    """Store three inputs in one trial each, then present them again, a noisy copy and a novel input."""
    rng = np.random.default_rng(seed)
    mac = Macrocolumn(n_inputs=200, Q=10, K=8)
    inputs = np.zeros((3, 200), bool)
    for x in inputs:
        x[rng.choice(200, 16, replace=False)] = True
    stored = [mac.learn(x, rng).winners for x in inputs]
    noisy = inputs[0].copy()
    noisy[np.flatnonzero(noisy)[:4]] = False
    noisy[rng.choice(np.flatnonzero(~inputs[0]), 4, replace=False)] = True
    novel = np.zeros(200, bool)
    novel[rng.choice(200, 16, replace=False)] = True
    rows = []
    for name, x in [
        ("stored input 0", inputs[0]),
        ("stored input 2", inputs[2]),
        ("input 0, 25 % of bits moved", noisy),
        ("novel input", novel),
    ]:
        code = mac.recognize(x)
        rows.append(
            {
                "presented (recognition mode)": name,
                "familiarity G": float(code.familiarity),
                "CMs matching code 0": int(np.sum(code.winners == stored[0])),
                "CMs matching code 2": int(np.sum(code.winners == stored[2])),
            }
        )
    code = mac.learn(novel, rng)
    rows.append(
        {
            "presented (recognition mode)": "novel input, learning mode (new code)",
            "familiarity G": float(code.familiarity),
            "CMs matching code 0": int(np.sum(code.winners == stored[0])),
            "CMs matching code 2": int(np.sum(code.winners == stored[2])),
        }
    )
    return rows


def main(out: Path = Path("runs/demo"), budget: Budget = DEMO, seed: int = 0) -> dict:
    print(
        format_table(
            one_macrocolumn(seed), "one macrocolumn (Q=10 CMs × K=8 cells), three inputs stored in one trial each"
        )
    )
    return run(Path(out), budget=budget, seed=seed, progress=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/sparsey"))
    parser.add_argument("--full", action="store_true", help="larger Monte Carlo budgets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.out, budget=FULL if args.full else QUICK, seed=args.seed)
