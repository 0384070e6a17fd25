"""Delay SNN: `DelayedLinear` against the `dcls` package and plain numpy, the model against the reference
built on `Dcls1d`, the width schedule, export to the core and Brian2, training, checkpoints and DDP."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from snn_fixtures import interrupt_at_epoch, trained_like_delay_snn  # noqa: E402

from sdrnet.core import Events, to_core  # noqa: E402
from snn import data  # noqa: E402
from snn.delays import DelayedLinear, sigma_at  # noqa: E402
from snn.export import DelaySNNCore, export, predict_core, run_brian2  # noqa: E402
from snn.models import DelaySNN, SNNConfig, snn_loss, sum_softmax  # noqa: E402
from snn.train import TrainConfig, load_model, recipe, train  # noqa: E402


def _dcls_like(layer: DelayedLinear):
    from DCLS.construct.modules import Dcls1d

    ref = Dcls1d(
        layer.in_features,
        layer.out_features,
        kernel_count=1,
        dilated_kernel_size=layer.max_delay + 1,
        bias=False,
        version="gauss",
    )
    with torch.no_grad():
        ref.weight.copy_(layer.weight.unsqueeze(-1))
        ref.P.copy_((layer.max_delay // 2 - layer.delay).view_as(ref.P))
        ref.SIG.fill_(layer.sigma)
    return ref


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 7),
    st.sampled_from([2, 6, 24]),
    st.integers(1, 40),
    st.integers(1, 3),
    st.sampled_from([0.0, 0.5, 3.0, 12.0]),
    st.booleans(),
)
def test_delayed_linear_equals_dcls1d(n_in, n_out, max_delay, n_steps, batch, sigma, full_tail):
    pytest.importorskip("DCLS")
    g = torch.Generator().manual_seed(n_in * 1000 + n_steps)
    tail = max_delay if full_tail else max_delay // 2
    layer = DelayedLinear(n_in, n_out, max_delay=max_delay, tail=tail, sigma=sigma, generator=g)
    ref = _dcls_like(layer)
    x = torch.rand(n_steps, batch, n_in, generator=g, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    y = layer(x)
    y_ref = ref(torch.nn.functional.pad(x_ref.permute(1, 2, 0), (max_delay, tail))).permute(2, 0, 1)
    assert y.shape == (n_steps + tail, batch, n_out) == y_ref.shape
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=2e-6)
    w = torch.rand(y.shape, generator=g)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    torch.testing.assert_close(layer.weight.grad, ref.weight.grad.squeeze(-1), rtol=1e-4, atol=1e-5)
    # delay = max_delay//2 − P, so the gradients are opposite; float32 sums in another order (a convolution vs
    # our matmuls) differ in proportion to the largest gradient, not to each element (σ = 0: up to 1.3e-5 of it)
    want = -ref.P.grad.view(n_out, n_in)
    torch.testing.assert_close(layer.delay.grad, want, rtol=1e-4, atol=max(1e-5, 3e-5 * float(want.abs().max())))
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-5)


def test_discretized_layer_is_a_sum_of_delayed_inputs():
    g = torch.Generator().manual_seed(3)
    layer = DelayedLinear(6, 5, max_delay=8, generator=g).discretize()
    x = torch.rand(17, 2, 6, generator=g)
    y = layer(x).detach().numpy()
    w, d = layer.weight.detach().numpy(), layer.delay.detach().numpy().astype(int)
    want = np.zeros((17 + 8, 2, 5))
    for o in range(5):
        for i in range(6):
            want[d[o, i] : d[o, i] + 17, :, o] += w[o, i] * x[:, :, i].numpy()
    np.testing.assert_allclose(y, want[:21], atol=1e-5)
    assert torch.equal(layer.delay, layer.delay.round()) and layer.discrete


def test_no_delay_layer_is_linear_and_rounding_matches_reference():
    layer = DelayedLinear(4, 3, max_delay=0)
    x = torch.rand(5, 2, 4)
    torch.testing.assert_close(layer(x), x @ layer.weight.t())
    layer = DelayedLinear(4, 3, max_delay=24)
    with torch.no_grad():
        layer.delay.copy_(torch.tensor([[11.5, 12.5, 0.2, 30.0]] * 3))
    # the reference rounds P = 12 − d half-to-even and clamps it to [−12, 12]
    p = (12 - layer.delay).round().clamp(-12, 12)
    assert torch.equal(layer.integer_delays(), (12 - p).long())


def test_sigma_schedule_is_the_reference_loop():
    sig, alpha, final = 12.0, (0.23 / 12.0) ** (1 / 7), 7
    for epoch in range(12):
        assert sigma_at(epoch, 12.0, 0.23, final) == pytest.approx(sig, rel=1e-9)
        if epoch < final and sig > 0.23:
            sig *= alpha


def test_layer_errors():
    with pytest.raises(ValueError, match="max_delay"):
        DelayedLinear(3, 3, max_delay=-1)
    with pytest.raises(ValueError, match="tail"):
        DelayedLinear(3, 3, max_delay=4, tail=5)
    with pytest.raises(ValueError, match=r"\[T, B, 3\]"):
        DelayedLinear(3, 2)(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="delays"):
        SNNConfig(delays="sometimes")
    with pytest.raises(ValueError, match="tau"):
        SNNConfig(tau=1.0)
    with pytest.raises(ValueError, match=r"\[T, B, 140\]"):
        DelaySNN()(torch.zeros(3, 2, 7))


def test_model_equals_reference_on_dcls1d():
    pytest.importorskip("DCLS")
    from snn.reference import DclsSNN

    torch.manual_seed(0)
    cfg = SNNConfig(n_inputs=20, n_hidden=16, n_layers=2, n_outputs=5, max_delay=10, dropout=0.0)
    model = DelaySNN(cfg)
    ref = DclsSNN(model)
    x = (torch.rand(30, 6, 20) < 0.3).float() * 2
    y = torch.randint(0, 5, (6,))
    v, v_ref = model(x), ref(x)
    assert v.shape == (30 + 3 * 5, 6, 5)
    torch.testing.assert_close(v, v_ref, rtol=1e-4, atol=1e-5)
    snn_loss(v, y).backward()
    snn_loss(v_ref, y).backward()
    for syn, conv in zip(model.synapses, ref.convs):
        torch.testing.assert_close(syn.weight.grad, conv.weight.grad.squeeze(-1), rtol=1e-3, atol=1e-5)


def test_variants_and_parameter_count():
    shd = DelaySNN(SNNConfig())
    # the reference's SHD model: 106,496 weights + 106,496 positions + 1,024 BatchNorm parameters
    assert shd.n_parameters() == {"weights": 106_496, "norm": 1_024, "delays": 106_496}
    none = DelaySNN(SNNConfig(delays="none"))
    assert all(s.max_delay == 0 for s in none.synapses) and none.n_parameters()["delays"] == 0
    fixed = DelaySNN(SNNConfig(delays="random"))
    assert not any(s.delay.requires_grad for s in fixed.synapses)
    assert fixed.parameter_groups()["delays"] == []


@pytest.mark.parametrize("kw", [{}, {"batchnorm": False}, {"delays": "none"}])
def test_export_runs_like_the_model_on_the_core(kw):
    model, x = trained_like_delay_snn(**kw)
    net = model.discretized()
    with torch.no_grad():
        v, spikes = net(x, return_spikes=True)
    events = Events.from_dense(x.numpy())
    network = export(model)
    res = network.run(events)
    np.testing.assert_allclose(res.output, v.numpy(), atol=1e-5)
    for s_torch, s_core in zip(spikes, res.layer_spikes):
        dense = s_core.to_dense()
        np.testing.assert_array_equal(dense[: len(s_torch)], s_torch.numpy())
        assert dense[len(s_torch) :].sum() == 0  # silent after its tail, as the padded model
    with pytest.warns(DeprecationWarning, match="to_core"):
        pred, scores, synops = predict_core(network, events)
    np.testing.assert_array_equal(pred, sum_softmax(v).argmax(1).numpy())
    core = to_core(model)
    assert isinstance(core, DelaySNNCore) and (core.n_inputs, core.n_outputs) == (12, 4)
    run = core.run(x)  # a dense torch batch, as the model takes
    np.testing.assert_allclose(run.output, v.numpy(), atol=1e-5)
    np.testing.assert_allclose(core.scores(run), sum_softmax(v).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(core.predict(events), pred)
    np.testing.assert_allclose(core.scores(core.run(events)), scores)
    # synops: deliveries (source event × synapse) that land before the layer stops (its tail's end)
    sources = [x.numpy()] + [s.numpy() for s in spikes]
    stops = np.cumsum([syn.tail for syn in model.synapses]) + x.shape[0]
    want = []
    for src, syn, stop in zip(sources, model.synapses, stops):
        t, _, i = np.nonzero(src)
        w, d = syn.weight.detach().numpy(), syn.integer_delays().numpy()
        want.append(int(((t[:, None] + d[:, i].T < stop) & (w[:, i].T != 0)).sum()))
    assert list(synops) == want
    assert sum(layer.synapses.nnz for layer in network.layers) == sum(
        int((s.weight != 0).sum()) for s in model.synapses
    )


def test_brian2_spike_trains_agree_with_the_core():
    pytest.importorskip("brian2")
    model, x = trained_like_delay_snn(seed=1)
    events = Events.from_dense(x.numpy())
    network = export(model, dt=1e-3)
    res = network.run(events)
    for sample in (0, 3):
        out = run_brian2(network, events, sample=sample)
        for layer, (t, i) in enumerate(out["spikes"][:-1]):
            dense = np.zeros((res.layer_spikes[layer].n_steps, network.layers[layer].n))
            dense[t, i] = 1
            np.testing.assert_array_equal(dense, res.layer_spikes[layer][sample].to_dense()[:, 0])
        assert sum(len(t) for t, _ in out["spikes"]) > 20
        np.testing.assert_allclose(out["v_out"], res.output[:, sample], atol=1e-5)


def test_nir_round_trip(tmp_path):
    nir = pytest.importorskip("nir")
    core_nir = pytest.importorskip("sdrnet.core.nir")
    from snn.export import to_nir

    model, x = trained_like_delay_snn(seed=2, batchnorm=False)
    network = export(model)
    with pytest.raises(ValueError, match=r"layers\[0\] has tail"):  # NIR has no layer that stops
        to_nir(model, tmp_path / "refused.nir", dt=1e-3)
    to_nir(model, tmp_path / "snn.nir", dt=1e-3, drop_tails=True)
    back = core_nir.network_from_nir(nir.read(tmp_path / "snn.nir"))
    events = Events.from_dense(x.numpy())
    n = events.n_steps + network.layers[0].tail  # every layer runs alike until the first tail ends
    a = network.run(events, n_steps=n)
    b = back.run(events, n_steps=n)
    assert a.layer_spikes[0].n_events > 0
    for sa, sb in zip(a.layer_spikes, b.layer_spikes):
        np.testing.assert_array_equal(sa.to_dense(), sb.to_dense())
    np.testing.assert_allclose(a.output, b.output, atol=1e-5)


def _tiny(**kw):
    base = dict(
        dataset="synthetic",
        n_hidden=16,
        n_layers=2,
        max_delay=8,
        epochs=3,
        batch_size=32,
        synthetic_samples=160,
        dropout=0.0,
        progress=False,
    )
    return TrainConfig(**{**base, **kw})


def test_training_writes_checkpoints_metrics_and_resumes_exactly(tmp_path, monkeypatch):

    cfg = _tiny(epochs=3, final_epoch=2)
    full = train(cfg, tmp_path / "full")
    for name in ("last.pt", "best.pt", "metrics.json", "metrics.csv", "results.json", "config.json"):
        assert (tmp_path / "full" / name).exists(), name
    hist = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert [h["epoch"] for h in hist] == [0, 1, 2] and hist[1]["sigma"] < hist[0]["sigma"]
    assert 0.0 <= full["test_accuracy"] <= 1.0
    undo = interrupt_at_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut")
    undo()
    assert len(json.loads((tmp_path / "cut" / "metrics.json").read_text())) == 2
    resumed = train(cfg, tmp_path / "cut", resume=True)
    assert [h["epoch"] for h in json.loads((tmp_path / "cut" / "metrics.json").read_text())] == [0, 1, 2]
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=False)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert resumed["test_accuracy"] == full["test_accuracy"]
    assert isinstance(load_model(tmp_path / "full" / "best.pt"), DelaySNN) and full["model"].synapses[0].discrete
    cfg.epochs = 5
    with pytest.raises(ValueError, match="epochs=3"):
        train(cfg, tmp_path / "cut", resume=True)


def test_recipes_match_the_reference_configs():
    shd, ssc = recipe("shd"), recipe("ssc")
    assert (shd.n_hidden, shd.n_layers, shd.max_delay + 1, shd.epochs, shd.batch_size, shd.dropout) == (
        256,
        2,
        25,
        150,
        256,
        0.4,
    )
    assert (ssc.n_hidden, ssc.n_layers, ssc.max_delay + 1, ssc.epochs, ssc.batch_size, ssc.dropout) == (
        512,
        3,
        31,
        60,
        128,
        0.25,
    )
    assert shd.sigma_epochs == 37 and shd.lr_delays == 100 * shd.lr_weights
    with pytest.raises(ValueError, match="recipe"):
        recipe("mnist")


def test_command_line_overrides(tmp_path):
    import argparse

    from snn.train import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (tmp_path / "c.yaml").write_text("n_hidden: 32\nepochs: 4\n")
    args = parser.parse_args(
        [
            "--recipe",
            "shd",
            "--config",
            str(tmp_path / "c.yaml"),
            "--set",
            "dropout=0.1",
            "--set",
            "batchnorm=false",
            "--epochs",
            "7",
        ]
    )
    cfg = config_from_args(args)
    assert (cfg.dataset, cfg.n_hidden, cfg.epochs, cfg.dropout, cfg.batchnorm) == ("shd", 32, 7, 0.1, False)
    with pytest.raises(ValueError, match="key=value"):
        config_from_args(parser.parse_args(["--set", "colour=red"]))


@pytest.mark.slow  # two spawned training processes (~15 s warm, more on a cold kernel cache): `pytest -m slow`
def test_ddp_two_processes_equal_one_process(tmp_path):
    """torchrun, 2 CPU processes on gloo, each half of every batch == one process with the whole batch.

    240 samples leave 160 for training: whole batches, so the processes drop no remainder."""
    common = [
        "--recipe",
        "synthetic",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--no-progress",
        "--set",
        "n_hidden=16",
        "--set",
        "max_delay=8",
        "--set",
        "synthetic_samples=240",
        "--set",
        "batchnorm=false",
        "--set",
        "dropout=0.0",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = subprocess.run(
        [sys.executable, "-m", "snn.train", *common, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "snn.train",
            *common,
            "--out",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert two.returncode == 0, two.stderr[-2000:]
    a = torch.load(tmp_path / "one" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "two" / "last.pt", weights_only=False)
    assert json.loads((tmp_path / "two" / "results.json").read_text())["processes"] == 2
    for key, value in a["model"].items():
        if torch.is_tensor(value) and value.is_floating_point():
            torch.testing.assert_close(b["model"][key], value, rtol=1e-4, atol=1e-5)
    assert not torch.equal(a["model"]["synapses.0.weight"], _fresh_weights())


def _fresh_weights():
    torch.manual_seed(0)
    cfg = _tiny(n_hidden=16, max_delay=8, batchnorm=False)
    return DelaySNN(cfg.model_config(140, 10)).synapses[0].weight.detach()


@pytest.mark.slow
def test_learned_delays_beat_no_delays_on_the_timing_task(tmp_path):
    ds = data.timing_task(n_samples=1000, seed=5)
    rest, test = data.holdout(ds, 0.25, seed=1)
    train_set, valid = data.holdout(rest, 0.1, seed=0)
    sets = {"train": train_set, "valid": valid, "test": test}
    acc = {}
    for delays in ("learned", "none"):
        cfg = _tiny(delays=delays, epochs=12, n_hidden=64, max_delay=24, batch_size=64, dropout=0.1)
        acc[delays] = train(cfg, tmp_path / delays, datasets=sets)["test_accuracy"]
    assert acc["learned"] > acc["none"] + 0.5, acc


def test_random_delays_are_the_references_fixed_random_ablation():
    """delays='random' = the reference's snn_delays_lr0: positions rounded before training (its main.py),
    one-hot taps (Dcls1d 'max' at σ = 0), never trained."""
    pytest.importorskip("DCLS")
    from DCLS.construct.modules import Dcls1d

    from snn.reference import DclsSNN
    from snn.train import _optimizers

    torch.manual_seed(1)
    model = DelaySNN(
        SNNConfig(n_inputs=20, n_hidden=16, n_layers=2, n_outputs=5, max_delay=10, delays="random", dropout=0.0)
    )
    syn = model.synapses[0]
    assert all(s.discrete and torch.equal(s.delay, s.delay.round()) for s in model.synapses)
    conv = Dcls1d(20, 16, kernel_count=1, dilated_kernel_size=11, bias=False, version="max")
    with torch.no_grad():
        conv.weight.copy_(syn.weight.unsqueeze(-1))
        conv.P.copy_((5 - syn.delay).view_as(conv.P))
        conv.SIG.zero_()
    x = (torch.rand(30, 4, 20) < 0.3).float()
    torch.testing.assert_close(
        syn(x), conv(torch.nn.functional.pad(x.permute(1, 2, 0), (10, 5))).permute(2, 0, 1), rtol=1e-5, atol=1e-5
    )
    ref = DclsSNN(model)
    torch.testing.assert_close(model(x), ref(x), rtol=1e-4, atol=1e-5)
    before = [s.delay.clone() for s in model.synapses]
    opts, _ = _optimizers(model, TrainConfig(delays="random"))
    for _ in range(2):
        for o in opts:
            o.zero_grad()
        snn_loss(model.train()(x), torch.arange(4) % 5).backward()
        for o in opts:
            o.step()
        model.clamp()
    assert all(torch.equal(a, s.delay) for a, s in zip(before, model.synapses))
    assert model.set_sigma(0, 3) == 0.0 and all(s.discrete for s in model.synapses)


def test_initial_delays_follow_the_references_position_init():
    """The reference: P ~ U[−13, 12] (Python's −25//2), clamped to ±12, delay = 12 − P: 1/25 of the delays at 24;
    'random' also rounds them."""
    g = torch.Generator().manual_seed(0)
    n_out, n_in = 256, 140
    learned = DelayedLinear(n_in, n_out, max_delay=24, generator=g).delay.detach()
    assert float((learned == 24).float().mean()) == pytest.approx(1 / 25, abs=0.004)
    assert learned.min() >= 0 and learned.max() <= 24
    p = torch.empty(n_out, n_in).uniform_(-25 // 2, 25 // 2, generator=g).clamp(-12, 12).round()
    want = np.bincount((12 - p).long().flatten().numpy(), minlength=25) / p.numel()
    torch.manual_seed(0)
    fixed = DelaySNN(SNNConfig(delays="random")).synapses[1].delay.detach()  # 256 × 256
    got = np.bincount(fixed.long().flatten().numpy(), minlength=25) / fixed.numel()
    np.testing.assert_allclose(got, want, atol=0.006)
    assert got[24] == pytest.approx(1.5 / 25, abs=0.004)


def test_delayed_linear_refuses_bad_sigma_and_foreign_or_out_of_range_states():
    for bad in (float("nan"), float("inf"), -1.0, "3"):
        with pytest.raises(ValueError, match="sigma"):
            DelayedLinear(3, 2, max_delay=8, sigma=bad)
    layer = DelayedLinear(3, 2, max_delay=8)
    with pytest.raises(ValueError, match="sigma"):
        layer.sigma = float("nan")
    sd = {k: v.clone() if torch.is_tensor(v) else v for k, v in layer.state_dict().items()}
    sd["delay"][0, 0] = 30.0
    target = DelayedLinear(3, 2, max_delay=8)
    kept = target.delay.detach().clone()
    with pytest.raises(ValueError, match=r"delay: 1 of 6 delays are not in \[0, max_delay=8\]"):
        target.load_state_dict(sd)
    assert torch.equal(target.delay, kept)  # nothing copied
    sd["delay"][0, 0] = float("nan")
    with pytest.raises(ValueError, match="delay"):
        target.load_state_dict(sd)
    wide = DelayedLinear(3, 2, max_delay=24, tail=4)
    with torch.no_grad():
        wide.delay.clamp_(0, 8)  # in range for the small layer too: only the sizes differ
    with pytest.raises(ValueError, match="max_delay=24, this layer has max_delay=8"):
        DelayedLinear(3, 2, max_delay=8, tail=4).load_state_dict(wide.state_dict())
    with pytest.raises(ValueError, match=r"synapses\.0\._extra_state.*max_delay=24.*max_delay=8"):
        DelaySNN(SNNConfig(n_inputs=6, n_hidden=4, n_outputs=3, max_delay=8)).load_state_dict(
            DelaySNN(SNNConfig(n_inputs=6, n_hidden=4, n_outputs=3, max_delay=24)).state_dict()
        )
    sd = layer.state_dict()
    back = DelayedLinear(3, 2, max_delay=8)
    back.load_state_dict(sd)
    assert torch.equal(back.delay, layer.delay) and back.sigma == layer.sigma


@pytest.mark.parametrize("max_delay, tail", [(6, 3), (24, 24)])
def test_long_inputs_are_convolved_in_chunks_with_the_same_outputs_and_gradients(monkeypatch, max_delay, tail):
    """Just above the switch to chunks: DFT matrices no longer grow with T, and outputs/gradients equal the
    single-DFT path (float64) and the dcls reference (float32)."""
    import snn.delays as delays

    n_steps = delays.MAX_DFT_STEPS + 37
    g = torch.Generator().manual_seed(max_delay)
    layer = DelayedLinear(3, 2, max_delay=max_delay, tail=tail, sigma=1.5, generator=g).double()
    x = torch.rand(n_steps, 2, 3, generator=g, dtype=torch.float64)
    w = torch.rand(n_steps + tail, 2, 2, generator=g, dtype=torch.float64)

    def run(layer, x):
        x = x.clone().requires_grad_()
        layer.zero_grad()
        y = layer(x)
        (y * w.to(y.dtype)).sum().backward()
        return y.detach(), x.grad, layer.weight.grad.clone(), layer.delay.grad.clone()

    shapes, dft = [], delays._dft_matrices
    monkeypatch.setattr(delays, "_dft_matrices", lambda *a: shapes.append([m.shape for m in dft(*a)]) or dft(*a))
    chunked = run(layer, x)
    assert shapes and max(max(s) for mats in shapes for s in mats) <= delays.CHUNK_STEPS + 2 * max_delay + 8
    if importlib.util.find_spec("DCLS"):
        ref = _dcls_like(layer.float())
        x32 = x.float()
        y_ref = ref(torch.nn.functional.pad(x32.permute(1, 2, 0), (max_delay, tail))).permute(2, 0, 1)
        torch.testing.assert_close(layer(x32), y_ref, rtol=1e-5, atol=2e-5)
        layer.double()
    monkeypatch.setattr(delays, "MAX_DFT_STEPS", 10**9)
    whole = run(layer, x)
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
