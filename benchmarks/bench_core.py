"""Event-driven propagation throughput of the core against scipy, torch.sparse, dense numpy and Brian2.

The task, the same for every peer: 10,000 input units project to 10,000 neurons with a
fixed fan-out and random integer delays (0..64 steps); the inputs spike at random with a
given activity per step for 1,000 steps. Every input spike is delivered through its
synapses with its delay, and each neuron integrates its input as a leaky integrator
``v <- v - v / tau + I(t)`` (a non-spiking SpikingJelly LIF with ``decay_input=False``).
Every peer runs on one thread; sdrnet, torch.sparse and dense numpy also on all threads (the
``threads`` column; numba threads for sdrnet, BLAS/torch threads for the others). Their final ``v`` is
compared with sdrnet's, so every row checks the others. Throughput = synaptic events (input
spikes × fan-out) per second; times are medians of repeated runs, compared within one run.

Peers:
- ``sdrnet Network``: `sdrnet.core.Network`, event-driven with a delay ring buffer.
- ``sdrnet propagate``: `sdrnet.core.propagate` (all currents ``[T, N]`` at once), then the integrator.
- ``scipy CSR``: one sparse mat-vec per step with a ``[(D+1)·N, n_in]`` matrix whose rows are
  (delay, neuron); the result is added into a ring buffer.
- ``torch.sparse CSR``: the same with a torch CSR tensor.
- ``dense numpy``: one dense GEMM ``X[T, n_in] @ W`` for all steps, **delays ignored**
  (with delays it would need 65 dense matrices, 26 GB): a lower bound on a dense simulator.
- ``Brian2``: the same network (SpikeGeneratorGroup → Synapses with per-synapse delays →
  NeuronGroup), runtime mode, the faster of the cython and numpy targets; compilation and
  network construction excluded (a warm-up run first).

Ceiling: what two (all) threads can gain at most on the machine, with nothing shared but the memory system:
the same random scatters into private buffers of one ring's size (per thread: the whole ring, and the
slice a thread gets when one sample is split), run one buffer after another on one thread and side by
side on all threads. A sample split over threads cannot beat this ratio.

Memory: bytes per stored synapse of the `Synapses` (post int32 + weight float32 + delay uint8, and
indptr per row) and of what `Network` adds (its block offsets), written to the JSON.

Usage: python benchmarks/bench_core.py [--steps 1000] [--repeats 5] [--quick] [--no-brian2]
Writes benchmarks/results/bench_core.json and prints a table.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # raised per row (threadpoolctl)
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from functools import partial, wraps  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sdrnet.core import Events, Layer, LIFParams, Network, Synapses, get_cache_size, kernels, propagate, set_num_threads  # noqa: E402
from sdrnet.report import format_table  # noqa: E402

N_IN = N_OUT = 10_000
MAX_DELAY = 64
TAU = 10.0
RESULTS = Path(__file__).resolve().parent / "results"
SETTLE_S = 0.3  # idle seconds before each timed call (`timed`)


def make_problem(fan_out: int, activity: float, n_steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    syn = Synapses.random_fixed_fan_out(
        N_IN, N_OUT, fan_out, rng, weight=lambda r, n: r.normal(0, 0.1, n), max_delay=MAX_DELAY
    )
    spikes = rng.random((n_steps, N_IN)) < activity
    t, u = np.nonzero(spikes)
    events = Events(t, u, None, None, n_steps=n_steps, n_units=N_IN)
    return syn, events


def integrate(currents: np.ndarray) -> np.ndarray:
    v = np.zeros(currents.shape[1], np.float32)
    decay = np.float32(TAU)
    for i_t in currents:
        v = v - v / decay + i_t
    return v


def readout(syn):
    return Network([Layer(syn, LIFParams(tau=TAU, v_threshold=np.inf, decay_input=False))])


def run_network(syn, events, net=None):
    # as the peers: no drain, and only the final potential (no [T, N] trace)
    return (net or readout(syn)).run(events, n_steps=events.n_steps, output=False).state.v[0][0]


def run_propagate(syn, events):
    return integrate(propagate(events, syn, n_steps=events.n_steps)[:, 0, :])


def delay_major_rows(syn):
    """Edges of a [(D+1)·N_out, N_in] matrix whose row is delay·N_out + post."""
    pre = syn.pre()
    return syn.delay.astype(np.int64) * N_OUT + syn.post, pre, syn.weight


def ring_loop(matvec, x_steps, n_steps):
    """Per step: y = M @ x_t, added into a ring buffer of D+1 future steps; integrate the current step."""
    n_ring = MAX_DELAY + 1
    ring = np.zeros((n_ring, N_OUT), np.float32)
    v = np.zeros(N_OUT, np.float32)
    decay = np.float32(TAU)
    x = np.zeros(N_IN, np.float32)
    for t in range(n_steps):
        x[:] = 0
        x[x_steps[t]] = 1
        y = matvec(x).reshape(n_ring, N_OUT)
        rows = (t + np.arange(n_ring)) % n_ring
        ring[rows] += y
        slot = t % n_ring
        v = v - v / decay + ring[slot]
        ring[slot] = 0
    return v


def split_steps(events):
    return np.split(events.unit, np.searchsorted(events.time, np.arange(1, events.n_steps)))


def run_scipy(syn, events):
    import scipy.sparse as sp

    rows, cols, w = delay_major_rows(syn)
    m = sp.csr_matrix((w, (rows, cols)), shape=((MAX_DELAY + 1) * N_OUT, N_IN), dtype=np.float32)
    return ring_loop(lambda x: m @ x, split_steps(events), events.n_steps)


def run_torch(syn, events):
    import torch

    rows, cols, w = delay_major_rows(syn)
    order = np.lexsort((cols, rows))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=(MAX_DELAY + 1) * N_OUT))])
    m = torch.sparse_csr_tensor(
        torch.from_numpy(indptr),
        torch.from_numpy(cols[order]),
        torch.from_numpy(w[order]),
        size=((MAX_DELAY + 1) * N_OUT, N_IN),
    )
    return ring_loop(lambda x: (m @ torch.from_numpy(x)).numpy(), split_steps(events), events.n_steps)


def run_dense(syn, events):
    w = syn.to_dense()
    x = np.zeros((events.n_steps, N_IN), np.float32)
    x[events.time, events.unit] = 1
    return integrate(x @ w)


def brian2_runner(target: str):
    def run(syn, events):
        import brian2 as b2

        b2.prefs.codegen.target = target
        b2.start_scope()
        b2.defaultclock.dt = 1 * b2.ms
        # shift by one step: step 0 is a warm-up run that compiles everything
        gen = b2.SpikeGeneratorGroup(N_IN, events.unit, (events.time + 1) * b2.ms)
        neurons = b2.NeuronGroup(N_OUT, "v : 1")
        neurons.run_regularly(f"v = v - v / {TAU}", when="start")
        s = b2.Synapses(gen, neurons, "w : 1", on_pre="v_post += w")
        s.connect(i=syn.pre(), j=syn.post)
        s.w = syn.weight
        s.delay = syn.delay * b2.ms
        net = b2.Network(gen, neurons, s)
        net.run(1 * b2.ms)
        run.t0 = time.perf_counter()
        net.run(events.n_steps * b2.ms)
        run.t1 = time.perf_counter()
        return np.asarray(neurons.v[:], np.float32)

    return run


def timed(runs: dict, syn, events) -> dict:
    """``{key: (median seconds, output)}`` of ``runs`` = ``{key: (fn, repeats)}``, each called as ``fn(syn, events)``.
    The calls take turns round by round, and a run of one call sits in the middle round, so that a machine
    whose speed drifts (other jobs, a shared cache) slows every peer alike; runs repeated more than once are
    warmed up first. Each call starts `SETTLE_S` after the one before: the BLAS's threads spin on for about
    0.1 s after a GEMM and took a core from whatever ran next (a two-thread `Network` right after the dense
    GEMM ran 53 ms instead of 29)."""
    for fn, repeats in runs.values():
        if repeats > 1:
            fn(syn, events)
    n_rounds = max(repeats for _, repeats in runs.values())
    times, out = {key: [] for key in runs}, {}
    for r in range(n_rounds):
        for key, (fn, repeats) in runs.items():
            if (r >= repeats) if repeats > 1 else (r != n_rounds // 2):
                continue
            time.sleep(SETTLE_S)
            t0 = time.perf_counter()
            out[key] = fn(syn, events)
            t1 = time.perf_counter()
            if hasattr(fn, "t0"):  # timed inside the call (`with_threads`; Brian2 without construction, compilation)
                t0, t1 = fn.t0, fn.t1
            times[key].append(t1 - t0)
    return {key: (statistics.median(times[key]), out[key]) for key in runs}


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call (compilation, allocations)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(fns: dict, repeats: int, per_round: int = 2) -> dict:
    """Median seconds per peer over ``repeats`` calls, made ``per_round`` at a time, peer after peer, round after
    round: so a machine that gets busier slows every peer alike. Each peer's calls in a round follow an untimed
    one, since torch and numba each bring an OpenMP runtime whose threads keep spinning a while after a
    parallel region and would slow whichever peer runs right after the other; the untimed call starts
    `SETTLE_S` after the last peer's, by when the BLAS's threads too have stopped spinning."""
    times = {name: [] for name in fns}
    for _ in range(-(-repeats // per_round)):
        for name, fn in fns.items():
            time.sleep(SETTLE_S)
            fn()
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def cpu() -> str:
    """The CPU model, its core count and its L2 cache per core."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, L2 {get_cache_size() / 2**20:g} MiB per core"


def machine(threads: int = 1) -> str:
    return f"{cpu()}, {threads} thread(s) used" + (" (1 per peer unless a row says)" if threads > 1 else "")


def torch_machine(threads: int) -> str:
    """`machine` for the torch benchmarks: the CPU, the torch version and the thread count used."""
    import torch

    return f"{cpu()}, torch {torch.__version__}, {threads} thread(s)"


def machine_line(threads, load_before: float) -> str:
    """CPU model, cores and L2 per core, torch, the thread counts run and the load average over the run."""
    where = torch_machine(max(threads)).rsplit(", ", 1)[0]
    return (
        f"{where}, threads {'/'.join(map(str, threads))} of {os.cpu_count()} cores (torch and numba alike), "
        f"load average {load_before:.1f} → {os.getloadavg()[0]:.1f}"
    )


def all_threads() -> int:
    import numba

    return numba.config.NUMBA_NUM_THREADS


def thread_counts() -> list[int]:
    """The thread counts every benchmark reports: 1 and all."""
    return sorted({1, all_threads()})


@contextmanager
def using_threads(n: int):
    """Run on ``n`` threads: numba's (sdrnet's kernels), BLAS's and torch's; restored afterwards."""
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    before = numba.get_num_threads(), torch.get_num_threads()
    set_num_threads(n)
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        set_num_threads(before[0])
        torch.set_num_threads(before[1])


def with_threads(fn, n: int):
    """``fn`` run on ``n`` threads (`using_threads`); the call's ``t0``/``t1`` leave out setting the thread counts
    (~1 ms, which torch, numba and the BLAS take) and are ``fn``'s own where it keeps them (Brian2)."""

    @wraps(fn)
    def run(*args):
        with using_threads(n):
            run.t0 = time.perf_counter()
            out = fn(*args)
            run.t1 = time.perf_counter()
        if hasattr(fn, "t0"):
            run.t0, run.t1 = fn.t0, fn.t1
        return out

    return run


def write_results(path: Path, **payload) -> None:
    """Write a benchmark's results as JSON (creating the folder) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of the sdrnet and dense rows (median)")
    ap.add_argument("--quick", action="store_true", help="fan-out 100 only, 200 steps, no dense/Brian2")
    ap.add_argument("--no-brian2", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_core.json")
    args = ap.parse_args(argv)
    steps = 200 if args.quick else args.steps
    configs = [(100, 0.01), (100, 0.05)] if args.quick else [(100, 0.01), (100, 0.05), (1000, 0.01), (1000, 0.05)]
    n_all, threads = all_threads(), thread_counts()
    peers = {  # name: (run, thread counts, repeated: the fast ones, whose medians are compared closely)
        "sdrnet Network": (run_network, threads, True),
        "sdrnet propagate": (run_propagate, threads, True),
        "scipy CSR": (run_scipy, [1], False),
        "torch.sparse CSR": (run_torch, threads, False),
    }
    if not args.quick:
        peers["dense numpy (no delays)"] = (run_dense, threads, True)
    if not (args.quick or args.no_brian2):
        peers["Brian2 cython"] = (brian2_runner("cython"), [1], False)
        peers["Brian2 numpy"] = (brian2_runner("numpy"), [1], False)
    # compile the kernels outside the timings
    warm_syn, warm_ev = make_problem(2, 0.01, 3)
    run_network(warm_syn, warm_ev)
    run_propagate(warm_syn, warm_ev)

    rows, memory = [], []
    for fan_out, activity in configs:
        syn, events = make_problem(fan_out, activity, steps)
        net = readout(syn)
        memory.append(bytes_per_synapse(syn, net, fan_out))
        n_syn_events = events.n_events * fan_out
        runs = {}
        for name, (fn, counts, repeated) in peers.items():
            if fn is run_network:
                fn = partial(run_network, net=net)  # built once: the block offsets are planned on the first run
            for n in counts:
                runs[name, n] = (with_threads(fn, n), args.repeats if repeated else 1)
        ref = None
        for (name, n), (seconds, v) in timed(runs, syn, events).items():
            if ref is None:
                ref = v
            err = float(np.max(np.abs(v - ref)) / (np.max(np.abs(ref)) + 1e-12))
            rows.append(
                dict(
                    fan_out=fan_out,
                    activity=activity,
                    steps=steps,
                    peer=name,
                    threads=n,
                    seconds=seconds,
                    synaptic_events=n_syn_events,
                    events_per_s=n_syn_events / seconds,
                    max_rel_err_vs_sdrnet=err,
                )
            )
            print(
                f"  fan-out {fan_out:5d}  activity {activity:.0%}  {name:24s} {n} thread(s) {seconds:8.3f} s  "
                f"{n_syn_events / seconds / 1e6:9.1f} M events/s  err {err:.1e}",
                flush=True,
            )
    table = summarize(rows)
    ceiling = ceilings(n_all, 8 * args.repeats) if n_all > 1 else []
    limits = "; ".join(f"{c['speedup']:.2f}× with {c['slice_bytes'] / 2**20:.1f} MiB each" for c in ceiling)
    print(f"\n{machine(n_all)}\n{table}\n\nmemory per stored synapse (bytes): {memory}")
    if ceiling:
        print(f"ceiling: {n_all} threads on private random scatters (nothing shared) against one thread: {limits}")
    write_results(
        args.out,
        machine=machine(n_all),
        cpu=cpu(),
        threads=threads,
        n_in=N_IN,
        n_out=N_OUT,
        max_delay=MAX_DELAY,
        repeats=args.repeats,
        rows=rows,
        memory=memory,
        thread_ceiling=ceiling,
        table=table,
    )


def thread_ceiling(n_threads: int, slice_bytes: int, repeats: int, n_scatters: int = 1 << 21) -> float:
    """How many times faster ``n_threads`` threads run ``n_threads`` random scatters (`kernels.scatter_probe`,
    ``n_scatters`` each) into private float32 buffers of ``slice_bytes`` side by side than one thread runs them
    one after another: the most a split of a scatter-bound kernel over threads gains here."""
    rng = np.random.default_rng(0)
    n = slice_bytes // 4
    work = [(np.ones(n, np.float32), rng.integers(0, n, n_scatters)) for _ in range(n_threads)]
    with ThreadPoolExecutor(n_threads) as pool:
        t = interleaved_medians(
            {
                "one thread": lambda: [kernels.scatter_probe(*w) for w in work],
                "side by side": lambda: list(pool.map(lambda w: kernels.scatter_probe(*w), work)),
            },
            repeats,
        )
    return t["one thread"] / t["side by side"]


def ceilings(n_threads: int, repeats: int) -> list[dict]:
    """`thread_ceiling` for a thread's share of the 10k-post ring (delays <= 64): the whole ring and 1/n of it."""
    ring = (MAX_DELAY + 1) * N_OUT * 4
    return [
        dict(threads=n_threads, slice_bytes=ring // k, speedup=thread_ceiling(n_threads, ring // k, repeats))
        for k in (1, n_threads)
    ]


def bytes_per_synapse(syn, net, fan_out: int) -> dict:
    """Bytes per stored synapse: the arrays read per synaptic event, indptr per row, and the block offsets
    a `Network` adds (planned for one sample on one thread and on all threads)."""
    per_event = (syn.post.nbytes + syn.weight.nbytes + syn.delay.nbytes) / syn.nnz
    plan = net._compiled[0]
    offsets = max(plan.blocks(1, n)[1].nbytes for n in (1, all_threads()))
    return dict(
        fan_out=fan_out,
        post_weight_delay=per_event,
        indptr=syn.indptr.nbytes / syn.nnz,
        network_block_offsets=offsets / syn.nnz,
        total=syn.nbytes / syn.nnz + offsets / syn.nnz,
    )


def summarize(rows) -> str:
    """Markdown table: events/s per peer and thread count, and how many times longer it took than sdrnet
    Network on as many threads."""
    ours = {(r["fan_out"], r["activity"], r["threads"]): r["seconds"] for r in rows if r["peer"] == "sdrnet Network"}
    return format_table(
        [
            {
                "fan-out": r["fan_out"],
                "activity": f"{r['activity']:.0%}",
                "peer": r["peer"],
                "threads": r["threads"],
                "time (s)": f"{r['seconds']:.3f}",
                "synaptic events/s": f"{r['events_per_s'] / 1e6:,.1f} M",
                "sdrnet Network speed-up": f"{r['seconds'] / ours[r['fan_out'], r['activity'], r['threads']]:.2f}×",
                "max rel. err": f"{r['max_rel_err_vs_sdrnet']:.1e}",
            }
            for r in rows
        ]
    )


if __name__ == "__main__":
    main()
