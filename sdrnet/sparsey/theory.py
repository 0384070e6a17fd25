"""Closed forms for a single macrocolumn: code similarity for a pair of inputs, and storage capacity.

Derived here for the CSA of :mod:`sdrnet.sparsey.csa` (not taken from Rinkus' papers, which give no
closed form); the tests and ``sdrnet sparsey`` compare them with simulations.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from .csa import CSAParams, expansivity, relative_likelihood


def pair_code_overlap(input_overlap, K: int, params: CSAParams = CSAParams()) -> np.ndarray:
    """Expected fraction of CMs in which input B gets input A's cell, in a fresh mac that stored only A.

    With ``o`` = |A ∩ B| / |B| the stored cells have ``U = o`` (so ``V = o^{e_U}`` and ``G = V``) and every
    other cell ``V = 0``; in learning mode a CM picks A's cell with probability
    ``ρ = μ(V) / (μ(V) + (K − 1) μ(0))``, with ``μ`` from η(G) (steps 6–7). A code overlap that grows
    with the input overlap is Sparsey's similarity preservation.
    """
    V = np.power(np.asarray(input_overlap, np.float64), params.u_exponent)
    eta = expansivity(V, K, params)
    mu = relative_likelihood(V[..., None, None], eta, params)[..., 0, 0]
    mu0 = relative_likelihood(np.zeros_like(V)[..., None, None], eta, params)[..., 0, 0]
    return mu / (mu + (K - 1) * mu0)


def recall_per_cm(M, n: int, a: int, K: int) -> np.ndarray:
    """Probability that recognition returns a stored pattern's cell in one CM, after M random patterns.

    Patterns have ``a`` of ``n`` inputs active and got uniformly random codes (novel inputs: G ≤ G⁻).
    A competitor cell that won ``m ~ Binomial(M − 1, 1/K)`` other patterns has ``U = 1`` for pattern x,
    tying the stored cell, with probability ``q_m ≈ (1 − (1 − a/n)^m)^a`` (each of x's inputs lies in
    the union of its patterns). With ``p = E[q_m]`` and ties going to the lower index, the stored cell
    wins with probability ``(1 − (1 − p)^K) / (K p)`` (1 when p = 0).
    """
    M = np.atleast_1d(np.asarray(M, np.int64))
    out = np.empty(M.shape)
    for i, stored in enumerate(M):
        m = np.arange(stored)
        p = float(np.sum(binom.pmf(m, stored - 1, 1.0 / K) * (1 - (1 - a / n) ** m) ** a))
        out[i] = 1.0 if p < 1e-12 else (1 - (1 - p) ** K) / (K * p)
    return out
