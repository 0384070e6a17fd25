"""Delta activation layers (Yousefzadeh & Sifalakis 2021) against closed forms and plain-numpy loops; the metrics
against the neurobench package itself; event-driven inference on the core against the dense forward pass."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from snn.delta import (
    Accumulate,
    DeltaActivation,
    EventDrivenNet,
    ThresholdDelta,
    TimeDistributed,
    activation_sparsity,
    clip_cnn,
    conv2d_to_synapses,
    delta_layers,
    delta_penalty,
    experiment,
    insert_delta,
    moving_digit_clips,
    quantize,
    sigma_delta,
    synaptic_operations,
    temporal_delta,
    temporal_sparsity,
)

torch.set_num_threads(1)


def small_cnn(seed=0, size=8):
    return clip_cnn(size=size, channels=(3, 4), hidden=6, n_classes=5, seed=seed)


def clips(seed=0, T=5, B=4, size=8):
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, B, 1, size, size, generator=g)
    drift = 0.3 * torch.randn(T, B, 1, size, size, generator=g).cumsum(0)
    return base + drift * (torch.rand(T, B, 1, size, size, generator=g) < 0.3)


# ---------------------------------------------------------------------------------------------- layers
def test_quantize_forward_and_straight_through_gradient_match_closed_form():
    x = torch.tensor([-0.74, -0.2, 0.0, 0.12, 0.26, 0.9, 1.37], dtype=torch.float64, requires_grad=True)
    theta = torch.tensor(0.25, dtype=torch.float64, requires_grad=True)
    q = quantize(x, theta)
    np.testing.assert_allclose(q.detach(), 0.25 * np.round(x.detach().numpy() / 0.25), atol=0)
    w = torch.arange(1.0, 8.0, dtype=torch.float64)
    (q * w).sum().backward()
    np.testing.assert_allclose(x.grad, w)  # ∂q/∂x = 1
    ratio = x.detach().numpy() / 0.25
    np.testing.assert_allclose(theta.grad, np.sum(w.numpy() * (np.round(ratio) - ratio)), rtol=1e-12)


@torch.no_grad()
def test_deltas_sum_back_to_quantised_values_and_layer_modes_agree():
    x = torch.randn(7, 3, 5, 2)
    values = DeltaActivation(0.3)(x)
    deltas = DeltaActivation(0.3, output="deltas")(x)
    np.testing.assert_allclose(values, 0.3 * np.round(x.numpy() / 0.3), atol=1e-6)
    np.testing.assert_allclose(torch.cumsum(deltas, 0), values, atol=1e-5)
    np.testing.assert_allclose(deltas[0], values[0])
    np.testing.assert_allclose(temporal_delta(values)[1:], np.diff(values.numpy(), axis=0), atol=1e-6)


@torch.no_grad()
def test_per_channel_thresholds_quantise_each_channel_with_its_own_step():
    x = torch.randn(4, 2, 3, 5)
    layer = DeltaActivation([0.1, 0.5, 1.0], per="channel", channels=3)
    expected = np.array([0.1, 0.5, 1.0])[None, None, :, None]
    np.testing.assert_allclose(layer(x), expected * np.round(x.numpy() / expected), atol=1e-6)


def threshold_delta_numpy(x, theta):
    """Delta Networks (Neil et al. 2017): send x − x̂ where |x − x̂| ≥ θ, move x̂ only there (plain loop)."""
    x_hat, sent = np.zeros_like(x[0]), np.zeros_like(x)
    for t in range(x.shape[0]):
        for i in np.ndindex(x.shape[1:]):
            change = x[t][i] - x_hat[i]
            if abs(change) >= theta:
                sent[t][i] = change
                x_hat[i] += change
    return sent


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_delta_matches_numpy_loop_and_never_drifts(seed):
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 0.2, (30, 2, 6)), axis=0).astype(np.float32)  # a slow random walk
    theta = 0.35
    sent = threshold_delta_numpy(x, theta)
    deltas = ThresholdDelta(theta, output="deltas")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(deltas, sent, atol=1e-6)
    x_hat = ThresholdDelta(theta)(torch.from_numpy(x)).numpy()
    assert np.all(np.abs(x - x_hat) < theta)  # the residual never grows past θ, at every step
    assert (deltas != 0).mean() < 0.8  # and it is sparse in time


def test_threshold_delta_gradient_is_straight_through():
    x = torch.randn(5, 2, 3, requires_grad=True)
    ThresholdDelta(0.5)(x).sum().backward()
    np.testing.assert_allclose(x.grad, np.ones((5, 2, 3)))


def test_penalty_is_fan_out_weighted_mean_abs_delta_by_hand():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    net = insert_delta(model, 0.2)
    x = torch.randn(6, 5, 3)
    net.train()
    net(x)
    first, second = delta_layers(net)
    assert (first.fan_out, second.fan_out) == (4, 2)  # out_features of the Linear each one feeds
    q0 = 0.2 * torch.round(x / 0.2)
    q1 = 0.2 * torch.round(torch.relu(net[1](q0)) / 0.2)
    by_hand = (
        4 * torch.cat([q0[:1], q0.diff(dim=0)]).abs().mean() + 2 * torch.cat([q1[:1], q1.diff(dim=0)]).abs().mean()
    )
    np.testing.assert_allclose(float(delta_penalty(net).detach()), float(by_hand.detach()), rtol=1e-6)


def test_insert_delta_places_a_layer_after_every_relu_and_on_the_input():
    model = small_cnn()
    net = insert_delta(model, 1e-6)
    kinds = [type(m).__name__ for m in net]
    assert kinds == [
        "DeltaActivation",
        "TimeDistributed",
        "ReLU",
        "DeltaActivation",
        "TimeDistributed",
        "ReLU",
        "DeltaActivation",
        "Flatten",
        "Linear",
        "ReLU",
        "DeltaActivation",
        "Linear",
    ]
    assert [m.fan_out for m in delta_layers(net)] == [3 * 9, 4 * 9, 6, 5]  # filters·k·k, out_features
    x = clips()
    with torch.no_grad():
        np.testing.assert_allclose(net(x), model(x), atol=1e-4)  # tiny θ: the same network
    assert all(p1 is not p2 for p1, p2 in zip(net.parameters(), model.parameters()))  # a copy
    per_channel = insert_delta(model, 0.1, per="channel")
    assert [m.threshold.numel() for m in delta_layers(per_channel)] == [1, 3, 4, 6]


def test_sigma_delta_form_feeds_deltas_and_equals_the_values_form():
    net = insert_delta(small_cnn(), 0.1)
    sd = sigma_delta(net)
    assert sum(isinstance(m, Accumulate) for m in sd) == 4
    x = clips()
    with torch.no_grad():
        np.testing.assert_allclose(sd(x), net(x), atol=1e-4)
    assert temporal_sparsity(sd, x) == pytest.approx(temporal_sparsity(net, x))


# ---------------------------------------------------------------------------------------------- metrics
class BatchFirst(nn.Module):
    """NeuroBench feeds [B, T, ...]; our models are time-major."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.transpose(0, 1)).mean(0)


def neurobench_run(net, x, extra_activation=None):
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations
    from neurobench.models import TorchModel
    from torch.utils.data import DataLoader, TensorDataset

    data = TensorDataset(x.transpose(0, 1), torch.zeros(x.shape[1], dtype=torch.long))
    model = TorchModel(BatchFirst(net))
    if extra_activation is not None:
        model.add_activation_module(extra_activation)
    bench = Benchmark(
        model, DataLoader(data, batch_size=x.shape[1]), [], [], [[], [ActivationSparsity, SynapticOperations]]
    )
    return bench.run(quiet=True)


def test_metrics_match_neurobench_on_the_same_model_and_data():
    x = clips(seed=3, B=6)
    plain = small_cnn(seed=1)
    nb = neurobench_run(plain, x)
    ours = synaptic_operations(plain, x)
    assert activation_sparsity(plain, x) == pytest.approx(nb["ActivationSparsity"], abs=1e-12)
    assert ours == pytest.approx(nb["SynapticOperations"], rel=1e-12)
    assert 0 < ours["Effective_MACs"] < ours["Dense"]

    sd = sigma_delta(insert_delta(plain, 0.2))  # every Linear/Conv receives Δ
    nb = neurobench_run(sd, x, extra_activation=DeltaActivation)
    assert synaptic_operations(sd, x) == pytest.approx(nb["SynapticOperations"], rel=1e-12)
    assert activation_sparsity(sd, x, (nn.ReLU, nn.Sigmoid, DeltaActivation)) == pytest.approx(
        nb["ActivationSparsity"], abs=1e-12
    )


def test_synaptic_operations_counts_binary_inputs_as_accumulates():
    net = nn.Sequential(nn.Linear(4, 3))
    x = torch.tensor([[[1.0, 0.0, -1.0, 1.0]], [[0.0, 0.0, 0.0, 1.0]]])  # [T=2, B=1, 4]
    with torch.no_grad():
        net[0].weight[0, 0] = 0.0
    ops = synaptic_operations(net, x)
    assert ops == {"Effective_MACs": 0.0, "Effective_ACs": (3 * 3 - 1) + 3, "Dense": 2 * 12}


class TupleLeaky(nn.Module):
    """snnTorch's output convention (``Leaky(output=True)`` returns ``(spk, mem)``) in a few lines."""

    def __init__(self, beta=0.8):
        super().__init__()
        self.beta, self.mem = beta, None

    def reset_mem(self):
        self.mem = None

    def forward(self, x):
        self.mem = x if self.mem is None else self.beta * self.mem + x
        spk = (self.mem > 1.0).float()
        self.mem = self.mem - spk
        return spk, self.mem


class SteppedNet(nn.Module):
    """Time-major ``[T, B, C]``: a Linear and a spiking (or recurrent) module stepped through time."""

    def __init__(self, fc, cell, state=None):
        super().__init__()
        self.fc, self.cell, self.state = fc, cell, state

    def forward(self, x):
        if hasattr(self.cell, "reset_mem"):
            self.cell.reset_mem()
        state, out = self.state, []
        for x_t in x:
            y = self.cell(self.fc(x_t)) if state is None else self.cell(self.fc(x_t), state)
            if isinstance(self.cell, nn.RNNCellBase):
                state = y
                y = y[0] if isinstance(y, tuple) else y
            out.append(y[0] if isinstance(y, tuple) else y)
        return torch.stack(out)


def test_tuple_outputs_count_their_spikes():
    torch.manual_seed(0)
    net = SteppedNet(nn.Linear(6, 8), TupleLeaky())
    x = torch.rand(5, 3, 6) * 3
    with torch.no_grad():
        spikes = net(x)
    zeros = int((spikes == 0).sum())
    assert 0 < zeros < spikes.numel()
    assert activation_sparsity(net, x, (TupleLeaky,)) == pytest.approx(zeros / spikes.numel(), abs=1e-12)


def test_snntorch_leaky_tuple_output_matches_neurobench():
    snntorch = pytest.importorskip("snntorch")
    torch.manual_seed(1)
    net = SteppedNet(nn.Linear(6, 8), snntorch.Leaky(beta=0.8, init_hidden=True, output=True))
    x = torch.rand(5, 4, 6) * 3
    nb = neurobench_run(net, x, extra_activation=snntorch.SpikingNeuron)
    assert activation_sparsity(net, x, (snntorch.SpikingNeuron,)) == pytest.approx(nb["ActivationSparsity"], abs=1e-12)
    assert synaptic_operations(net, x) == pytest.approx(nb["SynapticOperations"], rel=1e-12)


def test_conv_subclasses_count_as_neurobench_counts_them():
    from spikingjelly.activation_based import layer

    torch.manual_seed(2)
    net = nn.Sequential(
        layer.Conv2d(1, 3, 3, padding=1, step_mode="m"),
        nn.ReLU(),
        nn.Flatten(2),
        layer.Linear(3 * 8 * 8, 5, step_mode="m"),
    )
    with torch.no_grad():
        net[0].weight[0, 0, 1] = 0.0
    x = clips(seed=7)
    ours = synaptic_operations(net, x)
    assert ours == pytest.approx(neurobench_run(net, x)["SynapticOperations"], rel=1e-12)
    pairs = float(F.conv2d(torch.ones(1, 1, 8, 8), torch.ones(3, 1, 3, 3), padding=1).sum()) + 3 * 64 * 5
    assert ours["Dense"] == 5 * pairs  # per clip: 5 frames


@pytest.mark.parametrize(
    "kind, bias",
    [(nn.RNNCell, True), (nn.RNNCell, False), (nn.LSTMCell, True), (nn.LSTMCell, False), (nn.GRUCell, True)],
)
def test_recurrent_cells_count_as_neurobench_counts_them(kind, bias):
    torch.manual_seed(3)
    cell = kind(8, 5, bias=bias)
    with torch.no_grad():
        cell.weight_ih[:, :2] = 0.0  # inputs 0-1 drive nothing
        cell.weight_hh[:3] = 0.0
    h0 = torch.zeros(4, 5)
    net = SteppedNet(nn.Linear(6, 8), cell, (h0, h0.clone()) if kind is nn.LSTMCell else h0)
    x = torch.relu(torch.randn(6, 4, 6))
    ours = synaptic_operations(net, x)
    assert ours == pytest.approx(neurobench_run(net, x)["SynapticOperations"], rel=1e-12)
    assert ours["Effective_MACs"] > synaptic_operations(nn.Sequential(net.fc), x)["Effective_MACs"]


def test_a_cell_without_state_counts_every_sample():
    class EveryStepFresh(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.RNNCell(8, 5)

        def forward(self, x):  # cell(x_t): PyTorch's zero state, no W_hh·h term
            return torch.stack([self.cell(x_t) for x_t in x])

    torch.manual_seed(4)
    net = EveryStepFresh()
    cell = net.cell
    x = (torch.rand(3, 4, 8) < 0.4).float()
    by_hand = sum(int(((x_t != 0).float() @ (cell.weight_ih != 0).float().T).sum()) for x_t in x)
    assert synaptic_operations(net, x) == {
        "Effective_MACs": 0.0,
        "Effective_ACs": by_hand / 4,
        "Dense": 3 * 4 * 8 * 5 / 4,
    }
    with pytest.raises(ValueError, match="LSTM layers"):
        synaptic_operations(nn.Sequential(nn.LSTM(8, 5)), x)


# ---------------------------------------------------------------------------------------------- event-driven
def test_conv_lowered_to_synapses_equals_conv2d():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, dilation=1, bias=False)
    x = torch.randn(4, 3, 9, 7)
    syn, shape, pairs = conv2d_to_synapses(conv, (3, 9, 7))
    y = x.reshape(4, -1).numpy() @ syn.to_dense()
    np.testing.assert_allclose(y.reshape(4, *shape), conv(x).detach(), atol=1e-5)
    assert pairs == int(F.conv2d(torch.ones(1, 3, 9, 7), torch.ones_like(conv.weight), None, 2, 1).sum())


def fan_out_by_probe(layer, in_shape):
    """Synapses each input unit drives, by pushing one-hot inputs through the binarised layer (independent of ours)."""
    n = int(np.prod(in_shape))
    probes = torch.eye(n).reshape(n, *in_shape)
    w = (layer.weight != 0).float()
    out = (
        F.linear(probes, w) if isinstance(layer, nn.Linear) else F.conv2d(probes, w, None, layer.stride, layer.padding)
    )
    return out.reshape(n, -1).sum(1).numpy()


def dyadic(model):
    """Weights and biases on a 1/8 grid, so every sum the core and torch do is exact in float32."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(p * 8) / 8)
    return model


def test_event_driven_output_equals_dense_and_ops_are_nonzero_deltas_times_fan_out():
    net = insert_delta(dyadic(small_cnn(seed=2)), 0.5, trainable=False)
    x = torch.round(clips(seed=4) * 4) / 4
    result = EventDrivenNet(net, (1, 8, 8)).run(x)
    with torch.no_grad():
        np.testing.assert_array_equal(result.output, net(x).numpy())
    assert result.exact
    # independent count: non-zero Δ entering each connection layer × that unit's fan-out
    inputs = []
    hooks = [
        m.register_forward_pre_hook(lambda mod, inp: inputs.append((mod, inp[0])))
        for m in net
        if isinstance(m, (TimeDistributed, nn.Linear))
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    expected = []
    for mod, u in inputs:
        layer = mod.module if isinstance(mod, TimeDistributed) else mod
        delta = temporal_delta(u).reshape(x.shape[0], x.shape[1], -1)
        nonzero = (delta != 0).sum((0, 1)).numpy()
        expected.append(int(nonzero @ fan_out_by_probe(layer, tuple(u.shape[2:]))))
    np.testing.assert_array_equal(result.synops, expected)
    assert result.synops.sum() / x.shape[1] == synaptic_operations(sigma_delta(net), x)["Effective_MACs"]
    assert result.dense_synops.sum() / x.shape[1] == synaptic_operations(net, x)["Dense"]
    assert 0 < result.synops.sum() < result.dense_synops.sum()


def test_event_driven_run_takes_numpy_events_and_n_steps_and_keeps_the_old_alias():
    from sdrnet.core import Events

    net = insert_delta(dyadic(small_cnn(seed=2)), 0.5, trainable=False)
    x = torch.round(clips(seed=4) * 4) / 4
    core = EventDrivenNet(net, (1, 8, 8), dt=0.04)
    result = core.run(x)
    with torch.no_grad():
        dense = net(x).numpy()
        padded = net(torch.cat([x, torch.zeros(2, *x.shape[1:])])).numpy()  # zero frames after the clip
        cut = net(x[:3]).numpy()
    assert result.state is None and result.records["exact"] == dict.fromkeys(range(4), True)  # 4 Linear/Conv
    np.testing.assert_array_equal(result.events, list(result.records["events"].values()))
    np.testing.assert_array_equal(core.run(x.numpy()).output, dense)
    events = Events.from_dense(x.reshape(5, 4, -1).numpy(), dt=0.04)
    np.testing.assert_array_equal(core.run(events).output, dense)
    np.testing.assert_array_equal(core.run(x, n_steps=7).output, padded)
    np.testing.assert_array_equal(core.run(x, n_steps=3).output, cut)
    np.testing.assert_array_equal(core.predict(x), dense.mean(0).argmax(1))  # clip_logits: logits averaged over time
    with pytest.warns(DeprecationWarning, match="run_events is deprecated"):
        old = core.run_events(x)
    assert old.exact and old.kernels == result.kernels
    for a, b in zip(
        (old.output, old.synops, old.dense_synops, old.events),
        (result.output, result.synops, result.dense_synops, result.events),
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="n_units = prod\\(input_shape\\) = 64"):
        core.run(Events.from_dense(np.ones((5, 4, 63), np.float32)))
    with pytest.raises(ValueError, match="differs from the network's dt"):
        core.run(Events.from_dense(x.reshape(5, 4, -1).numpy(), dt=0.01))
    with pytest.raises(ValueError, match="state must be None"):
        core.run(x, state=())


def test_event_driven_matches_dense_with_trained_like_weights_and_residual_deltas():
    net = insert_delta(small_cnn(seed=5), 0.05, kind="threshold")
    x = clips(seed=6)
    result = EventDrivenNet(net, (1, 8, 8)).run(x)
    with torch.no_grad():
        dense = net(x).numpy()
    np.testing.assert_allclose(result.output, dense, atol=1e-4)
    np.testing.assert_array_equal(result.output.mean(0).argmax(1), dense.mean(0).argmax(1))
    assert not result.exact  # thresholded deltas are not on a grid


def boundary_net(k, scale, theta, bias=0.0):
    """4 → 3 → 1 with weights ``k·scale`` (integers ``k``); on integer inputs (input θ = 1) a hidden pre-activation
    is ``S·scale`` for an integer ``S``, so with ``scale = θ/2`` it sits exactly on a boundary ``(j + ½)θ``
    whenever ``S`` is odd."""
    hidden, out = nn.Linear(4, 3), nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        hidden.weight.copy_(k * scale)
        hidden.bias.fill_(bias)
        out.weight.fill_(1.0)
    return nn.Sequential(
        DeltaActivation(1.0, trainable=False), hidden, nn.ReLU(), DeltaActivation(theta, trainable=False), out
    ).eval()


def test_event_driven_equals_dense_bit_for_bit_exactly_when_every_sum_is_exact():
    g = torch.Generator().manual_seed(0)
    k = torch.randint(1, 10, (3, 4), generator=g).float()
    x = torch.randint(0, 10, (6, 8, 4), generator=g).float()  # integers: the input quantiser keeps them
    odd = (x @ k.T) % 2 == 1  # exact integers: these pre-activations sit on a quantisation boundary
    assert 0.3 < float(odd.float().mean()) < 0.7
    # the same boundaries in binary (scale 1/8, θ = 1/4: every sum exact) and in decimal (1/10, θ = 1/5)
    exact = EventDrivenNet(boundary_net(k, 1 / 8, 0.25), (4,)).run(x)
    with torch.no_grad():
        np.testing.assert_array_equal(exact.output, boundary_net(k, 1 / 8, 0.25)(x).numpy())
    assert exact.exact
    decimal = boundary_net(k, 1 / 10, 0.2)
    inexact = EventDrivenNet(decimal, (4,)).run(x)
    with torch.no_grad():
        diff = (inexact.output - decimal(x).numpy()).ravel()
    assert not inexact.exact and np.count_nonzero(diff) > 0  # rounding picks a side of the boundary, differently
    steps = diff / 0.2
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-4)  # each difference is whole quantisation steps


def test_exact_needs_power_of_two_steps_and_sums_within_float32():
    g = torch.Generator().manual_seed(1)
    k = torch.randint(1, 10, (3, 4), generator=g).float()
    x = torch.randint(0, 10, (4, 2, 4), generator=g).float()
    assert EventDrivenNet(boundary_net(k, 1 / 8, 0.25, bias=1 / 16), (4,)).run(x).exact
    assert not EventDrivenNet(boundary_net(k, 1 / 8, 0.3), (4,)).run(x).exact  # θ not a power of two
    assert not EventDrivenNet(boundary_net(k, 1 / 8, 0.25, bias=0.1), (4,)).run(x).exact  # bias off the grid
    fine = boundary_net(k, 1 / 8, 0.25)
    with torch.no_grad():
        fine[1].weight[0, 0] = 2.0**-30  # sums of ~100 on a 2^-30 grid need more than 24 bits
    assert not EventDrivenNet(fine, (4,)).run(x).exact
    assert EventDrivenNet(boundary_net(k, 1 / 8, 0.25), (4,)).run(x * 2**20).exact is False  # |q| too large


def numpy_reference(net, x):
    """The fused kernel's arithmetic in plain numpy: Δ rounded once to float32, each post's ``W·Δ`` summed in
    float32 in ascending presynaptic order, the running sum in float64, ``z`` rounded to float32, then ReLU and
    ``θ·round(z/θ)`` (half to even) with the model's own θ."""
    n_steps, n_samples = x.shape[:2]
    q = net.input_delta(x.float()).reshape(n_steps, n_samples, -1).numpy()
    for stage in net.stages:
        delta = np.diff(q.astype(np.float64), axis=0, prepend=0.0).astype(np.float32)
        w = stage.synapses.to_dense().astype(np.float32)
        current = np.zeros((n_steps, n_samples, w.shape[1]), np.float32)
        for i in range(w.shape[0]):
            current += w[i] * delta[..., i : i + 1]
        z = (np.cumsum(current, axis=0, dtype=np.float64) + stage.bias).astype(np.float32)
        for m in stage.neuron:
            if isinstance(m, nn.ReLU):
                z = np.maximum(z, np.float32(0))
            elif isinstance(m, DeltaActivation):
                theta = m.theta(2 + len(stage.out_shape)).detach().numpy().ravel()
                theta = np.repeat(theta, z.shape[-1] // theta.size)  # per unit of the flat (c, y, x) order
                z = theta * np.round(z / theta)
        q = z
    return q.reshape(n_steps, n_samples, *net.stages[-1].out_shape)


def delta_cnn(theta):
    """The small CNN with delta layers of step θ (a list: per channel, cycled), one conv input channel pruned (so
    the runs of consecutive posts break up)."""
    cnn = small_cnn(seed=7)
    with torch.no_grad():
        cnn[2].module.weight[:, 1] = 0
    if not isinstance(theta, list):
        return insert_delta(cnn, theta, trainable=False)
    model = insert_delta(cnn, 0.1, per="channel", trainable=False)
    with torch.no_grad():
        for layer in delta_layers(model)[1:]:
            layer.threshold.copy_(torch.tensor(theta * layer.threshold.numel())[: layer.threshold.numel()])
    return model


@pytest.mark.parametrize("theta", [0.25, 0.1, [0.5, 0.125, 0.3, 0.25]])  # 1/θ exact, a division, per channel
def test_fused_event_kernel_equals_a_plain_numpy_reference_bit_for_bit(theta):
    model = delta_cnn(theta)
    net = EventDrivenNet(model, (1, 8, 8))
    x = clips(seed=8, B=6)
    result = net.run(x, kernel="event")
    assert result.kernels == ("event",) * 4
    np.testing.assert_array_equal(result.output, numpy_reference(net, x))
    with torch.no_grad():
        np.testing.assert_allclose(result.output, model(x).numpy(), atol=1e-4)
    batched = net.run(x, kernel="batched")
    np.testing.assert_array_equal(result.synops, batched.synops)
    np.testing.assert_array_equal(result.events, batched.events)


def test_fused_event_kernel_gives_the_same_bits_on_one_and_two_threads(monkeypatch):
    numba = pytest.importorskip("numba")
    from snn.delta import event_driven

    monkeypatch.setattr(event_driven, "_PARALLEL_ELEMENTS", 0)  # split even these few clips over the threads
    net = EventDrivenNet(delta_cnn(0.1), (1, 8, 8))
    x = clips(seed=9, B=7)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = net.run(x)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = net.run(x)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one.output, two.output)
    np.testing.assert_array_equal(one.synops, two.synops)
    assert one.exact == two.exact


def test_event_kernel_needs_neurons_the_fused_pass_knows():
    net = EventDrivenNet(insert_delta(small_cnn(seed=5), 0.05, kind="threshold"), (1, 8, 8))
    with pytest.raises(ValueError, match="kernel='event' needs every neuron"):
        net.run(clips(seed=6), kernel="event")
    assert set(net.run(clips(seed=6)).kernels) <= {"event", "batched"}


# ---------------------------------------------------------------------------------------------- data
def test_moving_digit_clips_shapes_labels_and_determinism():
    x, y = moving_digit_clips(12, n_steps=5, size=14, seed=3)
    assert x.shape == (5, 12, 1, 14, 14) and x.dtype == torch.float32
    assert y.shape == (12,) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) <= 9
    x2, y2 = moving_digit_clips(12, n_steps=5, size=14, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, moving_digit_clips(12, n_steps=5, size=14, seed=4)[0])
    clean, _ = moving_digit_clips(6, n_steps=4, size=14, noise=0.0, seed=3)
    from sklearn.datasets import load_digits

    masses = np.sort(load_digits().images.sum((1, 2)) / 16.0)
    for t in range(4):  # each frame holds one whole digit image (bilinear weights sum to 1)
        sums = clean[t, :, 0].sum((1, 2)).numpy()
        assert np.all(np.min(np.abs(sums[:, None] - masses[None]), axis=1) < 1e-3)
    assert not torch.equal(clean[0], clean[1])  # it moves
    still, _ = moving_digit_clips(6, n_steps=4, size=14, noise=0.0, speed=0.0, seed=3)
    assert torch.equal(still[0], still[3])


# ---------------------------------------------------------------------------------------------- errors
def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="threshold"):
        DeltaActivation(-0.1)
    with pytest.raises(ValueError, match="per"):
        DeltaActivation(0.1, per="neuron")
    with pytest.raises(ValueError, match="channels"):
        DeltaActivation(0.1, per="channel")
    with pytest.raises(ValueError, match="output"):
        ThresholdDelta(0.1, output="spikes")
    with pytest.raises(ValueError, match="time-major"):
        DeltaActivation(0.1)(torch.randn(4, 3))
    with pytest.raises(TypeError, match="floating-point"):
        DeltaActivation(0.1)(torch.ones(4, 3, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match="Sequential"):
        insert_delta(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="MaxPool2d"):
        sigma_delta(nn.Sequential(DeltaActivation(0.1), nn.MaxPool2d(2), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="no penalty"):
        delta_penalty(insert_delta(small_cnn(), 0.1))
    with pytest.raises(ValueError, match="begin with a delta layer"):
        EventDrivenNet(small_cnn(), (1, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        EventDrivenNet(insert_delta(small_cnn(), 0.1), (1, 8, 8)).run(torch.zeros(3, 2, 1, 9, 9))
    with pytest.raises(ValueError, match="split"):
        moving_digit_clips(3, split="validation")
    with pytest.raises(ValueError, match="size"):
        moving_digit_clips(3, size=8)


@pytest.mark.parametrize(
    "kwargs, error, says",
    [
        ({"fan_out": -5}, ValueError, "fan_out"),
        ({"fan_out": 0}, ValueError, "fan_out"),
        ({"fan_out": 2.5}, ValueError, "fan_out"),
        ({"fan_out": True}, ValueError, "fan_out"),
        ({"threshold": True}, TypeError, "threshold"),
        ({"threshold": "0.1"}, TypeError, "threshold"),
        ({"threshold": float("nan")}, ValueError, "threshold"),
        ({"threshold": [0.1, 0.2]}, ValueError, "threshold"),
        ({"per": "channel", "channels": 2.0}, ValueError, "channels"),
        ({"per": "channel", "channels": 0}, ValueError, "channels"),
        ({"channels": 3}, ValueError, "channels"),
        ({"output": 1}, ValueError, "output"),
    ],
)
@pytest.mark.parametrize("layer", [DeltaActivation, ThresholdDelta])
def test_every_delta_layer_argument_is_checked_by_name(layer, kwargs, error, says):
    with pytest.raises(error, match=says):
        layer(**kwargs)


def test_other_delta_arguments_are_checked_by_name():
    with pytest.raises(TypeError, match="trainable"):
        DeltaActivation(0.1, trainable="no")
    with pytest.raises(TypeError, match="on_input"):
        insert_delta(small_cnn(), 0.1, on_input=0)
    with pytest.raises(TypeError, match="module"):
        TimeDistributed(lambda x: x)
    with pytest.raises(TypeError, match="Linear/Conv"):
        Accumulate(nn.ReLU())
    assert DeltaActivation(torch.tensor([0.5, 0.25]), per="channel", channels=2).fan_out == 1


# ---------------------------------------------------------------------------------------------- experiment
# the tiny run of the experiment: tests/test_experiment_commands.py (sdrnet delta)
def test_plot_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    import matplotlib

    rows = [{"effective_macs": 100.0, "accuracy": 0.9, "relu_sparsity": 0.5, "delta_sparsity": None, "penalty": None}]
    rows += [
        {
            "effective_macs": 30.0 / (1 + lam),
            "accuracy": 0.88,
            "relu_sparsity": 0.6,
            "delta_sparsity": 0.7,
            "penalty": lam,
        }
        for lam in (0.0, 0.1)
    ]
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        experiment.plot({"rows": rows}, tmp_path / "f.png")
        assert matplotlib.get_backend() == "svg" and (tmp_path / "f.png").stat().st_size > 1000
    finally:
        matplotlib.use(before)
