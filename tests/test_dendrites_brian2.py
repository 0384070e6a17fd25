"""The Brian2 plateau model agrees exactly with the combinatorial segment model (Ahmad & Hawkins 2016)."""

import subprocess
import sys

import numpy as np
import pytest

from dendrites.neuron import DendriticPopulation
from sdrnet.sdr import SDRBatch

pytest.importorskip("brian2")
from dendrites.brian2_model import simulate_brian2  # noqa: E402

N, A, THETA, S = 200, 20, 6, 12
FAST = dict(interval_ms=10.0, jitter_ms=2.0, plateau_ms=5.0)  # 100 steps of 0.1 ms per pattern


def _population_and_inputs(rng):
    pop = DendriticPopulation(N, 5, theta=THETA, synapses_per_segment=S)
    learned = SDRBatch.random(N, A, 10, rng)
    for b in range(10):
        pop.learn(learned.indices[learned.indptr[b] : learned.indptr[b + 1]], rng, neuron=b % 5)
    pop.add_segments([rng.choice(N, S, replace=False) for _ in range(20)], neuron=rng.integers(0, 5, 20))
    probes = [learned.indices[learned.indptr[b] : learned.indptr[b + 1]] for b in range(10)]
    for j, k in enumerate([THETA - 1, THETA, THETA + 1] * 4):  # overlap exactly k with segment j
        own = pop.segment_synapses(j)
        rest = np.setdiff1d(np.arange(N), own)
        probes.append(np.concatenate([rng.choice(own, k, replace=False), rng.choice(rest, A - k, replace=False)]))
    random = SDRBatch.random(N, A, 6, rng)
    probes += [random.indices[random.indptr[b] : random.indptr[b + 1]] for b in range(6)]
    return pop, probes


def test_brian2_plateaus_match_combinatorial_model(rng):
    pop, inputs = _population_and_inputs(rng)
    overlap = pop.segment_overlap(inputs)
    assert {THETA - 1, THETA}.issubset(np.unique(overlap))  # the boundary cases are exercised
    expected = overlap >= THETA
    assert expected.any() and not expected.all()
    res = simulate_brian2(pop, inputs, rng=rng, **FAST)
    np.testing.assert_array_equal(res.segment_detections, expected)
    np.testing.assert_array_equal(res.neuron_responses, pop.respond(inputs))
    assert res.neuron_responses.any() and not res.neuron_responses.all()
    assert res.segment_spikes[0].shape[0] == expected.sum()  # one plateau per detection
    unit, t = res.input_spikes
    assert unit.shape[0] == sum(len(x) for x in inputs)
    assert np.all((t % FAST["interval_ms"]) < FAST["jitter_ms"])
    assert res.runtime_s > 0


def test_brian2_sdrbatch_input_and_default_timing(rng):
    pop = DendriticPopulation(N, 2, theta=THETA, synapses_per_segment=S)
    patterns = SDRBatch.random(N, A, 3, rng)
    pop.learn(patterns.indices[:A], rng, neuron=1)
    res = simulate_brian2(pop, patterns, rng=rng)  # 50 ms per pattern, 1 ms jitter, 20 ms plateau
    np.testing.assert_array_equal(res.segment_detections, pop.segment_overlap(patterns) >= THETA)
    np.testing.assert_array_equal(res.neuron_responses, [[False, True], [False, False], [False, False]])


def test_brian2_validation(rng):
    pop, inputs = _population_and_inputs(rng)
    with pytest.raises(TypeError, match="population"):
        simulate_brian2("pop", inputs, rng=rng)
    with pytest.raises(ValueError, match="no segments"):
        simulate_brian2(DendriticPopulation(N, theta=THETA, synapses_per_segment=S), inputs, rng=rng)
    with pytest.raises(ValueError, match="n=100"):
        simulate_brian2(pop, SDRBatch.random(100, A, 2, rng), rng=rng)
    with pytest.raises(TypeError, match="rng"):
        simulate_brian2(pop, inputs, rng=0)
    with pytest.raises(ValueError, match="target"):
        simulate_brian2(pop, inputs, rng=rng, target="cpp_standalone")
    with pytest.raises(ValueError, match="interval_ms.*jitter_ms \\+ plateau_ms"):
        simulate_brian2(pop, inputs, rng=rng, interval_ms=20.0, jitter_ms=1.0, plateau_ms=20.0)
    with pytest.raises(ValueError, match="multiple of dt_ms"):
        simulate_brian2(pop, inputs, rng=rng, interval_ms=50.05)
    with pytest.raises(ValueError, match="tau_nmda_ms.*jitter_ms"):
        simulate_brian2(pop, inputs, rng=rng, tau_nmda_ms=5.0)
    with pytest.raises(ValueError, match="jitter_ms"):
        simulate_brian2(pop, inputs, rng=rng, jitter_ms=-1.0)
    with pytest.raises(TypeError, match="plateau_ms"):
        simulate_brian2(pop, inputs, rng=rng, plateau_ms="20")
    with pytest.raises(ValueError, match="at least one pattern"):
        simulate_brian2(pop, [], rng=rng)
    with pytest.raises(ValueError, match="repeat"):
        simulate_brian2(pop, [np.array([1, 2, 2])], rng=rng)


def test_module_imports_without_brian2():
    code = (
        "import sys; sys.modules['brian2'] = None; import dendrites.brian2_model as m; "
        "assert callable(m.simulate_brian2)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
