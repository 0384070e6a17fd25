"""network_from_nir cannot hang or mislead: recurrent edges in either order become `Layer.recurrent`, skip
connections, loops between layers or through no neuron and unknown nodes are refused naming the nodes;
Scale, per-channel Delay, Identity and nested graphs are read exactly. And the export by the spec:
thresholds for NIR's v > θ, readouts as LI / I / CubaLI or Affine → Output, integer weights with a Scale."""

from dataclasses import replace

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from sdrnet.core import CubaLIFParams, Events, IFParams, Layer, LIFParams, Network, Synapses  # noqa: E402
from sdrnet.core.nir import network_from_nir, network_to_nir  # noqa: E402

DT = 1e-3

# an import that loops forever fails here instead of hanging the run; the limit leaves room for the first
# (uncached) compilation of the core's kernels when a test also runs the imported network
IMPORT_LIMIT_S = 120


def lif(n, **kw):
    return LIFParams(tau=2.0, decay_input=False, **kw).to_nir(n, DT)


def graph(nodes, edges):
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)


def weights(rng, shape, density=0.5):
    return (rng.integers(-4, 13, shape) / 8.0 * (rng.random(shape) < density)).astype(np.float32)


def same_spikes(a, b, rng, n_in):
    events = Events.from_dense((rng.random((30, 3, n_in)) < 0.4).astype(np.float32))
    ra, rb = a.run(events), b.run(events)
    assert ra.layer_spikes[0].n_events > 0
    for sa, sb in zip(ra.layer_spikes, rb.layer_spikes):
        np.testing.assert_array_equal(sa.to_dense(), sb.to_dense())
    np.testing.assert_array_equal(ra.output, rb.output)


# ---------------------------------------------------------------------------------------------- loops


def recurrent_graph(rng, recurrent_first):
    """snnTorch's RLeaky shape: input → fc → lif ⇄ w_rec, lif → fc2 → lif2 → output."""
    w_in, w_rec, w_out = weights(rng, (6, 5)), weights(rng, (6, 6)), weights(rng, (3, 6))
    nodes = {
        "input": nir.Input(input_type=np.array([5])),
        "fc": nir.Affine(weight=w_in, bias=np.full(6, 0.125)),
        "rnn.lif": lif(6),
        "rnn.w_rec": nir.Linear(weight=w_rec),
        "fc2": nir.Linear(weight=w_out),
        "lif2": lif(3),
        "output": nir.Output(output_type=np.array([3])),
    }
    loop = [("rnn.lif", "rnn.w_rec"), ("rnn.w_rec", "rnn.lif")]
    forward = [("input", "fc"), ("fc", "rnn.lif"), ("rnn.lif", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    edges = loop + forward if recurrent_first else forward + loop
    expected = Network(
        [
            Layer(
                Synapses.from_dense(w_in.T), LIFParams(tau=2.0, decay_input=False), Synapses.from_dense(w_rec.T), 0.125
            ),
            Layer(Synapses.from_dense(w_out.T), LIFParams(tau=2.0, decay_input=False)),
        ],
        dt=DT,
    )
    return graph(nodes, edges), expected


@pytest.mark.timeout(IMPORT_LIMIT_S)
@pytest.mark.parametrize("recurrent_first", [True, False])
def test_a_recurrent_edge_in_either_order_is_the_layers_recurrent_synapses(recurrent_first, rng):
    g, expected = recurrent_graph(rng, recurrent_first)
    net = network_from_nir(g)
    assert len(net.layers) == 2 and net.layers[1].recurrent is None
    np.testing.assert_array_equal(net.layers[0].recurrent.to_dense(), expected.layers[0].recurrent.to_dense())
    same_spikes(net, expected, rng, 5)


@pytest.mark.timeout(IMPORT_LIMIT_S)
def test_recurrent_delays_and_the_round_trip(rng):
    """A recurrent synapse of delay d acts at t + 1 + d: a Delay(d·dt) in the loop (none for d = 0)."""
    rec = Synapses.from_dense(weights(rng, (6, 6)), rng.integers(0, 3, (6, 6)))
    net = Network(
        [Layer(Synapses.from_dense(weights(rng, (5, 6))), LIFParams(tau=4.0, decay_input=False), rec, bias=0.25)],
        dt=DT,
    )
    g = network_to_nir(net)
    assert ("lif0", "delay0r_d2") in g.edges and ("w0r_d0", "lif0") in g.edges
    back = network_from_nir(g)
    np.testing.assert_array_equal(back.layers[0].recurrent.delay_matrix(), rec.delay_matrix())
    same_spikes(net, back, rng, 5)


@pytest.mark.timeout(IMPORT_LIMIT_S)
def test_loops_that_are_not_a_layers_own_are_refused_naming_the_nodes(rng):
    g, _ = recurrent_graph(rng, True)
    g.nodes["back"] = nir.Linear(weight=weights(rng, (6, 3)))
    g.edges += [("lif2", "back"), ("back", "rnn.lif")]
    with pytest.raises(ValueError, match=r"neuron nodes .*'rnn.lif'.*'lif2'|neuron nodes .*'lif2'.*'rnn.lif'"):
        network_from_nir(g)
    g, _ = recurrent_graph(rng, False)
    g.nodes["w2"] = nir.Linear(weight=np.eye(6, dtype=np.float32))
    g.edges = [e for e in g.edges if e != ("rnn.w_rec", "rnn.lif")] + [("rnn.w_rec", "w2"), ("w2", "rnn.w_rec")]
    with pytest.raises(ValueError, match=r"loop rnn.w_rec -> w2 -> rnn.w_rec passes through no neuron"):
        network_from_nir(g)


# ---------------------------------------------------------------------------------------------- skips, unknown nodes


def chain_graph(rng, n=(5, 5, 5, 4)):
    nodes = {"input": nir.Input(input_type=np.array([n[0]]))}
    edges, source = [], "input"
    for i, (a, b) in enumerate(zip(n, n[1:])):
        nodes[f"w{i}"], nodes[f"lif{i}"] = nir.Linear(weight=weights(rng, (b, a))), lif(b)
        edges += [(source, f"w{i}"), (f"w{i}", f"lif{i}")]
        source = f"lif{i}"
    nodes["output"] = nir.Output(output_type=np.array([n[-1]]))
    return graph(nodes, edges + [(source, "output")])


@pytest.mark.timeout(IMPORT_LIMIT_S)
def test_a_skip_connection_is_refused_naming_its_nodes(rng):
    g = chain_graph(rng)
    g.nodes["skip"] = nir.Linear(weight=weights(rng, (4, 5)))
    g.edges += [("lif0", "skip"), ("skip", "lif2")]  # sizes match: once merged into lif1 → lif2's weights
    with pytest.raises(ValueError, match=r"lif0 -> skip -> lif2 skips from 'lif0' to 'lif2'"):
        network_from_nir(g)
    g = chain_graph(rng)
    g.edges.append(("input", "w1"))  # the input straight into the second layer's weights
    with pytest.raises(ValueError, match=r"input -> w1 -> lif1 skips from 'input' to 'lif1'"):
        network_from_nir(g)


@pytest.mark.parametrize(
    "node, kind",
    [
        (nir.Threshold(threshold=np.ones(5)), "Threshold"),
        (nir.Flatten(start_dim=0, end_dim=-1, input_type={"input": np.array([5])}), "Flatten"),
        (nir.Conv1d(None, np.ones((5, 5, 1)), 1, 0, 1, 1, np.zeros(5)), "Conv1d"),
    ],
)
def test_an_unsupported_node_is_refused_naming_it(node, kind, rng):
    g = chain_graph(rng)
    g.nodes["odd"] = node
    g.edges = [e for e in g.edges if e != ("lif0", "w1")] + [("lif0", "odd"), ("odd", "w1")]
    with pytest.raises(ValueError, match=rf"node 'odd' is nir.{kind}, which network_from_nir does not read"):
        network_from_nir(g)


def test_unsupported_fields_and_shapes_are_refused_naming_the_node(rng):
    g = chain_graph(rng)
    g.nodes["lif1"] = replace(lif(5), v_leak=np.full(5, 0.5))
    with pytest.raises(ValueError, match=r"lif1.v_leak = 0.5 must equal lif1.v_reset = 0"):
        network_from_nir(g)
    g = chain_graph(rng)
    g.nodes["w1"] = nir.Linear(weight=weights(rng, (5, 4)))
    with pytest.raises(ValueError, match=r"Linear node 'w1' has weight shape \(5, 4\); expected \[n_out, 5\]"):
        network_from_nir(g)
    g = chain_graph(rng)
    g.nodes["w2"], g.nodes["w3"] = nir.Linear(weight=weights(rng, (4, 5))), nir.Linear(weight=weights(rng, (4, 4)))
    g.edges = [e for e in g.edges if e != ("w2", "lif2")] + [("w2", "w3"), ("w3", "lif2")]
    with pytest.raises(ValueError, match=r"has two weight nodes \('w2', 'w3'\)"):
        network_from_nir(g)
    g = chain_graph(rng)
    g.nodes["w0"] = nir.Affine(weight=weights(rng, (5, 5)), bias=np.ones(5))
    g.nodes["d"] = nir.Delay(delay=np.full(5, 2 * DT))
    g.edges = [e for e in g.edges if e != ("w0", "lif0")] + [("w0", "d"), ("d", "lif0")]
    with pytest.raises(ValueError, match=r"bias of 'w0' passes through Delay node 'd'"):
        network_from_nir(g)
    g = chain_graph(rng)
    g.nodes["dead"] = nir.Linear(weight=weights(rng, (5, 5)))
    g.edges.append(("lif0", "dead"))
    with pytest.raises(ValueError, match=r"node 'dead' feeds nothing"):
        network_from_nir(g)


# ---------------------------------------------------------------------------------------------- what import reads


@pytest.mark.timeout(IMPORT_LIMIT_S)
def test_scale_per_channel_delays_identity_and_nested_graphs_are_read_exactly(rng):
    w, s_in, s_out = weights(rng, (4, 5)), np.array([1, 2, 0.5, 1, 4]), np.array([0.25, 1, 2, 1])
    d_in, d_out = np.array([0, 1, 2, 0, 3]), np.array([1, 0, 0, 2])
    inner = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([4])),
            "skip_me": nir.ir.graph.Identity(input_type={"input": np.array([4])}),
            "lif": lif(4),
            "out": nir.Output(output_type=np.array([4])),
        },
        edges=[("in", "skip_me"), ("skip_me", "lif"), ("lif", "out")],
        type_check=False,
    )
    g = graph(
        {
            "input": nir.Input(input_type=np.array([5])),
            "s_in": nir.Scale(scale=s_in),
            "d_in": nir.Delay(delay=d_in * DT),
            "w": nir.Linear(weight=w),
            "s_out": nir.Scale(scale=s_out),
            "d_out": nir.Delay(delay=d_out * DT),
            "layer": inner,
            "output": nir.Output(output_type=np.array([4])),
        },
        [("input", "s_in"), ("s_in", "d_in"), ("d_in", "w"), ("w", "s_out"), ("s_out", "d_out"), ("d_out", "layer")]
        + [("layer", "output")],
    )
    net = network_from_nir(g)
    (layer,) = net.layers
    expected = w * s_in[None, :] * s_out[:, None]
    np.testing.assert_array_equal(layer.synapses.to_dense(), expected.T.astype(np.float32))
    mask = expected.T != 0
    np.testing.assert_array_equal(layer.synapses.delay_matrix()[mask], (d_in[:, None] + d_out[None, :])[mask])


@pytest.mark.timeout(IMPORT_LIMIT_S)
def test_quantised_weights_are_integers_and_a_scale_and_read_back_exactly(rng):
    from sdrnet.prune.export import quantize_network

    base = Network(
        [
            Layer(
                Synapses.from_dense(rng.normal(0, 0.5, (20, 12)), rng.integers(0, 3, (20, 12))),
                LIFParams(tau=4.0, decay_input=False),
                bias=0.1,
            ),
            Layer(Synapses.from_dense(rng.normal(0, 0.5, (12, 4))), LIFParams(1.0, np.inf, decay_input=False)),
        ],
        dt=DT,
    )
    net = quantize_network(base, 8)
    g = network_to_nir(net)
    for i, layer in enumerate(net.layers):
        s = float(g.nodes[f"scale{i}"].scale[0])
        assert s == pytest.approx(np.abs(layer.synapses.weight).max() / 127)
        for name in (k for k in g.nodes if k.startswith(f"w{i}_")):
            q = g.nodes[name].weight
            assert np.array_equal(q, np.rint(q)) and np.abs(q).max() <= 127
    back = network_from_nir(g)
    for a, b in zip(net.layers, back.layers):
        np.testing.assert_array_equal(a.synapses.to_dense(), b.synapses.to_dense())
    same_spikes(net, back, rng, 20)
    plain = network_to_nir(net, integer_weights=False)
    assert not any(isinstance(node, nir.Scale) for node in plain.nodes.values())
    assert not any(isinstance(node, nir.Scale) for node in network_to_nir(base).nodes.values())


# ---------------------------------------------------------------------------------------------- export by the spec


def test_lif_and_if_thresholds_are_written_for_nirs_strict_test():
    one = np.float32(1.0)
    for model, kind in ((LIFParams(tau=2.0), "lif0"), (IFParams(v_threshold=0.7), "if0")):
        net = Network([Layer(Synapses.from_dense(np.eye(2, dtype=np.float32)), model)], dt=DT)
        theta = network_to_nir(net).nodes[kind].v_threshold
        core = np.float32(model.v_threshold)
        assert np.all(theta == np.nextafter(core, -np.inf)) and not np.any(theta >= core)
        assert np.float32(theta[0]) < core and np.nextafter(np.float32(theta[0]), np.inf) == core
        assert network_from_nir(network_to_nir(net)).layers[0].neuron == model
    assert np.float32(np.nextafter(one, -np.inf)) > one - 2**-23  # one float32 step: 2^-24 below 1
    cuba = CubaLIFParams(alpha=0.5, beta=0.5, v_threshold=1.0, reset_mechanism="zero", reset_delay=False)
    net = Network([Layer(Synapses.from_dense(np.eye(2, dtype=np.float32)), cuba)], dt=DT)
    assert np.all(network_to_nir(net).nodes["cubalif0"].v_threshold == 1.0)  # fires at v > θ already


@pytest.mark.parametrize(
    "readout, kind",
    [
        (LIFParams(tau=4.0, v_threshold=np.inf, decay_input=False), "LI"),
        (IFParams(v_threshold=np.inf), "I"),
        # (the core's own CubaLIF readout with the default subtractive reset computes 0·inf = NaN)
        (CubaLIFParams(alpha=0.5, beta=0.75, v_threshold=np.inf, reset_mechanism="none"), "CubaLI"),
        (LIFParams(tau=1.0, v_threshold=np.inf, v_reset=0.5), None),  # memoryless: Affine → Output
    ],
)
def test_readouts_are_nirs_non_spiking_nodes_and_round_trip(readout, kind, rng):
    net = Network(
        [
            Layer(Synapses.from_dense(weights(rng, (6, 5))), LIFParams(tau=2.0, decay_input=False)),
            Layer(Synapses.from_dense(weights(rng, (5, 3))), readout, bias=0.25),
        ],
        dt=DT,
    )
    g = network_to_nir(net)
    kinds = {type(node).__name__ for node in g.nodes.values()}
    assert "LIF" in kinds and not kinds & {"IF", "CubaLIF"} and (kind is None or kind in kinds)
    if kind is None:
        assert ("w1_d0", "output") in g.edges and g.nodes["w1_d0"].bias[0] == 0.75  # bias + rest
    back = network_from_nir(g)
    assert not back.layers[1].neuron.fires
    events = Events.from_dense((rng.random((20, 2, 6)) < 0.4).astype(np.float32))
    np.testing.assert_allclose(back.run(events).output, net.run(events).output, rtol=0, atol=1e-6)


def test_export_refuses_a_readout_that_feeds_a_layer_and_names_a_tails_node(rng):
    hidden = Layer(Synapses.from_dense(weights(rng, (4, 4))), LIFParams(v_threshold=np.inf))
    with pytest.raises(ValueError, match=r"layers\[0\] is a readout .* feeds layers\[1\]"):
        network_to_nir(Network([hidden, Layer(Synapses.from_dense(weights(rng, (4, 2))))], dt=DT))
    tailed = Layer(Synapses.from_dense(weights(rng, (4, 4))), LIFParams(), tail=2)
    with pytest.raises(ValueError, match=r"layers\[0\] has tail=2 \(NIR node 'lif0'"):
        network_to_nir(Network([tailed], dt=DT))


def test_the_delay_branches_stay_few_and_never_empty(rng):
    """At most one Delay node per distinct delay per layer, and every weight branch holds a synapse."""
    delays = np.where(rng.random((30, 20)) < 0.5, 4, 9)  # two distinct delays
    net = Network([Layer(Synapses.from_dense(weights(rng, (30, 20), 0.3), delays), LIFParams())], dt=DT)
    g = network_to_nir(net)
    assert sorted(k for k in g.nodes if k.startswith("delay")) == ["delay0_d4", "delay0_d9"]
    assert len(g.nodes) == 2 + 2 + 2 + 1  # input, output, 2 Delay, 2 weight nodes, the LIF
    assert all(np.any(n.weight) for n in g.nodes.values() if isinstance(n, (nir.Linear, nir.Affine)))
