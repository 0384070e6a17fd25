"""A hierarchy of Sparsey levels tiling a 2-D input with overlapping receptive fields.

Level 0's macs read patches of the input grid; the macs of level l+1 read the codes of the level-l macs in
a patch of level l's mac grid (Rinkus 2014; sparsey.com's 6-level nets). Optional horizontal (H) input
carries the previous time step's codes of the neighbouring macs of the same level, and top-down (D)
input the previous time step's codes of the level above, so sequences get spatiotemporal codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..core.validation import check_int
from ..sdr import SDR, SDRBatch
from .csa import CSAParams
from .macrocolumn import Code, Level


@dataclass(frozen=True)
class LevelSpec:
    """One level: its macs' ``Q`` × ``K`` cells and how their receptive fields tile the grid below.

    ``patch`` and ``stride`` are in pixels for level 0 and in macs of the level below otherwise.
    ``horizontal``: H input from the 3×3 neighbourhood of macs (own mac included) at t − 1.
    ``top_down``: D input from the macs of the level above that read this mac, at t − 1.
    """

    Q: int
    K: int
    patch: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    params: CSAParams | None = None
    horizontal: bool = False
    top_down: bool = False
    freeze_at: float | None = None


def grid_fields(shape, patch, stride=1) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Flat indices of each ``patch`` of a ``shape`` = (H, W) or (H, W, C) grid (all C channels), moving by ``stride``.

    Returns the fields and the grid of patches. Patches cover the whole grid: when the stride does not
    divide it, the last patch is aligned with the edge.
    """
    (ph, pw), (sh, sw) = _pair("patch", patch), _pair("stride", stride)
    h, w, c = (*shape, 1) if len(shape) == 2 else shape
    if ph > h or pw > w:
        raise ValueError(f"patch {(ph, pw)} is larger than the grid {(h, w)}")
    rows, cols = _starts(h, ph, sh), _starts(w, pw, sw)
    grid = np.arange(h * w * c).reshape(h, w, c)
    fields = [grid[r : r + ph, q : q + pw].ravel() for r in rows for q in cols]
    return fields, (len(rows), len(cols))


def _starts(n: int, p: int, s: int) -> list[int]:
    starts = list(range(0, n - p + 1, s))
    return starts + [n - p] if starts[-1] != n - p else starts


def _pair(name: str, v) -> tuple[int, int]:
    a, b = (v, v) if np.isscalar(v) else tuple(v)
    return check_int(name, a, 1), check_int(name, b, 1)


class Hierarchy:
    """Levels of macrocolumns over a binary input of ``input_shape`` (H, W) or (H, W, C), C channels per pixel.

    ``learn(x, rng)`` presents one input bottom-up in learning mode (every level learns in one trial);
    ``recognize(X)`` runs recognition mode on a batch; ``learn_sequence``/``recognize_sequence`` present
    frames in order, with H and D inputs from the previous frame where the levels have them.
    """

    def __init__(self, input_shape: tuple[int, ...], levels: Sequence[LevelSpec], *, saturation_warning: float = 0.5):
        if len(input_shape) not in (2, 3):
            raise ValueError(f"input_shape must be (H, W) or (H, W, C), got {input_shape}")
        self.input_shape = tuple(check_int("input_shape", v, 1) for v in input_shape)
        if not levels:
            raise ValueError("levels must list at least one LevelSpec")
        specs = list(levels)
        fields, grids = [], []
        grid = self.input_shape
        for spec in specs:
            f, grid = grid_fields(grid, spec.patch, spec.stride)
            fields.append(f)
            grids.append(grid)
        self.grids = grids
        self.levels: list[Level] = []
        n_inputs = int(np.prod(self.input_shape))
        for i, spec in enumerate(specs):
            cells_below = 1 if i == 0 else specs[i - 1].Q * specs[i - 1].K
            rf = [_expand(f, cells_below) for f in fields[i]]
            level = Level(
                n_inputs,
                rf,
                spec.Q,
                spec.K,
                spec.params,
                freeze_at=spec.freeze_at,
                saturation_warning=saturation_warning,
                horizontal_fields=_neighbours(grids[i]) if spec.horizontal else None,
                **self._top_down(i, specs, fields, grids),
            )
            self.levels.append(level)
            n_inputs = level.n_cells

    @staticmethod
    def _top_down(i: int, specs, fields, grids) -> dict:
        if not specs[i].top_down:
            return {}
        if i + 1 == len(specs):
            raise ValueError(f"level {i} asks for top_down input but has no level above it")
        above = specs[i + 1]
        n_macs = grids[i][0] * grids[i][1]
        readers = [[] for _ in range(n_macs)]
        for m, f in enumerate(fields[i + 1]):
            for below in f:
                readers[below].append(m)
        return {
            "top_down_fields": [_expand(np.array(r), above.Q * above.K) for r in readers],
            "n_top_down": len(fields[i + 1]) * above.Q * above.K,
        }

    @property
    def n_cells(self) -> int:
        return sum(level.n_cells for level in self.levels)

    def learn(self, x, rng: np.random.Generator) -> list[Code]:
        """Learning mode, one static input: each level codes the level below's code and learns it."""
        codes, below = [], x
        for level in self.levels:
            codes.append(level.learn(below, rng))
            below = level.as_sdr(codes[-1])
        return codes

    def recognize(self, X) -> list[Code]:
        """Recognition mode on one input ``[n]`` or a batch ``[B, n]``; one ``overlap`` pass per level."""
        codes, below = [], X
        for level in self.levels:
            codes.append(level.recognize(below))
            below = level.as_sdr(codes[-1])
        return codes

    def learn_sequence(self, frames, rng: np.random.Generator) -> list[list[Code]]:
        """Learning mode over frames ``[T, n]``: H = own codes at t − 1, D = the level above's at t − 1."""
        return self._sequence(frames, rng)

    def recognize_sequence(self, frames) -> list[list[Code]]:
        """Recognition mode over frames ``[T, n]`` with the same H and D inputs as :meth:`learn_sequence`."""
        return self._sequence(frames, None)

    def _sequence(self, frames, rng) -> list[list[Code]]:
        previous: list[np.ndarray | None] = [None] * len(self.levels)
        out = []
        for frame in frames:
            current, below = [], frame
            for i, level in enumerate(self.levels):
                h = previous[i] if level.H is not None else None
                d = previous[i + 1] if level.D is not None else None
                code = level.learn(below, rng, h=h, d=d) if rng is not None else level.recognize(below, h=h, d=d)
                current.append(code)
                below = level.as_sdr(code)
            previous = [level.as_sdr(c).sparse for level, c in zip(self.levels, current)]
            out.append(current)
        return out

    def as_sdr(self, codes: list[Code]) -> SDR | SDRBatch:
        """The active cells of the codes at all levels (one input or a batch), numbered across the hierarchy."""
        parts = [level.as_sdr(c) for level, c in zip(self.levels, codes)]
        offsets = np.cumsum([0] + [level.n_cells for level in self.levels])
        if isinstance(parts[0], SDR):
            return SDR._trusted(self.n_cells, np.concatenate([p.sparse + o for p, o in zip(parts, offsets)]))
        rows = [
            np.concatenate([p.indices[p.indptr[b] : p.indptr[b + 1]] + o for p, o in zip(parts, offsets)])
            for b in range(len(parts[0]))
        ]
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        return SDRBatch._trusted(self.n_cells, np.concatenate(rows), indptr)


def _expand(macs: np.ndarray, cells_per_mac: int) -> np.ndarray:
    """The cells of the given macs (mac m owns cells ``m·cells_per_mac … (m+1)·cells_per_mac − 1``)."""
    return (np.asarray(macs, np.int64)[:, None] * cells_per_mac + np.arange(cells_per_mac)).ravel()


def _neighbours(grid: tuple[int, int]) -> list[np.ndarray]:
    rows, cols = np.divmod(np.arange(grid[0] * grid[1]), grid[1])
    near = (np.abs(rows[:, None] - rows[None, :]) <= 1) & (np.abs(cols[:, None] - cols[None, :]) <= 1)
    return [np.flatnonzero(r) for r in near]
