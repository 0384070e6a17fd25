"""Continual learning on permuted digits (or permuted MNIST) with active-dendrite networks.

The protocol of Iyer et al. (2022), Sec. "Permuted MNIST" and numenta/htmpapers
``arxiv/avoiding_catastrophe``: task ``t`` is the same classification problem with the pixels
shuffled by a fixed permutation ``π_t``; the tasks are learned one after another (a fresh Adam
for each, no replay, no task labels at test time) and after each task the network is tested on
every task seen so far. The dendritic networks get a *prototype* context: the mean training input
of the current task while training, and at test time the prototype nearest to the input
(Euclidean distance), as nupic.research's ``PrototypeContext`` does. A *learned* context option
keeps one trainable context vector per task instead (task still inferred by nearest prototype).

Four networks of the same size are compared, as in the paper's ablation (its Table/Fig. on
permuted MNIST): active dendrites (dendrites + k-WTA), dendrites only (ReLU), k-WTA only (no
dendrites) and a plain dense MLP. The built-in data is scikit-learn's ``load_digits`` (1,797 8×8
digits), which ships with scikit-learn; MNIST requires its four IDX files: `mnist_split` reads them
(``Budget(mnist_dir=...)``), through the same harness.

:func:`run` prints a table with the paper's numbers alongside, saves the figure
``active_dendrites_permuted_digits.<fmt>`` and returns the results (snake_case keys, numbers as numbers);
``sdrnet active-dendrites`` (which writes them as ``results.json``) and
``examples/active_dendrites_permuted_digits.py`` call it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from sdrnet import experiment
from sdrnet.datasets import load_mnist
from sdrnet.report import format_table, run_timed, save_figure

from .nn import DendriticMLP, rezero_after_step

__all__ = [
    "Budget",
    "MODELS",
    "PAPER",
    "Task",
    "mnist_split",
    "load_digits_split",
    "permuted_tasks",
    "prototypes",
    "nearest_prototype",
    "make_model",
    "train_task",
    "evaluate",
    "run_sequence",
    "run_experiment",
    "run",
    "figure",
    "plot",
    "with_mnist",
]

# name -> (dendritic segments, k-WTA, sparse weights): the paper's ablation
MODELS = {
    "active dendrites": (True, True, True),
    "dendrites only": (True, False, True),
    "kWTA only": (False, True, True),
    "MLP": (False, False, False),
}

# Iyer et al. 2022, permuted MNIST, mean of 8 seeds, accuracy over all tasks after the last one
# (numenta/htmpapers arxiv/avoiding_catastrophe, permutedMNIST/figures/figures.ipynb)
PAPER = {
    "active dendrites": {2: 0.975, 5: 0.964, 10: 0.946, 25: 0.921, 50: 0.870, 100: 0.814},
    "dendrites only": {2: 0.968, 5: 0.891, 10: 0.829, 25: 0.762, 50: 0.683, 100: 0.615},
    "kWTA only": {2: 0.966, 5: 0.939, 10: 0.913, 25: 0.846, 50: 0.756, 100: 0.656},
    "MLP": {10: 0.820, 100: 0.483},
}

FIGURE = "active_dendrites_permuted_digits.png"  # the suffix follows run's fmt
MNIST_SCALE = {"hidden_sizes": (2048, 2048), "epochs": 3, "batch_size": 256}  # the paper's, on MNIST (`with_mnist`)


@dataclass(frozen=True)
class Budget(experiment.Budget):
    """One experiment: ``num_tasks`` permuted tasks learned in sequence, ``seeds`` repetitions. The defaults are
    the quick budget (10 tasks, 2×512 hidden, one seed: about 30 s); ``FULL``: 50 tasks, 2×1024, 3 seeds.

    ``num_segments=None`` gives each unit one segment per task, as the paper. ``report_tasks`` are
    the task counts of the printed table (accuracy on all seen tasks after that many tasks); every
    task count is in the results and the figure. ``context``: ``"prototype"`` or ``"learned"``.
    ``mnist_dir``: a folder with MNIST's four IDX files (else: scikit-learn digits). ``threads``:
    torch threads during the run (None: leave torch's setting); small networks run best on one.
    """

    num_tasks: int = 10
    report_tasks: tuple[int, ...] = (2, 5, 10)
    hidden_sizes: tuple[int, ...] = (512, 512)
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seeds: int = 1
    num_segments: int | None = None
    kw_percent_on: float = 0.05
    weight_sparsity: float = 0.5
    dendrite_sparsity: float = 0.0
    context: str = "prototype"
    models: tuple[str, ...] = tuple(MODELS)
    test_fraction: float = 0.25
    mnist_dir: str | None = None
    threads: int | None = 1
    FULL: ClassVar = {
        "num_tasks": 50,
        "report_tasks": (2, 5, 10, 25, 50),
        "hidden_sizes": (1024, 1024),
        "seeds": 3,
        "threads": None,
    }

    def check(self):
        if self.num_tasks < 1 or any(not 1 <= t <= self.num_tasks for t in self.report_tasks):
            raise ValueError(f"report_tasks must lie in [1, num_tasks={self.num_tasks}], got {self.report_tasks}")
        if self.context not in ("prototype", "learned"):
            raise ValueError(f"context must be 'prototype' or 'learned', got {self.context!r}")
        unknown = set(self.models) - set(MODELS)
        if unknown:
            raise ValueError(f"models must be among {tuple(MODELS)}, got {sorted(unknown)}")
        if self.epochs < 1 or self.batch_size < 1 or self.seeds < 1 or not self.lr > 0:
            raise ValueError("epochs, batch_size and seeds must be >= 1 and lr > 0")
        self.require_positive("hidden_sizes", "num_segments", "threads")


@dataclass
class Task:
    """One permuted task: inputs ``[N, D]`` float32 (pixels shuffled by ``permutation``), labels int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    permutation: np.ndarray


# ---------------------------------------------------------------------------------------------- data
def mnist_split(directory) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST's official split from its four IDX files in ``directory`` (each ``name`` or ``name.gz``).

    Returns ``x_train [60000, 784], y_train, x_test [10000, 784], y_test`` (pixels 0–255 as float32).
    """
    (x_train, y_train), (x_test, y_test) = (load_mnist(directory, split) for split in ("train", "test"))
    flat = [x.reshape(x.shape[0], -1).astype(np.float32) for x in (x_train, x_test)]
    return flat[0], y_train.astype(np.int64), flat[1], y_test.astype(np.int64)


def load_digits_split(seed: int, test_fraction: float = 0.25):
    """scikit-learn's 8×8 digits split into train and test, stratified, fixed by ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype(np.float32), y.astype(np.int64), test_size=test_fraction, random_state=seed, stratify=y
    )
    return x_train, y_train, x_test, y_test


def permuted_tasks(x_train, y_train, x_test, y_test, num_tasks: int, seed: int) -> list[Task]:
    """``num_tasks`` tasks, each the data with its own fixed random pixel permutation (seeded).

    Inputs are standardised with the training set's mean and standard deviation over all pixels
    (as MNIST's usual normalisation), which a permutation leaves unchanged.
    """
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}")
    mean, std = float(x_train.mean()), float(x_train.std())
    x_train, x_test = ((np.asarray(x, np.float32) - mean) / std for x in (x_train, x_test))
    rng = np.random.default_rng(seed)
    tasks = []
    for _ in range(num_tasks):
        perm = rng.permutation(x_train.shape[1])
        tasks.append(
            Task(
                torch.from_numpy(x_train[:, perm].copy()),
                torch.as_tensor(y_train),
                torch.from_numpy(x_test[:, perm].copy()),
                torch.as_tensor(y_test),
                perm,
            )
        )
    return tasks


def _load_tasks(budget: Budget, seed: int) -> tuple[list[Task], str]:
    if budget.mnist_dir is None:
        return permuted_tasks(
            *load_digits_split(seed, budget.test_fraction), budget.num_tasks, seed
        ), "permuted digits (scikit-learn load_digits, 8×8)"
    return permuted_tasks(*mnist_split(budget.mnist_dir), budget.num_tasks, seed), "permuted MNIST"


# ---------------------------------------------------------------------------------------------- contexts
def prototypes(tasks: list[Task]) -> torch.Tensor:
    """Each task's prototype: the mean of its training inputs, ``[len(tasks), D]``."""
    return torch.stack([t.x_train.mean(dim=0) for t in tasks])


def nearest_prototype(x: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """Index of the prototype nearest to each input (Euclidean), ``[B]`` int64 (nupic ``infer_prototype``)."""
    if x.dim() != 2 or protos.dim() != 2 or x.shape[1] != protos.shape[1]:
        raise ValueError(f"x [B, D] and protos [P, D] must share D, got {tuple(x.shape)} and {tuple(protos.shape)}")
    return torch.cdist(x, protos).argmin(dim=1)


# ---------------------------------------------------------------------------------------------- models
def make_model(name: str, budget: Budget, input_size: int, output_size: int) -> DendriticMLP:
    """One of `MODELS`, sized by ``budget``; the dendritic ones get a ``input_size``-wide context."""
    if name not in MODELS:
        raise ValueError(f"name must be one of {tuple(MODELS)}, got {name!r}")
    dendrites, kw, sparse = MODELS[name]
    segments = budget.num_segments or budget.num_tasks
    return DendriticMLP(
        input_size,
        budget.hidden_sizes,
        output_size,
        num_segments=segments if dendrites else 0,
        dim_context=input_size,
        kw=kw,
        kw_percent_on=budget.kw_percent_on,
        weight_sparsity=budget.weight_sparsity if sparse else 0.0,
        dendrite_sparsity=budget.dendrite_sparsity,
    )


def train_task(
    model: DendriticMLP, task: Task, context: torch.Tensor, budget: Budget, generator: torch.Generator, extra_params=()
) -> float:
    """Train on one task with a fresh Adam, every batch seeing ``context`` (one row); returns the last loss.

    ``extra_params``: more tensors to optimise with the network (a learned context).
    """
    model.train()
    optimizer = torch.optim.Adam([*model.parameters(), *extra_params], lr=budget.lr, fused=True)
    rezero_after_step(optimizer, model)
    n, loss = task.x_train.shape[0], torch.tensor(math.nan)
    for _ in range(budget.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, budget.batch_size):
            batch = order[start : start + budget.batch_size]
            loss = F.cross_entropy(model(task.x_train[batch], context), task.y_train[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: DendriticMLP, tasks: list[Task], contexts: torch.Tensor, protos: torch.Tensor):
    """Test accuracy on each task in ``tasks`` and the fraction of inputs whose task the nearest prototype got.

    Input ``b`` sees ``contexts[nearest_prototype(x_b, protos)]``; ``contexts`` and ``protos`` have one
    row per task in ``tasks``.
    """
    model.eval()
    accuracy, inferred = [], []
    for t, task in enumerate(tasks):
        index = nearest_prototype(task.x_test, protos)
        logits = model.forward_indexed(task.x_test, contexts, index) if model.num_segments else model(task.x_test)
        accuracy.append(float((logits.argmax(dim=1) == task.y_test).float().mean()))
        inferred.append(float((index == t).float().mean()))
    return accuracy, inferred


def run_sequence(name: str, tasks: list[Task], budget: Budget, seed: int, progress: bool = False) -> dict:
    """Learn ``tasks`` in order with model ``name``; after each task, test on every task seen so far.

    Returns ``accuracy`` (mean over seen tasks, one value per task count), ``final_per_task``,
    ``task_inference`` (after the last task) and ``seconds``.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    num_classes = int(max(int(t.y_train.max()) for t in tasks)) + 1
    model = make_model(name, budget, tasks[0].x_train.shape[1], num_classes)
    protos = prototypes(tasks)
    learned = torch.nn.Parameter(torch.randn_like(protos)) if budget.context == "learned" else None
    contexts = protos if learned is None else learned
    start, curve = time.perf_counter(), []
    for t in tqdm(range(len(tasks)), desc=name, disable=not progress, leave=False):
        train_task(model, tasks[t], contexts[t], budget, generator, () if learned is None else (learned,))
        accuracy, inferred = evaluate(model, tasks[: t + 1], contexts[: t + 1].detach(), protos[: t + 1])
        curve.append(float(np.mean(accuracy)))
    return {
        "accuracy": curve,
        "final_per_task": accuracy,
        "task_inference": float(np.mean(inferred)),
        "seconds": time.perf_counter() - start,
    }


def run_experiment(budget: Budget, seed: int = 0, progress: bool = True) -> dict:
    """Every model of ``budget.models`` on the same tasks, for seeds ``seed, seed + 1, …``."""
    runs = {name: [] for name in budget.models}
    dataset, threads = "", torch.get_num_threads()
    torch.set_num_threads(budget.threads or threads)
    try:
        for s in tqdm(range(seed, seed + budget.seeds), desc="seeds", disable=not progress or budget.seeds == 1):
            tasks, dataset = _load_tasks(budget, s)
            for name in budget.models:
                runs[name].append(run_sequence(name, tasks, budget, s, progress))
    finally:
        torch.set_num_threads(threads)
    models = []
    for name, seq in runs.items():
        curves = np.array([r["accuracy"] for r in seq])
        models.append(
            {
                "model": name,
                "mean": curves.mean(0).tolist(),
                "std": curves.std(0).tolist(),
                "per_seed": curves.tolist(),
                "final_per_task": [r["final_per_task"] for r in seq],
                "task_inference": [r["task_inference"] for r in seq],
                "seconds": float(sum(r["seconds"] for r in seq)),
            }
        )
    return {
        "dataset": dataset,
        "budget": budget.to_dict(),
        "seeds": list(range(seed, seed + budget.seeds)),
        "num_tasks": list(range(1, budget.num_tasks + 1)),
        "models": models,
        "paper": [{"model": m, "tasks": n, "accuracy": a} for m, p in PAPER.items() for n, a in p.items()],
    }


# ---------------------------------------------------------------------------------------------- report
def table_rows(results: dict) -> list[dict]:
    """One row per model: ours (mean ± s.d. over seeds; one seed: its value) at each reported task count, then
    the paper's."""
    budget, rows, several = results["budget"], [], len(results["seeds"]) > 1
    for res in results["models"]:
        name = res["model"]
        ours = {"model": name, "source": "ours"}
        paper = {"model": "", "source": "paper (MNIST)"}
        for n in budget["report_tasks"]:
            ours[f"{n} tasks"] = f"{res['mean'][n - 1]:.3f}" + (f" ± {res['std'][n - 1]:.3f}" if several else "")
            paper[f"{n} tasks"] = f"{PAPER[name][n]:.3f}" if n in PAPER[name] else "–"
        rows += [ours, paper]
    return rows


def figure(results: dict):
    """Accuracy on all seen tasks vs number of tasks: ours (mean ± s.d. band over seeds when there are
    several), the paper's points dashed; the legend right of the axes, off the data."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(8.5, 4.5))
    ax = fig.subplots()
    x = np.array(results["num_tasks"])
    seeds = len(results["seeds"])
    for i, res in enumerate(results["models"]):
        name = res["model"]
        mean, std = np.array(res["mean"]), np.array(res["std"])
        ax.plot(x, mean, color=f"C{i}", label=f"{name} (ours)")
        if seeds > 1:
            ax.fill_between(x, mean - std, mean + std, color=f"C{i}", alpha=0.2)
        paper = sorted((n, a) for n, a in PAPER[name].items() if n <= x[-1])
        if paper:
            ax.plot(*zip(*paper), "o--", color=f"C{i}", ms=4, alpha=0.7, label=f"{name} (paper, MNIST)")
    ax.set(
        xlabel="number of tasks learned",
        ylabel="accuracy on all tasks seen",
        title=f"{results['dataset']}: {_spread(seeds)}",
        xscale="log" if x[-1] > 10 else "linear",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def plot(results: dict, path: Path, format: str | None = None) -> Path:
    """Save `figure` to ``path`` (its suffix replaced by ``format`` when given); returns the file written."""
    return save_figure(figure(results), path, format)


def _spread(seeds: int) -> str:
    """What the numbers are: a mean with its spread, or one run (no spread to show)."""
    return f"mean ± s.d. over {seeds} seeds" if seeds > 1 else "1 seed, so no spread"


def run(out: Path, *, budget: Budget | None = None, seed: int = 0, progress: bool = True, fmt: str = "png") -> dict:
    """Run the comparison (``budget``: `Budget.quick()` by default), print the table, save the figure under
    ``out`` as ``active_dendrites_permuted_digits.<fmt>``; returns the results (``sdrnet active-dendrites``
    writes them as ``results.json``)."""
    budget = Budget.quick() if budget is None else budget
    out, results = run_timed(out, run_experiment, budget, seed, progress)
    segments = budget.num_segments or budget.num_tasks
    print(
        format_table(
            table_rows(results),
            f"{results['dataset']}: accuracy on all tasks seen, {_spread(len(results['seeds']))}; "
            f"hidden {budget.hidden_sizes}, {segments} segments, {budget.context} context",
        )
    )
    inference = {r["model"]: np.mean(r["task_inference"]) for r in results["models"] if MODELS[r["model"]][0]}
    if inference:
        print(
            f"task inferred by the nearest prototype after {budget.num_tasks} tasks: "
            + ", ".join(f"{n} {v:.1%}" for n, v in inference.items())
        )
    path = plot(results, out / FIGURE, fmt)
    print(f"{results['seconds']:.1f} s; figure in {path}")
    return results


def with_mnist(budget: Budget, directory, keep=()) -> Budget:
    """``budget`` on MNIST's IDX files in ``directory``, at the paper's scale (`MNIST_SCALE`: 2×2048 hidden,
    3 epochs, batch 256) except for the fields named in ``keep`` (those a user set)."""
    scale = {k: v for k, v in MNIST_SCALE.items() if k not in keep}
    return budget.replace(mnist_dir=str(directory), **scale)
