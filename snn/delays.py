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
T ≈ 100, D = 24; `benchmarks/bench_snn.py` measures the end-to-end gain. The DFT matrices grow as T²,
so inputs longer than `MAX_DFT_STEPS` are cut into chunks of `CHUNK_STEPS` steps, each convolved the
same way and overlap-added: memory O(T · channels) at any length, the same outputs and gradients.

The reference's ``max_delay`` is its kernel size D + 1 (25 for SHD); ours is the largest delay D (24).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from sdrnet.prune.masks import register_prunable

__all__ = ["DelayedLinear", "delay_taps", "delayed_linear", "sigma_at"]

SIGMA_OFFSET = 0.27  # the reference's Gaussian width is |σ| + 0.27
MAX_DFT_STEPS = 1024  # longer inputs are convolved in chunks of CHUNK_STEPS steps (memory O(T), not O(T²))
CHUNK_STEPS = 512
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


def delayed_linear(
    x: torch.Tensor, weight: torch.Tensor, delay: torch.Tensor, sigma: float | None, max_delay: int, tail: int
) -> torch.Tensor:
    """The layer's function: ``x [T, B, in]`` → ``y [T + tail, B, out]`` (module docstring's equation)."""
    if max_delay == 0:
        y = x @ weight.t()
        return torch.nn.functional.pad(y, (0, 0, 0, 0, 0, tail))
    kernel = delay_taps(delay, sigma, max_delay) * weight.t()  # [D + 1, in, out]
    if x.shape[0] <= MAX_DFT_STEPS:
        return _dft_convolve(x, kernel, tail)
    return _chunked_convolve(x, kernel, tail, max(CHUNK_STEPS, max_delay))


def _dft_convolve(x: torch.Tensor, kernel: torch.Tensor, tail: int) -> torch.Tensor:
    """``y[t] = Σ_k x[t − k] @ kernel[k]`` for ``t < T + tail``, by real-DFT matrix products (module docstring)."""
    n_steps, batch, n_in = x.shape
    n_taps, _, n_out = kernel.shape
    max_delay = n_taps - 1
    cx, sx, ck, sk, ci, si = _dft_matrices(n_steps, max_delay, tail, x.device, x.dtype)
    xf = x.reshape(n_steps, batch * n_in)
    x_re, x_im = (cx @ xf).view(-1, batch, n_in), (sx @ xf).view(-1, batch, n_in)
    kf = kernel.reshape(n_taps, n_in * n_out)
    k_re, k_im = (ck @ kf).view(-1, n_in, n_out), (sk @ kf).view(-1, n_in, n_out)
    # (x_re + i x_im)(k_re + i k_im) with three real products (Gauss)
    p1 = torch.matmul(x_re + x_im, k_re)
    p2 = torch.matmul(x_re, k_im - k_re)
    p3 = torch.matmul(x_im, k_re + k_im)
    n_freq = p1.shape[0]
    y = ci @ (p1 - p3).view(n_freq, -1) + si @ (p1 + p2).view(n_freq, -1)
    return y.view(n_steps + tail, batch, n_out)


def _chunked_convolve(x: torch.Tensor, kernel: torch.Tensor, tail: int, chunk: int) -> torch.Tensor:
    """`_dft_convolve` by overlap-add over chunks of ``chunk >= D`` steps: the DFT matrices stay
    O(chunk²) and the rest O(T · channels), whatever T (one long input would need O(T²) matrices).

    Chunk c holds steps [cL, cL + L) and is convolved in full (L + D outputs); its first L outputs land
    at cL.., the D after them overlap the next chunk's first D outputs and are added there.
    """
    n_steps, batch, n_in = x.shape
    n_taps, _, n_out = kernel.shape
    max_delay = n_taps - 1
    n_chunks = -(-n_steps // chunk)
    pad = torch.nn.functional.pad
    xc = pad(x, (0, 0, 0, 0, 0, n_chunks * chunk - n_steps)).view(n_chunks, chunk, batch, n_in)
    yc = _dft_convolve(xc.transpose(0, 1).reshape(chunk, n_chunks * batch, n_in), kernel, max_delay)
    yc = yc.view(chunk + max_delay, n_chunks, batch, n_out).transpose(0, 1)  # [C, L + D, B, out]
    head = yc[:, :chunk].reshape(n_chunks * chunk, batch, n_out)
    over = pad(yc[:, chunk:], (0, 0, 0, 0, 0, chunk - max_delay)).reshape(n_chunks * chunk, batch, n_out)
    y = pad(head, (0, 0, 0, 0, 0, chunk)) + pad(over, (0, 0, 0, 0, chunk, 0))
    return y[: n_steps + tail]


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


def _check_sigma(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{name} must be a finite number >= 0 (the Gaussian width is sigma + 0.27 steps) "
            f"or None (one-hot taps), got {value!r}"
        )
    return float(value)


def sigma_at(epoch: int, sigma_init: float, sigma_final: float = 0.23, final_epoch: int = 1) -> float:
    """The reference's width schedule: σ ← σ·(σ_final/σ_init)^(1/final_epoch) after each of the first
    ``final_epoch`` epochs, so ``σ(e) = σ_init · (σ_final/σ_init)^(min(e, final_epoch)/final_epoch)``.
    The reference shrinks σ only while it exceeds σ_final: ``σ_init <= σ_final`` (max_delay 1, say) stays."""
    if sigma_init <= sigma_final:
        return sigma_init
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
        Initial Gaussian σ >= 0 (the width is σ + 0.27); default ``max_delay // 2`` as the reference.
        Not learned; set it each epoch with `sigma_at` (the trainer does).
    learn_delays : bool
        False freezes the initial delays (`snn.models.DelaySNN` with ``delays='random'`` also rounds them:
        the reference's fixed-random-delay ablation).
    bias : bool
        The reference uses none (BatchNorm follows).

    Attributes
    ----------
    weight : Parameter ``[out, in]``, kaiming-uniform (ReLU gain) as the reference
    delay : Parameter ``[out, in]`` in steps, clamped to [0, max_delay] by `clamp`. Initialised as the
        reference's positions, U[−⌈D/2⌉, ⌊D/2⌋] clamped to ±⌊D/2⌋ for D = max_delay + 1 taps: uniform on
        [0, max_delay + 1) and clamped to max_delay, so 1/(max_delay + 1) of them (4 % for SHD) start at
        the largest delay.
    sigma : float or None (None after `discretize`)

    A state dict loads only into a layer of the same ``max_delay`` and ``tail``, with every delay finite
    and in [0, max_delay] (ValueError otherwise).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int = 24,
        tail: int | None = None,
        sigma: float | None = None,
        learn_delays: bool = True,
        bias: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, value, low in (
            ("in_features", in_features, 1),
            ("out_features", out_features, 1),
            ("max_delay", max_delay, 0),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        tail = max_delay // 2 if tail is None else tail
        if not isinstance(tail, int) or not 0 <= tail <= max_delay:
            raise ValueError(f"tail must be an int in [0, max_delay={max_delay}], got {tail!r}")
        self.in_features, self.out_features, self.max_delay, self.tail = in_features, out_features, max_delay, tail
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, nonlinearity="relu", generator=generator)
        delay = (torch.rand(out_features, in_features, generator=generator) * (max_delay + 1)).clamp_(max=max_delay)
        self.delay = nn.Parameter(delay, requires_grad=learn_delays and max_delay > 0)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.sigma = max_delay // 2 if sigma is None else sigma

    @property
    def sigma(self) -> float | None:
        return self._sigma

    @sigma.setter
    def sigma(self, value) -> None:
        self._sigma = None if value is None else _check_sigma("sigma", value)

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
        return {"sigma": self.sigma, "max_delay": self.max_delay, "tail": self.tail}

    def set_extra_state(self, state: dict) -> None:
        self.sigma = state["sigma"]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Refuse, before anything is copied, a state from a layer of another size or with delays out of range."""
        extra = state_dict.get(prefix + "_extra_state")
        if isinstance(extra, dict):
            for key in ("max_delay", "tail"):
                if key in extra and extra[key] != getattr(self, key):
                    raise ValueError(
                        f"{prefix}_extra_state: the state comes from a layer with {key}={extra[key]}, "
                        f"this layer has {key}={getattr(self, key)}; build it with {key}={extra[key]}"
                    )
            if extra.get("sigma") is not None:
                _check_sigma(f"{prefix}_extra_state['sigma']", extra["sigma"])
        delay = state_dict.get(prefix + "delay")
        if isinstance(delay, torch.Tensor) and delay.numel():
            bad = ~torch.isfinite(delay) | (delay < 0) | (delay > self.max_delay)
            if bad.any():
                raise ValueError(
                    f"{prefix}delay: {int(bad.sum())} of {delay.numel()} delays are not in "
                    f"[0, max_delay={self.max_delay}] (range {float(delay.min()):g} to "
                    f"{float(delay.max()):g}); a layer never holds such delays"
                )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        s = "discrete" if self.discrete else f"sigma={self.sigma:.3g}"
        return (
            f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, tail={self.tail}, {s}, "
            f"learn_delays={self.delay.requires_grad}, bias={self.bias is not None}"
        )


register_prunable(DelayedLinear)  # sdrnet.prune prunes its weights like nn.Linear's
