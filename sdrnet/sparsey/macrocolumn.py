"""Sparsey macrocolumns: binary synapses that learn in one trial, and the CSA.

A macrocolumn (mac) is Q competitive modules (CMs) of K binary cells; its code is one winner per CM
(Rinkus 2010, 2014). A :class:`Level` holds M macs that read one input vector through their receptive
fields (RFs); all their cells are the postsynaptic units of one :class:`BinaryProjection` per input
type (bottom-up U, horizontal H, top-down D), which stores only the learned synapses. The sums of a
batch of inputs and the whole CSA run in one pass of ``sparsey.kernels`` over the active inputs'
synapses; ``sparsey.csa`` holds the same steps in plain numpy, one function per step.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..core import Synapses, overlap
from ..core.validation import as_array, check_int, check_range, check_rng
from ..sdr import SDR, SDRBatch
from . import kernels
from .csa import CSAParams, normalize


class Code(NamedTuple):
    """The result of presenting an input: winners per CM, familiarity per mac, which macs computed a code.

    ``winners`` int ``[..., M, Q]`` (cell index within its CM, -1 where the mac was gated off),
    ``familiarity`` G ``[..., M]`` (0 where gated off), ``active`` bool ``[..., M]``.
    A :class:`Macrocolumn` drops the M axis.
    """

    winners: np.ndarray
    familiarity: np.ndarray
    active: np.ndarray


class BinaryProjection:
    """Binary synapses from ``n_pre`` source units onto the ``cells_per_mac`` cells of each of M macs.

    Sources are in groups of ``group_size`` consecutive units (one input bit each for U and D, one
    mac's cells for H). Source ``j`` may connect to the cells of mac ``m`` when ``membership[j //
    group_size, m]`` (``m``'s receptive field); with ``cm_size`` = K, never to a cell of its own CM
    (H input, whose sources are the level's own cells). Learning sets ``w_ji = 1`` for every active
    source ``j`` and winning cell ``i`` that may connect (single-trial binary Hebbian learning).

    Only the 1-weights are stored, as growable rows by source (:mod:`sdrnet.sparsey.kernels`), so
    memory is proportional to the learned synapses and a cell's raw sum ``x_i = Σ_j a_j w_ji`` costs
    (active sources) × (their learned fan-out). Which macs each source feeds is a core ``Synapses``
    (source → mac); ``synapses`` exports the learned weights as one.
    """

    def __init__(self, membership: np.ndarray, cells_per_mac: int, *, group_size: int = 1, cm_size: int | None = None):
        self.membership = np.ascontiguousarray(as_array("membership", membership, kind="b", ndim=2), dtype=bool)
        self.cells_per_mac = check_int("cells_per_mac", cells_per_mac, 1)
        self.group_size = check_int("group_size", group_size, 1)
        self.cm_size = None if cm_size is None else check_int("cm_size", cm_size, 1)
        n_groups, self.n_macs = self.membership.shape
        self.n_pre, self.n_post = n_groups * group_size, self.n_macs * cells_per_mac
        group, mac = np.nonzero(self.membership)
        pre = (group[:, None] * group_size + np.arange(group_size)).ravel()
        self._fields = Synapses.from_edges(pre, np.repeat(mac, group_size), n_pre=self.n_pre, n_post=self.n_macs)
        self._self_fed = np.diagonal(self.membership).copy() if cm_size is not None else None
        self._start, self._length, self._capacity = (np.zeros(self.n_pre, np.int64) for _ in range(3))
        # cell indices, unsigned (no wrap-around check when the kernels index with them) and as narrow as fits
        self._store, self._used = np.zeros(0, np.uint16 if self.n_post <= 1 << 16 else np.uint32), 0
        self._slot = np.full(self.n_post, -1, np.int64)
        self._synapses: Synapses | None = None

    @property
    def nnz(self) -> int:
        """Number of learned (weight-1) synapses."""
        return int(self._length.sum())

    @property
    def synapses(self) -> Synapses:
        """The learned synapses as core ``Synapses`` (rows sorted), rebuilt after learning."""
        if self._synapses is None:
            pre = np.repeat(np.arange(self.n_pre), self._length)
            post = self._store[_row_positions(self._start, self._length)]
            self._synapses = Synapses.from_edges(pre, post, n_pre=self.n_pre, n_post=self.n_post)
        return self._synapses

    @property
    def weights(self) -> np.ndarray:
        """Dense bool ``[n_pre, n_post]`` view of the learned weights (allocates the full matrix)."""
        dense = np.zeros((self.n_pre, self.n_post), bool)
        dense[
            np.repeat(np.arange(self.n_pre), self._length), self._store[_row_positions(self._start, self._length)]
        ] = True
        return dense

    def sums(self, active: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw sums ``x`` ``[B, n_post]`` and the number of active sources in each cell's field, ``[B, M, Q or 1, 1]``."""
        flat, ptr = _concat(active)
        raw = np.zeros((len(active), self.n_post), np.int32)
        kernels.row_sums_kernel(flat, ptr, self._start, self._length, self._store, raw)
        n = overlap(active, self._fields)[:, :, None, None]
        if self.cm_size is not None:  # a cell ignores the sources of its own CM
            Q = self.cells_per_mac // self.cm_size
            own = np.stack([np.bincount(a // self.cm_size, minlength=self.n_macs * Q) for a in active])
            n = n - own.reshape(len(active), self.n_macs, Q, 1) * self._self_fed[:, None, None]
        return raw, n

    def learn(self, active: np.ndarray, winners: np.ndarray) -> np.ndarray:
        """Set the weights from ``active`` sources to the ``winners`` cells; returns the new 1-weights per winner."""
        allowed = self.membership[active // self.group_size][:, winners // self.cells_per_mac]
        if self.cm_size is not None:
            allowed &= (active // self.cm_size)[:, None] != (winners // self.cm_size)[None, :]
        self._reserve(int(np.maximum(2 * self._capacity[active], self._length[active] + len(winners)).sum()))
        new = np.zeros(len(winners), np.int64)
        self._used = kernels.grow_rows_kernel(
            active,
            winners,
            allowed,
            self._start,
            self._length,
            self._capacity,
            self._store,
            self._used,
            self._slot,
            new,
        )
        self._synapses = None
        return new

    def code(
        self, active: list[np.ndarray], K: int, context: tuple, params: np.ndarray, uniforms: np.ndarray, out: tuple
    ) -> None:
        """The CSA on these (bottom-up) synapses for a batch: ``kernels.code_kernel``, all threads for B > 1.

        ``context`` = (H factor, D factor), ``out`` = (winners, familiarity, rivals) as that kernel takes them.
        """
        kernel = kernels.code_kernel_parallel if len(active) > 1 else kernels.code_kernel
        kernel(
            *_concat(active),
            self._start,
            self._length,
            self._store,
            self._fields.indptr,
            self._fields.post,
            K,
            *context,
            params,
            uniforms,
            *out,
        )

    def code_and_learn(
        self,
        active: np.ndarray,
        K: int,
        context: tuple,
        params: np.ndarray,
        uniforms: np.ndarray,
        frozen: np.ndarray,
        out: tuple,
        learned: np.ndarray,
        collision_rate: np.ndarray,
    ) -> None:
        """Learning mode on one input: the CSA, then the new synapses onto the winners (``kernels.learn_kernel``)."""
        while True:
            used = kernels.learn_kernel(
                active,
                self._start,
                self._length,
                self._capacity,
                self._store,
                self._used,
                self._fields.indptr,
                self._fields.post,
                K,
                *context,
                params,
                uniforms,
                frozen,
                *out,
                learned,
                collision_rate,
            )
            if used >= 0:
                break
            self._reserve(-used)
        self._used, self._synapses = used, None

    def _reserve(self, need: int) -> None:
        """Make room for ``need`` more slots, first dropping the blocks that rows moved away from."""
        if self._used + need <= self._store.shape[0]:
            return
        store = np.empty(2 * (int(self._capacity.sum()) + need), self._store.dtype)
        self._used = kernels.compact_kernel(self._start, self._length, self._capacity, self._store, store)
        self._store = store


def _macs(m: np.ndarray) -> str:
    """``mac(s) [..]`` for a warning, the first ten of many."""
    return f"mac(s) {m[:10].tolist()}" + (f" and {len(m) - 10} more" if len(m) > 10 else "")


_NO_FACTOR = np.zeros((0, 0))  # an H or D input not given
_RECOGNITION = np.zeros((0, 0, 0))  # no uniform draws: argmax


def _row_positions(start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Positions ``start[j] + t`` for ``t < length[j]``, row by row."""
    first = np.repeat(start - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return first + np.arange(first.shape[0])


def _concat(active: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(active) + 1, np.int64)
    np.cumsum([len(a) for a in active], out=ptr[1:])
    return (np.concatenate(active).astype(np.int64) if active else np.zeros(0, np.int64)), ptr


class Level:
    """M macrocolumns of ``Q`` CMs × ``K`` cells over one input vector of ``n_inputs`` bits.

    Parameters
    ----------
    n_inputs : int
        Size of the bottom-up input (pixels, or the cells of the level below).
    receptive_fields : sequence of M int arrays
        The bottom-up inputs each mac sees (its U-RF).
    Q, K : int >= 1
        CMs per mac and cells per CM.
    params : CSAParams
        The code selection algorithm's parameters (defaults: :class:`CSAParams`).
    horizontal_fields : sequence of M int arrays or None
        Macs of this level whose previous code each mac receives as H input (own mac included;
        a cell never receives H from its own CM). ``None``: no H input.
    top_down_fields : sequence of M int arrays or None
        Cells of the level above (``n_top_down`` of them) each mac receives as D input.
    freeze_at : float in (0, 1] or None
        Critical period: a mac stops learning once this fraction of its potential bottom-up synapses is set.
    saturation_warning : float in (0, 1]
        A ``RuntimeWarning`` names each mac whose bottom-up saturation passes this fraction, or in
        which a quarter of the CMs of recently learned codes had a rival cell already matching the
        input fully (``collision_rate_``), i.e. whose stored codes can no longer be recalled uniquely.
    """

    _code_ndim = 1  # ndim of one input's familiarity: [M]

    def __init__(
        self,
        n_inputs: int,
        receptive_fields: Sequence,
        Q: int,
        K: int,
        params: CSAParams | None = None,
        *,
        horizontal_fields: Sequence | None = None,
        top_down_fields: Sequence | None = None,
        n_top_down: int = 0,
        freeze_at: float | None = None,
        saturation_warning: float = 0.5,
    ):
        self.n_inputs = check_int("n_inputs", n_inputs, 1)
        self.Q, self.K = check_int("Q", Q, 1), check_int("K", K, 1)
        self.params = CSAParams() if params is None else params
        if not isinstance(self.params, CSAParams):
            raise TypeError(f"params must be CSAParams, got {type(self.params).__name__}")
        self.receptive_fields = _fields("receptive_fields", receptive_fields, self.n_inputs)
        self.n_macs = len(self.receptive_fields)
        if freeze_at is not None and not 0 < freeze_at <= 1:
            raise ValueError(f"freeze_at must be None or in (0, 1], got {freeze_at!r}")
        if not 0 < saturation_warning <= 1:
            raise ValueError(f"saturation_warning must be in (0, 1], got {saturation_warning!r}")
        self.freeze_at, self.saturation_warning = freeze_at, saturation_warning
        cells_per_mac = self.Q * self.K
        self.n_cells = self.n_macs * cells_per_mac
        self.U = BinaryProjection(_membership(self.receptive_fields, self.n_inputs), cells_per_mac)
        self.H = None
        if horizontal_fields is not None:
            fields = _fields("horizontal_fields", horizontal_fields, self.n_macs, self.n_macs)
            self.H = BinaryProjection(
                _membership(fields, self.n_macs), cells_per_mac, group_size=cells_per_mac, cm_size=self.K
            )
        self.D = None
        if top_down_fields is not None:
            n_top_down = check_int("n_top_down", n_top_down, 1)
            fields = _fields("top_down_fields", top_down_fields, n_top_down, self.n_macs)
            self.D = BinaryProjection(_membership(fields, n_top_down), cells_per_mac)
        self._potential_per_mac = self.U.membership.sum(axis=0) * cells_per_mac
        self._warning_count = saturation_warning * np.maximum(self._potential_per_mac, 1)
        self._freeze_count = None if freeze_at is None else freeze_at * np.maximum(self._potential_per_mac, 1)
        p = self.params
        self._kernel_params = np.array(
            [
                p.u_exponent,
                max(p.active_min, 1),
                np.inf if p.active_max is None else p.active_max,
                p.familiarity_min,
                p.gamma,
                p.chi,
                p.sigmoid_slope,
                p.sigmoid_center,
            ],
            np.float64,
        )
        self.learned_per_mac_ = np.zeros(self.n_macs, np.int64)
        self.frozen_ = np.zeros(self.n_macs, bool)
        self.collision_rate_ = np.zeros(self.n_macs)  # running mean over ~32 learned codes
        self.reported_full_ = np.zeros(self.n_macs, bool)

    @property
    def saturation(self) -> np.ndarray:
        """Fraction of each mac's potential bottom-up synapses that are set, ``[M]``."""
        return self.learned_per_mac_ / np.maximum(self._potential_per_mac, 1)

    def as_sdr(self, code: Code) -> SDR | SDRBatch:
        """The winning cells of one code (an ``SDR``) or of a batch of codes (an ``SDRBatch``) over ``n_cells``.

        This is what the level above (or a readout) sees as input.
        """
        winners = np.asarray(code.winners).reshape(-1, self.n_macs, self.Q)
        active = np.asarray(code.active).reshape(-1, self.n_macs)
        rows = [self._cells(w, a) for w, a in zip(winners, active)]
        if np.ndim(code.familiarity) == self._code_ndim:
            return SDR._trusted(self.n_cells, rows[0])
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        return SDRBatch._trusted(self.n_cells, np.concatenate(rows), indptr)

    def _cells(self, winners: np.ndarray, active: np.ndarray) -> np.ndarray:
        first = (np.arange(self.n_macs)[:, None] * self.Q + np.arange(self.Q)) * self.K
        return (first + winners)[active].ravel()

    def learn(self, x, rng: np.random.Generator, *, h=None, d=None) -> Code:
        """Learning mode on one input: choose a code with the CSA (sampling), then learn it in one trial.

        ``x`` is a binary ``[n_inputs]`` vector or an ``SDR``; ``h`` and ``d`` are the active cells of the
        previous H code (this level) and D code (the level above), or ``None``.
        """
        rng = check_rng(rng)
        lists, single = _active_lists("x", x, self.n_inputs)
        if not single:
            raise ValueError(
                "learn takes one input at a time (x must be [n_inputs] or an SDR); single-trial learning is sequential"
            )
        u = lists[0]
        h_list, d_list = self._context("h", h, self.H, 1), self._context("d", d, self.D, 1)
        out = self._outputs(1)
        self.U.code_and_learn(
            u,
            self.K,
            self._factors(h_list, d_list),
            self._kernel_params,
            rng.random(out[0].shape),
            self.frozen_,
            out,
            self.learned_per_mac_,
            self.collision_rate_,
        )
        code = Code(out[0][0], out[1][0], out[0][0, :, 0] >= 0)
        if h_list is not None or d_list is not None:
            self._learn_context(h_list, d_list, code)
        self._after_learning()
        return self._output(code)

    def recognize(self, x, *, h=None, d=None) -> Code:
        """Recognition mode: winner = argmax V per CM, no sampling, no learning; G is the familiarity.

        ``x`` is ``[n_inputs]``/``SDR`` (one input) or ``[B, n_inputs]``/``SDRBatch`` (a batch, one
        ``overlap`` pass for all); ``h``/``d`` as in :meth:`learn` (one input only).
        """
        u, single = _active_lists("x", x, self.n_inputs)
        code, rivals = self._select(u, self._context("h", h, self.H, len(u)), self._context("d", d, self.D, len(u)))
        self._warn_if_ambiguous(code, rivals)
        return self._output(Code(*(c[0] for c in code)) if single else code)

    def _warn_if_ambiguous(self, code: Code, rivals: np.ndarray) -> None:
        """Warn where a CM holds two cells that match the input fully: G can be 1.0 while argmax returns
        the lower-index cell, which need not be the stored one."""
        tied = rivals > 0  # [B, M]
        if tied.any():
            m = np.flatnonzero(tied.any(axis=0))
            warnings.warn(
                f"sparsey: {int(tied.any(axis=1).sum())} of {len(tied)} inputs match two or more cells of "
                f"a CM fully in {_macs(m)} (saturation {self.saturation[m].max():.0%}): their "
                "familiarity can be 1.0 while the code returned is not the stored one. Use more macs, "
                "CMs (Q) or cells (K), or freeze_at.",
                RuntimeWarning,
                stacklevel=3,
            )

    def _output(self, code: Code) -> Code:
        return code

    def _select(self, u, h, d) -> tuple[Code, np.ndarray]:
        """Recognition-mode codes of the inputs ``u``, and the CMs per mac where a rival cell matches fully."""
        out = self._outputs(len(u))
        self.U.code(u, self.K, self._factors(h, d), self._kernel_params, _RECOGNITION, out)
        winners, G, rivals = out
        return Code(winners, G, winners[..., 0] >= 0), rivals

    def _outputs(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        shape = (batch, self.n_macs)
        return np.zeros((*shape, self.Q), np.int64), np.zeros(shape), np.zeros(shape, np.int64)

    def _factors(self, h, d) -> tuple[np.ndarray, np.ndarray]:
        """``H^{e_H}`` and ``D^{e_D}`` ``[B, n_cells]`` (1 where absent from a cell's field), each empty if not given."""
        if h is None and d is None:
            return _NO_FACTOR, _NO_FACTOR
        return tuple(
            _NO_FACTOR if lists is None else np.power(self._normalized(proj, lists), e)
            for lists, proj, e in ((h, self.H, self.params.h_exponent), (d, self.D, self.params.d_exponent))
        )

    def _normalized(self, projection, lists) -> np.ndarray:
        raw, n = projection.sums(lists)
        X = normalize(raw.reshape(len(lists), self.n_macs, self.Q, self.K), n, absent=1.0)
        return X.reshape(len(lists), -1)

    def _context(self, name, cells, projection, batch):
        if cells is None:
            return None
        if projection is None:
            raise ValueError(
                f"{name} was given but this level has no {'horizontal' if name == 'h' else 'top-down'} input"
            )
        lists, single = _active_lists(name, cells, projection.n_pre, indices=True)
        if len(lists) != batch:
            raise ValueError(f"{name} must hold one code per input ({batch}), got {len(lists)}")
        return lists if any(len(c) for c in lists) else None

    def _learn_context(self, h, d, code: Code) -> None:
        """Single-trial learning of the H and D synapses onto the winners of the macs that learn."""
        winners = self._cells(code.winners, code.active & ~self.frozen_)
        for lists, proj in ((h, self.H), (d, self.D)):
            if lists is not None and winners.size:
                proj.learn(lists[0], winners)

    def _after_learning(self) -> None:
        """Critical period (``freeze_at``) and the warning of full macs (thresholds as synapse counts)."""
        if self.freeze_at is not None:
            self.frozen_ |= self.learned_per_mac_ >= self._freeze_count
        full = (self.learned_per_mac_ >= self._warning_count) | (self.collision_rate_ >= 0.25)
        if (full & ~self.reported_full_).any():
            full &= ~self.reported_full_
            self.reported_full_ |= full
            m = np.flatnonzero(full)
            warnings.warn(
                f"sparsey: {_macs(m)} are full: saturation {self.saturation[m].max():.0%} "
                f"(warning at {self.saturation_warning:.0%}), {self.collision_rate_[m].max():.0%} of CMs "
                "of recently learned codes tie with another fully matching cell, so recall degrades. "
                "Use more macs, CMs (Q) or cells (K), or freeze_at.",
                RuntimeWarning,
                stacklevel=3,
            )


class Macrocolumn(Level):
    """One macrocolumn: ``Q`` competitive modules of ``K`` binary cells over a receptive field.

    A code is one winner per CM. ``learn`` runs the code selection algorithm in learning mode (one
    winner drawn per CM from ρ, then single-trial binary Hebbian learning); ``recognize`` takes the
    argmax of V per CM and returns the familiarity G. Codes come back without the mac axis:
    ``winners`` ``[Q]`` (or ``[B, Q]``), ``familiarity`` a scalar (or ``[B]``).

    >>> import numpy as np
    >>> from sdrnet.sparsey import Macrocolumn
    >>> mac = Macrocolumn(n_inputs=100, Q=10, K=8)
    >>> x = np.zeros(100, bool); x[:12] = True
    >>> stored = mac.learn(x, np.random.default_rng(0))
    >>> again = mac.recognize(x)
    >>> bool((again.winners == stored.winners).all()), float(again.familiarity)
    (True, 1.0)
    """

    _code_ndim = 0

    def __init__(
        self,
        n_inputs: int,
        Q: int,
        K: int,
        receptive_field=None,
        params: CSAParams | None = None,
        *,
        freeze_at: float | None = None,
        saturation_warning: float = 0.5,
    ):
        n_inputs = check_int("n_inputs", n_inputs, 1)
        field = np.arange(n_inputs) if receptive_field is None else receptive_field
        super().__init__(n_inputs, [field], Q, K, params, freeze_at=freeze_at, saturation_warning=saturation_warning)

    def _output(self, code: Code) -> Code:
        return Code(code.winners[..., 0, :], code.familiarity[..., 0], code.active[..., 0])


def _fields(name: str, fields, n: int, count: int | None = None) -> list[np.ndarray]:
    if isinstance(fields, np.ndarray) and fields.ndim == 1:
        raise TypeError(f"{name} must be a sequence of int arrays (one per macrocolumn), got a 1-D array")
    out = []
    for m, f in enumerate(fields):
        f = np.unique(as_array(f"{name}[{m}]", f, kind="i", ndim=1))
        check_range(f"{name}[{m}]", f, 0, n)
        if f.size == 0:
            raise ValueError(f"{name}[{m}] is empty; every macrocolumn needs at least one input")
        out.append(f.astype(np.int64))
    if not out or (count is not None and len(out) != count):
        raise ValueError(f"{name} must list {'at least one' if count is None else count} field(s), got {len(out)}")
    return out


def _membership(fields: list[np.ndarray], n: int) -> np.ndarray:
    mask = np.zeros((n, len(fields)), bool)
    for m, f in enumerate(fields):
        mask[f, m] = True
    return mask


def _active_lists(name: str, x, n: int, *, indices: bool = False) -> tuple[list[np.ndarray], bool]:
    """Active-index lists and whether ``x`` was one input. ``indices``: x lists active cells, not bits."""
    if isinstance(x, SDR | SDRBatch):
        if x.n != n:
            raise ValueError(f"{name} must have n={n} bits, got an SDR of n={x.n}")
        return ([x.sparse], True) if isinstance(x, SDR) else (x.as_active_lists(), False)
    if indices:
        rows = [x] if np.ndim(x) == 1 or (len(x) and np.isscalar(x[0])) else list(x)
        out = [np.unique(as_array(name, r, kind="i", ndim=1)).astype(np.int64) for r in rows]
        for r in out:
            check_range(name, r, 0, n)
        return out, False
    if isinstance(x, np.ndarray) and x.dtype == bool and x.shape == (n,):
        return [np.flatnonzero(x)], True
    arr = as_array(name, x, kind="b")
    if arr.ndim not in (1, 2) or arr.shape[-1] != n:
        raise ValueError(f"{name} must have shape [{n}] or [B, {n}], got {arr.shape}")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1 or bool); binarise it first (e.g. x > threshold)")
    rows = np.atleast_2d(arr.astype(bool))
    return [np.flatnonzero(r) for r in rows], arr.ndim == 1
