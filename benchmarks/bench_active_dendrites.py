"""Training-step time of `dendrites.nn.DendriticMLP` against a straightforward einsum implementation of the same model.

One training step = forward + backward + Adam step + re-zeroing the sparse weights, on the same
parameters (the reference holds the very same tensors). The reference is what nupic.research
does: every sample's context goes through every segment with ``einsum("ijk,bk->bij")``, the
absolute-max segment is gathered, k-WTA thresholds with ``kthvalue`` and the masks are re-applied
with ``masked_fill_`` after each step. Ours evaluates the segments once per distinct context row
(the paper's batches carry one task's context), views the segment weights as one GEMM and
re-zeroes with a multiply, skipping masks with nothing off. Both use ``torch.optim.Adam(fused=True)``.

Before timing, outputs and all gradients are compared on the same batch. Shapes: the paper's
permuted-MNIST network (784 inputs, 2×2048 hidden, 5 % k-WTA, 50 % weight sparsity, context =
784, batch 256) with 10 and 100 segments, a digits-sized one (64 inputs, 2×512, batch 64), and
the paper's network with a *different* context in every row, where grouping cannot help.

Each configuration runs on one torch thread and on all of them (the ``threads`` column).

Usage: python benchmarks/bench_active_dendrites.py [--repeats 5] [--quick]
Writes benchmarks/results/active_dendrites.json and prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from bench_core import all_threads, thread_counts, torch_machine, using_threads, write_results
from torch import nn
from torch.nn import functional as F

from dendrites.nn import DendriticMLP, rezero_weights
from sdrnet.report import format_table

RESULTS = Path(__file__).resolve().parent / "results"
# name, input size, hidden sizes, segments, batch, contexts ("one": one per batch, "distinct": one per row)
CONFIGS = [
    ("paper, 10 segments", 784, (2048, 2048), 10, 256, "one"),
    ("paper, 100 segments", 784, (2048, 2048), 100, 256, "one"),
    ("paper, 10 segments, distinct contexts", 784, (2048, 2048), 10, 256, "distinct"),
    ("digits-sized, 10 segments", 64, (512, 512), 10, 64, "one"),
]


class EinsumMLP(nn.Module):
    """The same network, written plainly (nupic.research style), over ``model``'s own parameters."""

    def __init__(self, model: DendriticMLP):
        super().__init__()
        self.model = model
        self.masked = [(layer.linear.module.weight, layer.linear.zero_mask) for layer in model.layers]
        self.masked += [(layer.segments.weights, layer.segments.zero_mask) for layer in model.layers]
        self.masked.append((model.output.module.weight, model.output.zero_mask))

    def forward(self, x, context):
        context = context.expand(x.shape[0], -1)  # nupic's train_prototype repeats the context per row
        for layer, kw in zip(self.model.layers, self.model.activations):
            y = F.linear(x, layer.linear.module.weight, layer.linear.module.bias)
            d = torch.einsum("ijk,bk->bij", layer.segments.weights, context)
            winner = d.abs().max(dim=2).indices
            y = y * torch.sigmoid(torch.gather(d, 2, winner.unsqueeze(2)).squeeze(2))
            x = self.kwinners(y, kw)
        return F.linear(x, self.model.output.module.weight, self.model.output.module.bias)

    @staticmethod
    def kwinners(y, kw):
        threshold = y.detach().kthvalue(kw.n - kw.k + 1, dim=1, keepdim=True).values
        out = y.masked_fill(y.detach() < threshold, 0.0)
        with torch.no_grad():  # nupic's duty-cycle update, as ours does
            kw.learning_iterations += y.shape[0]
            period = min(kw.duty_cycle_period, int(kw.learning_iterations))
            kw.duty_cycle.mul_(period - y.shape[0]).add_((out > 0).sum(0, dtype=torch.float)).div_(period)
        return out

    @torch.no_grad()
    def rezero(self):
        for weight, mask in self.masked:
            weight.masked_fill_(mask, 0.0)


def make(input_size, hidden, segments, batch, contexts, seed=0):
    torch.manual_seed(seed)
    model = DendriticMLP(input_size, hidden, 10, segments, input_size, kw=True, kw_percent_on=0.05, weight_sparsity=0.5)
    x, y = torch.randn(batch, input_size), torch.randint(0, 10, (batch,))
    c = torch.randn(input_size) if contexts == "one" else torch.randn(batch, input_size)
    return model, x, y, c


def compare(model, ref, x, y, c):
    """Largest relative difference of the logits and of every gradient, ours vs the reference."""
    diffs = {}
    for name, net in (("ours", model), ("ref", ref)):
        model.zero_grad()
        out = net(x, c)
        F.cross_entropy(out, y).backward()
        diffs[name] = [out.detach()] + [p.grad.clone() for p in model.parameters()]
    return max(float((a - b).abs().max() / b.abs().max().clamp(min=1e-30)) for a, b in zip(diffs["ours"], diffs["ref"]))


def time_steps(net, model, x, y, c, repeats, rezero):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    optimizer.register_step_post_hook(lambda *_: rezero())

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, c), y).backward()
        optimizer.step()

    step()  # warm-up: allocations, Adam state
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    return statistics.median(times)


def bench(config, repeats):
    name, input_size, hidden, segments, batch, contexts = config
    model, x, y, c = make(input_size, hidden, segments, batch, contexts)
    ref = EinsumMLP(model)
    model.eval()  # compare without duty-cycle updates, then time in training mode
    with torch.no_grad():
        same_eval = float((model(x, c) - ref(x, c)).abs().max())
    model.train()
    rel = compare(model, ref, x, y, c)
    ours = time_steps(model, model, x, y, c, repeats, lambda: rezero_weights(model))
    theirs = time_steps(ref, model, x, y, c, max(2, repeats // 2), ref.rezero)
    return dict(
        config=name,
        input=input_size,
        hidden=list(hidden),
        segments=segments,
        batch=batch,
        contexts=contexts,
        parameters=sum(p.numel() for p in model.parameters()),
        ours_ms=1e3 * ours,
        einsum_ms=1e3 * theirs,
        speedup=theirs / ours,
        max_rel_diff=rel,
        max_abs_diff_eval=same_eval,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed steps of ours (the reference: half, at least 2)")
    ap.add_argument("--quick", action="store_true", help="the digits-sized configuration only")
    ap.add_argument("--out", type=Path, default=RESULTS / "active_dendrites.json")
    args = ap.parse_args(argv)
    rows = []
    for config in CONFIGS[-1:] if args.quick else CONFIGS:
        for n in thread_counts():
            with using_threads(n):
                row = dict(threads=n, **bench(config, args.repeats))
            rows.append(row)
            print(
                f"  {row['config']:40s} {n} thread(s) ours {row['ours_ms']:9.1f} ms  einsum {row['einsum_ms']:9.1f} "
                f"ms  {row['speedup']:5.1f}×  max rel diff {row['max_rel_diff']:.1e}",
                flush=True,
            )
    table = summarize(rows)
    where = torch_machine(all_threads())
    print(f"\ntraining step (forward + backward + Adam + rezero), median; {where}\n{table}")
    write_results(args.out, machine=where, repeats=args.repeats, rows=rows, table=table)


def summarize(rows) -> str:
    return format_table(
        [
            {
                "configuration": r["config"],
                "threads": r["threads"],
                "parameters": f"{r['parameters'] / 1e6:.1f} M",
                "DendriticMLP (ms)": f"{r['ours_ms']:.1f}",
                "einsum reference (ms)": f"{r['einsum_ms']:.1f}",
                "speed-up": f"{r['speedup']:.1f}×",
                "max rel. diff (outputs, grads)": f"{r['max_rel_diff']:.1e}",
            }
            for r in rows
        ]
    )


if __name__ == "__main__":
    main()
