import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdrnet.core import Synapses


@st.composite
def weight_and_delay(draw, max_n=12):
    n_pre, n_post = draw(st.integers(1, max_n)), draw(st.integers(1, max_n))
    seed = draw(st.integers(0, 2**31))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    rng = np.random.default_rng(seed)
    w = np.where(rng.random((n_pre, n_post)) < density, rng.normal(size=(n_pre, n_post)), 0).astype(np.float32)
    d = rng.integers(0, draw(st.sampled_from([1, 7, 300])), (n_pre, n_post))
    return w, np.where(w != 0, d, 0)


@given(weight_and_delay())
def test_dense_round_trip(wd):
    w, d = wd
    s = Synapses.from_dense(w, d)
    np.testing.assert_array_equal(s.to_dense(), w)
    np.testing.assert_array_equal(s.delay_matrix(), d)
    assert s.nnz == np.count_nonzero(w)
    assert s.density == pytest.approx(np.count_nonzero(w) / w.size)
    np.testing.assert_array_equal(s.fan_out(), np.count_nonzero(w, axis=1))
    np.testing.assert_array_equal(s.fan_in(), np.count_nonzero(w, axis=0))
    assert s.max_delay == (d.max() if s.nnz else 0)
    assert s.delay.dtype == (np.uint8 if s.max_delay < 256 else np.uint16)
    for i in range(s.n_pre):  # rows sorted by post
        assert np.all(np.diff(s.post[s.indptr[i] : s.indptr[i + 1]]) > 0)


@given(weight_and_delay())
def test_scipy_round_trip(wd):
    w, d = wd
    s = Synapses.from_dense(w, d)
    m = s.to_scipy()
    np.testing.assert_array_equal(m.toarray(), w)
    np.testing.assert_array_equal(s.to_scipy("delay").toarray(), d)
    back = Synapses.from_scipy(m, s.to_scipy("delay"))
    np.testing.assert_array_equal(back.to_dense(), w)
    np.testing.assert_array_equal(back.delay_matrix(), d)


@given(weight_and_delay(max_n=8))
def test_networkx_round_trip(wd):
    w, d = wd
    s = Synapses.from_dense(w, d)
    g = s.to_networkx()
    assert g.number_of_edges() == s.nnz
    back = Synapses.from_networkx(g)
    assert (back.n_pre, back.n_post) == (s.n_pre, s.n_post)
    np.testing.assert_array_equal(back.to_dense(), w)
    np.testing.assert_array_equal(back.delay_matrix(), d)


def test_networkx_square_graph_and_multapses():
    import networkx as nx

    g = nx.DiGraph()
    g.add_edge("a", "b", weight=2.0, delay=3)
    g.add_edge("b", "c")
    g.add_node("d")
    s = Synapses.from_networkx(g)
    assert (s.n_pre, s.n_post) == (4, 4)
    np.testing.assert_array_equal(s.to_dense()[[0, 1], [1, 2]], [2.0, 1.0])
    assert s.delay_matrix()[0, 1] == 3 and s.delay_matrix()[1, 2] == 0
    multi = Synapses.from_edges([0, 0], [1, 1], [0.5, 0.25], [1, 2], n_pre=2, n_post=2)
    mg = multi.to_networkx()
    assert isinstance(mg, nx.MultiDiGraph) and mg.number_of_edges() == 2
    assert multi.to_dense()[0, 1] == 0.75
    with pytest.raises(ValueError, match="multapses with different delays"):
        multi.delay_matrix()


def test_from_linear_transposes_and_guards_bias():
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(5, 3, bias=False)
    s = Synapses.from_linear(lin)
    assert (s.n_pre, s.n_post) == (5, 3)
    np.testing.assert_array_equal(s.to_dense(), lin.weight.detach().numpy().T)
    x = torch.randn(4, 5)
    np.testing.assert_allclose(x.numpy() @ s.to_dense(), lin(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    with_bias = torch.nn.Linear(5, 3)
    with pytest.raises(ValueError, match="non-zero bias"):
        Synapses.from_linear(with_bias)
    assert Synapses.from_linear(with_bias, bias="ignore").n_post == 3
    with pytest.raises(TypeError, match="torch.nn.Linear"):
        Synapses.from_linear(torch.nn.Conv1d(1, 1, 1))


def test_random_generators_are_seeded_and_exact():
    s = Synapses.random_fixed_fan_in(50, 40, 7, np.random.default_rng(3), max_delay=9)
    assert np.all(s.fan_in() == 7) and s.max_delay <= 9 and s.delay is not None
    dense = s.to_dense() != 0
    assert dense.sum() == 280  # distinct partners: no multapses
    again = Synapses.random_fixed_fan_in(50, 40, 7, np.random.default_rng(3), max_delay=9)
    np.testing.assert_array_equal(s.post, again.post)
    np.testing.assert_array_equal(s.delay, again.delay)
    f = Synapses.random_fixed_fan_out(30, 60, 11, np.random.default_rng(0), weight=lambda rng, n: rng.normal(size=n))
    assert np.all(f.fan_out() == 11) and np.unique(f.weight).size == f.nnz


def test_erdos_renyi_density(rng):
    s = Synapses.random_erdos_renyi(400, 300, 0.05, rng)
    # binomial(120000, 0.05): sd ~ 75, so 5 sd is 375
    assert abs(s.nnz - 6000) < 375
    assert (s.to_dense() != 0).sum() == s.nnz
    assert Synapses.random_erdos_renyi(5, 5, 0.0, rng).nnz == 0
    assert Synapses.random_erdos_renyi(5, 5, 1.0, rng).nnz == 25


def test_bytes_per_synapse_target(rng):
    s = Synapses.random_fixed_fan_out(1000, 1000, 100, rng, max_delay=64)
    # 4 (post) + 4 (weight) + 1 (uint8 delay) + 8 / fan-out (indptr)
    assert s.bytes_per_synapse <= 10
    assert s.nbytes == s.indptr.nbytes + s.post.nbytes + s.weight.nbytes + s.delay.nbytes


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: Synapses.from_dense(np.ones(3)), ValueError, "weight must be 2-D"),
        (
            lambda: Synapses.from_dense(np.ones((2, 2)), np.ones((2, 3), int)),
            ValueError,
            "delay must have the weight's shape",
        ),
        (lambda: Synapses.from_dense(np.ones((2, 2)), np.ones((2, 2))), TypeError, "delay must have an integer dtype"),
        (lambda: Synapses.from_dense(np.ones((2, 2)), -np.ones((2, 2), int)), ValueError, "delay must be >= 0"),
        (lambda: Synapses.from_dense(np.ones((2, 2)), np.full((2, 2), 70000)), ValueError, "delay must be < 65536"),
        (lambda: Synapses.from_dense([[np.inf]]), ValueError, "weight must be finite"),
        (lambda: Synapses.from_edges([0, 3], [0, 0], n_pre=3, n_post=1), ValueError, "pre must be < 3"),
        (lambda: Synapses.from_edges([0], [0, 1], n_pre=3, n_post=2), ValueError, "same length"),
        (lambda: Synapses([0, 2], [0], n_post=1), ValueError, "indptr must be non-decreasing"),
        (lambda: Synapses([0, 1], [5], n_post=2), ValueError, "post must be < 2"),
        (lambda: Synapses.random_fixed_fan_in(3, 3, 4, np.random.default_rng()), ValueError, "fan_in must be <= n_pre"),
        (lambda: Synapses.random_fixed_fan_in(3, 3, 1, 7), TypeError, "numpy.random.Generator"),
        (
            lambda: Synapses.random_erdos_renyi(3, 3, 1.5, np.random.default_rng()),
            ValueError,
            "p must be a probability",
        ),
        (lambda: Synapses.from_scipy(np.ones((2, 2))), TypeError, "scipy sparse"),
    ],
)
def test_constructor_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()
