"""Sparsey (Rinkus 2010, 2014) on the event-driven core: similar inputs get similar codes, the capacity of
one macrocolumn against its closed form, and single-trial learning of scikit-learn's 8×8 digits next to
k-NN and logistic regression on the same split.

Run:  python examples/sparsey_digits.py [options of `sdrnet sparsey`: --out, --full, --seed, --mnist DIR, ...]
(the same command; a shorter run is part of `sdrnet demo`, the shortest of `sdrnet demo --quick`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from sdrnet.report import format_table
from sdrnet.sparsey import Macrocolumn
from sdrnet.sparsey.experiments import Budget, run

DEMO = Budget(pairs=40, capacity_trials=1, loads=(100, 300, 500))
SMOKE = Budget(pairs=5, capacity_trials=1, loads=(20,))  # sdrnet demo --quick


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


def main(out: Path = Path("runs/demo"), budget: Budget | None = None, seed: int = 0, quick: bool = False) -> dict:
    """The demo part: one macrocolumn, then the experiments at ``budget`` (default `DEMO`; ``quick``: `SMOKE`)."""
    print(
        format_table(
            one_macrocolumn(seed), "one macrocolumn (Q=10 CMs × K=8 cells), three inputs stored in one trial each"
        )
    )
    return run(Path(out), budget=budget or (SMOKE if quick else DEMO), seed=seed, progress=False)


if __name__ == "__main__":
    from sdrnet.cli import main as sdrnet

    sys.exit(sdrnet(["sparsey", *sys.argv[1:]]))
