"""The ``sdrnet`` command: ``sdrnet demo`` tours every capability on built-in data."""

from __future__ import annotations

import argparse
import runpy
import sys
import time
from pathlib import Path

from . import __version__

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# (title, example script) for each capability, in tour order; later capabilities add theirs.
DEMO_PARTS = [
    ("the event-driven sparse core", "core_quickstart.py"),
    ("SDRs and encoders", "sdr_encoders.py"),
    ("dendritic pattern recognition (Ahmad & Hawkins 2016)", "dendrites_figures.py"),
    ("Sparsey associative memory (Rinkus)", "sparsey_digits.py"),
    ("active-dendrite networks for continual learning (Iyer et al. 2022)", "active_dendrites_permuted_digits.py"),
    ("spiking networks with learnable delays (Hammouamri et al. 2023)", "snn_delays_timing.py"),
    ("delta activation layers: temporal sparsity on moving digits (Yousefzadeh & Sifalakis)", "delta_video.py"),
    ("pruning for neuromorphic targets (Zhu & Gupta 2017, RigL, lottery tickets, N:M)", "prune_for_loihi.py"),
]


def demo(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, (title, script) in enumerate(DEMO_PARTS, 1):
        path = EXAMPLES / script
        if not path.exists():
            print(f"sdrnet demo: {path} not found; the demo runs the examples of a source checkout "
                  "(pip install -e .)", file=sys.stderr)
            return 2
        print(f"\n=== [{i}/{len(DEMO_PARTS)}] {title} ({script}) ===\n", flush=True)
        runpy.run_path(str(path), run_name="sdrnet_demo")["main"](out)
    print(f"\nsdrnet demo: done in {time.perf_counter() - start:.1f} s; figures and tables in {out}/")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["snn-train"]:  # its options live in snn.train (imported only when used: torch is slow to load)
        from snn.train import main as snn_train

        return snn_train(argv[1:])
    parser = argparse.ArgumentParser(
        prog="sdrnet", description="Biologically-inspired sparse computing on an event-driven sparse core.")
    parser.add_argument("--version", action="version", version=f"sdrnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_demo = sub.add_parser("demo", help="tour every capability on built-in data (tables, figures under runs/demo)")
    p_demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    _experiment(sub, "dendrites", "Ahmad & Hawkins (2016): theory vs Monte Carlo on the core, with figures",
                "larger Monte Carlo budgets (minutes instead of seconds)")
    p_sp = _experiment(sub, "sparsey", "Sparsey: similarity preservation, capacity, single-trial digits (and MNIST)",
                       "larger Monte Carlo budgets")
    p_sp.add_argument("--mnist", type=Path, metavar="DIR",
                      help="also run on MNIST from the standard IDX files in DIR (train-images-idx3-ubyte[.gz], ...)")
    p_sp.add_argument("--per-class", type=int, default=200, help="MNIST training images per class (default: 200)")
    p_ad = _experiment(sub, "active-dendrites",
                       "Iyer et al. (2022): permuted digits, active dendrites vs k-WTA only vs dendrites only vs MLP",
                       "50 tasks, 2×1024 hidden, 3 seeds (about 20 min)")
    p_ad.add_argument("--mnist", type=Path, metavar="DIR", help="permuted MNIST from the standard IDX files in DIR")
    sub.add_parser("snn-train", add_help=False,
                   help="train a delay SNN (DCLS) on SHD/SSC or the built-in timing task; see snn-train --help")
    _experiment(sub, "delta", "delta activation layers on moving digits: sparsity, operations, core",
                "more clips, epochs and penalty strengths")
    p_prune = _experiment(sub, "prune", "pruning methods on digits, then a spiking MLP fitted to a chip profile",
                          "larger network, more epochs and seeds")
    p_prune.add_argument("--target", choices=["loihi", "xylo", "spinnaker"], default="loihi",
                         help="hardware profile to fit (default: loihi)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.out)
    if args.command == "dendrites":
        from dendrites.figures import FULL, QUICK, run

        run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
        return 0
    if args.command == "sparsey":
        return sparsey(args)
    if args.command == "delta":
        from snn.delta.experiment import FULL, QUICK, run

        run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
        return 0
    if args.command == "prune":
        from sdrnet.prune.experiment import FULL, QUICK, deploy, run
        from sdrnet.prune.targets import PROFILES

        run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
        deploy(args.out, PROFILES[args.target], seed=args.seed)
        return 0
    if args.command == "active-dendrites":
        from dendrites.continual import FULL, QUICK, run, with_mnist

        budget = FULL if args.full else QUICK
        run(args.out, budget=with_mnist(budget, args.mnist) if args.mnist else budget, seed=args.seed,
            progress=not args.no_progress)
        return 0
    parser.print_help()
    return 0


def _experiment(sub, name: str, help: str, full_help: str) -> argparse.ArgumentParser:
    """A subcommand with the options every experiment has: --out, --full, --seed, --no-progress."""
    out = Path("runs") / name.replace("-", "_")
    p = sub.add_parser(name, help=help)
    p.add_argument("--out", type=Path, default=out, help=f"output folder (default: {out})")
    p.add_argument("--full", action="store_true", help=full_help)
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def sparsey(args) -> int:
    import json

    from sdrnet.report import format_table
    from sdrnet.sparsey.experiments import FULL, QUICK, mnist, run

    results = run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
    if args.mnist is not None:
        rows, info = mnist(args.mnist, per_class=args.per_class, seed=args.seed, progress=not args.no_progress)
        print(format_table(rows, f"MNIST ({info['n_train']} train / {info['n_test']} test); sparsey.com reports 91 % "
                                 "with 200 per class in 220 s on one thread"))
        results.update(mnist=rows, mnist_info=info)
        (args.out / "sparsey.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
