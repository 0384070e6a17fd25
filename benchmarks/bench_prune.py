"""Inference of a pruned network on the sparse core against dense PyTorch, torch.sparse and scipy.

The same ReLU MLP (1024-2048-2048-10, random weights) is pruned by magnitude, layer by layer, to 80/90/95/98 %
sparsity (each layer keeps its largest ``1 - s`` of |w|). One global threshold would not do: PyTorch's default
init scales weights by ``1/sqrt(fan_in)``, so the 1024-input layer holds the largest |w| and a global threshold
keeps 0.3 % of the 2048×2048 layer at 90 % and none of it at 95/98 %, leaving a network whose output is the bias.
Peers, all on the same input (``relu(randn)``: half the inputs zero):

- ``torch + masks``: ``torch.nn.utils.prune`` masks (``weight = weight_orig * weight_mask`` every forward,
  as users run it);
- ``torch dense``: the masks baked in (``prune.remove``): plain dense GEMMs, the goal's reference;
- ``torch.sparse``: each weight as a ``torch.sparse_csr_tensor``, ``y = (W @ hᵀ)ᵀ``;
- ``scipy CSR``: each weight as a ``scipy.sparse.csr_matrix`` (single-threaded whatever the setting);
- ``core``: `sdrnet.prune.CoreMLP`, each layer one `sdrnet.core.sparse_matmul` whose cost model picks the
  event kernel (non-zero inputs × fan-out, scalar) or the batched one (tiles of 8/16/32 samples, every
  weight applied to the whole tile in SIMD registers); the kernels column names the choice per layer;
- ``core fan-in``: the same `CoreMLP` in the fan-in layout (``core.with_layout("fan-in")``, `sdrnet.core.FanIn`,
  as lean): the gather kernel, each output summed over its fan-in in SIMD registers for a tile of 1–32 samples
  (Elsen et al. 2020); zero inputs cost as much as non-zeros.

Rows run at one thread and at all threads (torch, numba: the same count). Timings are medians of
``--repeats`` calls per peer, spread over rounds so that a busy machine slows all peers alike
(`interleaved_medians`); outputs are compared before timing. Memory is what the model holds: parameters
and masks for PyTorch, CSR synapses (int64 row pointers, int32 targets, float32 weights) and biases for
the core (either layout).

Usage: python benchmarks/bench_prune.py [--repeats 20] [--batch 1 32 256] [--threads 1 2] [--quick]
Writes benchmarks/results/prune.json and prints a table and one line per row on why.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import numba
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402
from bench_core import interleaved_medians, machine_line, thread_counts, write_results  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.utils import prune as tprune  # noqa: E402

from sdrnet import prune  # noqa: E402
from sdrnet.report import format_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1024, 2048, 2048, 10)
EVENT_NS = 1.0  # the scalar scatter's cache limit, ~1 ns per synaptic event


def make(sizes, sparsity, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).eval()
    prune.magnitude_prune(model, sparsity, scope="layer")
    core = prune.to_core(model)
    prune.to_torch_prune(model)  # the torch.nn.utils.prune form users have
    return model, core


def torch_bytes(model):
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def sparse_peers(model):
    """Forward passes through the baked weights as torch.sparse CSR and as scipy CSR."""
    linears = [m for m in model if isinstance(m, nn.Linear)]
    weights = [m.weight.detach() for m in linears]
    biases = [m.bias.detach() for m in linears]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        t_csr = [w.to_sparse_csr() for w in weights]
    s_csr = [sp.csr_matrix(w.numpy()) for w in weights]

    def torch_sparse(x):
        h = x
        for i, (w, b) in enumerate(zip(t_csr, biases)):
            h = (w @ h.T).T + b
            h = torch.relu(h) if i < len(t_csr) - 1 else h
        return h

    def scipy_csr(x):
        h = x
        for i, (w, b) in enumerate(zip(s_csr, biases)):
            h = (w @ h.T).T + b.numpy()
            h = np.maximum(h, 0) if i < len(s_csr) - 1 else h
        return h

    return torch_sparse, scipy_csr


def bench(sizes, sparsity, batch, threads, repeats):
    torch.set_num_threads(threads)
    numba.set_num_threads(threads)
    model, core = make(sizes, sparsity)
    x = torch.relu(torch.randn(batch, sizes[0], generator=torch.Generator().manual_seed(batch)))
    xn = x.numpy()
    with torch.no_grad():
        ref = model(x).numpy()
    masked_bytes = torch_bytes(model)
    with torch.no_grad():
        t_masked = interleaved_medians({"torch + masks": lambda: model(x)}, repeats)["torch + masks"]
    for m in model:
        if isinstance(m, nn.Linear) and tprune.is_pruned(m):
            tprune.remove(m, "weight")
    torch_sparse, scipy_csr = sparse_peers(model)
    fan_in = core.with_layout("fan-in")
    outs = {
        "torch dense": model(x).detach().numpy(),
        "torch.sparse": torch_sparse(x).numpy(),
        "scipy CSR": scipy_csr(xn),
        "core": core.run(xn).output,
        "core fan-in": fan_in.run(xn).output,
    }
    diffs = {name: float(np.abs(out - ref).max()) for name, out in outs.items()}
    with torch.no_grad():
        t = interleaved_medians(
            {
                "torch dense": lambda: model(x),
                "torch.sparse": lambda: torch_sparse(x),
                "scipy CSR": lambda: scipy_csr(xn),
                "core": lambda: core.run(xn),
                "core fan-in": lambda: fan_in.run(xn),
            },
            repeats,
        )
    result = core.run(xn)
    nnz = [s.nnz for s in core.synapses]
    dense_macs = batch * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    core_bytes = sum(s.nbytes for s in core.synapses) + sum(b.nbytes for b in core.biases)
    fan_in_bytes = sum(s.nbytes for s in fan_in.synapses) + sum(b.nbytes for b in core.biases)
    assert np.array_equal(outs["core"], outs["core fan-in"]), "the layouts must give the same bits"
    return dict(
        sparsity=sparsity,
        batch=batch,
        threads=threads,
        nnz=sum(nnz),
        synops=int(result.synops.sum()),
        sparse_macs=batch * sum(nnz),
        dense_macs=dense_macs,
        core_kernels=list(result.kernels),
        torch_masked_ms=1e3 * t_masked,
        torch_dense_ms=1e3 * t["torch dense"],
        torch_sparse_ms=1e3 * t["torch.sparse"],
        scipy_ms=1e3 * t["scipy CSR"],
        core_ms=1e3 * t["core"],
        core_fan_in_ms=1e3 * t["core fan-in"],
        speedup_vs_dense=t["torch dense"] / t["core"],
        fan_in_speedup_vs_dense=t["torch dense"] / t["core fan-in"],
        speedup_vs_masked=t_masked / t["core"],
        torch_masked_bytes=masked_bytes,
        torch_dense_bytes=torch_bytes(model),
        core_bytes=core_bytes,
        core_bytes_per_nnz=core_bytes / sum(nnz),
        core_fan_in_bytes_per_nnz=fan_in_bytes / sum(nnz),
        max_abs_diff=diffs,
    )


def why(r) -> str:
    """One sentence: the core's work rate against the ~1 ns/event limit of a scalar scatter, and dense torch's."""
    ns = r["core_ms"] * 1e6
    events = r["synops"] / ns
    macs = r["sparse_macs"] / ns
    dense = r["dense_macs"] / (r["torch_dense_ms"] * 1e6)
    kernels = ", ".join(r["core_kernels"])
    return (
        f"{r['sparsity']:.0%} sparse, batch {r['batch']}, {r['threads']} thread(s): core ({kernels}) does "
        f"{macs:.2f} weight×sample MACs/ns ({events:.2f} non-zero-input events/ns; a scalar scatter is capped "
        f"near {1 / EVENT_NS:.0f}/ns per thread), dense torch {dense:.1f} MACs/ns on "
        f"{r['dense_macs'] / r['sparse_macs']:.0f}× as many MACs: the core is {r['speedup_vs_dense']:.2f}× as fast; "
        f"fan-in gathers {r['sparse_macs'] / (r['core_fan_in_ms'] * 1e6):.2f} MACs/ns, "
        f"{r['fan_in_speedup_vs_dense']:.2f}× as fast as dense torch."
    )


def summarize(rows) -> str:
    short = {"event": "e", "batched": "b", "gather": "g"}
    return format_table(
        [
            {
                "sparsity": f"{r['sparsity']:.0%}",
                "batch": r["batch"],
                "threads": r["threads"],
                "torch + masks (ms)": f"{r['torch_masked_ms']:.2f}",
                "torch dense (ms)": f"{r['torch_dense_ms']:.2f}",
                "torch.sparse (ms)": f"{r['torch_sparse_ms']:.2f}",
                "scipy CSR, 1 thread (ms)": f"{r['scipy_ms']:.2f}",
                "core (ms)": f"{r['core_ms']:.2f}",
                "core kernels": "".join(short[k] for k in r["core_kernels"]),
                "core vs dense": f"{r['speedup_vs_dense']:.2f}×",
                "core fan-in (ms)": f"{r['core_fan_in_ms']:.2f}",
                "fan-in vs dense": f"{r['fan_in_speedup_vs_dense']:.2f}×",
                "core vs masks": f"{r['speedup_vs_masked']:.1f}×",
                "torch + masks (MB)": f"{r['torch_masked_bytes'] / 1e6:.1f}",
                "core (MB)": f"{r['core_bytes'] / 1e6:.2f}",
                "core B/nnz": f"{r['core_bytes_per_nnz']:.1f}",
                "max |diff|": f"{max(r['max_abs_diff'].values()):.1e}",
            }
            for r in rows
        ]
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32, 256])
    ap.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=thread_counts(),
        help="thread counts for torch and the core (default: 1 and all)",
    )
    ap.add_argument("--quick", action="store_true", help="80 and 90 %% sparsity, batch 1 and 32, 5 repeats")
    ap.add_argument("--out", type=Path, default=RESULTS / "prune.json")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]  # other work on the machine slows every peer; named in the results
    sparsities = (0.8, 0.9) if args.quick else (0.8, 0.9, 0.95, 0.98)
    batches = [1, 32] if args.quick else args.batch
    repeats = 5 if args.quick else args.repeats
    rows = []
    for threads in args.threads:
        for batch in batches:
            for s in sparsities:
                rows.append(bench(SIZES, s, batch, threads, repeats))
                r = rows[-1]
                print(
                    f"  {s:.0%} batch {batch:3d} threads {threads}: dense {r['torch_dense_ms']:7.2f} ms  "
                    f"core {r['core_ms']:7.2f} ms ({r['speedup_vs_dense']:.2f}×, {'/'.join(r['core_kernels'])})  "
                    f"fan-in {r['core_fan_in_ms']:7.2f} ms ({r['fan_in_speedup_vs_dense']:.2f}×)",
                    flush=True,
                )
    table = summarize(rows)
    where = machine_line(args.threads, load_before)
    reasons = [why(r) for r in rows]
    print(
        f"\nReLU MLP {'-'.join(map(str, SIZES))}, inference, median of {repeats} calls; {where}\n"
        f"{table}\n\nwhy (core kernels per layer: b = batched, e = event):\n" + "\n".join(reasons)
    )
    write_results(args.out, machine=where, sizes=SIZES, repeats=repeats, rows=rows, table=table, why=reasons)


if __name__ == "__main__":
    main()
