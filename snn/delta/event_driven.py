"""Event-driven inference of a trained delta network on the sparse core (`sdrnet.core`).

Each delta layer sends its changes ``Δ_t``, of which only the non-zero ones do work; the next Linear/Conv,
lowered to `sdrnet.core.Synapses` (a conv by im2col-style connectivity), delivers them and each unit
integrates ``z_t = z_{t−1} + W·Δ_t`` (``z_{−1} = b``), which equals ``W·q_t + b`` — the dense network's
pre-activation — so the output is the dense output (Yousefzadeh & Sifalakis, Sec. 3: temporal sparsity
becomes skipped multiply-accumulates). Work done = number of non-zero Δ × fan-out, per layer.
Where every neuron is ReLU/`DeltaActivation` (the usual case), each clip runs through all layers step by step
in one fused event-driven pass (`snn.delta.kernels`); otherwise, or with ``kernel="batched"``, each layer takes
every (step, clip) Δ as a row of `sdrnet.core.sparse_matmul` and the neurons run in torch. Both add each
unit's ``W·Δ_t`` in float32 in ascending presynaptic order (one step of `sdrnet.core.propagate`) and the
running sum in float64, so they give the same bits.

When the two agree exactly. Both compute the same pre-activation ``z = W·q + b`` but add it up in
different orders (the dense forward per frame, the core as a running sum of ``W·Δ``), so in float32
they differ by rounding. A quantiser ``θ·round(z/θ)`` turns that into a whole step θ wherever ``z``
lies within rounding of a boundary ``(k + ½)θ``, and the output then moves by ``θ·|w|`` downstream
(``benchmarks/bench_delta.py`` at 2 px/frame: 0.18). The outputs are bit-identical — boundaries
included — when every sum is exact in float32 whatever its order (`EventRun.exact`): each Linear/Conv
is fed by a `DeltaActivation` whose θ are powers of two (``2^e`` at the least), its weights are
multiples of ``2^g`` and its biases of ``2^h``, and for this input ``2·Σ_i |w_ji|·max|q| + |b_j| ≤
2^24 · 2^min(e+g, h)`` (float32's 24-bit significand) — as for fixed-point weights with a power-of-two
scale. This assumes the dense model runs in float32 on the CPU with a direct convolution (not
Winograd/FFT or TF32).
Otherwise they agree up to float rounding except at quantisations that straddle a boundary.

`EventDrivenNet` is a `sdrnet.core.CoreModel`: ``run`` returns a `DeltaRunResult` (a `sdrnet.core.RunResult`
whose ``records`` always hold the Δ ``events``, the ``dense_synops`` and whether the sums were ``exact``, per
connection layer, also read as arrays through its attributes of those names). Importing this module registers
the family with `sdrnet.core.to_core` (``"delta"``): ``to_core(model, input_shape=(1, 16, 16))``.
"""

from __future__ import annotations

import copy
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np
import torch
from torch import nn

from sdrnet.core import CoreModel, Events, RunResult, Synapses, sparse_matmul
from sdrnet.core.protocol import register_core
from sdrnet.core.validation import as_array, check_dt, check_int

from . import kernels
from .layers import _LINEAR_PASS, DELTAS, DeltaActivation, _check_sequential, _check_time_major, _connection, _flat

__all__ = ["conv2d_to_synapses", "linear_to_synapses", "EventDrivenNet", "DeltaRunResult", "EventRun"]


def _conv_out(n: int, k: int, s: int, p: int, d: int) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def conv2d_to_synapses(conv: nn.Conv2d, in_shape) -> tuple[Synapses, tuple[int, int, int], int]:
    """Lower a ``Conv2d`` on ``in_shape = (C, H, W)`` to synapses between flattened ``(c, y, x)`` units.

    Synapse ``(ci, iy, ix) → (co, oy, ox)`` with weight ``W[co, ci, ky, kx]`` for
    ``iy = oy·s − p + ky·d`` (same in x) inside the input; zero weights are not stored.
    Returns the synapses, the output shape ``(C_out, H_out, W_out)`` and the number of
    (input, weight) pairs the dense conv multiplies (zero weights included: NeuroBench's dense count).
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be a torch.nn.Conv2d, got {type(conv).__name__}")
    if conv.groups != 1 or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise ValueError("conv must have groups=1, padding_mode='zeros' and numeric padding")
    if len(in_shape) != 3 or in_shape[0] != conv.in_channels:
        raise ValueError(f"in_shape must be (C={conv.in_channels}, H, W), got {tuple(in_shape)}")
    w = conv.weight.detach().cpu().numpy()
    c_out, c_in, kh, kw = w.shape
    _, h, wd = in_shape
    (sy, sx), (py, px), (dy, dx) = conv.stride, conv.padding, conv.dilation
    ho, wo = _conv_out(h, kh, sy, py, dy), _conv_out(wd, kw, sx, px, dx)
    co, ci, ky, kx, oy, ox = np.meshgrid(*(np.arange(n) for n in (c_out, c_in, kh, kw, ho, wo)), indexing="ij")
    iy, ix = oy * sy - py + ky * dy, ox * sx - px + kx * dx
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd)
    co, ci, ky, kx, oy, ox, iy, ix = (a[inside] for a in (co, ci, ky, kx, oy, ox, iy, ix))
    weight = w[co, ci, ky, kx]
    keep = weight != 0
    pre = ((ci * h + iy) * wd + ix)[keep]
    post = ((co * ho + oy) * wo + ox)[keep]
    syn = Synapses.from_edges(pre, post, weight[keep], n_pre=c_in * h * wd, n_post=c_out * ho * wo)
    return syn, (c_out, ho, wo), int(inside.sum())


def linear_to_synapses(linear: nn.Linear) -> tuple[Synapses, tuple[int], int]:
    """``nn.Linear`` as synapses (bias left out), its output shape and its dense pair count ``in × out``."""
    return (
        Synapses.from_linear(linear, bias="ignore"),
        (linear.out_features,),
        linear.in_features * linear.out_features,
    )


class DeltaRunResult(RunResult):
    """What `EventDrivenNet.run` returns: a `sdrnet.core.RunResult` (``output`` float32 ``[T, B, *out]``, ``state``
    None, ``synops`` and ``kernels`` per connection layer) whose ``records`` hold, per connection layer ``l``,
    ``records["events"][l]`` (Δ events sent into it), ``records["dense_synops"][l]`` (what the dense forward
    multiplies) and ``records["exact"][l]`` (its sums were exact in float32). The attributes give them as the
    deprecated `EventRun` did."""

    __slots__ = ()

    @property
    def events(self) -> np.ndarray:
        """Δ events sent into each connection layer, int64 ``[L]``."""
        return np.array(list(self.records["events"].values()), np.int64)

    @property
    def dense_synops(self) -> np.ndarray:
        """What the dense forward multiplies per connection layer, int64 ``[L]``."""
        return np.array(list(self.records["dense_synops"].values()), np.int64)

    @property
    def exact(self) -> bool:
        """Every sum of this run was exact in float32, so ``output`` is bit for bit the dense ``model(x)`` (the
        condition in the module docstring)."""
        return all(self.records["exact"].values())


class EventRun(NamedTuple):
    """What the deprecated `EventDrivenNet.run_events` returns (`DeltaRunResult` holds the same).

    output : float32 ``[T, B, ...]``, the network output at every step;
    synops : operations done per connection layer (non-zero Δ × fan-out), int64 ``[L]``;
    dense_synops : what the dense forward multiplies per layer, int64 ``[L]``;
    events : Δ events sent into each connection layer, int64 ``[L]``;
    exact : every sum of this run was exact in float32, so ``output`` is bit for bit the dense
        ``model(x)`` (the condition in the module docstring);
    kernels : what each connection layer ran: ``"event"`` (the fused event-driven pass, or `sdrnet.core.sparse_matmul`'s
        event kernel) or ``"batched"``.
    """

    output: np.ndarray
    synops: np.ndarray
    dense_synops: np.ndarray
    events: np.ndarray
    exact: bool
    kernels: tuple[str, ...] = ()


class _Stage(NamedTuple):
    synapses: Synapses
    bias: np.ndarray
    out_shape: tuple
    pairs: int
    neuron: nn.Sequential  # elementwise modules after the connection, ending with a delta layer (or not, last)
    row_l1: np.ndarray  # Σ_i |w_ji| per unit j
    q_grid: float | None  # log2 θ of the delta layer feeding the stage, if every θ is a power of two
    grid: float | None  # log2 of the grid that every product w·q and bias lies on (None: no such grid)
    fused: _Fused | None  # the stage for `kernels.network_kernel` (None: its neuron has other modules)


class _Fused(NamedTuple):
    """A stage's synapses as runs of consecutive posts in internal order ``k`` (channel-last for a conv), and its
    neuron as op codes: run ``r`` of presynaptic unit ``i`` (``run_ptr[i] ≤ r < run_ptr[i + 1]``) adds
    ``weight[run_w[r] + m]·Δ_i`` to posts ``run_post[r] + m``, ``m < run_len[r]``; unit ``j`` is post
    ``internal[j]``."""

    run_ptr: np.ndarray
    run_post: np.ndarray
    run_len: np.ndarray
    run_w: np.ndarray
    weight: np.ndarray
    fan_out: np.ndarray
    internal: np.ndarray
    bias: np.ndarray
    ops: np.ndarray
    theta: np.ndarray
    inv_theta: np.ndarray


class EventDrivenNet(CoreModel):
    """A trained time-major ``nn.Sequential`` with delta layers, run event-driven on the core.

    The model must begin with a delta layer (the input is sent as changes, ``insert_delta(on_input=True)``)
    and every Linear/Conv2d must be fed by a delta layer (only Flatten/Identity/Dropout between).
    ``input_shape`` is one frame's shape, e.g. ``(1, 16, 16)``. Linear/Conv2d are supported
    (Conv2d with ``groups=1``, zero padding). ``dt`` is the frame period in seconds (None: frames without a
    stated length). A `sdrnet.core.CoreModel` that runs whole clips from rest (no state across calls);
    `scores` averages the output over time, as `snn.delta.clip_logits` does.
    """

    def __init__(self, model: nn.Sequential, input_shape, dt: float | None = None):
        _check_sequential(model)
        self.dt = check_dt(dt)
        leaves = [copy.deepcopy(m).eval() for m in _flat(model)]
        if not leaves or not isinstance(leaves[0], DELTAS):
            raise ValueError(
                "model must begin with a delta layer, so that its input arrives as events "
                "(insert_delta(..., on_input=True))"
            )
        for m in leaves:
            if isinstance(m, DELTAS):
                m.output = "values"
        self.input_shape = tuple(int(s) for s in input_shape)
        self.input_delta = leaves[0]
        self.stages = self._lower(leaves[1:])

    def _lower(self, leaves) -> list[_Stage]:
        shapes = _trace_shapes(nn.Sequential(self.input_delta, *leaves), self.input_shape)
        stages, fed, feeder = [], True, self.input_delta
        i = 0
        while i < len(leaves):
            m = leaves[i]
            conn = _connection(m)
            if conn is None:
                if not (fed and isinstance(m, _LINEAR_PASS)):
                    raise ValueError(
                        f"{type(m).__name__} at position {i + 1} is neither a connection fed by a "
                        "delta layer nor part of one's neuron (a delta layer must precede every "
                        "Linear/Conv, with only Flatten/Identity/Dropout between)"
                    )
                i += 1
                continue
            if not fed:
                raise ValueError(f"{type(conn).__name__} at position {i + 1} is not fed by a delta layer")
            if isinstance(conn, nn.Conv2d):
                syn, out_shape, pairs = conv2d_to_synapses(conn, shapes[id(m)])
            elif isinstance(conn, nn.Linear):
                syn, out_shape, pairs = linear_to_synapses(conn)
            else:
                raise TypeError(f"only Linear and Conv2d can be lowered to synapses, got {type(conn).__name__}")
            bias = (
                np.zeros(syn.n_post, np.float64)
                if conn.bias is None
                else np.repeat(conn.bias.detach().cpu().double().numpy(), syn.n_post // conn.bias.numel())
            )
            j = i + 1
            while j < len(leaves) and not isinstance(leaves[j - 1], DELTAS) and _connection(leaves[j]) is None:
                j += 1
            neuron = nn.Sequential(*leaves[i + 1 : j])
            fed = j > i + 1 and isinstance(leaves[j - 1], DELTAS)
            q_grid, g_w, g_b = _theta_exponent(feeder), _grid_exponent(syn.weight), _grid_exponent(bias)
            grid = None if q_grid is None or np.isnan(g_w) or np.isnan(g_b) else min(q_grid + g_w, g_b)
            row_l1 = np.bincount(syn.post, np.abs(syn.weight.astype(np.float64)), minlength=syn.n_post)
            fused = _fuse(syn, bias, out_shape, neuron)
            stages.append(_Stage(syn, bias, out_shape, pairs, neuron, row_l1, q_grid, grid, fused))
            feeder = leaves[j - 1]
            i = j
        if not stages:
            raise ValueError("model holds no Linear/Conv2d to run")
        return stages

    @property
    def n_inputs(self) -> int:
        return math.prod(self.input_shape)

    @property
    def n_outputs(self) -> int:
        return math.prod(self.stages[-1].out_shape)

    @torch.no_grad()
    def run(self, events, state=None, n_steps: int | None = None, record=(), kernel: str = "auto") -> DeltaRunResult:
        """Run clips ``events``: a float ``[T, B, *input_shape]`` torch tensor or numpy array, or an `Events` of
        ``prod(input_shape)`` units (frames flattened in C order); the output ``[T, B, *out]`` equals ``model(x)``
        up to float rounding (bit for bit where ``exact``). ``n_steps`` (default T) runs the first ``n_steps``
        frames, or after the last frame as many zero frames as it asks more. ``state`` must be None (each run
        starts from rest) and ``record`` empty: the `DeltaRunResult`'s ``records`` always hold ``events``,
        ``dense_synops`` and ``exact`` per connection layer.

        ``kernel="event"`` (what ``"auto"`` runs where every neuron is ReLU/`DeltaActivation`/pass-through) runs
        each stage in one fused event-driven pass per clip (`snn.delta.kernels`); ``"batched"`` (and ``"auto"``
        otherwise) takes every (step, clip) ``Δ`` as one row of `sdrnet.core.sparse_matmul`, forcing its batched
        kernel for ``"batched"``. The choice does not change the output."""
        if state is not None:
            raise ValueError(
                f"an EventDrivenNet runs each clip from rest: state must be None, got {type(state).__name__}"
            )
        if record:
            raise ValueError(
                f"record must be empty (the records always hold events, dense_synops and exact), got {record!r}"
            )
        x = self._clips(events, n_steps)
        if kernel not in ("auto", "event", "batched"):
            raise ValueError(f"kernel must be one of 'auto', 'event', 'batched', got {kernel!r}")
        fusable = all(stage.fused is not None for stage in self.stages)
        if kernel == "event" and not fusable:
            raise ValueError(
                "kernel='event' needs every neuron to be ReLU, DeltaActivation or "
                "Flatten/Identity/Dropout; use 'auto' or 'batched'"
            )
        n_steps, n_samples = x.shape[:2]
        q = np.ascontiguousarray(_input_values(self.input_delta, x).reshape(n_steps, n_samples, -1), np.float32)
        if kernel != "batched" and fusable:
            q, maxima, counts = _fused_run(q, self.stages)
        else:
            maxima, counts = [], []
            for stage in self.stages:
                q, q_max, count = _matmul_stage(q, stage, kernel)
                maxima.append(q_max)
                counts.append(count)
        synops, n_events, kernels_used = zip(*counts)
        records = {
            "events": dict(enumerate(n_events)),
            "dense_synops": {i: stage.pairs * n_steps * n_samples for i, stage in enumerate(self.stages)},
            "exact": {i: _exact_sums(stage, q_max) for i, (stage, q_max) in enumerate(zip(self.stages, maxima))},
        }
        return DeltaRunResult(
            q.reshape(n_steps, n_samples, *self.stages[-1].out_shape),
            None,
            np.array(synops, np.int64),
            records,
            kernels=tuple(kernels_used),
        )

    def run_events(self, x: torch.Tensor, kernel: str = "auto") -> EventRun:
        """Deprecated: `run` (a `DeltaRunResult` holds the same). Returns the `EventRun` of ``run(x, kernel=kernel)``."""
        warnings.warn(
            "EventDrivenNet.run_events is deprecated: use EventDrivenNet.run (a DeltaRunResult with "
            "output, synops, dense_synops, events, exact and kernels)",
            DeprecationWarning,
            stacklevel=2,
        )
        r = self.run(x, kernel=kernel)
        return EventRun(r.output, r.synops, r.dense_synops, r.events, r.exact, r.kernels)

    def scores(self, result: RunResult) -> np.ndarray:
        """Class scores ``[B, n_outputs]``: the output averaged over time (`snn.delta.clip_logits`)."""
        out = result.output
        return out.reshape(*out.shape[:2], -1).mean(0)

    def _clips(self, x, n_steps: int | None) -> torch.Tensor:
        """The clips ``x`` (`run`'s ``events``) as a floating-point torch tensor ``[T, B, *input_shape]``, cut or padded with zero frames to
        ``n_steps``."""
        shape = ", ".join(map(str, self.input_shape))
        if isinstance(x, Events):
            if x.n_units != self.n_inputs:
                raise ValueError(f"events must have n_units = prod(input_shape) = {self.n_inputs}, got {x.n_units}")
            if x.dt is not None and self.dt is not None and not np.isclose(x.dt, self.dt, rtol=1e-9, atol=0):
                raise ValueError(f"events.dt ({x.dt} s) differs from the network's dt ({self.dt} s)")
            x = torch.from_numpy(x.to_dense().reshape(x.n_steps, x.n_samples, *self.input_shape))
        elif isinstance(x, np.ndarray):
            x = as_array("events", x, kind="f")
            if x.dtype.kind != "f":
                raise TypeError(f"events must be a floating-point array, got {x.dtype}")
            x = torch.from_numpy(x)
        elif not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(
                f"events must be a floating-point torch.Tensor, numpy array or Events, got {type(x).__name__}"
            )
        if x.dim() != 2 + len(self.input_shape) or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(f"events must have shape [T, B, {shape}], got {tuple(x.shape)}")
        if n_steps is None:
            return x
        n_steps = check_int("n_steps", n_steps, 1)
        if n_steps <= x.shape[0]:
            return x[:n_steps]
        return torch.cat([x, x.new_zeros(n_steps - x.shape[0], *x.shape[1:])])


def _to_core(model: nn.Sequential, dt: float | None = None, input_shape=None) -> EventDrivenNet:
    if input_shape is None:
        raise TypeError("to_core of a delta network needs input_shape= (one frame's shape, e.g. (1, 16, 16))")
    return EventDrivenNet(model, input_shape, dt=dt)


def _matches(model) -> bool:
    """An ``nn.Sequential`` holding a delta layer."""
    return isinstance(model, nn.Sequential) and any(isinstance(m, DELTAS) for m in _flat(model))


register_core("delta", _matches, _to_core)


def _input_values(layer, x: torch.Tensor) -> np.ndarray:
    """The input delta layer's values: a `DeltaActivation`'s ``θ·round(x/θ)`` in numpy (the same float32 operations
    as torch, so the same bits, without waking torch's thread pool, whose threads would then spin on the cores
    the kernel's threads need), any other layer in torch."""
    if not isinstance(layer, DeltaActivation):
        return layer(x.float()).numpy()
    _check_time_major(x, layer.per, layer.channels)
    theta = layer.theta(x.dim()).detach().float().numpy()
    values = x.detach().float().numpy()
    return theta * np.round(values / theta)


_PARALLEL_ELEMENTS = 1 << 18  # below this many (step, clip, unit) states threads cost more than they save


def _fused_run(q: np.ndarray, stages: list[_Stage]):
    """Every stage by `kernels.network_kernel`, clip by clip: the last stage's output ``[T, B, n_post]``, each
    stage's input max |q| and its (synops, events) counts."""
    n_steps, n_samples, n_in = q.shape
    net = tuple(zip(*(s.fused for s in stages)))  # one tuple per field, one entry per stage
    out = np.empty((n_steps, n_samples, stages[-1].fused.internal.size), np.float32)
    stats = np.zeros((n_samples, len(stages), 2), np.int64)
    q_max = np.zeros((n_samples, len(stages)), np.int32)
    states = n_steps * n_samples * (n_in + sum(s.fused.internal.size for s in stages))
    n_threads = min(numba.get_num_threads(), n_samples) if states >= _PARALLEL_ELEMENTS else 1
    bounds = [n_samples * k // n_threads for k in range(n_threads + 1)]
    if n_threads == 1:
        kernels.network_kernel(q, net, out, stats, q_max, 0, n_samples)
    else:
        with ThreadPoolExecutor(n_threads) as pool:
            list(
                pool.map(
                    lambda k: kernels.network_kernel(q, net, out, stats, q_max, bounds[k], bounds[k + 1]),
                    range(n_threads),
                )
            )
    maxima = q_max.max(axis=0, initial=0).view(np.float32).astype(float)
    return out, maxima, [(int(n[1]), int(n[0]), "event") for n in stats.sum(axis=0)]


def _matmul_stage(q: np.ndarray, stage: _Stage, kernel: str):
    """One stage by `sdrnet.core.sparse_matmul` over (step, clip) rows, the neuron in torch."""
    n_steps, n_samples, _ = q.shape
    flat = q.astype(np.float64)
    delta = np.diff(flat, axis=0, prepend=0.0).astype(np.float32)
    result = sparse_matmul(delta.reshape(n_steps * n_samples, -1), stage.synapses, kernel)
    current = result.out.reshape(n_steps, n_samples, -1)
    z = np.cumsum(current, axis=0, dtype=np.float64) + stage.bias
    out = stage.neuron(torch.from_numpy(z.astype(np.float32)).reshape(n_steps, n_samples, *stage.out_shape))
    return (
        out.reshape(n_steps, n_samples, -1).numpy(),
        float(np.abs(flat).max(initial=0.0)),
        (result.synops, result.events, result.kernel),
    )


def _fuse(syn: Synapses, bias: np.ndarray, out_shape, neuron: nn.Sequential) -> _Fused | None:
    """The stage as `_Fused`, or None if its neuron holds a module other than ReLU, `DeltaActivation` and
    Flatten/Identity/Dropout."""
    ops, theta = [], []
    for m in neuron:
        if isinstance(m, nn.ReLU):
            ops.append(kernels.RELU)
            theta.append(np.ones(syn.n_post, np.float32))
        elif isinstance(m, DeltaActivation):
            th = m.theta(2 + len(out_shape)).detach().float().numpy()
            mantissa, exponent = np.frexp(th)
            pow2 = np.all(mantissa == 0.5) and exponent.max() - 1 <= 126  # 1/θ a normal float32
            ops.append(kernels.QUANTIZE_POW2 if pow2 else kernels.QUANTIZE)
            theta.append(np.broadcast_to(th.reshape(th.shape[2:]), out_shape).ravel().astype(np.float32))
        elif not isinstance(m, _LINEAR_PASS):
            return None
    # internal order k: channel-last (y, x, c) for a conv, so each input's fan-out is runs of c_out posts
    units = np.arange(syn.n_post).reshape(out_shape)
    perm = (units.transpose(1, 2, 0) if len(out_shape) == 3 else units).ravel().astype(np.int64)
    internal = np.empty(perm.size, np.uint32)
    internal[perm] = np.arange(perm.size)
    pre = np.repeat(np.arange(syn.n_pre), np.diff(syn.indptr))
    k = internal[syn.post].astype(np.int64)
    order = np.lexsort((k, pre))
    pre, k, weight = pre[order], k[order], syn.weight[order]
    starts = np.flatnonzero(np.r_[True, (np.diff(k) != 1) | (np.diff(pre) != 0)]) if k.size else np.zeros(0, int)
    lengths = np.diff(np.r_[starts, k.size])
    run_ptr = np.searchsorted(pre[starts], np.arange(syn.n_pre + 1)).astype(np.int64)
    theta = np.array(theta, np.float32).reshape(len(ops), syn.n_post)
    return _Fused(
        run_ptr,
        k[starts].astype(np.int64),
        lengths.astype(np.int64),
        starts.astype(np.int64),
        np.ascontiguousarray(weight, np.float32),
        np.diff(syn.indptr).astype(np.int64),
        internal,
        bias,
        np.array(ops, np.int64),
        theta,
        1 / theta,
    )


_FLOAT32_BITS = 24  # significand bits: integers up to 2^24 are exact in float32


def _grid_exponent(values) -> float:
    """The largest ``g`` with every value an integer multiple of ``2^g`` (``inf`` if all are 0, ``nan`` if any
    is not finite)."""
    v = np.abs(np.asarray(values, np.float64).ravel())
    if not np.isfinite(v).all():
        return np.nan
    v = v[v != 0]
    if not v.size:
        return np.inf
    mantissa, exponent = np.frexp(v)
    significand = (mantissa * 2.0**53).astype(np.int64)  # exact: a float64 holds 53 bits
    lowest_bit = np.frexp((significand & -significand).astype(np.float64))[1] - 1
    return float(np.min(exponent - 53 + lowest_bit))


def _theta_exponent(layer) -> float | None:
    """``log2 θ`` (the smallest, per channel) of a `DeltaActivation` whose every θ is a power of two, else None:
    its outputs ``θ·k`` then lie on the grid ``2^e``."""
    if not isinstance(layer, DeltaActivation):
        return None
    theta = layer.theta(3).detach().double().numpy().ravel()
    mantissa, exponent = np.frexp(theta)
    return float(exponent.min() - 1) if np.all(mantissa == 0.5) else None


def _exact_sums(stage: _Stage, q_max: float) -> bool:
    """Whether every partial sum of ``W·q + b`` and of ``Σ_t W·Δ_t + b`` is exact in float32 for inputs
    ``|q| ≤ q_max`` on the stage's grid (``|Δ| ≤ 2·q_max``), in any order."""
    if stage.grid is None:
        return False
    bound = 2.0 * stage.row_l1 * q_max + np.abs(stage.bias)
    return bool(
        2.0 * q_max <= 2.0 ** (_FLOAT32_BITS + stage.q_grid)
        and bound.max(initial=0.0) <= 2.0 ** (_FLOAT32_BITS + stage.grid)
    )


def _trace_shapes(model: nn.Sequential, input_shape) -> dict[int, tuple]:
    """Per-step input shape of every connection leaf, from one dense pass on a zero clip ``[1, 1, ...]``."""
    shapes, handles = {}, []

    def record(module, inputs):
        shapes[id(module)] = tuple(inputs[0].shape[2:])

    for m in model:
        if _connection(m) is not None:
            handles.append(m.register_forward_pre_hook(record))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return shapes
