"""`Synapses`: sparse connectivity stored CSR by presynaptic unit, with optional integer delays."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from ._sampling import sample_rows
from .validation import as_array, as_float32, check_int, check_range, check_rng, check_size32, frozen

__all__ = ["Synapses", "FanIn"]

WeightSpec = float | Callable[[np.random.Generator, int], np.ndarray]
_MAX_DELAY = np.iinfo(np.uint16).max


class Synapses:
    """Synapses from ``n_pre`` to ``n_post`` units, stored CSR by presynaptic unit.

    The synapses of presynaptic unit ``i`` are ``post[k], weight[k], delay[k]`` for
    ``k`` in ``range(indptr[i], indptr[i + 1])``, sorted by ``post``. A synapse with
    delay ``d`` carries an event at step ``t`` to its target at step ``t + d``. Two
    synapses may join the same pair (multapses); their effects add.

    Parameters
    ----------
    indptr : int array [n_pre + 1]
    post : int array [nnz], ``0 <= post < n_post``
    weight : float array [nnz] (finite) or None for all ones
    delay : int array [nnz] or None
        Delay in time steps, ``0 <= delay <= 65535``; stored as uint8 when it fits, else uint16.
    n_post : int

    Attributes
    ----------
    indptr : int64 [n_pre + 1];  post : int32 [nnz];  weight : float32 [nnz];
    delay : uint8 or uint16 [nnz], or None
        Immutable: the arrays are read-only and the attributes cannot be reassigned, so what
        the kernels read is what the constructor validated. ``n_pre`` and ``n_post`` are at most
        ``2**31 - 1`` (units are int32); weights must be representable in float32.
    """

    __slots__ = ("_indptr", "_post", "_weight", "_delay", "_n_post")

    def __init__(self, indptr, post, weight=None, delay=None, *, n_post: int):
        n_post = check_size32("n_post", n_post, 1)
        indptr = as_array("indptr", indptr, kind="i", ndim=1)
        post = as_array("post", post, kind="i", ndim=1)
        nnz = post.shape[0]
        if indptr.shape[0] < 2 or indptr[0] != 0 or indptr[-1] != nnz or np.any(indptr[1:] < indptr[:-1]):
            raise ValueError(f"indptr must be non-decreasing from 0 to len(post)={nnz} with at least 2 entries")
        check_size32("n_pre (len(indptr) - 1)", indptr.shape[0] - 1, 1)
        check_range("post", post, 0, n_post)
        weight = np.ones(nnz, np.float32) if weight is None else as_array("weight", weight, kind="f", ndim=1)
        if weight.shape[0] != nnz:
            raise ValueError(f"weight must have length nnz={nnz}, got {weight.shape[0]}")
        self._indptr, self._post = frozen(indptr, np.int64), frozen(post, np.int32)
        self._weight = frozen(as_float32("weight", weight), np.float32)
        self._delay = None if delay is None else _delay_array(delay, nnz)
        self._n_post = n_post

    def __reduce__(self):
        """Pickle through the constructor, so unpickled `Synapses` are validated and immutable too."""
        return partial(Synapses, n_post=self._n_post), (self._indptr, self._post, self._weight, self._delay)

    indptr = property(lambda self: self._indptr, doc="Row boundaries, int64 [n_pre + 1] (read-only).")
    post = property(lambda self: self._post, doc="Postsynaptic unit of each synapse, int32 [nnz] (read-only).")
    weight = property(lambda self: self._weight, doc="Weight of each synapse, float32 [nnz] (read-only).")
    delay = property(lambda self: self._delay, doc="Delay in steps, uint8/uint16 [nnz] or None (read-only).")
    n_post = property(lambda self: self._n_post, doc="Number of postsynaptic units.")

    @property
    def n_pre(self) -> int:
        return self._indptr.shape[0] - 1

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(cls, pre, post, weight=None, delay=None, *, n_pre: int, n_post: int) -> Synapses:
        """Synapses from an edge list: ``pre[k] -> post[k]`` with ``weight[k]`` and ``delay[k]``."""
        n_pre, n_post = check_size32("n_pre", n_pre, 1), check_size32("n_post", n_post, 1)
        pre = as_array("pre", pre, kind="i", ndim=1)
        post = as_array("post", post, kind="i", ndim=1)
        if pre.shape != post.shape:
            raise ValueError(f"pre and post must have the same length, got {pre.shape[0]} and {post.shape[0]}")
        check_range("pre", pre, 0, n_pre)
        check_range("post", post, 0, n_post)
        if weight is not None:
            weight = as_array("weight", weight, kind="f", ndim=1)
            if weight.shape != pre.shape:
                raise ValueError(f"weight must have length {pre.shape[0]}, got {weight.shape[0]}")
        if delay is not None:
            delay = _delay_array(delay, pre.shape[0])
        order = np.lexsort((post, pre))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=n_pre))])
        return cls(
            indptr,
            post[order],
            None if weight is None else weight[order],
            None if delay is None else delay[order],
            n_post=n_post,
        )

    @classmethod
    def from_dense(cls, weight, delay=None) -> Synapses:
        """Synapses from a dense ``[n_pre, n_post]`` weight matrix; zeros are not stored.

        ``delay``, if given, is an integer ``[n_pre, n_post]`` matrix read where the weight is non-zero.
        """
        weight = as_array("weight", weight, kind="f", ndim=2)
        pre, post = np.nonzero(weight)
        d = None
        if delay is not None:
            delay = as_array("delay", delay, kind="i", ndim=2)
            if delay.shape != weight.shape:
                raise ValueError(f"delay must have the weight's shape {weight.shape}, got {delay.shape}")
            d = delay[pre, post]
        n_pre, n_post = weight.shape
        return cls.from_edges(pre, post, weight[pre, post], d, n_pre=n_pre, n_post=n_post)

    @classmethod
    def from_linear(cls, linear, delay=None, *, bias: str = "error") -> Synapses:
        """Synapses from a ``torch.nn.Linear`` (its weight is ``[out, in]``; ours is pre=in, post=out).

        A linear layer's bias is not a synapse: with ``bias='error'`` (default) a non-zero bias
        raises, so it is never dropped silently; ``bias='ignore'`` drops it (pass it to
        ``Layer(bias=...)`` instead).
        """
        import torch

        if not isinstance(linear, torch.nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, got {type(linear).__name__}")
        if bias not in ("error", "ignore"):
            raise ValueError(f"bias must be 'error' or 'ignore', got {bias!r}")
        if bias == "error" and linear.bias is not None and bool(torch.any(linear.bias != 0)):
            raise ValueError(
                "linear has a non-zero bias, which Synapses cannot hold; "
                "pass bias='ignore' and give the bias to Layer(bias=...)"
            )
        w = linear.weight.detach().cpu().numpy().T
        return cls.from_dense(w, None if delay is None else np.asarray(delay).T)

    @classmethod
    def from_scipy(cls, matrix, delay=None) -> Synapses:
        """Synapses from a scipy sparse matrix ``[n_pre, n_post]``; explicit zeros are dropped.

        ``delay``, if given, is a dense array or scipy matrix of the same shape, read at the non-zeros.
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a scipy sparse matrix or array, got {type(matrix).__name__}")
        coo = matrix.tocoo()
        keep = coo.data != 0
        pre, post, w = coo.row[keep], coo.col[keep], coo.data[keep]
        d = None
        if delay is not None:
            if tuple(delay.shape) != tuple(matrix.shape):
                raise ValueError(f"delay must have the matrix's shape {matrix.shape}, got {delay.shape}")
            d = np.asarray(delay[pre, post]).ravel() if pre.size else np.zeros(0, np.int64)
            d = as_array("delay", d, kind="i")
        return cls.from_edges(pre, post, w, d, n_pre=matrix.shape[0], n_post=matrix.shape[1])

    @classmethod
    def from_networkx(cls, graph, weight: str = "weight", delay: str = "delay", nodelist=None) -> Synapses:
        """Synapses from a directed networkx graph (edge attributes ``weight``, default 1, and ``delay``).

        A graph made by `to_networkx` with ``bipartite=True`` (nodes ``("pre", i)``/``("post", j)``)
        is read back as such; otherwise every node is both a pre- and a postsynaptic unit,
        numbered in the order of ``nodelist`` (default: ``graph.nodes``).
        """
        if not graph.is_directed():
            raise TypeError("graph must be directed (networkx.DiGraph or MultiDiGraph)")
        nodes = list(graph.nodes)
        if nodes and all(isinstance(n, tuple) and len(n) == 2 and n[0] in ("pre", "post") for n in nodes):
            for n in nodes:
                check_int(f"the index of node {n!r}", n[1], 0)
            n_pre = 1 + max((n[1] for n in nodes if n[0] == "pre"), default=-1)
            n_post = 1 + max((n[1] for n in nodes if n[0] == "post"), default=-1)
            pre_of, post_of = (lambda n: n[1]), (lambda n: n[1])
        else:
            order = {n: i for i, n in enumerate(nodes if nodelist is None else nodelist)}
            n_pre = n_post = len(order)
            pre_of = post_of = order.__getitem__
        edges = list(graph.edges(data=True))
        has_delay = any(delay in attrs for _, _, attrs in edges)
        pre = np.array([pre_of(u) for u, _, _ in edges], np.int64)
        post = np.array([post_of(v) for _, v, _ in edges], np.int64)
        w = np.array([attrs.get(weight, 1.0) for _, _, attrs in edges], np.float64)
        d = None
        if has_delay:  # the constructor's rule, per edge: an int in [0, 65535], not a float or a bool
            d = np.array(
                [
                    check_int(f"delay of edge {u!r} -> {v!r}", attrs.get(delay, 0), 0, _MAX_DELAY)
                    for u, v, attrs in edges
                ],
                np.int64,
            )
        return cls.from_edges(pre, post, w, d, n_pre=max(n_pre, 1), n_post=max(n_post, 1))

    @classmethod
    def random_fixed_fan_in(
        cls,
        n_pre: int,
        n_post: int,
        fan_in: int,
        rng: np.random.Generator,
        *,
        weight: WeightSpec = 1.0,
        max_delay: int | None = None,
    ) -> Synapses:
        """Each postsynaptic unit gets ``fan_in`` distinct presynaptic partners, drawn uniformly."""
        pre, post = fixed_partners(n_pre, n_post, fan_in, rng, ("fan_in", "n_pre", "n_post"))
        return cls._random(pre, post, n_pre, n_post, rng, weight, max_delay)

    @classmethod
    def random_fixed_fan_out(
        cls,
        n_pre: int,
        n_post: int,
        fan_out: int,
        rng: np.random.Generator,
        *,
        weight: WeightSpec = 1.0,
        max_delay: int | None = None,
    ) -> Synapses:
        """Each presynaptic unit gets ``fan_out`` distinct postsynaptic partners, drawn uniformly."""
        post, pre = fixed_partners(n_post, n_pre, fan_out, rng, ("fan_out", "n_post", "n_pre"))
        return cls._random(pre, post, n_pre, n_post, rng, weight, max_delay)

    @classmethod
    def random_erdos_renyi(
        cls,
        n_pre: int,
        n_post: int,
        p: float,
        rng: np.random.Generator,
        *,
        weight: WeightSpec = 1.0,
        max_delay: int | None = None,
    ) -> Synapses:
        """Every pair is connected independently with probability ``p`` (Erdős–Rényi G(n, p)).

        Drawn row by row, as G(n, p) factorises: each presynaptic unit gets a Binomial(n_post, p)
        number of partners, then that many distinct ones uniformly; memory is O(nnz), not O(n_pre · n_post).
        """
        n_pre, n_post = check_size32("n_pre", n_pre, 1), check_size32("n_post", n_post, 1)
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
            raise TypeError(f"p must be a probability in [0, 1], got {type(p).__name__}: {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        rng = check_rng(rng)
        fan_out = rng.binomial(n_post, p, n_pre)
        post = sample_rows(np.full(n_pre, n_post), fan_out, rng)
        w, d = _weights_and_delays(post.shape[0], rng, weight, max_delay)
        return cls(np.concatenate([[0], np.cumsum(fan_out)]), post, w, d, n_post=n_post)

    @classmethod
    def _random(cls, pre, post, n_pre, n_post, rng, weight, max_delay) -> Synapses:
        w, d = _weights_and_delays(pre.shape[0], rng, weight, max_delay)
        return cls.from_edges(pre, post, w, d, n_pre=n_pre, n_post=n_post)

    # ------------------------------------------------------------------ conversions
    def pre(self) -> np.ndarray:
        """Presynaptic unit of every synapse, int32 [nnz]."""
        return np.repeat(np.arange(self.n_pre, dtype=np.int32), np.diff(self.indptr))

    def to_dense(self) -> np.ndarray:
        """Dense weight matrix ``[n_pre, n_post]`` float32 (multapses add up)."""
        out = np.zeros((self.n_pre, self.n_post), np.float32)
        np.add.at(out, (self.pre(), self.post), self.weight)
        return out

    def delay_matrix(self) -> np.ndarray:
        """Dense delay matrix ``[n_pre, n_post]`` int64 (0 where no synapse); multapses must agree."""
        out = np.zeros((self.n_pre, self.n_post), np.int64)
        if self.delay is None:
            return out
        first = self._one_delay_per_pair()
        out[self.pre()[first], self.post[first]] = self.delay[first]
        return out

    def to_scipy(self, values: str = "weight"):
        """scipy CSR matrix ``[n_pre, n_post]`` of the weights (or ``values='delay'``: the delays).

        Multapses add up in the weight matrix, as their effects do. A delay is not additive: the
        delay matrix holds one entry per connected pair, and multapses must agree on it.
        """
        import scipy.sparse as sp

        if values not in ("weight", "delay"):
            raise ValueError(f"values must be 'weight' or 'delay', got {values!r}")
        if values == "weight":
            return sp.csr_matrix((self.weight, self.post, self.indptr), shape=(self.n_pre, self.n_post))
        first = self._one_delay_per_pair()
        indptr = np.concatenate([[0], np.cumsum(first)])[self.indptr]
        return sp.csr_matrix((self._delays()[first], self.post[first], indptr), shape=(self.n_pre, self.n_post))

    def to_networkx(self, bipartite: bool | None = None):
        """Directed networkx graph with ``weight`` (and ``delay``) edge attributes.

        ``bipartite`` (default: when ``n_pre != n_post``) names nodes ``("pre", i)`` and
        ``("post", j)``; otherwise unit ``i`` is node ``i`` on both sides (a recurrent
        population). Multapses give a ``MultiDiGraph``.
        """
        import networkx as nx

        if bipartite is None:
            bipartite = self.n_pre != self.n_post
        if not bipartite and self.n_pre != self.n_post:
            raise ValueError(f"a non-bipartite graph needs n_pre == n_post, got {self.n_pre} and {self.n_post}")
        pre = self.pre()
        pairs = pre.astype(np.int64) * self.n_post + self.post
        graph = nx.MultiDiGraph() if np.unique(pairs).size < pairs.size else nx.DiGraph()
        if bipartite:
            graph.add_nodes_from((("pre", i) for i in range(self.n_pre)), bipartite=0)
            graph.add_nodes_from((("post", j) for j in range(self.n_post)), bipartite=1)
            src, dst = [("pre", int(i)) for i in pre], [("post", int(j)) for j in self.post]
        else:
            graph.add_nodes_from(range(self.n_pre))
            src, dst = pre.tolist(), self.post.tolist()
        w = self.weight.tolist()
        if self.delay is None:
            graph.add_edges_from((s, t, {"weight": x}) for s, t, x in zip(src, dst, w))
        else:
            d = self.delay.tolist()
            graph.add_edges_from((s, t, {"weight": x, "delay": y}) for s, t, x, y in zip(src, dst, w, d))
        return graph

    # ------------------------------------------------------------------ statistics
    @property
    def nnz(self) -> int:
        return self.post.shape[0]

    @property
    def density(self) -> float:
        return self.nnz / (self.n_pre * self.n_post)

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.delay is not None and self.nnz else 0

    def fan_out(self) -> np.ndarray:
        """Number of synapses leaving each presynaptic unit, int64 [n_pre]."""
        return np.diff(self.indptr)

    def fan_in(self) -> np.ndarray:
        """Number of synapses reaching each postsynaptic unit, int64 [n_post]."""
        return np.bincount(self.post, minlength=self.n_post)

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (indptr, post, weight and delay)."""
        return sum(a.nbytes for a in (self.indptr, self.post, self.weight, self.delay) if a is not None)

    @property
    def bytes_per_synapse(self) -> float:
        return self.nbytes / max(self.nnz, 1)

    def _delays(self) -> np.ndarray:
        return np.zeros(self.nnz, np.uint8) if self.delay is None else self.delay

    def _one_delay_per_pair(self) -> np.ndarray:
        """Mask of the first synapse of each connected pair; raises if multapses of a pair differ in delay.

        Rows are sorted by ``post``, so the synapses of a pair are adjacent.
        """
        pre, d = self.pre(), self._delays()
        same = (pre[1:] == pre[:-1]) & (self.post[1:] == self.post[:-1])
        bad = np.flatnonzero(same & (d[1:] != d[:-1]))
        if bad.size:
            k = bad[0]
            raise ValueError(
                f"multapses with different delays ({pre[k]} -> {self.post[k]}: {d[k]} and {d[k + 1]}) "
                "cannot be written as one delay matrix; to_networkx keeps each synapse"
            )
        return np.concatenate([[True], ~same]) if self.nnz else np.zeros(0, bool)

    def __repr__(self) -> str:
        return (
            f"Synapses(n_pre={self.n_pre}, n_post={self.n_post}, nnz={self.nnz}, "
            f"density={self.density:.3g}, max_delay={self.max_delay})"
        )


class FanIn:
    """The same synapses stored CSR by *postsynaptic* unit: the fan-in of unit ``j`` is ``pre[k], weight[k]`` for
    ``k`` in ``range(indptr[j], indptr[j + 1])``, ascending ``pre`` (multapses in their `Synapses` order).

    The layout of `sdrnet.core.sparse_matmul`'s gather kernel, which sums each output over its fan-in in
    registers (Elsen et al. 2020, "Fast Sparse ConvNets"): for batches of dense activations it is several
    times faster than the scatter kernels, with the same bits, but it cannot skip zero inputs (an event
    scatters through a row of the `Synapses`, not of this). As lean as `Synapses`: int32 ``pre`` and float32
    ``weight``, 8 bytes per synapse, plus the row boundaries.

    Parameters
    ----------
    synapses : Synapses without delays (a matrix product has no time)

    Attributes
    ----------
    indptr : int64 [n_post + 1];  pre : int32 [nnz];  weight : float32 [nnz] (read-only)
    """

    __slots__ = ("_by_post", "_fan_out")

    def __init__(self, synapses: Synapses):
        if not isinstance(synapses, Synapses):
            raise TypeError(f"synapses must be Synapses, got {type(synapses).__name__}")
        if synapses.max_delay > 0:
            raise ValueError(
                f"synapses have delays (up to {synapses.max_delay} steps), which the fan-in layout of a matrix "
                "product cannot hold; propagate applies delays"
            )
        order = np.argsort(synapses.post, kind="stable")  # by post, then by pre and CSR order
        indptr = np.concatenate([[0], np.cumsum(synapses.fan_in())])
        self._by_post = Synapses(indptr, synapses.pre()[order], synapses.weight[order], n_post=synapses.n_pre)
        self._fan_out = synapses.indptr  # counts the events' fan-out: synops as an event-driven machine does

    def __reduce__(self):
        """Pickle through `Synapses`, so an unpickled `FanIn` is validated and immutable too."""
        return FanIn, (self.to_synapses(),)

    indptr = property(lambda self: self._by_post.indptr, doc="Fan-in boundaries, int64 [n_post + 1] (read-only).")
    pre = property(lambda self: self._by_post.post, doc="Presynaptic unit of each synapse, int32 [nnz] (read-only).")
    weight = property(lambda self: self._by_post.weight, doc="Weight of each synapse, float32 [nnz] (read-only).")
    n_pre = property(lambda self: self._by_post.n_post, doc="Number of presynaptic units.")
    n_post = property(lambda self: self._by_post.n_pre, doc="Number of postsynaptic units.")
    nnz = property(lambda self: self._by_post.nnz, doc="Number of synapses.")
    density = property(lambda self: self._by_post.density, doc="nnz / (n_pre · n_post).")
    max_delay = property(lambda self: 0, doc="0: the fan-in layout holds no delays.")

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (both row boundaries, pre and weight)."""
        return self._by_post.nbytes + self._fan_out.nbytes

    @property
    def bytes_per_synapse(self) -> float:
        return self.nbytes / max(self.nnz, 1)

    def fan_out(self) -> np.ndarray:
        """Number of synapses leaving each presynaptic unit, int64 [n_pre]."""
        return np.diff(self._fan_out)

    def fan_in(self) -> np.ndarray:
        """Number of synapses reaching each postsynaptic unit, int64 [n_post]."""
        return np.diff(self.indptr)

    def to_synapses(self) -> Synapses:
        """The `Synapses` these came from (CSR by presynaptic unit, the same synapses in the same order)."""
        order = np.argsort(self.pre, kind="stable")
        post = self._by_post.pre()
        return Synapses(self._fan_out, post[order], self.weight[order], n_post=self.n_post)

    def to_dense(self) -> np.ndarray:
        """Dense weight matrix ``[n_pre, n_post]`` float32 (multapses add up)."""
        return self._by_post.to_dense().T.copy()

    def __repr__(self) -> str:
        return f"FanIn(n_pre={self.n_pre}, n_post={self.n_post}, nnz={self.nnz}, density={self.density:.3g})"


def fixed_partners(n_partners, n_owners, count, rng, names):
    """``count`` distinct partners drawn uniformly for each owner: (partner, owner) arrays.

    ``names`` are the argument names of (count, n_partners, n_owners), for error messages.
    """
    count_name, partners_name, owners_name = names
    n_partners = check_int(partners_name, n_partners, 1)
    n_owners = check_int(owners_name, n_owners, 1)
    count = check_int(count_name, count, 0)
    if count > n_partners:
        raise ValueError(f"{count_name} must be <= {partners_name}={n_partners}, got {count}")
    rng = check_rng(rng)
    partner = np.concatenate([rng.choice(n_partners, count, replace=False) for _ in range(n_owners)])
    return partner, np.repeat(np.arange(n_owners), count)


def _weights_and_delays(n: int, rng, weight: WeightSpec, max_delay: int | None):
    """``n`` weights (a constant or ``weight(rng, n)``) and, if ``max_delay`` is given, delays in ``[0, max_delay]``."""
    if callable(weight):
        w = np.asarray(weight(rng, n))
        if w.shape != (n,):
            raise ValueError(f"weight(rng, n) must return an array of shape ({n},), got {w.shape}")
    else:
        w = np.full(n, weight, np.float32)
    d = None
    if max_delay is not None:
        max_delay = check_int("max_delay", max_delay, 0)
        d = rng.integers(0, max_delay, n, endpoint=True)
    return w, d


def _delay_array(delay, nnz: int) -> np.ndarray:
    delay = as_array("delay", delay, kind="i", ndim=1)
    if delay.shape[0] != nnz:
        raise ValueError(f"delay must have length nnz={nnz}, got {delay.shape[0]}")
    check_range("delay", delay, 0, _MAX_DELAY + 1)
    return frozen(delay, np.uint8 if delay.size == 0 or delay.max() <= np.iinfo(np.uint8).max else np.uint16)
