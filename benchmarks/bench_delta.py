"""Event-driven delta inference on the sparse core against the dense PyTorch forward pass of the same network.

The network: the demo's CNN with delta layers (`snn.delta.experiment`, QUICK budget: trained, then
fine-tuned with the delta penalty λ = 0.1, θ = 0.25). The same test clips go through
(a) ``model(x)`` in PyTorch (dense: every MAC of every frame) and (b) `snn.delta.EventDrivenNet`, which runs
each clip through every layer in one fused event-driven pass (`snn.delta.kernels`: Δ, only non-zero Δ ×
fan-out as contiguous vector adds, running sums, ReLU and quantiser, all in cache); ``layer by layer`` times
the same network with every (frame, clip) Δ as a row of `sdrnet.core.sparse_matmul` (batched kernel) and
the neurons in torch, and ``in products`` the part of that inside `sparse_matmul`; ``core alone`` times the
core in a block of its own, half a second after the last torch call, and ``passes`` the same fused pass with
every product left out (the per-step passes over every unit: Δ, running sums, neurons). Outputs are compared; wall
time is the median of ``--repeats`` calls per peer in interleaved rounds (`bench_core.interleaved_medians`),
at one thread and at all threads (torch and numba alike). Two sweeps move the temporal sparsity: the clips'
motion (pixels per frame; 0 = a still digit under sensor noise) and a scale on every delta layer's θ at
inference (accuracy shown, since a larger θ than trained costs accuracy).

Usage: python benchmarks/bench_delta.py [--clips 200] [--repeats 5] [--threads 1 2] [--quick]
Writes benchmarks/results/delta.json and prints a table and one line per row on why.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from pathlib import Path

import numba
import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_core import interleaved_medians, machine_line, median_time, thread_counts, write_results  # noqa: E402
from bench_prune import EVENT_NS  # noqa: E402

from sdrnet.core import sparse_matmul  # noqa: E402
from sdrnet.report import format_table  # noqa: E402
from snn.delta import (  # noqa: E402
    EventDrivenNet,
    delta_layers,
    event_driven,  # noqa: E402
    insert_delta,
    moving_digit_clips,
    temporal_sparsity,
    train,
)
from snn.delta.experiment import Budget  # noqa: E402
from snn.delta.video import clip_cnn  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
PENALTY = 0.1
QUICK = Budget.quick()


def trained_model(seed: int = 0) -> torch.nn.Sequential:
    """The demo's delta network: pre-trained CNN, delta layers, fine-tuned with penalty λ = 0.1."""
    b = QUICK
    clip = dict(n_steps=b.n_steps, size=b.size, speed=b.speed, noise=b.noise)
    x, y = moving_digit_clips(b.n_train, split="train", seed=seed, **clip)
    model = clip_cnn(b.size, b.channels, b.hidden, seed=seed)
    train(model, x, y, epochs=b.epochs, lr=b.lr, batch_size=b.batch_size, seed=seed)
    model = insert_delta(model, b.threshold, trainable=False)
    train(model, x, y, epochs=b.finetune_epochs, lr=b.finetune_lr, batch_size=b.batch_size, penalty=PENALTY, seed=seed)
    return model.eval()


def bench(model, x, y, repeats: int, threads: int, **labels) -> dict:
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    net = EventDrivenNet(model, x.shape[2:])
    result = net.run(x)
    with torch.no_grad():
        dense = model(x).numpy()
        t = interleaved_medians(
            {
                "dense": lambda: model(x),
                "core": lambda: net.run(x),
                "layer by layer": lambda: net.run(x, kernel="batched"),
            },
            repeats,
        )
    n = x.shape[1]
    kernel_s = statistics.median(matmul_seconds(net, x) for _ in range(repeats))
    # torch's OpenMP threads spin on after a forward pass, longer than interleaved_medians' untimed call, and
    # take a core from the core's threads: the core is timed alone too, half a second after torch
    time.sleep(0.5)
    alone_s = median_time(lambda: net.run(x), repeats)
    bare = without_products(net)
    passes_s = median_time(lambda: bare.run(x), repeats)
    return dict(
        labels,
        threads=threads,
        clips=n,
        temporal_sparsity=temporal_sparsity(model, x),
        accuracy=float(np.mean(dense.mean(0).argmax(1) == y.numpy())),
        max_abs_diff=float(np.abs(result.output - dense).max()),
        exact=bool(result.exact),
        kernels=list(result.kernels),
        event_synops=int(result.synops.sum()),
        dense_synops=int(result.dense_synops.sum()),
        event_synops_per_clip=float(result.synops.sum() / n),
        dense_synops_per_clip=float(result.dense_synops.sum() / n),
        dense_ms=1e3 * t["dense"],
        event_ms=1e3 * t["core"],
        layer_by_layer_ms=1e3 * t["layer by layer"],
        matmul_ms=1e3 * kernel_s,
        core_alone_ms=1e3 * alone_s,
        passes_ms=1e3 * passes_s,
        speedup=t["dense"] / t["core"],
    )


def without_products(net: EventDrivenNet) -> EventDrivenNet:
    """A copy of ``net`` whose fused stages add no products (no runs of synapses): its time is the rest of the
    fused pass, the per-step passes over every unit."""
    bare = copy.copy(net)
    bare.stages = [s._replace(fused=s.fused._replace(run_ptr=np.zeros_like(s.fused.run_ptr))) for s in net.stages]
    return bare


def matmul_seconds(net, x) -> float:
    """Seconds one layer-by-layer ``net.run(x, kernel="batched")`` spends inside `sparse_matmul` (the rest: Δ,
    running sums, ReLU, quantisers)."""
    spent = []

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        result = sparse_matmul(*args, **kwargs)
        spent.append(time.perf_counter() - t0)
        return result

    event_driven.sparse_matmul = timed
    try:
        net.run(x, kernel="batched")
    finally:
        event_driven.sparse_matmul = sparse_matmul
    return sum(spent)


def why(r) -> str:
    """One sentence: synaptic events per ns of the fused event-driven pass (the whole run) against the ~1 ns/event
    limit of a scalar scatter, dense torch's MACs per ns, and the layer-by-layer path for comparison."""
    fused = r["event_synops"] / (r["event_ms"] * 1e6)
    dense = r["dense_synops"] / (r["dense_ms"] * 1e6)
    return (
        f"Δ sparsity {r['temporal_sparsity']:.3f} ({r['sweep']} {r['speed']:g} px/frame, θ × {r['theta_scale']:g}), "
        f"{r['threads']} thread(s): the fused pass does {fused:.2f} synaptic events/ns over the whole run "
        f"(a scalar scatter is capped near {1 / EVENT_NS:.0f}/ns per thread; the Δ, running-sum and neuron "
        f"passes over every unit and step are the rest); dense torch does {dense:.1f} MACs/ns on "
        f"{r['dense_synops'] / r['event_synops']:.0f}× as many: {r['speedup']:.2f}×. Layer by layer "
        f"(sparse_matmul, neurons in torch): {r['layer_by_layer_ms']:.1f} ms, {r['matmul_ms']:.1f} in products. "
        f"The core alone, with no torch call just before: {r['core_alone_ms']:.1f} ms, of which the passes over "
        f"every unit (timed with no products) {r['passes_ms']:.1f} ms."
    )


def scaled(model, factor: float):
    out = copy.deepcopy(model)
    with torch.no_grad():
        for layer in delta_layers(out):
            layer.threshold.mul_(factor)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=thread_counts(),
        help="thread counts for torch and the core (default: 1 and all)",
    )
    ap.add_argument("--quick", action="store_true", help="three motion speeds, no threshold sweep, one thread")
    ap.add_argument("--out", type=Path, default=RESULTS / "delta.json")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]  # other work on the machine slows every peer; named in the results
    threads = [1] if args.quick else args.threads
    torch.set_num_threads(1)
    model = trained_model()
    clip = dict(n_steps=QUICK.n_steps, size=QUICK.size, noise=QUICK.noise, split="test", seed=1)
    cases = [
        (model, speed, 1.0, "motion") for speed in ((0.0, 1.0, 3.0) if args.quick else (0.0, 0.25, 0.5, 1.0, 2.0, 3.0))
    ]
    if not args.quick:
        cases += [(scaled(model, factor), 1.0, factor, "θ scale") for factor in (0.25, 0.5, 2.0, 4.0)]
    rows = []
    for n_threads in threads:
        for net, speed, factor, sweep in cases:
            x, y = moving_digit_clips(args.clips, speed=speed, **clip)
            rows.append(bench(net, x, y, args.repeats, n_threads, sweep=sweep, speed=speed, theta_scale=factor))
            r = rows[-1]
            print(
                f"  {sweep} {speed:4.2f} px/frame θ × {factor:4.2f}, {n_threads} thread(s): dense "
                f"{r['dense_ms']:7.1f} ms, core {r['event_ms']:7.1f} ms ({'/'.join(r['kernels'])})",
                flush=True,
            )
    table = summarize(rows)
    where = machine_line(threads, load_before)
    reasons = [why(r) for r in rows]
    print(
        f"\n{args.clips} clips of {QUICK.n_steps} frames, median of {args.repeats} calls; {where}\n{table}\n\n"
        "why (core kernels per layer: e = fused event-driven pass, b = batched):\n" + "\n".join(reasons)
    )
    write_results(args.out, machine=where, penalty=PENALTY, rows=rows, table=table, why=reasons)


def summarize(rows) -> str:
    short = {"event": "e", "batched": "b"}
    return format_table(
        [
            {
                "sweep": r["sweep"],
                "motion (px/frame)": f"{r['speed']:g}",
                "θ ×": f"{r['theta_scale']:g}",
                "threads": r["threads"],
                "Δ sparsity": f"{r['temporal_sparsity']:.3f}",
                "accuracy": f"{r['accuracy']:.3f}",
                "synops/clip event": int(round(r["event_synops_per_clip"])),
                "synops/clip dense": int(round(r["dense_synops_per_clip"])),
                "dense torch (ms)": f"{r['dense_ms']:.1f}",
                "core (ms)": f"{r['event_ms']:.1f}",
                "core alone (ms)": f"{r['core_alone_ms']:.1f}",
                "of it, passes (ms)": f"{r['passes_ms']:.1f}",
                "core kernels": "".join(short[k] for k in r["kernels"]),
                "layer by layer (ms)": f"{r['layer_by_layer_ms']:.1f}",
                "in products (ms)": f"{r['matmul_ms']:.1f}",
                "core speed-up": f"{r['speedup']:.2f}×",
                "max |diff|": f"{r['max_abs_diff']:.1e}",
            }
            for r in rows
        ]
    )


if __name__ == "__main__":
    main()
