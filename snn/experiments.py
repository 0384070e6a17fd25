"""The paper's ablation on the built-in timing task: learned delays vs fixed random delays vs no delays.

Hammouamri et al. (2023) report that fixed random delays help and learned delays help more (SHD/SSC).
Here the data is `snn.data.timing_task` (classes differ only in the relative timing of spike volleys,
so an almost memoryless LIF network without delays is at chance), the same network size for every
variant, and the learned network is exported to the event-driven core, which must predict exactly
what PyTorch predicts. Writes ``snn_delays.json`` and ``snn_delays.png`` (accuracies and the learned
delay histograms).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from sdrnet.report import format_table, save_figure

from . import data
from .export import DelaySNNCore, export
from .models import sum_softmax
from .train import TrainConfig, train

__all__ = ["Budget", "QUICK", "FULL", "run"]

VARIANTS = ("learned", "random", "none")


@dataclass(frozen=True)
class Budget:
    samples: int = 600
    epochs: int = 8
    n_hidden: int = 48
    batch_size: int = 32
    seeds: tuple[int, ...] = (0,)


QUICK = Budget()
FULL = Budget(samples=3000, epochs=30, n_hidden=128, batch_size=64, seeds=(0, 1, 2))


def _splits(budget: Budget, seed: int) -> dict[str, data.SpikeDataset]:
    full = data.timing_task(n_samples=budget.samples, seed=seed)
    rest, test = data.holdout(full, fraction=0.25, seed=seed + 1)
    train_set, valid = data.holdout(rest, fraction=0.1, seed=seed)
    return {"train": train_set, "valid": valid, "test": test}


def _core_check(model, test: data.SpikeDataset) -> dict:
    """Run the test set event-driven on the exported network; compare with the PyTorch model."""
    core = DelaySNNCore(export(model))
    run = core.run(test.events)
    pred, synops, network = core.scores(run).argmax(1), run.synops, core.network  # predict, without a second run
    x = torch.from_numpy(test.to_dense())
    with torch.no_grad():
        torch_pred = sum_softmax(model.eval()(x)).argmax(1).numpy()
    return {
        "core_accuracy": float(np.mean(pred == test.labels)),
        "agreement": float(np.mean(pred == torch_pred)),
        "synops_per_sample": float(synops.sum() / len(test)),
        "synapses": int(sum(lay.synapses.nnz for lay in network.layers)),
    }


def run(out: Path, budget: Budget = QUICK, seed: int = 0, progress: bool = True) -> dict:
    """Train each variant on the timing task (per seed), tabulate, plot, export the learned one to the core."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    acc = {v: [] for v in VARIANTS}
    models = {}
    for s in budget.seeds:
        sets = _splits(budget, seed + s)
        for variant in VARIANTS:
            cfg = TrainConfig(
                dataset="synthetic",
                n_hidden=budget.n_hidden,
                epochs=budget.epochs,
                batch_size=budget.batch_size,
                dropout=0.1,
                delays=variant,
                seed=seed + s,
                progress=progress,
            )
            res = train(cfg, out / "snn_runs" / f"{variant}_seed{seed + s}", datasets=sets, force=True)
            acc[variant].append(res["test_accuracy"])
            models.setdefault(variant, res["model"])
    chance = 1 / sets["test"].n_classes
    rows = [
        {
            "synapses": name,
            "test accuracy": float(np.mean(acc[v])),
            "± s.d. over seeds": float(np.std(acc[v])),
            "chance": chance,
        }
        for v, name in zip(VARIANTS, ("learned delays (DCLS)", "fixed random delays", "no delays"))
    ]
    core = _core_check(models["learned"], sets["test"])
    delays = [s.integer_delays().flatten().numpy() for s in models["learned"].synapses]
    print(
        format_table(
            rows,
            f"timing task ({budget.samples} samples, {sets['test'].n_classes} classes, "
            f"2×{budget.n_hidden} LIF, delays 0–24 steps, {budget.epochs} epochs)",
        )
    )
    print(format_table([core], "learned-delay network exported to the core, test set run event-driven"))
    results = {
        "budget": asdict(budget),
        "rows": rows,
        "accuracies": acc,
        "core": core,
        "delay_histograms": [np.bincount(d, minlength=25).tolist() for d in delays],
    }
    (out / "snn_delays.json").write_text(json.dumps(results, indent=2))
    _plot(out / "snn_delays.png", rows, delays, models["random"])
    return results


def _plot(path: Path, rows: list[dict], learned: list[np.ndarray], random_model) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(learned), figsize=(4 + 3.2 * len(learned), 3.4))
    names = [r["synapses"].replace(" (DCLS)", "") for r in rows]
    axes[0].bar(
        names,
        [r["test accuracy"] for r in rows],
        yerr=[r["± s.d. over seeds"] for r in rows],
        color=["tab:blue", "tab:orange", "tab:gray"],
    )
    axes[0].axhline(rows[0]["chance"], ls="--", c="k", lw=1, label="chance")
    axes[0].set(ylim=(0, 1.05), ylabel="test accuracy", title="timing task")
    axes[0].tick_params(axis="x", labelrotation=20)
    axes[0].legend(loc="upper right")
    bins = np.arange(26) - 0.5
    for i, (ax, d) in enumerate(zip(axes[1:], learned)):
        ax.hist(
            random_model.synapses[i].integer_delays().flatten().numpy(),
            bins=bins,
            alpha=0.5,
            color="tab:orange",
            label="random (fixed)",
        )
        ax.hist(d, bins=bins, alpha=0.7, color="tab:blue", label="learned")
        title = "readout" if i == len(learned) - 1 else f"layer {i + 1}"
        ax.set(xlabel="delay (steps of 10 ms)", ylabel="synapses", title=f"delays into {title}")
    axes[1].legend()
    save_figure(fig, path)
