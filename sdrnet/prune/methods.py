"""Unstructured pruning: one-shot magnitude (layer-wise, global), random with ER/ERK densities, gradual
magnitude pruning (Zhu & Gupta), iterative magnitude pruning with rewinding (lottery tickets),
prune-and-regrow during training (RigL / GraNet), and N:M sparsity (one-shot and SR-STE).

Every method writes masks through `sdrnet.prune.masks.set_mask`, so they compose (a weight once
pruned stays pruned unless a regrow step revives it) and the result round-trips ``state_dict``.
``sparsity`` is always the fraction of *zero* weights asked for, in ``[0, 1)``; when a layer is
already sparser, magnitude and random pruning leave it as it is (masks only shrink).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from sdrnet.core.validation import check_bool

from .masks import Target, effective_weight, get_mask, layer_names, readout, rezero, set_mask, targets

__all__ = [
    "check_sparsity",
    "magnitude_prune",
    "random_prune",
    "layer_densities",
    "nm_mask",
    "nm_prune",
    "cubic_sparsity",
    "GradualPruning",
    "LotteryTicket",
    "PruneRegrow",
    "SRSTE",
]


def check_sparsity(sparsity, name: str = "sparsity") -> float:
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating)) or not 0 <= sparsity < 1:
        raise ValueError(f"{name} must be a number in [0, 1), got {sparsity!r}")
    return float(sparsity)


def _keep_count(n: int, sparsity: float) -> int:
    """Weights kept out of ``n``: ``n - round(sparsity · n)`` (``torch.nn.utils.prune``'s rounding)."""
    return n - int(round(sparsity * n))


def _topk_mask(scores: torch.Tensor, keep: int) -> torch.Tensor:
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    if keep > 0:
        mask[torch.topk(scores.flatten(), keep, sorted=False).indices] = True
    return mask.view(scores.shape)


def check_finite(model, pairs: list[Target]) -> None:
    """Refuse NaN/inf weights, naming the layer: a NaN is neither small nor large, so magnitude pruning
    has no answer for it (``torch.topk`` would keep it as the largest)."""
    for label, (module, name) in zip(layer_names(model, pairs), pairs):
        bad = ~torch.isfinite(getattr(module, name).detach())
        if bad.any():
            raise ValueError(
                f"{label} holds {int(bad.sum())} NaN/inf weight(s) (the first at index "
                f"{tuple(int(i) for i in bad.nonzero()[0])}); magnitude pruning needs finite weights"
            )


def _scores(module: nn.Module, name: str) -> torch.Tensor:
    """|w|, with already-pruned weights below every kept one (so they are pruned first)."""
    score = effective_weight(module, name).abs().float()
    mask = get_mask(module, name)
    return score if mask is None else torch.where(mask != 0, score, torch.full_like(score, -1.0))


def _global_pairs(model, scope: str, include_readout: bool) -> list[Target]:
    """`targets(model)`, without the readout for ``scope="global"`` on an ``nn.Module`` unless ``include_readout``."""
    if scope not in ("layer", "global"):
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    include_readout = check_bool("include_readout", include_readout)
    pairs = targets(model)
    if scope == "layer" or include_readout or not isinstance(model, nn.Module):
        return pairs
    if len(pairs) == 1:
        raise ValueError(
            "scope='global' leaves the readout out, and model's only prunable layer is its readout: "
            "pass include_readout=True (or scope='layer')"
        )
    out = readout(model)
    return [(m, n) for m, n in pairs if m is not out]


# ---------------------------------------------------------------------------------------------- one-shot
def magnitude_prune(model, sparsity: float, scope: str = "layer", include_readout: bool = False) -> None:
    """Zero the smallest-magnitude weights: ``mask = |w| >= threshold``.

    ``scope="layer"``: each layer keeps its ``n_l − round(s·n_l)`` largest |w| (``prune.l1_unstructured``);
    ``scope="global"``: one threshold over the layers, ``N − round(s·N)`` of their ``N`` weights kept
    (``prune.global_unstructured``; Han et al. 2015, "Learning both Weights and Connections").

    With ``scope="global"`` on an ``nn.Module`` the readout (`masks.readout`: its last prunable layer) is
    left dense and ``sparsity`` is that of the other layers, unless ``include_readout=True``: one
    threshold over every layer can empty a readout whose weights are smaller than the hidden ones, and
    then every output is its bias. A list of layers is pruned as given. Raises ValueError, naming the
    layer, on NaN/inf weights (`check_finite`), before any mask changes.
    """
    sparsity = check_sparsity(sparsity)
    pairs = _global_pairs(model, scope, include_readout)
    check_finite(model, pairs)
    if scope == "layer":
        for module, name in pairs:
            scores = _scores(module, name)
            set_mask(module, name, _topk_mask(scores, _keep_count(scores.numel(), sparsity)))
        return
    scores = [_scores(m, n) for m, n in pairs]
    flat = torch.cat([s.flatten() for s in scores])
    keep = _topk_mask(flat, _keep_count(flat.numel(), sparsity))
    start = 0
    for (module, name), s in zip(pairs, scores):
        set_mask(module, name, keep[start : start + s.numel()].view(s.shape))
        start += s.numel()


def layer_densities(shapes, density: float, distribution: str = "erk", power_scale: float = 1.0) -> list[float]:
    """Per-layer densities with ``Σ_l d_l·N_l = density · Σ_l N_l`` (Evci et al. 2020, RigL, Sec. 3(1)).

    ``"uniform"``: ``d_l = density``. ``"er"`` (Erdős–Rényi): ``p_l = (n_in + n_out)/(n_in·n_out)``;
    ``"erk"`` (Erdős–Rényi-Kernel): ``p_l = (Σ_i k_i / Π_i k_i)^power_scale`` over every dimension of the
    weight (kernel included). ``d_l = ε·p_l`` with
    ``ε = [Σ_{l∉D}(1−S)N_l − Σ_{l∈D} S·N_l] / Σ_{l∉D} p_l N_l`` (S = 1 − density); while ``ε·max p_l > 1``
    the layer with the largest ``p_l`` joins the dense set D (google-research/rigl sparse_utils.py).
    """
    if distribution not in ("uniform", "er", "erk"):
        raise ValueError(f"distribution must be 'uniform', 'er' or 'erk', got {distribution!r}")
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], got {density}")
    shapes = [tuple(int(k) for k in s) for s in shapes]
    sizes = np.array([math.prod(s) for s in shapes], float)
    if distribution == "uniform":
        return [float(density)] * len(shapes)
    if distribution == "er":
        raw = np.array([(s[0] + s[1]) / (s[0] * s[1]) for s in shapes])
    else:
        raw = np.array([sum(s) / math.prod(s) for s in shapes]) ** power_scale
    dense = np.zeros(len(shapes), bool)
    while True:
        rhs = np.sum(density * sizes[~dense]) - np.sum((1 - density) * sizes[dense])
        eps = rhs / np.sum(raw[~dense] * sizes[~dense])
        if eps * raw[~dense].max() <= 1:
            break
        dense[~dense & (raw == raw[~dense].max())] = True
    return [1.0 if d else float(eps * p) for d, p in zip(dense, raw)]


def random_prune(model, sparsity: float, distribution: str = "erk", generator: torch.Generator | None = None) -> None:
    """Prune at random, with per-layer densities from `layer_densities` (uniform, ER or ERK).

    "The Unreasonable Effectiveness of Random Pruning" (Liu et al., ICLR 2022): a random ERK mask
    at initialisation, trained sparse, comes close to dense as the network grows.
    """
    sparsity = check_sparsity(sparsity)
    pairs = targets(model)
    densities = layer_densities([getattr(m, n).shape for m, n in pairs], 1 - sparsity, distribution)
    for (module, name), d in zip(pairs, densities):
        scores = torch.rand(getattr(module, name).shape, generator=generator)
        mask = get_mask(module, name)
        if mask is not None:
            scores = torch.where(mask != 0, scores, torch.full_like(scores, -1.0))
        set_mask(module, name, _topk_mask(scores, int(round(d * scores.numel()))))


# ---------------------------------------------------------------------------------------------- N:M
def _check_nm(n: int, m: int) -> None:
    for label, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{label} must be a positive int, got {v!r}")
    if n > m:
        raise ValueError(f"N:M sparsity needs n <= m, got n={n} > m={m}")


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Bool mask keeping the ``n`` largest |w| in every ``m`` consecutive input weights of each output row.

    The pattern of semi-structured sparsity (2:4 on Ampere; torch.ao ``WeightNormSparsifier`` with
    ``sparse_block_shape=(1, m)``, ``zeros_per_block=m − n``).
    """
    _check_nm(n, m)
    rows = weight.detach().reshape(weight.shape[0], -1)
    if rows.shape[1] % m:
        raise ValueError(f"the input size per output unit ({rows.shape[1]}) must be a multiple of m={m}")
    groups = rows.abs().reshape(-1, m)
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, torch.topk(groups, n, dim=1).indices, True)
    return keep.view(weight.shape)


def nm_prune(model, n: int, m: int) -> None:
    """One-shot N:M magnitude pruning of every target layer (checked on all layers before any changes)."""
    pairs = targets(model)
    check_finite(model, pairs)
    masks = [nm_mask(effective_weight(mod, name), n, m) for mod, name in pairs]
    for (module, name), mask in zip(pairs, masks):
        set_mask(module, name, mask)


class _NMSte(torch.autograd.Function):
    """SR-STE: forward ``W̃ = Π ⊙ W``; backward ``g_W = g_W̃ + λ_w (1 − Π) ⊙ W`` (Zhou et al. 2021, eq. 5)."""

    @staticmethod
    def forward(ctx, weight, n, m, decay):
        mask = nm_mask(weight, n, m).to(weight.dtype)
        ctx.save_for_backward(weight, mask)
        ctx.decay = decay
        return weight * mask

    @staticmethod
    def backward(ctx, grad):
        weight, mask = ctx.saved_tensors
        return grad + ctx.decay * (1 - mask) * weight, None, None, None


class _NMParam(nn.Module):
    def __init__(self, n: int, m: int, decay: float):
        super().__init__()
        self.n, self.m, self.decay = n, m, decay

    def forward(self, weight):
        return _NMSte.apply(weight, self.n, self.m, self.decay)


class SRSTE:
    """Train N:M sparse from dense with the sparse-refined straight-through estimator (Zhou et al., ICLR 2021,
    "Learning N:M Fine-grained Structured Sparse Neural Networks From Scratch", eq. 5).

    Forward uses ``W̃ = Π ⊙ W`` where the mask Π (top-``n`` |w| of every ``m`` consecutive inputs) is
    recomputed from the dense ``W`` at every forward; the backward passes the gradient straight through
    and adds the sparse-refined decay ``λ_w (1 − Π) ⊙ W`` (default λ_w = 2e-4, the NM-sparsity devkit).
    While training, each layer holds a ``torch.nn.utils.parametrize`` parametrisation (deep-copies,
    state_dict keys ``parametrizations.weight.original``); `finalize` fixes the mask as an ordinary
    pruning mask and restores the plain ``weight`` key.
    """

    def __init__(self, model, n: int, m: int, decay: float = 2e-4):
        _check_nm(n, m)
        if not decay >= 0:
            raise ValueError(f"decay must be >= 0, got {decay}")
        self.pairs = targets(model)
        for module, name in self.pairs:
            if get_mask(module, name) is not None:
                raise ValueError(f"{type(module).__name__}.{name} is already pruned; SR-STE starts from a dense layer")
            nm_mask(getattr(module, name), n, m)  # shape check before anything changes
        for module, name in self.pairs:
            parametrize.register_parametrization(module, name, _NMParam(n, m, float(decay)))
        self.n, self.m = n, m

    def finalize(self) -> None:
        """Fix Π from the final dense weights: ``weight = Π ⊙ W`` with Π as the layer's pruning mask."""
        for module, name in self.pairs:
            parametrize.remove_parametrizations(module, name, leave_parametrized=False)
            set_mask(module, name, nm_mask(getattr(module, name), self.n, self.m))


# ---------------------------------------------------------------------------------------------- gradual
def cubic_sparsity(step: int, final: float, begin: int, end: int, initial: float = 0.0) -> float:
    """Zhu & Gupta (2017), "To prune, or not to prune", eq. 1: ``s_t = s_f + (s_i − s_f)(1 − (t − t0)/(nΔt))³``
    with ``nΔt = end − begin``, held at ``s_i`` before ``t0`` and at ``s_f`` after ``t0 + nΔt``."""
    frac = min(max((step - begin) / max(end - begin, 1), 0.0), 1.0)
    return final + (initial - final) * (1.0 - frac) ** 3


class GradualPruning:
    """Gradual magnitude pruning on the cubic schedule of Zhu & Gupta (2017): call `step` after each
    ``optimizer.step()``; every ``frequency`` (Δt) steps from ``begin`` (t0) to ``end`` (t0 + nΔt) the
    smallest weights are masked to reach `cubic_sparsity` (tfmot ``PolynomialDecay(power=3)``).
    ``scope``/``include_readout`` as in `magnitude_prune`.
    """

    def __init__(
        self,
        model,
        final_sparsity: float,
        *,
        end: int,
        begin: int = 0,
        frequency: int = 100,
        initial_sparsity: float = 0.0,
        scope: str = "layer",
        include_readout: bool = False,
    ):
        self.final = check_sparsity(final_sparsity, "final_sparsity")
        self.initial = check_sparsity(initial_sparsity, "initial_sparsity")
        if not 0 <= begin < end or frequency < 1:
            raise ValueError(
                f"need 0 <= begin < end and frequency >= 1, got begin={begin}, end={end}, frequency={frequency}"
            )
        _global_pairs(model, scope, include_readout)
        self.model, self.begin, self.end, self.frequency, self.scope = model, begin, end, frequency, scope
        self.include_readout = bool(include_readout)  # _global_pairs checked it
        self.t = 0

    def sparsity_at(self, step: int) -> float:
        return cubic_sparsity(step, self.final, self.begin, self.end, self.initial)

    def step(self) -> float | None:
        """Advance one training step; prune if it is a pruning step. Returns the sparsity applied, or None."""
        t = self.t
        self.t += 1
        if self.begin <= t <= self.end and ((t - self.begin) % self.frequency == 0 or t == self.end):
            s = self.sparsity_at(t)
            magnitude_prune(self.model, s, self.scope, self.include_readout)
            return s
        return None


# ---------------------------------------------------------------------------------------------- lottery tickets
class LotteryTicket:
    """Iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019; Frankle et al. 2019,
    "Stabilizing the Lottery Ticket Hypothesis").

    Train to step ``k`` and call `save_rewind_point`; train to the end; then each `prune_round` masks
    ``rate`` (20 %) of the *remaining* weights by |w| (globally, as open_lth ``sparse_global``) and
    rewinds every parameter to its step-``k`` value; retrain from step ``k`` with a fresh optimizer.
    Sparsity after L rounds is ``1 − (1 − rate)^L``, over the pruned layers: with ``scope="global"`` the
    readout is left dense unless ``include_readout=True`` (as `magnitude_prune`).
    """

    def __init__(self, model: nn.Module, rate: float = 0.2, scope: str = "global", include_readout: bool = False):
        if not 0 < rate < 1:
            raise ValueError(f"rate must be in (0, 1), got {rate}")
        self.pairs: list[Target] = _global_pairs(model, scope, include_readout)
        self.model, self.rate, self.scope = model, float(rate), scope
        self.include_readout = bool(include_readout)  # _global_pairs checked it
        self.rounds = 0
        self._rewind: dict | None = None

    def save_rewind_point(self) -> None:
        self._rewind = {k: v.detach().clone() for k, v in self.model.state_dict().items() if not k.endswith("_mask")}

    @property
    def sparsity(self) -> float:
        zeros = sum(int((effective_weight(m, n) == 0).sum()) for m, n in self.pairs)
        return zeros / sum(getattr(m, n).numel() for m, n in self.pairs)

    def target_after(self, rounds: int) -> float:
        return 1.0 - (1.0 - self.rate) ** rounds

    def prune_round(self) -> float:
        """Prune ``rate`` of the remaining weights, rewind to the saved point; returns the new sparsity."""
        if self._rewind is None:
            raise RuntimeError("call save_rewind_point() at the rewinding step before prune_round()")
        kept = sum(int((effective_weight(m, n) != 0).sum()) for m, n in self.pairs)
        total = sum(getattr(m, n).numel() for m, n in self.pairs)
        target = 1.0 - (kept - int(round(self.rate * kept))) / total
        magnitude_prune(self.model, target, self.scope, self.include_readout)
        state = self.model.state_dict()
        with torch.no_grad():
            for key, value in self._rewind.items():
                state[key].copy_(value)
        rezero(self.model)
        self.rounds += 1
        return self.sparsity


# ---------------------------------------------------------------------------------------------- prune and regrow
class PruneRegrow:
    """Dynamic sparse training: drop by |w|, grow by |grad| (zero-initialised), during training.

    RigL (Evci et al. 2020): start from a random ERK mask at ``sparsity``; every ``frequency`` steps up
    to ``end``, each layer drops the fraction ``f_t = α/2 · (1 + cos(π t / end))`` of its active weights
    with the smallest |w| and grows as many inactive ones with the largest |∂L/∂w|, set to zero (their
    optimizer state is reset). GraNet (Liu et al. 2021): give ``initial_sparsity < sparsity`` and each
    update first prunes globally by magnitude to the cubic target (`cubic_sparsity`), then drops and
    regrows. Call `step` after ``loss.backward()`` and before ``optimizer.step()``.
    """

    def __init__(
        self,
        model,
        sparsity: float,
        *,
        end: int,
        frequency: int = 100,
        drop_fraction: float = 0.3,
        initial_sparsity: float | None = None,
        distribution: str = "erk",
        optimizer: torch.optim.Optimizer | None = None,
        generator: torch.Generator | None = None,
    ):
        self.final = check_sparsity(sparsity)
        self.initial = self.final if initial_sparsity is None else check_sparsity(initial_sparsity, "initial_sparsity")
        if self.initial > self.final:
            raise ValueError(f"initial_sparsity ({self.initial}) must be <= sparsity ({self.final})")
        if not 0 < drop_fraction < 1 or frequency < 1 or end < 1:
            raise ValueError(
                f"need drop_fraction in (0, 1), frequency >= 1, end >= 1; got {drop_fraction}, {frequency}, {end}"
            )
        self.pairs = targets(model)
        self.end, self.frequency, self.alpha, self.optimizer = end, frequency, float(drop_fraction), optimizer
        random_prune(self.pairs, self.initial, distribution, generator)
        self.t = 0

    def drop_fraction_at(self, step: int) -> float:
        return self.alpha / 2 * (1 + math.cos(math.pi * min(step, self.end) / self.end))

    def step(self) -> bool:
        """Advance one step; update the masks if it is an update step. Returns whether it was."""
        self.t += 1
        update = self.t % self.frequency == 0 and self.t <= self.end
        if update:
            if self.initial < self.final:
                magnitude_prune(self.pairs, cubic_sparsity(self.t, self.final, 0, self.end, self.initial), "global")
            f = self.drop_fraction_at(self.t)
            for module, name in self.pairs:
                self._drop_grow(module, name, f)
        for module, name in self.pairs:  # inactive weights get no update
            grad = getattr(module, name).grad
            if grad is not None:
                grad.mul_(get_mask(module, name))
        return update

    @torch.no_grad()
    def _drop_grow(self, module: nn.Module, name: str, fraction: float) -> None:
        weight, mask = getattr(module, name), get_mask(module, name)
        grad = weight.grad
        if grad is None:
            raise RuntimeError("PruneRegrow.step() needs the gradients: call it after loss.backward()")
        active = mask.bool()
        n_swap = int(round(fraction * int(active.sum())))
        if n_swap == 0:
            return
        w_score = torch.where(active, weight.abs(), torch.full_like(weight, math.inf))
        drop = torch.topk(w_score.flatten(), n_swap, largest=False).indices
        kept = active.flatten().clone()
        kept[drop] = False
        g_score = torch.where(kept.view_as(weight), torch.full_like(grad, -math.inf), grad.abs())
        grow = torch.topk(g_score.flatten(), n_swap).indices
        new = kept.clone()
        new[grow] = True
        mask.copy_(new.view_as(mask).to(mask.dtype))
        weight.view(-1)[grow] = 0.0
        self._reset_state(weight, grow)

    def _reset_state(self, weight: torch.Tensor, index: torch.Tensor) -> None:
        if self.optimizer is None:
            return
        for value in self.optimizer.state.get(weight, {}).values():
            if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                value.view(-1)[index] = 0.0
