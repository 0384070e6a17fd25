"""Threads and cache blocks change nothing: every kernel gives the same bits on 1 and 2 threads and with any
block split, and `Network.run` holds no copies of the synapses and only small ring buffers."""

import shutil
import subprocess
from contextlib import ExitStack, contextmanager
from types import SimpleNamespace
from unittest import mock

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import lif_step_ref
from test_network import networks

import sdrnet.core.parallel as parallel
from dendrites import kernels as dendrite_kernels
from dendrites.neuron import overlap_histogram, segment_matches
from sdrnet.core import (
    Events,
    Layer,
    LIFParams,
    Network,
    Synapses,
    get_cache_size,
    get_num_threads,
    overlap,
    propagate,
    set_cache_size,
    set_num_threads,
)

pytestmark = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least 2 numba threads")


@contextmanager
def num_threads(n):
    before = numba.get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@contextmanager
def forced_blocks(n_blocks):
    """Force the number of cache blocks (at most one per post) that propagate, overlap and Network plan."""

    def planned(n_post, *args):
        return max(1, min(n_blocks, n_post))

    with ExitStack() as stack:
        for module in ("sdrnet.core.ops", "sdrnet.core.network", "sdrnet.core.parallel"):
            stack.enter_context(mock.patch(f"{module}.cache_blocks", planned))
        yield


def each_split(run):
    """``run()`` on 1 thread, on 2 threads (sharing even small calls), and on 1 thread with 3 and 7 forced
    blocks: the results."""
    out = []
    for n in (1, 2):
        with num_threads(n), mock.patch.object(parallel, "_MIN_PARALLEL_WORK", 0):
            out.append(run())
    for n_blocks in (3, 7):
        with num_threads(1), forced_blocks(n_blocks):
            out.append(run())
    return out


def assert_all_equal(results):
    first, *rest = results
    for other in rest:
        if isinstance(first, tuple):
            assert all(np.array_equal(a, b) for a, b in zip(first, other))
        else:
            assert np.array_equal(first, other)


def test_set_num_threads_is_numbas_setting_and_checks_its_argument():
    with num_threads(1):
        assert get_num_threads() == numba.get_num_threads() == 1
        numba.set_num_threads(2)
        assert get_num_threads() == 2
    with pytest.raises(ValueError, match=f"n must be <= {numba.config.NUMBA_NUM_THREADS}"):
        set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)
    with pytest.raises(ValueError, match="n must be >= 1"):
        set_num_threads(0)
    with pytest.raises(TypeError, match="n must be an int"):
        set_num_threads(1.5)


def test_cache_size_is_the_machines_l2_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.delenv("SDRNET_L2_BYTES", raising=False)
    set_cache_size(None)
    getconf = shutil.which("getconf")
    if getconf:  # glibc's own reading of the L2 size (from CPUID), where it has one
        out = subprocess.run([getconf, "LEVEL2_CACHE_SIZE"], capture_output=True, text=True).stdout.strip()
        if out.isdigit() and int(out) > 0:
            assert get_cache_size() == int(out)
    for size, expect in (("2048K", 2 << 20), ("1M", 1 << 20), ("512K", 512 << 10)):
        index = tmp_path / size / "index2"
        index.mkdir(parents=True)
        for name, text in (("level", "2"), ("type", "Unified"), ("size", size)):
            (index / name).write_text(text + "\n")
        assert parallel._machine_l2(tmp_path / size) == expect
    assert parallel._machine_l2(tmp_path / "absent") == 1 << 20
    monkeypatch.setenv("SDRNET_L2_BYTES", "65536")
    assert get_cache_size() == 65536
    set_cache_size(4096)
    try:
        assert get_cache_size() == 4096
        with pytest.raises(ValueError, match="n_bytes must be >= 1024"):
            set_cache_size(10)
    finally:
        set_cache_size(None)
    monkeypatch.setenv("SDRNET_L2_BYTES", "1MB")
    with pytest.raises(ValueError, match="SDRNET_L2_BYTES must be a whole number of bytes"):
        get_cache_size()


def test_cache_blocks_fit_the_slices_keep_rows_long_and_feed_the_threads(monkeypatch):
    set_cache_size(1 << 20)
    monkeypatch.setitem(parallel._fast_beyond, 1 << 20, False)  # slices of L2 / 2
    try:
        # 65 steps × 100,000 posts × 4 B = 26 MB over 512 KiB slices: 50 blocks; fan-out 1,000 keeps 4 (>= 250 each)
        assert parallel.cache_blocks(100_000, 65, 1000.0, 8, 2) == 4
        assert parallel.cache_blocks(100_000, 65, 100.0, 8, 2) == 1  # rows too short to cut
        assert parallel.cache_blocks(1_000, 65, 1000.0, 8, 2) == 1  # 260 KB fits one slice
        assert parallel.cache_blocks(10_000, 65, 300.0, 1, 2) == 2  # one sample, two threads
        assert parallel.cache_blocks(10_000, 65, 750.0, 1, 2) == 4  # 3 blocks by the cache, shared evenly by 2
        assert parallel.cache_blocks(100, 65, 1000.0, 1, 2) == 1  # too few posts to split
        assert parallel.cache_blocks(10_000, 65, 1000.0, 1, 1) == 4  # 2.6 MB over 512 KiB, one thread
        monkeypatch.setitem(parallel._fast_beyond, 1 << 20, True)  # the next level is fast: slices of 4 × L2
        assert parallel.cache_blocks(10_000, 65, 1000.0, 1, 1) == 1  # 2.6 MB fits one 4 MiB slice
        assert parallel.cache_blocks(100_000, 65, 1000.0, 8, 2) == 4  # 26 MB: 7 slices, fan-out keeps 4
        assert parallel.cache_blocks(40_000, 65, 1000.0, 8, 2) == 3  # 10.4 MB: 3 slices
    finally:
        set_cache_size(None)


@pytest.mark.parametrize("large_cost, fast", [(1.2, True), (1.6, False)])
def test_the_next_level_probe_measures_once_per_l2_size(monkeypatch, large_cost, fast):
    """A clock that a fake probe advances: 1 s a call into L2/2, ``large_cost`` s into 4 × L2, but 0.1 s into
    4 × L2 in the first round (the warm-up), which must not count."""
    clock, calls = [0.0], []

    def fake_probe(buf, idx):
        calls.append(buf.size)
        large = 0.1 if len(calls) <= 2 else large_cost
        clock[0] += large if buf.size == 64 * 1024 else 1.0

    monkeypatch.setattr(parallel, "_fast_beyond", {})
    monkeypatch.setattr(parallel.kernels, "scatter_probe", fake_probe)
    monkeypatch.setattr(parallel, "time", SimpleNamespace(perf_counter=lambda: clock[0]))  # parallel's clock only
    set_cache_size(64 * 1024)
    try:
        assert parallel.next_level_is_fast() is fast
        assert sorted(set(calls)) == [8 * 1024, 64 * 1024] and len(calls) == 12  # 32 KiB and 256 KiB of float32
        assert parallel.next_level_is_fast() is fast and len(calls) == 12  # cached
    finally:
        set_cache_size(None)


def test_the_scatter_probe_adds_one_per_index():
    buf = np.zeros(5, np.float32)
    parallel.kernels.scatter_probe(buf, np.array([0, 3, 3, 4, 3]))
    assert buf.tolist() == [1.0, 0.0, 0.0, 3.0, 1.0]


@st.composite
def propagations(draw):
    """Events and synapses with real-valued (not dyadic) weights, so a changed summation order shows."""
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    n_pre, n_post = draw(st.integers(1, 40)), draw(st.integers(1, 300))
    n_steps, n_samples = draw(st.integers(0, 12)), draw(st.integers(1, 3))
    syn = Synapses.random_erdos_renyi(
        n_pre,
        n_post,
        draw(st.sampled_from([0.05, 0.3, 1.0])),
        rng,
        weight=lambda r, n: r.normal(0, 1, n),
        max_delay=draw(st.sampled_from([None, 0, 5, 30])),
    )
    x = np.where(rng.random((n_steps, n_samples, n_pre)) < 0.3, rng.normal(0, 1, (n_steps, n_samples, n_pre)), 0)
    return Events.from_dense(x.astype(np.float32)), syn, draw(st.sampled_from([None, 3]))


@given(propagations())
def test_propagate_is_bit_identical_for_every_thread_count_and_block_split(problem):
    events, syn, n_steps = problem
    assert_all_equal(each_split(lambda: propagate(events, syn, n_steps)))


@given(st.integers(0, 2**31), st.integers(1, 3))
def test_overlap_is_the_same_for_every_thread_count_and_block_split(seed, n_samples):
    rng = np.random.default_rng(seed)
    syn = Synapses.random_erdos_renyi(50, 400, 0.2, rng)
    active = [rng.choice(50, rng.integers(0, 50), replace=False) for _ in range(n_samples)]
    assert_all_equal(each_split(lambda: overlap(active, syn)))

    def repeated():
        with pytest.raises(ValueError, match=r"active\[1\] repeats a unit"):
            overlap([np.arange(3), np.array([4, 4]), np.array([5, 5])], syn)

    each_split(repeated)


@given(networks(), st.booleans())
def test_network_is_bit_identical_for_every_thread_count_and_block_split(net_input, record):
    layers, x = net_input
    net, events = Network(layers), Events.from_dense(x)

    def run():
        res = net.run(events, record="v" if record else ())
        spikes = [(s.time, s.unit, s.sample_ptr) for s in res.layer_spikes]
        return tuple(a for s in spikes for a in s) + (*res.state.v, res.synops, *res.records.get("v", {}).values())

    assert_all_equal(each_split(run))


def test_a_large_network_equals_propagate_then_the_lif_step_on_every_split(rng, monkeypatch):
    """3,000 neurons, fan-out 300, delays <= 64, one sample: blocks form on their own with a small cache;
    every split equals the currents of `propagate` run through SpikingJelly's LIF step in numpy."""
    syn = Synapses.random_fixed_fan_out(200, 3000, 300, rng, weight=lambda r, n: r.normal(0, 0.3, n), max_delay=64)
    events = Events.from_dense((rng.random((60, 200)) < 0.05).astype(np.float32))
    p = LIFParams(tau=3.0, v_threshold=1.0, v_reset=0.0, decay_input=False)
    net = Network([Layer(syn, p)])
    v = np.zeros((1, 3000), np.float32)
    want = []
    for current in propagate(events, syn, n_steps=60):
        s, v = lif_step_ref(current, v, p)
        want.append(s[0])
    t, j = np.nonzero(np.array(want))
    results = each_split(lambda: net.run(events, n_steps=60))
    set_cache_size(16 * 1024)  # slices of 8 KiB: the plan of a machine with a small cache
    monkeypatch.setitem(parallel._fast_beyond, 16 * 1024, False)
    try:
        results.append(net.run(events, n_steps=60))
    finally:
        set_cache_size(None)
    assert t.size > 100
    for res in results:
        assert res.spikes.time.tolist() == t.tolist() and res.spikes.unit.tolist() == j.tolist()
        assert np.array_equal(res.state.v[0], v)


def test_dendrite_kernels_give_the_same_matches_on_every_split(monkeypatch, rng):
    syn = Synapses.random_fixed_fan_in(300, 2000, 12, rng)
    inputs = [rng.choice(300, 60, replace=False) for _ in range(3)]

    def both(batch):
        return (*segment_matches(batch, syn, 4), overlap_histogram(batch, syn))

    monkeypatch.setattr(parallel, "_MIN_PARALLEL_WORK", 0)  # share even this small a call
    for batch in (inputs, inputs[:1]):  # three inputs split by input, one input by blocks of segments
        results = []
        for n in (1, 2):
            with num_threads(n):
                results.append(both(batch))
        assert_all_equal(results)
    # the kernel itself on blocks of segments, one thread
    indices, ptr = np.concatenate(inputs).astype(np.int64), np.array([0, 60, 120, 180])

    def matches(j0, j1):
        return dendrite_kernels.segment_matches_kernel(
            indices,
            ptr,
            0,
            3,
            syn.indptr,
            syn.post,
            j0,
            j1,
            j1 - j0 == 2000,
            4,
            np.zeros(j1 - j0, np.uint8),
            np.full(300, -1, np.int64),
        )

    want_sample, want_segment, _ = matches(0, 2000)
    assert want_sample.size > 100
    for edges in ([0, 700, 1500, 2000], [0, 1, 999, 2000]):
        parts = [matches(j0, j1) for j0, j1 in zip(edges, edges[1:])]
        sample, segment = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        order = np.lexsort((segment, sample))
        assert np.array_equal(sample[order], want_sample) and np.array_equal(segment[order], want_segment)


def test_network_keeps_the_layers_arrays_and_small_rings(rng):
    """No copy of any synapse array, and one synapse of delay 60,000 onto 2,000 neurons needs a ring of at
    most 16 MiB per thread (before: 60,002 × 2,000 × 4 B = 458 MiB per sample)."""
    pre, post = np.array([0, 0, 1]), np.array([5, 1999, 7])
    syn = Synapses.from_edges(pre, post, [1.0, 1.0, 1.0], [60_000, 3, 0], n_pre=2, n_post=2000)
    net = Network([Layer(syn, LIFParams(tau=2.0, v_threshold=0.5, decay_input=False))])
    plan = net._compiled[0]
    for mine, theirs in zip(plan.rows[:4], (syn.indptr, syn.post, syn.weight, syn.delay)):
        assert mine is theirs
    bounds, _ = plan.blocks(1, 1)
    assert np.diff(bounds).max() * plan.n_ring * 4 <= 16 << 20
    res = net.run(Events([0, 0], [0, 1], None, None, n_steps=1, n_units=2), n_steps=60_001)
    assert res.spikes.time.tolist() == [0, 3, 60_000] and res.spikes.unit.tolist() == [7, 1999, 5]


def test_a_recurrent_ring_over_a_gib_is_refused_with_its_size():
    n = 5000
    rec = Synapses.from_edges([0], [1], [1.0], [60_000], n_pre=n, n_post=n)
    with pytest.raises(ValueError, match=r"layers\[0\] is recurrent.* 60002 steps .* × 5000 neurons × 4 B = 1,144 MiB"):
        Network([Layer(Synapses.from_dense(np.ones((1, n))), recurrent=rec)])
