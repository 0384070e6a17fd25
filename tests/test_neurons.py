"""Neuron models as data (`sdrnet.core.neurons`): each numpy step against its peer library on the same inputs
(SpikingJelly LIFNode/IFNode, snnTorch Synaptic), seconds and resolve, validation, NIR round trips and Brian2."""

import dataclasses

import numpy as np
import pytest

from sdrnet.core.neurons import (
    Brian2Model,
    CubaLIFParams,
    CubaLIFState,
    IFParams,
    LIFParams,
    LIFState,
    cuba_lif_step,
    if_step,
    lif_step,
    neuron_from_nir,
)

T, B, N = 40, 3, 16


def _inputs(seed: int, mean: float, scale: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, scale, (T, B, N)).astype(np.float32)


def _run(model, x: np.ndarray):
    """The model's numpy step over ``x [T, B, n]``: spikes [T, B, n] and each step's state (stacked per field)."""
    state, spikes, states = None, [], []
    for xt in x:
        s, state = model.step(xt, state)
        spikes.append(s)
        states.append(state)
    return np.stack(spikes), type(state)(*(np.stack(v) for v in zip(*states)))


def _assert_often(spikes: np.ndarray) -> None:
    rate = spikes.mean()
    assert 0.1 < rate < 0.9, f"spike rate {rate:.2f}: the inputs do not exercise both firing and not firing"


LIF_CASES = [
    dict(tau=2.0, decay_input=True, v_reset=0.0),
    dict(tau=3.7, decay_input=True, v_reset=None),
    dict(tau=4.0, decay_input=False, v_reset=0.0),
    dict(tau=2.5, decay_input=False, v_reset=None),
    dict(tau=3.0, decay_input=True, v_reset=-0.3, v_threshold=0.8),
]


@pytest.mark.parametrize("kw", LIF_CASES)
def test_lif_matches_spikingjelly_lifnode(kw):
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    x = _inputs(1, 1.4 if kw["decay_input"] else 0.5, 1.0)
    spikes, state = _run(LIFParams(**kw), x)
    node = neuron.LIFNode(step_mode="m", store_v_seq=True, **kw)
    with torch.no_grad():
        want = node(torch.from_numpy(x)).numpy()
    _assert_often(want)
    np.testing.assert_array_equal(spikes, want)
    np.testing.assert_array_equal(state.v, node.v_seq.numpy())  # bit for bit: same float32 operations


@pytest.mark.parametrize("v_reset", [0.0, None, 0.25])
def test_if_matches_spikingjelly_ifnode(v_reset):
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    x = _inputs(2, 0.35, 0.6)
    spikes, state = _run(IFParams(v_threshold=1.0, v_reset=v_reset), x)
    node = neuron.IFNode(v_threshold=1.0, v_reset=v_reset, step_mode="m", store_v_seq=True)
    with torch.no_grad():
        want = node(torch.from_numpy(x)).numpy()
    _assert_often(want)
    np.testing.assert_array_equal(spikes, want)
    np.testing.assert_array_equal(state.v, node.v_seq.numpy())


@pytest.mark.parametrize("reset_delay", [True, False])
@pytest.mark.parametrize("mechanism", ["subtract", "zero", "none"])
def test_cuba_lif_matches_snntorch_synaptic(mechanism, reset_delay):
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    alpha, beta, thr = 0.8, 0.7, 1.25
    x = _inputs(3, 0.12, 0.35)
    spikes, state = _run(CubaLIFParams(alpha, beta, thr, mechanism, reset_delay), x)
    lif = snn.Synaptic(alpha=alpha, beta=beta, threshold=thr, reset_mechanism=mechanism, reset_delay=reset_delay)
    syn = mem = torch.zeros(B, N)
    want = []
    with torch.no_grad():
        for t, xt in enumerate(torch.from_numpy(x)):
            spk, syn, mem = lif(xt, syn, mem)
            want.append(spk.numpy())
            np.testing.assert_array_equal(state.v[t], mem.numpy(), err_msg=f"mem at step {t}")
            np.testing.assert_array_equal(state.i[t], syn.numpy(), err_msg=f"syn at step {t}")
    if mechanism != "none":
        _assert_often(np.stack(want))
    np.testing.assert_array_equal(spikes, np.stack(want))


def test_cuba_lif_spikes_strictly_above_threshold_and_resets_a_step_later():
    p = CubaLIFParams(alpha=0.0, beta=0.0, v_threshold=1.0, reset_mechanism="zero")
    one = np.ones((1, 1), np.float32)
    s, st = cuba_lif_step(one, None, p)  # v = 1.0 lands on the threshold: no spike (snnTorch's Heaviside is >)
    assert s.item() == 0.0 and st.v.item() == 1.0
    s, st = cuba_lif_step(2 * one, st, p)  # above: spike, and v keeps its value this step (reset_delay)
    assert s.item() == 1.0 and st.v.item() == 2.0
    s, st = cuba_lif_step(2 * one, st, p)  # the reset of the last spike zeroes this step's v
    assert s.item() == 0.0 and st.v.item() == 0.0 and st.i.item() == 2.0


def test_functional_steps_take_batches_and_check_inputs():
    x = np.full((2, 3), 0.6, np.float32)
    s, st = lif_step(x, None, LIFParams(tau=2.0, decay_input=False))
    assert isinstance(st, LIFState) and st.v.shape == (2, 3) and s.dtype == np.float32
    s, st = if_step(x, None, IFParams())
    s, st = if_step(x, st, IFParams())  # 0.6 + 0.6 >= 1
    assert s.tolist() == [[1.0] * 3] * 2 and np.all(st.v == 0)
    with pytest.raises(TypeError, match="x must be a float32"):
        lif_step(x.astype(np.float64), None, LIFParams())
    with pytest.raises(ValueError, match="state.v must be a float32 array of x's shape"):
        lif_step(x, LIFState(np.zeros(3, np.float32)), LIFParams())
    with pytest.raises(TypeError, match="params must be a CubaLIFParams"):
        cuba_lif_step(x, None, LIFParams())
    with pytest.raises(TypeError, match="state must be a CubaLIFState"):
        cuba_lif_step(x, (x,), CubaLIFParams(0.5, 0.5))
    assert isinstance(cuba_lif_step(x, None, CubaLIFParams(0.5, 0.5))[1], CubaLIFState)


def test_interface_constants_and_state():
    p = CubaLIFParams(0.9, 0.8, 1.5, "zero", False)
    assert (LIFParams.code, IFParams.code, CubaLIFParams.code) == (0, 1, 2)
    assert p.state_vars == ("v", "i") and LIFParams.state_vars == IFParams.state_vars == ("v",)
    np.testing.assert_array_equal(p.kernel_constants(), np.float32([0.9, 1.5, 0.8, 1, 0, 0, 0, 0]))
    np.testing.assert_array_equal(IFParams(0.5, None).kernel_constants(), np.float32([0, 0.5, 0, 1, 0, 0, 0, 0]))
    np.testing.assert_array_equal(
        LIFParams(3.0, 2.0, -1.0, False).kernel_constants(), np.float32([3, 2, -1, 0, 0, 0, 0, 0])
    )
    assert LIFParams(v_reset=-0.5).init_state(4).tolist() == [[-0.5] * 4]
    assert p.init_state(2).dtype == np.float32 and p.init_state(2).shape == (2, 2)
    assert not LIFParams(v_threshold=np.inf).fires and CubaLIFParams(0.5, 0.5).fires


# ---------------------------------------------------------------------------------------------- physical time


def test_models_in_seconds_resolve_to_steps():
    assert LIFParams(tau_s=0.02, decay_input=False).resolve(1e-3) == LIFParams(tau=20.0, decay_input=False)
    assert LIFParams(tau_s=0.02).resolve(1e-2).tau == 2.0
    assert CubaLIFParams(tau_syn_s=0.01, tau_mem_s=0.004).resolve(1e-3) == CubaLIFParams(alpha=0.9, beta=0.75)
    assert CubaLIFParams(alpha=0.5, tau_mem_s=np.inf).resolve(1e-3) == CubaLIFParams(0.5, 1.0)
    steps = LIFParams(tau=5.0)
    assert steps.resolve(None) is steps and steps.resolve(1e-3) is steps and IFParams().resolve(None) == IFParams()
    assert LIFParams() == LIFParams(tau=2.0) and LIFParams(3.0).tau == 3.0  # defaults and positional tau kept
    with pytest.raises(ValueError, match="given in seconds.*dt"):
        LIFParams(tau_s=0.02).resolve(None)
    with pytest.raises(ValueError, match="resolve"):
        LIFParams(tau_s=0.02).step(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="tau_s = 0.0005 s is 0.5 steps"):
        LIFParams(tau_s=5e-4).resolve(1e-3)
    with pytest.raises(ValueError, match="dt must be a positive"):
        LIFParams(tau_s=0.02).resolve(-1.0)


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda: LIFParams(tau=2.0, tau_s=0.02), ValueError, "tau .* or tau_s .*not both"),
        (lambda: LIFParams(tau=0.5), ValueError, "tau must be a finite number >= 1"),
        (lambda: LIFParams(tau_s=-1.0), ValueError, "tau_s must be a positive finite"),
        (lambda: LIFParams(tau_s="1"), TypeError, "tau_s must be a real number"),
        (lambda: LIFParams(v_threshold=np.nan), ValueError, "v_threshold must not be NaN"),
        (lambda: LIFParams(decay_input=1), TypeError, "decay_input must be a bool"),
        (lambda: IFParams(v_reset=np.inf), ValueError, "v_reset must be finite or None"),
        (lambda: IFParams(v_threshold="1"), TypeError, "v_threshold must be a real number"),
        (lambda: CubaLIFParams(beta=0.5), ValueError, "alpha .*or tau_syn_s"),
        (lambda: CubaLIFParams(0.5, 0.5, tau_syn_s=0.01), ValueError, "alpha .*or tau_syn_s"),
        (lambda: CubaLIFParams(1.5, 0.5), ValueError, r"alpha must lie in \[0, 1\]"),
        (lambda: CubaLIFParams(0.5, -0.1), ValueError, r"beta must lie in \[0, 1\]"),
        (lambda: CubaLIFParams(0.5, 0.5, reset_mechanism="soft"), ValueError, "reset_mechanism must be one of"),
        (lambda: CubaLIFParams(0.5, 0.5, reset_delay="yes"), TypeError, "reset_delay must be a bool"),
        (lambda: CubaLIFParams(0.5, tau_mem_s=0.0), ValueError, "tau_mem_s must be a positive"),
        (
            lambda: CubaLIFParams(tau_syn_s=1e-4, beta=0.5).resolve(1e-3),
            ValueError,
            "tau_syn_s = 0.0001 s is 0.1 steps",
        ),
    ],
)
def test_validation_names_the_argument(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# ---------------------------------------------------------------------------------------------- NIR

NIR_MODELS = [
    LIFParams(tau=20.0, v_threshold=0.7, v_reset=-0.1, decay_input=True),
    LIFParams(tau=4.0, decay_input=False),
    LIFParams(tau=3.0, v_threshold=np.inf),
    IFParams(v_threshold=1.5, v_reset=0.2),
    CubaLIFParams(0.9, 0.8, 1.1, "zero", False),
    CubaLIFParams(0.35, 0.05, 2.0, "zero", False),
]


@pytest.mark.parametrize("model", NIR_MODELS)
@pytest.mark.parametrize("dt", [1e-3, 1e-2, 1e-4])
def test_nir_round_trip(model, dt):
    pytest.importorskip("nir")
    node = model.to_nir(5, dt)
    assert node.input_type["input"].tolist() == [5]
    assert type(model).from_nir(node, dt) == model and neuron_from_nir(node, dt) == model


def test_nir_fields_carry_seconds():
    pytest.importorskip("nir")
    lif = LIFParams(tau=10.0, decay_input=False).to_nir(2, 1e-2)
    np.testing.assert_allclose(lif.tau, 0.1) and np.testing.assert_allclose(lif.r, 10.0)
    assert LIFParams(tau_s=0.1, decay_input=False).to_nir(2, 1e-2).tau.tolist() == lif.tau.tolist()
    cuba = CubaLIFParams(tau_syn_s=0.01, tau_mem_s=0.02, reset_mechanism="zero", reset_delay=False).to_nir(1, 1e-3)
    # snnTorch's export_nir: tau = dt / (1 - decay), r = tau_mem / dt, w_in = tau_syn / dt
    np.testing.assert_allclose([cuba.tau_syn[0], cuba.tau_mem[0], cuba.r[0], cuba.w_in[0]], [0.01, 0.02, 20, 10])
    np.testing.assert_allclose(IFParams().to_nir(1, 1e-3).r, [1000.0])


def test_nir_refuses_what_it_cannot_express():
    nir = pytest.importorskip("nir")
    with pytest.raises(ValueError, match="soft reset"):
        LIFParams(v_reset=None).to_nir(2, 1e-3)
    with pytest.raises(ValueError, match="soft reset"):
        IFParams(v_reset=None).to_nir(2, 1e-3)
    with pytest.raises(ValueError, match="only reset_mechanism='zero' with reset_delay=False"):
        CubaLIFParams(0.5, 0.5).to_nir(2, 1e-3)
    with pytest.raises(ValueError, match="dt .*required"):
        LIFParams().to_nir(2, None)
    with pytest.raises(ValueError, match="r must be 1/dt"):
        IFParams.from_nir(IFParams().to_nir(2, 1e-3), 1e-2)
    node = CubaLIFParams(0.9, 0.8, reset_mechanism="zero", reset_delay=False).to_nir(2, 1e-3)
    with pytest.raises(ValueError, match="w_in must be"):
        CubaLIFParams.from_nir(dataclasses.replace(node, w_in=np.ones(2)), 1e-3)
    with pytest.raises(ValueError, match="tau must be the same for every neuron"):
        LIFParams.from_nir(dataclasses.replace(LIFParams().to_nir(2, 1e-3), tau=np.array([1e-3, 2e-3])), 1e-3)
    with pytest.raises(TypeError, match="must be a nir.LIF"):
        LIFParams.from_nir(node, 1e-3)
    with pytest.raises(TypeError, match="expected a nir.LIF, nir.IF or nir.CubaLIF"):
        neuron_from_nir(nir.Linear(weight=np.eye(2)), 1e-3)


# ---------------------------------------------------------------------------------------------- Brian2


def test_brian2_keeps_the_delay_snn_equation():
    m = LIFParams(tau=5.0, v_threshold=0.8, decay_input=False).brian2()
    assert isinstance(m, Brian2Model)
    assert m.update == (("v", "v - v / tau + I + b"),) and m.threshold == "v >= v_th" and m.reset == "v = 0"
    assert m.namespace == {"tau": 5.0, "v_th": 0.8} and m.equations == "v : 1\nI : 1\nb : 1 (constant)"
    live = "(t >= start and t < stop)"
    assert m.code(live) == f"v = int({live}) * (v - v / tau + I + b) + (1 - int({live})) * v\nI = 0"


def _brian2_run(model, x: np.ndarray, bias: np.ndarray):
    """``model`` over ``x [T, n]`` in Brian2 (float32, numpy target): spikes [T, n] and v [T, n]."""
    b2 = pytest.importorskip("brian2")
    b2.start_scope()
    b2.prefs.codegen.target = "numpy"
    b2.prefs.core.default_float_dtype = np.float32
    try:
        b2.defaultclock.dt = 1 * b2.ms
        g = model.brian2().group(b2, x.shape[1], namespace={"x_in": b2.TimedArray(x, dt=1 * b2.ms)})
        g.run_regularly("I = x_in(t, i)", when="start")
        g.b = bias
        spikes, v_mon = b2.SpikeMonitor(g), b2.StateMonitor(g, "v", record=True, when="end")
        b2.run(x.shape[0] * b2.ms)
        out = np.zeros(x.shape, np.float32)
        out[np.rint(np.asarray(spikes.t / b2.ms)).astype(int), np.asarray(spikes.i)] = 1
        return out, np.asarray(v_mon.v).T
    finally:
        b2.prefs.core.default_float_dtype = np.float64


@pytest.mark.parametrize(
    "model, mean",
    [
        (CubaLIFParams(0.8, 0.7, 1.25, "subtract"), 0.1),
        (CubaLIFParams(0.6, 0.5, 1.0, "zero", False), 0.25),
        (LIFParams(tau=3.0, v_reset=None), 1.2),
        (IFParams(v_reset=-0.2), 0.3),
    ],
)
def test_brian2_runs_the_numpy_step(model, mean):
    x = np.random.default_rng(4).normal(mean, 0.4, (30, 4)).astype(np.float32)
    bias = np.float32([0.0, 0.05, -0.05, 0.1])
    spikes, state = _run(model, (x + bias)[:, None, :])
    got_spikes, got_v = _brian2_run(model, x, bias)
    _assert_often(spikes)
    np.testing.assert_array_equal(got_spikes, spikes[:, 0])
    # Brian2 rewrites the expressions (sympy) and holds its constants in float64: the potentials agree to
    # float32 rounding, not bit for bit
    np.testing.assert_allclose(got_v, state.v[:, 0], rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------- the kernel

KERNEL_MODELS = (
    [LIFParams(**kw) for kw in LIF_CASES]
    + [IFParams(1.0, v) for v in (0.0, None, 0.25)]
    + [CubaLIFParams(0.8, 0.7, 1.25, m, d) for m in ("subtract", "zero", "none") for d in (True, False)]
)


@pytest.mark.parametrize("model", KERNEL_MODELS, ids=repr)
def test_kernel_neuron_step_is_the_numpy_step(model):
    from sdrnet.core import kernels

    mean = {LIFParams: 1.0, IFParams: 0.35, CubaLIFParams: 0.12}[type(model)]
    x = _inputs(5, mean, 0.8)[:, 0]  # [T, n]
    bias = np.linspace(-0.2, 0.2, N).astype(np.float32)
    spikes, state = _run(model, x + bias)
    st, fired = model.init_state(N), np.zeros(N, np.bool_)
    for t in range(T):
        cur = x[t].copy()
        n = kernels.neuron_step(model.code, model.kernel_constants(), cur, bias, st, fired)
        assert n == fired.sum() and not cur.any()  # the consumed ring slot is zeroed
        np.testing.assert_array_equal(fired, spikes[t] > 0, err_msg=f"spikes at step {t}")
        for row, name in enumerate(model.state_vars):
            np.testing.assert_array_equal(st[row], getattr(state, name)[t], err_msg=f"{name} at step {t}")


def _dyadic_layer(rng, n_pre: int, n: int, max_delay: int):
    """Weights k/8 (sums exact in float32 in any order) and delays in [0, max_delay]: the dense matrices per delay."""
    w = rng.integers(-4, 10, (n, n_pre)) / 8 * (rng.random((n, n_pre)) < 0.5)
    d = rng.integers(0, max_delay + 1, (n, n_pre))
    return w.astype(np.float32), d


@pytest.mark.parametrize("max_delay", [0, 3])
@pytest.mark.parametrize("peer", ["if_hard", "if_soft", "cuba_subtract", "cuba_zero_now"])
def test_network_matches_peer_neurons(peer, max_delay):
    """A one-layer `Network` of IF (SpikingJelly IFNode) or CubaLIF (snnTorch Synaptic) neurons gives the peer's
    spikes and states; the peer's input current is ``Σ_d W_d x[t - d]`` (delays as shifted matrices)."""
    torch = pytest.importorskip("torch")
    from sdrnet.core import Events, Layer, Network, Synapses

    rng = np.random.default_rng(11)
    n_pre, n, steps, batch = 24, 12, 20, 3
    w, d = _dyadic_layer(rng, n_pre, n, max_delay)
    x = (rng.random((steps, batch, n_pre)) < 0.3).astype(np.float32)
    model = {
        "if_hard": IFParams(1.0, 0.0),
        "if_soft": IFParams(1.5, None),
        "cuba_subtract": CubaLIFParams(0.75, 0.5, 2.0, "subtract"),
        "cuba_zero_now": CubaLIFParams(0.5, 0.875, 2.5, "zero", False),
    }[peer]
    syn = Synapses.from_dense(w.T, delay=d.T if max_delay else None)
    res = Network([Layer(syn, model)]).run(Events.from_dense(x))
    total = steps + max_delay
    xin = np.zeros((total, batch, n_pre), np.float32)
    xin[:steps] = x
    cur = np.zeros((total, batch, n), np.float32)
    for k in range(max_delay + 1):
        cur[k:] += xin[: total - k] @ np.where(d == k, w, 0).T
    with torch.no_grad():
        if peer.startswith("if"):
            neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
            node = neuron.IFNode(v_threshold=model.v_threshold, v_reset=model.v_reset, step_mode="m")
            want, want_state = node(torch.from_numpy(cur)).numpy(), [node.v.numpy()]
        else:
            snn = pytest.importorskip("snntorch")
            lif = snn.Synaptic(
                alpha=model.alpha,
                beta=model.beta,
                threshold=model.v_threshold,
                reset_mechanism=model.reset_mechanism,
                reset_delay=model.reset_delay,
            )
            syn_t = mem = torch.zeros(batch, n)
            want = []
            for ct in torch.from_numpy(cur):
                spk, syn_t, mem = lif(ct, syn_t, mem)
                want.append(spk.numpy())
            want, want_state = np.stack(want), [mem.numpy(), syn_t.numpy()]
    _assert_often(want)
    assert res.output.shape == want.shape
    np.testing.assert_array_equal(res.output, want)
    for got, expected in zip(res.state.neurons[0], want_state):
        np.testing.assert_array_equal(got, expected)


def test_a_cuba_lif_readout_integrates_without_nan():
    """θ = ∞ (a readout): no spike, no reset, v = β·v + i — not 0·∞ = NaN from the subtract reset."""
    from sdrnet.core import Events, Layer, Network, Synapses

    x = np.array([[1.0], [0.5], [0.0], [0.25]], np.float32)
    for delayed in (True, False):
        p = CubaLIFParams(alpha=0.5, beta=0.75, v_threshold=np.inf, reset_mechanism="subtract", reset_delay=delayed)
        state, v, i = None, np.float32(0), np.float32(0)
        for t in range(4):
            s, state = cuba_lif_step(x[t : t + 1], state, p)
            i = np.float32(0.5) * i + x[t, 0]
            v = np.float32(0.75) * v + i
            assert s[0, 0] == 0 and state.v[0, 0] == v
        net = Network([Layer(Synapses.from_dense([[1.0]]), p)])
        out = net.run(Events.from_dense(x[:, None, :])).output
        assert np.isfinite(out).all() and out[-1, 0, 0] == v
