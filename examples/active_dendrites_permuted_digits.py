"""Active dendrites against catastrophic forgetting (Iyer et al. 2022): permuted digits learned one task after
another by active dendrites, dendrites only, k-WTA only and a plain MLP; accuracy on all tasks seen, with the
paper's permuted-MNIST numbers alongside; the trained network exported to the event-driven core.

Run:  python examples/active_dendrites_permuted_digits.py [options of `sdrnet active-dendrites`: --out, --full,
      --seed, --set, --mnist DIR, ...]   (the same command; its quick budget is part of `sdrnet demo`, a smaller one
      of `sdrnet demo --quick`)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from dendrites.continual import Budget, load_digits_split, permuted_tasks, prototypes, run, train_task
from dendrites.nn import DendriticMLP, to_core
from sdrnet.report import format_table

SMOKE = Budget(num_tasks=2, report_tasks=(1, 2), hidden_sizes=(32, 32), epochs=1)  # sdrnet demo --quick


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


def main(out: Path = Path("runs/demo"), budget: Budget | None = None, seed: int = 0, quick: bool = False) -> dict:
    """The demo part: the comparison at ``budget`` (default `Budget.quick()`; ``quick``: `SMOKE`), then the
    export to the core."""
    results = run(Path(out), budget=budget or (SMOKE if quick else Budget.quick()), seed=seed, progress=False)
    results["core_export"] = export_to_core(seed)
    return results


if __name__ == "__main__":
    from sdrnet.cli import main as sdrnet

    sys.exit(sdrnet(["active-dendrites", *sys.argv[1:]]))
