"""The code selection algorithm (CSA) of Sparsey, one step per function.

Rinkus (2010, Front. Neuroanat. 4:17; 2014, Front. Comput. Neurosci. 8:160). The papers' parameter
tables were not available to us; the steps and the default values follow the implementations that agree
on them (SparseyCore as documented by dcc-sparsey, Sparsey_Alt, sparseypy, pulinagrawal/sparsey-csa;
see ``shared/refs/sparsey_delta_neurobench.md``). Every variant choice is a field of :class:`CSAParams`.

Arrays of per-cell quantities have shape ``[..., Q, K]``: Q competitive modules (CMs) of K cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CSAParams:
    """Parameters of the code selection algorithm.

    Gate (step 1): a macrocolumn computes a code only when its number of active bottom-up inputs ``a``
    satisfies ``active_min <= a <= active_max`` (π⁻, π⁺; ``None`` means no upper bound).

    Combination (step 4): ``V = U**u_exponent · H**h_exponent · D**d_exponent`` over the input types
    that are present.

    Expansivity (step 6): ``η = 1 + [max(0, (G − G⁻)/(1 − G⁻))]**γ · χ · K`` with
    ``G⁻ = familiarity_min``, ``γ = gamma``, ``χ = chi`` (dcc-sparsey defaults 0.1, 2, 100).

    Sigmoid (step 7): ``μ = 1 + (η − 1) / (1 + exp(−λ (V − v₀)))`` with ``λ = sigmoid_slope`` and
    ``v₀ = sigmoid_center``: μ runs from 1 (V ≪ v₀) to η (V ≫ v₀). Sparsey_Alt's
    ``(η−1)/(1 + (0.1 e^{−4(V−1)})^8) + 1`` is this form with λ = 32, v₀ = 1 − ln(10)/4 ≈ 0.424.
    """

    active_min: int = 1
    active_max: int | None = None
    u_exponent: float = 1.0
    h_exponent: float = 1.0
    d_exponent: float = 1.0
    familiarity_min: float = 0.1
    gamma: float = 2.0
    chi: float = 100.0
    sigmoid_slope: float = 28.0
    sigmoid_center: float = 0.5

    def __post_init__(self):
        if (
            isinstance(self.active_min, bool)
            or not isinstance(self.active_min, (int, np.integer))
            or self.active_min < 0
        ):
            raise ValueError(f"active_min must be an int >= 0, got {self.active_min!r}")
        if self.active_max is not None and not (
            isinstance(self.active_max, (int, np.integer)) and self.active_max >= self.active_min
        ):
            raise ValueError(
                f"active_max must be None or an int >= active_min={self.active_min}, got {self.active_max!r}"
            )
        for name in ("u_exponent", "h_exponent", "d_exponent", "gamma", "chi", "sigmoid_slope"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not 0 <= self.familiarity_min < 1:
            raise ValueError(f"familiarity_min must be in [0, 1), got {self.familiarity_min!r}")
        if not np.isfinite(self.sigmoid_center):
            raise ValueError(f"sigmoid_center must be finite, got {self.sigmoid_center!r}")


def gate(n_active, params: CSAParams) -> np.ndarray:
    """Step 1: True where a macrocolumn may compute a code, ``π⁻ <= a <= π⁺``."""
    n_active = np.asarray(n_active)
    upper = np.inf if params.active_max is None else params.active_max
    return (n_active >= max(params.active_min, 1)) & (n_active <= upper)


def normalize(raw, n_active, w_max: float = 1.0, *, absent: float = 0.0) -> np.ndarray:
    """Step 3: ``X_i = min(1, x_i / (a · w_max))`` — the fraction of the active inputs a cell is connected to.

    ``raw`` ``[..., Q, K]`` are the step-2 sums ``x_i = Σ_j active_j · w_ji``; ``n_active`` (broadcastable
    to ``raw``) the number of active inputs of that type in each cell's receptive field. Where none is
    active the result is ``absent``: 0 for U (such a mac is gated off anyway), 1 for H and D, so that
    step 4 skips an input type that is absent from a cell's field, as SparseyCore does.
    """
    raw = np.asarray(raw, np.float64)
    denom = np.asarray(n_active, np.float64) * w_max
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, np.minimum(raw / denom, 1.0), absent)


def combine(params: CSAParams, U, H=None, D=None) -> np.ndarray:
    """Step 4: ``V_i = U_i^{e_U} · H_i^{e_H} · D_i^{e_D}`` over the present input types.

    ``None`` marks a type absent for every cell; a type absent for some cells only is 1 there
    (:func:`normalize` with ``absent=1``), so ``X^e = 1`` drops it from their product.
    """
    V = np.power(U, params.u_exponent)
    for X, e in ((H, params.h_exponent), (D, params.d_exponent)):
        if X is not None:
            V = V * np.power(X, e)
    return V


def familiarity(V) -> np.ndarray:
    """Step 5: ``G = (1/Q) Σ_q max_{i ∈ CM q} V_i`` — how familiar the input is, in [0, 1]."""
    return np.asarray(V).max(axis=-1).mean(axis=-1)


def expansivity(G, K: int, params: CSAParams) -> np.ndarray:
    """Step 6: ``η = 1 + [max(0, (G − G⁻)/(1 − G⁻))]^γ · χ · K``: the sigmoid's height."""
    g = np.maximum(0.0, (np.asarray(G, np.float64) - params.familiarity_min) / (1.0 - params.familiarity_min))
    return 1.0 + g**params.gamma * params.chi * K


def relative_likelihood(V, eta, params: CSAParams) -> np.ndarray:
    """Step 7: ``μ_i = 1 + (η − 1) / (1 + exp(−λ (V_i − v₀)))``, ``η`` ``[...]`` per macrocolumn."""
    eta = np.asarray(eta, np.float64)[..., None, None]
    z = np.clip(-params.sigmoid_slope * (np.asarray(V) - params.sigmoid_center), -700, 700)
    return 1.0 + (eta - 1.0) / (1.0 + np.exp(z))


def win_probabilities(mu) -> np.ndarray:
    """Step 8a: ``ρ_i = μ_i / Σ_{j ∈ CM} μ_j``."""
    mu = np.asarray(mu, np.float64)
    return mu / mu.sum(axis=-1, keepdims=True)


def draw_winners(rho, rng: np.random.Generator) -> np.ndarray:
    """Step 8b: one winner per CM drawn from ``ρ``, independently across CMs: int ``[..., Q]``."""
    cum = np.cumsum(rho, axis=-1)
    r = rng.random(cum.shape[:-1])[..., None] * cum[..., -1:]
    return np.minimum((cum <= r).sum(axis=-1), cum.shape[-1] - 1)


def select_code(V, params: CSAParams, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Steps 5–8: winners ``[..., Q]`` and familiarity ``G`` ``[...]`` from ``V`` ``[..., Q, K]``.

    With ``rng`` (learning mode) the winners are drawn from ``ρ``, so a familiar input (G → 1, η large)
    gets back its stored code and a novel one (G ≤ G⁻, η = 1, ρ uniform) a fresh random code. With
    ``rng=None`` (recognition mode) the winner of each CM is ``argmax V`` (ties: the lower index).
    """
    G = familiarity(V)
    if rng is None:
        return np.argmax(V, axis=-1), G
    eta = expansivity(G, np.shape(V)[-1], params)
    return draw_winners(win_probabilities(relative_likelihood(V, eta, params)), rng), G
