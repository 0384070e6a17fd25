"""Codes per second of one Sparsey macrocolumn: `sdrnet.sparsey` against the same CSA written in plain numpy.

The task (issue 18): a macrocolumn of Q = 64 competitive modules × K = 16 cells over a 1,024-bit
input; inputs have 32 active bits (3 %, the sparse end of the 3–8 % that Sparsey gates on). Learning
mode stores 200 random inputs in a fresh macrocolumn, one at a time (the CSA draws one winner per CM,
then single-trial Hebbian learning); recognition mode codes those 200 and 200 novel inputs (argmax V
per CM). The CSA parameters are those of ``sdrnet sparsey``'s digits (v₀ = 0.8, G⁻ = 0.3), with
which every stored input is recognised with its stored code (with the defaults, cells that won often
come to match every input and recall degrades; the results report this fraction).

Peers:
- ``sdrnet.sparsey``: `Macrocolumn.learn` per input, `Macrocolumn.recognize` on the batch of 400
  (and, for reference, one input at a time). Learned synapses are growable rows; the CSA is one
  numba kernel per call, with V and μ tabulated per U sum (they depend on nothing else without H
  and D input). Most of its time is the U sums: at 32 % saturation an input's 32 active bits reach
  about 11,000 learned synapses.
- ``numpy``: the CSA as a user would write it from the papers: dense binary weights ``[1024, Q·K]``,
  the sums over the active inputs vectorised, then a loop over the Q CMs, each vectorised over its K
  cells (G, then the sigmoid, ρ and the draw, or the argmax), and the weights set with ``np.ix_``.

Both run on the same inputs and the same random stream (one uniform draw per CM), and their codes
are compared before any timing. Learning is sequential (one input at a time), so only recognition
of a batch uses more than one thread.

Usage: python benchmarks/bench_sparsey.py [--repeats 5] [--quick]
Writes benchmarks/results/sparsey.json and prints a table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # raised per row (threadpoolctl)
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from bench_core import machine, median_time, thread_counts, using_threads, write_results  # noqa: E402

from sdrnet.report import format_table  # noqa: E402
from sdrnet.sdr import SDRBatch  # noqa: E402
from sdrnet.sparsey import CSAParams, Macrocolumn  # noqa: E402

N_INPUTS, Q, K, ACTIVE, STORED = 1024, 64, 16, 32, 200
PARAMS = CSAParams(sigmoid_center=0.8, familiarity_min=0.3)
RESULTS = Path(__file__).resolve().parent / "results"


class NumpyMacrocolumn:
    """The CSA of `sdrnet.sparsey.csa` (Rinkus 2010, 2014) in plain numpy, one CM at a time."""

    def __init__(self, params: CSAParams):
        self.p = params
        self.W = np.zeros((N_INPUTS, Q * K), bool)

    def code(self, x: np.ndarray, rng: np.random.Generator | None):
        p = self.p
        active = np.flatnonzero(x)
        V = (np.minimum(self.W[active].sum(axis=0) / len(active), 1.0) ** p.u_exponent).reshape(Q, K)
        G = np.mean([V[q].max() for q in range(Q)])
        winners = np.empty(Q, np.int64)
        if rng is None:
            for q in range(Q):
                winners[q] = np.argmax(V[q])
            return winners, G
        g = max(0.0, (G - p.familiarity_min) / (1 - p.familiarity_min))
        eta = 1 + g**p.gamma * p.chi * K
        r = rng.random(Q)
        for q in range(Q):
            mu = 1 + (eta - 1) / (1 + np.exp(np.clip(-p.sigmoid_slope * (V[q] - p.sigmoid_center), -700, 700)))
            cum = np.cumsum(mu / mu.sum())
            winners[q] = min(int(np.searchsorted(cum, r[q] * cum[-1], side="right")), K - 1)
        self.W[np.ix_(active, np.arange(Q) * K + winners)] = True
        return winners, G


def learn_sdrnet(stored, seed):
    mac, rng = Macrocolumn(N_INPUTS, Q, K, params=PARAMS), np.random.default_rng(seed)
    return mac, [mac.learn(x, rng) for x in stored]


def learn_numpy(stored, seed):
    mac, rng = NumpyMacrocolumn(PARAMS), np.random.default_rng(seed)
    return mac, [mac.code(x, rng) for x in stored]


def same_codes(ours, theirs) -> bool:
    winners = np.array([w for w, _ in theirs])
    G = np.array([g for _, g in theirs])
    return bool(np.array_equal(ours.winners, winners) and np.allclose(ours.familiarity, G, rtol=0, atol=1e-12))


def stack(codes):
    return type(codes[0])(*(np.array(field) for field in zip(*codes)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 repeats")
    ap.add_argument("--out", type=Path, default=RESULTS / "sparsey.json")
    args = ap.parse_args(argv)
    repeats = 2 if args.quick else args.repeats
    warnings.simplefilter("ignore", RuntimeWarning)  # saturation is reported in the results instead
    data = SDRBatch.random(N_INPUTS, ACTIVE, 2 * STORED, np.random.default_rng(0)).dense
    stored, queries = data[:STORED], data

    ours, our_codes = learn_sdrnet(stored, seed=1)
    ref, ref_codes = learn_numpy(stored, seed=1)
    learned_same = same_codes(stack(our_codes), ref_codes)
    recognized = ours.recognize(queries)
    recognized_same = same_codes(recognized, [ref.code(x, None) for x in queries])
    recall = float(np.mean((recognized.winners[:STORED] == stack(our_codes).winners).all(axis=1)))
    print(
        f"same codes as numpy: learning {learned_same}, recognition {recognized_same}; saturation "
        f"{ours.saturation[0]:.1%}; stored inputs recognised with their stored code: {recall:.1%}",
        flush=True,
    )

    rows = []
    for threads in thread_counts():
        with using_threads(threads):
            t_numpy_learn = median_time(lambda: learn_numpy(stored, 1), repeats)
            t_ours_learn = median_time(lambda: learn_sdrnet(stored, 1), repeats)
            t_numpy_recog = median_time(lambda: [ref.code(x, None) for x in queries], repeats)
            t_ours_batch = median_time(lambda: ours.recognize(queries), repeats)
            t_ours_single = median_time(lambda: [ours.recognize(x) for x in queries], repeats)
        for mode, peer, seconds, codes, base in (
            ("learning", "sdrnet.sparsey", t_ours_learn, STORED, t_numpy_learn),
            ("learning", "numpy", t_numpy_learn, STORED, t_numpy_learn),
            ("recognition", "sdrnet.sparsey (batch of 400)", t_ours_batch, len(queries), t_numpy_recog),
            ("recognition", "sdrnet.sparsey (one at a time)", t_ours_single, len(queries), t_numpy_recog),
            ("recognition", "numpy", t_numpy_recog, len(queries), t_numpy_recog),
        ):
            rows.append(
                dict(
                    mode=mode,
                    peer=peer,
                    threads=threads,
                    seconds=seconds,
                    codes=codes,
                    codes_per_s=codes / seconds,
                    speedup_vs_numpy=base / seconds,
                )
            )
        print(
            f"  {threads} thread(s): learning {t_numpy_learn / t_ours_learn:.1f}×, recognition "
            f"{t_numpy_recog / t_ours_batch:.1f}× (batch), {t_numpy_recog / t_ours_single:.1f}× (one at a time)",
            flush=True,
        )
    table = format_table(
        [
            {
                "mode": r["mode"],
                "peer": r["peer"],
                "threads": r["threads"],
                "codes/s": f"{r['codes_per_s']:,.0f}",
                "speed-up vs numpy": f"{r['speedup_vs_numpy']:.1f}×",
            }
            for r in rows
        ]
    )
    where = machine(max(thread_counts()))
    print(
        f"\nmacrocolumn Q={Q}, K={K}, {N_INPUTS}-bit inputs with {ACTIVE} active, {STORED} stored; median of "
        f"{repeats}; {where}\n{table}"
    )
    write_results(
        args.out,
        machine=where,
        Q=Q,
        K=K,
        n_inputs=N_INPUTS,
        active=ACTIVE,
        stored=STORED,
        repeats=repeats,
        same_codes_learning=learned_same,
        same_codes_recognition=recognized_same,
        saturation=float(ours.saturation[0]),
        stored_code_recall=recall,
        rows=rows,
        table=table,
    )


if __name__ == "__main__":
    main()
