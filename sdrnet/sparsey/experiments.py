"""The Sparsey experiments behind ``sdrnet sparsey``: similarity preservation, capacity, digits.

Each returns rows for a table and draws a figure; :func:`run` does all three and writes JSON.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..report import format_table, save_figure
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
class Budget:
    pairs: int  # random input pairs per overlap level (similarity)
    capacity_trials: int  # independent macs per storage load
    loads: tuple[int, ...]


QUICK = Budget(pairs=60, capacity_trials=1, loads=(100, 200, 300, 400, 600))
FULL = Budget(pairs=1000, capacity_trials=5, loads=(50, 100, 150, 200, 250, 300, 350, 400, 500, 600, 800))


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
                "input overlap": shared / a,
                "code overlap (simulated)": sim,
                "± s.e.": se,
                "code overlap (closed form)": float(pair_code_overlap(shared / a, K)),
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
        row = {"stored patterns M": M, "per-CM recall (closed form)": float(recall_per_cm(M, n, a, K)[0])}
        for label, params in (("uniform codes", UNIFORM_CODES), ("default CSA", CSAParams())):
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
            row[f"per-CM recall, {label}"] = float(np.mean(per_cm))
            row[f"pattern recall, {label}"] = float(np.mean(whole))
        row["saturation (default)"] = float(np.mean(sat))
        row["reported full (default CSA)"] = f"{warned}/{trials}"
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

    def add(name, fit, score, single_trial):
        start = time.perf_counter()
        model = fit()
        rows.append(
            {
                "model": name,
                "test accuracy": score(model),
                "train time (s)": time.perf_counter() - start,
                "single trial": single_trial,
            }
        )
        return model

    with warnings.catch_warnings(record=True):  # full macs are counted in the table, not printed one by one
        warnings.simplefilter("always")
        clf = add(
            "Sparsey, single trial on oriented edges",
            lambda: SparseyClassifier(edge_shape, levels, random_state=seed, progress=progress).fit(E_train, y_train),
            lambda m: m.score(E_test, y_test),
            "yes",
        )
    add(
        "1-NN on pixels",
        lambda: KNeighborsClassifier(1).fit(flat_train, y_train),
        lambda m: m.score(flat_test, y_test),
        "(stores all)",
    )
    add(
        f"1-NN on binarised pixels (> {binary_threshold})",
        lambda: KNeighborsClassifier(1).fit(flat_train > binary_threshold, y_train),
        lambda m: m.score(flat_test > binary_threshold, y_test),
        "(stores all)",
    )
    add(
        "1-NN on the same edge maps",
        lambda: KNeighborsClassifier(1).fit(E_train, y_train),
        lambda m: m.score(E_test, y_test),
        "(stores all)",
    )
    add(
        "logistic regression on pixels",
        lambda: LogisticRegression(max_iter=2000).fit(flat_train / scale, y_train),
        lambda m: m.score(flat_test / scale, y_test),
        "no",
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


def plot(similarity_rows, capacity_rows, path: Path) -> None:
    from matplotlib.figure import Figure  # not pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    x = [r["input overlap"] for r in similarity_rows]
    left.errorbar(
        x,
        [r["code overlap (simulated)"] for r in similarity_rows],
        yerr=[2 * r["± s.e."] for r in similarity_rows],
        fmt="o",
        label="simulated (±2 s.e.)",
    )
    dense = np.linspace(0, 1, 201)
    left.plot(dense, pair_code_overlap(dense, SIMILARITY_K), "-", label="closed form")
    left.set(xlabel="input overlap |A∩B|/|B|", ylabel="code overlap / Q", title="similar inputs → similar codes")
    left.legend()
    M = [r["stored patterns M"] for r in capacity_rows]
    right.plot(M, [r["per-CM recall (closed form)"] for r in capacity_rows], "-", label="per-CM recall, closed form")
    for label, marker in (("uniform codes", "o"), ("default CSA", "^")):
        right.plot(M, [r[f"per-CM recall, {label}"] for r in capacity_rows], marker, label=f"per-CM recall, {label}")
        right.plot(
            M, [r[f"pattern recall, {label}"] for r in capacity_rows], marker + "--", label=f"pattern recall, {label}"
        )
    right.plot(M, [r["saturation (default)"] for r in capacity_rows], ":", label="weight saturation (default CSA)")
    right.set(xlabel="stored random patterns M", ylabel="fraction", title="capacity (n=400, a=20, Q=20, K=10)")
    right.legend(fontsize=8)
    save_figure(fig, path)


def run(out: Path, *, budget: Budget = QUICK, seed: int = 0, progress: bool = True) -> dict:
    """Run the three experiments, print their tables, save ``sparsey.png`` and ``sparsey.json`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sim = similarity(rng, pairs=budget.pairs, progress=progress)
    print(
        format_table(sim, f"similarity preservation: one mac (Q=20, K=8), n=400, a=20, {budget.pairs} pairs per point")
    )
    cap = capacity(rng, loads=budget.loads, trials=budget.capacity_trials, progress=progress)
    print(format_table(cap, "capacity: recall of M stored random patterns (n=400, a=20, Q=20, K=10)"))
    dig, info = digits(seed, progress=progress)
    print(
        format_table(
            dig,
            f"load_digits ({info['n_train']} train / {info['n_test']} test, same split for all); "
            f"Sparsey: {info['macs']} macs of 8×8 cells, {info['macs_reported_full']} reported full",
        )
    )
    plot(sim, cap, out / "sparsey.png")
    results = {
        "budget": asdict(budget),
        "seed": seed,
        "similarity": sim,
        "capacity": cap,
        "digits": dig,
        "digits_info": info,
    }
    (out / "sparsey.json").write_text(json.dumps(results, indent=2))
    return results
