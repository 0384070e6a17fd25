"""`DelayedLinear`: a fully connected layer with one learnable weight and one learnable delay per synapse.

Hammouamri, Khalfaoui-Hassani & Masquelier (2023), "Learning Delays in Spiking Neural Networks using
Dilated Convolutions with Learnable Spacings" (DCLS): every synapse i→j is a one-tap kernel of a 1-D
convolution over time whose tap sits at the (continuous) delay d_ij and is spread by a Gaussian of width
σ that shrinks during training; at evaluation the delays are rounded to integer steps::

    y_j[t] = Σ_i w_ij Σ_{k=0}^{D} g_ij[k] · x_i[t − k],
    g_ij[k] = exp(−½((k − d_ij)/(|σ| + 0.27))²) / (Σ_k' exp(−½((k' − d_ij)/(|σ| + 0.27))²) + 1e-7)

(after discretisation ``g_ij[k] = [k = round(d_ij)]``), with D = ``max_delay`` and the output running
``tail`` steps past the input so late delayed spikes still arrive. This is exactly what the reference
builds with ``Dcls1d(version='gauss', dilated_kernel_size=D + 1)`` on input padded by (D, tail) steps,
with ``delay = D//2 − P`` for its position parameter P.

The reference builds a dense (D + 1)-tap kernel per synapse and runs a dense convolution: (D + 1)× the
multiply-accumulates of a linear layer, although each synapse has one tap. Here the convolution is done
exactly in the frequency domain, as matrix products only: a real DFT of the input and of the taps
(precomputed cosine/sine matrices), a complex product per frequency written as three real batched
matrix products (Gauss's trick), and the inverse DFT. With N ≈ T + D points that costs about
1.5·(T + D) multiply-adds per (batch, input, output) triple instead of T·(D + 1): ~8× fewer for SHD's
T ≈ 100, D = 24; `benchmarks/bench_snn.py` measures the end-to-end gain.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["DelayedLinear", "delay_taps", "delayed_linear", "sigma_at"]

SIGMA_OFFSET = 0.27  # the reference's Gaussian width is |σ| + 0.27
_DFT_CACHE: dict = {}


def delay_taps(delay: torch.Tensor, sigma: float | None, max_delay: int) -> torch.Tensor:
    """Per-synapse tap weights ``g[k, i, j]`` over delays ``k = 0..max_delay`` (module docstring's g).

    ``delay`` is ``[out, in]`` in steps; ``sigma=None`` gives one-hot taps at the rounded delays
    (the discretised layer).
    """
    k = torch.arange(max_delay + 1, dtype=delay.dtype, device=delay.device).view(-1, 1, 1)
    d = delay.t().unsqueeze(0)
    if sigma is None:
        return (k == torch.round(d)).to(delay.dtype)
    g = torch.exp(-0.5 * ((k - d) / (abs(sigma) + SIGMA_OFFSET)) ** 2)
    return g / (g.sum(0, keepdim=True) + 1e-7)


def delayed_linear(x: torch.Tensor, weight: torch.Tensor, delay: torch.Tensor, sigma: float | None,
                   max_delay: int, tail: int) -> torch.Tensor:
    """The layer's function: ``x [T, B, in]`` → ``y [T + tail, B, out]`` (module docstring's equation)."""
    if max_delay == 0:
        y = x @ weight.t()
        return torch.nn.functional.pad(y, (0, 0, 0, 0, 0, tail))
    n_steps, batch, n_in = x.shape
    n_out = weight.shape[0]
    kernel = delay_taps(delay, sigma, max_delay) * weight.t()  # [D + 1, in, out]
    cx, sx, ck, sk, ci, si = _dft_matrices(n_steps, max_delay, tail, x.device, x.dtype)
    xf = x.reshape(n_steps, batch * n_in)
    x_re, x_im = (cx @ xf).view(-1, batch, n_in), (sx @ xf).view(-1, batch, n_in)
    kf = kernel.reshape(max_delay + 1, n_in * n_out)
    k_re, k_im = (ck @ kf).view(-1, n_in, n_out), (sk @ kf).view(-1, n_in, n_out)
    # (x_re + i x_im)(k_re + i k_im) with three real products (Gauss)
    p1 = torch.matmul(x_re + x_im, k_re)
    p2 = torch.matmul(x_re, k_im - k_re)
    p3 = torch.matmul(x_im, k_re + k_im)
    n_freq = p1.shape[0]
    y = ci @ (p1 - p3).view(n_freq, -1) + si @ (p1 + p2).view(n_freq, -1)
    return y.view(n_steps + tail, batch, n_out)


def _dft_matrices(n_steps: int, max_delay: int, tail: int, device, dtype):
    """Real DFT matrices for a linear (not circular) convolution of T inputs with D + 1 taps.

    Forward: ``X[f] = Σ_t x[t] e^{−2πi f t / N}`` as cosine/sine rows; inverse of a Hermitian spectrum
    restricted to the first ``T + tail`` outputs: ``y[t] = (1/N) Σ_f a_f (Re Y cos + (−Im Y) sin)``
    with a_f = 1 at DC (and Nyquist), 2 elsewhere. N ≥ T + D (no wrap-around), 2·3·5-smooth.
    """
    key = (n_steps, max_delay, tail, device, dtype)
    if key not in _DFT_CACHE:
        n = _fast_length(n_steps + max_delay)
        f = torch.arange(n // 2 + 1, dtype=torch.float64)

        def forward(length):
            angle = 2 * math.pi * f[:, None] * torch.arange(length, dtype=torch.float64)[None, :] / n
            return torch.cos(angle), -torch.sin(angle)

        a = torch.full_like(f, 2.0)
        a[0] = 1.0
        if n % 2 == 0:
            a[-1] = 1.0
        angle = 2 * math.pi * torch.arange(n_steps + tail, dtype=torch.float64)[:, None] * f[None, :] / n
        mats = (*forward(n_steps), *forward(max_delay + 1), a * torch.cos(angle) / n, -a * torch.sin(angle) / n)
        if len(_DFT_CACHE) > 64:
            _DFT_CACHE.clear()
        _DFT_CACHE[key] = tuple(m.to(device=device, dtype=dtype).contiguous() for m in mats)
    return _DFT_CACHE[key]


def _fast_length(n: int) -> int:
    """Smallest m ≥ n whose only prime factors are 2, 3 and 5."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def sigma_at(epoch: int, sigma_init: float, sigma_final: float = 0.23, final_epoch: int = 1) -> float:
    """The reference's width schedule: σ ← σ·(σ_final/σ_init)^(1/final_epoch) after each of the first
    ``final_epoch`` epochs, so ``σ(e) = σ_init · (σ_final/σ_init)^(min(e, final_epoch)/final_epoch)``."""
    if final_epoch <= 0:
        return sigma_final
    return sigma_init * (sigma_final / sigma_init) ** (min(epoch, final_epoch) / final_epoch)


class DelayedLinear(nn.Module):
    """Fully connected synapses with learnable weights and learnable delays (DCLS, Gaussian taps).

    Input ``[T, B, in_features]`` (time-major), output ``[T + tail, B, out_features]``; see the module
    docstring for the equation and for the exact correspondence with the reference's ``Dcls1d``.

    Parameters
    ----------
    in_features, out_features : int
    max_delay : int
        Largest delay in steps (the reference's kernel of size ``max_delay + 1``; SHD recipe: 24).
        0 makes a plain linear layer.
    tail : int, optional
        Steps appended to the output; default ``max_delay // 2`` (the reference's right padding).
    sigma : float, optional
        Initial Gaussian σ (the width is |σ| + 0.27); default ``max_delay // 2`` as the reference.
        Not learned; set it each epoch with `sigma_at` (the trainer does).
    learn_delays : bool
        False freezes the (random) initial delays: the reference's fixed-random-delay ablation.
    bias : bool
        The reference uses none (BatchNorm follows).

    Attributes
    ----------
    weight : Parameter ``[out, in]``, kaiming-uniform (ReLU gain) as the reference
    delay : Parameter ``[out, in]`` in steps, uniform on [0, max_delay] at init, clamped there by `clamp`
    sigma : float or None (None after `discretize`)
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int = 24, tail: int | None = None,
                 sigma: float | None = None, learn_delays: bool = True, bias: bool = False,
                 generator: torch.Generator | None = None):
        super().__init__()
        for name, value, low in (("in_features", in_features, 1), ("out_features", out_features, 1),
                                 ("max_delay", max_delay, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        tail = max_delay // 2 if tail is None else tail
        if not isinstance(tail, int) or not 0 <= tail <= max_delay:
            raise ValueError(f"tail must be an int in [0, max_delay={max_delay}], got {tail!r}")
        self.in_features, self.out_features, self.max_delay, self.tail = in_features, out_features, max_delay, tail
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu", generator=generator)
        delay = torch.rand(out_features, in_features, generator=generator) * max_delay
        self.delay = nn.Parameter(delay, requires_grad=learn_delays and max_delay > 0)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.sigma = float(max_delay // 2 if sigma is None else sigma)

    @property
    def discrete(self) -> bool:
        return self.sigma is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must be [T, B, {self.in_features}] (time-major), got {tuple(x.shape)}")
        y = delayed_linear(x, self.weight, self.delay, self.sigma, self.max_delay, self.tail)
        return y if self.bias is None else y + self.bias

    @torch.no_grad()
    def clamp(self) -> None:
        """Keep delays in [0, max_delay] (the reference clamps positions after every batch)."""
        self.delay.clamp_(0, self.max_delay)

    @torch.no_grad()
    def discretize(self) -> DelayedLinear:
        """Round the delays to integer steps and use one-hot taps from now on (the reference's evaluation)."""
        self.clamp()
        self.delay.round_()
        self.sigma = None
        return self

    def integer_delays(self) -> torch.Tensor:
        """Delays rounded to steps, int64 ``[out, in]`` (what `discretize` and the exports use)."""
        return torch.round(self.delay.detach().clamp(0, self.max_delay)).long()

    def get_extra_state(self) -> dict:
        return {"sigma": self.sigma}

    def set_extra_state(self, state: dict) -> None:
        self.sigma = state["sigma"]

    def extra_repr(self) -> str:
        s = "discrete" if self.discrete else f"sigma={self.sigma:.3g}"
        return (f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, tail={self.tail}, {s}, "
                f"learn_delays={self.delay.requires_grad}, bias={self.bias is not None}")
