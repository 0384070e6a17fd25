"""sdrnet.core.nir: Network ↔ NIR, written and read back with nir.write/nir.read, same spikes on the same events
(with per-synapse delays); the LIF mapping against the Euler step of NIR's continuous LIF computed by hand."""

from dataclasses import replace

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sdrnet.core import Events, Layer, LIFParams, Network, Synapses  # noqa: E402
from sdrnet.core.nir import network_from_nir, network_to_nir  # noqa: E402


def delayed_network(rng):
    w1 = rng.normal(0, 0.6, (20, 30)) * (rng.random((20, 30)) < 0.3)
    w2 = rng.normal(0, 0.6, (30, 5)) * (rng.random((30, 5)) < 0.5)
    return Network(
        [
            Layer(
                Synapses.from_dense(w1, rng.integers(0, 5, (20, 30))), LIFParams(tau=3.7, decay_input=False), bias=0.05
            ),
            Layer(
                Synapses.from_dense(w2, rng.integers(0, 3, (30, 5))),
                LIFParams(tau=2.0, v_reset=-0.1),
                bias=rng.normal(0, 0.1, 5),
            ),
        ]
    )


def test_round_trip_through_file_same_spikes_with_delays(tmp_path, rng):
    net = delayed_network(rng)
    graph = network_to_nir(net, dt=1e-3)
    delays = sorted(float(n.delay[0]) for n in graph.nodes.values() if isinstance(n, nir.Delay))
    assert len(delays) == 4 + 2 and delays[-1] == pytest.approx(4e-3)  # delays 1..4 and 1..2, one branch each
    nir.write(tmp_path / "net.nir", graph)
    back = network_from_nir(nir.read(tmp_path / "net.nir"))
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.synapses.to_dense(), b.synapses.to_dense())
        np.testing.assert_array_equal(a.synapses.delay_matrix(), b.synapses.delay_matrix())
        assert a.neuron == b.neuron
    events = Events.from_dense((rng.random((50, 4, 20)) < 0.2).astype(np.float32))
    ra, rb = net.run(events), back.run(events)
    assert ra.spikes.n_events > 0
    np.testing.assert_array_equal(ra.spikes.to_dense(), rb.spikes.to_dense())
    np.testing.assert_array_equal(ra.layer_spikes[0].to_dense(), rb.layer_spikes[0].to_dense())


@pytest.mark.parametrize("decay_input", [True, False])
def test_lif_parameters_are_the_euler_step_of_nir_lif(decay_input):
    p = LIFParams(tau=4.0, v_reset=0.2, decay_input=decay_input)
    net = Network([Layer(Synapses.from_dense(np.eye(3, dtype=np.float32)), p)])
    lif = network_to_nir(net, dt=1e-4).nodes["lif0"]
    dt, v, x = 1e-4, 0.5, 0.3
    # Euler at dt of  tau dv/dt = (v_leak - v) + r·I  against SpikingJelly's discrete update
    euler = v + dt / lif.tau[0] * (lif.v_leak[0] - v + lif.r[0] * x)
    sj = v + (x - (v - 0.2)) / 4.0 if decay_input else v - (v - 0.2) / 4.0 + x
    assert euler == pytest.approx(sj)


def test_readout_and_bias_survive(rng):
    net = Network(
        [
            Layer(
                Synapses.from_dense(rng.normal(size=(6, 4))),
                LIFParams(tau=1.0, v_threshold=float("inf"), decay_input=False),
                bias=0.3,
            )
        ]
    )
    graph = network_to_nir(net, dt=1e-3)
    # a LIF readout with tau = 1 step is memoryless (v = W x + b): an Affine straight into the Output
    assert set(graph.nodes) == {"input", "w0_d0", "output"} and isinstance(graph.nodes["w0_d0"], nir.Affine)
    assert ("w0_d0", "output") in graph.edges
    back = network_from_nir(graph)
    ev = Events.from_dense(rng.random((5, 2, 6)).astype(np.float32))
    np.testing.assert_allclose(net.run(ev).output, back.run(ev).output, atol=1e-6)


def test_bad_input():
    net = Network([Layer(Synapses.from_dense(np.eye(2, dtype=np.float32)), LIFParams(v_reset=None))])
    with pytest.raises(ValueError, match="soft reset"):
        network_to_nir(net, dt=1e-3)
    with pytest.raises(TypeError, match="Network"):
        network_to_nir("net")
    with pytest.raises(ValueError, match="dt"):
        network_to_nir(Network([Layer(Synapses.from_dense(np.eye(2, dtype=np.float32)))]), dt=0)


def test_a_layer_tail_is_refused_unless_dropped_explicitly(rng):
    first, second = delayed_network(rng).layers
    net = Network([first, replace(second, tail=3)])
    with pytest.raises(ValueError, match=r"layers\[1\] has tail=3 .*drop_tails=True"):
        network_to_nir(net, dt=1e-3)
    back = network_from_nir(network_to_nir(net, dt=1e-3, drop_tails=True))
    assert [layer.tail for layer in back.layers] == [None, None]
    events = Events.from_dense((rng.random((30, 3, 20)) < 0.2).astype(np.float32))
    with_tail, without = net.run(events), back.run(events, n_steps=events.n_steps + 10)
    assert with_tail.spikes.n_steps == 30 + first.synapses.max_delay + 3  # the default lets every delivery land
    # the tail only acts once the input has ended: before that, the two agree spike for spike
    np.testing.assert_array_equal(with_tail.spikes.to_dense()[:30], without.spikes.to_dense()[:30])
    with pytest.raises(TypeError, match="drop_tails must be a bool, got str"):
        network_to_nir(net, dt=1e-3, drop_tails="yes")
    with pytest.raises(TypeError, match="integer_weights must be a bool, got int"):
        network_to_nir(net, dt=1e-3, drop_tails=True, integer_weights=1)
    # numpy bools are bools: the same graph as with Python's
    via_numpy = network_from_nir(
        network_to_nir(net, dt=1e-3, drop_tails=np.bool_(True), integer_weights=np.bool_(True))
    )
    assert [layer.tail for layer in via_numpy.layers] == [None, None]
    np.testing.assert_array_equal(via_numpy.run(events).spikes.to_dense(), back.run(events).spikes.to_dense())


def _with_delay(graph, name, seconds):
    graph.nodes[name] = nir.Delay(delay=np.full(graph.nodes[name].delay.shape, seconds))
    return graph


def test_delays_between_steps_are_refused_naming_the_node(rng):
    net = delayed_network(rng)
    graph = network_to_nir(net, dt=1e-3)
    with pytest.raises(ValueError, match=r"Delay node 'delay0_d1' is 1.5 steps"):
        network_from_nir(_with_delay(graph, "delay0_d1", 1.5e-3))
    with pytest.raises(ValueError, match=r"Delay node 'delay0_d1' is -1 steps"):
        network_from_nir(_with_delay(graph, "delay0_d1", -1e-3))
    graph = network_to_nir(net, dt=1e-4)
    assert 3e-4 / 1e-4 != 3  # 2.9999999999999996 in floats: still 3 steps
    back = network_from_nir(_with_delay(graph, "delay0_d3", 3e-4))
    np.testing.assert_array_equal(back.layers[0].synapses.delay_matrix(), net.layers[0].synapses.delay_matrix())


def test_missing_nir_names_the_extra(monkeypatch, rng):
    import sys

    monkeypatch.setitem(sys.modules, "nir", None)
    with pytest.raises(ModuleNotFoundError, match=r"needs nir: pip install 'sdrnet\[snn\]'"):
        network_to_nir(delayed_network(rng))


def test_dt_comes_from_the_network_and_is_never_guessed(rng):
    net = delayed_network(rng)
    with pytest.raises(ValueError, match=r"needs dt .*pass dt="):
        network_to_nir(net)
    timed = Network(net.layers, dt=0.01)
    graph = network_to_nir(timed)
    assert graph.metadata["dt"] == 0.01
    for i, layer in enumerate(net.layers):
        np.testing.assert_allclose(graph.nodes[f"lif{i}"].tau, layer.neuron.tau * 0.01)
        delays = {int(d) for d in np.unique(layer.synapses.delay)} - {0}
        assert {n: float(graph.nodes[n].delay[0]) for n in graph.nodes if n.startswith(f"delay{i}_")} == pytest.approx(
            {f"delay{i}_d{d}": d * 0.01 for d in delays}
        )
    with pytest.raises(ValueError, match=r"dt=0.001 s disagrees with network.dt=0.01 s"):
        network_to_nir(timed, dt=1e-3)
    back = network_from_nir(graph)
    assert back.dt == 0.01 and [b.neuron for b in back.layers] == [a.neuron for a in net.layers]
    # a graph is continuous in time: read at another dt, its LIF (r = 1) is the Euler step at that dt
    one = network_to_nir(Network(net.layers[1:], dt=0.01))
    finer = network_from_nir(one, dt=0.005)
    assert finer.dt == 0.005 and finer.layers[0].neuron.tau == pytest.approx(2 * net.layers[1].neuron.tau)
    np.testing.assert_array_equal(finer.layers[0].synapses.delay_matrix(), 2 * net.layers[1].synapses.delay_matrix())


def test_if_and_cuba_lif_layers_and_neurons_in_seconds_round_trip(rng):
    from sdrnet.core import CubaLIFParams, IFParams

    w1 = rng.normal(0, 0.8, (20, 16)) * (rng.random((20, 16)) < 0.4)
    w2 = rng.normal(0, 0.8, (16, 6)) * (rng.random((16, 6)) < 0.5)
    w3 = rng.normal(0, 0.8, (6, 3))
    net = Network(
        [
            Layer(Synapses.from_dense(w1, rng.integers(0, 4, (20, 16))), IFParams(v_reset=0.0)),
            Layer(
                Synapses.from_dense(w2, rng.integers(0, 3, (16, 6))),
                CubaLIFParams(alpha=0.5, beta=0.75, reset_mechanism="zero", reset_delay=False),
                bias=0.1,
            ),
            Layer(Synapses.from_dense(w3), LIFParams(tau_s=0.004, decay_input=False)),
        ],
        dt=1e-3,
    )
    graph = network_to_nir(net)
    assert [type(graph.nodes[k]).__name__ for k in ("if0", "cubalif1", "lif2")] == ["IF", "CubaLIF", "LIF"]
    assert graph.nodes["lif2"].tau[0] == pytest.approx(0.004)
    back = network_from_nir(graph)
    assert back.dt == 1e-3 and back.layers[2].neuron == LIFParams(tau=4.0, decay_input=False)
    assert [type(b.neuron) for b in back.layers[:2]] == [IFParams, CubaLIFParams]
    events = Events.from_dense((rng.random((40, 3, 20)) < 0.3).astype(np.float32), dt=1e-3)
    ra, rb = net.run(events), back.run(events)
    assert ra.layer_spikes[1].n_events > 0
    for sa, sb in zip(ra.layer_spikes, rb.layer_spikes):
        np.testing.assert_array_equal(sa.to_dense(), sb.to_dense())
