"""The ``sdrnet`` subcommands of this package, announced in setup.cfg's ``sdrnet.commands`` entry points:
``dendrites`` (`dendrites.figures`) and ``active-dendrites`` (`dendrites.continual`). Nothing heavy is
imported until a command runs."""

from __future__ import annotations

from pathlib import Path

from sdrnet.cli import Command, check_mnist

__all__ = ["DENDRITES", "ACTIVE_DENDRITES"]


def _dendrites(args) -> dict:
    from dendrites.figures import run

    return run(args.out, budget=args.budget, seed=args.seed, progress=not args.no_progress, fmt=args.format)


def _active_dendrites(args) -> dict:
    from dendrites.continual import run

    return run(args.out, budget=args.budget, seed=args.seed, progress=not args.no_progress, fmt=args.format)


def _check_active_dendrites(parser, args) -> None:
    """``--mnist DIR``: readable IDX files, and the budget at the paper's MNIST scale except for the fields
    that ``--config`` or ``--set`` gave."""
    check_mnist(parser, args)
    if args.mnist is not None:
        from dendrites.continual import with_mnist
        from sdrnet.experiment import read_config

        given = {item.partition("=")[0].strip() for item in args.set}
        given |= set(read_config(args.config)[0]) if args.config is not None else set()
        args.budget = with_mnist(args.budget, args.mnist, keep=given)


def _mnist_option(parser) -> None:
    parser.add_argument("--mnist", type=Path, metavar="DIR", help="permuted MNIST from the standard IDX files in DIR")


DENDRITES = Command(
    "Ahmad & Hawkins (2016): theory vs Monte Carlo on the core, with figures",
    _dendrites,
    full="larger Monte Carlo budgets (minutes instead of seconds)",
    budget="dendrites.figures:Budget",
)
ACTIVE_DENDRITES = Command(
    "Iyer et al. (2022): permuted digits, active dendrites vs k-WTA only vs dendrites only vs MLP",
    _active_dendrites,
    _mnist_option,
    full="50 tasks, 2×1024 hidden, 3 seeds (about 20 min)",
    needs=("torch",),
    extra="torch",
    check=_check_active_dendrites,
    budget="dendrites.continual:Budget",
)
