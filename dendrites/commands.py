"""The ``sdrnet`` subcommands of this package, announced in setup.cfg's ``sdrnet.commands`` entry points:
``dendrites`` (`dendrites.figures`) and ``active-dendrites`` (`dendrites.continual`). Nothing heavy is
imported until a command runs."""

from __future__ import annotations

from pathlib import Path

from sdrnet.cli import Command, check_mnist

__all__ = ["DENDRITES", "ACTIVE_DENDRITES"]


def _dendrites(args) -> None:
    from dendrites.figures import FULL, QUICK, run

    run(args.out, budget=FULL if args.full else QUICK, seed=args.seed, progress=not args.no_progress)


def _active_dendrites(args) -> None:
    from dendrites.continual import FULL, QUICK, run, with_mnist

    budget = FULL if args.full else QUICK
    run(
        args.out,
        budget=with_mnist(budget, args.mnist) if args.mnist else budget,
        seed=args.seed,
        progress=not args.no_progress,
    )


def _mnist_option(parser) -> None:
    parser.add_argument("--mnist", type=Path, metavar="DIR", help="permuted MNIST from the standard IDX files in DIR")


DENDRITES = Command(
    "Ahmad & Hawkins (2016): theory vs Monte Carlo on the core, with figures",
    _dendrites,
    full="larger Monte Carlo budgets (minutes instead of seconds)",
)
ACTIVE_DENDRITES = Command(
    "Iyer et al. (2022): permuted digits, active dendrites vs k-WTA only vs dendrites only vs MLP",
    _active_dendrites,
    _mnist_option,
    full="50 tasks, 2×1024 hidden, 3 seeds (about 20 min)",
    needs=("torch",),
    extra="torch",
    check=check_mnist,
)
