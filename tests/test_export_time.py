"""Physical time through the delay SNN: the model carries its data's step length (`SNNConfig.dt`, set by
`snn.train`), and the exports write τ and the delays in seconds from it (core `Network.dt`, NIR, Brian2)."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from snn_fixtures import trained_like_delay_snn  # noqa: E402

from snn import data  # noqa: E402
from snn.models import DelaySNN, SNNConfig  # noqa: E402
from snn.train import TrainConfig, load_checkpoint, load_model, train  # noqa: E402

DT = 0.01  # 10 ms bins, as SHD/SSC


def _quick(**kw):
    base = dict(
        dataset="synthetic",
        n_hidden=8,
        n_layers=1,
        max_delay=6,
        epochs=1,
        batch_size=32,
        synthetic_samples=120,
        dropout=0.0,
        progress=False,
    )
    return TrainConfig(**{**base, **kw})


def test_training_gives_the_model_its_datas_step_length(tmp_path):
    res = train(_quick(dt=DT), tmp_path / "run")
    assert res["model"].config.dt == DT
    assert load_model(tmp_path / "run" / "best.pt").config.dt == DT


def test_data_binned_at_another_dt_than_configured_is_refused(tmp_path):
    full = data.timing_task(n_samples=120, seed=0, dt=0.005)
    rest, test = data.holdout(full, fraction=0.25, seed=1)
    train_set, valid = data.holdout(rest, fraction=0.1, seed=0)
    with pytest.raises(ValueError, match=r"binned at dt=0.005 s .* dt=0.01 s"):
        train(_quick(dt=DT), tmp_path / "run", datasets={"train": train_set, "valid": valid, "test": test})


def test_checkpoint_and_config_from_before_dt_still_load(tmp_path):
    fields = {f.name for f in dataclasses.fields(SNNConfig)} - {"dt"}
    old = SNNConfig(**{name: getattr(SNNConfig(), name) for name in fields})
    assert old.dt is None
    train(_quick(), tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "best.pt")
    del state["config"]["dt"]  # a TrainConfig of a version without dt trained at its default 10 ms bins
    torch.save(state, tmp_path / "old.pt")
    model = load_model(tmp_path / "old.pt")
    assert model.config.dt == 0.01
    for a, b in zip(model.state_dict().values(), state["model"].values()):
        torch.testing.assert_close(a, b)


def test_config_dt_must_be_seconds():
    with pytest.raises(ValueError, match="dt must be a positive finite number of seconds"):
        SNNConfig(dt=0)
    with pytest.raises(ValueError, match="dt"):
        SNNConfig(dt=float("nan"))
    assert DelaySNN(SNNConfig(n_inputs=4, n_hidden=3, n_outputs=2, dt=1)).config.dt == 1.0
    model, _ = trained_like_delay_snn(dt=DT)
    assert model.config.dt == DT


def _neuron_node(graph, i):
    """Layer ``i``'s neuron node: ``lif{i}``, or ``li{i}`` for the readout (NIR's non-spiking LI)."""
    return f"lif{i}" if f"lif{i}" in graph.nodes else f"li{i}"


def _delay_branches(graph, i):
    """``{delay in seconds: W_d}`` of layer ``i``'s delayed branches in a graph of `network_to_nir`."""
    nir = pytest.importorskip("nir")
    into = {}
    for a, b in graph.edges:
        into.setdefault(b, []).append(a)
    out = {}
    for branch in into[_neuron_node(graph, i)]:
        source = into[branch][0]
        if isinstance(graph.nodes[source], nir.Delay):
            delay = graph.nodes[source].delay
            assert np.all(delay == delay[0])
            out[float(delay[0])] = graph.nodes[branch].weight
    return out


def test_nir_export_writes_tau_and_the_models_delays_in_seconds(tmp_path):
    nir = pytest.importorskip("nir")
    from sdrnet.core.nir import network_from_nir
    from snn.export import export, to_nir

    model, _ = trained_like_delay_snn(seed=2, batchnorm=False, dt=DT)
    network = export(model)
    assert network.dt == DT
    to_nir(model, tmp_path / "snn.nir", drop_tails=True)
    graph = nir.read(tmp_path / "snn.nir")
    assert graph.metadata["dt"] == DT
    for i, syn in enumerate(model.synapses):
        np.testing.assert_allclose(graph.nodes[_neuron_node(graph, i)].tau, model.config.tau * DT)  # 10.05 ms
        w, d = syn.weight.detach().numpy(), syn.integer_delays().numpy()
        branches = _delay_branches(graph, i)
        assert sorted(branches) == pytest.approx(sorted({k * DT for k in np.unique(d[w != 0]) if k}))
        for seconds, weight in branches.items():
            k = round(seconds / DT)
            assert seconds == pytest.approx(k * DT)
            np.testing.assert_array_equal(weight, np.where(d == k, w, 0))
    back = network_from_nir(graph)
    assert back.dt == DT
    for a, b in zip(network.layers, back.layers):
        assert b.neuron.tau == pytest.approx(model.config.tau)
        np.testing.assert_array_equal(a.synapses.delay_matrix(), b.synapses.delay_matrix())


def test_export_refuses_to_guess_dt_and_a_dt_that_disagrees():
    from sdrnet.core.nir import network_to_nir
    from snn.export import export, to_nir

    untimed, _ = trained_like_delay_snn(seed=2, batchnorm=False)
    assert export(untimed).dt is None
    with pytest.raises(ValueError, match=r"to_nir needs dt .*pass dt="):
        to_nir(untimed, drop_tails=True)
    graph = to_nir(untimed, dt=DT, drop_tails=True)
    assert graph.metadata["dt"] == DT and graph.nodes["lif0"].tau[0] == pytest.approx(untimed.config.tau * DT)
    assert export(untimed, dt=DT).dt == DT
    timed, _ = trained_like_delay_snn(seed=2, batchnorm=False, dt=DT)
    with pytest.raises(ValueError, match=r"dt=0.001 s disagrees with model.config.dt=0.01 s"):
        export(timed, dt=1e-3)
    with pytest.raises(ValueError, match="disagrees"):
        to_nir(timed, dt=1e-3, drop_tails=True)
    with pytest.raises(ValueError, match=r"dt=0.001 s disagrees with network.dt=0.01 s"):
        network_to_nir(export(timed), dt=1e-3, drop_tails=True)
    assert export(timed, dt=DT).dt == DT  # the same dt given again is fine


def test_brian2_runs_at_the_models_dt_and_matches_the_core():
    pytest.importorskip("brian2")
    from sdrnet.core import Events
    from snn.export import export, run_brian2

    model, x = trained_like_delay_snn(seed=1, dt=DT)
    events = Events.from_dense(x.numpy()[:, :1], dt=DT)
    network = export(model)
    res = network.run(events)
    out = run_brian2(network, events)
    assert out["dt"] == DT
    for layer, (t, i) in enumerate(out["spikes"][:-1]):
        dense = np.zeros((res.layer_spikes[layer].n_steps, network.layers[layer].n))
        dense[t, i] = 1
        np.testing.assert_array_equal(dense, res.layer_spikes[layer].to_dense()[:, 0])
    assert sum(len(t) for t, _ in out["spikes"]) > 5
    np.testing.assert_allclose(out["v_out"], res.output[:, 0], atol=1e-5)
    untimed, _ = trained_like_delay_snn(seed=1)
    with pytest.raises(ValueError, match=r"run_brian2 needs dt"):
        run_brian2(export(untimed), events)


def test_brian2_runs_each_neuron_model_from_its_description_in_seconds(rng):
    pytest.importorskip("brian2")
    from sdrnet.core import Events, IFParams, Layer, LIFParams, Network, Synapses
    from snn.export import run_brian2

    w1 = rng.normal(0.4, 0.6, (8, 6)) * (rng.random((8, 6)) < 0.6)
    w2 = rng.normal(0.4, 0.6, (6, 3))
    net = Network(
        [
            Layer(Synapses.from_dense(w1, rng.integers(0, 4, (8, 6))), IFParams(v_reset=0.0)),
            Layer(
                Synapses.from_dense(w2, rng.integers(0, 3, (6, 3))),
                LIFParams(tau_s=0.03, v_reset=-0.2, decay_input=True),
                bias=0.05,
            ),
        ],
        dt=DT,
    )
    events = Events.from_dense((rng.random((25, 1, 8)) < 0.3).astype(np.float32), dt=DT)
    res = net.run(events)
    out = run_brian2(net, events)
    assert out["dt"] == DT and res.layer_spikes[1].n_events > 0
    for layer, (t, i) in enumerate(out["spikes"]):
        dense = np.zeros((res.layer_spikes[layer].n_steps, net.layers[layer].n))
        dense[t, i] = 1
        np.testing.assert_array_equal(dense, res.layer_spikes[layer].to_dense()[:, 0])
