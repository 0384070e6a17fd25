"""The figures of `dendrites.figures` and `sdrnet.sparsey.experiments`: legends beside the data, not over it,
and inside the saved image; a log axis for n; the paper's union curves as a visible ratio; honest spreads."""

from types import SimpleNamespace

import numpy as np
import pytest


@pytest.fixture
def saved(monkeypatch):
    """The figures passed to save_figure by dendrites.figures and sparsey.experiments, after saving."""
    import dendrites.figures as figures
    import sdrnet.sparsey.experiments as experiments
    from sdrnet.report import save_figure

    figs = []

    def keep(fig, path, fmt=None):
        figs.append(fig)
        return save_figure(fig, path, fmt)

    monkeypatch.setattr(figures, "save_figure", keep)
    monkeypatch.setattr(experiments, "save_figure", keep)
    return figs


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _check_legends(fig):
    """Every legend lies outside every axes (so it covers no data) and inside the figure (so it is saved)."""
    fig.draw_without_rendering()
    axes = [ax.get_window_extent() for ax in fig.axes]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for legend in legends:
        box = legend.get_window_extent()
        assert not any(_overlap(box, ax) for ax in axes), (box, axes)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 + 1 and fig.bbox.y0 <= box.y0, (box, fig.bbox)


def _union_panel(figures):
    x = np.arange(1, 20)
    own = 10.0 ** -(20 - x)
    paper = own * (1 + 0.05 * np.sin(x))
    rows = [{"curve": "n=1000", "x": 5, "simulated": own[4], "stderr": own[4] / 10}]
    curves = {"n=1000": own, "n=1000" + figures.PAPER: paper, "n=2000": own / 10, "n=2000" + figures.PAPER: own / 10}
    return figures._panel("unions", x, curves, rows), own, paper


def test_dendrites_figures_keep_legends_off_the_data(tmp_path, saved):
    from dendrites import figures

    x = np.arange(300, 20001, 100)
    rows = [{"curve": "a=64", "x": 300, "simulated": 1e-3, "stderr": 1e-4}]
    figures._plot("effect_of_n", [figures._panel("s=24", x, {"a=64": 1e3 / x**3, "a=128": 1e4 / x**3}, rows)], tmp_path)
    panel, _, _ = _union_panel(figures)
    figures._plot("unions", [panel, panel], tmp_path)
    res = SimpleNamespace(thetas=np.arange(3, 25), median=10.0 ** -np.arange(3, 25))
    res.minimum, res.maximum = res.median / 100, res.median * 100
    figures._plot_threshold(res, tmp_path)
    assert len(saved) == 3
    for fig in saved:
        _check_legends(fig)
    assert saved[0].axes[0].get_xscale() == "log"  # n spans 300–20,000; the simulated points lie below 2,500
    assert {p.name for p in tmp_path.iterdir()} == {
        "dendrites_effect_of_n.png",
        "dendrites_unions.png",
        "dendrites_optimal_threshold.png",
    }


def test_union_figure_shows_the_paper_curves_as_their_ratio_to_ours(tmp_path, saved):
    from dendrites import figures

    panel, own, paper = _union_panel(figures)
    figures._plot("unions", [panel], tmp_path, fmt="pdf")
    main, ratio = saved[0].axes[:2]
    # the main panel draws our curves only (the paper's coincide with them on 20 decades) ...
    assert len(main.get_lines()) >= 2 and not [line for line in main.get_lines() if line.get_linestyle() == "--"]
    # ... and the panel below their ratio, one line per curve with a paper counterpart, plus the line at 1
    lines = ratio.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), paper / own)
    np.testing.assert_allclose(lines[1].get_ydata(), 1.0)
    assert f"within {np.max(np.abs(paper / own - 1)):.0%}" in ratio.get_title()
    assert (tmp_path / "dendrites_unions.pdf").read_bytes().startswith(b"%PDF")


def _capacity_rows(trials):
    keys = [f"{kind}_recall_{label}" for kind in ("per_cm", "pattern") for label in ("uniform_codes", "default_csa")]
    return [
        {"stored_patterns": M, "per_cm_recall_closed_form": 1 / M, "saturation_default_csa": 0.1, "trials": trials}
        | dict.fromkeys(keys, 0.5)
        for M in (100, 200)
    ]


@pytest.mark.parametrize("trials, says", [(1, "one mac per M, no spread shown"), (5, "mean of 5 macs per M")])
def test_sparsey_figure_legends_and_what_a_point_is(tmp_path, saved, trials, says):
    from sdrnet.sparsey.experiments import plot

    similarity = [
        {"input_overlap": o, "code_overlap_simulated": o, "code_overlap_stderr": 0.01} for o in np.linspace(0, 1, 11)
    ]
    assert plot(similarity, _capacity_rows(trials), tmp_path / "sparsey.png", "svg") == tmp_path / "sparsey.svg"
    _check_legends(saved[0])
    assert saved[0].axes[1].get_title().endswith(says)
    assert "over the input pairs" in saved[0].axes[0].get_legend().get_texts()[-1].get_text()
