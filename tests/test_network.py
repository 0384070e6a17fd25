"""`Network` against a dense time-stepped numpy LIF and against SpikingJelly's LIFNode."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import network_ref

from sdrnet.core import Events, Layer, LIFParams, Network, Synapses

lif_params = st.builds(
    LIFParams,
    tau=st.sampled_from([1.0, 2.0, 4.0, 1.005, 10.0]),
    v_threshold=st.sampled_from([0.5, 1.0, np.inf]),
    v_reset=st.sampled_from([0.0, -0.25, None]),
    decay_input=st.booleans(),
)


def dyadic(rng, n):
    return rng.integers(-12, 16, n) / 8


@st.composite
def networks(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=4))
    layers = []
    for n_pre, n_post in zip(sizes[:-1], sizes[1:]):
        ff = Synapses.random_erdos_renyi(
            n_pre,
            n_post,
            draw(st.sampled_from([0.2, 0.6, 1.0])),
            rng,
            weight=dyadic,
            max_delay=draw(st.sampled_from([None, 0, 3])),
        )
        rec = None
        if draw(st.booleans()):
            rec = Synapses.random_erdos_renyi(
                n_post, n_post, 0.3, rng, weight=dyadic, max_delay=draw(st.sampled_from([None, 2]))
            )
        bias = draw(st.sampled_from([0.0, 0.125, "vector"]))
        if bias == "vector":
            bias = rng.integers(-2, 3, n_post) / 8
        layers.append(Layer(ff, draw(lif_params), rec, bias, draw(st.sampled_from([None, None, 0, 2]))))
    T, B = draw(st.integers(0, 15)), draw(st.integers(1, 3))
    x = np.where(rng.random((T, B, sizes[0])) < 0.3, rng.integers(1, 4, (T, B, sizes[0])) / 2, 0)
    return layers, x.astype(np.float32)


@given(networks(), st.sampled_from([None, 4]))
def test_network_matches_numpy_reference(net_input, n_steps):
    layers, x = net_input
    net = Network(layers)
    res = net.run(Events.from_dense(x), n_steps=n_steps, record="v")
    # the default covers the pipeline: per layer its tail, or else its longest delay
    T = (
        x.shape[0] + sum(lay.tail if lay.tail is not None else lay.synapses.max_delay for lay in layers)
        if n_steps is None
        else n_steps
    )
    spikes, v, v_seq = network_ref(x, layers, T)
    for got, want in zip(res.layer_spikes, spikes):
        np.testing.assert_array_equal(got.to_dense(), want)
    for got, want in zip(res.state.v, v):
        # non-dyadic tau: float32 op order is the same, allow one ulp of drift
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.records["v"][len(layers) - 1], v_seq, rtol=1e-6, atol=1e-6)
    # synaptic operations: every delivery that arrives while its layer runs
    src, end = [x[:T]] + spikes[:-1], x.shape[0]
    for li, layer in enumerate(layers):
        end = T if layer.tail is None else end + layer.tail
        count = landed_ref(src[li], layer.synapses, min(end, T), lag=0)
        if layer.recurrent is not None:
            count += landed_ref(spikes[li], layer.recurrent, min(end, T), lag=1)
        assert res.synops[li] == count


def landed_ref(src: np.ndarray, syn, stop: int, lag: int) -> int:
    """Deliveries of the events of ``src [T, B, n_pre]`` through ``syn`` arriving (``t + lag + d``) before ``stop``."""
    if src.shape[0] == 0:
        return 0
    before = np.cumsum(np.count_nonzero(src, axis=1), axis=0)  # [t, i]: events of unit i at steps <= t
    last = np.minimum(
        stop - lag - syn._delays().astype(np.int64) - 1, src.shape[0] - 1
    )  # the latest step whose delivery lands
    return int(np.where(last >= 0, before[np.maximum(last, 0), syn.pre()], 0).sum())


def test_network_matches_spikingjelly_lifnode():
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    rng = np.random.default_rng(7)
    sizes = [40, 30, 20]
    weights = [rng.integers(-6, 10, (a, b)) / 8 * (rng.random((a, b)) < 0.4) for a, b in zip(sizes, sizes[1:])]
    T, B = 25, 4
    x = (rng.random((T, B, sizes[0])) < 0.2).astype(np.float32)
    for kw in [
        dict(tau=2.0, decay_input=True, v_reset=0.0),
        dict(tau=4.0, decay_input=False, v_reset=None),
        dict(tau=1.5, decay_input=False, v_reset=0.0, v_threshold=0.75),
    ]:
        p = LIFParams(**kw)
        net = Network([Layer(Synapses.from_dense(w), p) for w in weights])
        res = net.run(Events.from_dense(x))
        h = torch.from_numpy(x)
        sj_spikes = []
        for w in weights:
            lin = torch.nn.Linear(w.shape[0], w.shape[1], bias=False)
            lin.weight.data = torch.from_numpy(w.T.astype(np.float32))
            node = neuron.LIFNode(step_mode="m", **kw)
            with torch.no_grad():
                h = node(lin(h))
            sj_spikes.append((h.numpy(), node.v.numpy()))
        for got_s, got_v, (want_s, want_v) in zip(res.layer_spikes, res.state.v, sj_spikes):
            assert want_s.sum() > 0
            np.testing.assert_array_equal(got_s.to_dense(), want_s)
            np.testing.assert_allclose(got_v, want_v, rtol=1e-6, atol=1e-6)


def test_delays_shift_arrival():
    syn = Synapses.from_dense([[1.0]], delay=[[3]])
    net = Network([Layer(syn, LIFParams(tau=2.0, v_threshold=0.5, decay_input=False))])
    res = net.run(Events.from_dense(np.array([[1.0], [0], [0], [0], [0]], np.float32)))
    assert res.spikes.time.tolist() == [3]
    # by default the run lasts until the delayed spike has landed (as propagate's default does) ...
    short = net.run(Events.from_dense(np.array([[1.0], [0]], np.float32)))
    assert short.spikes.time.tolist() == [3] and short.spikes.n_steps == 5 and short.synops.tolist() == [1]
    # ... and a shorter run, asked for, drops it and does not count it
    cut = net.run(Events.from_dense(np.array([[1.0], [0]], np.float32)), n_steps=2)
    assert cut.spikes.n_events == 0 and cut.synops.tolist() == [0]
    assert net.run(Events.from_dense(np.array([[1.0], [0]], np.float32)), n_steps=4).spikes.time.tolist() == [3]


def test_network_errors():
    a, b = Synapses.from_dense(np.ones((3, 4))), Synapses.from_dense(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"layers\[1\].synapses.n_pre \(5\) must equal the size of layers\[0\] \(4\)"):
        Network([Layer(a), Layer(b)])
    with pytest.raises(ValueError, match=r"recurrent must be 4 x 4"):
        Network([Layer(a, recurrent=b)])
    with pytest.raises(ValueError, match=r"bias must be a scalar or have shape \(4,\)"):
        Network([Layer(a, bias=np.zeros(3))])
    with pytest.raises(ValueError, match="tau must be a finite number >= 1"):
        LIFParams(tau=0.5)
    with pytest.raises(ValueError, match="at least one Layer"):
        Network([])
    with pytest.raises(ValueError, match=r"events.n_units \(2\) must equal the network's inputs \(3\)"):
        Network([Layer(a)]).run(Events.from_dense(np.ones((2, 2))))
