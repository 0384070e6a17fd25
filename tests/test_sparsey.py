import gzip
import struct
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sdrnet.datasets import load_mnist, read_idx
from sdrnet.sdr import SDR, SDRBatch
from sdrnet.sparsey import CSAParams, Level, Macrocolumn
from sdrnet.sparsey.csa import draw_winners, expansivity, relative_likelihood, select_code
from sdrnet.sparsey.data import oriented_edges
from sdrnet.sparsey.hierarchy import Hierarchy, LevelSpec, grid_fields
from sdrnet.sparsey.readout import CodeReadout, SparseyClassifier
from sdrnet.sparsey.theory import pair_code_overlap, recall_per_cm


def random_input(n, a, rng):
    x = np.zeros(n, bool)
    x[rng.choice(n, a, replace=False)] = True
    return x


def csa_reference(W, fields, x, Q, K, p: CSAParams, u01):
    """Plain per-cell loops of the CSA (Rinkus 2010/2014 as in the refs) for a level; u01 [M, Q] uniform draws."""
    M = len(fields)
    winners, Gs = np.full((M, Q), -1), np.zeros(M)
    for m, field in enumerate(fields):
        a = int(x[field].sum())
        if not (max(p.active_min, 1) <= a <= (p.active_max or 10**9)):
            continue
        V = np.zeros((Q, K))
        for q in range(Q):
            for k in range(K):
                cell = (m * Q + q) * K + k
                V[q, k] = min(1.0, sum(W[j, cell] for j in field if x[j]) / a) ** p.u_exponent
        G = V.max(axis=1).mean()
        g = max(0.0, (G - p.familiarity_min) / (1 - p.familiarity_min))
        eta = 1 + g**p.gamma * p.chi * K
        mu = 1 + (eta - 1) / (1 + np.exp(-p.sigmoid_slope * (V - p.sigmoid_center)))
        for q in range(Q):
            rho = mu[q] / mu[q].sum()
            winners[m, q] = min(int(np.searchsorted(np.cumsum(rho), u01[m, q] * rho.sum(), side="right")), K - 1)
        Gs[m] = G
    return winners, Gs


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    Q=st.integers(1, 5),
    K=st.integers(1, 6),
    n_inputs=st.integers(4, 30),
    n_macs=st.integers(1, 3),
    steps=st.integers(1, 8),
)
def test_level_learning_matches_plain_loops(seed, Q, K, n_inputs, n_macs, steps):
    rng = np.random.default_rng(seed)
    fields = [np.sort(rng.choice(n_inputs, rng.integers(1, n_inputs + 1), replace=False)) for _ in range(n_macs)]
    params = CSAParams(active_min=2, u_exponent=float(rng.uniform(0.5, 3)), familiarity_min=0.2)
    level = Level(n_inputs, fields, Q, K, params, saturation_warning=1.0)
    W = np.zeros((n_inputs, level.n_cells), bool)
    for _ in range(steps):
        x = rng.random(n_inputs) < 0.4
        state = np.random.default_rng(seed + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = level.learn(x, state)
        expected, G = csa_reference(W, fields, x, Q, K, params, np.random.default_rng(seed + 1).random((n_macs, Q)))
        np.testing.assert_array_equal(code.winners, expected)
        np.testing.assert_allclose(code.familiarity, G, atol=1e-12)
        for m, field in enumerate(fields):  # single-trial binary Hebbian learning within the receptive field
            if expected[m, 0] >= 0:
                cells = (m * Q + np.arange(Q)) * K + expected[m]
                W[np.ix_(field[x[field]], cells)] = True
        np.testing.assert_array_equal(level.U.weights, W)
        assert level.U.synapses.nnz == W.sum()


def test_csa_steps_closed_forms():
    p = CSAParams()
    assert expansivity(0.1, 8, p) == 1.0 and expansivity(0.0, 8, p) == 1.0
    assert expansivity(1.0, 8, p) == pytest.approx(1 + 100 * 8)
    assert expansivity(0.55, 8, p) == pytest.approx(1 + 0.25 * 800)
    mu = relative_likelihood(np.array([[[0.5, 1.0, 0.0]]]), np.array([11.0]), p)[0, 0]
    assert mu[0] == pytest.approx(6.0) and mu[1] == pytest.approx(1 + 10 / (1 + np.exp(-14)))
    alt = CSAParams(sigmoid_slope=32, sigmoid_center=1 - np.log(10) / 4)  # Sparsey_Alt's form
    V = np.linspace(0, 1, 11)[None, None, :]
    sparsey_alt = (50 - 1) / (1 + (0.1 * np.exp(-4 * (V - 1))) ** 8) + 1
    np.testing.assert_allclose(relative_likelihood(V, np.array([50.0]), alt), sparsey_alt, rtol=1e-12)


def test_draw_winners_follows_rho():
    rho = np.array([0.1, 0.2, 0.3, 0.4])
    draws = draw_winners(np.broadcast_to(rho, (200_000, 4)), np.random.default_rng(0))
    freq = np.bincount(draws, minlength=4) / draws.size
    np.testing.assert_allclose(freq, rho, atol=5 * np.sqrt(0.25 / draws.size))


def test_recognition_is_argmax_and_familiarity():
    V = np.array([[[0.2, 0.9, 0.9], [1.0, 0.0, 0.5]]])
    winners, G = select_code(V, CSAParams(), None)
    np.testing.assert_array_equal(winners, [[1, 0]])
    assert G[0] == pytest.approx(0.95)


def test_stored_input_returns_its_code_and_novel_is_unfamiliar():
    rng = np.random.default_rng(1)
    mac = Macrocolumn(400, 20, 10)
    inputs = [random_input(400, 20, rng) for _ in range(30)]
    stored = [mac.learn(x, rng) for x in inputs]
    for x, code in zip(inputs, stored):
        again = mac.recognize(x)
        np.testing.assert_array_equal(again.winners, code.winners)
        assert again.familiarity == 1.0
    novel = mac.recognize(np.array([random_input(400, 20, rng) for _ in range(50)]))
    assert novel.familiarity.max() < 0.6 and novel.familiarity.mean() < 0.4
    relearned = mac.learn(inputs[0], rng)  # learning mode: G = 1 makes the stored code by far the likeliest
    assert np.mean(relearned.winners == stored[0].winners) >= 0.9


def test_similar_inputs_get_similar_codes_as_the_closed_form():
    rng = np.random.default_rng(2)
    n, a, Q, K, pairs = 400, 20, 20, 8, 60
    means, expected, ses = [], [], []
    for shared in range(0, a + 1, 4):
        ov = []
        for _ in range(pairs):
            mac = Macrocolumn(n, Q, K)
            cells = rng.choice(n, 2 * a - shared, replace=False)
            code_a = mac.learn(SDR(n, cells[:a]), rng)
            code_b = mac.learn(SDR(n, np.concatenate([cells[:shared], cells[a:]])), rng)
            ov.append(np.mean(code_a.winners == code_b.winners))
        means.append(np.mean(ov))
        ses.append(max(np.std(ov, ddof=1), 1 / Q) / np.sqrt(pairs))
        expected.append(pair_code_overlap(shared / a, K))
    assert np.all(np.diff(means) > -3 * np.array(ses[1:]))  # grows with the input overlap
    assert means[0] < 0.2 and means[-1] > 0.95
    assert np.all(np.abs(np.array(means) - np.array(expected)) < 4.5 * np.array(ses))


@pytest.mark.filterwarnings("ignore:sparsey.*match two or more cells:RuntimeWarning")
def test_capacity_matches_the_derived_curve_and_saturation_is_reported():
    rng = np.random.default_rng(3)
    n, a, Q, K = 400, 20, 20, 10
    for M in (200, 400):
        mac = Macrocolumn(n, Q, K, params=CSAParams(familiarity_min=0.9))
        patterns = SDRBatch.random(n, a, M, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stored = np.array([mac.learn(p, rng).winners for p in patterns])
        recall = np.mean(mac.recognize(patterns).winners == stored)
        assert recall == pytest.approx(recall_per_cm(M, n, a, K)[0], abs=0.04)
    mac = Macrocolumn(n, Q, K)
    with pytest.warns(RuntimeWarning, match="full"):
        for p in SDRBatch.random(n, a, 400, rng):
            mac.learn(p, rng)
    assert mac.reported_full_.all()


def test_recall_closed_form_limits():
    assert recall_per_cm(1, 400, 20, 10)[0] == 1.0
    assert recall_per_cm(100_000, 100, 50, 4)[0] == pytest.approx(1 / 4, abs=1e-6)  # every cell ties
    assert pair_code_overlap(0.0, 8) == pytest.approx(1 / 8)


def test_same_seed_same_codes():
    data = np.random.default_rng(4).random((20, 100)) < 0.1

    def codes(seed):
        mac, rng = Macrocolumn(100, 8, 5), np.random.default_rng(seed)
        return np.array([mac.learn(x, rng).winners for x in data])

    np.testing.assert_array_equal(codes(7), codes(7))
    assert not np.array_equal(codes(7), codes(8))


def test_gate_and_freezing():
    rng = np.random.default_rng(5)
    mac = Macrocolumn(50, 4, 4, params=CSAParams(active_min=3, active_max=10), freeze_at=0.05)
    too_few, too_many = np.zeros(50, bool), np.ones(50, bool)
    too_few[:2] = True
    for x in (too_few, too_many):
        code = mac.learn(x, rng)
        assert not code.active and (code.winners == -1).all() and code.familiarity == 0
    assert mac.U.weights.sum() == 0
    while not mac.frozen_[0]:
        mac.learn(random_input(50, 8, rng), rng)
    before = mac.U.weights.copy()
    mac.learn(random_input(50, 8, rng), rng)
    np.testing.assert_array_equal(mac.U.weights, before)


def test_bad_input_raises_clear_errors():
    mac = Macrocolumn(20, 3, 4)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"x must have shape \[20\]"):
        mac.learn(np.zeros(19), rng)
    with pytest.raises(ValueError, match="binary"):
        mac.learn(np.full(20, 0.5), rng)
    with pytest.raises(ValueError, match="one input at a time"):
        mac.learn(np.zeros((2, 20)), rng)
    with pytest.raises(ValueError, match="n=20"):
        mac.recognize(SDR(21, [1]))
    with pytest.raises(ValueError, match="Q must be >= 1"):
        Macrocolumn(20, 0, 4)
    with pytest.raises(ValueError, match="K must be >= 1"):
        Macrocolumn(20, 3, 0)
    with pytest.raises(TypeError, match="rng"):
        mac.learn(np.zeros(20), 0)
    with pytest.raises(ValueError, match="familiarity_min"):
        CSAParams(familiarity_min=1.0)
    with pytest.raises(ValueError, match="receptive_fields"):
        Level(10, [np.array([3, 11])], 2, 2)
    with pytest.raises(ValueError, match="no horizontal input"):
        mac.recognize(np.zeros(20), h=np.array([1]))


def test_grid_fields_tile_with_overlap_and_channels():
    fields, grid = grid_fields((8, 8), 4, 2)
    assert grid == (3, 3) and all(f.size == 16 for f in fields)
    np.testing.assert_array_equal(np.unique(np.concatenate(fields)), np.arange(64))
    fields, grid = grid_fields((5, 5, 2), 3, 3)  # last patch aligned with the edge
    assert grid == (2, 2)
    np.testing.assert_array_equal(
        fields[3], (np.arange(2, 5)[:, None, None] * 10 + np.arange(2, 5)[None, :, None] * 2 + np.arange(2)).ravel()
    )


def test_hierarchy_feeds_codes_upwards():
    rng = np.random.default_rng(6)
    h = Hierarchy((8, 8), [LevelSpec(4, 3, 4, 4), LevelSpec(5, 4, 2, 1)])
    assert h.grids == [(2, 2), (1, 1)] and h.levels[1].n_inputs == 4 * 4 * 3
    x = random_input(64, 20, rng)
    codes = h.learn(x, rng)
    level1_input = h.levels[0].as_sdr(codes[0])
    np.testing.assert_array_equal(h.levels[1].recognize(level1_input).winners, codes[1].winners)
    batch = h.recognize(np.array([x, random_input(64, 20, rng)]))
    np.testing.assert_array_equal(batch[1].winners[0], codes[1].winners)
    both = h.as_sdr(batch)
    assert isinstance(both, SDRBatch) and both.n == h.n_cells and both.n_active[0] == 4 * 4 + 5


def test_sequences_get_context_dependent_codes():
    rng = np.random.default_rng(7)
    frames = {c: random_input(36, 8, rng) for c in "ABCDE"}
    h = Hierarchy((6, 6), [LevelSpec(6, 5, 6, 1, horizontal=True, top_down=True), LevelSpec(6, 5, 1, 1)])
    first = h.learn_sequence([frames[c] for c in "ABC"], rng)
    second = h.learn_sequence([frames[c] for c in "DBE"], rng)
    b_after_a, b_after_d = first[1][0].winners, second[1][0].winners
    assert np.mean(b_after_a == b_after_d) < 0.8  # the same frame, coded in its temporal context
    recalled = h.recognize_sequence([frames[c] for c in "ABC"])
    for t in range(3):
        np.testing.assert_array_equal(recalled[t][0].winners, first[t][0].winners)


def test_code_readout_is_knn_over_overlap():
    rng = np.random.default_rng(8)
    stored = SDRBatch.random(300, 15, 40, rng)
    labels = rng.integers(0, 4, 40)
    queries = SDRBatch.random(300, 15, 25, rng)
    checked = 0
    for k in (1, 3):
        predicted = CodeReadout(k).fit(stored, labels).predict(queries)
        ov = queries.dense.astype(int) @ stored.dense.astype(int).T
        np.testing.assert_array_equal(CodeReadout(k).fit(stored, labels).overlaps(queries), ov)
        for b in range(25):
            order = np.argsort(-ov[b], kind="stable")
            nearest = order[:k]
            if ov[b, order[k - 1]] == ov[b, order[k]]:
                continue  # the k nearest are not unique: any tied choice is right
            votes = np.bincount(labels[nearest], weights=ov[b, nearest] + 1e-9, minlength=4)
            if np.sort(votes)[-1] > np.sort(votes)[-2] + 1e-6:
                assert predicted[b] == np.argmax(votes)
                checked += 1
    assert checked > 10


@pytest.mark.filterwarnings("ignore:sparsey.*match two or more cells:RuntimeWarning")
def test_classifier_on_digits_beats_chance_by_far():
    from sklearn.datasets import load_digits

    from sdrnet.sparsey.experiments import DIGITS_LEVELS

    data = load_digits()
    edges = oriented_edges(data.images[:600])
    clf = SparseyClassifier((16, 16, 4), DIGITS_LEVELS, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(edges[:400], data.target[:400])
    assert clf.score(edges[400:], data.target[400:600]) > 0.7  # chance is 0.1; 400 training digits
    with pytest.raises(ValueError, match="one label per"):
        clf.score(edges[400:], data.target)
    with pytest.raises(ValueError, match="binary"):
        clf.set_params(threshold=None).fit(np.full((10, 1024), 0.5), data.target[:10])
    with pytest.raises(ValueError, match="readout_codes"):
        SparseyClassifier((16, 16, 4), DIGITS_LEVELS, readout_codes="best").fit(edges[:5], data.target[:5])


@pytest.mark.filterwarnings("ignore:sparsey:RuntimeWarning")  # one mac filled by the checks' random data
@parametrize_with_checks([SparseyClassifier()])
def test_classifier_follows_scikit_learns_conventions(estimator, check):
    check(estimator)


@pytest.mark.filterwarnings("ignore:sparsey:RuntimeWarning")
def test_classifier_with_string_labels_equals_the_one_with_their_indices():
    rng = np.random.default_rng(3)
    prototypes = rng.random((3, 8, 8)) < 0.15
    flips = rng.random((90, 8, 8)) < 0.03
    y = np.repeat(np.arange(3), 30)
    X = (prototypes[y] ^ flips).reshape(90, -1).astype(float)  # noisy copies of three sparse binary images
    names = np.array(["cat", "ant", "bee"])
    clf = SparseyClassifier((8, 8), random_state=5)
    by_index = clone(clf).fit(X[::2], y[::2])
    by_name = clone(clf).fit(X[::2], names[y[::2]])
    assert list(by_name.classes_) == ["ant", "bee", "cat"] and by_name.n_features_in_ == 64
    np.testing.assert_array_equal(by_name.predict(X[1::2]), names[by_index.predict(X[1::2])])
    assert by_name.score(X[1::2], names[y[1::2]]) == by_index.score(X[1::2], y[1::2]) > 0.9  # 1-NN: 1.0
    assert clone(by_name).get_params() == clf.get_params() and not hasattr(clone(by_name), "classes_")
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(ValueError, match="expecting 64 features"):
        by_name.predict(X[:, :60])
    with pytest.raises(ValueError, match=r"shape \[n_samples, 63\]"):
        SparseyClassifier((9, 7)).fit(X, y)
    with pytest.raises(ValueError, match="threshold must be"):
        SparseyClassifier(threshold="0.5").fit(X, y)


def test_oriented_edges_of_a_vertical_bar():
    image = np.zeros((1, 8, 8))
    image[0, :, 3:5] = 16
    edges = oriented_edges(image, upsample=1, n_orientations=4).reshape(8, 8, 4)
    assert edges.any(axis=2).sum() > 0 and edges.sum(axis=2).max() == 1
    # the gradient of a vertical bar points along x: orientation bin 0 (or 3 at ±π wrap)
    assert edges[..., [0, 3]].sum() == edges.sum()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_and_load_mnist(tmp_path, compress):
    images = np.random.default_rng(9).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    opener, suffix = (gzip.open, ".gz") if compress else (open, "")
    for name, arr in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        with opener(tmp_path / (name + suffix), "wb") as f:
            f.write(bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())
    got_images, got_labels = load_mnist(tmp_path, "train")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    (tmp_path / "bad").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"abc")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(tmp_path, "test")
    floats = np.linspace(0, 1, 6).astype(">f4")
    (tmp_path / "f").write_bytes(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 6) + floats.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), floats.astype(np.float32))


def dense_potential(fields, n_pre, Q, K, *, from_cells=False):
    """j may reach the cells of mac m when j (for H: j's mac) lies in m's field; an H source never reaches its own CM."""
    P = np.zeros((n_pre, len(fields) * Q * K), bool)
    for m, field in enumerate(fields):
        for j in range(n_pre):
            P[j, m * Q * K : (m + 1) * Q * K] = (j // (Q * K) if from_cells else j) in field
    if from_cells:
        cm = np.arange(n_pre) // K
        P &= cm[:, None] != cm[None, :]
    return P


def context_reference(W, P, x, M, Q, K, p: CSAParams, u01):
    """Plain per-cell loops of the CSA over U, H and D: dicts by type of dense weights, potential and active
    sources (None: not given). A type none of whose sources is active in a cell's field is left out of that
    cell's product V (SparseyCore); u01 None: recognition (argmax)."""
    exponent = {"U": p.u_exponent, "H": p.h_exponent, "D": p.d_exponent}
    winners, Gs = np.full((M, Q), -1), np.zeros(M)
    for m in range(M):
        V = np.ones((Q, K))
        for q in range(Q):
            for k in range(K):
                cell = (m * Q + q) * K + k
                for t, active in x.items():
                    n = 0 if active is None else int((active & P[t][:, cell]).sum())
                    if t == "U":
                        a = n
                    if n:
                        V[q, k] *= min(1.0, (active & W[t][:, cell]).sum() / n) ** exponent[t]
                    elif t == "U":
                        V[q, k] = 0.0
        if not max(p.active_min, 1) <= a <= (p.active_max or 10**9):
            continue
        G = V.max(axis=1).mean()
        Gs[m] = G
        if u01 is None:
            winners[m] = V.argmax(axis=1)
            continue
        g = max(0.0, (G - p.familiarity_min) / (1 - p.familiarity_min))
        mu = 1 + g**p.gamma * p.chi * K / (1 + np.exp(-p.sigmoid_slope * (V - p.sigmoid_center)))
        for q in range(Q):
            rho = mu[q] / mu[q].sum()
            winners[m, q] = min(int(np.searchsorted(np.cumsum(rho), u01[m, q] * rho.sum(), side="right")), K - 1)
    return winners, Gs


def _some(rng, n, p=0.3):
    """A random active set over n units, or None."""
    return None if rng.random() < 0.2 else rng.random(n) < p


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    Q=st.integers(1, 3),
    K=st.integers(1, 4),
    n_macs=st.integers(1, 4),
    steps=st.integers(1, 6),
)
def test_level_with_horizontal_and_top_down_input_matches_plain_loops(seed, Q, K, n_macs, steps):
    rng = np.random.default_rng(seed)
    n_inputs, n_top = 12, 10
    u_fields = [np.sort(rng.choice(n_inputs, rng.integers(1, n_inputs + 1), replace=False)) for _ in range(n_macs)]
    h_fields = [np.sort(rng.choice(n_macs, rng.integers(1, n_macs + 1), replace=False)) for _ in range(n_macs)]
    d_fields = [np.sort(rng.choice(n_top, rng.integers(1, n_top + 1), replace=False)) for _ in range(n_macs)]
    params = CSAParams(
        active_min=1, h_exponent=float(rng.uniform(0.5, 2)), d_exponent=float(rng.uniform(0.5, 2)), familiarity_min=0.2
    )
    level = Level(
        n_inputs,
        u_fields,
        Q,
        K,
        params,
        horizontal_fields=h_fields,
        top_down_fields=d_fields,
        n_top_down=n_top,
        saturation_warning=1.0,
    )
    n = {"U": n_inputs, "H": level.n_cells, "D": n_top}
    P = {
        "U": dense_potential(u_fields, n_inputs, Q, K),
        "H": dense_potential(h_fields, level.n_cells, Q, K, from_cells=True),
        "D": dense_potential(d_fields, n_top, Q, K),
    }
    W = {t: np.zeros_like(P[t]) for t in P}
    for step in range(steps + 1):
        x = {"U": rng.random(n_inputs) < 0.4, "H": _some(rng, n["H"]), "D": _some(rng, n["D"])}
        h, d = (None if x[t] is None else np.flatnonzero(x[t]) for t in "HD")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = (
                level.recognize(x["U"], h=h, d=d)
                if step == steps
                else level.learn(x["U"], np.random.default_rng(seed + step), h=h, d=d)
            )
        if step == steps:  # recognition mode last
            expected, G = context_reference(W, P, x, n_macs, Q, K, params, None)
        else:
            u01 = np.random.default_rng(seed + step).random((n_macs, Q))
            expected, G = context_reference(W, P, x, n_macs, Q, K, params, u01)
        np.testing.assert_array_equal(code.winners, expected)
        np.testing.assert_allclose(code.familiarity, G, atol=1e-12)
        for m in np.flatnonzero(expected[:, 0] >= 0) if step < steps else ():
            for cell in (m * Q + np.arange(Q)) * K + expected[m]:
                for t in (t for t in "UHD" if x[t] is not None):
                    W[t][x[t] & P[t][:, cell], cell] = True
        for t, proj in (("U", level.U), ("H", level.H), ("D", level.D)):
            np.testing.assert_array_equal(proj.weights, W[t])
            assert proj.synapses.nnz == W[t].sum()


def test_context_absent_from_a_macs_field_is_left_out():
    level = Level(40, [np.arange(20), np.arange(20, 40)], 4, 3, horizontal_fields=[[0], [1]])
    x = np.zeros(40, bool)
    x[[1, 5, 9, 22, 30, 35]] = True
    stored = level.learn(x, np.random.default_rng(0))  # no H input yet
    cells = level.as_sdr(stored).sparse
    again = level.recognize(x, h=cells[cells >= level.Q * level.K])  # the code of mac 1 only
    assert again.familiarity[0] == 1.0  # no H source in mac 0's field: H is absent there, not 0
    np.testing.assert_array_equal(again.winners[0], stored.winners[0])
    assert again.familiarity[1] == 0.0  # mac 1 sees an H code it never learned with


def test_full_match_ties_in_recognition_are_reported():
    rng = np.random.default_rng(0)
    mac = Macrocolumn(100, 10, 8)
    X = SDRBatch.random(100, 20, 20, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stored = np.array([mac.learn(x, rng).winners for x in X])
    W = mac.U.weights.reshape(100, 10, 8)
    V = np.stack([W[x].sum(axis=0) / x.sum() for x in X.dense])  # plain numpy, [inputs, Q, K]
    tied = ((V >= 1.0).sum(axis=-1) > 1).any(axis=-1)  # some CM holds two fully matching cells
    assert tied.any() and not tied.all()
    with pytest.warns(RuntimeWarning, match=rf"{tied.sum()} of 20 inputs.*saturation {mac.saturation[0]:.0%}"):
        again = mac.recognize(X)
    wrong = (again.winners != stored).any(axis=1)
    assert (again.familiarity == 1.0).all() and wrong.any()
    assert tied[wrong].all()  # G = 1.0 with another code only where the warning says so
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = mac.recognize(X[np.flatnonzero(~tied)])
    np.testing.assert_array_equal(clean.winners, stored[~tied])


def test_horizontal_input_memory_is_proportional_to_the_learned_synapses():
    import tracemalloc

    rng = np.random.default_rng(10)
    frames = [random_input(256, 30, rng) for _ in range(4)]
    specs = [LevelSpec(8, 8, 4, 2, horizontal=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Hierarchy((4, 4), specs).learn_sequence([frames[0][:16]] * 2, rng)  # load the kernels first
        tracemalloc.start()
        h = Hierarchy((16, 16), specs)
        h.learn_sequence(frames, rng)
        h.recognize_sequence(frames)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    level = h.levels[0]
    assert level.H.nnz > 0
    neighbours = sum(len(f) for f in level.H.membership.T)  # (mac, neighbour mac) pairs
    content = level.U.nnz + level.H.nnz + neighbours * level.Q * level.K + level.n_cells
    assert peak < 40 * content, (peak, content)  # a dense cells × cells matrix alone is n_cells² bytes


def test_plot_leaves_the_callers_backend_alone(tmp_path):
    import matplotlib

    from sdrnet.sparsey.experiments import plot

    similarity = [
        {"input_overlap": o, "code_overlap_simulated": o, "code_overlap_stderr": 0.01} for o in (0.0, 0.5, 1.0)
    ]
    capacity = [
        {
            "stored_patterns": M,
            "per_cm_recall_closed_form": 1 / M,
            "saturation_default_csa": 0.1,
            **{
                f"{kind}_recall_{label}": 0.5
                for kind in ("per_cm", "pattern")
                for label in ("uniform_codes", "default_csa")
            },
        }
        for M in (100, 200)
    ]
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        plot(similarity, capacity, tmp_path / "sparsey.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "sparsey.png").stat().st_size > 10_000


def test_kernels_match_the_numpy_steps_of_csa():
    from sdrnet.sparsey.csa import combine, gate, normalize, select_code

    rng = np.random.default_rng(11)
    fields = [np.arange(0, 30), np.arange(20, 60), np.arange(0, 60, 2)]
    params = CSAParams(u_exponent=1.5, familiarity_min=0.2, sigmoid_center=0.6)
    level = Level(60, fields, 6, 5, params)
    X = rng.random((40, 60)) < 0.15

    def numpy_steps(x, draws):
        W = level.U.weights.astype(int)
        field = np.zeros((60, 3), int)
        for m, f in enumerate(fields):
            field[f, m] = 1
        n = (x @ field)[..., None, None]
        V = combine(params, normalize((x @ W).reshape(len(x), 3, 6, 5), n))
        winners, G = select_code(V, params, draws)
        active = gate(n[..., 0, 0], params)
        return np.where(active[..., None], winners, -1), np.where(active, G, 0.0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x in X[:30]:
            expected, G = numpy_steps(x[None], np.random.default_rng(7))
            code = level.learn(x, np.random.default_rng(7))
            np.testing.assert_array_equal(code.winners, expected[0])
            np.testing.assert_allclose(code.familiarity, G[0], atol=1e-12)
        expected, G = numpy_steps(X, None)
        batch = level.recognize(X)  # all threads
        one_by_one = [level.recognize(x) for x in X]
    np.testing.assert_array_equal(batch.winners, expected)
    np.testing.assert_allclose(batch.familiarity, G, atol=1e-12)
    np.testing.assert_array_equal(np.array([c.winners for c in one_by_one]), expected)
