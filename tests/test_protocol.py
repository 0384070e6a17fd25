"""One protocol for every model family: `sdrnet.core.to_core(model, ...)` -> `CoreModel.run(...)` -> `RunResult`, each
compared with the family's own PyTorch model (or, for a plain `Network`, a numpy LIF loop)."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from sdrnet.core import CoreModel, Events, Layer, LIFParams, Network, RunResult, Synapses, to_core

torch.set_num_threads(1)


def relu_mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3)).eval()
    x = torch.randn(6, 8)
    with torch.no_grad():
        out = model(x).numpy()
    return model, {}, x, {}, out, out, "CoreMLP", 2


def spiking_mlp():
    from spikingjelly.activation_based import functional, neuron

    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 20), neuron.LIFNode(tau=2.0, step_mode="m"), nn.Linear(20, 4))
    with torch.no_grad():
        model[0].weight.mul_(4.0)
    x = (torch.rand(15, 5, 10) < 0.4).float()
    functional.reset_net(model)
    with torch.no_grad():
        v = model(x).numpy()  # the readout Linear's output at every step
    return model, {"dt": 1e-3}, Events.from_dense(x.numpy(), dt=1e-3), {}, v, v.sum(0), "Network", 2


def dendritic_mlp():
    from dendrites.nn import DendriticMLP

    torch.manual_seed(2)
    model = DendriticMLP(12, (32,), 5, num_segments=3, dim_context=6, kw=True, kw_percent_on=0.25).eval()
    x, context = torch.randn(7, 12), torch.randn(7, 6)
    with torch.no_grad():
        out = model(x, context).numpy()
    return model, {}, x, {"context": context}, out, out, "CoreDendriticMLP", 2


def delta_network():
    from snn.delta import clip_logits, insert_delta

    torch.manual_seed(3)
    model = insert_delta(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)), 0.1, trainable=False).eval()
    x = torch.randn(9, 4, 6).cumsum(0) / 3  # slowly changing frames
    with torch.no_grad():
        out, scores = model(x).numpy(), clip_logits(model, x).numpy()
    return model, {"input_shape": (6,)}, x, {}, out, scores, "EventDrivenNet", 2


def delay_snn():
    pytest.importorskip("spikingjelly")
    from snn_fixtures import trained_like_delay_snn

    from snn.models import sum_softmax

    model, x = trained_like_delay_snn(seed=4)
    model = model.discretized().eval()
    with torch.no_grad():
        v = model(x)
    return model, {"dt": 0.01}, x, {}, v.numpy(), sum_softmax(v).numpy(), "DelaySNNCore", 3


def plain_network():
    rng = np.random.default_rng(5)
    w, x = rng.normal(0, 0.8, (7, 5)).astype(np.float32), (rng.random((12, 3, 7)) < 0.5).astype(np.float32)
    net = Network([Layer(Synapses.from_dense(w), LIFParams(tau_s=0.004), bias=0.1)], dt=1e-3)  # tau = 4 steps
    v, spikes = np.zeros((3, 5)), np.zeros((12, 3, 5), np.float32)
    for t in range(12):  # SpikingJelly's LIF (decay_input, hard reset to 0), in float64
        h = v + (x[t] @ w + 0.1 - v) / 4.0
        spikes[t] = h >= 1.0
        v = np.where(spikes[t] > 0, 0.0, h)
    return net, {"dt": 1e-3}, Events.from_dense(x, dt=1e-3), {}, spikes, spikes.sum(0), "Network", 1


CASES = {
    "relu_mlp": relu_mlp,
    "spiking_mlp": spiking_mlp,
    "dendritic_mlp": dendritic_mlp,
    "delta_network": delta_network,
    "delay_snn": delay_snn,
    "network": plain_network,
}


@pytest.mark.parametrize("family", list(CASES))
def test_every_family_runs_through_the_protocol_like_its_reference(family):
    model, options, inputs, extra, reference, reference_scores, kind, n_projections = CASES[family]()
    core = to_core(model, **options)
    assert isinstance(core, CoreModel) and type(core).__name__ == kind
    assert core.dt == options.get("dt")
    result = core.run(inputs, **extra)
    assert isinstance(result, RunResult)
    assert result.output.dtype == np.float32 and result.output.shape == reference.shape
    np.testing.assert_allclose(result.output, reference, rtol=1e-5, atol=1e-5)
    assert result.synops.dtype == np.int64 and result.synops.shape == (n_projections,) and result.synops.sum() > 0
    np.testing.assert_allclose(core.scores(result), reference_scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(core.predict(inputs, **extra), reference_scores.argmax(-1))
    if family == "network":
        assert core is model


def test_to_core_names_the_families_it_knows():
    from snn.delta import insert_delta

    for unsupported in (object(), nn.Sequential(nn.Linear(3, 3), nn.Tanh())):
        with pytest.raises(TypeError, match="no core converter takes") as err:
            to_core(unsupported)
        assert all(name in str(err.value) for name in ("delay_snn", "delta", "dendrites", "prune"))
    with pytest.raises(TypeError, match="input_shape"):  # a delta MLP is the delta family's, not the pruned MLP's
        to_core(insert_delta(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), 0.1))


def test_entry_points_load_the_family_in_a_fresh_interpreter():
    code = (
        "import sys, torch\nfrom sdrnet.core import to_core\n"
        "assert 'sdrnet.prune' not in sys.modules\n"
        "torch.manual_seed(0)\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))\n"
        "x = torch.randn(3, 4)\ncore = to_core(m)\n"
        "print(type(core).__module__, float(abs(core.run(x).output - m(x).detach().numpy()).max()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    module, diff = proc.stdout.split()
    assert module == "sdrnet.prune.export" and float(diff) < 1e-5
