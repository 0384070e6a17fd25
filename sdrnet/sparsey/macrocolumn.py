"""Sparsey macrocolumns on the event-driven core: binary synapses that learn in one trial, and the CSA.

A macrocolumn (mac) is Q competitive modules (CMs) of K binary cells; its code is one winner per CM
(Rinkus 2010, 2014). A :class:`Level` holds M macs that read one input vector through their receptive
fields (RFs); all their cells are the postsynaptic units of one ``sdrnet.core.Synapses`` per input type,
so the bottom-up (U), horizontal (H) and top-down (D) sums of every cell are one ``overlap`` pass each.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np

from ..core import Synapses, overlap
from ..core._checks import as_array, check_int, check_range, check_rng
from ..sdr import SDR, SDRBatch
from .csa import CSAParams, combine, gate, normalize, select_code


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
    """Binary synapses from ``n_pre`` source cells onto ``n_post`` cells, learned in one trial.

    ``potential[j, i]`` says whether source ``j`` may connect to cell ``i`` (its receptive field).
    Learning sets ``w_ji = 1`` for every active source ``j`` and winning cell ``i`` that may connect
    (single-trial binary Hebbian learning). The learned synapses are a core ``Synapses`` holding only
    the 1-weights, so a cell's raw sum ``x_i = Σ_j a_j w_ji`` is its ``overlap`` with the active sources.
    """

    def __init__(self, potential: np.ndarray):
        self.potential = np.ascontiguousarray(potential, dtype=bool)
        self.weights = np.zeros_like(self.potential)
        self._potential_synapses = _binary_synapses(self.potential)
        self._synapses: Synapses | None = None

    @property
    def synapses(self) -> Synapses:
        """The learned (weight-1) synapses as core ``Synapses``, rebuilt after learning."""
        if self._synapses is None:
            self._synapses = _binary_synapses(self.weights)
        return self._synapses

    def sums(self, active: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw sums ``x`` and the number of active sources in each cell's field, both int ``[B, n_post]``."""
        return overlap(active, self.synapses), overlap(active, self._potential_synapses)

    def learn(self, active: np.ndarray, winners: np.ndarray) -> np.ndarray:
        """Set the weights from ``active`` sources to ``winners``; returns the new 1-weights per winner."""
        sub = np.ix_(active, winners)
        new = self.potential[sub] & ~self.weights[sub]
        self.weights[sub] |= new
        self._synapses = None
        return new.sum(axis=0)


def _binary_synapses(mask: np.ndarray) -> Synapses:
    pre, post = np.nonzero(mask)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pre, minlength=mask.shape[0]))])
    return Synapses(indptr, post, n_post=mask.shape[1])


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

    def __init__(self, n_inputs: int, receptive_fields: Sequence, Q: int, K: int, params: CSAParams | None = None, *,
                 horizontal_fields: Sequence | None = None, top_down_fields: Sequence | None = None,
                 n_top_down: int = 0, freeze_at: float | None = None, saturation_warning: float = 0.5):
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
        self.U = BinaryProjection(np.repeat(_membership(self.receptive_fields, self.n_inputs), cells_per_mac, axis=1))
        self.H = None if horizontal_fields is None else BinaryProjection(self._horizontal_potential(horizontal_fields))
        self.D = None
        if top_down_fields is not None:
            n_top_down = check_int("n_top_down", n_top_down, 1)
            fields = _fields("top_down_fields", top_down_fields, n_top_down, self.n_macs)
            self.D = BinaryProjection(np.repeat(_membership(fields, n_top_down), cells_per_mac, axis=1))
        self._potential_per_mac = self.U.potential.reshape(self.n_inputs, self.n_macs, -1).sum(axis=(0, 2))
        self.learned_per_mac_ = np.zeros(self.n_macs, np.int64)
        self.frozen_ = np.zeros(self.n_macs, bool)
        self.collision_rate_ = np.zeros(self.n_macs)  # running mean over ~32 learned codes
        self.reported_full_ = np.zeros(self.n_macs, bool)

    def _horizontal_potential(self, horizontal_fields) -> np.ndarray:
        fields = _fields("horizontal_fields", horizontal_fields, self.n_macs, self.n_macs)
        mac_to_mac = _membership(fields, self.n_macs)  # [source mac, target mac]
        potential = np.repeat(np.repeat(mac_to_mac, self.Q * self.K, axis=0), self.Q * self.K, axis=1)
        cm = np.arange(self.n_cells) // self.K
        potential[cm[:, None] == cm[None, :]] = False
        return potential

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
            raise ValueError("learn takes one input at a time (x must be [n_inputs] or an SDR); "
                             "single-trial learning is sequential")
        u = lists[0]
        h_list, d_list = self._context("h", h, self.H, 1), self._context("d", d, self.D, 1)
        code, V = self._select([u], h_list, d_list, rng)
        code = Code(code.winners[0], code.familiarity[0], code.active[0])
        self._learn(u, h_list, d_list, code, V[0])
        return self._output(code)

    def recognize(self, x, *, h=None, d=None) -> Code:
        """Recognition mode: winner = argmax V per CM, no sampling, no learning; G is the familiarity.

        ``x`` is ``[n_inputs]``/``SDR`` (one input) or ``[B, n_inputs]``/``SDRBatch`` (a batch, one
        ``overlap`` pass for all); ``h``/``d`` as in :meth:`learn` (one input only).
        """
        u, single = _active_lists("x", x, self.n_inputs)
        code, _ = self._select(u, self._context("h", h, self.H, len(u)), self._context("d", d, self.D, len(u)), None)
        return self._output(Code(*(c[0] for c in code)) if single else code)

    def _output(self, code: Code) -> Code:
        return code

    def _select(self, u, h, d, rng) -> tuple[Code, np.ndarray]:
        shape = (len(u), self.n_macs, self.Q, self.K)
        raw, n = self.U.sums(u)
        V = combine(self.params, normalize(raw, n).reshape(shape),
                    *(None if lists is None else normalize(*proj.sums(lists)).reshape(shape)
                      for lists, proj in ((h, self.H), (d, self.D))))
        active = gate(n.reshape(shape)[..., 0, 0], self.params)
        winners, G = select_code(V, self.params, rng)
        return Code(np.where(active[..., None], winners, -1), np.where(active, G, 0.0), active), V

    def _context(self, name, cells, projection, batch):
        if cells is None:
            return None
        if projection is None:
            raise ValueError(f"{name} was given but this level has no {'horizontal' if name == 'h' else 'top-down'} input")
        lists, single = _active_lists(name, cells, projection.weights.shape[0], indices=True)
        if len(lists) != batch:
            raise ValueError(f"{name} must hold one code per input ({batch}), got {len(lists)}")
        return lists if any(len(c) for c in lists) else None

    def _learn(self, u, h, d, code: Code, V: np.ndarray) -> None:
        learning = code.active & ~self.frozen_
        if not learning.any():
            return
        winners = self._cells(code.winners, learning)
        new = self.U.learn(u, winners)
        np.add.at(self.learned_per_mac_, winners // (self.Q * self.K), new)
        for lists, proj in ((h, self.H), (d, self.D)):
            if lists is not None:
                proj.learn(lists[0], winners)
        # a CM where another cell already matches the input fully cannot recall this code uniquely
        rivals = (V >= 1.0 - 1e-9) & (np.arange(self.K) != code.winners[..., None])
        self.collision_rate_[learning] += (rivals.any(-1).mean(-1)[learning] - self.collision_rate_[learning]) / 32
        if self.freeze_at is not None:
            self.frozen_ |= self.saturation >= self.freeze_at
        self._warn_if_full()

    def _warn_if_full(self) -> None:
        full = ((self.saturation >= self.saturation_warning) | (self.collision_rate_ >= 0.25)) & ~self.reported_full_
        if full.any():
            self.reported_full_ |= full
            m = np.flatnonzero(full)
            warnings.warn(f"sparsey: mac(s) {m.tolist()} are full: saturation {self.saturation[m].max():.0%} "
                          f"(warning at {self.saturation_warning:.0%}), {self.collision_rate_[m].max():.0%} of CMs "
                          "of recently learned codes tie with another fully matching cell, so recall degrades. "
                          "Use more macs, CMs (Q) or cells (K), or freeze_at.", RuntimeWarning, stacklevel=4)


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

    def __init__(self, n_inputs: int, Q: int, K: int, receptive_field=None, params: CSAParams | None = None, *,
                 freeze_at: float | None = None, saturation_warning: float = 0.5):
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
    arr = as_array(name, x, kind="b")
    if arr.ndim not in (1, 2) or arr.shape[-1] != n:
        raise ValueError(f"{name} must have shape [{n}] or [B, {n}], got {arr.shape}")
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1 or bool); binarise it first (e.g. x > threshold)")
    rows = np.atleast_2d(arr.astype(bool))
    return [np.flatnonzero(r) for r in rows], arr.ndim == 1
