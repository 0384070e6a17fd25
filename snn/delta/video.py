"""A small video task built from real data: scikit-learn's 8×8 digits moving across a larger frame.

No video data set ships with a package, so each clip is one ``load_digits`` image translated at a
constant velocity (bouncing off the frame's edges, sub-pixel positions by bilinear interpolation)
with independent Gaussian sensor noise on every frame; the label is the digit. Train and test clips
use disjoint digit images (a fixed stratified split of the 1,797 images). Also: the small time-major
CNN of the demo, and its training loop with the delta penalty.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .layers import TimeDistributed, delta_layers, delta_penalty

__all__ = ["moving_digit_clips", "clip_cnn", "clip_logits", "train", "accuracy"]

_DIGIT = 8


def _digit_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.3, random_state=0, stratify=y)
    idx = idx_train if split == "train" else idx_test
    return (x[idx] / 16.0).reshape(-1, _DIGIT, _DIGIT).astype(np.float32), y[idx].astype(np.int64)


def _bounce(p: np.ndarray, high: float) -> np.ndarray:
    """Reflect positions into ``[0, high]`` (a digit bouncing off the frame's edges)."""
    p = np.mod(p, 2 * high)
    return np.where(p > high, 2 * high - p, p)


def _paste(frame: np.ndarray, digit: np.ndarray, y: float, x: float) -> None:
    """Add ``digit`` at sub-pixel position ``(y, x)`` (top-left corner) by bilinear weights."""
    iy, ix = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - iy, x - ix
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            frame[iy + dy : iy + dy + _DIGIT, ix + dx : ix + dx + _DIGIT] += wy * wx * digit


def moving_digit_clips(
    n_clips: int,
    *,
    split: str = "train",
    n_steps: int = 8,
    size: int = 16,
    speed: float = 1.0,
    noise: float = 0.05,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_clips`` clips of a digit moving at ``speed`` pixels per frame in a random direction.

    Returns ``x`` float32 ``[n_steps, n_clips, 1, size, size]`` (time-major; pixels in [0, 1] plus
    N(0, ``noise``²) per pixel and frame) and ``y`` int64 ``[n_clips]``. ``split`` picks the train
    (70 %) or test (30 %) digit images; the same arguments give the same clips.
    """
    for name, value, low in (("n_clips", n_clips, 1), ("n_steps", n_steps, 1), ("size", size, _DIGIT + 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not (np.isfinite(speed) and speed >= 0) or not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"speed and noise must be finite and >= 0, got {speed} and {noise}")
    images, labels = _digit_split(split)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(labels), n_clips)
    high = size - _DIGIT - 1.0
    start = rng.uniform(0, high, (n_clips, 2))
    angle = rng.uniform(0, 2 * np.pi, n_clips)
    velocity = speed * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    x = np.zeros((n_steps, n_clips, 1, size, size), np.float32)
    for b in range(n_clips):
        path = _bounce(start[b] + np.arange(n_steps)[:, None] * velocity[b], high)
        for t, (py, px) in enumerate(path):
            _paste(x[t, b, 0], images[pick[b]], py, px)
    x += rng.normal(0.0, noise, x.shape).astype(np.float32) if noise else 0.0
    return torch.from_numpy(x), torch.from_numpy(labels[pick])


def clip_cnn(
    size: int = 16, channels: tuple[int, int] = (8, 16), hidden: int = 64, n_classes: int = 10, seed: int = 0
) -> nn.Sequential:
    """Time-major CNN ``[T, B, 1, size, size] → [T, B, n_classes]`` (per-frame logits): two stride-2
    3×3 convs with ReLU, a hidden Linear with ReLU, a Linear readout."""
    if size % 4:
        raise ValueError(f"size must be a multiple of 4 (two stride-2 convs), got {size}")
    torch.manual_seed(seed)
    c1, c2 = channels
    return nn.Sequential(
        TimeDistributed(nn.Conv2d(1, c1, 3, stride=2, padding=1)),
        nn.ReLU(),
        TimeDistributed(nn.Conv2d(c1, c2, 3, stride=2, padding=1)),
        nn.ReLU(),
        nn.Flatten(2),
        nn.Linear(c2 * (size // 4) ** 2, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_classes),
    )


def clip_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One prediction per clip: the per-frame logits averaged over time, ``[B, n_classes]``."""
    return model(x).mean(dim=0)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float = 3e-3,
    batch_size: int = 64,
    penalty: float = 0.0,
    seed: int = 0,
) -> list[float]:
    """Adam on ``cross_entropy(clip_logits) + penalty · delta_penalty(model)``; returns the loss per epoch.

    ``penalty`` is the paper's ``sp_rate`` (0: plain training; > 0 needs delta layers in ``model``).
    """
    if penalty < 0:
        raise ValueError(f"penalty must be >= 0, got {penalty}")
    if penalty > 0 and not delta_layers(model):
        raise ValueError("penalty > 0 needs delta layers in model (see insert_delta)")
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(epochs):
        order, total = torch.randperm(x.shape[1], generator=gen), 0.0
        for start in range(0, x.shape[1], batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(clip_logits(model, x[:, batch]), y[batch])
            if penalty > 0:
                loss = loss + penalty * delta_penalty(model)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        losses.append(total / x.shape[1])
    model.eval()
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of clips whose time-averaged logits pick the right digit (eval mode)."""
    model.eval()
    return float((clip_logits(model, x).argmax(1) == y).float().mean())
