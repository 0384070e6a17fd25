"""State and stepping: a long input cut in chunks and run with `Network.run(..., state=)` equals one run."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_network import networks

from sdrnet.core import Events, Layer, LIFParams, Network, NetworkState, Synapses


def run_in_chunks(net: Network, x: np.ndarray, cuts: list[int]):
    """Spikes per layer ``[T', B, n]``, v per layer ``[T', B, n]``, synops and the final state of ``x`` run chunk
    by chunk (cut at ``cuts``) and then drained for ``net.latency`` steps."""
    state = net.init_state(x.shape[1])
    spikes, vs, synops = [[] for _ in net.layers], [[] for _ in net.layers], 0
    bounds = [0, *cuts, x.shape[0]]
    chunks = [Events.from_dense(x[a:b]) for a, b in zip(bounds, bounds[1:])]
    drain = Events.from_dense(np.zeros((0, *x.shape[1:]), np.float32))
    for i, chunk in enumerate([*chunks, drain]):
        res = net.run(chunk, state=state, n_steps=net.latency if i == len(chunks) else None, record="v")
        assert res.state.t == state.t + res.spikes.n_steps
        state = res.state
        synops = synops + res.synops
        for layer, (s, v) in enumerate(zip(res.layer_spikes, res.records["v"].values())):
            spikes[layer].append(s.to_dense())
            vs[layer].append(v)
    return [np.concatenate(s) for s in spikes], [np.concatenate(v) for v in vs], synops, state


@given(networks(), st.data())
def test_a_long_input_in_chunks_equals_one_run(net_input, data):
    layers, x = net_input
    net = Network(layers)
    cuts = sorted(data.draw(st.lists(st.integers(0, x.shape[0]), max_size=4)))
    whole = net.run(Events.from_dense(x), record="v")
    spikes, vs, synops, state = run_in_chunks(net, x, cuts)
    for got, want in zip(spikes, whole.layer_spikes):
        np.testing.assert_array_equal(got, want.to_dense())
    for got, want in zip(vs, whole.records["v"].values()):
        np.testing.assert_array_equal(got, want)  # bit for bit: the same sums in the same order
    np.testing.assert_array_equal(synops, whole.synops)
    for got, want in zip(state.v, whole.state.v):
        np.testing.assert_array_equal(got, want)


def test_one_step_at_a_time_with_long_delays_and_recurrence():
    rng = np.random.default_rng(3)
    ff = Synapses.random_erdos_renyi(6, 12, 0.5, rng, weight=lambda r, n: r.normal(0.4, 0.3, n), max_delay=9)
    rec = Synapses.random_erdos_renyi(12, 12, 0.3, rng, weight=lambda r, n: r.normal(0.0, 0.4, n), max_delay=5)
    net = Network([Layer(ff, LIFParams(tau=3.0, decay_input=False), rec)])
    x = (rng.random((40, 2, 6)) < 0.3).astype(np.float32)
    whole = net.run(Events.from_dense(x), n_steps=40)
    spikes, _, synops, _ = run_in_chunks(net, x, list(range(1, 40)))
    assert whole.spikes.n_events > 20
    np.testing.assert_array_equal(spikes[0][:40], whole.spikes.to_dense())


def test_state_must_fit_the_network():
    net = Network([Layer(Synapses.from_dense(np.eye(3, dtype=np.float32)))])
    events = Events.from_dense(np.ones((2, 4, 3), np.float32))
    with pytest.raises(TypeError, match="state must be a NetworkState"):
        net.run(events, state=[np.zeros((4, 3))])
    with pytest.raises(ValueError, match="state does not fit this network with 4 samples"):
        net.run(events, state=net.init_state(2))
    assert isinstance(net.init_state(4), NetworkState)


def test_record_the_potential_of_any_layer():
    rng = np.random.default_rng(5)
    a = Synapses.random_erdos_renyi(5, 7, 0.6, rng, weight=lambda r, n: r.normal(0.5, 0.5, n), max_delay=2)
    b = Synapses.random_erdos_renyi(7, 3, 0.6, rng, weight=lambda r, n: r.normal(0.5, 0.5, n))
    net = Network([Layer(a), Layer(b)])
    events = Events.from_dense((rng.random((10, 2, 5)) < 0.4).astype(np.float32))
    both = net.run(events, record="v")
    first = net.run(events, record={"v": [0]})
    assert set(first.records["v"]) == {0} and set(both.records["v"]) == {0, 1}
    np.testing.assert_array_equal(first.records["v"][0], both.records["v"][0])
    np.testing.assert_array_equal(both.records["v"][0][-1], both.state.v[0])  # the last step is the final state
    assert net.run(events).records == {}
    with pytest.raises(ValueError, match="record can ask for 'v'"):
        net.run(events, record="spikes")
    with pytest.raises(ValueError, match="layer"):
        net.run(events, record={"v": [2]})


def test_window_is_a_slice_of_the_dense_steps():
    rng = np.random.default_rng(0)
    x = np.where(rng.random((12, 3, 5)) < 0.3, rng.integers(1, 4, (12, 3, 5)), 0).astype(np.float32)
    events = Events.from_dense(x, dt=0.01)
    for start, stop in [(0, 12), (3, 7), (5, 5), (11, 12)]:
        w = events.window(start, stop)
        assert w.n_steps == stop - start and w.dt == 0.01 and w.n_samples == 3
        np.testing.assert_array_equal(w.to_dense(), x[start:stop])
    with pytest.raises(ValueError, match="stop must be >= 4"):
        events.window(4, 2)
    with pytest.raises(ValueError, match="start must be <= 12"):
        events.window(13, 14)


@given(networks())
def test_without_output_the_run_is_the_same(net_input):
    """``output=False`` skips only the dense output: spikes, potentials, synops and state are the same bits."""
    layers, x = net_input
    net = Network(layers)
    events = Events.from_dense(x)
    full, lean = net.run(events, record="v"), net.run(events, record="v", output=False)
    assert lean.output is None and full.output is not None
    bare = net.run(events, output=False)  # no potential recorded at all, a readout's included
    assert bare.records == {}
    for got, want in zip(bare.state.v, full.state.v):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(lean.layer_spikes, full.layer_spikes):
        np.testing.assert_array_equal(got.to_dense(), want.to_dense())
    for got, want in zip(lean.records["v"].values(), full.records["v"].values()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(lean.synops, full.synops)
    for got, want in zip(lean.state.v, full.state.v):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TypeError, match="output must be a bool"):
        net.run(events, output=1)
