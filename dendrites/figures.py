"""The figures of Ahmad & Hawkins (2016): closed-form curves with Monte Carlo points on the core.

:func:`run` computes every experiment, prints theory-versus-simulation tables, saves one figure
per experiment (PNG, PDF or SVG) and returns the rows; ``sdrnet dendrites`` (which writes them as
``results.json``) and ``examples/dendrites_figures.py`` call it. Settings follow numenta/htmresearch
``projects/sdr_paper/`` (see each function).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from tqdm.auto import tqdm

from sdrnet import experiment
from sdrnet.report import format_table, legend_outside, save_figure

from . import theory
from .simulate import simulate_false_match, simulate_false_negative, simulate_union_false_match

__all__ = [
    "Budget",
    "effect_of_n",
    "effect_of_s",
    "effect_of_noise",
    "effect_of_unions",
    "optimal_threshold",
    "run",
]

MIN_EXPECTED_HITS = 10  # simulate a point only where the theory expects at least this many hits


@dataclass(frozen=True)
class Budget(experiment.Budget):
    """Monte Carlo sizes: ``segments`` × ``inputs`` pairs per false-match point, ``noise_trials`` per noise
    level (of 500 segments), ``union_segments`` × ``inputs`` pairs per union point. The defaults are the
    quick budget (seconds); ``FULL`` takes minutes. A size of 0 skips the points that need it."""

    segments: int = 1000
    inputs: int = 1000
    noise_trials: int = 10
    union_segments: int = 100
    FULL: ClassVar = {"segments": 4000, "inputs": 5000, "noise_trials": 200, "union_segments": 500}

    def check(self):
        self.require_positive(*self.field_names(), minimum=0)


def _row(figure, curve, x, p_theory, mc, i=0, se=None, **extra):
    """One simulated point; ``se`` defaults to the binomial standard error of independent pairs."""
    p_sim, trials = float(mc.rate[i]), mc.trials
    se = float(np.sqrt(p_theory * (1 - p_theory) / trials)) if se is None else se
    return {
        "figure": figure,
        "curve": curve,
        "x": x,
        **extra,
        "theory": float(p_theory),
        "simulated": p_sim,
        "pairs": trials,
        "stderr": se,
        "z": (p_sim - p_theory) / se if se > 0 else 0.0,
    }


def _union_stderr(n, a, s, theta, M, form, budget: Budget) -> float:
    """Standard error of a union estimate: pairs that share a union (its segment, or its input)
    share its random size, so ``Var = Var_k[p_k] / clusters + E[p_k (1 − p_k)] / pairs``."""
    pmf = theory.union_size_pmf(n, s if form == "synapses" else a, M)
    k = np.flatnonzero(pmf)
    p_k = theory.false_match(n, a, k, theta) if form == "synapses" else theory.false_match(n, k, s, theta)
    mean = pmf[k] @ p_k
    clusters = budget.union_segments if form == "synapses" else budget.inputs
    var = pmf[k] @ (p_k - mean) ** 2 / clusters + (mean - pmf[k] @ p_k**2) / (budget.union_segments * budget.inputs)
    return float(np.sqrt(var))


def _simulable(p, trials):
    """Enough expected hits to estimate, and enough expected misses to be worth a point."""
    return p * trials >= MIN_EXPECTED_HITS and (1 - p) * trials >= MIN_EXPECTED_HITS


def effect_of_n(rng, budget: Budget | None = None, progress: bool = True):
    """False matches versus n for s = 24, θ = 12, a = 64, 128, 256 (numenta ``plot_effect_of_n.py``)."""
    budget = Budget.quick() if budget is None else budget
    s, theta, n_grid = 24, 12, np.arange(300, 20001, 100)
    curves = {a: theory.false_match(n_grid, a, s, theta) for a in (64, 128, 256)}
    trials = budget.segments * budget.inputs
    points = [
        (a, int(n)) for a in curves for n in n_grid[::2] if _simulable(theory.false_match(int(n), a, s, theta), trials)
    ]
    rows = []
    for a, n in tqdm(points, desc="effect of n", disable=not progress, leave=False):
        mc = simulate_false_match(n, a, s, theta, rng, n_segments=budget.segments, n_inputs=budget.inputs)
        rows.append(_row("effect of n", f"a={a}", n, theory.false_match(n, a, s, theta), mc))
    return [_panel("s=24, θ=12", n_grid, {f"a={a}": c for a, c in curves.items()}, rows)], rows


def effect_of_s(rng, budget: Budget | None = None, progress: bool = True):
    """False matches versus s with θ = s/2 (numenta ``plot_effect_of_s.py``)."""
    budget = Budget.quick() if budget is None else budget
    s_grid = np.arange(2, 31, 2)
    settings = [(32, 2000), (32, 4000), (512, 16000), (4000, 16000)]
    curves = {(a, n): theory.false_match(n, a, s_grid, s_grid // 2) for a, n in settings}
    trials = budget.segments * budget.inputs
    points = [
        (a, n, int(s))
        for a, n in settings
        for s in s_grid
        if _simulable(theory.false_match(n, a, int(s), int(s) // 2), trials)
    ]
    rows = []
    for a, n, s in tqdm(points, desc="effect of s", disable=not progress, leave=False):
        mc = simulate_false_match(n, a, s, s // 2, rng, n_segments=budget.segments, n_inputs=budget.inputs)
        rows.append(_row("effect of s", f"a={a} n={n}", s, theory.false_match(n, a, s, s // 2), mc))
    return [_panel("θ = s/2", s_grid, {f"a={a} n={n}": c for (a, n), c in curves.items()}, rows)], rows


def effect_of_noise(rng, budget: Budget | None = None, progress: bool = True):
    """Misses versus noise: n = 6000, a = 128, s = 30, 500 segments, θ = 8, 12, 16
    (numenta ``plot_noise_results.py``; noise levels v/a with v = 6 … 102)."""
    budget = Budget.quick() if budget is None else budget
    n, a, s, thetas, n_segments = 6000, 128, 30, np.array([8, 12, 16]), 500
    v_grid = np.arange(0, a + 1)
    curves = {f"θ={t}": theory.false_negative(a, s, int(t), v_grid) for t in thetas}
    levels = [6, 13, 19, 26, 32, 38, 45, 51, 58, 64, 70, 77, 83, 90, 96, 102]
    rows = []
    for v in tqdm(levels, desc="noise", disable=not progress, leave=False):
        mc = simulate_false_negative(n, a, s, thetas, v, rng, n_segments=n_segments, n_trials=budget.noise_trials)
        for i, t in enumerate(thetas):
            p = theory.false_negative(a, s, int(t), v)
            if _simulable(p, mc.trials):
                rows.append(_row("noise", f"θ={t}", round(v / a, 4), p, mc, i))
    return [_panel("n=6000, a=128, s=30", v_grid / a, curves, rows)], rows


def effect_of_unions(rng, budget: Budget | None = None, progress: bool = True):
    """False matches versus the number ``M`` of patterns in a union.

    A segment storing M patterns: n = 1000, a = 200, s = 25, θ = 15 (numenta
    ``sdr_paper_unions.py``); a segment (s = 20, θ = 10) against the union of M inputs of
    a = 30 cells, n = 2000.
    """
    budget = Budget.quick() if budget is None else budget
    settings = [
        (
            "segment stores M patterns: a=200, s=25, θ=15",
            "synapses",
            (1000, 10000, 20000),
            200,
            25,
            15,
            np.arange(1, 20),
        ),
        ("input is a union of M: a=30, s=20, θ=10", "inputs", (2000,), 30, 20, 10, np.arange(1, 61, 3)),
    ]
    panels, rows = [], []
    trials = budget.union_segments * budget.inputs
    for title, form, ns, a, s, theta, m_grid in settings:
        curves, panel_rows = {}, []
        for n in ns:
            dist = np.array(
                [theory.union_false_match(n, a, s, theta, int(m), form=form, size="distribution") for m in m_grid]
            )
            paper = theory.union_false_match(n, a, s, theta, m_grid, form=form)
            curves[f"n={n}"], curves[f"n={n}, expected size (paper)"] = dist, paper
            points = [(int(m), p, q) for m, p, q in zip(m_grid, dist, paper) if _simulable(p, trials)]
            for m, p, q in tqdm(points, desc=f"unions ({form}, n={n})", disable=not progress, leave=False):
                mc = simulate_union_false_match(
                    n, a, s, theta, m, rng, form=form, n_segments=budget.union_segments, n_inputs=budget.inputs
                )
                se = _union_stderr(n, a, s, theta, m, form, budget)
                panel_rows.append(_row("unions", f"n={n}", m, p, mc, se=se, paper=float(q)))
        panels.append(_panel(title, m_grid, curves, panel_rows))
        rows += panel_rows
    return panels, rows


def optimal_threshold():
    """Median false-positive rate versus θ over n = 1,000–17,000, sparsity 0.5–3 %, s = 20–50."""
    res = theory.threshold_analysis()
    rows = [
        {"theta": int(t), "median": float(m), "mean": float(mu), "max": float(mx)}
        for t, m, mu, mx in zip(res.thetas, res.median, res.mean, res.maximum)
    ]
    return res, rows


def run(
    out: Path, *, budget: Budget | None = None, seed: int = 0, progress: bool = True, fmt: str = "png"
) -> dict[str, list[dict] | dict]:
    """Run every experiment (``budget``: `Budget.quick()` by default), print the tables, save the figures
    under ``out`` as ``dendrites_<name>.<fmt>``; returns the rows of each experiment and a ``summary``
    (``simulated_points``, ``max_abs_z``)."""
    budget = Budget.quick() if budget is None else budget
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    results = {}
    for name, fn in (
        ("effect_of_n", effect_of_n),
        ("effect_of_s", effect_of_s),
        ("noise", effect_of_noise),
        ("unions", effect_of_unions),
    ):
        panels, rows = fn(rng, budget, progress)
        _plot(name, panels, out, fmt)
        print(
            format_table(
                _table(rows),
                f"\n{name.replace('_', ' ')}: theory vs simulation "
                f"(points where the theory expects >= {MIN_EXPECTED_HITS} hits)",
            )
        )
        results[name] = rows
    res, rows = optimal_threshold()
    _plot_threshold(res, out, fmt)
    print(format_table(rows[:14], "\noptimal threshold: false-match rate over the grid, by θ"))
    results["optimal_threshold"] = rows
    sims = [r for k in ("effect_of_n", "effect_of_s", "noise", "unions") for r in results[k]]
    max_z = max((abs(r["z"]) for r in sims), default=0.0)
    print(
        f"\n{len(sims)} simulated points; max |z| = {max_z:.2f} "
        f"(z = (simulated − theory) / standard error); figures in {out}/"
    )
    results["summary"] = {"simulated_points": len(sims), "max_abs_z": float(max_z)}
    return results


def _table(rows):
    keep = ("curve", "x", "theory", "simulated", "pairs", "z", "paper")
    return [{k: r[k] for k in keep if k in r} for r in rows]


def _panel(title, x, curves, rows):
    return {
        "title": title,
        "x": x,
        "curves": curves,
        "points": {label: [r for r in rows if r["curve"] == label] for label in curves},
    }


XLABELS = {
    "effect_of_n": ("cell population size n", "false-match probability"),
    "effect_of_s": ("synapses on the segment s", "false-match probability"),
    "noise": ("noise (fraction of the a active cells replaced)", "false-negative probability"),
    "unions": ("patterns in the union M", "false-match probability"),
}
XSCALES = {"effect_of_n": "log"}  # n spans 300–20,000 and the simulable points lie below 2,500
PAPER = ", expected size (paper)"  # the curve computed with the paper's expected union size


def _plot(name, panels, out: Path, fmt: str = "png"):
    """Theory as lines, simulation as points with ±1 standard error bars, one panel per setting; where a
    curve has a paper counterpart, a panel below shows their ratio (on the log scale above they coincide)."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend stays as it is
    from matplotlib.legend_handler import HandlerTuple

    ratios = any(PAPER in label for panel in panels for label in panel["curves"])
    fig = Figure(figsize=(7.2 * len(panels), 6.0 if ratios else 4.5))
    axes = fig.subplots(
        2 if ratios else 1,
        len(panels),
        squeeze=False,
        sharex="col",
        gridspec_kw={"height_ratios": [3, 1]} if ratios else None,
    )
    for j, panel in enumerate(panels):
        ax = axes[0, j]
        handles, labels = _curves(ax, panel)
        ax.set(yscale="log", xscale=XSCALES.get(name, "linear"), ylabel=XLABELS[name][1], title=panel["title"])
        ax.grid(alpha=0.3)
        legend_outside(ax, handles=handles, labels=labels, handler_map={tuple: HandlerTuple(ndivide=None)})
        if ratios:
            _plot_ratios(axes[1, j], panel)
        axes[-1, j].set_xlabel(XLABELS[name][0])
    fig.suptitle(f"Ahmad & Hawkins (2016): {name.replace('_', ' ')}")
    save_figure(fig, out / f"dendrites_{name}.png", fmt)


def _curves(ax, panel):
    """Draw the panel's own curves (not the paper's) and their points; the legend's handles and labels, a
    key first (line: closed form, dot: Monte Carlo)."""
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="0.3"),
        Line2D([], [], color="0.3", marker="o", ls="none", ms=4),
    ]
    labels = ["closed form", "Monte Carlo on the core, ±1 s.e."]
    own = [label for label in panel["curves"] if PAPER not in label]
    for i, label in enumerate(own):
        y = panel["curves"][label]
        (line,) = ax.plot(panel["x"], np.where(y > 0, y, np.nan), color=f"C{i}")
        pts = panel["points"][label]
        if pts:
            bars = ax.errorbar(
                [r["x"] for r in pts],
                [r["simulated"] for r in pts],
                yerr=[r["stderr"] for r in pts],
                fmt="o",
                ms=4,
                color=f"C{i}",
            )
            line = (line, bars)
        handles.append(line)
        labels.append(label)
    return handles, labels


def _plot_ratios(ax, panel):
    """The paper's expected-union-size curve divided by ours (the exact union-size distribution)."""
    own = [label for label in panel["curves"] if PAPER not in label]
    worst = 0.0
    for i, label in enumerate(own):
        y, paper = panel["curves"][label], panel["curves"].get(label + PAPER)
        if paper is None:
            continue
        ok = (y > 0) & (paper > 0)
        ratio = paper[ok] / y[ok]
        worst = max(worst, float(np.max(np.abs(ratio - 1))))
        ax.plot(np.asarray(panel["x"])[ok], ratio, ".-", lw=0.8, ms=4, color=f"C{i}", label=label)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set(ylabel="paper / exact")
    ax.set_title(f"paper's expected union size / exact size distribution: within {worst:.0%}", fontsize=8)
    ax.grid(alpha=0.3)
    legend_outside(ax)


def _plot_threshold(res, out: Path, fmt: str = "png"):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    ax.plot(res.thetas, res.median, "o-", label="median")
    ax.fill_between(res.thetas, np.maximum(res.minimum, 1e-60), res.maximum, alpha=0.2, label="min–max")
    ax.axvline(8, color="k", ls=":", label="minimum observed\nNMDA threshold = 8")
    ax.axhline(1e-7, color="r", ls=":", label="1e-7")
    ax.set(
        yscale="log",
        ylim=(1e-40, 1),
        xlabel="NMDA threshold θ",
        ylabel="false-positive rate",
        title="n = 1k–17k, sparsity 0.5–3 %, s = 20–50",
    )
    legend_outside(ax)
    save_figure(fig, out / "dendrites_optimal_threshold.png", fmt)
