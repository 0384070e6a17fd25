"""The ``sdrnet`` command: ``sdrnet demo`` tours every capability on built-in data.

Each subcommand is a `Command`. sdrnet's own (``demo``, ``sparsey``, ``prune``) are defined here; the other
installed packages announce theirs in the ``sdrnet.commands`` entry-point group (``name = module:COMMAND``
in setup.cfg: ``snn-train`` and ``delta`` in `snn.commands`, ``dendrites`` and ``active-dendrites`` in
`dendrites.commands`), so that this module imports none of them. A command's module loads nothing heavy
(no torch): the work is imported when the command runs.

An experiment command (one with a ``budget``) follows `sdrnet.experiment`'s protocol: the options of
`sdrnet.experiment.add_options`, the budget resolved from them before any work, ``config.json`` written
before the run and the results it returns written as ``results.json``.

Errors are one line on stderr with exit status 2, found before any work starts; Ctrl-C ends with
status 130. The first compilation of the kernels prints one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import importlib.util
import inspect
import runpy
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sdrnet import experiment
from sdrnet.optional import EXTRAS

from . import __version__

__all__ = ["Command", "Parser", "commands", "check_mnist", "main", "COMMANDS"]

COMMANDS = "sdrnet.commands"  # entry-point group: subcommand name = module:Command
# the example scripts: examples/ of a checkout, which the wheel ships as the package sdrnet.examples
EXAMPLES = Path(str(importlib.resources.files("sdrnet.examples")))
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
MAX_SEED = experiment.MAX_SEED
# options written in config.json as the budget or on their own; the command's other options go under "options"
PROTOCOL = {"command", "budget", "seed", "config", "set", "out", "full", "no_progress"}


@dataclass(frozen=True)
class Command:
    """One subcommand of ``sdrnet``.

    ``run(args)`` does the work and returns the exit status (None: 0). ``options(parser)`` adds the
    command's options. ``full`` (the help of ``--full``) makes it an experiment with the options of
    `sdrnet.experiment.add_options` (``--out`` defaults to runs/<name>); ``budget``, ``"module:Class"`` of
    its `sdrnet.experiment.Budget`, makes it follow the protocol: ``args.budget`` and ``args.seed`` are
    resolved before any work, ``config.json`` is written, and ``run(args)`` returns the results mapping
    that becomes ``results.json``. ``needs``: the optional packages the command imports, and ``extra``, the
    extra of setup.cfg that installs them; both are checked before any work, as are ``check(parser, args)``
    (refuse bad options with ``parser.error``) and ``--out``. ``own_parser``: the command parses its
    arguments itself, ``run(argv, prog)`` with ``argv`` what follows its name.
    """

    help: str
    run: Callable
    options: Callable[[argparse.ArgumentParser], None] | None = None
    full: str | None = None
    needs: tuple[str, ...] = ()
    extra: str = ""
    check: Callable[[argparse.ArgumentParser, argparse.Namespace], None] | None = None
    own_parser: bool = False
    budget: str | None = None


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (argparse's default also prints the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    specs = commands()
    parser, parsers = _parser(specs)
    prog = parser.prog if not argv or argv[0] not in parsers else parsers[argv[0]].prog
    try:
        return _run(parser, parsers, specs, argv)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as err:
        module = (err.name or "").partition(".")[0]
        if module not in EXTRAS:
            raise
        print(f"{prog}: error: {_needs(module, EXTRAS[module])}", file=sys.stderr)
        return 2


def commands() -> dict[str, Command]:
    """Every subcommand by name, sorted: sdrnet's own and those the installed packages announce (`COMMANDS`)."""
    found = dict(BUILT_IN)
    for ep in importlib.metadata.entry_points(group=COMMANDS):
        found.setdefault(ep.name, ep.load())
    return dict(sorted(found.items()))


def _run(
    parser: argparse.ArgumentParser,
    parsers: dict[str, argparse.ArgumentParser],
    specs: dict[str, Command],
    argv: list[str],
) -> int:
    if argv and argv[0] in specs and specs[argv[0]].own_parser:
        _check_needs(parsers[argv[0]], specs[argv[0]])
        return specs[argv[0]].run(argv[1:], parsers[argv[0]].prog)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    spec = specs[args.command]
    _check(parsers[args.command], spec, args)
    _announce_compilation()
    if spec.budget is None:
        status = spec.run(args)
        return 0 if status is None else status
    options = {k: v for k, v in vars(args).items() if k not in PROTOCOL}
    experiment.write_config(args.out, args.command, args.budget, args.seed, full=args.full, options=options)
    experiment.write_results(args.out, spec.run(args))
    print(f"{parsers[args.command].prog}: config.json and results.json in {args.out}/")
    return 0


def _announce_compilation() -> None:
    if importlib.util.find_spec("numba") is not None:
        experiment.announce_compilation()


def _parser(specs: dict[str, Command]) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``sdrnet`` parser and its subcommands' parsers by name."""
    parser = Parser(prog="sdrnet", description="Biologically-inspired sparse computing on an event-driven sparse core.")
    parser.add_argument("--version", action="version", version=f"sdrnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, spec in specs.items():
        p = sub.add_parser(name, help=spec.help, add_help=not spec.own_parser)
        if spec.full is not None:
            experiment.add_options(p, spec.full, Path("runs") / name.replace("-", "_"))
        if spec.options is not None:
            spec.options(p)
    return parser, sub.choices


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


def _check(parser: argparse.ArgumentParser, spec: Command, args: argparse.Namespace) -> None:
    """Refuse, before any work, what the command would fail on later: missing extras, its options, ``--out``."""
    _check_needs(parser, spec)
    if spec.full is not None:
        _check_budget(parser, spec, args)
    if spec.check is not None:
        spec.check(parser, args)
    _check_out(parser, args.out)


def _check_budget(parser: argparse.ArgumentParser, spec: Command, args: argparse.Namespace) -> None:
    """Resolve ``args.budget`` and ``args.seed`` from ``--full``, ``--config``, ``--set`` and ``--seed``."""
    if spec.budget is None:
        if args.config is not None or args.set:
            parser.error("this command takes no --config or --set")
        args.seed = 0 if args.seed is None else args.seed
        return
    module, _, name = spec.budget.partition(":")
    try:
        args.budget, args.seed = experiment.budget_from_args(getattr(importlib.import_module(module), name), args)
    except (TypeError, ValueError) as err:
        parser.error(" ".join(str(err).split()))


def _check_needs(parser: argparse.ArgumentParser, spec: Command) -> None:
    for module in spec.needs:
        if importlib.util.find_spec(module) is None:
            parser.exit(2, f"{parser.prog}: error: {_needs(module, spec.extra)}\n")


def _needs(module: str, extra: str) -> str:
    return f"this command needs {module}: pip install 'sdrnet[{extra}]'"


def check_mnist(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse ``--mnist DIR`` (when given) unless DIR holds readable MNIST IDX files of both splits."""
    if args.mnist is None:
        return
    from .datasets import mnist_files

    try:
        for split in ("train", "test"):
            mnist_files(args.mnist, split)
    except (OSError, ValueError) as err:
        parser.error(f"--mnist: {err}")


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


# ---------------------------------------------------------------------------------------------- sdrnet's commands
def demo(out: Path, seed: int = 0, quick: bool = False) -> int:
    """Run every part of `DEMO_PARTS`: ``main(out, seed=seed)`` of its example; with ``quick``,
    ``main(out, seed=seed, quick=True)`` where ``main`` takes ``quick`` (a part without is quick already)."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, (title, script) in enumerate(DEMO_PARTS, 1):
        path = EXAMPLES / script
        if not path.exists():
            print(
                f"sdrnet demo: {path} not found; the installed sdrnet lacks its example scripts (reinstall sdrnet)",
                file=sys.stderr,
            )
            return 2
        main = runpy.run_path(str(path), run_name="sdrnet_demo")["main"]
        smallest = quick and "quick" in inspect.signature(main).parameters
        print(f"\n=== [{i}/{len(DEMO_PARTS)}] {title} ({script}{', quick' if smallest else ''}) ===\n", flush=True)
        main(out, seed=seed, **({"quick": True} if smallest else {}))
    print(f"\nsdrnet demo: done in {time.perf_counter() - start:.1f} s; figures and tables in {out}/")
    return 0


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)")
    parser.add_argument("--seed", type=experiment.seed, default=0, help="random seed of every part (default: 0)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="each part at its smallest budget (its example's SMOKE), a check in a minute or two: fewer Monte "
        "Carlo points (100×100 pairs) and no Brian2 comparison for the dendrites figures, Sparsey's similarity at "
        "5 pairs and its capacity at one load, the trained families on tiny data and few epochs (their numbers "
        "say nothing of the papers'); the core tour and SDR encoders run as they are",
    )


def sparsey(args) -> dict:
    from sdrnet.report import format_table
    from sdrnet.sparsey.experiments import LABELS, mnist, run

    results = run(args.out, budget=args.budget, seed=args.seed, progress=not args.no_progress, fmt=args.format)
    if args.mnist is not None:
        rows, info = mnist(args.mnist, per_class=args.per_class, seed=args.seed, progress=not args.no_progress)
        print(
            format_table(
                rows,
                f"MNIST ({info['n_train']} train / {info['n_test']} test); sparsey.com reports 91 % "
                "with 200 per class in 220 s on one thread",
                LABELS,
            )
        )
        results.update(mnist=rows, mnist_info=info)
    return results


def _sparsey_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mnist",
        type=Path,
        metavar="DIR",
        help="also run on MNIST from the standard IDX files in DIR (train-images-idx3-ubyte[.gz], ...)",
    )
    parser.add_argument(
        "--per-class", type=_positive, default=200, help="MNIST training images per class (default: 200)"
    )


def _prune(args) -> dict:
    from sdrnet.prune.experiment import deploy, run
    from sdrnet.prune.targets import PROFILES

    results = run(args.out, budget=args.budget, seed=args.seed, progress=not args.no_progress, fmt=args.format)
    results["deploy"] = deploy(args.out, PROFILES[args.target], seed=args.seed)
    return results


def _prune_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        choices=["loihi", "xylo", "spinnaker"],
        default="loihi",
        help="hardware profile to fit (default: loihi)",
    )


def _check_target(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from .prune.experiment import check_deploy
    from .prune.targets import PROFILES, TargetError

    try:
        check_deploy(PROFILES[args.target])
    except TargetError as err:
        parser.error(
            f"--target {args.target}: the command's spiking MLP (64 inputs, 128 hidden, 10 outputs) {err.summary}"
        )


BUILT_IN = {
    "demo": Command(
        "tour every capability on built-in data (tables, figures under runs/demo)",
        lambda args: demo(args.out, seed=args.seed, quick=args.quick),
        _demo_options,
        needs=("torch", "spikingjelly", "nir"),
        extra="snn",
    ),
    "sparsey": Command(
        "Sparsey: similarity preservation, capacity, single-trial digits (and MNIST)",
        sparsey,
        _sparsey_options,
        full="larger Monte Carlo budgets",
        check=check_mnist,
        budget="sdrnet.sparsey.experiments:Budget",
    ),
    "prune": Command(
        "pruning methods on digits, then a spiking MLP fitted to a chip profile",
        _prune,
        _prune_options,
        full="larger network, more epochs and seeds",
        needs=("torch", "spikingjelly", "nir"),
        extra="snn",
        check=_check_target,
        budget="sdrnet.prune.experiment:Budget",
    ),
}


if __name__ == "__main__":
    sys.exit(main())
