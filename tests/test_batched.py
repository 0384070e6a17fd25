"""`sparse_matmul`: the event and batched kernels against a float32 reference, bit for bit, for every kernel,
tile width, block split and thread count; the cost model's choice; input checks."""

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import sparse_matmul_ref

from sdrnet.core import Events, Synapses, kernels, propagate, sparse_matmul


@st.composite
def problems(draw):
    """Random synapses (multapses allowed) and a batch of activations with zeros, -0.0 and wide magnitudes."""
    n_pre, n_post = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nnz = int(rng.integers(0, 3 * n_pre * n_post // 2 + 1))
    syn = Synapses.from_edges(rng.integers(0, n_pre, nnz), rng.integers(0, n_post, nnz),
                              rng.normal(0, 1, nnz) * 10.0 ** rng.integers(-3, 4, nnz), n_pre=n_pre, n_post=n_post)
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
    dense = x.astype(np.float64) @ syn.to_dense().astype(np.float64)
    np.testing.assert_allclose(ref, dense, rtol=1e-4, atol=1e-4 * (np.abs(x) @ np.abs(syn.to_dense())).max(initial=0))


@given(problems(), st.sampled_from([8, 16, 32]), st.integers(1, 5))
def test_kernels_equal_the_reference_for_every_tile_width_and_block_split(problem, lanes, n_blocks):
    syn, x = problem
    ref = sparse_matmul_ref(x, syn)
    n_blocks = min(n_blocks, syn.n_post)
    out = np.zeros_like(ref)
    kernels.batched_matmul_kernel(x, syn.indptr, syn.post, syn.weight, lanes, n_blocks, out)
    np.testing.assert_array_equal(out, ref)
    out = np.zeros_like(ref)
    kernels.event_matmul_kernel(x, syn.indptr, syn.post, syn.weight, n_blocks, out)
    np.testing.assert_array_equal(out, ref)


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
    outs = {}
    for n_threads in (1, 2):
        threads(n_threads)
        outs[n_threads] = {kernel: sparse_matmul(x, syn, kernel).out for kernel in ("event", "batched")}
    ref = sparse_matmul_ref(x, syn)
    for by_kernel in outs.values():
        for out in by_kernel.values():
            np.testing.assert_array_equal(out, ref)


@given(st.integers(0, 100), st.integers(1, 30), st.floats(0, 1), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_activity_counts_events_and_active_tiles(n_b, n_pre, density, n_blocks, seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((n_b, n_pre)) < density).astype(np.float32) * rng.normal(0, 1, (n_b, n_pre)).astype(np.float32)
    counts = np.zeros((4, n_pre), np.int64)
    kernels.matmul_activity_kernel(x, min(n_blocks, n_pre), counts)
    nonzero = x != 0
    np.testing.assert_array_equal(counts[0], nonzero.sum(0))
    for row, lanes in enumerate((8, 16, 32), start=1):
        tiles = [nonzero[b0:b0 + lanes].any(0) for b0 in range(0, n_b, lanes)]
        np.testing.assert_array_equal(counts[row], np.sum(tiles, axis=0) if tiles else np.zeros(n_pre))


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
    with pytest.raises(ValueError, match="beyond the float32 range"):
        sparse_matmul(np.array([[1e300, 0.0, 0.0]]), syn)
    with pytest.raises(TypeError, match="x must have a real dtype"):
        sparse_matmul(np.array([["a", "b", "c"]]), syn)
    with pytest.raises(ValueError, match="delays"):
        sparse_matmul(x, Synapses.from_dense(np.eye(3), delay=2 * np.eye(3, dtype=int)))
    np.testing.assert_array_equal(sparse_matmul(np.eye(3, dtype=bool), syn).out, np.eye(3))
    assert sparse_matmul(np.zeros((0, 3)), syn).out.shape == (0, 3)
