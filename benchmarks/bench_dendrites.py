"""Segment evaluations per second: dendritic segments against SDR inputs, sdrnet vs numpy vs scipy.

The task (issue 3): 100,000 segments of 24 synapses each over n = 2,048 input cells; inputs
with 40 active cells, in batches of 1,000. One segment evaluation = one (segment, input)
pair decided against the NMDA threshold θ = 12 (Ahmad & Hawkins 2016). Every peer returns
the same set of (input, segment) pairs with overlap >= θ, and the sets are compared.

Peers (one thread each; sdrnet and numpy also on all threads, numba's and BLAS's):
- ``sdrnet segment_matches``: `dendrites.neuron.segment_matches`, event-driven push of the
  active cells through the synapses into per-segment counters, matches recorded on the fly.
- ``sdrnet core.overlap``: `sdrnet.core.overlap`, the full [inputs × segments] count matrix,
  then thresholded with numpy.
- ``numpy dense``: float32 BLAS product of the dense binary input matrix [1000, 2048] with the
  dense binary segment matrix [2048, segments] (in blocks of 10,000 segments, 82 MB each),
  thresholded.
- ``scipy sparse``: CSR inputs × CSR segment matrix (blocks of 100 inputs), thresholded.

Usage: python benchmarks/bench_dendrites.py [--batches 3] [--quick]
Writes benchmarks/results/bench_dendrites.json and prints a table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # raised per row (threadpoolctl)
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from bench_core import all_threads, machine, thread_counts, using_threads, write_results  # noqa: E402

from dendrites.neuron import DendriticPopulation, segment_matches  # noqa: E402
from sdrnet.core import overlap  # noqa: E402
from sdrnet.report import format_table  # noqa: E402
from sdrnet.sdr import SDRBatch  # noqa: E402

N, ACTIVE, S, THETA, BATCH = 2048, 40, 24, 12, 1000
RESULTS = Path(__file__).resolve().parent / "results"


def run_matches(syn, inputs):
    return segment_matches(inputs, syn, THETA)


def run_core_overlap(syn, inputs):
    return np.nonzero(overlap(inputs.as_active_lists(), syn) >= THETA)


def run_numpy(dense, inputs, block=10_000):
    x = inputs.dense.astype(np.float32)
    found = []
    for start in range(0, dense.shape[1], block):
        counts = x @ dense[:, start : start + block]
        b, j = np.nonzero(counts >= THETA - 0.5)
        found.append((b, j + start))
    return _merge(found)


def run_scipy(w, inputs, block=100):
    import scipy.sparse as sp

    x = sp.csr_matrix(
        (np.ones(inputs.indices.shape[0], np.float32), inputs.indices, inputs.indptr), shape=(len(inputs), N)
    )
    found = []
    for start in range(0, len(inputs), block):
        counts = (x[start : start + block] @ w).tocoo()
        keep = counts.data >= THETA - 0.5
        found.append((counts.row[keep] + start, counts.col[keep]))
    return _merge(found)


def _merge(found):
    b = np.concatenate([f[0] for f in found]).astype(np.int64)
    j = np.concatenate([f[1] for f in found]).astype(np.int64)
    order = np.lexsort((j, b))
    return b[order], j[order]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=3, help="batches of 1,000 inputs per peer (default 3)")
    ap.add_argument("--quick", action="store_true", help="10,000 segments, one batch")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_dendrites.json")
    args = ap.parse_args(argv)
    n_segments, n_batches = (10_000, 1) if args.quick else (args.segments, args.batches)
    rng = np.random.default_rng(0)
    pop = DendriticPopulation.random(N, n_segments, rng, theta=THETA, synapses_per_segment=S)
    syn = pop.synapses
    batches = [SDRBatch.random(N, ACTIVE, BATCH, rng) for _ in range(n_batches)]
    threads = thread_counts()
    for n in threads:  # compile outside the timings
        with using_threads(n):
            run_matches(syn, batches[0][:10])
            run_core_overlap(syn, batches[0][:10])
    # (run, the segments in the form it takes: built once, outside the timings, thread counts)
    peers = {
        "sdrnet segment_matches": (run_matches, syn, threads),
        "sdrnet core.overlap": (run_core_overlap, syn, threads),
        "numpy dense (BLAS)": (run_numpy, syn.to_dense(), threads),  # float32 [n, segments], weights all 1
        "scipy sparse": (run_scipy, syn.to_scipy(), [1]),
    }
    rows, reference = [], None
    for name, (fn, segments, counts) in peers.items():
        for n in counts:
            seconds, found = 0.0, []
            with using_threads(n):
                for inputs in batches:
                    t0 = time.perf_counter()
                    b, j = fn(segments, inputs)
                    seconds += time.perf_counter() - t0
                    found.append(_merge([(b, j)]))
            if reference is None:
                reference = found
            same = all(np.array_equal(f[0], r[0]) and np.array_equal(f[1], r[1]) for f, r in zip(found, reference))
            evaluations = n_segments * BATCH * n_batches
            rows.append(
                dict(
                    peer=name,
                    threads=n,
                    seconds=seconds,
                    evaluations=evaluations,
                    evaluations_per_s=evaluations / seconds,
                    matches=int(sum(f[0].shape[0] for f in found)),
                    same_matches_as_sdrnet=bool(same),
                )
            )
            print(
                f"  {name:24s} {n} thread(s) {seconds:8.3f} s  {evaluations / seconds / 1e9:7.3f} G evaluations/s  "
                f"same={same}",
                flush=True,
            )
    dense_bytes = N * n_segments * 4 / syn.nnz  # float32 dense segment matrix
    memory = dict(
        sdrnet_bytes_per_synapse=syn.bytes_per_synapse,
        sdrnet_kernel_bytes_per_synapse=(syn.indptr.nbytes + syn.post.nbytes) / syn.nnz,
        dense_float32_bytes_per_synapse=dense_bytes,
    )
    table = summarize(rows)
    print(f"\n{machine(all_threads())}\n{table}")
    print(
        f"\nmemory: Synapses {memory['sdrnet_bytes_per_synapse']:.2f} B/synapse "
        f"({memory['sdrnet_kernel_bytes_per_synapse']:.2f} read by the kernel: indptr + post); "
        f"dense float32 matrix {dense_bytes:.0f} B/synapse"
    )
    write_results(
        args.out,
        machine=machine(all_threads()),
        threads=threads,
        n=N,
        active=ACTIVE,
        s=S,
        theta=THETA,
        batch=BATCH,
        segments=n_segments,
        batches=n_batches,
        rows=rows,
        memory=memory,
        table=table,
    )


def summarize(rows) -> str:
    """Markdown table; the speed-up is against sdrnet segment_matches on as many threads."""
    ours = {r["threads"]: r["seconds"] for r in rows if r["peer"] == "sdrnet segment_matches"}
    return format_table(
        [
            {
                "peer": r["peer"],
                "threads": r["threads"],
                "time (s)": f"{r['seconds']:.3f}",
                "segment evaluations/s": f"{r['evaluations_per_s'] / 1e9:.3f} G",
                "sdrnet speed-up": f"{r['seconds'] / ours[r['threads']]:.1f}×",
                "same matches": r["same_matches_as_sdrnet"],
            }
            for r in rows
        ]
    )


if __name__ == "__main__":
    main()
