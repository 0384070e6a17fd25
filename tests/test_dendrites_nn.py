"""Active-dendrite layers (Iyer et al. 2022) against plain einsum/numpy references written here; the
continual-learning harness; MNIST's IDX reader; export to the event-driven core."""

import copy
import gzip
import json
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn import functional as F

from dendrites import continual
from dendrites.nn import (
    DendriteSegments,
    DendriticLayer,
    DendriticMLP,
    KWinners,
    SparseWeights,
    group_contexts,
    rezero_after_step,
    to_core,
    update_boost_strength,
)
from sdrnet.datasets import read_idx
from sdrnet.experiment import jsonable

torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------- references
def segments_ref(weights, context):
    """nupic.research DendriteSegments: einsum over every (sample, unit, segment)."""
    return torch.einsum("ijk,bk->bij", weights, context)


def modulate_ref(y, d, mode):
    if mode == "absmax_gating":
        idx = d.abs().max(dim=2).indices
        return y * torch.sigmoid(torch.gather(d, 2, idx.unsqueeze(2)).squeeze(2))
    if mode == "gating":
        return y * torch.sigmoid(d.max(dim=2).values)
    return y + d.max(dim=2).values


def kwta_ref(x, k):
    """Keep entries >= the k-th largest of their row (kthvalue, as nupic's F.kwinners without boosting)."""
    threshold = x.detach().kthvalue(x.shape[1] - k + 1, dim=1, keepdim=True).values
    return x * (x.detach() >= threshold)


def mlp_ref(model, x, context):
    """The whole DendriticMLP, densely: every sample's segments by einsum, masks applied explicitly."""
    context = context.expand(x.shape[0], -1) if context.dim() == 1 or context.shape[0] == 1 else context
    for layer, act in zip(model.layers, model.activations):
        lin = layer.linear if model.num_segments else layer
        y = x @ (lin.weight * ~lin.zero_mask).T + lin.bias
        if model.num_segments:
            y = modulate_ref(y, segments_ref(layer.segments.weights * ~layer.segments.zero_mask, context), model.mode)
        x = kwta_ref(y, act.k if model.training else act.k_inference) if model.kw else torch.relu(y)
    return x @ (model.output.weight * ~model.output.zero_mask).T + model.output.bias


def contexts_for(pattern, batch, dim, gen):
    if pattern == "one row":
        return torch.randn(dim, generator=gen, dtype=torch.float64)
    if pattern == "all distinct":
        return torch.randn(batch, dim, generator=gen, dtype=torch.float64)
    table = torch.randn(3, dim, generator=gen, dtype=torch.float64)
    return table[torch.randint(0, 3, (batch,), generator=gen)]


# ---------------------------------------------------------------------------------------------- layers
@given(
    units=st.integers(1, 12),
    segments=st.integers(1, 6),
    dim=st.integers(1, 9),
    batch=st.integers(1, 10),
    in_features=st.integers(1, 8),
    mode=st.sampled_from(["absmax_gating", "gating", "biasing"]),
    pattern=st.sampled_from(["one row", "all distinct", "three prototypes"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_dendritic_layer_matches_einsum_reference(units, segments, dim, batch, in_features, mode, pattern, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    layer = DendriticLayer(
        in_features, units, segments, dim, mode=mode, module_sparsity=0.3, dendrite_sparsity=0.2
    ).double()
    x = torch.randn(batch, in_features, generator=gen, dtype=torch.float64)
    context = contexts_for(pattern, batch, dim, gen)
    full = context.expand(batch, dim) if context.dim() == 1 else context
    np.testing.assert_allclose(
        layer.segments(full).detach(), segments_ref(layer.segments.weights, full).detach(), rtol=1e-12, atol=1e-12
    )
    ref = modulate_ref(x @ layer.linear.weight.T + layer.linear.bias, segments_ref(layer.segments.weights, full), mode)
    np.testing.assert_allclose(layer(x, context).detach(), ref.detach(), rtol=1e-10, atol=1e-12)


def test_absmax_gating_keeps_the_sign_of_the_strongest_segment():
    layer = DendriticLayer(1, 2, 3, 2, module_sparsity=0.0).double()
    with torch.no_grad():
        layer.linear.weight.fill_(1.0)
        layer.linear.bias.zero_()
        layer.segments.weights.copy_(torch.tensor([[[1.0, 0], [-3, 0], [2, 0]], [[0.5, 0], [0.1, 0], [-0.2, 0]]]))
    out = layer(torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64))
    expected = 2 * torch.sigmoid(torch.tensor([-3.0, 0.5], dtype=torch.float64))  # d* = -3 (not 2), 0.5
    np.testing.assert_allclose(out.detach()[0], expected, rtol=1e-12)


def test_group_contexts_rebuilds_every_row():
    table = torch.randn(4, 5)
    idx = torch.tensor([2, 0, 2, 3, 0, 0])
    rows, inverse = group_contexts(table[idx])
    assert rows.shape[0] == 3 and torch.equal(rows[inverse], table[idx])
    rows, inverse = group_contexts(table[[1, 1, 1]])
    assert inverse is None and rows.shape == (1, 5)
    rows, inverse = group_contexts(table)
    assert inverse is None and torch.equal(rows, table)


@pytest.mark.parametrize("kw", [True, False])
@pytest.mark.parametrize("mode", ["absmax_gating", "gating", "biasing"])
def test_fast_path_gradients_equal_the_einsum_reference(kw, mode):
    torch.manual_seed(0)
    model = DendriticMLP(
        12,
        (40, 30),
        5,
        num_segments=4,
        dim_context=7,
        kw=kw,
        kw_percent_on=0.2,
        weight_sparsity=0.5,
        dendrite_sparsity=0.3,
        mode=mode,
    ).double()
    x = torch.randn(16, 12, dtype=torch.float64)
    y = torch.randint(0, 5, (16,))
    table = torch.randn(3, 7, dtype=torch.float64)
    index = torch.tensor([0, 1, 2, 1] * 4)
    keep = _kept_entries(model)
    for forward, context in (
        (lambda: model(x, table[0]), table[0]),
        (lambda: model(x, table[index]), table[index]),
        (lambda: model.forward_indexed(x, table, index), table[index]),
    ):
        model.zero_grad()
        F.cross_entropy(forward(), y).backward()
        fast = {name: p.grad * keep.get(name, 1.0) for name, p in model.named_parameters()}
        model.zero_grad()
        F.cross_entropy(mlp_ref(model, x, context), y).backward()  # masks applied: zero gradient where masked
        for name, p in model.named_parameters():
            np.testing.assert_allclose(fast[name], p.grad, rtol=1e-9, atol=1e-12, err_msg=name)


def _kept_entries(model):
    """Parameter name -> 1 where the weight is not masked (the optimizer's update there is re-zeroed)."""
    keep = {}
    for name, m in model.named_modules():
        if isinstance(m, SparseWeights):
            keep[f"{name}.module.weight"] = ~m.zero_mask
        elif isinstance(m, DendriteSegments):
            keep[f"{name}.weights"] = ~m.zero_mask
    return keep


def test_segment_gradient_reaches_only_the_winning_segment():
    torch.manual_seed(1)
    layer = DendriticLayer(3, 4, 5, 6, module_sparsity=0.0)
    context = torch.randn(6)
    layer(torch.randn(8, 3), context).sum().backward()
    d = segments_ref(layer.segments.weights, context[None])[0]
    winner = d.abs().argmax(dim=1)
    touched = layer.segments.weights.grad.abs().sum(dim=2) > 0
    assert torch.equal(touched, F.one_hot(winner, 5).bool())


# ---------------------------------------------------------------------------------------------- k-WTA
def test_kwinners_keeps_the_k_largest_and_more_at_inference():
    kw = KWinners(10, 0.2, k_inference_factor=1.5, boost_strength=0.0)
    x = torch.tensor([[0.1, 0.9, 0.3, 0.8, -1.0, 0.0, 0.2, 0.7, 0.4, 0.5]])
    assert torch.equal(kw(x), x * torch.tensor([[0, 1, 0, 1, 0, 0, 0, 0, 0, 0]]))  # k = 2
    kw.eval()
    assert torch.equal(kw(x), x * torch.tensor([[0, 1, 0, 1, 0, 0, 0, 1, 0, 0]]))  # k_inference = int(2·1.5) = 3


def test_kwinners_ties_all_win_unless_broken():
    x = torch.tensor([[1.0, 2.0, 2.0, 0.5]])
    assert int((KWinners(4, 0.25, boost_strength=0.0)(x) != 0).sum()) == 2
    assert int((KWinners(4, 0.25, boost_strength=0.0, break_ties=True)(x) != 0).sum()) == 1


def test_boosting_chooses_winners_but_output_keeps_x():
    kw = KWinners(4, 0.5, boost_strength=1.0)
    kw.duty_cycle.copy_(torch.tensor([0.0, 0.0, 1.0, 1.0]))
    kw.eval()  # k_inference = int(2·1.5) = 3, target density 3/4
    x = torch.tensor([[1.0, 1.1, 1.2, 1.3]])
    # boosted = x·exp((0.75 − duty)·1) = [2.117, 2.329, 0.942, 1.020]: the three largest are units 0, 1, 3
    assert torch.equal(kw(x), torch.tensor([[1.0, 1.1, 0.0, 1.3]]))
    kw.train()  # k = 2, target 0.5: boosted = [1.649, 1.814, 0.728, 0.789]
    assert torch.equal(kw(x), torch.tensor([[1.0, 1.1, 0.0, 0.0]]))


def test_duty_cycle_update_closed_form():
    # period 3, batches of one row: duty = (duty·(min(3, seen) − 1) + active) / min(3, seen)
    kw = KWinners(3, 1 / 3, boost_strength=0.0, duty_cycle_period=3)
    rows = [[3.0, 1, 2], [1.0, 3, 2], [3.0, 2, 1], [-1.0, -3, -2]]  # winners 0, 1, 0, 0 (the last one negative)
    expected = [[1, 0, 0], [1 / 2, 1 / 2, 0], [2 / 3, 1 / 3, 0], [4 / 9, 2 / 9, 0]]
    for row, duty in zip(rows, expected):
        kw(torch.tensor([row]))
        np.testing.assert_allclose(kw.duty_cycle, duty, rtol=1e-6)
    kw2 = KWinners(3, 1 / 3, boost_strength=0.0, duty_cycle_period=1000)  # one batch of 4: duty = (active > 0) / 4
    kw2(torch.tensor(rows))
    np.testing.assert_allclose(kw2.duty_cycle, [2 / 4, 1 / 4, 0], rtol=1e-6)
    assert int(kw2.learning_iterations) == 4


def test_boost_strength_decays_and_is_saved():
    model = DendriticMLP(4, (20,), 2, 2, 3, kw_boost_strength=1.5)
    update_boost_strength(model)
    update_boost_strength(model)
    assert float(model.activations[0].boost_strength) == pytest.approx(1.5 * 0.81)
    other = DendriticMLP(4, (20,), 2, 2, 3, kw_boost_strength=1.5)
    other.load_state_dict(model.state_dict())
    assert float(other.activations[0].boost_strength) == pytest.approx(1.5 * 0.81)


def test_kwinners_numpy_reference_with_boosting(rng):
    n, k, strength = 50, 5, 2.0
    kw = KWinners(n, k / n, boost_strength=strength)
    duty = rng.random(n).astype(np.float32)
    kw.duty_cycle.copy_(torch.from_numpy(duty))
    x = rng.normal(size=(8, n)).astype(np.float32)
    boosted = x * np.exp((k / n - duty) * strength)
    threshold = -np.sort(-boosted, axis=1)[:, k - 1 : k]
    np.testing.assert_array_equal(kw(torch.from_numpy(x)).numpy(), np.where(boosted >= threshold, x, 0))


def kwta_nupic_ref(x, k, break_ties, relu):
    """nupic.torch ``functional.kwinners`` without boosting: top-k (or the k-th value as threshold); relu
    zeroes winners <= 0 (break_ties) or clamps the threshold at 0."""
    if break_ties:
        off = torch.ones_like(x, dtype=torch.bool).scatter_(1, x.topk(k, dim=1).indices, False)
        off = off | (x <= 0) if relu else off
    else:
        threshold = x.kthvalue(x.shape[1] - k + 1, dim=1, keepdim=True).values
        off = x < (threshold.clamp(min=0) if relu else threshold)
    return x.masked_fill(off, 0)


@pytest.mark.parametrize("break_ties", [True, False])
@pytest.mark.parametrize("relu", [True, False])
def test_kwinners_relu_and_ties_as_nupic(break_ties, relu):
    x = torch.randn(20, 8, generator=torch.Generator().manual_seed(3)) - 0.8  # many rows with negative winners
    x[0] = torch.tensor([-0.5, -0.1, -0.3, 0.2, -2.0, -1.0, -0.7, -0.9])
    kw = KWinners(8, 0.25, boost_strength=0.0, break_ties=break_ties, relu=relu)
    out = kw(x)
    assert torch.equal(out, kwta_nupic_ref(x, 2, break_ties, relu))
    if relu:
        assert (out >= 0).all() and torch.equal(out[0], torch.tensor([0, 0, 0, 0.2, 0, 0, 0, 0]))


# ---------------------------------------------------------------------------------------------- sparsity
def test_sparse_weights_stay_sparse_after_optimizer_steps():
    torch.manual_seed(0)
    model = DendriticMLP(30, (40,), 4, 3, 6, weight_sparsity=0.6, dendrite_sparsity=0.5)
    sparse = model.layers[0].linear
    assert (sparse.zero_mask.sum(dim=1) == 30 - round(0.4 * 30)).all()  # the same fan-in for every unit
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    handle = rezero_after_step(opt, model)
    x, c, y = torch.randn(32, 30), torch.randn(6), torch.randint(0, 4, (32,))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x, c), y).backward()
        opt.step()
    for m in (sparse, model.layers[0].segments, model.output):
        w = m.weight if isinstance(m, SparseWeights) else m.weights
        assert (w[m.zero_mask] == 0).all() and (w[~m.zero_mask] != 0).all()
    handle.remove()
    opt.step()  # without the hook the masked weights move
    assert (sparse.weight[sparse.zero_mask] != 0).any()


def test_masks_survive_state_dict_deepcopy_and_strict_load():
    torch.manual_seed(0)
    model = DendriticMLP(10, (20, 20), 3, 4, 5, weight_sparsity=0.5, dendrite_sparsity=0.5)
    torch.manual_seed(1)
    other = DendriticMLP(10, (20, 20), 3, 4, 5, weight_sparsity=0.5, dendrite_sparsity=0.5)
    assert not torch.equal(model.layers[1].linear.zero_mask, other.layers[1].linear.zero_mask)
    model(torch.randn(6, 10), torch.randn(5))  # training mode: duty cycles move
    other.load_state_dict(model.state_dict(), strict=True)
    twin = copy.deepcopy(model)
    for m in (model, other, twin):
        m.eval()
    x, c = torch.randn(6, 10), torch.randn(5)
    for m in (other, twin):
        assert torch.equal(m(x, c), model(x, c))
        for a, b in zip(m.buffers(), model.buffers()):
            assert torch.equal(a, b)
        with torch.no_grad():  # rezero follows the loaded mask, not the one drawn at construction
            for p in m.parameters():
                p.add_(1.0)
        m.layers[0].linear.rezero()
        m.layers[1].segments.rezero()
        assert torch.equal(m.layers[0].linear.weight == 0, model.layers[0].linear.zero_mask)
        assert torch.equal(m.layers[1].segments.weights == 0, model.layers[1].segments.zero_mask)
    assert set(model.state_dict()) == set(other.state_dict()) and not any("_keep" in k for k in model.state_dict())


@pytest.mark.parametrize(
    "make", [lambda: SparseWeights(torch.nn.Linear(6, 4), 0.5), lambda: DendriteSegments(4, 2, 6, sparsity=0.5)]
)
def test_rezero_clears_nan_and_inf_and_follows_in_place_mask_edits(make):
    torch.manual_seed(4)
    m = make()
    weight = m.weight if isinstance(m, SparseWeights) else m.weights
    masked = m.zero_mask.nonzero()
    with torch.no_grad():
        weight[tuple(masked[0])] = float("nan")
        weight[tuple(masked[1])] = float("inf")
    m.rezero()
    assert torch.isfinite(weight).all() and (weight[m.zero_mask] == 0).all()
    first = (0,) * (m.zero_mask.dim() - 1)
    m.zero_mask[first] = True  # in place: takes effect at the next forward
    m(torch.randn(3, 6))
    assert (weight[first] == 0).all()
    m.zero_mask[first] = False  # unmasked in place: rezero no longer clears those weights
    with torch.no_grad():
        weight[first] = 1.0
    m.rezero()
    assert (weight[first] == 1.0).all() and (weight[m.zero_mask] == 0).all()


def test_trainable_context_with_repeated_rows_gets_the_ungrouped_gradients():
    torch.manual_seed(2)
    model = DendriticMLP(6, (20,), 3, num_segments=3, dim_context=5, kw_percent_on=0.3).double()
    x = torch.randn(8, 6, dtype=torch.float64)
    table = torch.randn(3, 5, dtype=torch.float64)
    for rows in (torch.tensor([0, 1, 0, 2, 1, 1, 0, 2]), torch.zeros(8, dtype=torch.long)):
        context = table[rows].clone().requires_grad_(True)
        reference = table[rows].clone().requires_grad_(True)
        F.cross_entropy(model(x, context), torch.arange(8) % 3).backward()
        F.cross_entropy(mlp_ref(model, x, reference), torch.arange(8) % 3).backward()  # einsum, every row
        np.testing.assert_allclose(context.grad, reference.grad, rtol=1e-10, atol=1e-14)
        assert (reference.grad.abs().sum(dim=1) > 0).all()


# ---------------------------------------------------------------------------------------------- validation
def _mlp():
    return DendriticMLP(8, (16,), 2, 3, 4)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: _mlp()(torch.randn(5, 7), torch.randn(4)), r"x must have shape \[B, input_size=8\]"),
        (lambda: _mlp()(torch.randn(5, 8), torch.randn(5, 3)), r"context must have shape \[B=5, dim_context=4\]"),
        (lambda: _mlp()(torch.randn(5, 8), torch.randn(2, 4)), "context must have shape"),
        (
            lambda: _mlp().forward_indexed(torch.randn(2, 8), torch.randn(3, 4), torch.tensor([0, 3])),
            r"index must be in \[0, 3\)",
        ),
        (
            lambda: _mlp().forward_indexed(torch.randn(2, 8), torch.randn(3, 4), torch.tensor([0])),
            "index must be an int64 tensor of shape",
        ),
        (lambda: DendriticLayer(4, 4, 2, 3, mode="max"), "mode must be one of"),
        (lambda: KWinners(10, 0.01), "percent_on=0.01 leaves no winner"),
        (lambda: KWinners(10, 1.5), r"percent_on must be in \(0, 1\]"),
        (lambda: KWinners(10, 0.5, k_inference_factor=3), "k_inference"),
        (lambda: SparseWeights(torch.nn.Linear(3, 3), 1.0), r"sparsity must be in \[0, 1\)"),
        (lambda: DendriteSegments(0, 2, 3), "num_units must be >= 1"),
        (lambda: continual.Budget(3, (4,), (8,), 1, 8, 1e-3, 1), "report_tasks must lie in"),
        (lambda: continual.nearest_prototype(torch.randn(2, 3), torch.randn(4, 5)), "must share D"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_wrong_types_are_rejected():
    with pytest.raises(TypeError, match="context must be a torch.Tensor"):
        DendriticMLP(8, (16,), 2, 3, 4)(torch.randn(2, 8), np.zeros(4))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        DendriticMLP(8, (16,), 2, 3, 4)(torch.zeros(2, 8, dtype=torch.long), torch.randn(4))
    with pytest.raises(TypeError, match="module must be a torch.nn.Linear"):
        SparseWeights(torch.nn.Conv1d(1, 1, 1), 0.5)


# ---------------------------------------------------------------------------------------------- data and harness
def _write_idx(path, array, code, compress):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_images_labels_and_wider_types(tmp_path, rng, compress):
    images = rng.integers(0, 256, (5, 3, 4), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    ints = rng.integers(-1000, 1000, (2, 3)).astype(np.int32)
    floats = rng.normal(size=4).astype(np.float64)
    for name, arr, code in (("img", images, 0x08), ("lab", labels, 0x08), ("int", ints, 0x0C), ("dbl", floats, 0x0E)):
        _write_idx(tmp_path / name, arr, code, compress)
        got = read_idx(tmp_path / name)
        assert got.dtype == arr.dtype.newbyteorder("=") and np.array_equal(got, arr), name


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x00\x08\x01\x00\x00\x00\x02ab")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05ab")
    with pytest.raises(ValueError, match="2 data bytes for shape \\(5,\\)"):
        read_idx(tmp_path / "short")


def test_load_mnist_reads_the_four_files_and_runs_the_harness(tmp_path, rng):
    n_train, n_test = 40, 20
    for name, n, compress in (("train", n_train, True), ("t10k", n_test, False)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        suffix = ".gz" if compress else ""
        _write_idx(tmp_path / f"{name}-images-idx3-ubyte{suffix}", x, 0x08, compress)
        _write_idx(tmp_path / f"{name}-labels-idx1-ubyte{suffix}", np.arange(n, dtype=np.uint8) % 10, 0x08, compress)
    x_train, y_train, x_test, y_test = continual.mnist_split(tmp_path)
    assert x_train.shape == (n_train, 784) and x_test.shape == (n_test, 784) and y_train[:12].tolist()[10:] == [0, 1]
    budget = continual.with_mnist(TINY, tmp_path)
    budget = replace(budget, hidden_sizes=(32, 32), epochs=1, batch_size=16, models=("active dendrites",))
    res = continual.run_experiment(budget, seed=0, progress=False)
    assert res["dataset"] == "permuted MNIST" and [m["model"] for m in res["models"]] == ["active dendrites"]
    assert len(res["models"][0]["mean"]) == 3


def test_permuted_tasks_share_the_data_under_their_own_permutation():
    x_train, y_train, x_test, y_test = continual.load_digits_split(seed=3)
    tasks = continual.permuted_tasks(x_train, y_train, x_test, y_test, 3, seed=7)
    base = (x_train - x_train.mean()) / x_train.std()
    for t in tasks:
        np.testing.assert_allclose(t.x_train.numpy(), base[:, t.permutation], rtol=1e-5, atol=1e-5)
        assert torch.equal(t.y_test, torch.as_tensor(y_test))
    assert len({tuple(t.permutation) for t in tasks}) == 3
    again = continual.permuted_tasks(x_train, y_train, x_test, y_test, 3, seed=7)
    assert all(np.array_equal(a.permutation, b.permutation) for a, b in zip(tasks, again))
    assert abs(float(torch.cat([t.x_train for t in tasks]).mean())) < 1e-5


def test_nearest_prototype_infers_the_task():
    protos = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.tensor([[9.0, 1.0], [1.0, 8.0], [0.5, -0.5], [5.1, 0.0]])
    assert continual.nearest_prototype(x, protos).tolist() == [1, 2, 0, 1]
    tasks = continual.permuted_tasks(*continual.load_digits_split(0), 10, seed=0)
    protos = continual.prototypes(tasks)
    hits = [float((continual.nearest_prototype(t.x_test, protos) == i).float().mean()) for i, t in enumerate(tasks)]
    assert min(hits) > 0.95


TINY = continual.Budget(
    num_tasks=3,
    report_tasks=(2, 3),
    hidden_sizes=(48, 48),
    epochs=2,
    batch_size=64,
    lr=2e-3,
    seeds=2,
    kw_percent_on=0.25,
)


@pytest.mark.parametrize("context", ["prototype", "learned"])
def test_harness_returns_results_prints_table_and_writes_figure(tmp_path, capsys, context):
    res = continual.run(tmp_path, budget=replace(TINY, context=context), seed=5, progress=False)
    saved = json.loads(json.dumps(jsonable(res)))  # as `sdrnet active-dendrites` writes results.json
    assert (tmp_path / continual.FIGURE).stat().st_size > 10_000
    assert saved["seeds"] == [5, 6] and saved["num_tasks"] == [1, 2, 3] and saved["budget"]["context"] == context
    assert [r["model"] for r in saved["models"]] == list(continual.MODELS)
    for r in saved["models"]:
        name = r["model"]
        assert np.array(r["per_seed"]).shape == (2, 3)
        assert all(0.0 <= a <= 1.0 for a in r["mean"] + sum(r["final_per_task"], []))
        np.testing.assert_allclose(r["mean"], np.mean(r["per_seed"], axis=0))
        assert r["mean"][0] > 0.5, name  # one task of 8×8 digits is easy
    assert saved["models"][0]["model"] == "active dendrites" and saved["models"][0]["task_inference"][0] > 0.95
    assert {"model": "active dendrites", "tasks": 2, "accuracy": 0.975} in saved["paper"]
    text = capsys.readouterr().out
    assert "paper (MNIST)" in text and "0.975" in text and "0.968" in text  # the paper at 2 tasks, alongside


# ---------------------------------------------------------------------------------------------- core export
@pytest.mark.parametrize("kw, mode", [(True, "absmax_gating"), (False, "gating"), (True, "biasing")])
def test_core_export_agrees_with_torch(kw, mode):
    torch.manual_seed(0)
    model = DendriticMLP(
        20,
        (64, 48),
        6,
        3,
        20,
        kw=kw,
        kw_percent_on=0.1,
        weight_sparsity=0.5,
        mode=mode,
        kw_boost_strength=1.0 if kw else 0.0,
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    rezero_after_step(opt, model)
    protos = torch.randn(3, 20)
    for step in range(5):  # a few steps, so weights, duty cycles and boost factors are not the initial ones
        x = torch.randn(32, 20)
        opt.zero_grad()
        F.cross_entropy(model(x, protos[step % 3]), torch.randint(0, 6, (32,))).backward()
        opt.step()
    model.eval()
    core = to_core(model)
    x = torch.randn(40, 20)
    index = torch.randint(0, 3, (40,))
    with torch.no_grad():
        expected = model.forward_indexed(x, protos, index).numpy()
    result = core.run(x.numpy(), context=protos[index].numpy())
    got = result.output
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    linears = (model.layers[0].linear, model.layers[1].linear, model.output)
    nonzero = [int((m.weight != 0).sum()) for m in linears]
    assert [s.nnz for s in core.synapses] == nonzero and nonzero[0] <= 20 * 64 // 2
    with torch.no_grad():  # synops per projection: the non-zero inputs × their fan-out, the inputs from torch
        h = [x, model.activations[0](model.layers[0](x, protos[index]))]
        h.append(model.activations[1](model.layers[1](h[1], protos[index])))
    fan_out = [(m.weight != 0).sum(0).float() for m in linears]
    assert result.synops.tolist() == [int(((a != 0).float() @ f).sum()) for a, f in zip(h, fan_out)]
    assert len(result.kernels) == 3 and result.state is None
    with pytest.warns(DeprecationWarning, match="CoreDendriticMLP.forward is deprecated"):
        np.testing.assert_array_equal(core.forward(x.numpy(), protos[index].numpy()), got)  # the old alias


def test_core_export_of_point_neurons():
    torch.manual_seed(2)
    model = DendriticMLP(10, (30,), 4, 0, 10, kw=True, kw_percent_on=0.2).eval()
    x = torch.randn(7, 10)
    with torch.no_grad():
        np.testing.assert_allclose(to_core(model).run(x.numpy()).output, model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_core_export_checks_its_inputs():
    torch.manual_seed(3)
    model = DendriticMLP(10, (30,), 4, 2, 6, kw=True, kw_percent_on=0.2).eval()
    core = to_core(model)
    x, context = torch.randn(5, 10), torch.randn(6)
    with torch.no_grad():
        expected = model(x, context).numpy()
    np.testing.assert_allclose(core.run(x, context=context).output, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(core.predict(x, context=context), expected.argmax(1))
    with pytest.raises(TypeError, match="context is required"):
        core.run(x)
    with pytest.raises(ValueError, match=r"context must have shape \[B=5, dim_context=6\]"):
        core.run(x, context=torch.randn(5, 7))
    with pytest.raises(ValueError, match="dt must be None"):
        to_core(model, dt=1e-3)


@pytest.mark.slow
def test_torch_compile_gives_the_same_outputs():
    torch.manual_seed(0)
    model = DendriticMLP(16, (64, 64), 4, 3, 16)
    compiled = torch.compile(model)
    x, c = torch.randn(8, 16), torch.randn(16)
    np.testing.assert_allclose(compiled(x, c).detach(), model(x, c).detach(), rtol=1e-5, atol=1e-6)
