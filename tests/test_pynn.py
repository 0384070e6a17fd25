"""sdrnet.core.pynn: a core Network on NEST through PyNN gives the core's spikes, layer by layer.

Weights, biases and thresholds lie on a dyadic grid and tau is a power of two, so the core's float32 and
NEST's float64 sums are both exact and the spikes must agree bit for bit. NEST is imported only inside the
tests (after numba's threads started: sdrnet.core.pynn's docstring), never at collection.
"""

import dataclasses
import importlib
import importlib.util
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sdrnet.core import CubaLIFParams, Events, IFParams, Layer, LIFParams, Network, Synapses, get_num_threads
from sdrnet.core.pynn import read_pynn_run, run_nest, simulate, to_pynn, write_pynn_script

HAVE_NEST = all(importlib.util.find_spec(name) is not None for name in ("pyNN", "nest"))
needs_nest = pytest.mark.skipif(not HAVE_NEST, reason="needs PyNN and NEST: pip install 'sdrnet[nest]'")


@pytest.fixture(autouse=True, scope="module")
def _idle_nest_threads_sleep():
    """NEST's OpenMP threads spin while they wait (libgomp's default); on a machine shared with other jobs two
    spinning threads run several times slower. NEST's own libgomp reads OMP_WAIT_POLICY when NEST is first
    imported, which happens in these tests (after numba's threads started: `_nest`)."""
    get_num_threads()  # numba's own OpenMP runtime starts now, with the environment as it was
    saved = os.environ.get("OMP_WAIT_POLICY")
    os.environ["OMP_WAIT_POLICY"] = "passive"
    yield
    if saved is None:
        del os.environ["OMP_WAIT_POLICY"]
    else:
        os.environ["OMP_WAIT_POLICY"] = saved


def _nest():
    get_num_threads()  # numba's OpenMP threads first (see sdrnet.core.pynn)
    return importlib.import_module("nest")


def _dyadic_synapses(rng, n_pre, n_post, density, max_delay, scale=16):
    pre, post = np.nonzero(rng.random((n_pre, n_post)) < density)
    weight = (rng.integers(-scale // 2, scale, pre.size) / scale).astype(np.float32)
    delay = rng.integers(0, max_delay + 1, pre.size).astype(np.uint16)
    return Synapses.from_edges(pre, post, weight, delay, n_pre=n_pre, n_post=n_post)


def _counts(rng, n_steps, batch, n, p=0.3):
    x = (rng.random((n_steps, batch, n)) < p) * rng.integers(1, 3, (n_steps, batch, n))
    return Events.from_dense(x.astype(np.float32), dt=1e-3)


def _assert_same(core, nest_run):
    for layer, (a, b) in enumerate(zip(core.layer_spikes, nest_run.layer_spikes)):
        assert (a.n_steps, a.n_units, a.n_samples) == (b.n_steps, b.n_units, b.n_samples)
        np.testing.assert_array_equal(a.to_dense(), b.to_dense(), err_msg=f"layer {layer}")
    # a readout's potential (it never fires) decays on for many steps: past float32's 24 bits the core rounds
    np.testing.assert_allclose(core.output, nest_run.output, rtol=1e-6, atol=1e-6)


def _mixed_network(rng):
    """Delays, bias, a recurrent layer with v_reset != 0 and decay_input, an IF layer, a tail and a readout."""
    bias = (rng.integers(-1, 6, 10) / 16).astype(np.float32)
    return Network(
        [
            Layer(_dyadic_synapses(rng, 12, 10, 0.5, 5), LIFParams(tau=2.0, decay_input=False), bias=bias, tail=1),
            Layer(
                _dyadic_synapses(rng, 10, 8, 0.6, 4),
                LIFParams(tau=4.0, v_reset=-0.25, decay_input=True),
                recurrent=_dyadic_synapses(rng, 8, 8, 0.3, 3),
                bias=np.float32(0.5),
                tail=2,
            ),
            Layer(_dyadic_synapses(rng, 8, 6, 0.7, 2), IFParams(v_threshold=0.75)),
            Layer(_dyadic_synapses(rng, 6, 3, 0.8, 2), LIFParams(tau=2.0, v_threshold=np.inf, decay_input=False)),
        ],
        dt=1e-3,
    )


@needs_nest
def test_mixed_network_matches_the_core_on_one_and_two_nest_threads(rng):
    net = _mixed_network(rng)
    events = _counts(rng, 20, 3, 12)
    core = net.run(events)
    assert [s.n_events > 5 for s in core.layer_spikes[:3]] == [True] * 3  # every spiking layer spikes
    untailed = [dataclasses.replace(layer, tail=None) for layer in net.layers]
    loose = Network(untailed, dt=net.dt).run(events, n_steps=core.output.shape[0])
    for a, b in zip(loose.layer_spikes[:2], core.layer_spikes[:2]):  # the tails matter
        assert not np.array_equal(a.to_dense(), b.to_dense())
    for threads in (1, 2):
        _assert_same(core, run_nest(net, events, threads=threads))
        assert _nest().local_num_threads == threads


@needs_nest
def test_spike_at_exactly_the_threshold(rng):
    # V >= theta as in the core (NIR's v > theta would not fire the first neuron)
    syn = Synapses.from_dense(np.array([[0.5, 0.5 - 2**-10]], np.float32))
    net = Network([Layer(syn, LIFParams(tau=2.0, decay_input=False))], dt=1e-3)
    events = Events(np.array([0]), np.array([0]), np.array([2.0]), n_steps=1, n_units=1, dt=1e-3)
    core = net.run(events)
    assert core.layer_spikes[0].to_dense()[0, 0].tolist() == [1.0, 0.0]
    _assert_same(core, run_nest(net, events))


@needs_nest
@pytest.mark.parametrize("decay_input", [False, True])
def test_membrane_decays_by_exactly_one_minus_one_over_tau_per_step(decay_input):
    _nest()
    sim = importlib.import_module("pyNN.nest")
    for tau in (1.5, 2.0, 3.0, 20.0, 100.0):
        neuron = LIFParams(tau=tau, v_threshold=np.inf, decay_input=decay_input)
        net = Network([Layer(Synapses.from_dense(np.ones((1, 1), np.float32)), neuron)], dt=1e-3)
        events = Events(np.array([0]), np.array([0]), n_steps=1, n_units=1, dt=1e-3)
        raw = simulate(sim, to_pynn(net, events, n_steps=12), spike_precision="on_grid", verbosity="error")
        v = raw["v"][0, 3:, 0]  # from layer 0's first step (lag 3)
        tau32 = np.float32(tau).item()
        np.testing.assert_allclose(v[0], 1.0 / tau32 if decay_input else 1.0, rtol=1e-15)  # the jump: w or w/tau
        want = [v[0]]
        for _ in range(11):
            want.append((1.0 - 1.0 / tau32) * want[-1])
        np.testing.assert_array_equal(v, want, err_msg=f"tau={tau}")


@needs_nest
def test_delay_snn_matches_the_core_on_nest():
    torch = pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    from snn.export import export
    from snn.models import DelaySNN, SNNConfig

    torch.manual_seed(3)
    cfg = SNNConfig(n_inputs=12, n_hidden=10, n_layers=2, n_outputs=4, max_delay=6, tau=2.0, dropout=0.0)
    model = DelaySNN(dataclasses.replace(cfg, batchnorm=False)).eval()
    with torch.no_grad():
        for syn in model.synapses:
            syn.weight.copy_(torch.round(syn.weight * 48) / 16)  # dyadic, and strong enough to spike
    network = export(model, dt=1e-3)
    assert all(layer.tail for layer in network.layers) and network.layers[0].synapses.max_delay > 0
    rng = np.random.default_rng(5)
    events = _counts(rng, 16, 3, 12, p=0.4)
    core = network.run(events)
    assert core.layer_spikes[0].n_events > 20 and core.layer_spikes[1].n_events > 5
    _assert_same(core, run_nest(network, events))


@needs_nest
def test_pruned_spiking_mlp_matches_the_core_on_nest():
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    from sdrnet.prune import magnitude_prune, to_core

    torch.manual_seed(4)
    model = torch.nn.Sequential(
        torch.nn.Linear(16, 12), neuron.LIFNode(tau=2.0, step_mode="m"), torch.nn.Linear(12, 5)
    ).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(p * 64) / 16)
    magnitude_prune(model, 0.5)
    network = to_core(model, dt=1e-3)
    assert network.layers[0].synapses.nnz <= 16 * 12 // 2 + 1 and network.layers[0].neuron.decay_input
    events = _counts(np.random.default_rng(6), 10, 3, 16, p=0.5)
    core = network.run(events)
    assert core.layer_spikes[0].n_events > 20
    _assert_same(core, run_nest(network, events))


@needs_nest
def test_written_script_runs_standalone_and_reads_back(rng, tmp_path):
    net = _mixed_network(rng)
    events = _counts(rng, 12, 2, 12)
    script = write_pynn_script(net, tmp_path / "net.py", events, threads=2)  # threads: written into the script
    text = script.read_text()
    assert "import sdrnet" not in text and "from sdrnet" not in text  # it needs only PyNN and numpy
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same(net.run(events), read_pynn_run(tmp_path / "net_run.npz"))


@needs_nest
def test_two_mpi_processes_match_the_core(rng, tmp_path):
    if not _nest().build_info["have_mpi"] or shutil.which("mpirun") is None:
        pytest.skip("the installed NEST is built without MPI (or mpirun is missing): it runs in one process")
    net = _mixed_network(rng)
    events = _counts(rng, 12, 2, 12)
    script = write_pynn_script(net, tmp_path / "net.py", events)
    done = subprocess.run(["mpirun", "-n", "2", sys.executable, str(script)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same(net.run(events), read_pynn_run(tmp_path / "net_run.npz"))


# ---------------------------------------------------------------------------------------------- the plan (no NEST)


def test_plan_shifts_delays_by_one_step_and_folds_the_bias_into_the_resting_potential():
    syn = Synapses.from_edges([0, 1], [0, 0], np.float32([0.5, -0.25]), np.uint16([0, 3]), n_pre=2, n_post=1)
    for decay_input, jump, rest in ((False, [0.5, -0.25], 0.25 * 4), (True, [0.125, -0.0625], 0.25)):
        net = Network([Layer(syn, LIFParams(tau=4.0, decay_input=decay_input), bias=np.float32(0.25))], dt=5e-4)
        plan = to_pynn(net, Events(np.array([1]), np.array([1]), n_steps=2, n_units=2))
        np.testing.assert_array_equal(plan["layer0.ff"], [[0, 0, jump[0], 0.5], [1, 0, jump[1], 2.0]])
        np.testing.assert_array_equal(plan["layer0.v_rest"], [rest])
        assert math.exp(-0.5 / float(plan["layer0.tau_m"])) == 0.75  # P33 = 1 - 1/tau at h = 0.5 ms
        assert plan["input_times"].tolist() == [1.5] and plan["timestep"] == 0.5  # (t + 2) h
        assert int(plan["n_steps"]) == 2 + 3 and float(plan["t_stop"]) == (5 - 1 + 3) * 0.5


def test_refusals_name_the_layer_and_the_field():
    syn = Synapses.from_dense(np.ones((2, 2), np.float32))
    events = Events.from_dense(np.ones((2, 1, 2), np.float32))
    cases = [
        (LIFParams(v_reset=None), 0.0, r"layers\[1\]\.neuron\.v_reset is None \(a soft reset"),
        (CubaLIFParams(alpha=0.5, beta=0.5), 0.0, r"layers\[1\]\.neuron is CubaLIFParams"),
        (IFParams(), 0.25, r"layers\[1\]\.bias is not 0"),
        (LIFParams(v_threshold=-1.0), 0.0, r"layers\[1\]\.neuron\.v_threshold \(-1\.0\) must exceed v_reset"),
    ]
    for neuron, bias, message in cases:
        net = Network([Layer(syn), Layer(syn, neuron, bias=bias)])
        with pytest.raises(ValueError, match=message):
            to_pynn(net, events)
    net = Network([Layer(syn)])
    with pytest.raises(ValueError, match="events.value must be whole, non-negative spike counts"):
        to_pynn(net, Events.from_dense(np.full((2, 1, 2), 0.5, np.float32)))
    with pytest.raises(ValueError, match=r"network.dt \(1.5e-07 s\) must be a whole number of microseconds"):
        to_pynn(Network([Layer(syn)], dt=1.5e-7), events)
    with pytest.raises(ValueError, match="simulator must be one of"):
        write_pynn_script(net, "x.py", events, simulator="brian2")
    with pytest.raises(ValueError, match="path must name a .py file"):
        write_pynn_script(net, "x.txt", events)
