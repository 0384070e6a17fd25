"""Encoders against hand-worked layouts and pure-Python references (sets, Python-int SplitMix64)."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdrnet.encoders import RDSE, CategoryEncoder, ScalarEncoder
from sdrnet.sdr import SDR, SDRBatch

finite = st.floats(-1e6, 1e6, allow_nan=False)


def bits(sdr):
    return sdr.sparse.tolist()


# ---------------------------------------------------------------------------- ScalarEncoder
def test_scalar_layout_by_hand():
    # 0..10 over 7 bits with blocks of 3: buckets 0..4, 2.5 per bucket
    enc = ScalarEncoder(0, 10, size=7, active_bits=3)
    assert enc.resolution == 2.5 and enc.n_buckets == 5
    expect = {
        0: [0, 1, 2],
        1.2: [0, 1, 2],
        1.25: [1, 2, 3],
        5: [2, 3, 4],
        8.7: [3, 4, 5],
        8.75: [4, 5, 6],
        10: [4, 5, 6],
    }
    for x, b in expect.items():
        assert bits(enc.encode(x)) == b, x
    assert enc.encode(np.float32(5)) == enc.encode(np.int64(5))
    batch = enc.encode_batch(list(expect))
    assert isinstance(batch, SDRBatch) and [bits(s) for s in batch] == list(expect.values())


def test_periodic_layout_by_hand():
    # 0..10 around a circle of 5 bits, blocks of 2: bucket = round(x / 2) mod 5
    enc = ScalarEncoder(0, 10, size=5, active_bits=2, periodic=True)
    assert enc.resolution == 2.0 and enc.n_buckets == 5
    expect = {0: [0, 1], 0.9: [0, 1], 1: [1, 2], 6: [3, 4], 8: [0, 4], 9.9: [0, 1], 10: [0, 1]}
    for x, b in expect.items():
        assert bits(enc.encode(x)) == b, x


def scalar_reference(x, lo, hi, size, a, periodic):
    """Set of active bits, from the definition."""
    if periodic:
        start = math.floor((x - lo) / (hi - lo) * size + 0.5) % size
        return sorted({(start + j) % size for j in range(a)})
    start = math.floor((x - lo) / (hi - lo) * (size - a) + 0.5)
    return list(range(start, start + a))


@st.composite
def scalar_encoders(draw, periodic=None):
    lo = draw(st.floats(-100, 100))
    hi = lo + draw(st.floats(0.01, 1000))
    size = draw(st.integers(1, 80))
    a = draw(st.integers(1, size))
    periodic = draw(st.booleans()) if periodic is None else periodic
    return ScalarEncoder(lo, hi, size, a, periodic=periodic)


@given(scalar_encoders(), st.lists(st.floats(0, 1), min_size=1, max_size=10))
def test_scalar_matches_reference(enc, fractions):
    xs = [min(enc.maximum, enc.minimum + f * (enc.maximum - enc.minimum)) for f in fractions]
    batch = enc.encode_batch(xs)
    for x, sdr in zip(xs, batch):
        assert bits(sdr) == scalar_reference(x, enc.minimum, enc.maximum, enc.size, enc.active_bits, enc.periodic)
        assert sdr == enc.encode(x) and sdr.n == enc.size and sdr.n_active == enc.active_bits


@given(scalar_encoders(periodic=False), st.floats(0, 1), st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_scalar_overlap_decreases_with_distance(enc, f0, steps):
    lo, span = enc.minimum, enc.maximum - enc.minimum
    x = lo + f0 * span
    above = sorted(min(enc.maximum, x + s * (enc.maximum - x)) for s in steps)
    below = sorted((max(lo, x - s * (x - lo)) for s in steps), reverse=True)
    ref = enc.encode(x)
    for ys in (above, below):  # moving away from x on either side
        overlaps = [ref.overlap(enc.encode(y)) for y in ys]
        assert overlaps == sorted(overlaps, reverse=True)
        assert overlaps[0] <= enc.active_bits


def test_periodic_wraps_and_clipping():
    enc = ScalarEncoder(0, 360, size=100, active_bits=11, periodic=True)
    assert enc.encode(0).overlap(enc.encode(360 - 1e-9)) == 11
    assert enc.encode(0).overlap(enc.encode(356.4)) == 10  # one bucket (3.6 degrees) back across the seam
    assert enc.encode(0).overlap(enc.encode(180)) == 0
    wrap = ScalarEncoder(0, 360, size=100, active_bits=11, periodic=True, clip_input=True)
    assert wrap.encode(370) == enc.encode(10) and wrap.encode(-90) == enc.encode(270)
    clip = ScalarEncoder(-1, 1, size=20, active_bits=4, clip_input=True)
    assert clip.encode(-7) == clip.encode(-1) and clip.encode(float("inf")) == clip.encode(1)
    via_numpy = ScalarEncoder(0, 360, size=100, active_bits=11, periodic=np.bool_(True), clip_input=np.bool_(True))
    assert via_numpy.periodic is True and via_numpy.clip_input is True and via_numpy.encode(370) == wrap.encode(370)
    single = ScalarEncoder(0, 1, size=4, active_bits=4)
    assert single.resolution == float("inf") and bits(single.encode(0.3)) == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        (
            {"minimum": 1, "maximum": 1, "size": 10, "active_bits": 2},
            ValueError,
            "minimum must be < maximum, got minimum",
        ),
        ({"minimum": float("nan"), "maximum": 1, "size": 10, "active_bits": 2}, ValueError, "minimum must not be NaN"),
        ({"minimum": 0, "maximum": float("inf"), "size": 10, "active_bits": 2}, ValueError, "maximum must be finite"),
        (
            {"minimum": "0", "maximum": 1, "size": 10, "active_bits": 2},
            TypeError,
            "minimum must be a real number, got str",
        ),
        ({"minimum": 0, "maximum": 1, "size": 0, "active_bits": 1}, ValueError, "size must be >= 1, got 0"),
        ({"minimum": 0, "maximum": 1, "size": 10.0, "active_bits": 2}, TypeError, "size must be an int, got float"),
        ({"minimum": 0, "maximum": 1, "size": 10, "active_bits": 0}, ValueError, "active_bits must be >= 1, got 0"),
        (
            {"minimum": 0, "maximum": 1, "size": 10, "active_bits": 11},
            ValueError,
            r"active_bits must be <= size \(10\)",
        ),
        (
            {"minimum": 0, "maximum": 1, "size": 10, "active_bits": 2, "periodic": 1},
            TypeError,
            "periodic must be a bool",
        ),
        (
            {"minimum": 0, "maximum": 1, "size": 10, "active_bits": 2, "clip_input": "no"},
            TypeError,
            "clip_input must be",
        ),
    ],
)
def test_scalar_constructor_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        ScalarEncoder(**kwargs)


def test_scalar_encode_errors():
    enc = ScalarEncoder(0, 10, size=20, active_bits=3)
    with pytest.raises(ValueError, match=r"x = 10.5 is outside the range \[0.0, 10.0\] \(pass clip_input=True"):
        enc.encode(10.5)
    with pytest.raises(ValueError, match=r"x = -inf is outside the range"):
        enc.encode(-float("inf"))
    with pytest.raises(ValueError, match=r"xs\[2\] = -1.0 is outside the range \[0.0, 10.0\]"):
        enc.encode_batch([1, 2, -1])
    with pytest.raises(ValueError, match="x must not be NaN"):
        enc.encode(float("nan"))
    with pytest.raises(ValueError, match=r"xs\[1\] is NaN"):
        enc.encode_batch([1, float("nan")])
    with pytest.raises(TypeError, match="x must be a real number, got bool"):
        enc.encode(True)
    with pytest.raises(TypeError, match="x must be a real number, got str"):
        enc.encode("3")
    with pytest.raises(TypeError, match="xs must hold real numbers, got booleans"):
        enc.encode_batch([True, False])
    with pytest.raises(ValueError, match="xs must be 1-D"):
        enc.encode_batch([[1.0]])
    wrap = ScalarEncoder(0, 10, size=20, active_bits=3, periodic=True, clip_input=True)
    with pytest.raises(ValueError, match="x = inf cannot be wrapped onto the periodic range"):
        wrap.encode(float("inf"))


# ---------------------------------------------------------------------------- RDSE
_M = 2**64 - 1
_GAMMA = 0x9E3779B97F4A7C15


def mix64_ref(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M
    return z ^ (z >> 31)


def rdse_reference(x, size, a, resolution, seed):
    """Python ints, sets and the documented rule: slot bits in order, linear probing on collision."""
    i = math.floor(x / resolution)
    key = mix64_ref(seed)
    used = set()
    for j in range(a):
        b = mix64_ref((key + (i + j) * _GAMMA) & _M) % size
        while b in used:
            b = (b + 1) % size
        used.add(b)
    return sorted(used)


@st.composite
def rdses(draw):
    size = draw(st.integers(1, 300))
    a = draw(st.integers(1, min(size, 40)))
    return RDSE(size, a, draw(st.floats(1e-3, 100)), seed=draw(st.integers(0, 2**64 - 1)))


@given(rdses(), st.lists(finite, min_size=1, max_size=8))
def test_rdse_matches_python_reference(enc, xs):
    for x, sdr in zip(xs, enc.encode_batch(xs)):
        assert bits(sdr) == rdse_reference(x, enc.size, enc.active_bits, enc.resolution, enc.seed)
        assert sdr.n_active == enc.active_bits and sdr == enc.encode(x)


def test_rdse_collisions_still_give_exactly_active_bits():
    full = RDSE(size=7, active_bits=7, resolution=1.0)
    assert all(bits(s) == list(range(7)) for s in full.encode_batch(np.arange(-20.0, 20.0)))
    tight = RDSE(size=30, active_bits=20, resolution=1.0, seed=3)  # collisions in almost every window
    out = tight.encode_batch(np.arange(-50.0, 50.0))
    assert (out.n_active == 20).all()
    assert [bits(s) for s in out] == [rdse_reference(x, 30, 20, 1.0, 3) for x in np.arange(-50.0, 50.0)]


def test_rdse_overlap_falls_with_bucket_distance():
    a, size = 41, 2048
    enc = RDSE(size, a, resolution=0.5, seed=7)
    base = np.arange(-300, 300, 3) * 0.5  # 200 buckets, negative ones included
    ref = enc.encode_batch(base)
    means = []
    for k in range(0, 61, 4):
        o = np.diag(ref.overlap(enc.encode_batch(base + k * 0.5)))
        # shared slots give a - k bits; chance coincidences add ~a^2/size ≈ 0.8 on average
        assert o.min() >= max(a - k, 0) - 1 and o.max() <= max(a - k, 0) + 6, k
        means.append(o.mean())
        assert abs(o.mean() - max(a - k, 0)) < 1.5
    assert np.all(np.diff(means[:11]) < 0)  # k = 0, 4, ..., 40
    far = enc.encode(0).overlap(enc.encode(1e6))
    assert far <= 6
    # within one bucket the value does not matter
    assert enc.encode(1.0) == enc.encode(1.49) != enc.encode(1.5)
    assert enc.encode(-0.01) == enc.encode(-0.5) != enc.encode(0.0)


def test_rdse_is_deterministic_across_instances_and_processes():
    a = RDSE(1000, 21, 0.25, seed=42)
    b = RDSE(1000, 21, 0.25, seed=42)
    xs = np.linspace(-50, 50, 101)
    assert a.encode_batch(xs) == b.encode_batch(xs)
    assert RDSE(1000, 21, 0.25, seed=43).encode(3.0) != a.encode(3.0)
    # pinned values: the same in any process, platform or numpy version (no Python hash, no global RNG)
    assert bits(RDSE(1000, 5, 1.0, seed=1).encode(12.0)) == [334, 691, 870, 959, 977]
    assert bits(RDSE(2048, 8, 0.5, seed=2**63 + 5).encode(-3.7)) == [150, 448, 621, 703, 812, 1400, 1777, 1971]


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"size": 0, "active_bits": 1, "resolution": 1.0}, ValueError, "size must be >= 1, got 0"),
        ({"size": 10, "active_bits": 11, "resolution": 1.0}, ValueError, r"active_bits must be <= size \(10\), got 11"),
        ({"size": 10, "active_bits": 2.5, "resolution": 1.0}, TypeError, "active_bits must be an int, got float"),
        ({"size": 10, "active_bits": 2, "resolution": 0.0}, ValueError, "resolution must be > 0, got 0.0"),
        ({"size": 10, "active_bits": 2, "resolution": -1}, ValueError, "resolution must be > 0, got -1"),
        ({"size": 10, "active_bits": 2, "resolution": float("nan")}, ValueError, "resolution must not be NaN"),
        ({"size": 10, "active_bits": 2, "resolution": float("inf")}, ValueError, "resolution must be finite"),
        ({"size": 10, "active_bits": 2, "resolution": 1.0, "seed": -1}, ValueError, "seed must be >= 0, got -1"),
        ({"size": 10, "active_bits": 2, "resolution": 1.0, "seed": 2**64}, ValueError, r"seed must be < 2\*\*64"),
        ({"size": 10, "active_bits": 2, "resolution": 1.0, "seed": 1.0}, TypeError, "seed must be an int, got float"),
    ],
)
def test_rdse_constructor_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        RDSE(**kwargs)


def test_rdse_encode_errors():
    enc = RDSE(100, 5, 0.1)
    with pytest.raises(ValueError, match="x must not be NaN"):
        enc.encode(float("nan"))
    with pytest.raises(ValueError, match=r"x = inf is too large for resolution 0.1"):
        enc.encode(float("inf"))
    with pytest.raises(ValueError, match=r"xs\[1\] = 1e\+300 is too large"):
        enc.encode_batch([0.0, 1e300])
    with pytest.raises(TypeError, match="x must be a real number, got NoneType"):
        enc.encode(None)


# ---------------------------------------------------------------------------- CategoryEncoder
def test_category_blocks():
    enc = CategoryEncoder(["red", "green", "blue"], active_bits=3)
    assert enc.size == 9 and enc.categories == ("red", "green", "blue")
    assert bits(enc.encode("red")) == [0, 1, 2] and bits(enc.encode("blue")) == [6, 7, 8]
    codes = enc.encode_batch(["blue", "red", "green", "red"])
    assert [bits(s) for s in codes] == [[6, 7, 8], [0, 1, 2], [3, 4, 5], [0, 1, 2]]
    m = codes.overlap(codes)
    names = ["blue", "red", "green", "red"]
    assert m.tolist() == [[3 * (x == y) for y in names] for x in names]
    wide = CategoryEncoder([0, 1.5, None], active_bits=2, size=10)
    assert wide.size == 10 and bits(wide.encode(None)) == [4, 5] and wide.encode(1.5) == SDR(10, [2, 3])
    assert len(enc.encode_batch([])) == 0


def test_category_errors():
    enc = CategoryEncoder(["a", "b"], active_bits=2)
    with pytest.raises(ValueError, match=r"unknown category 'c'; known: \['a', 'b'\]"):
        enc.encode("c")
    with pytest.raises(ValueError, match="unknown category 3"):
        enc.encode_batch(["a", 3])
    with pytest.raises(TypeError, match="not a single string"):
        enc.encode_batch("ab")
    with pytest.raises(TypeError, match="not a single string"):
        CategoryEncoder("abc", active_bits=2)
    with pytest.raises(ValueError, match="categories must not be empty"):
        CategoryEncoder([], active_bits=2)
    with pytest.raises(ValueError, match="categories must be distinct, got 'a' twice"):
        CategoryEncoder(["a", "b", "a"], active_bits=2)
    with pytest.raises(ValueError, match=r"size must be >= len\(categories\) \* active_bits = 6, got 5"):
        CategoryEncoder(["a", "b", "c"], active_bits=2, size=5)
    with pytest.raises(ValueError, match="active_bits must be >= 1, got 0"):
        CategoryEncoder(["a"], active_bits=0)
    with pytest.raises(TypeError, match="size must be an int, got float"):
        CategoryEncoder(["a"], active_bits=1, size=3.0)


def test_docstring_examples():
    import doctest

    import sdrnet.encoders

    assert doctest.testmod(sdrnet.encoders).failed == 0
