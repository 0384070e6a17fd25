"""Active dendrites against catastrophic forgetting (Iyer et al. 2022): permuted digits learned one task after
another by active dendrites, dendrites only, k-WTA only and a plain MLP; accuracy on all tasks seen, with the
paper's permuted-MNIST numbers alongside; the trained network exported to the event-driven core.

Run:  python examples/active_dendrites_permuted_digits.py [--out runs/active_dendrites] [--full] [--seed 0]
      [--mnist DIR]   (same as `sdrnet active-dendrites`; a shorter run is part of `sdrnet demo`)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from dendrites.continual import (
    FULL,
    QUICK,
    Budget,
    load_digits_split,
    permuted_tasks,
    prototypes,
    run,
    train_task,
    with_mnist,
)
from dendrites.nn import DendriticMLP, to_core
from sdrnet.report import format_table

DEMO = QUICK


def export_to_core(seed: int = 0) -> dict:
    """Train an active-dendrite network on two permuted-digit tasks, run it on the core, compare with torch."""
    torch.manual_seed(seed)
    tasks = permuted_tasks(*load_digits_split(seed), 2, seed)
    protos = prototypes(tasks)
    model = DendriticMLP(64, (256, 256), 10, num_segments=2, dim_context=64, kw=True, kw_percent_on=0.05)
    budget = Budget(2, (2,), (256, 256), epochs=3, batch_size=64, lr=1e-3, seeds=1)
    for t, task in enumerate(tasks):
        train_task(model, task, protos[t], budget, torch.Generator().manual_seed(seed))
    model.eval()
    core = to_core(model)
    x = torch.cat([t.x_test for t in tasks])
    context = protos.repeat_interleave(tasks[0].x_test.shape[0], dim=0)
    with torch.no_grad():
        expected = model(x, context).numpy()
    got = core.run(x.numpy(), context=context.numpy()).output
    row = {
        "synapses stored": sum(s.nnz for s in core.synapses),
        "dense weights": sum(s.n_pre * s.n_post for s in core.synapses),
        "max |core − torch|": float(np.abs(got - expected).max()),
        "same predictions": f"{np.mean(got.argmax(1) == expected.argmax(1)):.1%}",
    }
    print(format_table([row], "\nactive-dendrite network exported to the core (2 tasks, 2×256 hidden, 5 % k-WTA)"))
    return row


def main(out: Path = Path("runs/demo"), budget: Budget = DEMO, seed: int = 0, progress: bool = False) -> dict:
    results = run(Path(out), budget=budget, seed=seed, progress=progress)
    results["core_export"] = export_to_core(seed)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/active_dendrites"))
    parser.add_argument("--full", action="store_true", help="50 tasks, 2×1024 hidden, 3 seeds (minutes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mnist", type=Path, help="folder with MNIST's IDX files: permuted MNIST at the paper's scale")
    args = parser.parse_args()
    chosen = FULL if args.full else QUICK
    main(args.out, with_mnist(chosen, args.mnist) if args.mnist else chosen, args.seed, progress=True)
