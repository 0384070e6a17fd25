"""Quickstart of the event-driven sparse core: events, synapses with delays, propagation, SDR overlap, k-WTA,
a LIF network run event-driven with its synaptic operations counted, and sparse weights times a batch of
activations by each of sparse_matmul's kernels (the same bits).

Run:  python examples/core_quickstart.py [--out runs/demo] [--seed 0]   (also part of `sdrnet demo`)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sdrnet.core import Events, FanIn, Layer, LIFParams, Network, Synapses, kwta, overlap, propagate, sparse_matmul
from sdrnet.report import format_table, save_figure


def spoken_digit_like(rng: np.random.Generator, n_samples: int = 8, n_channels: int = 700):
    """Spike times (s) and channels shaped like SHD: a rising frequency sweep with jitter and noise."""
    times, units = [], []
    for b in range(n_samples):
        n = 4000
        t = rng.uniform(0, 0.8, n)
        centre = (150 + 400 * t / 0.8 + 60 * b) % n_channels
        u = np.clip(np.round(centre + rng.normal(0, 25, n)), 0, n_channels - 1).astype(int)
        noise_t, noise_u = rng.uniform(0, 0.8, 300), rng.integers(0, n_channels, 300)
        times.append(np.concatenate([t, noise_t]).astype(np.float16))  # SHD stores float16 seconds
        units.append(np.concatenate([u, noise_u]))
    return times, units


def main(out: Path = Path("runs/demo"), seed: int = 0) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    # 1. Events: spike times -> 1 ms grid -> 10 ms bins -> 700 channels pooled by 5 = 140 (the SHD recipe)
    times, units = spoken_digit_like(rng)
    raw = Events.from_spike_times(times, units, dt=0.001, n_units=700)
    binned = raw.rebin(10)
    pooled = binned.pool_units(5)
    print(
        format_table(
            [
                dict(
                    stage=name,
                    samples=e.n_samples,
                    steps=e.n_steps,
                    units=e.n_units,
                    events=e.n_events,
                    dt_ms=1000 * e.dt,
                    spikes=float(e.value.sum()),
                )
                for name, e in [("1 ms grid", raw), ("rebin(10)", binned), ("pool_units(5)", pooled)]
            ],
            "Events: spike times binned and pooled (spike counts are kept as event values)",
        )
    )

    # 2. Synapses with integer delays, 140 -> 256, fixed fan-in 32, delays 0..24 steps
    syn1 = Synapses.random_fixed_fan_in(140, 256, 32, rng, weight=lambda r, n: r.normal(0.0, 0.25, n), max_delay=24)
    syn2 = Synapses.random_fixed_fan_in(256, 20, 64, rng, weight=lambda r, n: r.normal(0.0, 0.3, n), max_delay=4)
    print(
        "\n"
        + format_table(
            [
                dict(
                    synapses=name,
                    n_pre=s.n_pre,
                    n_post=s.n_post,
                    nnz=s.nnz,
                    density=s.density,
                    mean_fan_out=float(s.fan_out().mean()),
                    max_delay=s.max_delay,
                    bytes_per_synapse=s.bytes_per_synapse,
                )
                for name, s in [("input -> hidden", syn1), ("hidden -> output", syn2)]
            ],
            "Synapses: CSR by presynaptic unit, float32 weights, uint8 delays",
        )
    )

    # 3. propagate: event-driven sum_i w_ij x_i(t - d_ij), checked against a dense computation
    propagate(pooled[0], syn1)  # compile (or load the cached kernel) outside the timing
    t0 = time.perf_counter()
    currents = propagate(pooled, syn1)
    t_event = time.perf_counter() - t0
    x = pooled.to_dense()
    t0 = time.perf_counter()
    dense = np.zeros_like(currents)
    w, d = syn1.to_dense(), syn1.delay_matrix()
    for lag in range(syn1.max_delay + 1):
        dense[lag : lag + x.shape[0]] += np.einsum("tbi,ij->tbj", x, np.where(d == lag, w, 0))
    t_dense = time.perf_counter() - t0
    print(
        "\n"
        + format_table(
            [
                dict(
                    output_shape=str(currents.shape),
                    synaptic_events=int(syn1.fan_out()[pooled.unit].sum()),
                    max_abs_diff_vs_dense=float(np.abs(currents - dense).max()),
                    event_driven_ms=1000 * t_event,
                    dense_per_delay_ms=1000 * t_dense,
                )
            ],
            "propagate vs a dense computation (one masked matrix per delay)",
        )
    )

    # 4. A LIF network (SpikingJelly LIFNode dynamics) run event-driven
    net = Network([Layer(syn1, LIFParams(tau=2.0, v_threshold=1.0)), Layer(syn2, LIFParams(tau=2.0, v_threshold=1.0))])
    res = net.run(pooled)
    dense_macs = [pooled.n_steps * pooled.n_samples * s.n_pre * s.n_post for s in (syn1, syn2)]
    print(
        "\n"
        + format_table(
            [
                dict(
                    layer=i,
                    neurons=layer.n,
                    spikes=e.n_events,
                    rate_per_step=e.n_events / (e.n_steps * e.n_samples * layer.n),
                    synaptic_ops=int(ops),
                    dense_macs=m,
                    ops_saved=f"{m / max(int(ops), 1):.0f}x",
                )
                for i, (layer, e, ops, m) in enumerate(zip(net.layers, res.layer_spikes, res.synops, dense_macs))
            ],
            f"{net}: spikes and synaptic operations (events x fan-out) vs dense MACs",
        )
    )

    # 5. SDRs: a dendritic segment = a row of synapses; overlap counts its active synapses
    n, a, s, theta = 2048, 40, 20, 10
    patterns = [rng.choice(n, a, replace=False) for _ in range(100)]
    segments = Synapses.from_edges(
        np.concatenate([rng.choice(p, s, replace=False) for p in patterns]),
        np.repeat(np.arange(100), s),
        n_pre=n,
        n_post=100,
    )
    noisy = [np.concatenate([p[:30], rng.choice(np.setdiff1d(np.arange(n), p), 10, replace=False)]) for p in patterns]
    novel = [rng.choice(n, a, replace=False) for _ in range(100)]
    rows = []
    for name, inputs in [("stored patterns", patterns), ("25% noise", noisy), ("novel random", novel)]:
        counts = overlap(inputs, segments)
        own = counts[np.arange(100), np.arange(100)]
        rows.append(
            dict(
                input=name,
                mean_overlap_own_segment=float(own.mean()),
                detected_own=float((own >= theta).mean()),
                false_matches_other=float(((counts >= theta).sum() - (own >= theta).sum()) / (100 * 99)),
            )
        )
    print(
        "\n"
        + format_table(rows, f"overlap: 100 segments, s={s} synapses each, threshold theta={theta}, SDRs n={n}, a={a}")
    )
    top = kwta(rng.normal(size=(2, 12)), 3)
    print(f"\nkwta: top-3 of two random rows of 12 -> {top.tolist()}")

    # 6. sparse weights x a batch of dense activations: scatter (fan-out layout) or gather (fan-in), same bits
    matmul = matmul_kernels(rng)
    print("\n" + format_table(matmul, "sparse_matmul: 1024 -> 2048 at 10 % density, ReLU activations"))

    # figures
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    e0 = raw[0]
    axes[0].plot(e0.time, e0.unit, ",k")
    axes[0].set(title="sample 0: input spikes (1 ms grid)", xlabel="step", ylabel="channel")
    peak = float(np.abs(currents[:, 0]).max()) or 1.0  # symmetric: white is zero current
    image = axes[1].imshow(currents[:, 0].T, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-peak, vmax=peak)
    fig.colorbar(image, ax=axes[1], label="synaptic current (weight units)")
    axes[1].set(title="propagate: current into hidden layer", xlabel="step (10 ms)", ylabel="neuron")
    hid = res.layer_spikes[0][0]
    axes[2].plot(hid.time, hid.unit, "|", ms=3)
    outp = res.layer_spikes[1][0]
    axes[2].plot(outp.time, outp.unit + 260, "|r", ms=3)
    axes[2].set(title="Network: hidden (blue) and output (red) spikes", xlabel="step (10 ms)", ylabel="neuron")
    save_figure(fig, out / "core_quickstart.png")
    print(f"\nsaved {out / 'core_quickstart.png'}")
    return dict(max_abs_diff=float(np.abs(currents - dense).max()), synops=res.synops.tolist(), matmul=matmul)


def matmul_kernels(rng: np.random.Generator) -> list[dict]:
    """Each kernel of `sparse_matmul` on a batch of 1 and of 64 ReLU activations, timed against numpy's dense
    product (BLAS); every kernel gives the bits of the event kernel."""
    syn = Synapses.random_erdos_renyi(1024, 2048, 0.1, rng, weight=lambda r, n: r.normal(0, 0.05, n))
    fan_in, dense = FanIn(syn), syn.to_dense()
    rows = []
    for batch in (1, 64):
        x = np.maximum(rng.normal(0, 1, (batch, 1024)), 0).astype(np.float32)
        reference = sparse_matmul(x, syn, "event").out
        for layout, weights, kernel in [
            ("fan-out", syn, "event"),
            ("fan-out", syn, "batched"),
            ("fan-in", fan_in, "gather"),
        ]:
            result = sparse_matmul(x, weights, kernel)  # compiles (or loads) the kernel outside the timing
            t0 = time.perf_counter()
            for _ in range(5):
                sparse_matmul(x, weights, kernel)
            ms = 1000 * (time.perf_counter() - t0) / 5
            rows.append(
                dict(
                    batch=batch,
                    layout=layout,
                    kernel=kernel,
                    ms=ms,
                    same_bits=bool(np.array_equal(result.out, reference)),
                )
            )
        t0 = time.perf_counter()
        for _ in range(5):
            x @ dense
        rows.append(
            dict(
                batch=batch,
                layout="dense",
                kernel="numpy BLAS",
                ms=1000 * (time.perf_counter() - t0) / 5,
                same_bits=None,
            )
        )
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    main(args.out, args.seed)
