"""sdrnet.prune against independent references: torch.nn.utils.prune, torch.ao's cubic schedule, numpy/hand
computations of ERK, N:M, SR-STE, RigL; masks through state_dict/deepcopy; export to the core with equal outputs;
quantisation; target profiles; bad input leaves the model unchanged."""

import copy
import math

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, neuron
from torch import nn
from torch.nn.utils import prune as tprune

from sdrnet import prune
from sdrnet.core import Events, Layer, LIFParams, Network, Synapses

torch.set_num_threads(1)


def mlp(seed=0, sizes=(12, 32, 24, 5)):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def snn(seed=0, tau=2.0, decay_input=True, v_reset=0.0, readout=False):
    torch.manual_seed(seed)
    mods = [
        nn.Linear(10, 40),
        neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=v_reset, step_mode="m"),
        nn.Linear(40, 6),
    ]
    if not readout:
        mods.append(neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=v_reset, step_mode="m"))
    model = nn.Sequential(*mods)
    with torch.no_grad():
        for lin in (mods[0], mods[2]):
            lin.weight.mul_(6.0)
            lin.bias.add_(0.5)
    return model


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------- one-shot vs torch
@pytest.mark.parametrize("s", [0.0, 0.5, 0.9, 0.98])
def test_layer_magnitude_matches_torch_l1_unstructured(s):
    ours, ref = mlp(), mlp()
    prune.magnitude_prune(ours, s, scope="layer")
    for m in ref:
        if isinstance(m, nn.Linear):
            tprune.l1_unstructured(m, "weight", amount=s)
    for a, b in zip(ours, ref):
        if isinstance(a, nn.Linear):
            assert torch.equal(prune.get_mask(a), b.weight_mask)
            assert torch.equal(a.weight, b.weight)


def test_global_magnitude_matches_torch_global_unstructured():
    ours, ref = mlp(1), mlp(1)
    prune.magnitude_prune(ours, 0.8, scope="global", include_readout=True)
    tprune.global_unstructured(
        [(m, "weight") for m in ref if isinstance(m, nn.Linear)], tprune.L1Unstructured, amount=0.8
    )
    x = torch.randn(7, 12)
    assert torch.equal(ours(x), ref(x))
    assert prune.sparsity(ours)["total"] == pytest.approx(0.8, abs=1e-3)
    per_layer = prune.sparsity(ours)["layers"]
    assert len(set(round(v, 3) for v in per_layer.values())) > 1  # one threshold, unequal layer sparsities


def test_masks_compose_and_only_shrink():
    model = mlp()
    prune.magnitude_prune(model, 0.5)
    first = [prune.get_mask(m).clone() for m in model if isinstance(m, nn.Linear)]
    prune.random_prune(model, 0.7, "uniform", torch.Generator().manual_seed(0))
    for old, m in zip(first, [m for m in model if isinstance(m, nn.Linear)]):
        new = prune.get_mask(m)
        assert torch.all(new <= old)
        assert float(1 - new.mean()) == pytest.approx(0.7, abs=0.01)
    prune.magnitude_prune(model, 0.3)  # a lower target leaves the masks alone
    assert prune.sparsity(model)["total"] == pytest.approx(0.7, abs=0.01)


# ---------------------------------------------------------------------------------------------- ERK
def test_erk_densities_hand_computed():
    shapes = [(100, 64), (100, 100), (10, 100)]
    d = prune.layer_densities(shapes, 0.1, "erk")
    raw = np.array([164 / 6400, 200 / 10000, 110 / 1000])
    n = np.array([6400, 10000, 1000])
    eps = 0.1 * n.sum() / (raw * n).sum()
    np.testing.assert_allclose(d, eps * raw)
    assert np.dot(d, n) == pytest.approx(0.1 * n.sum())


def test_erk_moves_small_layers_to_dense():
    shapes = [(1000, 1000), (4, 8)]
    d = prune.layer_densities(shapes, 0.5, "erk")
    assert d[1] == 1.0  # raw 12/32 · ε > 1
    assert d[0] == pytest.approx((0.5 * 1_000_032 - 32) / 1_000_000)
    conv = prune.layer_densities([(8, 4, 3, 3), (16, 8, 3, 3)], 0.2, "er")
    assert conv[0] / conv[1] == pytest.approx((12 / 32) / (24 / 128))  # ER ignores the kernel


def test_random_prune_erk_gives_layer_densities():
    model = mlp(sizes=(64, 256, 256, 10))
    prune.random_prune(model, 0.9, "erk", torch.Generator().manual_seed(3))
    lins = [m for m in model if isinstance(m, nn.Linear)]
    want = prune.layer_densities([m.weight.shape for m in lins], 0.1, "erk")
    for m, d in zip(lins, want):
        assert float(prune.get_mask(m).mean()) == pytest.approx(d, abs=1.0 / m.weight.numel())
    assert prune.sparsity(model)["total"] == pytest.approx(0.9, abs=1e-3)


# ---------------------------------------------------------------------------------------------- storage
def test_state_dict_deepcopy_strict_load_and_fresh_model():
    model = mlp()
    prune.magnitude_prune(model, 0.6)
    copied = copy.deepcopy(model)
    x = torch.randn(4, 12)
    assert torch.equal(copied(x), model(x))
    sd = model.state_dict()
    assert {k for k in sd if k.endswith("_mask")} == {"0.weight_mask", "2.weight_mask", "4.weight_mask"}
    other = mlp(5)
    prune.magnitude_prune(other, 0.2)
    other.load_state_dict(sd, strict=True)
    assert torch.equal(other(x), model(x))
    fresh = mlp(7)
    prune.load_pruned(fresh, sd)  # strict, into a dense model
    assert torch.equal(fresh(x), model(x))
    dense = mlp(9)
    dense.load_state_dict(prune.dense_state_dict(model), strict=True)
    assert torch.equal(dense(x), model(x))


def test_masked_weights_stay_zero_through_training():
    model = mlp()
    prune.magnitude_prune(model, 0.8)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    prune.rezero_after_step(opt, model)
    for _ in range(5):
        opt.zero_grad()
        model(torch.randn(8, 12)).square().mean().backward()
        opt.step()
    assert prune.sparsity(model)["total"] == pytest.approx(0.8, abs=1e-3)
    for m in model:
        if isinstance(m, nn.Linear):
            assert torch.all(m.weight[prune.get_mask(m) == 0] == 0)


def test_interop_with_torch_prune_both_ways():
    model = mlp()
    tprune.l1_unstructured(model[0], "weight", amount=0.5)
    x = torch.randn(3, 12)
    before = model(x)
    prune.magnitude_prune(model, 0.7)  # takes over torch's mask, then ANDs its own
    assert "weight_orig" not in dict(model[0].named_parameters())
    assert float(1 - prune.get_mask(model[0]).mean()) == pytest.approx(0.7, abs=0.01)
    copy.deepcopy(model)
    prune.to_torch_prune(model)
    assert hasattr(model[0], "weight_orig") and tprune.is_pruned(model)
    after = model(x)
    fresh = mlp(3)
    prune.load_pruned(fresh, model.state_dict())  # torch's *_orig keys, into a fresh model
    assert torch.allclose(fresh(x), after)
    prune.from_torch_prune(model)
    assert torch.equal(model(x), after) and not torch.equal(before, after)


def test_load_pruned_bad_state_leaves_model_unchanged():
    model, src = mlp(), mlp(1, sizes=(12, 32, 24, 6))
    prune.magnitude_prune(src, 0.5)
    before = state(model)
    with pytest.raises(ValueError, match="shape"):
        prune.load_pruned(model, src.state_dict())
    assert same_state(before, state(model))
    with pytest.raises(KeyError, match="unexpected"):
        prune.load_pruned(model, {**mlp().state_dict(), "extra": torch.zeros(1)})
    assert same_state(before, state(model))


def test_remove_bakes_masks():
    model = mlp()
    prune.magnitude_prune(model, 0.5)
    prune.remove(model)
    assert not any(k.endswith("_mask") for k in model.state_dict())
    assert prune.sparsity(model)["total"] == pytest.approx(0.5, abs=1e-3)
    assert not any(model[0]._forward_pre_hooks)


# ---------------------------------------------------------------------------------------------- schedules
def test_cubic_schedule_matches_torch_ao():
    from torch.ao.pruning.scheduler.cubic_scheduler import CubicSL

    for t in range(0, 1200, 37):
        ref = CubicSL.sparsity_compute_fn(0.1, 0.9, t, 100, 100, 9)
        assert prune.cubic_sparsity(t, 0.9, 100, 1000, 0.1) == pytest.approx(ref)


def test_gradual_pruning_reaches_final_sparsity_on_schedule():
    model = mlp()
    gp = prune.GradualPruning(model, 0.9, begin=10, end=50, frequency=10)
    applied = {}
    for t in range(60):
        s = gp.step()
        if s is not None:
            applied[t] = s
            assert prune.sparsity(model)["total"] == pytest.approx(s, abs=2e-3)
    assert sorted(applied) == [10, 20, 30, 40, 50]
    assert applied[10] == 0.0 and applied[50] == pytest.approx(0.9)
    assert applied[30] == pytest.approx(0.9 * (1 - 0.5**3))


def test_lottery_ticket_prunes_20_percent_of_remaining_and_rewinds():
    model = mlp()
    lt = prune.LotteryTicket(model, rate=0.2, include_readout=True)
    with pytest.raises(RuntimeError, match="save_rewind_point"):
        lt.prune_round()
    lt.save_rewind_point()
    rewind = state(model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    trained = state(model)
    total = sum(m.weight.numel() for m in model if isinstance(m, nn.Linear))
    kept = total
    for r in range(1, 4):
        lt.prune_round()
        kept -= round(0.2 * kept)
        nnz = sum(int((m.weight != 0).sum()) for m in model if isinstance(m, nn.Linear))
        assert nnz == kept
        assert lt.sparsity == pytest.approx(lt.target_after(r), abs=2e-3)
        if r == 1:  # the first round kept the globally largest |w| of the *trained* weights
            w_all = torch.cat([trained[f"{i}.weight"].abs().flatten() for i in (0, 2, 4)])
            thr = torch.sort(w_all, descending=True).values[kept - 1]
            assert torch.equal(prune.get_mask(model[2]).bool(), trained["2.weight"].abs() >= thr)
    for k, v in model.state_dict().items():
        if k.endswith("weight"):
            mask = model.state_dict()[k + "_mask"]
            assert torch.equal(v, rewind[k] * mask)
        elif not k.endswith("_mask"):
            assert torch.equal(v, rewind[k])


def test_prune_regrow_drops_smallest_w_and_grows_largest_grad():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 30))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rr = prune.PruneRegrow(
        model, 0.8, end=10, frequency=2, drop_fraction=0.5, optimizer=opt, generator=torch.Generator().manual_seed(0)
    )
    lin = model[0]
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(16, 20)).square().mean().backward()
        if rr.t + 1 < 2:
            rr.step()
            opt.step()
    mask0 = prune.get_mask(lin).clone().bool()
    w0, g0 = lin.weight.detach().clone(), lin.weight.grad.clone()
    assert rr.step() is True
    f = 0.5 / 2 * (1 + math.cos(math.pi * 2 / 10))
    n_swap = round(f * int(mask0.sum()))
    # numpy reference of one RigL update
    w, g, m = w0.numpy().ravel(), g0.numpy().ravel(), mask0.numpy().ravel()
    drop = np.argsort(np.where(m, np.abs(w), np.inf))[:n_swap]
    kept = m.copy()
    kept[drop] = False
    grow = np.argsort(-np.where(kept, -np.inf, np.abs(g)))[:n_swap]
    ref = kept.copy()
    ref[grow] = True
    new = prune.get_mask(lin).bool().numpy().ravel()
    np.testing.assert_array_equal(new, ref)
    assert new.sum() == m.sum()  # constant sparsity (RigL)
    assert np.all(lin.weight.detach().numpy().ravel()[grow] == 0)
    buf = opt.state[lin.weight]["momentum_buffer"].numpy().ravel()
    assert np.all(buf[grow] == 0)
    assert torch.all(lin.weight.grad[prune.get_mask(lin) == 0] == 0)


def test_granet_prunes_gradually_while_regrowing():
    model = mlp()
    rr = prune.PruneRegrow(
        model, 0.9, initial_sparsity=0.5, end=20, frequency=5, generator=torch.Generator().manual_seed(1)
    )
    assert prune.sparsity(model)["total"] == pytest.approx(0.5, abs=0.01)
    for _ in range(20):
        model.zero_grad()
        model(torch.randn(8, 12)).square().mean().backward()
        rr.step()
    assert prune.sparsity(model)["total"] == pytest.approx(0.9, abs=0.01)


# ---------------------------------------------------------------------------------------------- N:M
def test_nm_mask_against_numpy():
    w = torch.randn(6, 16)
    mask = prune.nm_mask(w, 2, 4).numpy()
    g = np.abs(w.numpy()).reshape(-1, 4)
    ref = np.zeros_like(g, bool)
    np.put_along_axis(ref, np.argsort(-g, 1)[:, :2], True, 1)
    np.testing.assert_array_equal(mask, ref.reshape(6, 16))
    assert mask.reshape(-1, 4).sum(1).tolist() == [2] * 24


def test_srste_forward_and_backward_with_decay():
    lin = nn.Linear(8, 3, bias=False)
    model = nn.Sequential(lin)
    dense = lin.weight.detach().clone()
    sr = prune.SRSTE(model, 1, 4, decay=0.1)
    x = torch.randn(5, 8)
    r = torch.randn(5, 3)
    (model(x) * r).sum().backward()
    pi = prune.nm_mask(dense, 1, 4).float()
    assert torch.allclose(model(x), x @ (dense * pi).T)
    g_ref = (r.T @ x) + 0.1 * (1 - pi) * dense  # STE gradient + sparse-refined decay
    assert torch.allclose(lin.parametrizations.weight.original.grad, g_ref, atol=1e-6)
    copy.deepcopy(model)
    sr.finalize()
    assert torch.equal(lin.weight, dense * pi) and "weight" in dict(lin.named_parameters())
    assert torch.equal(prune.get_mask(lin), pi)


def test_nm_bad_input_leaves_model_unchanged():
    model = mlp()
    before = state(model)
    with pytest.raises(ValueError, match="n <= m"):
        prune.nm_prune(model, 5, 4)
    with pytest.raises(ValueError, match="multiple of m=5"):
        prune.nm_prune(model, 1, 5)
    with pytest.raises(ValueError, match="multiple of m=5"):
        prune.SRSTE(model, 1, 5)
    assert same_state(before, state(model)) and not hasattr(model[0], "parametrizations")


# ---------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "0.5", True])
def test_bad_sparsity_is_rejected_and_model_unchanged(bad):
    model = mlp()
    before = state(model)
    for call in (
        lambda: prune.magnitude_prune(model, bad),
        lambda: prune.random_prune(model, bad),
        lambda: prune.prune_neurons(model, bad),
    ):
        with pytest.raises(ValueError, match="in \\[0, 1\\)"):
            call()
    assert same_state(before, state(model))


def test_unsupported_layers_raise_type_error():
    with pytest.raises(TypeError, match="no prunable layer"):
        prune.magnitude_prune(nn.Sequential(nn.LSTM(3, 4)), 0.5)
    with pytest.raises(TypeError, match="Embedding"):
        prune.magnitude_prune([nn.Embedding(3, 4)], 0.5)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 2))
    with pytest.raises(TypeError, match=r"model\[1\] is Tanh"):
        prune.to_core(model)
    with pytest.raises(TypeError, match="nn.Sequential"):
        prune.to_core(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="step_mode"):
        prune.to_core(nn.Sequential(nn.Linear(3, 3), neuron.LIFNode(step_mode="s")))


# ---------------------------------------------------------------------------------------------- structured
def test_module_graph_is_networkx_and_finds_groups():
    import networkx as nx

    model = snn(readout=True)
    g = prune.module_graph(model)
    assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
    assert prune.unit_groups(model, g) == {"0": ["2"]}
    assert prune.unit_groups(mlp()) == {"0": ["2"], "2": ["4"]}


def test_prune_neurons_equals_zeroing_units():
    model = mlp(2)
    ref = copy.deepcopy(model)
    kept = prune.prune_neurons(model, 0.5)
    assert model[0].out_features == 16 and model[2].in_features == 16 and model[2].out_features == 12
    with torch.no_grad():  # reference: the dense model with the removed units' incoming weights and bias zeroed
        for name, keep in kept.items():
            lin = ref.get_submodule(name)
            gone = sorted(set(range(lin.out_features)) - set(keep))
            lin.weight[gone] = 0
            lin.bias[gone] = 0
    x = torch.randn(9, 12)
    assert torch.allclose(model(x), ref(x), atol=1e-6)


def test_prune_neurons_spiking_and_bad_layer():
    model = snn(readout=True)
    ref = copy.deepcopy(model)
    kept = prune.prune_neurons(model, 0.25)["0"]
    with torch.no_grad():
        gone = sorted(set(range(40)) - set(kept))
        ref[0].weight[gone] = 0
        ref[0].bias[gone] = -100.0  # never fires
    x = torch.rand(8, 3, 10)
    functional.reset_net(ref)
    assert torch.allclose(model(x), ref(x), atol=1e-5)
    before = state(model)
    with pytest.raises(ValueError, match="no removable units"):
        prune.prune_neurons(model, 0.5, layers=["2"])
    assert same_state(before, state(model))


# ---------------------------------------------------------------------------------------------- export
def test_mlp_to_core_equal_outputs_zeros_not_stored():
    model = mlp(3)
    prune.magnitude_prune(model, 0.9, scope="global")
    core = prune.to_core(model)
    assert [s.nnz for s in core.synapses] == [int((m.weight != 0).sum()) for m in model if isinstance(m, nn.Linear)]
    x = torch.randn(20, 12)
    result = core.run(x)
    np.testing.assert_allclose(result.output, model(x).detach().numpy(), atol=1e-5)
    h = torch.relu(model[0](x))  # synops: non-zero inputs × fan-out
    fan = (model[2].weight != 0).sum(0)
    assert result.synops[1] == int(((h != 0).float() @ fan.float()).sum())
    assert len(result.kernels) == 3 and result.state is None
    with pytest.warns(DeprecationWarning, match="CoreMLP.forward is deprecated"):
        old = core.forward(x)  # the alias of one release: the same logits, synops and kernels as attributes
    np.testing.assert_array_equal(old, result.output)
    np.testing.assert_array_equal(core.synops, result.synops)
    assert core.kernels == list(result.kernels)


def test_mlp_core_takes_one_step_events_and_refuses_time():
    model = mlp(4)
    core = prune.to_core(model)
    x = torch.randn(6, 12).relu()
    np.testing.assert_array_equal(core.run(Events.from_dense(x.numpy()[None])).output, core.run(x).output)
    with pytest.raises(ValueError, match="one step of 12 units"):
        core.run(Events.from_dense(np.ones((2, 3, 12), np.float32)))
    with pytest.raises(ValueError, match=r"events must have shape \[B, 12\]"):
        core.run(x[:, :5])
    with pytest.raises(ValueError, match="no state"):
        core.run(x, state=())
    with pytest.raises(ValueError, match="dt must be None"):
        prune.to_core(model, dt=1e-3)


@pytest.mark.parametrize(
    "decay_input,v_reset,readout", [(True, 0.0, False), (False, 0.0, False), (True, None, False), (False, -0.2, True)]
)
def test_snn_to_core_same_spikes_and_potentials(decay_input, v_reset, readout):
    model = snn(4, tau=3.0, decay_input=decay_input, v_reset=v_reset, readout=readout)
    prune.magnitude_prune(model, 0.8)
    net = prune.to_core(model)
    assert isinstance(net, Network) and net.dt is None  # a spiking model has no dt of its own
    assert prune.to_core(model, dt=0.01).dt == 0.01
    x = (torch.rand(40, 6, 10) < 0.5).float()
    functional.reset_net(model)
    with torch.no_grad():
        expected = model(x).numpy()
    result = net.run(Events.from_dense(x.numpy()))
    out = result.output
    with pytest.warns(DeprecationWarning, match="core_forward is deprecated"):
        old, _ = prune.core_forward(net, x)  # the alias of one release returns the same
    np.testing.assert_array_equal(old, out)
    if readout:
        np.testing.assert_allclose(out, expected, atol=1e-5)
        assert out.std() > 0
    else:
        assert expected.sum() > 10
        np.testing.assert_array_equal(out, expected)
    hidden = result.layer_spikes[0]
    functional.reset_net(model)
    with torch.no_grad():
        h_ref = model[1](model[0](x)).numpy()
    np.testing.assert_array_equal(hidden.to_dense(), h_ref)
    assert result.synops[1] == int((h_ref.sum((0, 1)) * (model[2].weight != 0).sum(0).numpy()).sum())


# ---------------------------------------------------------------------------------------------- quantisation
def test_quantize_symmetric_per_layer_and_unit():
    model = mlp()
    w = model[0].weight.detach().clone().numpy()
    prune.quantize([model[0]], 4)
    s = np.abs(w).max() / 7
    np.testing.assert_allclose(model[0].weight.detach().numpy(), np.clip(np.round(w / s), -7, 7) * s, rtol=1e-6)
    w2 = model[2].weight.detach().clone().numpy()
    prune.quantize([model[2]], 3, per="unit")
    s2 = np.abs(w2).max(1, keepdims=True) / 3
    np.testing.assert_allclose(model[2].weight.detach().numpy(), np.round(w2 / s2) * s2, rtol=1e-6)
    syn = Synapses.from_dense(model[0].weight.detach().numpy().T)
    assert prune.weight_bits(syn) == 4 and prune.check_bits(syn, 8) is False
    assert prune.weight_bits(Synapses.from_dense(np.random.default_rng(0).normal(size=(5, 5)))) == 32
    with pytest.raises(ValueError, match="bits"):
        prune.quantize(model, 1)


# ---------------------------------------------------------------------------------------------- targets
def test_profiles_report_every_violation():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(20, 1200)) * (rng.random((20, 1200)) < 0.1)
    net = Network(
        [
            Layer(Synapses.from_dense(w, rng.integers(0, 70, (20, 1200))), LIFParams()),
            Layer(Synapses.from_dense(rng.normal(size=(1200, 10))), LIFParams()),
        ]
    )
    loihi = {(v.where, v.rule) for v in prune.check(net, prune.LOIHI)}
    assert loihi == {
        ("layer 0", "synaptic delay (steps)"),
        ("layer 0", "weight bits (per layer)"),
        ("layer 1", "weight bits (per layer)"),
    }
    xylo = {(v.where, v.rule): v.value for v in prune.check(net, prune.XYLO)}
    assert xylo[("network", "input units")] == 20 and xylo[("network", "output neurons")] == 10
    assert xylo[("network", "hidden neurons")] == 1200
    assert xylo[("input units", "fan-out")] == int((w != 0).sum(1).max())
    custom = prune.TargetProfile("mine", max_fan_in=5, max_synapses=100)
    found = {(v.where, v.rule) for v in custom.check(net)}
    assert found == {("network", "synapses"), ("layer 0", "fan-in"), ("layer 1", "fan-in")}
    assert "violation(s) of the Loihi profile" in prune.report(prune.check(net, prune.LOIHI), prune.LOIHI)


def test_fit_to_target_prunes_and_quantises_or_explains():
    model = snn(readout=True)
    before = state(model)
    fit = prune.fit_to_target(model, prune.TargetProfile("small", weight_bits=6, max_fan_out=8))
    assert prune.check(fit.network, prune.TargetProfile("small", weight_bits=6, max_fan_out=8)) == []
    assert all(s.fan_out().max() <= 8 for s in (lay.synapses for lay in fit.network.layers))
    assert same_state(before, state(model))
    x = (torch.rand(10, 2, 10) < 0.3).float()
    functional.reset_net(fit.model)
    with torch.no_grad():
        np.testing.assert_allclose(
            fit.network.run(Events.from_dense(x.numpy())).output, fit.model(x).numpy(), atol=1e-5
        )
    with pytest.raises(prune.TargetError, match="output neurons is 6, the target allows 2") as err:
        prune.fit_to_target(model, prune.TargetProfile("tiny", max_outputs=2, max_hidden=10))
    assert {v.rule for v in err.value.violations} == {"output neurons", "hidden neurons"}
    assert same_state(before, state(model))


# ---------------------------------------------------------------------------------------------- experiment
def test_experiment_harness_reaches_each_sparsity(tmp_path):
    from sdrnet.prune import experiment

    budget = experiment.Budget(hidden=(16, 16), epochs=2, finetune=1, imp_epochs=2, seeds=1, sparsities=(0.5, 0.9))
    res = experiment.run(tmp_path, budget=budget, progress=False)
    assert (tmp_path / experiment.FIGURE).exists() and res["summary"] == experiment.summary(res)
    assert len(res["summary"]) == len(experiment.METHODS) * 2
    for r in res["summary"]:
        method = r["method"]
        tol = 0.15 if method in ("N:M SR-STE", "IMP + rewind", "neurons (structured)", "small dense") else 0.01
        assert r["sparsity"] == pytest.approx(r["target_sparsity"], abs=tol), method
        assert 0.0 <= r["accuracy"] <= 1.0
    imp = [r for r in res["runs"] if r["method"] == "IMP + rewind" and r["target_sparsity"] == 0.9]
    assert [r["rounds"] for r in imp] == [11]  # 1 − 0.8^11 = 0.914
    with pytest.raises(ValueError, match="methods"):
        experiment.Budget(hidden=(8,), epochs=1, finetune=1, imp_epochs=1, seeds=1, methods=("magic",))


# ---------------------------------------------------------------------------------------------- delay SNN
def delay_snn(seed=0):
    pytest.importorskip("spikingjelly")
    from snn_fixtures import trained_like_delay_snn

    return trained_like_delay_snn(seed)


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_delayed_linear_magnitude_matches_numpy_topk(scope):
    model, _ = delay_snn()
    ws = [s.weight.detach().numpy().copy() for s in model.synapses]
    delays = [s.delay.detach().clone() for s in model.synapses]
    assert [m for m, _ in prune.masks.targets(model)] == list(model.synapses)
    prune.magnitude_prune(model, 0.7, scope=scope, include_readout=True)
    if scope == "global":
        flat = np.concatenate([np.abs(w).ravel() for w in ws])
        keep = np.zeros(flat.size, bool)
        keep[np.argsort(-flat, kind="stable")[: flat.size - round(0.7 * flat.size)]] = True
        want = np.split(keep, np.cumsum([w.size for w in ws])[:-1])
    else:
        want = []
        for w in ws:
            k = np.zeros(w.size, bool)
            k[np.argsort(-np.abs(w).ravel(), kind="stable")[: w.size - round(0.7 * w.size)]] = True
            want.append(k)
    for syn, w, k, d in zip(model.synapses, ws, want, delays):
        mask = prune.get_mask(syn).numpy().astype(bool)
        np.testing.assert_array_equal(mask.ravel(), k)
        np.testing.assert_array_equal(syn.weight.detach().numpy(), np.where(mask, w, 0))
        assert prune.get_mask(syn, "delay") is None and torch.equal(syn.delay.detach(), d)  # delays not pruned
    assert prune.sparsity(model)["total"] == pytest.approx(0.7, abs=1e-3)


def test_delayed_linear_masks_survive_training_and_erk():
    from snn.models import snn_loss

    model, x = delay_snn()
    prune.random_prune(model, 0.8, "erk", torch.Generator().manual_seed(0))
    masks = [prune.get_mask(s).clone() for s in model.synapses]
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        snn_loss(model(x), torch.randint(0, 4, (8,))).backward()
        opt.step()  # moves the pruned weights; the forward pre-hook zeroes them again before use
        model(x)
        for syn, mask in zip(model.synapses, masks):
            assert torch.all(syn.weight[mask == 0] == 0) and torch.any(syn.weight[mask == 1] != 0)
    copy_ = model.discretized()  # deepcopy keeps masks and hooks
    assert all(torch.equal(prune.get_mask(a), prune.get_mask(b)) for a, b in zip(model.synapses, copy_.synapses))
    assert prune.sparsity(model)["total"] == pytest.approx(0.8, abs=0.01)


def test_pruned_delay_snn_exports_only_nonzeros_and_predicts_like_torch():
    from sdrnet.core import Events
    from snn.export import DelaySNNCore, export
    from snn.models import sum_softmax

    model, x = delay_snn(seed=3)
    prune.magnitude_prune(model, 0.6, scope="global", include_readout=True)
    net = model.discretized()
    with torch.no_grad():
        v = net(x)
    network = export(net)
    kept = sum(int(prune.get_mask(s).sum()) for s in model.synapses)
    assert sum(layer.synapses.nnz for layer in network.layers) == kept < sum(s.weight.numel() for s in model.synapses)
    pred = DelaySNNCore(network).predict(Events.from_dense(x.numpy()))
    np.testing.assert_array_equal(pred, sum_softmax(v).argmax(1).numpy())
    np.testing.assert_allclose(network.run(Events.from_dense(x.numpy())).output, v.numpy(), atol=1e-5)


def test_timing_task_runs_through_the_harness():
    from sdrnet.prune import experiment

    task = experiment.get_task("timing")(0)
    assert task.x_train.shape[1:] == (100, 140) and task.n_classes == 10
    assert experiment.SNN_QUICK.task == "timing" and "neurons (structured)" not in task.methods
    small = experiment.Task(
        task.name,
        task.x_train[:48],
        task.y_train[:48],
        task.x_test[:32],
        task.y_test[:32],
        task.make_model,
        task.forward,
        task.fit,
        task.methods,
    )
    budget = experiment.Budget(
        hidden=(8, 8),
        epochs=1,
        finetune=1,
        imp_epochs=1,
        seeds=1,
        batch_size=16,
        task="timing",
        methods=("magnitude (global)", "gradual (GMP)", "small dense"),
    )
    dense = small.make_model(budget.hidden, 0)
    experiment.train(dense, small, 1, budget, 0)
    assert experiment.weights(dense) == 140 * 8 + 8 * 8 + 8 * 10
    for method in budget.methods:
        r = experiment.run_method(method, 0.8, small, dense, budget, 0)
        assert 0 <= r["accuracy"] <= 1
        assert r["sparsity"] == pytest.approx(0.8, abs=0.01 if method != "small dense" else 0.15), method
    with pytest.raises(ValueError, match="does not support"):
        experiment.run_experiment(
            experiment.Budget(
                hidden=(8, 8),
                epochs=1,
                finetune=1,
                imp_epochs=1,
                seeds=1,
                task="timing",
                methods=("neurons (structured)",),
            ),
            progress=False,
        )


# ---------------------------------------------------------------------------------------------- trust
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize(
    "call",
    [
        lambda m: prune.magnitude_prune(m, 0.5),
        lambda m: prune.nm_prune(m, 1, 4),
        lambda m: prune.magnitude_prune(m, 0.5, "global", include_readout=True),
    ],
)
def test_non_finite_weights_are_refused_naming_the_layer(bad, call):
    model = mlp()
    with torch.no_grad():
        model[2].weight[3, 1] = bad
    before = state(model)
    with pytest.raises(ValueError, match=r"2\.weight holds 1 NaN/inf weight\(s\) \(the first at index \(3, 1\)\)"):
        call(model)
    after = state(model)
    assert after.keys() == before.keys() and not prune.is_pruned(model[0])
    for key in before:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0, equal_nan=True)


def test_global_magnitude_leaves_the_readout_dense_by_default():
    ours, ref = mlp(1), mlp(1)
    prune.magnitude_prune(ours, 0.8, scope="global")
    hidden = [m for m in ref if isinstance(m, nn.Linear)][:-1]  # torch's global threshold over the hidden layers
    tprune.global_unstructured([(m, "weight") for m in hidden], tprune.L1Unstructured, amount=0.8)
    x = torch.randn(7, 12)
    assert torch.equal(ours(x), ref(x))
    assert prune.readout(ours) is ours[4] and not prune.is_pruned(ours[4])
    kept = sum(int((m.weight != 0).sum()) for m in ours[:4] if isinstance(m, nn.Linear))
    assert kept == 12 * 32 + 32 * 24 - round(0.8 * (12 * 32 + 32 * 24))
    with pytest.raises(ValueError, match="include_readout=True"):
        prune.magnitude_prune(nn.Sequential(nn.Linear(3, 2)), 0.5, scope="global")
    with pytest.raises(TypeError, match="include_readout must be a bool, got str"):
        prune.magnitude_prune(mlp(), 0.5, scope="global", include_readout="yes")
    with pytest.raises(TypeError, match="include_readout must be a bool, got int"):
        prune.LotteryTicket(mlp(), include_readout=1)
    # a numpy bool is a bool: the same masks as with True
    a, b = mlp(), mlp()
    prune.magnitude_prune(a, 0.5, scope="global", include_readout=True)
    prune.magnitude_prune(b, 0.5, scope="global", include_readout=np.bool_(True))
    assert prune.is_pruned(b[4]) and all(torch.equal(prune.get_mask(a[i]), prune.get_mask(b[i])) for i in (0, 2, 4))
    gp = prune.GradualPruning(mlp(), 0.5, end=1, scope="global", include_readout=np.bool_(True))
    lt = prune.LotteryTicket(mlp(), include_readout=np.bool_(False))
    assert gp.include_readout is True and lt.include_readout is False


def test_global_pruning_of_a_wide_net_empties_its_readout_only_when_asked():
    torch.manual_seed(0)  # the README's network: hidden weights ~U(±1/8), readout ~U(±1/11)
    model = nn.Sequential(nn.Linear(64, 128), neuron.LIFNode(step_mode="m"), nn.Linear(128, 10))
    both = copy.deepcopy(model)
    prune.magnitude_prune(model, 0.9, scope="global")
    assert [int((m.weight != 0).sum()) for m in (model[0], model[2])] == [8192 - round(0.9 * 8192), 1280]
    prune.magnitude_prune(both, 0.9, scope="global", include_readout=True)
    assert int((both[2].weight != 0).sum()) < 10  # why the readout is left out by default


def test_lottery_ticket_and_gmp_leave_the_readout_dense_by_default():
    model = mlp()
    lt = prune.LotteryTicket(model)
    lt.save_rewind_point()
    lt.prune_round()
    assert not prune.is_pruned(model[4]) and lt.sparsity == pytest.approx(0.2, abs=2e-3)
    other = mlp()
    gp = prune.GradualPruning(other, 0.5, begin=0, end=1, frequency=1, scope="global")
    gp.step(), gp.step()
    assert not prune.is_pruned(other[4]) and float(prune.get_mask(other[0]).mean()) < 1


def test_delayed_linear_is_prunable_whatever_sys_modules_holds(monkeypatch):
    import sys

    model, _ = delay_snn()
    monkeypatch.delitem(sys.modules, "snn.delays")  # the class is recognised by name, not looked up
    assert [m for m, _ in prune.masks.targets(model)] == list(model.synapses)
    prune.magnitude_prune(model, 0.5)
    assert all(prune.is_pruned(s) for s in model.synapses)


def _fresh_python(code: str) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_relu_mlp_export_never_imports_spikingjelly():
    out = _fresh_python(
        "import sys, torch\nfrom sdrnet import prune\n"
        "m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))\n"
        "prune.magnitude_prune(m, 0.5, 'global')\ncore = prune.to_core(m)\n"
        "prune.fit_to_target(m, prune.LOIHI)\nprune.prune_neurons(m, 0.25)\n"
        "print(type(core).__name__, sorted(k for k in sys.modules if k.split('.')[0] in "
        "('spikingjelly', 'snn')))\n"
    )
    assert out.split() == ["CoreMLP", "[]"]


def test_missing_torch_names_the_extra():
    out = _fresh_python(
        "import sys\nsys.modules['torch'] = None\n"
        "for name in ('sdrnet.prune', 'snn.delta', 'snn.export'):\n"
        "    try:\n        __import__(name)\n    except ModuleNotFoundError as err:\n"
        "        print(err.name, err)\n"
    )
    assert out.splitlines() == [
        f"torch {name} needs torch: pip install 'sdrnet[torch]'" for name in ("sdrnet.prune", "snn.delta", "snn.export")
    ]


def test_quantize_network_keeps_everything_but_the_weights():
    rng = np.random.default_rng(0)
    net = Network(
        [
            Layer(
                Synapses.from_dense(rng.normal(size=(6, 5)), rng.integers(0, 3, (6, 5))),
                LIFParams(tau=2.0),
                bias=0.3,
                tail=2,
            ),
            Layer(Synapses.from_dense(rng.normal(size=(5, 3))), prune.READOUT, bias=rng.normal(size=3), tail=1),
        ],
        dt=0.01,
    )
    q = prune.quantize_network(net, 4)
    assert q.dt == 0.01
    for a, b in zip(net.layers, q.layers):
        assert (b.tail, b.neuron) == (a.tail, a.neuron) and np.array_equal(b.bias, a.bias)
        np.testing.assert_array_equal(b.synapses.delay_matrix(), a.synapses.delay_matrix())
        assert prune.check_bits(b.synapses, 4)
    ev = Events.from_dense((rng.random((6, 2, 6)) < 0.5).astype(np.float32))
    assert q.run(ev).spikes.n_steps == net.run(ev).spikes.n_steps == 6 + 2 + 1


def test_a_target_the_deploy_network_cannot_fit_is_refused_before_training(monkeypatch, tmp_path):
    from sdrnet.prune import experiment

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the target")

    monkeypatch.setattr(experiment, "spiking_digits", no_training)
    with pytest.raises(prune.TargetError) as err:
        experiment.deploy(tmp_path, prune.XYLO)
    assert err.value.summary == (
        "does not fit Xylo Audio: network: input units is 64, the target allows 16; "
        "network: output neurons is 10, the target allows 8"
    )
    assert prune.check_sizes(64, (128, 10), prune.LOIHI) == [] and experiment.check_deploy(prune.LOIHI) is None
    assert {v.rule for v in prune.check_sizes(20, (1200, 10), prune.XYLO)} == {
        "input units",
        "output neurons",
        "hidden neurons",
    }


def test_plot_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    import matplotlib

    from sdrnet.prune import experiment

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        results = {
            "task": "digits",
            "budget": {"hidden": [8]},
            "dense": [0.9],
            "runs": [
                {"method": "gradual (GMP)", "target_sparsity": 0.5, "accuracy": 0.8, "sparsity": 0.5, "nonzeros": 10}
            ],
        }
        experiment.plot(results, tmp_path / "f.png")
        assert matplotlib.get_backend() == "svg" and (tmp_path / "f.png").stat().st_size > 1000
    finally:
        matplotlib.use(before)


def test_cli_refuses_a_target_that_cannot_fit_before_any_training(tmp_path, capsys, monkeypatch):
    from sdrnet import cli
    from sdrnet.prune import experiment

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the target")

    monkeypatch.setattr(experiment, "run", no_training)
    monkeypatch.setattr(experiment, "spiking_digits", no_training)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["prune", "--target", "xylo", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert err.startswith("sdrnet prune: error: --target xylo: ") and "input units is 64, the target allows 16" in err
    assert not (tmp_path / "out").exists()
