"""The figures of Ahmad & Hawkins (2016), "How do neurons operate on sparse distributed representations?":
false matches versus n and s, robustness to noise, unions and the NMDA-threshold argument, each as closed-form
curves with Monte Carlo points simulated on dendritic segments stored in the event-driven core.

Run:  python examples/dendrites_figures.py [options of `sdrnet dendrites`: --out, --full, --seed, --set, ...]
(the same command; a shorter run is part of `sdrnet demo`, the shortest of `sdrnet demo --quick`)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from dendrites.figures import Budget, run
from dendrites.neuron import DendriticNeuron
from sdrnet.report import format_table
from sdrnet.sdr import SDRBatch

DEMO = Budget(segments=500, inputs=500, noise_trials=4, union_segments=50)
SMOKE = Budget(segments=100, inputs=100, noise_trials=1, union_segments=10)  # sdrnet demo --quick


def one_neuron(rng: np.random.Generator, brian2: bool = True) -> list[dict]:
    """A neuron learns 10 patterns, one segment each, then sees them with noise and sees new patterns.

    With Brian2 installed (and ``brian2``), the same inputs also drive a spiking model whose segments fire
    NMDA plateaus (`dendrites.brian2_model`); its responses are compared input by input.
    """
    n, a, s, theta = 2048, 40, 24, 12
    neuron = DendriticNeuron(n, theta=theta, synapses_per_segment=s)
    patterns = SDRBatch.random(n, a, 10, rng)
    for p in patterns:
        neuron.learn(p, rng)
    tests = {f"learned pattern, {frac:.0%} noise": patterns.add_noise(frac, rng) for frac in (0.0, 0.25, 0.5, 0.75)}
    tests["100 new random patterns"] = SDRBatch.random(n, a, 100, rng)
    rows = []
    for name, inputs in tests.items():
        row = {"input": name, "fraction that fires": float(neuron.respond(inputs).mean())}
        if brian2 and importlib.util.find_spec("brian2") is not None:
            from dendrites.brian2_model import simulate_brian2

            spiking = simulate_brian2(neuron, inputs, rng=rng).neuron_responses[:, 0]
            row["Brian2 NMDA model agrees"] = f"{np.mean(spiking == neuron.respond(inputs)):.0%}"
        rows.append(row)
    return rows


def main(out: Path = Path("runs/demo"), budget: Budget | None = None, seed: int = 0, quick: bool = False) -> dict:
    """The demo part: one neuron, then the figures at ``budget`` (default `DEMO`; ``quick``: `SMOKE` and no
    Brian2 comparison)."""
    rng = np.random.default_rng(seed)
    rows = one_neuron(rng, brian2=not quick)
    print(format_table(rows, "one neuron, 10 learned segments (n=2048, a=40, s=24, θ=12)"))
    return run(Path(out), budget=budget or (SMOKE if quick else DEMO), seed=seed, progress=False)


if __name__ == "__main__":
    from sdrnet.cli import main as sdrnet

    sys.exit(sdrnet(["dendrites", *sys.argv[1:]]))
