"""Plain-numpy references for the core's kernels: dense, time-stepped, written for clarity, not speed."""

from __future__ import annotations

import numpy as np


def dense_delay_stack(syn) -> list[tuple[int, np.ndarray]]:
    """[(d, W_d)] with W_d[i, j] = summed weight of synapses i -> j whose delay is d."""
    pre = np.repeat(np.arange(syn.n_pre), np.diff(syn.indptr))
    delay = np.zeros(syn.nnz, np.int64) if syn.delay is None else syn.delay.astype(np.int64)
    out = []
    for d in np.unique(delay):
        w = np.zeros((syn.n_pre, syn.n_post), np.float64)
        m = delay == d
        np.add.at(w, (pre[m], syn.post[m]), syn.weight[m].astype(np.float64))
        out.append((int(d), w))
    return out


def propagate_ref(x: np.ndarray, syn, n_steps: int) -> np.ndarray:
    """currents[t] = sum_d x[t - d] @ W_d for a dense input x [T, B, n_pre]."""
    T, B, _ = x.shape
    out = np.zeros((n_steps, B, syn.n_post), np.float64)
    for d, w in dense_delay_stack(syn):
        span = max(0, min(T, n_steps - d))
        if span:
            out[d : d + span] += np.einsum("tbi,ij->tbj", x[:span].astype(np.float64), w)
    return out


def overlap_ref(active: list[np.ndarray], syn) -> np.ndarray:
    counts = np.zeros((syn.n_pre, syn.n_post), np.int64)
    pre = np.repeat(np.arange(syn.n_pre), np.diff(syn.indptr))
    np.add.at(counts, (pre, syn.post), 1)
    x = np.zeros((len(active), syn.n_pre), np.int64)
    for b, a in enumerate(active):
        x[b, a] = 1
    return x @ counts


def sparse_matmul_ref(x: np.ndarray, syn) -> np.ndarray:
    """out[b, j] = sum of w_k * x[b, pre_k] over synapses k -> j, added in float32 one synapse at a time in CSR
    order (ascending pre, then storage order), each product rounded before its sum: the core's order, exactly."""
    x = np.asarray(x, np.float32)
    out = np.zeros((x.shape[0], syn.n_post), np.float32)
    for i, j, w in zip(syn.pre(), syn.post, syn.weight):
        out[:, j] = out[:, j] + np.float32(w) * x[:, i]
    return out


def kwta_ref(x: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-np.atleast_2d(x), axis=1, kind="stable")[:, :k]
    return np.sort(order, axis=1)


def lif_step_ref(x, v, p):
    """One SpikingJelly LIFNode step in float32 numpy (same formula and operation order)."""
    f = np.float32
    reset = f(0.0) if p.v_reset is None else f(p.v_reset)
    tau = f(p.tau)
    h = v + (x - (v - reset)) / tau if p.decay_input else v - (v - reset) / tau + x
    spike = (h - f(p.v_threshold)) >= 0
    v_next = np.where(spike, h - f(p.v_threshold) if p.v_reset is None else reset, h).astype(np.float32)
    return spike, v_next


def network_ref(x: np.ndarray, layers, n_steps: int):
    """Dense time-stepped LIF network: x [T, B, n_in] -> (spikes per layer [T, B, n_l], final v, v_seq last).

    A layer with ``tail`` set stops (keeps v, no spikes) ``tail`` steps after its input ends."""
    T, B, _ = x.shape
    stops, end = [], T
    for layer in layers:
        end = n_steps if layer.tail is None else end + layer.tail
        stops.append(end)
    stacks = [dense_delay_stack(layer.synapses) for layer in layers]
    rstacks = [dense_delay_stack(layer.recurrent) if layer.recurrent is not None else [] for layer in layers]
    v = [
        np.full((B, layer.n), 0.0 if layer.neuron.v_reset is None else layer.neuron.v_reset, np.float32)
        for layer in layers
    ]
    spikes = [np.zeros((n_steps, B, layer.n), np.float32) for layer in layers]
    v_seq = np.zeros((n_steps, B, layers[-1].n), np.float32)
    xin = np.zeros((n_steps, B, x.shape[2]), np.float32)
    xin[: min(T, n_steps)] = x[:n_steps]
    for t in range(n_steps):
        for li, layer in enumerate(layers):
            if t >= stops[li]:
                continue
            src = xin if li == 0 else spikes[li - 1]
            cur = np.zeros((B, layer.n), np.float64)
            for d, w in stacks[li]:
                if t - d >= 0:
                    cur += src[t - d] @ w
            for d, w in rstacks[li]:
                if t - 1 - d >= 0:
                    cur += spikes[li][t - 1 - d] @ w
            cur = cur.astype(np.float32) + np.asarray(layer.bias, np.float32)
            s, v[li] = lif_step_ref(cur, v[li], layer.neuron)
            spikes[li][t] = s
        v_seq[t] = v[-1]
    return spikes, v, v_seq


def segment_counts_ref(inputs: list[np.ndarray], segments: list[np.ndarray], n: int) -> np.ndarray:
    """Dense overlaps [B, n_segments]: binary input matrix times binary segment matrix."""
    x = np.zeros((len(inputs), n), np.int64)
    s = np.zeros((len(segments), n), np.int64)
    for b, a in enumerate(inputs):
        x[b, a] = 1
    for j, p in enumerate(segments):
        s[j, p] = 1
    return x @ s.T
