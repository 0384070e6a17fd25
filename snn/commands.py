"""The ``sdrnet`` subcommands of this package, announced in setup.cfg's ``sdrnet.commands`` entry points:
``snn-train`` (`snn.train.main`), ``snn-delays`` (`snn.experiments`: learned vs fixed random vs no delays on the
built-in timing task) and ``delta`` (`snn.delta.experiment`). Nothing heavy is imported until a
command runs."""

from __future__ import annotations

from sdrnet.cli import Command

__all__ = ["SNN_TRAIN", "SNN_DELAYS", "DELTA"]


def _snn_train(argv: list[str], prog: str) -> int:
    from snn.train import main  # its options live there: torch loads only when the command runs

    return main(argv, prog=prog)


def _snn_delays(args) -> dict:
    from snn.experiments import run

    return run(args.out, budget=args.budget, seed=args.seed, progress=not args.no_progress, fmt=args.format)


def _delta(args) -> dict:
    from snn.delta.experiment import run

    return run(args.out, budget=args.budget, seed=args.seed, progress=not args.no_progress, fmt=args.format)


SNN_TRAIN = Command(
    "train a delay SNN (DCLS) on SHD/SSC or the built-in timing task; see snn-train --help",
    _snn_train,
    needs=("torch", "spikingjelly"),
    extra="snn",
    own_parser=True,
)
SNN_DELAYS = Command(
    "delay SNN on the built-in timing task: learned vs fixed random vs no delays, the core's predictions",
    _snn_delays,
    full="3,000 samples, 2x128 hidden, 30 epochs, 3 seeds",
    needs=("torch", "spikingjelly"),
    extra="snn",
    budget="snn.experiments:Budget",
)
DELTA = Command(
    "delta activation layers on moving digits: sparsity, operations, core",
    _delta,
    full="more clips, epochs and penalty strengths",
    needs=("torch",),
    extra="torch",
    budget="snn.delta.experiment:Budget",
)
