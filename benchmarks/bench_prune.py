"""Inference of a pruned network on the event-driven core against the dense PyTorch model with masks.

The same ReLU MLP (1024-2048-2048-10, random weights) is pruned globally by magnitude to 80/90/95/98 %
sparsity; the PyTorch model keeps ``torch.nn.utils.prune`` masks (``weight = weight_orig * weight_mask``
on every forward, as users run it) and is also timed with the masks baked in (``prune.remove``: plain
dense GEMMs). The core runs `sdrnet.prune.CoreMLP`: each layer is one event-driven `propagate` pass in
which only non-zero inputs do work (events × fan-out). Outputs are compared before timing. Memory is
the bytes the model holds: parameters and masks for PyTorch, CSR synapses (int64 row pointers, int32
targets, float32 weights) and biases for the core.

Usage: python benchmarks/bench_prune.py [--repeats 20] [--batch 1 32] [--threads 1] [--quick]
Writes benchmarks/results/prune.json and prints a table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from bench_core import median_time, torch_machine, write_results
from torch import nn
from torch.nn.utils import prune as tprune

from sdrnet import prune
from sdrnet.report import format_table

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1024, 2048, 2048, 10)


def make(sizes, sparsity, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).eval()
    prune.magnitude_prune(model, sparsity, scope="global")
    core = prune.to_core(model)
    prune.to_torch_prune(model)  # the torch.nn.utils.prune form users have
    return model, core




def torch_bytes(model):
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def bench(sizes, sparsity, batch, repeats):
    model, core = make(sizes, sparsity)
    x = torch.relu(torch.randn(batch, sizes[0]))  # half the inputs zero, as after a ReLU
    with torch.no_grad():
        masked_out = model(x)
    diff = float(np.abs(core.forward(x) - masked_out.numpy()).max())
    with torch.no_grad():
        t_masked = median_time(lambda: model(x), repeats)
    masked_bytes = torch_bytes(model)
    for m in model:
        if isinstance(m, nn.Linear) and tprune.is_pruned(m):
            tprune.remove(m, "weight")
    with torch.no_grad():
        t_dense = median_time(lambda: model(x), repeats)
    xn = x.numpy()
    t_core = median_time(lambda: core.forward(xn), repeats)
    nnz = sum(s.nnz for s in core.synapses)
    core_bytes = sum(s.nbytes for s in core.synapses) + sum(b.nbytes for b in core.biases)
    return dict(sparsity=sparsity, batch=batch, nnz=nnz, synops=int(core.synops.sum()),
                torch_masked_ms=1e3 * t_masked, torch_dense_ms=1e3 * t_dense, core_ms=1e3 * t_core,
                speedup_vs_masked=t_masked / t_core, speedup_vs_dense=t_dense / t_core,
                torch_masked_bytes=masked_bytes, torch_dense_bytes=torch_bytes(model), core_bytes=core_bytes,
                core_bytes_per_nnz=core_bytes / nnz, max_abs_diff=diff)


def summarize(rows) -> str:
    return format_table([{
        "sparsity": f"{r['sparsity']:.0%}", "batch": r["batch"], "non-zeros": r["nnz"],
        "torch + masks (ms)": f"{r['torch_masked_ms']:.2f}", "torch, masks baked (ms)": f"{r['torch_dense_ms']:.2f}",
        "core (ms)": f"{r['core_ms']:.2f}", "speed-up vs masked": f"{r['speedup_vs_masked']:.1f}×",
        "vs baked": f"{r['speedup_vs_dense']:.1f}×",
        "torch + masks (MB)": f"{r['torch_masked_bytes'] / 1e6:.1f}", "core (MB)": f"{r['core_bytes'] / 1e6:.2f}",
        "core B/nnz": f"{r['core_bytes_per_nnz']:.1f}", "max |diff|": f"{r['max_abs_diff']:.1e}"} for r in rows])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="90 and 98 %% sparsity, batch 1, 5 repeats")
    ap.add_argument("--out", type=Path, default=RESULTS / "prune.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sparsities = (0.9, 0.98) if args.quick else (0.8, 0.9, 0.95, 0.98)
    batches = [1] if args.quick else args.batch
    repeats = 5 if args.quick else args.repeats
    rows = []
    for batch in batches:
        for s in sparsities:
            row = bench(SIZES, s, batch, repeats)
            rows.append(row)
            print(f"  sparsity {s:.0%} batch {batch:3d}: torch+masks {row['torch_masked_ms']:8.2f} ms  "
                  f"core {row['core_ms']:8.2f} ms  ({row['speedup_vs_masked']:.1f}×)", flush=True)
    table = summarize(rows)
    where = torch_machine(args.threads)
    print(f"\nReLU MLP {'-'.join(map(str, SIZES))}, inference, median of {repeats}; {where}\n{table}")
    write_results(args.out, machine=where, sizes=SIZES, repeats=repeats, rows=rows, table=table)


if __name__ == "__main__":
    main()
