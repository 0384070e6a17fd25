"""`sparse_matmul`: the event, batched and gather kernels against a float32 reference, bit for bit, for every
kernel, tile width, block split and thread count; the cost model's choice; the fan-in layout; input checks."""

import pickle

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import sparse_matmul_ref

from sdrnet.core import Events, FanIn, Synapses, kernels, ops, propagate, sparse_matmul


@st.composite
def problems(draw):
    """Random synapses (multapses allowed) and a batch of activations with zeros, -0.0 and wide magnitudes."""
    n_pre, n_post = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nnz = int(rng.integers(0, 3 * n_pre * n_post // 2 + 1))
    syn = Synapses.from_edges(
        rng.integers(0, n_pre, nnz),
        rng.integers(0, n_post, nnz),
        rng.normal(0, 1, nnz) * 10.0 ** rng.integers(-3, 4, nnz),
        n_pre=n_pre,
        n_post=n_post,
    )
    n_b = draw(st.integers(0, 70))
    x = rng.normal(0, 1, (n_b, n_pre)) * 10.0 ** rng.integers(-3, 4, (n_b, n_pre))
    x[rng.random(x.shape) > draw(st.floats(0, 1))] = 0.0
    x[rng.random(x.shape) < 0.05] = -0.0
    return syn, x.astype(np.float32)


@pytest.fixture
def threads():
    """Run with a given numba thread count, restored afterwards."""
    before = numba.get_num_threads()
    yield numba.set_num_threads
    numba.set_num_threads(before)


@given(problems())
def test_every_kernel_equals_the_float32_reference_bit_for_bit(problem):
    syn, x = problem
    ref = sparse_matmul_ref(x, syn)
    for kernel in ("auto", "event", "batched"):
        result = sparse_matmul(x, syn, kernel)
        assert result.out.dtype == np.float32 and result.out.shape == (x.shape[0], syn.n_post)
        np.testing.assert_array_equal(result.out, ref)
        assert result.kernel in ("event", "batched") and (kernel == "auto" or result.kernel == kernel)
    gathered = sparse_matmul(x, FanIn(syn))
    np.testing.assert_array_equal(gathered.out, ref)
    assert gathered.kernel == "gather" and (gathered.events, gathered.synops) == (result.events, result.synops)
    dense = x.astype(np.float64) @ syn.to_dense().astype(np.float64)
    np.testing.assert_allclose(ref, dense, rtol=1e-4, atol=1e-4 * (np.abs(x) @ np.abs(syn.to_dense())).max(initial=0))


def assert_kernel_gives(ref, kernel, *args):
    """``kernel(*args, out)`` into a zeroed ``out`` gives ``ref`` bit for bit."""
    out = np.zeros_like(ref)
    kernel(*args, out)
    np.testing.assert_array_equal(out, ref)


@given(problems(), st.sampled_from([8, 16, 32]), st.integers(1, 5))
def test_kernels_equal_the_reference_for_every_tile_width_and_block_split(problem, lanes, n_blocks):
    syn, x = problem
    ref = sparse_matmul_ref(x, syn)
    n_blocks = min(n_blocks, syn.n_post)
    csr = syn.indptr, syn.post, syn.weight
    fan_in = FanIn(syn)
    by_post = fan_in.indptr, fan_in.pre, fan_in.weight
    for n_groups in range(1, n_blocks + 1):
        assert_kernel_gives(ref, kernels.batched_matmul_kernel, x, *csr, lanes, n_blocks, n_groups)
        for width in (1, lanes):
            assert_kernel_gives(ref, kernels.gather_matmul_kernel, x, *by_post, width, n_groups)
    assert_kernel_gives(ref, kernels.batched_matmul_serial, x, *csr, lanes, n_blocks)
    assert_kernel_gives(ref, kernels.event_matmul_kernel, x, *csr, n_blocks)
    assert_kernel_gives(ref, kernels.event_matmul_serial, x, *csr)
    for width in (1, lanes):
        assert_kernel_gives(ref, kernels.gather_matmul_serial, x, *by_post, width)


@given(problems())
def test_one_step_of_propagate_gives_the_same_bits(problem):
    syn, x = problem
    events = Events.from_dense(x[None])
    np.testing.assert_array_equal(sparse_matmul(x, syn, "batched").out, propagate(events, syn, n_steps=1)[0])
    result = sparse_matmul(x, syn)
    assert result.events == events.n_events == np.count_nonzero(x)
    assert result.synops == syn.fan_out()[events.unit].sum()


@pytest.mark.parametrize("n_b, n_post", [(1, 700), (3, 500), (40, 300), (300, 130)])
def test_thread_count_changes_nothing(threads, n_b, n_post):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs at least 2 numba threads")
    rng = np.random.default_rng(n_b)
    syn = Synapses.random_erdos_renyi(200, n_post, 0.1, rng, weight=lambda r, n: r.normal(0, 1, n))
    x = (rng.normal(0, 1, (n_b, 200)) * (rng.random((n_b, 200)) < 0.3)).astype(np.float32)
    ref, csr = sparse_matmul_ref(x, syn), (syn.indptr, syn.post, syn.weight)
    for n_threads in (1, 2):
        threads(n_threads)
        for lanes in (8, 32):  # the blocks sparse_matmul would split posts into for this thread count
            n_groups = ops._blocks(n_post, n_threads, -(-n_b // lanes))
            out = np.zeros_like(ref)
            kernels.batched_matmul_kernel(x, *csr, lanes, ops._tile_blocks(n_post, lanes, n_groups), n_groups, out)
            np.testing.assert_array_equal(out, ref)
        out = np.zeros_like(ref)
        kernels.event_matmul_kernel(x, *csr, ops._blocks(n_post, n_threads, n_b), out)
        np.testing.assert_array_equal(out, ref)
        np.testing.assert_array_equal(sparse_matmul(x, FanIn(syn)).out, ref)


def test_a_product_large_enough_for_threads_gives_the_one_thread_bits(threads):
    rng = np.random.default_rng(7)
    syn = Synapses.random_erdos_renyi(2000, 2000, 0.1, rng, weight=lambda r, n: r.normal(0, 1, n))
    x = (rng.normal(0, 1, (8, 2000)) * (rng.random((8, 2000)) < 0.5)).astype(np.float32)
    work = np.zeros(5, np.int64)
    kernels.matmul_activity_kernel(x, syn.indptr, work)
    for kernel in ("event", "batched"):  # predicted long enough to run on all threads
        assert ops._choose_kernel(kernel, work.tolist()[1:], 8, syn)[1] >= ops._PARALLEL_NS
    outs = []
    assert ops._GATHER_NS * syn.nnz >= ops._PARALLEL_NS
    for n_threads in (1, numba.config.NUMBA_NUM_THREADS):
        threads(n_threads)
        outs += [sparse_matmul(x, syn, kernel).out for kernel in ("event", "batched")]
        outs += [sparse_matmul(x, FanIn(syn)).out, sparse_matmul(x[:1], FanIn(syn)).out]
        np.testing.assert_array_equal(outs.pop(), outs[0][:1])
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    np.testing.assert_allclose(outs[0], x.astype(np.float64) @ syn.to_dense(), rtol=1e-4, atol=1e-3)


@given(problems())
def test_activity_pass_counts_the_work_of_each_kernel(problem):
    syn, x = problem
    work = np.zeros(5, np.int64)
    kernels.matmul_activity_kernel(x, syn.indptr, work)
    nonzero = x != 0
    fan_out = syn.fan_out()
    assert work[0] == nonzero.sum() and work[1] == nonzero.sum(0) @ fan_out
    for r, lanes in enumerate((8, 16, 32), start=2):
        tiles = [nonzero[b0 : b0 + lanes].any(0) for b0 in range(0, x.shape[0], lanes)]
        assert work[r] == (np.sum(tiles, axis=0) @ fan_out if tiles else 0)


def test_cost_model_takes_events_for_sparse_inputs_and_batches_for_dense_ones():
    rng = np.random.default_rng(0)
    syn = Synapses.random_erdos_renyi(1000, 1000, 0.1, rng, weight=lambda r, n: r.normal(0, 1, n))
    sparse = np.zeros((1, 1000), np.float32)
    sparse[0, rng.choice(1000, 10, replace=False)] = 1.0
    assert sparse_matmul(sparse, syn).kernel == "event"
    dense = rng.normal(0, 1, (64, 1000)).astype(np.float32)
    result = sparse_matmul(dense, syn)
    assert (result.kernel, result.lanes) == ("batched", 32)
    forced = sparse_matmul(dense, syn, "event")
    assert (forced.kernel, forced.lanes) == ("event", 0)
    np.testing.assert_array_equal(forced.out, result.out)
    assert sparse_matmul(dense[:5], syn).lanes == 8  # no wider tile than the batch needs


def test_input_checks_name_the_argument():
    syn = Synapses.from_dense(np.eye(3, dtype=np.float32))
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="kernel must be one of"):
        sparse_matmul(x, syn, "fast")
    with pytest.raises(TypeError, match="synapses must be Synapses"):
        sparse_matmul(x, np.eye(3))
    with pytest.raises(ValueError, match=r"x must be 2-D"):
        sparse_matmul(np.ones(3), syn)
    with pytest.raises(ValueError, match=r"x must have shape \[B, n_pre=3\]"):
        sparse_matmul(np.ones((2, 4)), syn)
    with pytest.raises(ValueError, match="x must be finite"):
        sparse_matmul(np.array([[1.0, np.nan, 0.0]]), syn)
    with pytest.raises(ValueError, match="overflows float32"):
        sparse_matmul(np.array([[1e300, 0.0, 0.0]]), syn)
    with pytest.raises(ValueError, match="underflows to 0 in float32"):
        sparse_matmul(np.array([[0.0, 1e-50, 0.0]]), syn)
    with pytest.raises(TypeError, match="x must have a real dtype"):
        sparse_matmul(np.array([["a", "b", "c"]]), syn)
    with pytest.raises(ValueError, match="delays"):
        sparse_matmul(x, Synapses.from_dense(np.eye(3), delay=2 * np.eye(3, dtype=int)))
    np.testing.assert_array_equal(sparse_matmul(np.eye(3, dtype=bool), syn).out, np.eye(3))
    assert sparse_matmul(np.zeros((0, 3)), syn).out.shape == (0, 3)


def test_fan_in_layout_holds_the_same_synapses_as_lean():
    rng = np.random.default_rng(3)
    syn = Synapses.from_edges(
        rng.integers(0, 50, 900), rng.integers(0, 40, 900), rng.normal(0, 1, 900), n_pre=50, n_post=40
    )
    fan_in = FanIn(syn)
    assert (fan_in.n_pre, fan_in.n_post, fan_in.nnz, fan_in.max_delay) == (50, 40, 900, 0)
    np.testing.assert_array_equal(fan_in.to_dense(), syn.to_dense())
    np.testing.assert_array_equal(fan_in.fan_in(), syn.fan_in())
    np.testing.assert_array_equal(fan_in.fan_out(), syn.fan_out())
    for j in range(40):  # each post's fan-in in ascending pre, multapses in their CSR order
        k = np.flatnonzero(syn.post == j)
        row = slice(fan_in.indptr[j], fan_in.indptr[j + 1])
        np.testing.assert_array_equal(fan_in.pre[row], syn.pre()[k])
        np.testing.assert_array_equal(fan_in.weight[row], syn.weight[k])
    back = fan_in.to_synapses()
    for name in ("indptr", "post", "weight"):
        np.testing.assert_array_equal(getattr(back, name), getattr(syn, name))
    again = pickle.loads(pickle.dumps(fan_in))
    np.testing.assert_array_equal(again.pre, fan_in.pre)
    assert not again.weight.flags.writeable
    big = FanIn(Synapses.random_erdos_renyi(1000, 1000, 0.1, rng))
    assert big.bytes_per_synapse <= 8.2  # int32 pre + float32 weight, and both row boundaries
    with pytest.raises(ValueError, match="delays"):
        FanIn(Synapses.from_dense(np.eye(3), delay=2 * np.eye(3, dtype=int)))
    with pytest.raises(TypeError, match="synapses must be Synapses"):
        FanIn(np.eye(3))
    x = np.ones((2, 50), np.float32)
    with pytest.raises(ValueError, match="pass sdrnet.core.FanIn"):
        sparse_matmul(x, syn, "gather")
    with pytest.raises(ValueError, match="a FanIn runs kernel='gather'"):
        sparse_matmul(x, fan_in, "event")
    x = np.ones((70, 50), np.float32)
    assert [sparse_matmul(x[:n], fan_in).lanes for n in (1, 2, 9, 17, 70)] == [1, 8, 16, 32, 32]


# ---------------------------------------------------------------------------------------------- users of it
def one_step(x, syn):
    """The event-driven sum these paths used before `sparse_matmul`: one step of `propagate`."""
    return propagate(Events.from_dense(np.asarray(x, np.float32)[None]), syn, n_steps=1)[0]


def assert_same_for_every_kernel(run):
    """``run(kernel) -> (output, kernels used)``: forced event and batched give the bits of "auto"."""
    outs = {}
    for kernel in ("auto", "event", "batched"):
        outs[kernel], used = run(kernel)
        assert set(used) <= {"event", "batched"} and (kernel == "auto" or set(used) == {kernel})
    np.testing.assert_array_equal(outs["event"], outs["auto"])
    np.testing.assert_array_equal(outs["batched"], outs["auto"])
    return outs["auto"]


def assert_fan_in_layout_gives_the_same(core, out, **inputs):
    """``core`` in the fan-in layout gathers, with the bits and synops of the fan-out layout; and back."""
    fan_in = core.with_layout("fan-in")
    result, before = fan_in.run(**inputs), core.run(**inputs)
    assert (core.layout, fan_in.layout) == ("fan-out", "fan-in") and set(result.kernels) == {"gather"}
    np.testing.assert_array_equal(result.output, out)
    np.testing.assert_array_equal(result.synops, before.synops)
    back = fan_in.with_layout("fan-out")
    for a, b in zip(back.synapses, core.synapses):
        np.testing.assert_array_equal(a.post, b.post) and np.testing.assert_array_equal(a.weight, b.weight)
    with pytest.raises(ValueError, match="layout must be one of"):
        core.with_layout("csc")


def test_pruned_mlp_gives_the_propagate_result_with_either_kernel():
    torch = pytest.importorskip("torch")
    from sdrnet import prune

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(40, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 5)
    ).eval()
    prune.magnitude_prune(model, 0.8, scope="global")
    core = prune.to_core(model)
    x = torch.relu(torch.randn(48, 40)).numpy()
    out = assert_same_for_every_kernel(lambda kernel: (lambda r: (r.output, r.kernels))(core.run(x, kernel=kernel)))
    result = core.run(x)
    assert len(result.kernels) == 3
    h = x
    for i, (syn, bias, relu) in enumerate(zip(core.synapses, core.biases, core.relu)):
        assert result.synops[i] == syn.fan_out()[np.nonzero(h)[1]].sum()
        h = one_step(h, syn) + bias
        h = np.maximum(h, 0) if relu else h
    np.testing.assert_array_equal(out, h)
    assert_fan_in_layout_gives_the_same(core, out, events=x)


def test_delta_network_gives_the_propagate_result_with_either_kernel():
    torch = pytest.importorskip("torch")
    from snn.delta import EventDrivenNet, insert_delta
    from snn.delta.video import clip_cnn

    model = insert_delta(clip_cnn(size=8, channels=(3, 4), hidden=6, n_classes=5, seed=1), 0.1, trainable=False)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 6, 1, 8, 8, generator=g) + 0.3 * torch.randn(5, 6, 1, 8, 8, generator=g).cumsum(0)
    net = EventDrivenNet(model, (1, 8, 8))
    out = assert_same_for_every_kernel(lambda kernel: (lambda r: (r.output, r.kernels))(net.run(x, kernel=kernel)))
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4)
    stage = net.stages[0]  # the first connection, against one propagate pass over the input's changes
    q = net.input_delta(x.float()).reshape(5, 6, -1).double().numpy()
    delta = np.diff(q, axis=0, prepend=0.0).astype(np.float32)
    current = propagate(Events.from_dense(delta), stage.synapses, n_steps=5)
    result = sparse_matmul(delta.reshape(30, -1), stage.synapses)
    np.testing.assert_array_equal(result.out.reshape(current.shape), current)
    assert net.run(x).events[0] == np.count_nonzero(delta)


def test_active_dendrites_give_the_propagate_result_with_either_kernel():
    torch = pytest.importorskip("torch")
    from dendrites.nn import DendriticMLP, to_core

    torch.manual_seed(0)
    model = DendriticMLP(20, (64, 48), 6, 3, 20, kw=True, kw_percent_on=0.1, weight_sparsity=0.5).eval()
    core = to_core(model)
    x, context = np.random.default_rng(0).normal(0, 1, (2, 40, 20)).astype(np.float32)
    out = assert_same_for_every_kernel(
        lambda kernel: (lambda r: (r.output, r.kernels))(core.run(x, context=context, kernel=kernel))
    )
    assert len(core.run(x, context=context).kernels) == 3
    assert_fan_in_layout_gives_the_same(core, out, events=x, context=context)
    np.testing.assert_array_equal(core._feedforward(x, 0, "event"), one_step(x, core.synapses[0]) + core.biases[0])
    with torch.no_grad():
        np.testing.assert_allclose(out, model(torch.from_numpy(x), torch.from_numpy(context)).numpy(), atol=1e-4)
