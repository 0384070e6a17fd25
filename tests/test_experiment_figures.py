"""The figures of the delta, pruning, active-dendrites and delay-SNN experiments, drawn from small made-up
results: no text collides, legends cover no data, sparsity on a logit axis, spread shown only where there is
one, and the delays' change per synapse during training."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
pytest.importorskip("torch")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.text import Text  # noqa: E402


def _drawn(fig):
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of the figure (titles, labels, ticks, annotations, legend entries)
    whose drawn boxes intersect."""
    renderer = _drawn(fig)
    boxes = [
        (t.get_text(), t.get_window_extent(renderer))
        for t in fig.findobj(Text)
        if t.get_visible() and t.get_text().strip() and id(t) not in _undrawn_tick_labels(fig)
    ]
    return [(a, b) for i, (a, box) in enumerate(boxes) for b, other in boxes[i + 1 :] if box.overlaps(other)]


def _undrawn_tick_labels(fig) -> set[int]:
    """The tick labels of ticks outside their axis' view (the locator makes them, the axis does not draw them)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not lo - 1e-9 * abs(hi - lo) <= loc <= hi + 1e-9 * abs(hi - lo):
                    hidden.update((id(tick.label1), id(tick.label2)))
    return hidden


def covered_by_legends(fig) -> list[str]:
    """Labels of the lines (sampled along their segments) and bars that a legend of the figure is drawn over."""
    renderer = _drawn(fig)
    covered = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent(renderer)
        for line in ax.lines:
            xy = line.get_transform().transform(np.asarray(line.get_xydata(), float))
            t = np.linspace(0, 1, 50)[:, None]
            samples = np.concatenate([a + t * (b - a) for a, b in zip(xy[:-1], xy[1:])] or [xy])
            (x0, y0), (x1, y1) = box.get_points()
            x, y = samples[np.isfinite(samples).all(1)].T
            if np.any((x > x0 + 1) & (x < x1 - 1) & (y > y0 + 1) & (y < y1 - 1)):
                covered.append(line.get_label())
        covered += [p.get_label() for p in ax.patches if p.get_window_extent(renderer).overlaps(box)]
    return covered


# ---------------------------------------------------------------------------------------------- delta layers
def delta_results():
    # the quick run's numbers: λ = 0.01 and 0.03 land 0.001 apart in accuracy, 20 k MACs apart
    base = {"penalty": None, "accuracy": 0.908, "relu_sparsity": 0.61, "delta_sparsity": None}
    base["effective_macs"] = 368101.0
    rows = [base]
    for lam, acc, macs, relu, delta in (
        (0.0, 0.896, 172518.0, 0.647, 0.804),
        (0.01, 0.902, 126654.0, 0.706, 0.853),
        (0.03, 0.902, 105490.0, 0.760, 0.875),
        (0.1, 0.904, 89460.0, 0.812, 0.892),
    ):
        rows.append(
            {"penalty": lam, "accuracy": acc, "effective_macs": macs, "relu_sparsity": relu, "delta_sparsity": delta}
        )
    return {"rows": rows}


def test_delta_figure_has_no_colliding_labels_and_names_every_penalty_off_the_data():
    from snn.delta import experiment

    fig = experiment.figure(delta_results())
    assert overlapping_texts(fig) == []
    assert covered_by_legends(fig) == []
    left = fig.axes[0]
    names = [t.get_text() for t in left.get_legend().get_texts()]
    assert [n for n in names if "λ" in n] == [f"delta layers, λ = {lam:g}" for lam in (0.0, 0.01, 0.03, 0.1)]


# ---------------------------------------------------------------------------------------------- pruning
def prune_results(seeds: int):
    rng = np.random.default_rng(0)
    runs = [
        {
            "method": m,
            "target_sparsity": s,
            "seed": k,
            "accuracy": 0.95 - drop * s**8 + 0.01 * rng.standard_normal(),
            "sparsity": s,
            "nonzeros": 10,
        }
        for k in range(seeds)
        for m, drop in (("magnitude (global)", 0.6), ("gradual (GMP)", 0.25), ("small dense", 0.2))
        for s in (0.5, 0.8, 0.9, 0.95, 0.98)
    ]
    return {"task": "digits", "budget": {"hidden": [8]}, "dense": [0.96] * seeds, "runs": runs}


@pytest.mark.parametrize("seeds", [1, 3])
def test_prune_figure_spreads_90_to_99_percent_on_a_logit_axis(seeds):
    from sdrnet.prune import experiment

    fig = experiment.figure(prune_results(seeds))
    ax = fig.axes[0]
    assert ax.get_xscale() == "logit"
    # on the axis, 90 → 95 → 98 % take more room than 50 → 80 %: the range where the methods part
    x = {s: ax.transData.transform((s, 50))[0] for s in (0.5, 0.8, 0.9, 0.95, 0.98)}
    assert x[0.98] - x[0.9] > x[0.8] - x[0.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["50 %", "80 %", "90 %", "95 %", "98 %"]
    assert covered_by_legends(fig) == [] and overlapping_texts(fig) == []
    title = ax.get_title()
    assert ("±" not in title and "1 seed" in title) if seeds == 1 else "mean ± s.d. over 3 seeds" in title
    error_bars = [c for c in ax.containers if c.has_yerr]
    assert len(error_bars) == (0 if seeds == 1 else 3)


# ---------------------------------------------------------------------------------------------- active dendrites
def dendrite_results(seeds: int):
    from dendrites import continual

    curves = np.linspace(0.95, 0.6, 10)[None, :] + 0.01 * np.arange(seeds)[:, None]
    models = [
        {"model": name, "mean": curves.mean(0).tolist(), "std": curves.std(0).tolist(), "per_seed": curves.tolist()}
        for name in continual.MODELS
    ]
    return {
        "dataset": "permuted digits",
        "seeds": list(range(seeds)),
        "num_tasks": list(range(1, 11)),
        "budget": {"report_tasks": [2, 5, 10]},
        "models": models,
    }


@pytest.mark.parametrize("seeds", [1, 2])
def test_active_dendrites_figure_and_table_state_the_spread_honestly(seeds):
    from dendrites import continual

    results = dendrite_results(seeds)
    fig = continual.figure(results)
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    cells = [v for row in continual.table_rows(results) for k, v in row.items() if k.endswith("tasks")]
    if seeds == 1:
        assert "±" not in ax.get_title() and "1 seed" in ax.get_title() and bands == []
        assert not any("±" in str(c) for c in cells)
    else:
        assert "mean ± s.d. over 2 seeds" in ax.get_title() and len(bands) == len(continual.MODELS)
        mean, std = results["models"][-1]["mean"][1], results["models"][-1]["std"][1]
        assert f"{mean:.3f} ± {std:.3f}" == "0.916 ± 0.005" and "0.916 ± 0.005" in cells
    assert covered_by_legends(fig) == [] and overlapping_texts(fig) == []


# ---------------------------------------------------------------------------------------------- delay SNN
def test_delay_changes_count_each_synapse_move_from_its_initial_delay():
    pytest.importorskip("spikingjelly")
    import torch

    from snn.experiments import delay_changes
    from snn.models import DelaySNN, SNNConfig

    cfg = SNNConfig(n_inputs=6, n_hidden=5, n_layers=1, n_outputs=3, max_delay=4)
    initial = DelaySNN(cfg, generator=torch.Generator().manual_seed(0))
    learned = DelaySNN(cfg, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        learned.synapses[0].delay[0, :3] += torch.tensor([1.0, -2.0, 9.0])  # the last one is clamped to 4
    got = delay_changes(learned, initial)
    assert [d["layer"] for d in got] == ["layer 1", "readout"]
    before = initial.synapses[0].delay.detach().clamp(0, 4).round().long().numpy().ravel()
    after = learned.synapses[0].delay.detach().clamp(0, 4).round().long().numpy().ravel()
    change = after - before
    assert got[0]["change_histogram"] == [int(np.sum(change == k)) for k in range(-4, 5)]
    assert got[0]["initial_histogram"] == np.bincount(before, minlength=5).tolist()
    assert got[0]["learned_histogram"] == np.bincount(after, minlength=5).tolist()
    assert got[0]["mean_abs_change"] == pytest.approx(np.abs(change).mean())
    assert got[0]["moved_fraction"] == pytest.approx(np.mean(change != 0)) and got[0]["moved_fraction"] > 0
    assert got[1]["moved_fraction"] == 0 and got[1]["change_histogram"][4] == 15


def test_random_delays_are_the_initial_model_s_rounded(tmp_path):
    # delay_changes compares a trained network with initial_model(cfg): it must be where train starts
    pytest.importorskip("spikingjelly")
    from dataclasses import replace

    from snn import data
    from snn.train import TrainConfig, initial_model, train

    cfg = TrainConfig(dataset="synthetic", n_hidden=6, max_delay=4, epochs=1, synthetic_samples=120, seed=3)
    full = data.timing_task(n_samples=120, seed=0)
    rest, test = data.holdout(full, fraction=0.25, seed=1)
    sets = dict(zip(("train", "valid"), data.holdout(rest, fraction=0.2, seed=0)), test=test)
    trained = train(replace(cfg, delays="random", progress=False), tmp_path, datasets=sets)
    start = initial_model(cfg, full.n_channels, full.n_classes)
    for a, b in zip(trained["model"].synapses, start.synapses):
        assert a.integer_delays().tolist() == b.integer_delays().tolist()


def test_delay_figure_shows_the_change_per_synapse():
    from snn.experiments import figure

    hist = [0] * 24 + [80, 15, 5] + [0] * 22
    delays = [
        {"layer": name, "max_delay": 24, "change_histogram": hist, "mean_abs_change": 0.25, "moved_fraction": 0.2}
        for name in ("layer 1", "layer 2", "readout")
    ]
    rows = [
        {"variant": v, "test_accuracy": a, "test_accuracy_std": 0.0}
        for v, a in (("learned", 0.9), ("random", 0.5), ("none", 0.1))
    ]
    fig = figure({"rows": rows, "delays": delays, "chance": 0.1, "budget": {"seeds": [0]}})
    assert len(fig.axes) == 4
    for ax in fig.axes[1:]:
        assert "learned − initial" in ax.get_xlabel() and "20% moved, mean |Δ| 0.25 steps" in ax.get_title()
        heights = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ax.patches}
        assert heights[0] == 80 and heights[1] == 15 and heights[2] == 5 and heights[-1] == 0
        assert ax.get_xlim()[0] < -2 and ax.get_xlim()[1] < 5  # zoomed on the moves, not on ±24 steps
    assert "1 seed" in fig.axes[0].get_title() and covered_by_legends(fig) == [] and overlapping_texts(fig) == []
