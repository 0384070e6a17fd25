"""The Sparsey experiments behind ``sdrnet sparsey``: similarity preservation, capacity, digits.

Each returns rows (snake_case keys, numbers as numbers; `LABELS` gives the printed column headers);
:func:`run` does all three, prints their tables, draws ``sparsey.<fmt>`` and returns the rows, which
``sdrnet sparsey`` writes as ``results.json``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from .. import experiment
from ..report import format_table, legend_outside, save_figure
from ..sdr import SDR, SDRBatch
from .csa import CSAParams
from .data import oriented_edges
from .hierarchy import LevelSpec
from .macrocolumn import Macrocolumn
from .readout import SparseyClassifier
from .theory import pair_code_overlap, recall_per_cm

DIGITS_LEVELS = (
    LevelSpec(Q=8, K=8, patch=4, stride=2, freeze_at=0.1, params=CSAParams(sigmoid_center=0.8, familiarity_min=0.3)),
)
MNIST_LEVELS = (
    LevelSpec(Q=8, K=8, patch=4, stride=3, freeze_at=0.1, params=CSAParams(sigmoid_center=0.8, familiarity_min=0.3)),
)


@dataclass(frozen=True)
class Budget(experiment.Budget):
    """``pairs``: random input pairs per overlap level (similarity); ``capacity_trials``: independent macs
    per storage load; ``loads``: the numbers of stored patterns M. The defaults are the quick budget."""

    pairs: int = 60
    capacity_trials: int = 1
    loads: tuple[int, ...] = (100, 200, 300, 400, 600)
    FULL: ClassVar = {
        "pairs": 1000,
        "capacity_trials": 5,
        "loads": (50, 100, 150, 200, 250, 300, 350, 400, 500, 600, 800),
    }

    def check(self):
        self.require_positive("capacity_trials", "loads")
        self.require_positive("pairs", minimum=2)  # a standard error needs two


# printed column headers of the rows' keys
LABELS = {
    "input_overlap": "input overlap",
    "code_overlap_simulated": "code overlap (simulated)",
    "code_overlap_stderr": "± s.e.",
    "code_overlap_closed_form": "code overlap (closed form)",
    "stored_patterns": "stored patterns M",
    "per_cm_recall_closed_form": "per-CM recall (closed form)",
    "per_cm_recall_uniform_codes": "per-CM recall, uniform codes",
    "pattern_recall_uniform_codes": "pattern recall, uniform codes",
    "per_cm_recall_default_csa": "per-CM recall, default CSA",
    "pattern_recall_default_csa": "pattern recall, default CSA",
    "saturation_default_csa": "saturation (default)",
    "reported_full_default_csa": "macs reported full (default CSA)",
    "trials": "macs",
    "test_accuracy": "test accuracy",
    "train_time_s": "train time (s)",
}
CSA_VARIANTS = (("uniform_codes", "uniform codes"), ("default_csa", "default CSA"))


SIMILARITY_K = 8


def similarity(
    rng: np.random.Generator,
    *,
    pairs: int,
    n: int = 400,
    a: int = 20,
    Q: int = 20,
    K: int = SIMILARITY_K,
    progress: bool = False,
) -> list[dict]:
    """A fresh mac learns input A, then input B that shares a fraction of A's active inputs.

    Mean code overlap |code(A) ∩ code(B)| / Q per input overlap, simulated vs :func:`pair_code_overlap`.
    """
    rows = []
    for shared in tqdm(range(0, a + 1, 2), desc="sparsey: similarity", disable=not progress, leave=False):
        overlaps = []
        for _ in range(pairs):
            mac = Macrocolumn(n, Q, K)
            cells = rng.choice(n, 2 * a - shared, replace=False)
            code_a = mac.learn(SDR(n, cells[:a]), rng)
            code_b = mac.learn(SDR(n, np.concatenate([cells[:shared], cells[a:]])), rng)
            overlaps.append(np.mean(code_a.winners == code_b.winners))
        sim, se = float(np.mean(overlaps)), float(np.std(overlaps, ddof=1) / np.sqrt(pairs))
        rows.append(
            {
                "input_overlap": shared / a,
                "code_overlap_simulated": sim,
                "code_overlap_stderr": se,
                "code_overlap_closed_form": float(pair_code_overlap(shared / a, K)),
            }
        )
    return rows


UNIFORM_CODES = CSAParams(familiarity_min=0.9)  # random patterns stay "novel": the closed form's assumption


def capacity(
    rng: np.random.Generator,
    *,
    loads,
    trials: int,
    n: int = 400,
    a: int = 20,
    Q: int = 20,
    K: int = 10,
    progress: bool = False,
) -> list[dict]:
    """Store M random patterns in one mac (learning mode), then recognise all of them.

    Per-CM recall (recognised cell = stored cell) with codes kept uniformly random (G⁻ = 0.9), as
    :func:`recall_per_cm` assumes, and with the default CSA (G⁻ = 0.1), whose partial reuse of
    familiar cells concentrates the codes; whole-pattern recall (the recognised code overlaps its own
    stored code more than any other) and the mac's saturation with the defaults. The saturation
    warning is counted, not hidden.
    """
    rows = []
    for M in tqdm(loads, desc="sparsey: capacity", disable=not progress, leave=False):
        row = {"stored_patterns": M, "per_cm_recall_closed_form": float(recall_per_cm(M, n, a, K)[0])}
        for label, params in (("uniform_codes", UNIFORM_CODES), ("default_csa", CSAParams())):
            per_cm, whole, sat, warned = [], [], [], 0
            for _ in range(trials):
                mac = Macrocolumn(n, Q, K, params=params)
                patterns = SDRBatch.random(n, a, M, rng)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    stored = np.array([mac.learn(p, rng).winners for p in patterns])
                warned += any(issubclass(w.category, RuntimeWarning) for w in caught)
                with warnings.catch_warnings():  # ambiguous recalls are what the recall columns measure
                    warnings.simplefilter("ignore")
                    recognized = mac.recognize(patterns).winners
                per_cm.append(np.mean(recognized == stored))
                code_overlap = (recognized[:, None, :] == stored[None, :, :]).sum(-1)
                whole.append(np.mean(np.argmax(code_overlap, axis=1) == np.arange(M)))
                sat.append(float(mac.saturation[0]))
            row[f"per_cm_recall_{label}"] = float(np.mean(per_cm))
            row[f"pattern_recall_{label}"] = float(np.mean(whole))
        row["saturation_default_csa"] = float(np.mean(sat))
        row["reported_full_default_csa"] = warned
        row["trials"] = trials
        rows.append(row)
    return rows


def digits(seed: int = 0, *, levels=DIGITS_LEVELS, progress: bool = False) -> tuple[list[dict], dict]:
    """load_digits, 70/30 stratified split: Sparsey vs k-NN and logistic regression on the same split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        data.images, data.target, test_size=0.3, random_state=seed, stratify=data.target
    )
    return compare(
        X_train, y_train, X_test, y_test, levels=levels, upsample=2, binary_threshold=7.5, seed=seed, progress=progress
    )


def mnist(
    folder, *, per_class: int = 200, n_test: int = 10_000, levels=MNIST_LEVELS, seed: int = 0, progress: bool = True
) -> tuple[list[dict], dict]:
    """MNIST from IDX files in ``folder``: train on ``per_class`` images per class (sparsey.com used 200), test
    on the first ``n_test`` test images."""
    from ..datasets import load_mnist

    images, labels = load_mnist(folder, "train")
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)])
    test_images, test_labels = load_mnist(folder, "test")
    return compare(
        images[keep],
        labels[keep],
        test_images[:n_test],
        test_labels[:n_test],
        levels=levels,
        upsample=1,
        binary_threshold=127.5,
        seed=seed,
        progress=progress,
    )


def compare(
    X_train, y_train, X_test, y_test, *, levels, upsample: int, binary_threshold: float, seed: int, progress: bool
) -> tuple[list[dict], dict]:
    """Sparsey (single trial on oriented edges) next to 1-NN and logistic regression, images ``[N, H, W]``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    E_train, E_test = (oriented_edges(X, upsample=upsample) for X in (X_train, X_test))
    edge_shape = (X_train.shape[1] * upsample, X_train.shape[2] * upsample, 4)
    flat_train, flat_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    scale = float(flat_train.max()) or 1.0
    rows = []

    def add(name, fit, score, learning):
        start = time.perf_counter()
        model = fit()
        rows.append(
            {
                "model": name,
                "test_accuracy": score(model),
                "train_time_s": time.perf_counter() - start,
                "learning": learning,
            }
        )
        return model

    with warnings.catch_warnings(record=True):  # full macs are counted in the table, not printed one by one
        warnings.simplefilter("always")
        clf = add(
            "Sparsey, single trial on oriented edges",
            lambda: SparseyClassifier(edge_shape, levels, random_state=seed, progress=progress).fit(E_train, y_train),
            lambda m: m.score(E_test, y_test),
            "single trial",
        )
    add(
        "1-NN on pixels",
        lambda: KNeighborsClassifier(1).fit(flat_train, y_train),
        lambda m: m.score(flat_test, y_test),
        "stores all",
    )
    add(
        f"1-NN on binarised pixels (> {binary_threshold})",
        lambda: KNeighborsClassifier(1).fit(flat_train > binary_threshold, y_train),
        lambda m: m.score(flat_test > binary_threshold, y_test),
        "stores all",
    )
    add(
        "1-NN on the same edge maps",
        lambda: KNeighborsClassifier(1).fit(E_train, y_train),
        lambda m: m.score(E_test, y_test),
        "stores all",
    )
    add(
        "logistic regression on pixels",
        lambda: LogisticRegression(max_iter=2000).fit(flat_train / scale, y_train),
        lambda m: m.score(flat_test / scale, y_test),
        "iterative",
    )
    macs = sum(level.n_macs for level in clf.hierarchy_.levels)
    info = {
        "n_train": len(y_train),
        "n_test": len(y_test),
        "macs": macs,
        "cells": clf.hierarchy_.n_cells,
        "sparsey_fit_time_s": clf.fit_time_,
        "familiarity_per_level": clf.familiarity_.tolist(),
        "saturation_per_level": clf.saturation_.tolist(),
        "edge_input_active_fraction": float(E_train.mean()),
        "macs_reported_full": int(sum(level.reported_full_.sum() for level in clf.hierarchy_.levels)),
    }
    return rows, info


def plot(similarity_rows, capacity_rows, path: Path, fmt: str | None = None) -> Path:
    """Similarity preservation (left) and capacity (right); ``fmt`` replaces the suffix of ``path``."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(13, 4))
    left, right = fig.subplots(1, 2)
    x = [r["input_overlap"] for r in similarity_rows]
    left.errorbar(
        x,
        [r["code_overlap_simulated"] for r in similarity_rows],
        yerr=[2 * r["code_overlap_stderr"] for r in similarity_rows],
        fmt="o",
        label="simulated, ±2 s.e.\nover the input pairs",
    )
    dense = np.linspace(0, 1, 201)
    left.plot(dense, pair_code_overlap(dense, SIMILARITY_K), "-", label="closed form")
    left.set(xlabel="input overlap |A∩B|/|B|", ylabel="code overlap / Q", title="similar inputs → similar codes")
    legend_outside(left, fontsize=8)
    M = [r["stored_patterns"] for r in capacity_rows]
    right.plot(M, [r["per_cm_recall_closed_form"] for r in capacity_rows], "-", label="per-CM recall, closed form")
    for (key, label), marker in zip(CSA_VARIANTS, ("o", "^")):
        right.plot(M, [r[f"per_cm_recall_{key}"] for r in capacity_rows], marker, label=f"per-CM recall, {label}")
        right.plot(
            M, [r[f"pattern_recall_{key}"] for r in capacity_rows], marker + "--", label=f"pattern recall, {label}"
        )
    right.plot(M, [r["saturation_default_csa"] for r in capacity_rows], ":", label="weight saturation (default CSA)")
    right.set(xlabel="stored random patterns M", ylabel="fraction", title=_capacity_title(capacity_rows))
    legend_outside(right, fontsize=8)
    return save_figure(fig, path, fmt)


def _capacity_title(capacity_rows) -> str:
    trials = {r.get("trials", 1) for r in capacity_rows}
    macs = "one mac per M, no spread shown" if trials == {1} else f"mean of {max(trials)} macs per M"
    return f"capacity (n=400, a=20, Q=20, K=10): {macs}"


def run(out: Path, *, budget: Budget | None = None, seed: int = 0, progress: bool = True, fmt: str = "png") -> dict:
    """Run the three experiments (``budget``: `Budget.quick()` by default), print their tables, save
    ``sparsey.<fmt>`` in ``out``; returns ``similarity``, ``capacity``, ``digits`` (rows) and ``digits_info``."""
    budget = Budget.quick() if budget is None else budget
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sim = similarity(rng, pairs=budget.pairs, progress=progress)
    title = f"similarity preservation: one mac (Q=20, K=8), n=400, a=20, {budget.pairs} pairs per point"
    print(format_table(sim, title, LABELS))
    cap = capacity(rng, loads=budget.loads, trials=budget.capacity_trials, progress=progress)
    print(format_table(cap, "capacity: recall of M stored random patterns (n=400, a=20, Q=20, K=10)", LABELS))
    dig, info = digits(seed, progress=progress)
    print(
        format_table(
            dig,
            f"load_digits ({info['n_train']} train / {info['n_test']} test, same split for all); "
            f"Sparsey: {info['macs']} macs of 8×8 cells, {info['macs_reported_full']} reported full",
            LABELS,
        )
    )
    plot(sim, cap, out / "sparsey.png", fmt)
    return {"similarity": sim, "capacity": cap, "digits": dig, "digits_info": info}
