"""The figures of Ahmad & Hawkins (2016): closed-form curves with Monte Carlo points on the core.

:func:`run` computes every experiment, prints theory-versus-simulation tables and saves one
PNG per figure; ``sdrnet dendrites`` and ``examples/dendrites_figures.py`` call it. Settings
follow numenta/htmresearch ``projects/sdr_paper/`` (see each function).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sdrnet.report import format_table, save_figure

from . import theory
from .simulate import simulate_false_match, simulate_false_negative, simulate_union_false_match

__all__ = [
    "Budget",
    "QUICK",
    "FULL",
    "effect_of_n",
    "effect_of_s",
    "effect_of_noise",
    "effect_of_unions",
    "optimal_threshold",
    "run",
]

MIN_EXPECTED_HITS = 10  # simulate a point only where the theory expects at least this many hits


@dataclass(frozen=True)
class Budget:
    """Monte Carlo sizes: segments × inputs per false-match point, noise trials per level."""

    segments: int
    inputs: int
    noise_trials: int
    union_segments: int


QUICK = Budget(segments=1000, inputs=1000, noise_trials=10, union_segments=100)
FULL = Budget(segments=4000, inputs=5000, noise_trials=200, union_segments=500)


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


def effect_of_n(rng, budget: Budget = QUICK, progress: bool = True):
    """False matches versus n for s = 24, θ = 12, a = 64, 128, 256 (numenta ``plot_effect_of_n.py``)."""
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


def effect_of_s(rng, budget: Budget = QUICK, progress: bool = True):
    """False matches versus s with θ = s/2 (numenta ``plot_effect_of_s.py``)."""
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


def effect_of_noise(rng, budget: Budget = QUICK, progress: bool = True):
    """Misses versus noise: n = 6000, a = 128, s = 30, 500 segments, θ = 8, 12, 16
    (numenta ``plot_noise_results.py``; noise levels v/a with v = 6 … 102)."""
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


def effect_of_unions(rng, budget: Budget = QUICK, progress: bool = True):
    """False matches versus the number ``M`` of patterns in a union.

    A segment storing M patterns: n = 1000, a = 200, s = 25, θ = 15 (numenta
    ``sdr_paper_unions.py``); a segment (s = 20, θ = 10) against the union of M inputs of
    a = 30 cells, n = 2000.
    """
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


def run(out: Path, *, budget: Budget = QUICK, seed: int = 0, progress: bool = True) -> dict[str, list[dict]]:
    """Run every experiment, print the tables, save the figures under ``out``; returns the table rows."""
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
        _plot(name, panels, out)
        print(
            format_table(
                _table(rows),
                f"\n{name.replace('_', ' ')}: theory vs simulation "
                f"(points where the theory expects >= {MIN_EXPECTED_HITS} hits)",
            )
        )
        results[name] = rows
    res, rows = optimal_threshold()
    _plot_threshold(res, out)
    print(format_table(rows[:14], "\noptimal threshold: false-match rate over the grid, by θ"))
    results["optimal_threshold"] = rows
    sims = [r for k in ("effect_of_n", "effect_of_s", "noise", "unions") for r in results[k]]
    z = np.array([r["z"] for r in sims])
    print(
        f"\n{len(sims)} simulated points; max |z| = {np.abs(z).max():.2f} "
        f"(z = (simulated − theory) / standard error); figures in {out}/"
    )
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


def _plot(name, panels, out: Path):
    """Theory as lines, simulation as points with ±1 standard error bars, one panel per setting."""
    from matplotlib.figure import Figure  # not pyplot: the caller's backend stays as it is

    fig = Figure(figsize=(6 * len(panels), 4.5))
    axes = fig.subplots(1, len(panels), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        for i, (label, y) in enumerate(panel["curves"].items()):
            paper = "paper" in label  # drawn dashed in the colour of the curve before it
            ax.plot(
                panel["x"],
                np.where(y > 0, y, np.nan),
                color=f"C{i - paper}",
                ls="--" if paper else "-",
                label=f"{label} (theory)",
            )
            pts = panel["points"][label]
            if pts:
                ax.errorbar(
                    [r["x"] for r in pts],
                    [r["simulated"] for r in pts],
                    yerr=[r["stderr"] for r in pts],
                    fmt="o",
                    ms=4,
                    color=f"C{i}",
                    label=f"{label} (simulated)",
                )
        ax.set(yscale="log", xlabel=XLABELS[name][0], ylabel=XLABELS[name][1], title=panel["title"])
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Ahmad & Hawkins (2016): {name.replace('_', ' ')}")
    save_figure(fig, out / f"dendrites_{name}.png")


def _plot_threshold(res, out: Path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.plot(res.thetas, res.median, "o-", label="median")
    ax.fill_between(res.thetas, np.maximum(res.minimum, 1e-60), res.maximum, alpha=0.2, label="min–max")
    ax.axvline(8, color="k", ls=":", label="minimum observed NMDA threshold = 8")
    ax.axhline(1e-7, color="r", ls=":", label="1e-7")
    ax.set(
        yscale="log",
        ylim=(1e-40, 1),
        xlabel="NMDA threshold θ",
        ylabel="false-positive rate",
        title="n = 1k–17k, sparsity 0.5–3 %, s = 20–50",
    )
    ax.legend(fontsize=7)
    save_figure(fig, out / "dendrites_optimal_threshold.png")
