"""The core refuses what it cannot hold exactly and cannot be corrupted after construction (issue 18)."""

import copy
import pickle

import numpy as np
import pytest
from reference import propagate_ref

from sdrnet.core import Events, Synapses, overlap, propagate

INT32_MAX = 2**31 - 1


# ---------------------------------------------------------------------------- nothing wraps into int32
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Events.from_spike_times([3.0], [0], dt=1e-9, n_units=1), r"step 3000000000 .*use a larger dt"),
        (lambda: Events.from_spike_times([1e300], [0], dt=1e-300, n_units=1), r"step inf"),
        (lambda: Events([2**32 + 5], [0], n_steps=2**33, n_units=1), r"n_steps must be <= 2147483647"),
        (lambda: Events([0], [2**31], n_steps=1, n_units=2**31 + 1), r"n_units must be <= 2147483647"),
        (lambda: Events([0], [2**31], n_steps=1, n_units=3), r"unit must be < 3"),
        (lambda: Events(np.array([2**63 + 1], np.uint64), [0], n_steps=5, n_units=1), r"time must be < 5"),
        (lambda: Events([0], [0], None, np.array([0, 2**64 - 1], np.uint64), n_steps=1, n_units=1), "sample_ptr"),
        (lambda: Synapses([0, 1], [2**32 + 3], n_post=2**32 + 4), r"n_post must be <= 2147483647"),
        (lambda: Synapses([0, 1], [2**32 + 3], n_post=4), r"post must be < 4"),
        (lambda: Synapses(np.array([0, 2**64 - 1], np.uint64), [0], n_post=1), "indptr must be non-decreasing"),
        (lambda: Synapses.from_edges([0], [0], n_pre=2**31, n_post=1), r"n_pre must be <= 2147483647"),
        (lambda: Synapses.from_edges([0], [0], n_pre=1, n_post=2**31), r"n_post must be <= 2147483647"),
    ],
    ids=[f"case{i}" for i in range(12)],
)
def test_sizes_beyond_int32_are_refused(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_largest_int32_sizes_are_kept_exactly():
    ev = Events([INT32_MAX - 1], [INT32_MAX - 1], n_steps=INT32_MAX, n_units=INT32_MAX)
    assert ev.time.tolist() == [INT32_MAX - 1] and ev.unit.tolist() == [INT32_MAX - 1]
    # the within-sample order key time * n_units + unit stays exact at the largest sizes
    big = Events(
        [INT32_MAX - 1, 0, INT32_MAX - 1],
        [0, INT32_MAX - 1, INT32_MAX - 2],
        None,
        [0, 3],
        n_steps=INT32_MAX,
        n_units=INT32_MAX,
    )
    assert big.time.tolist() == [0, INT32_MAX - 1, INT32_MAX - 1]
    assert big.unit.tolist() == [INT32_MAX - 1, 0, INT32_MAX - 2]
    # the same (time, unit) in two samples is two events, one per sample
    two = Events([5, 5], [7, 7], None, [0, 1, 2], n_steps=INT32_MAX, n_units=INT32_MAX).coalesce()
    assert two.n_events == 2 and two.events_per_sample().tolist() == [1, 1]
    s = Synapses([0, 1], [INT32_MAX - 1], n_post=INT32_MAX)
    assert s.post.tolist() == [INT32_MAX - 1]


# ---------------------------------------------------------------------------- immutable after construction
def _small():
    syn = Synapses.from_dense([[0.5, 0.0], [0.0, 2.0]], delay=[[1, 0], [0, 3]])
    ev = Events.from_dense(np.array([[[1.0, 0.0]], [[0.0, 1.0]]], np.float32))
    return ev, syn


@pytest.mark.parametrize(
    "which, name",
    [
        (0, "time"),
        (0, "unit"),
        (0, "value"),
        (0, "sample_ptr"),
        (1, "indptr"),
        (1, "post"),
        (1, "weight"),
        (1, "delay"),
    ],
)
def test_stored_arrays_are_read_only(which, name):
    obj = _small()[which]
    arr = getattr(obj, name)
    with pytest.raises(ValueError, match="read-only"):
        arr[0] = 10**7
    with pytest.raises(ValueError, match="WRITEABLE"):
        arr.setflags(write=True)
    with pytest.raises(AttributeError):
        setattr(obj, name, np.zeros_like(arr))
    with pytest.raises(AttributeError):
        setattr(obj, ["n_steps", "n_post"][which], 10**7)


def test_constructors_copy_their_inputs():
    time, unit = np.array([0, 1]), np.array([1, 0])
    ev = Events(time, unit, n_steps=2, n_units=2)
    post = np.array([0, 1])
    syn = Synapses([0, 1, 2], post, n_post=2)
    time[0], unit[0], post[0] = 10**7, 10**7, 10**7  # the caller's arrays stay the caller's
    assert ev.time.tolist() == [0, 1] and ev.unit.tolist() == [1, 0] and syn.post.tolist() == [0, 1]


@pytest.mark.parametrize("clone", [lambda x: pickle.loads(pickle.dumps(x)), copy.deepcopy, copy.copy])
def test_pickled_and_copied_objects_stay_immutable(clone):
    ev, syn = _small()
    ev2, syn2 = clone(ev), clone(syn)
    for a, b in [(ev.time, ev2.time), (ev.value, ev2.value), (syn.post, syn2.post), (syn.delay, syn2.delay)]:
        np.testing.assert_array_equal(a, b)
        assert not b.flags.writeable
    assert (ev2.n_steps, ev2.n_units, ev2.dt, syn2.n_post) == (ev.n_steps, ev.n_units, ev.dt, syn.n_post)
    np.testing.assert_array_equal(propagate(ev2, syn2), propagate(ev, syn))


class _ForgedEvents(Events):
    """Events whose unit array lies about its range (a stand-in that bypasses the constructor)."""

    __slots__ = ()
    unit = property(lambda self: np.array([0, 10**7], np.int32))


class _ForgedSynapses(Synapses):
    __slots__ = ()
    post = property(lambda self: np.zeros(1, np.int32))  # shorter than weight


def test_kernel_entries_check_bounds():
    ev, syn = _small()
    with pytest.raises(ValueError, match="events.unit must be < 2"):
        propagate(_ForgedEvents(ev.time, ev.unit, ev.value, ev.sample_ptr, n_steps=2, n_units=2), syn)
    forged = _ForgedSynapses(syn.indptr, syn.post, syn.weight, syn.delay, n_post=2)
    with pytest.raises(ValueError, match="inconsistent CSR arrays"):
        propagate(ev, forged)
    with pytest.raises(ValueError, match="inconsistent CSR arrays"):
        overlap([np.array([0])], forged)
    np.testing.assert_array_equal(propagate(ev, syn), propagate_ref(ev.to_dense(), syn, 2 + syn.max_delay))


# ---------------------------------------------------------------------------- float32 values
@pytest.mark.parametrize(
    "bad, what",
    [(1e39, "overflows float32"), (-1e39, "overflows float32"), (1e-50, "underflows to 0 in float32")],
    ids=["big", "-big", "tiny"],
)
def test_values_that_float32_cannot_hold_are_refused(bad, what):
    with pytest.raises(ValueError, match=rf"value\[1\] = .* {what}"):
        Events([0, 1], [0, 0], [1.0, bad], n_steps=2, n_units=1)
    with pytest.raises(ValueError, match=rf"weight\[1\] = .* {what}"):
        Synapses([0, 2], [0, 1], [1.0, bad], n_post=2)
    with pytest.raises(ValueError, match=what):
        Synapses.from_dense([[1.0, bad]])


def test_float32_extremes_that_fit_are_kept():
    tiny, big = float(np.finfo(np.float32).smallest_subnormal), float(np.finfo(np.float32).max)
    ev = Events([0, 0], [0, 1], [tiny, -big], n_steps=1, n_units=2)
    assert ev.value.tolist() == [np.float32(tiny), np.float32(-big)]
    assert Synapses([0, 1], [0], [0.0], n_post=1).weight.tolist() == [0.0]  # an explicit zero stays


# ---------------------------------------------------------------------------- exact kwta, one validation
@pytest.mark.parametrize(
    "x",
    [
        np.array([2**53 + 1, 2**53, 2**53 + 2, 5, 2**53 + 1], np.int64),  # float64 sees 2**53 + 1 == 2**53
        np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0, np.iinfo(np.int64).max - 1], np.int64),
        np.array([2**64 - 1, 2**63, 3, 2**64 - 2], np.uint64),
        np.array([[-(2**60) - 1, -(2**60), 7], [2**62 + 3, 2**62 + 2, 2**62 + 3]], np.int64),
    ],
)
def test_kwta_is_exact_on_wide_integers(x):
    from sdrnet.core import kwta

    rows = np.atleast_2d(x)
    for k in range(1, rows.shape[1] + 1):
        # reference on Python ints: largest first, ties to the lower index
        want = [sorted(sorted(range(len(r)), key=lambda j: (-int(r[j]), j))[:k]) for r in rows]
        got = kwta(x, k)
        assert np.atleast_2d(got).tolist() == want


def test_from_networkx_validates_delays_like_the_constructor():
    import networkx as nx

    for bad, err in [(2.9, TypeError), (2.0, TypeError), (True, TypeError), (-1, ValueError), (70000, ValueError)]:
        g = nx.DiGraph()
        g.add_edge("a", "b", delay=bad)
        g.add_edge("b", "a", delay=1)
        with pytest.raises(err, match=r"delay of edge 'a' -> 'b' must"):
            Synapses.from_networkx(g)
        with pytest.raises(err, match="delay must"):  # the constructor refuses the same value
            Synapses.from_dense([[1.0]], np.array([[bad]]))
    g = nx.DiGraph()
    g.add_edge(("pre", 0), ("post", 1.5))
    g.add_edge(("pre", 1), ("post", 3))
    with pytest.raises(TypeError, match=r"index of node \('post', 1.5\)"):
        Synapses.from_networkx(g)
    g = nx.DiGraph()
    g.add_edge("a", "b", delay=np.int64(7))
    assert Synapses.from_networkx(g).delay_matrix()[0, 1] == 7


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(decay_input="False"), TypeError, "decay_input must be a bool"),
        (dict(decay_input=0), TypeError, "decay_input must be a bool"),
        (dict(tau="2"), TypeError, "tau must be a real number"),
        (dict(tau=True), TypeError, "tau must be a real number"),
        (dict(v_threshold=None), TypeError, "v_threshold must be a real number"),
        (dict(v_threshold="1"), TypeError, "v_threshold must be a real number"),
        (dict(v_reset="0"), TypeError, "v_reset must be a real number"),
        (dict(v_reset=1e39), ValueError, "v_reset = 1e.39 cannot be held in float32"),
        (dict(v_threshold=-1e39), ValueError, "v_threshold = -1e.39 cannot be held in float32"),
        (dict(tau=10**400), ValueError, "tau = 1000.* cannot be held in float32"),
    ],
)
def test_lif_params_require_real_types(kwargs, err, match):
    from sdrnet.core import LIFParams

    with pytest.raises(err, match=match):
        LIFParams(**kwargs)


def test_lif_params_accept_numpy_scalars_and_inf():
    from sdrnet.core import LIFParams

    p = LIFParams(tau=np.float32(3.0), v_threshold=np.inf, v_reset=None, decay_input=np.bool_(False))
    assert p.tau == 3.0 and p.v_threshold == np.inf and not p.decay_input


def _dt_entry_points():
    from sdrnet.core import Layer, LIFParams, Network
    from sdrnet.core.nir import network_to_nir
    from sdrnet.core.tonic import ToEvents

    net = Network([Layer(Synapses.from_dense([[1.0]]))])
    return {
        "Events": lambda dt: Events([0], [0], n_steps=1, n_units=1, dt=dt),
        "Events.from_spike_times": lambda dt: Events.from_spike_times([0.0], [0], dt=dt, n_units=1),
        "ToEvents": lambda dt: ToEvents((2, 1, 1), dt),
        "Network": lambda dt: Network(net.layers, dt=dt),
        "LIFParams.resolve": lambda dt: LIFParams(tau_s=0.02).resolve(dt),
        "network_to_nir": lambda dt: network_to_nir(net, dt=dt),
    }


@pytest.mark.parametrize("entry", list(_dt_entry_points()))
@pytest.mark.parametrize(
    "dt, err",
    [
        ("1e-3", TypeError),
        (True, TypeError),
        (np.bool_(True), TypeError),
        ([1e-3], TypeError),
        (0, ValueError),
        (-1e-3, ValueError),
        (float("nan"), ValueError),
        (np.inf, ValueError),
        (10**400, ValueError),
    ],
)
def test_every_dt_is_checked_alike(entry, dt, err):
    """One check (validation.check_dt) behind every dt: a wrong type is a TypeError, a wrong value a
    ValueError, and both name dt and what it must be."""
    if entry == "network_to_nir":
        pytest.importorskip("nir")
    with pytest.raises(err, match="dt must be a positive finite number of seconds"):
        _dt_entry_points()[entry](dt)


def test_check_dt_returns_a_float_and_passes_none_only_where_allowed():
    from sdrnet.core.validation import check_dt

    for dt in (1, np.float32(0.5), np.int64(2), 1e-3):
        assert type(check_dt(dt)) is float and check_dt(dt) == float(dt)
    assert check_dt(None) is None
    with pytest.raises(TypeError, match="step must be a positive finite number of seconds, got NoneType"):
        check_dt(None, "step", allow_none=False)
    with pytest.raises(TypeError, match="dt must be a positive"):
        Events.from_spike_times([0.0], [0], dt=None, n_units=1)
    assert Events([0], [0], n_steps=1, n_units=1, dt=np.float32(0.5)).dt == 0.5


def test_scipy_delay_matrix_holds_one_delay_per_pair():
    agree = Synapses.from_edges([0, 0, 1], [1, 1, 0], [0.5, 0.25, 1.0], [2, 2, 3], n_pre=2, n_post=2)
    d = agree.to_scipy("delay")
    assert d.toarray().tolist() == [[0, 2], [3, 0]] == agree.delay_matrix().tolist()
    assert d.nnz == 2  # one stored entry per pair: scipy would add duplicates up (2 + 2 -> 4)
    back = Synapses.from_scipy(agree.to_scipy(), d)
    np.testing.assert_array_equal(back.to_dense(), agree.to_dense())
    assert back.delay.tolist() == agree.delay.tolist() == [2, 2, 3]
    differ = Synapses.from_edges([0, 0], [1, 1], [1.0, 1.0], [1, 2], n_pre=1, n_post=2)
    with pytest.raises(ValueError, match=r"multapses with different delays \(0 -> 1: 1 and 2\)"):
        differ.to_scipy("delay")


# ---------------------------------------------------------------------------- layers cannot drift from a Network
def test_layers_are_immutable_so_a_network_never_runs_stale_parameters():
    from dataclasses import FrozenInstanceError, replace

    from sdrnet.core import Layer, LIFParams, Network

    syn = Synapses.from_dense(np.eye(3, dtype=np.float32))
    bias = np.zeros(3)
    layer = Layer(syn, LIFParams(tau=2.0, v_threshold=1.0), bias=bias)
    net = Network([layer])
    silent = Events([], [], None, None, n_steps=6, n_units=3)
    assert net.run(silent).spikes.n_events == 0
    for name, value in [("bias", 2.0), ("tail", 1), ("neuron", LIFParams()), ("synapses", syn), ("recurrent", None)]:
        with pytest.raises(FrozenInstanceError):
            setattr(layer, name, value)
    with pytest.raises(ValueError, match="read-only"):
        layer.bias[0] = 2.0
    bias[:] = 2.0  # the caller's array is not the layer's
    assert layer.bias.tolist() == [0.0, 0.0, 0.0] and net.run(silent).spikes.n_events == 0
    # a changed layer is a new layer, and a new network runs it: with bias 2, H = 1 >= 1 every step
    louder = Network([replace(layer, bias=2.0)])
    assert louder.run(silent).spikes.n_events == 6 * 3
    assert net.run(silent).spikes.n_events == 0
    assert isinstance(net.layers, tuple)


# ---------------------------------------------------------------------------- distributions and memory of the random draws
def _pvalue(observed, expected):
    """Chi-square goodness of fit, pooling the sparse tail bins (expected < 5) into one."""
    from scipy.stats import chisquare

    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    assert observed.sum() == pytest.approx(expected.sum())
    small = expected < 5
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    keep = exp > 0
    return chisquare(obs[keep], exp[keep]).pvalue


def _peak_bytes(call):
    import tracemalloc

    tracemalloc.start()
    try:
        out = call()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("a", [10, 40])  # 40 > n / 2 is drawn through the 10 bits left out
def test_batch_random_rows_are_independent_uniform_subsets(a):
    from scipy.stats import hypergeom

    from sdrnet.sdr import SDR, SDRBatch, consecutive_overlap

    n, size = 50, 20000
    b = SDRBatch.random(n, a, size, np.random.default_rng(a))
    assert (b.n_active == a).all() and all(len(set(s.sparse.tolist())) == a for s in b[:200])
    assert _pvalue(np.bincount(b.indices, minlength=n), np.full(n, size * a / n)) > 1e-3
    # the whole subset, not only its bits: the overlap with a fixed 10-bit set is hypergeometric
    fixed = b.overlap(SDR(n, range(10)))
    assert _pvalue(np.bincount(fixed, minlength=11), size * hypergeom(n, 10, a).pmf(np.arange(11))) > 1e-3
    # rows are independent: consecutive rows overlap as two independent uniform a-subsets do
    pairs = np.rint(consecutive_overlap(b) * a).astype(int)
    assert _pvalue(np.bincount(pairs, minlength=a + 1), (size - 1) * hypergeom(n, a, a).pmf(np.arange(a + 1))) > 1e-3


def test_batch_add_noise_moves_uniform_subsets_of_bits():
    from scipy.stats import hypergeom

    from sdrnet.sdr import SDR, SDRBatch

    n, size = 50, 20000
    x = SDR(n, range(0, n, 5))  # 10 active bits, 40 inactive
    inactive = np.setdiff1d(np.arange(n), x.sparse)
    noisy = SDRBatch.from_sdrs([x] * size).add_noise(0.3, np.random.default_rng(5))  # 3 bits move per row
    d = noisy.dense
    off, on = ~d[:, x.sparse], d[:, inactive]
    assert (off.sum(1) == 3).all() and (on.sum(1) == 3).all()
    assert _pvalue(off.sum(0), np.full(10, size * 3 / 10)) > 1e-3
    assert _pvalue(on.sum(0), np.full(40, size * 3 / 40)) > 1e-3
    k = np.arange(4)
    assert _pvalue(np.bincount(off[:, :5].sum(1), minlength=4), size * hypergeom(10, 5, 3).pmf(k)) > 1e-3
    assert _pvalue(np.bincount(on[:, :20].sum(1), minlength=4), size * hypergeom(40, 20, 3).pmf(k)) > 1e-3


def test_batch_operations_use_memory_in_proportion_to_the_sdrs():
    from sdrnet.sdr import SDRBatch, consecutive_overlap

    n, a, size = 100_000, 20, 200
    rng = np.random.default_rng(0)
    sdr_bytes = size * a * 8  # the int64 indices; a dense [size, n] key matrix would be 1250x more
    b, peak = _peak_bytes(lambda: SDRBatch.random(n, a, size, rng))
    assert peak < 16 * sdr_bytes
    noisy, peak = _peak_bytes(lambda: b.add_noise(0.3, rng))
    assert peak < 16 * sdr_bytes
    m, peak = _peak_bytes(lambda: b.overlap(noisy))
    assert peak < 8 * (m.nbytes + 2 * sdr_bytes)
    assert np.diag(m).tolist() == [a - 6] * size  # round(0.3 * 20) = 6 bits moved in every row
    one, peak = _peak_bytes(lambda: b.overlap(noisy[0]))
    assert peak < 16 * sdr_bytes and one.tolist() == m[:, 0].tolist()
    _, peak = _peak_bytes(lambda: consecutive_overlap(b))
    assert peak < 32 * sdr_bytes


@pytest.mark.parametrize("p", [0.3, 0.8])  # 0.8: rows are drawn through the pairs left out
def test_erdos_renyi_rows_are_binomial_and_uniform(p):
    from scipy.stats import binom

    n_pre, n_post = 4000, 40
    s = Synapses.random_erdos_renyi(n_pre, n_post, p, np.random.default_rng(int(p * 10)))
    adj = s.to_dense() != 0
    assert adj.sum() == s.nnz  # no multapses
    assert (
        _pvalue(np.bincount(s.fan_out(), minlength=n_post + 1), n_pre * binom(n_post, p).pmf(np.arange(n_post + 1)))
        > 1e-3
    )
    assert _pvalue(s.fan_in(), np.full(n_post, s.nnz / n_post)) > 1e-3  # given nnz, targets are uniform
    # pairs of targets are independent: both j and j' are hit with probability p², for every pair
    both = (adj[:, :-1] & adj[:, 1:]).sum(0)
    assert (
        _pvalue(
            np.append(both, n_pre * (n_post - 1) - both.sum()),
            np.append(np.full(n_post - 1, n_pre * p * p), n_pre * (n_post - 1) * (1 - p * p)),
        )
        > 1e-3
    )


def test_erdos_renyi_memory_is_proportional_to_its_synapses():
    s, peak = _peak_bytes(lambda: Synapses.random_erdos_renyi(2000, 2000, 0.05, np.random.default_rng(0)))
    assert s.nnz == pytest.approx(2000 * 2000 * 0.05, rel=0.02)
    assert peak < 8 * s.nbytes  # permuting every pair took 20x
