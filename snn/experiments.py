"""The paper's ablation on the built-in timing task: learned delays vs fixed random delays vs no delays.

Hammouamri et al. (2023) report that fixed random delays help and learned delays help more (SHD/SSC).
Here the data is `snn.data.timing_task` (classes differ only in the relative timing of spike volleys,
so an almost memoryless LIF network without delays is at chance), the same network size for every
variant, and the learned network is exported to the event-driven core, which must predict exactly
what PyTorch predicts. :func:`run` draws ``snn_delays.<fmt>`` (accuracies, and how far training moved each
synapse's delay from its initial value) and returns the results.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from sdrnet import experiment
from sdrnet.report import format_table, save_figure

from . import data
from .export import DelaySNNCore, export
from .models import DelaySNN, sum_softmax
from .train import TrainConfig, initial_model, train

__all__ = ["Budget", "run", "delay_changes", "table_rows", "figure", "FIGURE"]

VARIANTS = ("learned", "random", "none")
FIGURE = "snn_delays.png"  # the suffix follows run's fmt


@dataclass(frozen=True)
class Budget(experiment.Budget):
    """``samples`` of the timing task, ``epochs`` of training, ``n_hidden`` LIF neurons in each of 2 layers,
    ``batch_size``; ``seeds``: offsets added to run's seed, one training of every variant each. The defaults
    are the quick budget (about a minute); ``FULL``: 3,000 samples, 2×128, 30 epochs, 3 seeds."""

    samples: int = 600
    epochs: int = 8
    n_hidden: int = 48
    batch_size: int = 32
    seeds: tuple[int, ...] = (0,)
    FULL: ClassVar = {"samples": 3000, "epochs": 30, "n_hidden": 128, "batch_size": 64, "seeds": (0, 1, 2)}

    def check(self):
        self.require_positive("samples", "epochs", "n_hidden", "batch_size")
        if not self.seeds:
            raise ValueError("seeds must name at least one seed offset, got ()")


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


def run(out: Path, budget: Budget | None = None, seed: int = 0, progress: bool = True, fmt: str = "png") -> dict:
    """Train each variant on the timing task (per seed; ``budget``: `Budget.quick()` by default), tabulate,
    export the learned one to the core, save the figure under ``out`` as ``snn_delays.<fmt>``; returns the
    results (snake_case keys, numbers as numbers)."""
    budget = Budget.quick() if budget is None else budget
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
        {"variant": v, "test_accuracy": float(np.mean(acc[v])), "test_accuracy_std": float(np.std(acc[v]))}
        for v in VARIANTS
    ]
    core = _core_check(models["learned"], sets["test"])
    first = replace(cfg, delays="learned", seed=seed + budget.seeds[0])  # the configuration of models["learned"]
    delays = delay_changes(models["learned"], initial_model(first, sets["test"].n_channels, sets["test"].n_classes))
    print(
        format_table(
            table_rows(rows, len(budget.seeds), chance),
            f"timing task ({budget.samples} samples, {sets['test'].n_classes} classes, "
            f"2×{budget.n_hidden} LIF, delays 0–24 steps, {budget.epochs} epochs, {_spread(len(budget.seeds))})",
        )
    )
    print(format_table([core], "learned-delay network exported to the core, test set run event-driven"))
    print(
        "learned delays moved from their initial values (fixed random delays = the initial ones, rounded): "
        + ", ".join(
            f"{d['layer']} {d['moved_fraction']:.0%} of synapses, mean |Δ| {d['mean_abs_change']:.2f}" for d in delays
        )
        + " steps"
    )
    results = {
        "budget": budget.to_dict(),
        "rows": rows,
        "chance": chance,
        "accuracies": acc,
        "core": core,
        "delays": delays,
    }
    save_figure(figure(results), out / FIGURE, fmt)
    return results


NAMES = {"learned": "learned delays (DCLS)", "random": "fixed random delays", "none": "no delays"}


def table_rows(rows: list[dict], seeds: int, chance: float) -> list[dict]:
    """The printed table: accuracy per variant (with its s.d. when there are several seeds) and chance."""
    return [
        {
            "synapses": NAMES[r["variant"]],
            "test accuracy": r["test_accuracy"],
            **({"s.d. over seeds": r["test_accuracy_std"]} if seeds > 1 else {}),
            "chance": chance,
        }
        for r in rows
    ]


def _spread(seeds: int) -> str:
    return f"mean ± s.d. over {seeds} seeds" if seeds > 1 else "1 seed"


def delay_changes(learned: DelaySNN, initial: DelaySNN) -> list[dict]:
    """Per delay layer: integer delays before (``initial``) and after training (``learned``), and their change
    learned − initial per synapse (histogram over −max_delay … +max_delay), the mean |change| in steps and the
    fraction of synapses whose integer delay changed."""
    if len(learned.synapses) != len(initial.synapses):
        raise ValueError("learned and initial must have the same layers")
    n = len(learned.synapses)
    out = []
    for i, (a, b) in enumerate(zip(learned.synapses, initial.synapses)):
        after, before = a.integer_delays().flatten().numpy(), b.integer_delays().flatten().numpy()
        change = after - before
        out.append(
            {
                "layer": "readout" if i == n - 1 else f"layer {i + 1}",
                "max_delay": a.max_delay,
                "initial_histogram": np.bincount(before, minlength=a.max_delay + 1).tolist(),
                "learned_histogram": np.bincount(after, minlength=a.max_delay + 1).tolist(),
                "change_histogram": np.bincount(change + a.max_delay, minlength=2 * a.max_delay + 1).tolist(),
                "mean_abs_change": float(np.abs(change).mean()),
                "moved_fraction": float(np.mean(change != 0)),
            }
        )
    return out


def figure(results: dict):
    """Accuracy per variant; then, per delay layer, the change of each synapse's delay during training
    (learned − initial: the learned and the fixed random delays start from the same draw, so their own
    histograms look alike)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone
    from matplotlib.ticker import MaxNLocator

    rows, delays, seeds = results["rows"], results["delays"], len(results["budget"]["seeds"])
    fig = Figure(figsize=(4 + 3.2 * len(delays), 3.6))
    axes = fig.subplots(1, 1 + len(delays))
    axes[0].bar(
        [{"learned": "learned", "random": "fixed\nrandom", "none": "none"}[r["variant"]] for r in rows],
        [r["test_accuracy"] for r in rows],
        yerr=[r["test_accuracy_std"] for r in rows] if seeds > 1 else None,
        color=["tab:blue", "tab:orange", "tab:gray"],
    )
    axes[0].axhline(results["chance"], ls="--", c="k", lw=1, label="chance")
    axes[0].set(ylim=(0, 1.05), xlabel="delays", ylabel="test accuracy", title=f"timing task, {_spread(seeds)}")
    axes[0].legend(loc="upper right")
    for ax, d in zip(axes[1:], delays):
        counts = np.array(d["change_histogram"])
        shift = np.arange(-d["max_delay"], d["max_delay"] + 1)
        reach = max(3, int(np.abs(shift[counts > 0]).max()))
        ax.bar(shift, counts, width=0.9, color="tab:blue")
        ax.set_xlim(-reach - 0.5, reach + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="learned − initial delay (steps of 10 ms)",
            ylabel="synapses",
            title=f"delays into {d['layer']}\n{d['moved_fraction']:.0%} moved, mean |Δ| {d['mean_abs_change']:.2f} steps",
        )
    return fig
