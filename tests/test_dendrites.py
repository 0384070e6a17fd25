"""Dendritic neurons and Monte Carlo simulations on the core, against dense numpy and the closed forms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import segment_counts_ref

from dendrites import theory
from dendrites.figures import Budget, _union_stderr
from dendrites.neuron import DendriticNeuron, DendriticPopulation, overlap_histogram, segment_matches
from dendrites.simulate import simulate_false_match, simulate_false_negative, simulate_union_false_match
from sdrnet.core import Synapses
from sdrnet.sdr import SDR, SDRBatch


def _random_population(rng, n, n_neurons, n_segments, s_max):
    pop = DendriticPopulation(n, n_neurons, theta=1, synapses_per_segment=1)
    segments = [rng.choice(n, rng.integers(0, s_max + 1), replace=False) for _ in range(n_segments)]
    pop.add_segments(segments, neuron=rng.integers(0, n_neurons, n_segments))
    return pop, segments


@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 40), st.integers(0, 12), st.integers(1, 6))
def test_kernels_match_dense_reference(seed, n, n_segments, batch, theta):
    rng = np.random.default_rng(seed)
    pop, segments = _random_population(rng, n, 3, n_segments, min(n, 300))
    inputs = [rng.choice(n, rng.integers(0, n + 1), replace=False) for _ in range(batch)]
    counts = segment_counts_ref(inputs, segments, n)
    np.testing.assert_array_equal(pop.segment_overlap(inputs), counts) if batch else None
    sample, segment = segment_matches(inputs, pop.synapses, theta)
    ref_sample, ref_segment = np.nonzero(counts >= theta)
    assert sorted(zip(sample, segment)) == sorted(zip(ref_sample, ref_segment))
    assert np.all(np.diff(sample) >= 0)
    hist = overlap_histogram(inputs, pop.synapses)
    np.testing.assert_array_equal(hist, np.bincount(counts.ravel(), minlength=hist.shape[0])[: hist.shape[0]])
    pop.theta = theta
    respond = np.zeros((batch, 3), bool)
    for b, j in zip(ref_sample, ref_segment):
        respond[b, pop.segment_neuron_[j]] = True
    np.testing.assert_array_equal(pop.respond(inputs), respond)


def test_counters_wider_than_a_byte(rng):
    # 300 synapses on one segment: the kernel must not wrap an 8-bit counter
    syn = Synapses.from_edges(np.arange(300), np.zeros(300, int), n_pre=300, n_post=2)
    assert overlap_histogram([np.arange(300)], syn).tolist()[-1] == 1
    sample, segment = segment_matches([np.arange(300), np.arange(299)], syn, 300)
    assert sample.tolist() == [0] and segment.tolist() == [0]


def test_many_matches_grow_the_output(rng):
    syn = Synapses.random_fixed_fan_in(50, 2000, 5, rng)
    inputs = [np.arange(50)] * 10  # every segment matches every input
    sample, segment = segment_matches(inputs, syn, 5)
    assert sample.shape[0] == 20000 and np.array_equal(np.bincount(sample), [2000] * 10)


def test_neuron_learns_and_recognises_its_patterns(rng):
    n, a, s, theta = 1024, 40, 20, 10
    neuron = DendriticNeuron(n, theta=theta, synapses_per_segment=s)
    patterns = SDRBatch.random(n, a, 5, rng)
    for p in patterns:
        seg = neuron.learn(p, rng)
        grown = neuron.segment_synapses(seg)
        assert grown.shape == (s,) and set(grown) <= set(p.sparse)  # a subsample of its active cells
    assert neuron.n_segments == 5 and neuron.respond(patterns).all()
    assert neuron.respond(patterns[0]) is True
    # losing more than s - theta of a segment's synapses silences it
    seg0 = neuron.segment_synapses(0)
    broken = np.setdiff1d(patterns[0].sparse, seg0[: s - theta + 1])
    assert neuron.segment_overlap(broken)[0] == theta - 1


def test_union_segment_grows_onto_every_pattern(rng):
    pop = DendriticPopulation(500, 2, theta=5, synapses_per_segment=10)
    p1, p2 = SDR.random(500, 30, rng), SDR.random(500, 30, rng)
    seg = pop.learn(p1, rng, neuron=1)
    assert pop.learn(p2, rng, segment=seg) == seg
    syn = pop.segment_synapses(seg)
    assert len(set(syn) & set(p1.sparse)) == 10 and len(set(syn) & set(p2.sparse)) >= 10 - len(
        set(p1.sparse) & set(p2.sparse)
    )
    assert pop.respond(SDRBatch.from_sdrs([p1, p2]))[:, 1].all()


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: DendriticPopulation(100, theta=11, synapses_per_segment=10), "theta must be <="),
        (lambda: DendriticPopulation(5, theta=2, synapses_per_segment=10), "synapses_per_segment must be <= n_inputs"),
        (lambda: DendriticPopulation(100.0, theta=2, synapses_per_segment=10), "n_inputs must be an int"),
        (
            lambda: DendriticNeuron(100, theta=2, synapses_per_segment=10).learn(np.arange(5), np.random.default_rng()),
            "needs at least",
        ),
        (lambda: DendriticNeuron(100, theta=2, synapses_per_segment=3).learn(np.arange(5), 0), "rng must be"),
        (lambda: DendriticNeuron(100, theta=2, synapses_per_segment=3).respond([np.array([1, 1])]), "repeats"),
        (
            lambda: DendriticNeuron(100, theta=2, synapses_per_segment=3).respond(
                SDR.random(99, 3, np.random.default_rng())
            ),
            "size n=99",
        ),
        (lambda: DendriticNeuron(100, theta=2, synapses_per_segment=3).add_segments([[1, 1, 2]]), "repeats an input"),
        (lambda: DendriticNeuron(100, theta=2, synapses_per_segment=3).add_segments([[1, 200]]), "presyn must be <"),
        (
            lambda: DendriticPopulation(100, 2, theta=2, synapses_per_segment=3).add_segments([[1, 2]], neuron=2),
            "neuron",
        ),
        (lambda: simulate_false_match(100, 10, 5, [6], np.random.default_rng()), "thetas must lie"),
        (lambda: simulate_false_negative(100, 10, 5, 3, 11, np.random.default_rng()), "v must be <= a"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def _agree(mc, p, z_max=4.5, se=None):
    p = np.asarray(p, float)
    se = np.sqrt(p * (1 - p) / mc.trials) if se is None else se
    assert np.all(p * mc.trials >= 20), "test set-up: too few expected hits to compare"
    np.testing.assert_array_less(np.abs(mc.rate - p), z_max * se)


def test_simulated_false_matches_agree_with_theory(rng):
    thetas = np.array([6, 8, 10, 12])
    mc = simulate_false_match(300, 64, 24, thetas, rng, n_segments=1000, n_inputs=1000)
    _agree(mc, theory.false_match(300, 64, 24, thetas))


def test_simulated_noise_robustness_agrees_with_theory(rng):
    # the paper's noise figure: a = 128, s = 30, n = 6000, 500 segments
    thetas = np.array([8, 12, 16])
    mc = simulate_false_negative(6000, 128, 30, thetas, 77, rng, n_segments=500, n_trials=20)
    _agree(mc, theory.false_negative(128, 30, thetas, 77))


@pytest.mark.parametrize("form,n,a,s,theta,M", [("synapses", 1000, 200, 25, 15, 2), ("inputs", 2000, 30, 20, 10, 20)])
def test_simulated_unions_agree_with_theory(rng, form, n, a, s, theta, M):
    mc = simulate_union_false_match(n, a, s, [theta], M, rng, form=form, n_segments=200, n_inputs=1000)
    # pairs sharing a union share its random size: a clustered standard error
    se = _union_stderr(n, a, s, theta, M, form, Budget(segments=0, inputs=1000, noise_trials=0, union_segments=200))
    assert se > np.sqrt(mc.rate * (1 - mc.rate) / mc.trials)
    _agree(mc, [theory.union_false_match(n, a, s, theta, M, form=form, size="distribution")], se=se)


def test_union_figure_simulates_every_estimable_point(rng):
    from dendrites.figures import effect_of_unions

    budget = Budget(segments=0, inputs=200, noise_trials=0, union_segments=20)
    panels, rows = effect_of_unions(rng, budget, progress=False)
    per_curve = {c: sum(r["curve"] == c for r in rows) for c in ("n=1000", "n=10000", "n=2000")}
    assert per_curve["n=1000"] >= 4 and per_curve["n=2000"] >= 10 and per_curve["n=10000"] >= 1, per_curve
    assert all(abs(r["z"]) < 5 for r in rows)
    assert len(panels) == 2 and all(np.isfinite(r["stderr"]) and r["stderr"] > 0 for r in rows)


def _plot_figures(out):
    from types import SimpleNamespace

    from dendrites import figures

    x = np.arange(1, 4)
    rows = [{"curve": "a", "x": 2, "simulated": 0.01, "stderr": 0.001}]
    figures._plot("noise", [figures._panel("a panel", x, {"a": 10.0**-x, "a, paper": 10.0**-x}, rows)], out)
    figures._plot_threshold(
        SimpleNamespace(thetas=x, median=10.0**-x, minimum=10.0 ** -(2 * x), maximum=10.0 ** -(x / 2)), out
    )


def _plot_continual(out):
    from dendrites import continual

    continual.plot(
        {
            "num_tasks": [1, 2, 3],
            "seeds": [0],
            "dataset": "digits",
            "models": [{"model": "active dendrites", "mean": [0.9, 0.8, 0.7], "std": [0.01, 0.02, 0.03]}],
        },
        out / "continual.png",
    )


@pytest.mark.parametrize("plot", [_plot_figures, _plot_continual])
def test_plots_leave_the_callers_backend_alone(plot, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        plot(tmp_path)
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert all(p.stat().st_size > 5000 for p in tmp_path.glob("*.png")) and any(tmp_path.glob("*.png"))


def test_cli_seed_reaches_the_monte_carlo(tmp_path, monkeypatch, capsys):
    from dendrites import figures
    from sdrnet.cli import main

    for name in ("effect_of_n", "effect_of_noise", "effect_of_unions"):  # the slower ones; s carries the check
        monkeypatch.setattr(figures, name, lambda rng, budget, progress: ([], []))
    for name in ("_plot", "_plot_threshold"):
        monkeypatch.setattr(figures, name, lambda *args: None)
    results, run = [], figures.run
    monkeypatch.setattr(figures, "run", lambda *args, **kwargs: results.append(run(*args, **kwargs)) or results[-1])
    for seed in ("0", "1", "1"):
        argv = ["dendrites", "--seed", seed, "--no-progress", "--out", str(tmp_path), "--set", "segments=50"]
        assert main([*argv, "--set", "inputs=50", "--set", "noise_trials=1", "--set", "union_segments=5"]) == 0
    simulated = [[r["simulated"] for r in res["effect_of_s"]] for res in results]
    assert len(simulated[0]) > 5 and simulated[1] == simulated[2] and simulated[0] != simulated[1]
