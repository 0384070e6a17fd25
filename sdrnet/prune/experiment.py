"""Accuracy against sparsity for every pruning method on scikit-learn's 8×8 digits (an MLP), and the
"To prune, or not to prune" comparison (Zhu & Gupta 2017, Sec. 4): a large network pruned to a given
number of non-zero weights against a small dense network with the same number, trained as long.

Methods (each at 50/80/90/95/98 % of the weights of the hidden and output layers set to zero; global
magnitude pruning and IMP include the readout here, ``include_readout=True``, so that every method is
compared at the same sparsity of all weights):
one-shot magnitude pruning, layer-wise and global, of a trained dense network then fine-tuned; random
ERK masks trained from scratch; gradual magnitude pruning (cubic schedule); iterative magnitude
pruning with rewinding (20 % per round; the round whose sparsity first reaches the target);
RigL and GraNet (prune-and-regrow); SR-STE N:M (1:2, 1:4, 1:8, 1:16, 1:32: the nearest patterns);
whole hidden units removed from the trained network and fine-tuned; and a small dense network.

`TASKS` maps a task name to a factory; other tasks register there (`register_task`) and run through
the same harness (`get_task` imports the module an installed package names for a task). ``"timing"``
(budget `SNN_QUICK`), registered by `snn.prune_task`, is the delay SNN (`snn.models.DelaySNN`, learned
delays) on the synthetic spike-timing task `snn.data.timing_task`, trained with its own recipe
(`Task.fit`); its ``DelayedLinear`` weights are pruned like ``nn.Linear``'s.
:func:`run` saves ``prune_accuracy_vs_sparsity.<fmt>`` and returns the results (snake_case keys, numbers as
numbers), which ``sdrnet prune`` writes as ``results.json`` with `deploy`'s.
"""

from __future__ import annotations

import copy
import importlib.metadata
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from sdrnet import experiment
from sdrnet.optional import require
from sdrnet.report import format_table, run_timed, save_figure

from . import methods as pm
from .masks import rezero, sparsity, targets
from .structured import prune_neurons

__all__ = [
    "Budget",
    "SNN_QUICK",
    "METHODS",
    "Task",
    "TASKS",
    "TASK_ENTRY_POINTS",
    "register_task",
    "get_task",
    "digits_task",
    "train",
    "check_deploy",
    "deploy",
    "accuracy",
    "run_method",
    "run_experiment",
    "run",
    "figure",
    "plot",
    "FIGURE",
]

FIGURE = "prune_accuracy_vs_sparsity.png"  # the suffix follows run's fmt
MARKERS = "osD^vP<>Xph*"  # one per method in the figure
METHODS = (
    "magnitude (layer)",
    "magnitude (global)",
    "random ERK",
    "gradual (GMP)",
    "IMP + rewind",
    "RigL",
    "GraNet",
    "N:M SR-STE",
    "neurons (structured)",
    "small dense",
)


@dataclass(frozen=True)
class Budget(experiment.Budget):
    """``hidden``: the large network's hidden sizes; ``epochs`` of training (dense, from scratch, per IMP
    round); ``finetune`` epochs after one-shot pruning; ``imp_epochs`` per IMP round; ``seeds``: repetitions
    (seeds ``seed, seed + 1, …``); ``threads``: torch threads during the run (None: leave as is). The defaults
    are the quick budget (about 40 s); ``FULL``: hidden 2×256, 40 epochs, 3 seeds."""

    hidden: tuple[int, ...] = (128, 128)
    epochs: int = 12
    finetune: int = 6
    imp_epochs: int = 6
    seeds: int = 1
    sparsities: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.98)
    methods: tuple[str, ...] = METHODS
    batch_size: int = 64
    lr: float = 2e-3
    task: str = "digits"
    threads: int | None = 1
    FULL: ClassVar = {"hidden": (256, 256), "epochs": 40, "finetune": 20, "imp_epochs": 30, "seeds": 3, "threads": None}

    def check(self):
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"methods must be among {METHODS}, got {sorted(unknown)}")
        for s in self.sparsities:
            pm.check_sparsity(s, "sparsities")
        if min(self.epochs, self.finetune, self.imp_epochs, self.seeds, self.batch_size) < 1:
            raise ValueError("epochs, finetune, imp_epochs, seeds and batch_size must be >= 1")
        self.require_positive("hidden", "threads")


# the delay SNN on the timing task of snn.prune_task (2×48 LIF, delays 0–24 steps, as snn.experiments):
# ~2–3 min on one thread
SNN_QUICK = Budget(
    hidden=(48, 48),
    epochs=8,
    finetune=3,
    imp_epochs=4,
    seeds=1,
    batch_size=32,
    lr=1e-3,
    task="timing",
    methods=("magnitude (layer)", "magnitude (global)", "random ERK", "gradual (GMP)", "small dense"),
)


@dataclass
class Task:
    """A classification task: tensors, a model factory ``make_model(hidden, seed)`` and ``forward(model, x)``
    giving logits (a spiking task repeats/encodes ``x`` over time and reads the output out; in eval mode it
    may run an inference form of the model, e.g. integer delays).

    ``fit(model, task, epochs, budget, seed, after_backward, after_step)``, if given, replaces the generic
    `train` (a task with its own recipe: optimisers, schedules, clamping); it must call
    ``after_backward(optimizer of the pruned weights)`` before and ``after_step()`` after every optimizer
    step, and re-zero pruned weights (`rezero`) after it. ``methods``: the methods the task supports
    (None: all)."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    make_model: Callable[[tuple[int, ...], int], nn.Module]
    forward: Callable[[nn.Module, torch.Tensor], torch.Tensor]
    fit: Callable | None = None
    methods: tuple[str, ...] | None = None

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def digits_task(seed: int) -> Task:
    """scikit-learn's 1,797 digits (pixels / 16), a stratified 75/25 split fixed by ``seed``; ReLU MLPs."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x.astype(np.float32) / 16, y, test_size=0.25, random_state=seed, stratify=y)

    def make_model(hidden, model_seed):
        torch.manual_seed(model_seed)
        sizes = (64, *hidden, 10)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers[:-1])

    return Task(
        "digits",
        torch.from_numpy(xtr),
        torch.from_numpy(ytr),
        torch.from_numpy(xte),
        torch.from_numpy(yte),
        make_model,
        lambda model, x: model(x),
    )


TASKS: dict[str, Callable[[int], Task]] = {"digits": digits_task}  # and those registered (`register_task`)
TASK_ENTRY_POINTS = "sdrnet.prune_tasks"  # entry-point group: task name = module that registers it on import


def register_task(name: str, factory: Callable[[int], Task]) -> None:
    """Make ``Budget(task=name)`` use ``factory(seed) -> Task`` (e.g. a delay-SNN synthetic task)."""
    if not (isinstance(name, str) and name):
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory must be callable (seed -> Task), got {type(factory).__name__}")
    TASKS[name] = factory


def get_task(name: str) -> Callable[[int], Task]:
    """The factory of the task ``name``: registered (`register_task`), or registered on import by the module
    that an installed package names for it in the `TASK_ENTRY_POINTS` group (``"timing"``: `snn.prune_task`)."""
    if name not in TASKS:
        for ep in importlib.metadata.entry_points(group=TASK_ENTRY_POINTS, name=name):
            ep.load()
    if name not in TASKS:
        raise ValueError(
            f"task must be one of {sorted(TASKS)} or a task an installed package registers under "
            f"the {TASK_ENTRY_POINTS!r} entry points, got {name!r}"
        )
    return TASKS[name]


# ---------------------------------------------------------------------------------------------- training
def train(model, task: Task, epochs: int, budget: Budget, seed: int, after_backward=None, after_step=None) -> None:
    """Adam, cross-entropy, shuffled mini-batches; optional callbacks around ``optimizer.step()``;
    pruned weights re-zeroed after every step. ``task.fit``, if set, trains instead."""
    if task.fit is not None:
        return task.fit(model, task, epochs, budget, seed, after_backward=after_backward, after_step=after_step)
    opt = torch.optim.Adam(model.parameters(), lr=budget.lr)
    gen = torch.Generator().manual_seed(seed)
    n = task.x_train.shape[0]
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=gen).split(budget.batch_size):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(task.forward(model, task.x_train[idx]), task.y_train[idx]).backward()
            if after_backward is not None:
                after_backward(opt)
            opt.step()
            rezero(model)
            if after_step is not None:
                after_step()


def steps_per_epoch(task: Task, budget: Budget) -> int:
    return math.ceil(task.x_train.shape[0] / budget.batch_size)


@torch.no_grad()
def accuracy(model, task: Task) -> float:
    model.eval()
    return float((task.forward(model, task.x_test).argmax(1) == task.y_test).float().mean())


def weights(model) -> int:
    """Weights of the prunable layers (`targets`: Linear, Conv, DelayedLinear)."""
    return sum(getattr(m, name).numel() for m, name in targets(model))


def nonzeros(model) -> int:
    return sum(int((getattr(m, name) != 0).sum()) for m, name in targets(model))


# ---------------------------------------------------------------------------------------------- methods
def _nm_pattern(s: float, inputs: tuple[int, ...]) -> tuple[int, int]:
    """1:M with 1 − 1/M nearest ``s`` among the M that divide every layer's input size."""
    ms = [m for m in (2, 4, 8, 16, 32, 64) if all(n % m == 0 for n in inputs)] or [1]
    return 1, min(ms, key=lambda m: abs((1 - 1 / m) - s))


def _small_width(budget: Budget, s: float, n_in: int = 64, n_out: int = 10) -> int:
    """Hidden width h of a dense (h, h) net with as many weights as the large net keeps at sparsity s."""
    target = (1 - s) * sum(a * b for a, b in zip((n_in, *budget.hidden), (*budget.hidden, n_out)))
    h = (-(n_in + n_out) + math.sqrt((n_in + n_out) ** 2 + 4 * target)) / 2
    return max(1, round(h))


def run_method(method: str, s: float, task: Task, dense: nn.Module, budget: Budget, seed: int) -> dict:
    """Train/prune one model with ``method`` at sparsity ``s``; returns accuracy, sparsity, non-zeros."""
    spe = steps_per_epoch(task, budget)
    total = budget.epochs * spe
    gen = torch.Generator().manual_seed(seed)
    if method in ("magnitude (layer)", "magnitude (global)", "neurons (structured)"):
        model = copy.deepcopy(dense)
        if method == "neurons (structured)":
            prune_neurons(model, _neuron_amount(model, s))
        else:
            pm.magnitude_prune(model, s, "layer" if "layer" in method else "global", include_readout=True)
        train(model, task, budget.finetune, budget, seed)
    elif method == "random ERK":
        model = task.make_model(budget.hidden, seed)
        pm.random_prune(model, s, "erk", gen)
        train(model, task, budget.epochs, budget, seed)
    elif method == "gradual (GMP)":
        model = task.make_model(budget.hidden, seed)
        gp = pm.GradualPruning(model, s, begin=total // 5, end=3 * total // 4, frequency=max(1, spe // 2))
        train(model, task, budget.epochs, budget, seed, after_step=gp.step)
    elif method in ("RigL", "GraNet"):
        model = task.make_model(budget.hidden, seed)
        pr = pm.PruneRegrow(
            model,
            s,
            end=3 * total // 4,
            frequency=max(1, spe // 2),
            drop_fraction=0.3 if method == "RigL" else 0.5,
            initial_sparsity=None if method == "RigL" else min(0.5, s),
            generator=gen,
        )

        def after_backward(opt):
            pr.optimizer = opt  # zero the optimizer state of regrown weights
            pr.step()

        train(model, task, budget.epochs, budget, seed, after_backward=after_backward)
    elif method == "N:M SR-STE":
        model = task.make_model(budget.hidden, seed)
        sr = pm.SRSTE(model, *_nm_pattern(s, (task.n_inputs, *budget.hidden)))
        train(model, task, budget.epochs, budget, seed)
        sr.finalize()
    elif method == "small dense":
        model = task.make_model((_small_width(budget, s, task.n_inputs, task.n_classes),) * len(budget.hidden), seed)
        train(model, task, budget.epochs, budget, seed)
    else:
        raise ValueError(f"method must be among {METHODS}, got {method!r}")
    return {
        "accuracy": accuracy(model, task),
        "sparsity": 1 - nonzeros(model) / weights(dense),
        "nonzeros": nonzeros(model),
    }


def _neuron_amount(model: nn.Module, s: float) -> float:
    """Fraction of hidden units to remove so that the weights left are about (1 − s) of the original."""
    total = weights(model)
    lo, hi = 0.0, 0.999
    for _ in range(30):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(model)
        prune_neurons(trial, mid)
        lo, hi = (mid, hi) if weights(trial) > (1 - s) * total else (lo, mid)
    return hi


def run_imp(task: Task, budget: Budget, seed: int) -> dict[float, dict]:
    """IMP with rewinding to the end of the first epoch; results at the first round reaching each target."""
    model = task.make_model(budget.hidden, seed)
    train(model, task, 1, budget, seed)
    lt = pm.LotteryTicket(model, rate=0.2, include_readout=True)
    lt.save_rewind_point()
    train(model, task, budget.imp_epochs - 1, budget, seed)
    out = {}
    for s in sorted(budget.sparsities):
        while lt.sparsity < s - 1e-9:
            lt.prune_round()
            train(model, task, budget.imp_epochs - 1, budget, seed + lt.rounds)
        out[s] = {
            "accuracy": accuracy(model, task),
            "sparsity": lt.sparsity,
            "nonzeros": nonzeros(model),
            "rounds": lt.rounds,
        }
    return out


# ---------------------------------------------------------------------------------------------- experiment
def run_experiment(budget: Budget | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Every method at every target sparsity, for seeds ``seed, seed + 1, …`` (``budget``: `Budget.quick()` by
    default). ``runs``: one record per method, target and seed (``rounds`` for IMP); ``dense``: the dense
    network's accuracy per seed."""
    budget = Budget.quick() if budget is None else budget
    threads = torch.get_num_threads()
    if budget.threads is not None:
        torch.set_num_threads(budget.threads)
    try:
        results = {"budget": budget.to_dict(), "task": budget.task, "dense": [], "runs": []}
        jobs = len(budget.methods) * len(budget.sparsities) * budget.seeds
        with tqdm(total=jobs, disable=not progress, desc="pruning methods") as bar:
            for k in range(budget.seeds):
                task = get_task(budget.task)(seed + k)
                unsupported = [m for m in budget.methods if task.methods is not None and m not in task.methods]
                if unsupported:
                    raise ValueError(f"task {budget.task!r} does not support {unsupported}")
                dense = task.make_model(budget.hidden, seed + k)
                train(dense, task, budget.epochs, budget, seed + k)
                results["dense"].append(accuracy(dense, task))
                results["dense_weights"] = weights(dense)
                for method in budget.methods:
                    runs = (
                        run_imp(task, budget, seed + k)
                        if method == "IMP + rewind"
                        else {s: run_method(method, s, task, dense, budget, seed + k) for s in budget.sparsities}
                    )
                    results["runs"] += [
                        {"method": method, "target_sparsity": s, "seed": seed + k, **r} for s, r in runs.items()
                    ]
                    bar.update(len(budget.sparsities))
    finally:
        torch.set_num_threads(threads)
    return results


def summary(results: dict) -> list[dict]:
    """One record per method and target sparsity (in run order): mean accuracy and its s.d. over seeds, mean
    sparsity reached and non-zeros."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in results["runs"]:
        groups.setdefault((r["method"], r["target_sparsity"]), []).append(r)
    return [
        {
            "method": method,
            "target_sparsity": target,
            "accuracy": float(np.mean([r["accuracy"] for r in rs])),
            "accuracy_std": float(np.std([r["accuracy"] for r in rs])),
            "sparsity": float(np.mean([r["sparsity"] for r in rs])),
            "nonzeros": int(np.mean([r["nonzeros"] for r in rs])),
        }
        for (method, target), rs in groups.items()
    ]


def _by_method(results: dict) -> dict[str, dict[float, dict]]:
    out: dict[str, dict[float, dict]] = {}
    for r in summary(results):
        out.setdefault(r["method"], {})[r["target_sparsity"]] = r
    return out


def table_rows(results: dict) -> list[dict]:
    """The printed table: accuracy per method (rows) and target sparsity (columns), and the sparsity reached
    where it differs from the target."""
    rows = []
    for method, by_s in _by_method(results).items():
        row = {"method": method}
        for s, r in by_s.items():
            exact = abs(r["sparsity"] - s) < 0.005
            row[f"{s:.0%}"] = f"{r['accuracy']:.1%}" + ("" if exact else f" @{r['sparsity']:.1%}")
        rows.append(row)
    return rows


LARGE_VS_SMALL = {
    "nonzeros": "non-zero weights",
    "large_sparse_method": "large-sparse",
    "large_sparse_accuracy": "large-sparse acc.",
    "small_dense_nonzeros": "small-dense nnz",
    "small_dense_accuracy": "small-dense acc.",
    "large_sparse_wins": "large-sparse wins",
}  # the printed headers of `large_vs_small`'s columns


def large_vs_small(results: dict) -> list[dict]:
    """Zhu & Gupta's comparison: the best large-sparse method against small dense, at equal non-zeros."""
    s = _by_method(results)
    rows = []
    for target in s.get("small dense", {}):
        sparse = {m: v[target] for m, v in s.items() if m in ("gradual (GMP)", "magnitude (global)") and target in v}
        if not sparse:
            continue
        best = max(sparse, key=lambda m: sparse[m]["accuracy"])
        small = s["small dense"][target]
        rows.append(
            {
                "nonzeros": sparse[best]["nonzeros"],
                "large_sparse_method": best,
                "large_sparse_accuracy": sparse[best]["accuracy"],
                "small_dense_nonzeros": small["nonzeros"],
                "small_dense_accuracy": small["accuracy"],
                "large_sparse_wins": sparse[best]["accuracy"] > small["accuracy"],
            }
        )
    return rows


def figure(results: dict):
    """Accuracy vs sparsity, one line per method (mean over seeds, ± s.d. bars when there are several), on a
    logit sparsity axis: 50 → 98 % spreads evenly, so the 90–99 % range where methods part is readable.
    The legend sits right of the axes, off the data."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    seeds = len(results["dense"])
    fig = Figure(figsize=(9, 4.8))
    ax = fig.subplots()
    for i, (method, by_s) in enumerate(_by_method(results).items()):
        pts = sorted((r["sparsity"], r["accuracy"], r["accuracy_std"]) for r in by_s.values())
        s, acc, std = (np.array(v) for v in zip(*pts))
        ax.errorbar(
            s,
            100 * acc,
            yerr=100 * std if seeds > 1 else None,
            marker=MARKERS[i % len(MARKERS)],
            ms=5,
            capsize=2,
            color=f"C{i % 10}",
            label=method,
            linestyle="--" if method == "small dense" else "-",
        )
    ax.axhline(100 * float(np.mean(results["dense"])), color="k", linewidth=0.8, label="dense (large)")
    ax.set_xscale("logit")
    ticks = sorted({r["target_sparsity"] for r in results["runs"]})
    ax.set_xticks(ticks, [f"{100 * t:g} %" for t in ticks], minor=False)
    ax.xaxis.set_minor_formatter("")
    ax.set_xlabel("sparsity, logit scale (% of weights zero; small dense: same non-zeros)")
    ax.set_ylabel("test accuracy (%)")
    spread = f"mean ± s.d. over {seeds} seeds" if seeds > 1 else "1 seed"
    ax.set_title(f"{results['task']}: accuracy vs sparsity, hidden {tuple(results['budget']['hidden'])}, {spread}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot(results: dict, path: Path, format: str | None = None) -> Path:
    """Save `figure` to ``path`` (its suffix replaced by ``format`` when given); returns the file written."""
    return save_figure(figure(results), path, format)


def run(out: Path, *, budget: Budget | None = None, seed: int = 0, progress: bool = True, fmt: str = "png") -> dict:
    """Run every method (``budget``: `Budget.quick()` by default), print the tables, save the figure under
    ``out`` as ``prune_accuracy_vs_sparsity.<fmt>``; returns the results (``runs``, their ``summary``,
    ``large_vs_small``; ``sdrnet prune`` writes them as ``results.json``)."""
    budget = Budget.quick() if budget is None else budget
    out, results = run_timed(out, run_experiment, budget, seed, progress)
    results["summary"] = summary(results)
    results["large_vs_small"] = large_vs_small(results)
    print(
        format_table(
            table_rows(results),
            f"{results['task']}: test accuracy at each sparsity, hidden {budget.hidden}, "
            f"{'1 seed' if budget.seeds == 1 else f'mean of {budget.seeds} seeds'}; "
            f"dense {np.mean(results['dense']):.1%} "
            "(@x: the sparsity the method actually reached)",
        )
    )
    print(
        format_table(
            results["large_vs_small"],
            "\nlarge-sparse vs small-dense at equal non-zeros (Zhu & Gupta 2017, 'To prune, or not to prune')",
            LARGE_VS_SMALL,
        )
    )
    path = plot(results, out / FIGURE, fmt)
    print(f"{results['seconds']:.1f} s; figure in {path}")
    return results


# ---------------------------------------------------------------------------------------------- prune, fit, export
def spiking_digits(
    seed: int = 0,
    hidden: int = 128,
    steps: int = 8,
    epochs: int = 8,
    sparsity: float = 0.9,
    budget: Budget | None = None,
):
    """A Linear → LIF → Linear (readout) SNN on digits, pruned gradually (GMP) to ``sparsity`` while training.

    Input: the pixels (/16) as a constant current for ``steps`` steps, time-major ``[T, B, 64]``; logits:
    the readout averaged over time. Returns ``(model, task)``.
    """
    functional = require("spikingjelly.activation_based.functional", "the spiking digits SNN")
    neuron = require("spikingjelly.activation_based.neuron", "the spiking digits SNN")
    budget = Budget.quick() if budget is None else budget
    base = digits_task(seed)

    def make_model(hidden_sizes, model_seed):
        torch.manual_seed(model_seed)
        return nn.Sequential(
            nn.Linear(64, hidden_sizes[0]),
            neuron.LIFNode(tau=2.0, step_mode="m", detach_reset=True),
            nn.Linear(hidden_sizes[0], 10),
        )

    def forward(model, x):
        functional.reset_net(model)
        return model(x.unsqueeze(0).expand(steps, -1, -1)).mean(0)

    task = Task("spiking digits", base.x_train, base.y_train, base.x_test, base.y_test, make_model, forward)
    model = make_model((hidden,), seed)
    total = epochs * steps_per_epoch(task, budget)
    gp = pm.GradualPruning(
        model, sparsity, begin=total // 5, end=3 * total // 4, frequency=max(1, steps_per_epoch(task, budget) // 2)
    )
    train(model, task, epochs, budget, seed, after_step=gp.step)
    return model, task


def quantisation_cost(model, task: Task, bits=(8, 6, 4, 3, 2)) -> list[dict]:
    """Test accuracy after symmetric k-bit quantisation, one scale per layer (``per_layer``) or per output unit
    (``per_unit``); the first row (``bits`` None) is the float32 model."""
    from .export import quantize

    rows = [{"bits": None, "per_layer": accuracy(model, task), "per_unit": None}]
    for b in bits:
        row = {"bits": b}
        for per in ("layer", "unit"):
            q = copy.deepcopy(model)
            quantize(q, b, per)
            row[f"per_{per}"] = accuracy(q, task)
        rows.append(row)
    return rows


CORE_LABELS = {
    "synapses_stored": "synapses stored",
    "dense_weights": "dense weights",
    "core_accuracy": "core accuracy",
    "max_abs_diff": "max |core − torch|",
    "same_predictions": "same predictions",
    "synops_core": "synops (core)",
    "dense_macs": "dense MACs",
}  # the printed headers of `deploy`'s core row


def check_deploy(profile, hidden: int = 128) -> None:
    """Raise `TargetError` when `deploy`'s network (64 inputs, ``hidden`` LIF neurons, 10 outputs) cannot fit
    ``profile`` however it is pruned or quantised (`check_sizes`): a check to make before any training."""
    from .targets import TargetError, check_sizes

    hard = check_sizes(64, (hidden, 10), profile)
    if hard:
        raise TargetError(profile, hard)


def deploy(out: Path, profile=None, seed: int = 0, steps: int = 8) -> dict:
    """Train and prune a small SNN, fit it to ``profile`` (default Loihi), run it on the core, write NIR.

    Prints the violation report before fitting, what was done, the quantisation cost, the core-vs-torch
    comparison with synaptic operations, and the NIR round trip. Returns the numbers. Raises `TargetError`
    before any training when the network cannot fit ``profile`` at all (`check_deploy`).
    """
    nir = require("nir", "deploy (NIR export)")
    functional = require("spikingjelly.activation_based.functional", "deploy (the spiking digits SNN)")
    from sdrnet.core import Events
    from sdrnet.core.nir import network_from_nir, network_to_nir

    from .export import to_core
    from .targets import LOIHI, XYLO, TargetError, check, fit_to_target, report

    profile = LOIHI if profile is None else profile
    check_deploy(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    model, task = spiking_digits(seed, steps=steps)
    result = {"accuracy_float": accuracy(model, task), "sparsity": sparsity(model)["total"]}
    print(
        f"spiking MLP 64-128-10 on digits, gradual magnitude pruning to {result['sparsity']:.0%}: "
        f"test accuracy {result['accuracy_float']:.1%}"
    )
    print(report(check(to_core(model), profile), profile))
    fit = fit_to_target(model, profile)
    print(f"fitted to {profile.name}: " + "; ".join(fit.steps))
    print(report(check(fit.network, profile), profile))
    result["accuracy_fitted"] = accuracy(fit.model, task)
    x = task.x_test.unsqueeze(0).expand(steps, -1, -1)
    functional.reset_net(fit.model)
    with torch.no_grad():
        expected = fit.model(x).numpy()
    run_result = fit.network.run(Events.from_dense(x.numpy()))
    got = run_result.output
    dense_ops = steps * x.shape[1] * sum(lay.synapses.n_pre * lay.n for lay in fit.network.layers)
    row = {
        "target": profile.name,
        "synapses_stored": sum(lay.synapses.nnz for lay in fit.network.layers),
        "dense_weights": sum(lay.synapses.n_pre * lay.n for lay in fit.network.layers),
        "core_accuracy": float((got.mean(0).argmax(1) == task.y_test.numpy()).mean()),
        "max_abs_diff": float(np.abs(got - expected).max()),
        "same_predictions": float((got.mean(0).argmax(1) == expected.mean(0).argmax(1)).mean()),
        "synops_core": int(run_result.synops.sum()),
        "dense_macs": int(dense_ops),
    }
    print(
        format_table(
            [row],
            f"\n{profile.name}-ready network run event-driven on the core ({x.shape[1]} test digits × {steps} steps)",
            CORE_LABELS,
        )
    )
    result["core"] = row
    result["quantisation"] = quantisation_cost(model, task)
    quantised = [
        {
            "weights": "float32" if r["bits"] is None else f"{r['bits']}-bit",
            "per layer": f"{r['per_layer']:.1%}",
            "per unit": "" if r["per_unit"] is None else f"{r['per_unit']:.1%}",
        }
        for r in result["quantisation"]
    ]
    print(format_table(quantised, "\nquantisation cost (test accuracy of the pruned SNN)"))
    path = out / "prune_for_loihi.nir"
    nir.write(path, network_to_nir(fit.network, dt=1e-3))
    back = network_from_nir(nir.read(path))
    ev = _input_events(x)
    a, b = fit.network.run(ev), back.run(ev)
    same = bool(
        np.array_equal(a.layer_spikes[0].to_dense(), b.layer_spikes[0].to_dense())
        and np.allclose(a.output, b.output, atol=1e-5)
    )
    result["nir"] = {"file": str(path), "same_spikes_after_round_trip": bool(same)}
    print(f"NIR: wrote {path.name} ({len(nir.read(path).nodes)} nodes); read back, same spikes: {same}")
    try:
        fit_to_target(model, XYLO)
    except TargetError as err:
        result["xylo"] = [str(v) for v in err.violations]
        print(f"Xylo Audio cannot take this network, {err}")
    return result


def _input_events(x: torch.Tensor):
    from sdrnet.core import Events

    return Events.from_dense(x.numpy())
