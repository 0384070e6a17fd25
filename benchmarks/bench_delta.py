"""Event-driven delta inference on the sparse core against the dense PyTorch forward pass of the same network.

The network: the demo's CNN with delta layers (`snn.delta.experiment`, QUICK budget: trained, then
fine-tuned with the delta penalty λ = 0.1, θ = 0.25). The same test clips go through
(a) ``model(x)`` in PyTorch (dense: every MAC of every frame) and (b) `snn.delta.EventDrivenNet`
(only non-zero Δ × fan-out, with `sdrnet.core.propagate`). Outputs are compared, wall time (median
of ``--repeats``) and synaptic operations reported. Two sweeps move the temporal sparsity:
the clips' motion (pixels per frame; 0 = a still digit under sensor noise) and a scale on every
delta layer's θ at inference (accuracy shown, since a larger θ than trained costs accuracy).

Usage: python benchmarks/bench_delta.py [--clips 200] [--repeats 3] [--threads 1] [--quick]
Writes benchmarks/results/delta.json and prints a table.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch
from bench_core import median_time, torch_machine, write_results

from sdrnet.report import format_table
from snn.delta import EventDrivenNet, delta_layers, insert_delta, moving_digit_clips, temporal_sparsity, train
from snn.delta.experiment import QUICK
from snn.delta.video import clip_cnn

RESULTS = Path(__file__).resolve().parent / "results"
PENALTY = 0.1


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




def bench(model, x, y, repeats: int, **labels) -> dict:
    net = EventDrivenNet(model, x.shape[2:])
    result = net.run(x)
    with torch.no_grad():
        dense = model(x).numpy()
    t_dense = median_time(lambda: model(x), repeats)
    t_event = median_time(lambda: net.run(x), repeats)
    n = x.shape[1]
    return dict(labels, clips=n, temporal_sparsity=temporal_sparsity(model, x),
                accuracy=float(np.mean(dense.mean(0).argmax(1) == y.numpy())),
                max_abs_diff=float(np.abs(result.output - dense).max()),
                event_synops_per_clip=float(result.synops.sum() / n), dense_synops_per_clip=float(
                    result.dense_synops.sum() / n), dense_ms=1e3 * t_dense, event_ms=1e3 * t_event,
                speedup=t_dense / t_event)


def scaled(model, factor: float):
    out = copy.deepcopy(model)
    with torch.no_grad():
        for layer in delta_layers(out):
            layer.threshold.mul_(factor)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="three motion speeds, no threshold sweep")
    ap.add_argument("--out", type=Path, default=RESULTS / "delta.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = trained_model()
    clip = dict(n_steps=QUICK.n_steps, size=QUICK.size, noise=QUICK.noise, split="test", seed=1)
    rows = []
    for speed in (0.0, 1.0, 3.0) if args.quick else (0.0, 0.25, 0.5, 1.0, 2.0, 3.0):
        x, y = moving_digit_clips(args.clips, speed=speed, **clip)
        rows.append(bench(model, x, y, args.repeats, sweep="motion", speed=speed, theta_scale=1.0))
        print(f"  speed {speed:4.2f} px/frame: dense {rows[-1]['dense_ms']:7.1f} ms, "
              f"event-driven {rows[-1]['event_ms']:7.1f} ms", flush=True)
    if not args.quick:
        x, y = moving_digit_clips(args.clips, speed=1.0, **clip)
        for factor in (0.25, 0.5, 2.0, 4.0):
            rows.append(bench(scaled(model, factor), x, y, args.repeats, sweep="θ scale", speed=1.0,
                              theta_scale=factor))
            print(f"  θ × {factor:4.2f}: dense {rows[-1]['dense_ms']:7.1f} ms, "
                  f"event-driven {rows[-1]['event_ms']:7.1f} ms", flush=True)
    table = summarize(rows)
    where = torch_machine(args.threads)
    print(f"\n{args.clips} clips of {QUICK.n_steps} frames, median of {args.repeats}; {where}\n{table}")
    write_results(args.out, machine=where, penalty=PENALTY, rows=rows, table=table)


def summarize(rows) -> str:
    return format_table([{
        "sweep": r["sweep"], "motion (px/frame)": f"{r['speed']:g}", "θ ×": f"{r['theta_scale']:g}",
        "Δ sparsity": f"{r['temporal_sparsity']:.3f}", "accuracy": f"{r['accuracy']:.3f}",
        "synops/clip event": int(round(r["event_synops_per_clip"])),
        "synops/clip dense": int(round(r["dense_synops_per_clip"])),
        "dense torch (ms)": f"{r['dense_ms']:.1f}", "event-driven core (ms)": f"{r['event_ms']:.1f}",
        "core speed-up": f"{r['speedup']:.2f}×", "max |diff|": f"{r['max_abs_diff']:.1e}"} for r in rows])


if __name__ == "__main__":
    main()
