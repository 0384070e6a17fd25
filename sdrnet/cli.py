"""The ``sdrnet`` command: ``sdrnet demo`` tours every capability on built-in data.

Errors are one line on stderr with exit status 2, found before any work starts; Ctrl-C ends with
status 130.
"""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import sys
import tempfile
import time
from pathlib import Path

from . import __version__
from ._optional import EXTRAS

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
# optional imports each command needs, and the extra that installs all of them
NEEDS = {"demo": (("torch", "spikingjelly", "nir"), "snn"), "active-dendrites": (("torch",), "torch"),
         "delta": (("torch",), "torch"), "prune": (("torch", "spikingjelly", "nir"), "snn"),
         "snn-train": (("torch", "spikingjelly"), "snn")}
MAX_SEED = 2**32 - 1  # the widest range numpy's legacy seeding and scikit-learn accept


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (argparse's default also prints the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, commands = _parser()
    prog = parser.prog if not argv or argv[0] not in commands else commands[argv[0]].prog
    try:
        return _run(parser, commands, argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        module = (err.name or "").partition(".")[0]
        if module not in EXTRAS:
            raise
        print(f"{prog}: error: {_needs(module, EXTRAS[module])}", file=sys.stderr)
        return 2


def _run(parser: argparse.ArgumentParser, commands: dict[str, argparse.ArgumentParser], argv: list[str]) -> int:
    if argv[:1] == ["snn-train"]:  # its options live in snn.train (imported only when used: torch is slow to load)
        _check_needs(commands["snn-train"])
        from snn.train import main as snn_train

        return snn_train(argv[1:], prog=commands["snn-train"].prog)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _check(commands[args.command], args)
    if args.command == "demo":
        return demo(args.out, seed=args.seed)
    if args.command == "dendrites":
        from dendrites.figures import FULL, QUICK, run

        run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
    elif args.command == "sparsey":
        sparsey(args)
    elif args.command == "delta":
        from snn.delta.experiment import FULL, QUICK, run

        run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
    elif args.command == "prune":
        from sdrnet.prune.experiment import FULL, QUICK, deploy, run
        from sdrnet.prune.targets import PROFILES

        run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)
        deploy(args.out, PROFILES[args.target], seed=args.seed)
    elif args.command == "active-dendrites":
        from dendrites.continual import FULL, QUICK, run, with_mnist

        budget = FULL if args.full else QUICK
        run(args.out, budget=with_mnist(budget, args.mnist) if args.mnist else budget, seed=args.seed,
            progress=not args.no_progress)
    return 0


def demo(out: Path, seed: int = 0) -> int:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, (title, script) in enumerate(DEMO_PARTS, 1):
        path = EXAMPLES / script
        if not path.exists():
            print(f"sdrnet demo: {path} not found; the demo runs the examples of a source checkout "
                  "(pip install -e .)", file=sys.stderr)
            return 2
        print(f"\n=== [{i}/{len(DEMO_PARTS)}] {title} ({script}) ===\n", flush=True)
        runpy.run_path(str(path), run_name="sdrnet_demo")["main"](out, seed=seed)
    print(f"\nsdrnet demo: done in {time.perf_counter() - start:.1f} s; figures and tables in {out}/")
    return 0


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``sdrnet`` parser and its subcommands' parsers by name."""
    parser = Parser(prog="sdrnet", description="Biologically-inspired sparse computing on an event-driven sparse core.")
    parser.add_argument("--version", action="version", version=f"sdrnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_demo = sub.add_parser("demo", help="tour every capability on built-in data (tables, figures under runs/demo)")
    p_demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    p_demo.add_argument("--seed", type=_seed, default=0, help="random seed of every part (default: 0)")
    _experiment(sub, "dendrites", "Ahmad & Hawkins (2016): theory vs Monte Carlo on the core, with figures",
                "larger Monte Carlo budgets (minutes instead of seconds)")
    p_sp = _experiment(sub, "sparsey", "Sparsey: similarity preservation, capacity, single-trial digits (and MNIST)",
                       "larger Monte Carlo budgets")
    p_sp.add_argument("--mnist", type=Path, metavar="DIR",
                      help="also run on MNIST from the standard IDX files in DIR (train-images-idx3-ubyte[.gz], ...)")
    p_sp.add_argument("--per-class", type=_positive, default=200, help="MNIST training images per class (default: 200)")
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
    return parser, sub.choices


def _experiment(sub, name: str, help: str, full_help: str) -> argparse.ArgumentParser:
    """A subcommand with the options every experiment has: --out, --full, --seed, --no-progress."""
    out = Path("runs") / name.replace("-", "_")
    p = sub.add_parser(name, help=help)
    p.add_argument("--out", type=Path, default=out, help=f"output folder (default: {out})")
    p.add_argument("--full", action="store_true", help=full_help)
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return p


def _seed(text: str) -> int:
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before any work, what the command would fail on later: missing extras, MNIST, ``--out``."""
    _check_needs(parser)
    if getattr(args, "mnist", None) is not None:
        from .datasets import mnist_files

        try:
            for split in ("train", "test"):
                mnist_files(args.mnist, split)
        except (OSError, ValueError) as err:
            parser.error(f"--mnist: {err}")
    if getattr(args, "target", None) is not None:
        from .prune.experiment import check_deploy
        from .prune.targets import PROFILES, TargetError

        try:
            check_deploy(PROFILES[args.target])
        except TargetError as err:
            parser.error(f"--target {args.target}: the command's spiking MLP (64 inputs, 128 hidden, 10 outputs) "
                         f"{err.summary}")
    _check_out(parser, args.out)


def _check_needs(parser: argparse.ArgumentParser) -> None:
    modules, extra = NEEDS.get(parser.prog.removeprefix("sdrnet "), ((), ""))
    for module in modules:
        if importlib.util.find_spec(module) is None:
            parser.exit(2, f"{parser.prog}: error: {_needs(module, extra)}\n")


def _needs(module: str, extra: str) -> str:
    return f"this command needs {module}: pip install 'sdrnet[{extra}]'"


def _check_out(parser: argparse.ArgumentParser, out: Path) -> None:
    """Create the output folder ``out`` and check a file can be written in it."""
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        parser.error(f"--out {out}: cannot write there ({err.strerror or err})")


def sparsey(args) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
