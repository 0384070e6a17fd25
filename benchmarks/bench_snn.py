"""Training-step time of the delay SNN (`snn.models.DelaySNN`) against the reference built on `dcls.Dcls1d`.

Ours: `snn.delays.DelayedLinear` (per-synapse Gaussian delay taps, the convolution done exactly as real-DFT
matrix products). Reference: `snn.reference.DclsSNN`, the same network built as Thvnvtos/SNN-delays builds
it (``Dcls1d(version='gauss')`` on zero-padded input: a dense (D + 1)-tap kernel per synapse and a dense
convolution, SpikingJelly LIF), holding a copy of our parameters; both run in the same process on the same
batch, timed alternately. One training step = zero_grad + forward + `snn_loss` + backward + the
reference's Adam steps (weights lr 1e-3 wd 1e-5, BatchNorm wd 0, delays/positions lr 0.1; the reference
group for each of ours, built by `snn.train._optimizers`) + clamp. "forward" = the forward pass alone in
training mode under ``torch.no_grad()``.

Input: SHD-shaped random spike counts ``[100 steps, batch, 140 channels]``, 5 % of the entries non-zero
with counts uniform in 1..3 (an assumed SHD-like density), labels uniform in 0..K-1, seed 0. Dropout is
0 so both models compute the same function (BatchNorm kept, in training mode). Before timing, v_out and the
weight and delay gradients (ours vs −∂/∂P of the reference) are compared on the same batch (max abs diffs,
and the hidden spikes that differ).
In float32 a rounding difference can tip one neuron over threshold and the flip cascades, so the same
comparison is also made with both models in float64 (same initial parameters; ``*_f64`` keys), where they
must agree to rounding.
Configurations: the SHD recipe (2×256, D = 25 taps i.e. max_delay 24, batch 256) at the initial σ = 12
and at the late σ = 0.23, and the SSC recipe (3×512, max_delay 30, 35 classes, batch 128). At σ = 0.23
(width 0.5) the Gaussian tails reach float32 subnormals (exp(−2k²) for k ≈ 6.6-7.2 steps from the delay),
which are slow on x86 CPUs; that σ is timed as training runs it and once more with
``torch.set_flush_denormal(True)`` ("FTZ").

Inference: an SHD-recipe model made trained-like (BatchNorm running statistics from ten training-mode
batches; its hidden layers spike without rescaling the weights, rates in the table), its integer-delay copy
(`model.discretized()`) run in PyTorch under ``no_grad`` on 1 and on 64 samples, vs `export(model)` run
event-driven on the core (`DelaySNNCore.predict`) on the same samples as `Events` (export and the Events
conversion timed apart), both on one thread and both on all threads (torch's and numba's): wall time,
fraction of equal predictions, core synaptic ops vs dense MACs (one MAC per synapse per input step,
delays free; the dcls convolution does (D + 1)× that).

Usage: python benchmarks/bench_snn.py [--repeats 5] [--threads 1] [--quick] [--device cpu|cuda]
Writes benchmarks/results/snn.json (snn_cuda.json with --device cuda) and prints tables.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from bench_core import thread_counts, torch_machine, using_threads, write_results

from sdrnet.core import Events
from sdrnet.report import format_table
from snn.export import DelaySNNCore, export
from snn.models import DelaySNN, SNNConfig, snn_loss, sum_softmax
from snn.reference import DclsSNN
from snn.train import TrainConfig, _optimizers

RESULTS = Path(__file__).resolve().parent / "results"
STEPS, CHANNELS, DENSITY = 100, 140, 0.05
RECIPES = {
    "SHD": dict(n_hidden=256, n_layers=2, n_outputs=20, max_delay=24, tau=1.005, batch=256),
    "SSC": dict(n_hidden=512, n_layers=3, n_outputs=35, max_delay=30, tau=1.5, batch=128),
}
# (recipe, σ (None: the initial max_delay // 2), flush subnormals to zero)
ROWS = [("SHD", None, False), ("SHD", 0.23, False), ("SHD", 0.23, True), ("SSC", None, False)]


def spikes(batch: int, gen: torch.Generator) -> torch.Tensor:
    mask = torch.rand(STEPS, batch, CHANNELS, generator=gen) < DENSITY
    return mask * torch.randint(1, 4, mask.shape, generator=gen).float()


def make(recipe: str, sigma, device, dtype=torch.float32, seed: int = 0):
    """Our model, the dcls reference built in ``dtype`` from a copy of its parameters, a batch and labels."""
    r = dict(RECIPES[recipe])
    batch = r.pop("batch")
    torch.manual_seed(seed)
    model = DelaySNN(SNNConfig(n_inputs=CHANNELS, dropout=0.0, **r)).to(dtype)
    if sigma is not None:
        for syn in model.synapses:
            syn.sigma = sigma
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # Dcls1d's parameters, and P = D//2 − delay, in dtype
    try:
        ref = DclsSNN(model)
    finally:
        torch.set_default_dtype(default)
    gen = torch.Generator().manual_seed(seed)
    x, y = spikes(batch, gen).to(dtype), torch.randint(0, r["n_outputs"], (batch,), generator=gen)
    return model.to(device), ref.to(device), x.to(device), y.to(device)


def compare(model, ref, x, y) -> dict:
    """Max abs differences of v_out, weight gradients and delay gradients (delay = D//2 − P), and the
    number of hidden spikes that differ (float rounding can tip a neuron over threshold; it then cascades)."""
    seen = {id(model): [], id(ref): []}
    hooks = [
        n.register_forward_hook(lambda m, a, s, k=id(net): seen[k].append(s.detach()))
        for net in (model, ref)
        for n in net.neurons
    ]
    v, v_ref = model(x), ref(x)
    for h in hooks:
        h.remove()
    snn_loss(v, y).backward()
    snn_loss(v_ref, y).backward()
    layers = list(zip(model.synapses, ref.convs))
    pairs = {
        "v_out": [(v.detach(), v_ref.detach())],
        "weight_grad": [(s.weight.grad, c.weight.grad.view_as(s.weight)) for s, c in layers],
        "delay_grad": [(s.delay.grad, -c.P.grad.view_as(s.delay)) for s, c in layers],
    }
    res = {
        "hidden_spikes": int(sum(a.sum() for a in seen[id(model)])),
        "hidden_spike_mismatches": int(sum((a != b).sum() for a, b in zip(seen[id(model)], seen[id(ref)]))),
    }
    for name, ab in pairs.items():
        res[f"{name}_max_abs_diff"] = max(float((a - b).abs().max()) for a, b in ab)
        res[f"{name}_max_abs"] = max(float(b.abs().max()) for _, b in ab)
    model.zero_grad(set_to_none=True)
    ref.zero_grad(set_to_none=True)
    return res


def optimizers(model, ref):
    """The reference's Adam groups for ours (`_optimizers`) and the very same groups over the reference."""
    ours, _ = _optimizers(model, TrainConfig())
    pmap = {id(s.weight): c.weight for s, c in zip(model.synapses, ref.convs)}
    pmap.update({id(s.delay): c.P for s, c in zip(model.synapses, ref.convs)})
    pmap.update({id(p): q for p, q in zip(model.norms.parameters(), ref.norms.parameters())})
    theirs = [
        torch.optim.Adam([{**g, "params": [pmap[id(p)] for p in g["params"]]} for g in opt.param_groups])
        for opt in ours
    ]
    return ours, theirs


def train_step(net, opts, x, y):
    def step():
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        snn_loss(net(x), y).backward()
        for opt in opts:
            opt.step()
        net.clamp()

    return step


def forward(net, x):
    def run():
        with torch.no_grad():
            net(x)

    return run


def alternate(fns: dict, repeats: int, sync) -> dict:
    """Median seconds of each function, called in turn (one warm-up call each first)."""
    times = {k: [] for k in fns}
    for i in range(repeats + 1):
        for k, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            if i:
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def bench(recipe, sigma, flush, repeats, device) -> dict:
    diffs64 = compare(*make(recipe, sigma, device, torch.float64))
    model, ref, x, y = make(recipe, sigma, device)
    diffs = compare(model, ref, x, y)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    ours, theirs = optimizers(model, ref)
    torch.set_flush_denormal(flush)
    try:
        t = alternate({"ours": train_step(model, ours, x, y), "dcls": train_step(ref, theirs, x, y)}, repeats, sync)
        f = alternate({"ours": forward(model, x), "dcls": forward(ref, x)}, repeats, sync)
    finally:
        torch.set_flush_denormal(False)
    cfg = model.config
    return dict(
        config=f"{recipe} {cfg.n_layers}×{cfg.n_hidden}, max_delay {cfg.max_delay}, batch {x.shape[1]}",
        sigma=model.synapses[0].sigma,
        flush_denormal=flush,
        steps=STEPS,
        channels=CHANNELS,
        batch=x.shape[1],
        n_layers=cfg.n_layers,
        n_hidden=cfg.n_hidden,
        max_delay=cfg.max_delay,
        train_ours_ms=1e3 * t["ours"],
        train_dcls_ms=1e3 * t["dcls"],
        train_speedup=t["dcls"] / t["ours"],
        forward_ours_ms=1e3 * f["ours"],
        forward_dcls_ms=1e3 * f["dcls"],
        forward_speedup=f["dcls"] / f["ours"],
        **diffs,
        **{f"{k}_f64": v for k, v in diffs64.items()},
    )


def trained_like(seed: int = 0, batches: int = 10):
    """The SHD-recipe model with BatchNorm running statistics from a few training-mode batches."""
    torch.manual_seed(seed)
    model = DelaySNN(SNNConfig())
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _ in range(batches):
            model(spikes(64, gen))
    return model, gen


def inference(model, x, repeats: int, threads: int) -> dict:
    """PyTorch vs the core on ``x``, both on ``threads`` threads (torch's and numba's)."""
    with using_threads(threads):
        return dict(threads=threads, **_inference(model, x, repeats))


def _inference(model, x, repeats: int) -> dict:
    batch = x.shape[1]
    net = model.discretized()
    with torch.no_grad():
        v, hidden = net(x, return_spikes=True)
    pred_torch = sum_softmax(v).argmax(1).numpy()
    t0 = time.perf_counter()
    network = export(model)
    t_export = time.perf_counter() - t0
    t0 = time.perf_counter()
    events = Events.from_dense(x.numpy())
    t_events = time.perf_counter() - t0
    core = DelaySNNCore(network)
    run = core.run(events)  # also compiles the kernels (numba cache)
    pred_core, scores, synops = core.scores(run).argmax(1), core.scores(run), run.synops
    t = alternate({"torch": forward(net, x), "core": lambda: core.predict(events)}, repeats, lambda: None)
    lengths = [STEPS + i * syn.tail for i, syn in enumerate(model.synapses)]  # input steps of each layer
    dense = sum(n * batch * s.in_features * s.out_features for n, s in zip(lengths, model.synapses))
    return dict(
        batch=batch,
        torch_ms=1e3 * t["torch"],
        core_ms=1e3 * t["core"],
        core_speedup=t["torch"] / t["core"],
        export_ms=1e3 * t_export,
        events_ms=1e3 * t_events,
        prediction_agreement=float((pred_core == pred_torch).mean()),
        scores_max_abs_diff=float(abs(scores - sum_softmax(v).numpy()).max()),
        hidden_spike_rate=[float(s.mean()) for s in hidden],
        input_density=float((x > 0).float().mean()),
        core_synops=int(synops.sum()),
        dense_macs=dense,
        dcls_conv_macs=dense * (model.config.max_delay + 1),
        synops_per_dense_mac=int(synops.sum()) / dense,
    )


def tables(rows, inf) -> str:
    train = format_table(
        [
            {
                "configuration": r["config"],
                "σ": f"{r['sigma']:g}" + (" FTZ" if r["flush_denormal"] else ""),
                "step ours (ms)": f"{r['train_ours_ms']:.0f}",
                "step dcls (ms)": f"{r['train_dcls_ms']:.0f}",
                "step speed-up": f"{r['train_speedup']:.2f}×",
                "fwd ours (ms)": f"{r['forward_ours_ms']:.0f}",
                "fwd dcls (ms)": f"{r['forward_dcls_ms']:.0f}",
                "fwd speed-up": f"{r['forward_speedup']:.2f}×",
                "max |Δ| v_out / ∂w / ∂d": f"{r['v_out_max_abs_diff']:.1e} / {r['weight_grad_max_abs_diff']:.1e} / "
                f"{r['delay_grad_max_abs_diff']:.1e}",
                "spike flips": f"{r['hidden_spike_mismatches']} / {r['hidden_spikes']:.2g}",
                "max |Δ| float64": f"{r['v_out_max_abs_diff_f64']:.0e} / {r['weight_grad_max_abs_diff_f64']:.0e} / "
                f"{r['delay_grad_max_abs_diff_f64']:.0e}",
            }
            for r in rows
        ]
    )
    if inf is None:
        return train
    infer = format_table(
        [
            {
                "inference (SHD model)": f"{i['batch']} sample(s)",
                "threads": i["threads"],
                "PyTorch discretized (ms)": f"{i['torch_ms']:.1f}",
                "core predict (ms)": f"{i['core_ms']:.1f}",
                "core speed-up": f"{i['core_speedup']:.2f}×",
                "equal predictions": f"{i['prediction_agreement']:.3f}",
                "core synops / dense MACs": f"{i['core_synops']:.3g} / {i['dense_macs']:.3g}",
                "hidden spike rate": " / ".join(f"{r:.3f}" for r in i["hidden_spike_rate"]),
            }
            for i in inf
        ]
    )
    return f"{train}\n\n{infer}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed calls of each (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="the SHD configuration at the initial σ only")
    ap.add_argument(
        "--device",
        default="cpu",
        choices=["cpu", "cuda"],
        help="where the training-step comparison runs (inference stays on the CPU)",
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device available, skipping")
        return
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    start = time.perf_counter()
    rows = []
    for recipe, sigma, flush in ROWS[:1] if args.quick else ROWS:
        rows.append(bench(recipe, sigma, flush, args.repeats, device))
        r = rows[-1]
        print(
            f"  {r['config']:36s} σ={r['sigma']:<5g}{' FTZ' if flush else '    '} step: ours "
            f"{r['train_ours_ms']:6.0f} ms  dcls {r['train_dcls_ms']:6.0f} ms  {r['train_speedup']:.2f}×",
            flush=True,
        )
    inf = None
    if device.type == "cpu":
        model, gen = trained_like()
        x = spikes(64, gen)
        inf = [inference(model, x[:, :b], args.repeats, n) for b in (1, 64) for n in thread_counts()]
    where = torch_machine(args.threads)
    if device.type == "cuda":
        where = f"{torch.cuda.get_device_name()}, host {where}"
    table = tables(rows, inf)
    elapsed = time.perf_counter() - start
    print(
        f"\ntraining step (zero_grad + forward + loss + backward + Adam + clamp) and forward, median of "
        f"{args.repeats}; {where}\n{table}\n(run time {elapsed:.0f} s)"
    )
    out = args.out or RESULTS / ("snn.json" if device.type == "cpu" else "snn_cuda.json")
    write_results(
        out,
        machine=where,
        device=args.device,
        repeats=args.repeats,
        input=dict(steps=STEPS, channels=CHANNELS, density=DENSITY, counts="1..3", dropout=0.0, seed=0),
        rows=rows,
        inference=inf,
        table=table,
        run_time_s=elapsed,
    )


if __name__ == "__main__":
    main()
