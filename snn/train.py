"""Train a delay SNN (`snn.models.DelaySNN`) with the reference recipes: ``python -m snn.train --recipe shd``.

The recipe of Hammouamri et al. (2023) (Thvnvtos/SNN-delays ``best_config_SHD.py``, ``model.py``): weights
by Adam (weight decay 1e-5, BatchNorm without) under a one-cycle schedule stepped per epoch whose peak is
``max_lr_weights`` = 5 × ``lr_weights`` = 5e-3 (the reference's ``max_lr_w = 5 * lr_w``; the schedule starts
at peak/25 and ends at peak/2.5e5, OneCycleLR's defaults); delays by Adam at ``lr_delays`` = 0.1 (the
reference's ``lr_pos = 100 * lr_w``) with cosine annealing over the epochs; the Gaussian width σ shrinks
from max_delay//2 to 0.23 over the first quarter of the epochs; delays are clamped to [0, max_delay] after
every batch and rounded to integer steps for every evaluation. The reference's ``max_delay`` is the kernel
size D (25 for SHD, 31 for SSC); ours is the largest delay, D − 1 (24, 30).

Checkpoint selection differs on purpose. The reference's final code saves a checkpoint whenever the
validation accuracy or loss improves, from the first epoch on, and for SHD, which has no validation split,
its "validation" loader *is the test set* (``datasets.SHD_dataloaders``): its SHD checkpoints and best
accuracies are chosen on test. Here a stratified 10 % of train is held out for SHD (SSC has its own
validation split), the checkpoint of lowest validation loss is kept — for learned delays only from the
epoch before σ reaches its final width (a condition the reference once had and left commented out) —
and the test set is evaluated once, with that checkpoint.

Files in ``--out``: ``last.pt`` (every epoch, with every random-number state, so ``--resume`` continues
bit for bit), ``best.pt``, per-epoch metrics (``metrics.json``, ``metrics.csv``; ``lr_weights`` is the rate
used during the epoch), ``config.json`` and the final ``results.json`` (``best_epoch`` counts from 1, as
the progress lines do; the rows of ``metrics.json`` keep the 0-based ``epoch``; a NaN loss is written as
null) and, from the command line, the figure ``training_curves.<format>`` (loss, accuracy and σ per epoch,
``--format png|pdf|svg``). Every file but the figure is written atomically. A folder that already holds a
run is refused unless ``--resume`` (same configuration, see `RESUMABLE`) or ``--force`` (its run files are
deleted first). Checkpoints are read with
``torch.load(weights_only=True)``: tensors and plain values only. Training runs on ``threads`` CPU threads
(1 by default), so a seed gives the same weights whatever the machine's core count. Several processes
(``torchrun --nproc_per_node N -m snn.train ...``) train with DistributedDataParallel: gloo on CPU, NCCL on
GPUs; each process takes 1/N of every batch.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import pickle
import random
import re
import sys
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sdrnet import experiment
from sdrnet.cli import Parser
from sdrnet.report import save_figure

from . import data
from .models import DelaySNN, SNNConfig, snn_loss, sum_softmax

__all__ = [
    "TrainConfig",
    "RECIPES",
    "RESUMABLE",
    "CheckpointError",
    "TrainingDiverged",
    "load_datasets",
    "initial_model",
    "load_checkpoint",
    "load_model",
    "train",
    "evaluate",
    "training_curves",
    "main",
]

FORMAT = "sdrnet.snn.train/2"  # layout of the checkpoints written here
CURVES = "training_curves"  # the figure of the command line, training_curves.<format>
RUN_FILES = ("last.pt", "best.pt", "metrics.json", "metrics.csv", "results.json", "config.json") + tuple(
    f"{CURVES}.{f}" for f in experiment.FORMATS
)
# Fields that may differ when resuming: where and how visibly the run goes on, not what it computes.
# Everything else (epochs included: the one-cycle, cosine and σ schedules are built for them) must match.
RESUMABLE = ("device", "data_root", "progress", "threads")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file, what is wrong and what to do."""


class TrainingDiverged(RuntimeError):
    """No epoch of the run gave a finite validation loss, so there is no checkpoint to report."""


@dataclass
class TrainConfig:
    """Everything a training run needs; the recipes below fill it in, the command line overrides it.

    ``max_delay`` is the largest delay in steps (the reference's kernel size minus one). ``lr_weights``
    sets the one-cycle peak ``max_lr_weights`` (default 5 × lr_weights, as the reference). ``max_steps``
    bounds the time steps of any sample (a batch is a dense ``[T, B, C]`` tensor; the default, 10 s at
    10 ms, is far above the length of SHD's spoken digits and SSC's commands). ``threads``: torch CPU threads during training (None: leave
    torch's setting; results then depend on the thread count).
    """

    dataset: str = "synthetic"  # 'shd', 'ssc' or 'synthetic' (built in, no download)
    data_root: str | None = None  # default $SDRNET_DATA or ~/.cache/sdrnet
    dt: float = 0.01
    pool: int = 5
    binning: str = "grid"  # SHD/SSC: 'grid' (fixed dt bins) or 'dcls' (the DCLS authors' frames, snn.data.bin_spikes)
    n_hidden: int = 256
    n_layers: int = 2
    max_delay: int = 24
    delays: str = "learned"  # 'learned', 'random' (fixed) or 'none'
    tau: float = 1.005
    dropout: float = 0.4
    batchnorm: bool = True
    epochs: int = 150
    batch_size: int = 256
    lr_weights: float = 1e-3
    max_lr_weights: float | None = None  # one-cycle peak; None: 5 × lr_weights (the reference's max_lr_w)
    weight_decay: float = 1e-5
    lr_delays: float = 0.1
    sigma_final: float = 0.23
    final_epoch: int | None = None  # σ reaches sigma_final after this many epochs (default max(1, epochs // 4))
    holdout: float = 0.1  # fraction of train held out for validation when the data set has no split
    synthetic_samples: int = 1200
    max_steps: int = 1000  # longest sample accepted, in steps of dt
    seed: int = 0
    device: str = "auto"
    threads: int | None = 1
    progress: bool = True

    def __post_init__(self):
        for f in dataclasses.fields(self):
            setattr(self, f.name, _checked_field(f, getattr(self, f.name)))
        if self.dataset not in ("shd", "ssc", "synthetic"):
            raise ValueError(f"dataset must be 'shd', 'ssc' or 'synthetic', got {self.dataset!r}")
        if self.binning not in ("grid", "dcls") or (self.binning == "dcls" and self.dataset == "synthetic"):
            raise ValueError(
                f"binning must be 'grid' or 'dcls' (SHD/SSC only; the timing task is built on the grid), "
                f"got {self.binning!r} for dataset={self.dataset!r}"
            )
        for name in ("epochs", "batch_size", "synthetic_samples", "max_steps", "pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be an int >= 1, got {getattr(self, name)!r}")
        for name in ("threads", "final_epoch"):
            if getattr(self, name) is not None and getattr(self, name) < (1 if name == "threads" else 0):
                raise ValueError(
                    f"{name} must be None or an int >= {1 if name == 'threads' else 0}, got {getattr(self, name)!r}"
                )
        for name in ("dt", "lr_weights", "lr_delays", "sigma_final", "max_lr_weights"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not 0.0 < self.holdout < 1.0:
            raise ValueError(f"holdout must be in (0, 1), got {self.holdout}")
        self.model_config(1, 2)  # the architecture fields are checked by SNNConfig

    @property
    def sigma_epochs(self) -> int:
        return max(1, self.epochs // 4) if self.final_epoch is None else self.final_epoch

    @property
    def peak_lr_weights(self) -> float:
        return 5 * self.lr_weights if self.max_lr_weights is None else self.max_lr_weights

    def model_config(self, n_inputs: int, n_outputs: int) -> SNNConfig:
        """The model's architecture; its ``dt`` is the data's step length (`load_datasets` bins at ``dt``)."""
        return SNNConfig(
            n_inputs=n_inputs,
            n_hidden=self.n_hidden,
            n_layers=self.n_layers,
            n_outputs=n_outputs,
            max_delay=self.max_delay,
            delays=self.delays,
            tau=self.tau,
            dropout=self.dropout,
            batchnorm=self.batchnorm,
            dt=self.dt,
        )


def _checked_field(field: dataclasses.Field, value):
    """``value`` if it has the field's annotated type (an int is taken for a float, a path for a str), else
    TypeError."""
    kinds = [k.strip() for k in str(field.type).split("|")]
    if value is None and "None" in kinds:
        return None
    if isinstance(value, bool):
        if "bool" in kinds:
            return value
    elif isinstance(value, int) and ("int" in kinds or "float" in kinds):
        return value if "int" in kinds else float(value)
    elif isinstance(value, float) and "float" in kinds:
        if not math.isfinite(value):
            raise ValueError(f"{field.name} must be finite, got {value!r}")
        return value
    elif isinstance(value, (str, os.PathLike)) and "str" in kinds:
        return os.fspath(value)
    raise TypeError(f"{field.name} must be {' or '.join(kinds)}, got {value!r} ({type(value).__name__})")


# The reference's best_config_SHD.py / best_config_SSC.py (kernel sizes D = 25 / 31 → max_delay 24 / 30).
RECIPES: dict[str, dict] = {
    "shd": dict(
        dataset="shd", n_hidden=256, n_layers=2, max_delay=24, tau=1.005, dropout=0.4, epochs=150, batch_size=256
    ),
    "ssc": dict(
        dataset="ssc", n_hidden=512, n_layers=3, max_delay=30, tau=1.5, dropout=0.25, epochs=60, batch_size=128
    ),
    "synthetic": dict(
        dataset="synthetic", n_hidden=64, n_layers=2, max_delay=24, tau=1.005, dropout=0.1, epochs=15, batch_size=64
    ),
}


def recipe(name: str, **overrides) -> TrainConfig:
    """A built-in recipe with some fields replaced, e.g. ``recipe('shd', epochs=10)``."""
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return TrainConfig(**{**RECIPES[name], **overrides})


def load_datasets(cfg: TrainConfig) -> dict[str, data.SpikeDataset]:
    """``{'train', 'valid', 'test'}`` for the configured data set (validation never taken from test)."""
    if cfg.dataset == "synthetic":
        full = data.timing_task(n_samples=cfg.synthetic_samples, seed=cfg.seed, dt=cfg.dt)
        rest, test = data.holdout(full, fraction=0.25, seed=cfg.seed + 1)
        train_set, valid = data.holdout(rest, fraction=cfg.holdout, seed=cfg.seed)
        return {"train": train_set, "valid": valid, "test": test}
    load = data.load_shd if cfg.dataset == "shd" else data.load_ssc
    kw = dict(root=cfg.data_root, dt=cfg.dt, pool=cfg.pool, binning=cfg.binning)
    train_full, test = load("train", **kw), load("test", **kw)
    if cfg.dataset == "ssc":
        return {"train": train_full, "valid": load("valid", **kw), "test": test}
    train_set, valid = data.holdout(train_full, fraction=cfg.holdout, seed=cfg.seed)
    return {"train": train_set, "valid": valid, "test": test}


def _check_datasets(datasets: dict, cfg: TrainConfig, world: int, built: bool) -> None:
    """Every split present and non-empty, and no sample longer than ``cfg.max_steps`` (before any batch)."""
    if not isinstance(datasets, dict) or set(datasets) != {"train", "valid", "test"}:
        raise ValueError(f"datasets must be a dict with keys 'train', 'valid', 'test', got {datasets!r:.80}")
    sizes = {k: len(v) for k, v in datasets.items()}
    for name, ds in datasets.items():
        if not isinstance(ds, data.SpikeDataset):
            raise TypeError(f"datasets[{name!r}] must be a SpikeDataset, got {type(ds).__name__}")
        if len(ds) == 0:
            hint = "every split needs samples"
            if built and cfg.dataset == "synthetic":
                hint = (
                    f"synthetic_samples={cfg.synthetic_samples} is too few (test takes 25 %, validation "
                    f"{cfg.holdout * 100:g} % of the rest, stratified over the classes)"
                )
            raise ValueError(f"the {name} split is empty (sizes {sizes}): {hint}")
        if ds.dt is not None and not np.isclose(ds.dt, cfg.dt, rtol=1e-9, atol=0):
            raise ValueError(
                f"the {name} split is binned at dt={ds.dt:g} s but the configuration says dt={cfg.dt:g} s "
                f"(the model's step length): set dt to the data's (--set dt={ds.dt:g})"
            )
        lengths = ds.lengths
        worst = int(np.argmax(lengths))
        if lengths[worst] > cfg.max_steps:
            n, dt = int(lengths[worst]), ds.dt or cfg.dt
            raise ValueError(
                f"the {name} split has a sample ({worst}) of {n} steps ({n * dt:g} s at dt={dt:g} s), "
                f"more than max_steps={cfg.max_steps}: a batch holding it would take "
                f"{n * cfg.batch_size * ds.n_channels * 4 / 1e9:.3g} GB; check the file, or raise "
                "max_steps (--set max_steps=N) if samples are really that long"
            )
    if world > 1 and len(datasets["train"]) < cfg.batch_size:
        raise ValueError(
            f"{world} processes need at least one whole batch of training samples "
            f"(batch_size={cfg.batch_size}), got {len(datasets['train'])}"
        )


def _device(name: str, world: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU (use --device cpu)")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {name!r}") from None
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def _distributed() -> tuple[int, int]:
    """(rank, world size), starting the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def initial_model(cfg: TrainConfig, n_inputs: int, n_outputs: int) -> DelaySNN:
    """The model `train` starts from, drawn after ``torch.manual_seed(cfg.seed)``: one seed, one set of initial
    weights and delays, whatever ``cfg.delays`` (``'random'`` keeps these delays rounded, ``'learned'`` starts
    from them)."""
    torch.manual_seed(cfg.seed)
    return DelaySNN(cfg.model_config(n_inputs, n_outputs))


def _optimizers(model: DelaySNN, cfg: TrainConfig):
    """The reference's optimizers: Adam + one-cycle (peak ``cfg.peak_lr_weights``) for weights, Adam + cosine
    annealing from ``cfg.lr_delays`` for learnable delays."""
    groups = model.parameter_groups()
    opt_w = torch.optim.Adam(
        [
            {"params": groups["weights"], "weight_decay": cfg.weight_decay},
            {"params": groups["norm"], "weight_decay": 0.0},
        ],
        lr=cfg.lr_weights,
    )
    sched = [torch.optim.lr_scheduler.OneCycleLR(opt_w, max_lr=cfg.peak_lr_weights, total_steps=max(cfg.epochs, 2))]
    opts = [opt_w]
    if groups["delays"]:
        opt_d = torch.optim.Adam(groups["delays"], lr=cfg.lr_delays)
        opts.append(opt_d)
        sched.append(torch.optim.lr_scheduler.CosineAnnealingLR(opt_d, T_max=cfg.epochs))
    return opts, sched


@torch.no_grad()
def evaluate(model: DelaySNN, dataset: data.SpikeDataset, batch_size: int = 256, device=None) -> dict:
    """Loss and accuracy with integer delays (a discretised copy of ``model``, in eval mode)."""
    if len(dataset) == 0:
        raise ValueError("dataset is empty: nothing to evaluate")
    device = device or next(model.parameters()).device
    net = model.discretized()
    loss = correct = 0.0
    for x, y in data.batches(dataset, batch_size, shuffle=False, device=device):
        v = net(x)
        loss += float(snn_loss(v, y)) * len(y)
        correct += int((sum_softmax(v).argmax(1) == y).sum())
    n = len(dataset)
    return {"loss": loss / n, "accuracy": correct / n}


def _shard(dataset: data.SpikeDataset, epoch: int, cfg: TrainConfig, rank: int, world: int) -> data.SpikeDataset:
    """This process's part of the epoch: one shared permutation, every world-th sample."""
    order = np.random.default_rng([cfg.seed, epoch]).permutation(len(dataset))
    n = len(order) - len(order) % (cfg.batch_size if world > 1 else 1)  # equal batches on every process
    return dataset[order[:n][rank::world]]


# ---------------------------------------------------------------------------- checkpoints
def load_checkpoint(path, map_location="cpu", required=("model", "config")) -> dict:
    """A checkpoint written by `train`, read with ``weights_only=True``; `CheckpointError` if it cannot be used.

    Refuses files that hold anything but tensors and plain values (a pickled function call, say) without
    running them, and names the file for an empty, truncated or corrupted one.
    """
    path = Path(path)
    redo = "delete it and train again (--force), or use an intact copy"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic:
        raise CheckpointError(f"{path} is empty (0 bytes): its writing was cut off; {redo}")
    if magic != b"PK\x03\x04":
        raise CheckpointError(f"{path} is not a checkpoint written by torch.save (no zip archive); not loaded")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated (the end of its zip archive is missing); {redo}")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        damaged = f"{type(exc).__name__}: {exc}"
    if damaged is not None:
        raise CheckpointError(f"{path} is corrupted (bad CRC or data in {damaged}); {redo}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f"a reference to {found.group(1)}" if found else "objects other than tensors and plain values"
        raise CheckpointError(
            f"{path} holds {what}; snn.train writes only tensors and plain values, so the file "
            "was not written by it or was altered: refusing to load it"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path} is corrupted ({type(exc).__name__}: {str(exc)[:200]}); {redo}") from None
    missing = [k for k in required if not (isinstance(state, dict) and k in state)]
    if missing:
        raise CheckpointError(f"{path} is not an snn.train checkpoint (no {', '.join(missing)})")
    return state


def _atomic_write(path: Path, write) -> None:
    """``write(file)`` into ``path`` via a temporary file, so ``path`` is always complete or absent."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _save(state: dict, path: Path) -> None:
    _atomic_write(path, lambda f: torch.save(state, f))


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda f: f.write(text.encode()))


def _write_json(path: Path, data) -> None:
    """Plain JSON (`sdrnet.experiment.jsonable`: a NaN loss of a diverged epoch as null), written atomically."""
    _write_text(path, json.dumps(experiment.jsonable(data), indent=2, allow_nan=False))


def _rng_state() -> dict:
    """Every random-number state training may draw from, as tensors and plain values (``weights_only``)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, mt, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(gauss),
        },
        "python": [version, list(mt), gauss_next],
    }


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        for i, s in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.cpu(), i)
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].cpu().numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, mt, gauss_next = state["python"]
    random.setstate((version, tuple(mt), gauss_next))


def _gather(obj, world: int) -> list:
    if world == 1:
        return [obj]
    out = [None] * world
    torch.distributed.all_gather_object(out, obj)
    return out


def _config_differences(saved: dict, cfg: TrainConfig) -> list[str]:
    now = asdict(cfg)
    keys = sorted((set(saved) | set(now)) - set(RESUMABLE))
    return [
        f"{k}={saved.get(k, '(absent)')!r} there, {now.get(k, '(absent)')!r} now"
        for k in keys
        if saved.get(k, "(absent)") != now.get(k, "(absent)")
    ]


def _resume_state(out: Path, cfg: TrainConfig, world: int, device) -> dict:
    last = out / "last.pt"
    if not last.exists():
        raise ValueError(f"resume: {out} holds no run to resume (no last.pt); start one without --resume")
    state = load_checkpoint(
        last,
        map_location=device,
        required=("format", "run_id", "model", "optimizers", "schedulers", "history", "epoch", "best", "config", "rng"),
    )
    if state["format"] != FORMAT:
        raise CheckpointError(
            f"{last} has layout {state['format']!r}, this snn.train reads {FORMAT!r}; start a new run (--force)"
        )
    diffs = _config_differences(state["config"], cfg)
    if diffs:
        raise ValueError(
            f"cannot resume the run saved in {last}: its configuration differs in "
            f"{'; '.join(diffs)}. Only {', '.join(RESUMABLE)} may change on resume (not epochs: "
            "the schedules are built for them); use another --out, or --force to start over"
        )
    if len(state["rng"]) != world:
        raise ValueError(
            f"{last} was written by {len(state['rng'])} processes; resume it with the same "
            f"number (got {world}) to continue exactly"
        )
    return state


def _check_out(out: Path, resume: bool, force: bool) -> None:
    """The output folder can be written, and holds no other run unless ``force``."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"output folder {out}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"output folder {out}: {probe} is not writable")
    if resume:
        return
    found = [n for n in RUN_FILES if (out / n).exists()]
    if found and not force:
        raise ValueError(
            f"{out} already holds a run ({', '.join(found)}): pass --resume to continue it, "
            "--force to replace it, or choose another --out"
        )


def _clear_run(out: Path) -> None:
    for name in RUN_FILES:
        for path in (out / name, out / (name + ".tmp")):
            path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- training
@dataclass
class _Run:
    cfg: TrainConfig
    out: Path
    device: torch.device
    rank: int
    world: int
    datasets: dict
    model: DelaySNN
    opts: list
    scheds: list
    history: list
    start: int
    best: float
    run_id: str


@contextlib.contextmanager
def _threads(n: int | None):
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(cfg: TrainConfig, out: Path, resume: bool = False, datasets: dict | None = None, force: bool = False) -> dict:
    """Train, checkpoint every epoch, select on validation loss, evaluate the test set once; returns results.

    ``out`` must not hold a run already unless ``resume`` (continue it exactly: the configuration must
    match, see `RESUMABLE`) or ``force`` (delete its run files and start over). Every check happens before
    any training. Raises `TrainingDiverged` if no epoch gives a finite validation loss.
    """
    with _threads(cfg.threads if isinstance(cfg, TrainConfig) else None):
        return _fit(_prepare(cfg, out, resume, force, datasets))


def _prepare(cfg: TrainConfig, out, resume: bool, force: bool, datasets: dict | None) -> _Run:
    """Every check (device, output folder, resume state, data) and the model, before any training."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if resume and force:
        raise ValueError("resume and force exclude each other: resume continues the run in out, force replaces it")
    rank, world = _distributed()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size ({cfg.batch_size}) must be divisible by the number of processes ({world})")
    device = _device(cfg.device, world)
    out = Path(out)
    _check_out(out, resume, force)
    state = _resume_state(out, cfg, world, device) if resume else None
    built = datasets is None
    datasets = load_datasets(cfg) if built else datasets
    _check_datasets(datasets, cfg, world, built)
    if world > 1:
        torch.distributed.barrier()  # every process has checked the folder before the first one writes to it
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if force:
            _clear_run(out)
        _write_json(out / "config.json", asdict(cfg))
    train_set = datasets["train"]
    model = initial_model(cfg, train_set.n_channels, train_set.n_classes).to(device)
    opts, scheds = _optimizers(model, cfg)
    run = _Run(
        cfg,
        out,
        device,
        rank,
        world,
        datasets,
        model,
        opts,
        scheds,
        [],
        0,
        float("inf"),
        _gather(uuid.uuid4().hex, world)[0],
    )
    if state is not None:
        model.load_state_dict(state["model"])
        for o, s in zip(opts, state["optimizers"]):
            o.load_state_dict(s)
        for sc, s in zip(scheds, state["schedulers"]):
            sc.load_state_dict(s)
        run.history, run.start, run.best, run.run_id = (
            state["history"],
            state["epoch"] + 1,
            state["best"],
            state["run_id"],
        )
        _set_rng_state(state["rng"][rank])
    return run


def _fit(run: _Run) -> dict:
    cfg, model, opts, scheds = run.cfg, run.model, run.opts, run.scheds
    net = torch.nn.parallel.DistributedDataParallel(model) if run.world > 1 else model
    for epoch in range(run.start, cfg.epochs):
        t0 = time.perf_counter()
        sigma = model.set_sigma(epoch, cfg.sigma_epochs, cfg.sigma_final)
        rates = [o.param_groups[0]["lr"] for o in opts]  # the rates of this epoch (the schedulers step after it)
        train_metrics = _train_epoch(
            net,
            model,
            opts,
            _shard(run.datasets["train"], epoch, cfg, run.rank, run.world),
            cfg,
            run.device,
            epoch,
            run.rank,
        )
        for sc in scheds:
            sc.step()
        valid = evaluate(model, run.datasets["valid"], cfg.batch_size, run.device)
        row = {
            "epoch": epoch,
            "train_loss": train_metrics["loss"],
            "train_accuracy": train_metrics["accuracy"],
            "valid_loss": valid["loss"],
            "valid_accuracy": valid["accuracy"],
            "sigma": sigma,
            "lr_weights": rates[0],
            **({"lr_delays": rates[1]} if len(rates) > 1 else {}),
            "seconds": time.perf_counter() - t0,
        }
        eligible = cfg.delays != "learned" or epoch >= min(cfg.sigma_epochs, cfg.epochs) - 1
        improved = eligible and valid["loss"] < run.best  # False for NaN
        run.best = valid["loss"] if improved else run.best
        rng = _gather(_rng_state(), run.world)
        if run.rank == 0:
            _save_epoch(run, row, improved, rng)
        run.history.append(row)
    if run.world > 1:
        torch.distributed.barrier()
    return _results(run)


def _save_epoch(run: _Run, row: dict, improved: bool, rng: list) -> None:
    """``best.pt`` (if ``improved``), ``last.pt`` (everything to resume exactly), the metrics, the progress line."""
    cfg, model, history = run.cfg, run.model, run.history + [row]
    head = {
        "format": FORMAT,
        "run_id": run.run_id,
        "model": model.state_dict(),
        "epoch": row["epoch"],
        "config": asdict(cfg),
    }
    if improved:
        _save(head, run.out / "best.pt")
    _save(
        {
            **head,
            "optimizers": [o.state_dict() for o in run.opts],
            "schedulers": [s.state_dict() for s in run.scheds],
            "history": history,
            "best": run.best,
            "rng": rng,
        },
        run.out / "last.pt",
    )
    _write_metrics(run.out, history)
    if cfg.progress:
        tqdm.write(
            f"epoch {row['epoch'] + 1}/{cfg.epochs}: train {row['train_accuracy']:.3f} "
            f"valid {row['valid_accuracy']:.3f} (loss {row['valid_loss']:.3f}) σ={row['sigma']:.3g}"
        )


def _results(run: _Run) -> dict:
    """Test the run's best checkpoint (only one this run wrote) and write ``results.json``."""
    cfg, model = run.cfg, run.model
    best = run.out / "best.pt"
    if not best.exists():
        raise TrainingDiverged(
            f"no epoch gave a finite validation loss (the run diverged: last valid loss "
            f"{run.history[-1]['valid_loss'] if run.history else 'none'}); no checkpoint to "
            f"report. Lower lr_weights / lr_delays or change the seed"
        )
    best_state = load_checkpoint(best, map_location=run.device, required=("run_id", "model", "epoch"))
    if best_state["run_id"] != run.run_id:
        raise CheckpointError(
            f"{best} was written by another run ({best_state['run_id']}, this is {run.run_id}); not reporting it"
        )
    model.load_state_dict(best_state["model"])
    test = evaluate(model, run.datasets["test"], cfg.batch_size, run.device)
    epoch = best_state["epoch"]
    results = {
        "config": asdict(cfg),
        "run_id": run.run_id,
        "best_epoch": epoch + 1,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "valid_accuracy": run.history[epoch]["valid_accuracy"],
        "parameters": model.n_parameters(),
        "processes": run.world,
        "device": str(run.device),
    }
    if run.rank == 0:
        _write_json(run.out / "results.json", results)
    model.discretize()
    results["model"] = model
    return results


def _train_epoch(
    net, model: DelaySNN, opts, shard: data.SpikeDataset, cfg: TrainConfig, device, epoch: int, rank: int
) -> dict:
    net.train()
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    loss_sum = correct = count = 0.0
    batches = data.batches(shard, cfg.batch_size // world, shuffle=False, device=device)
    bar = tqdm(
        batches,
        total=-(-len(shard) // (cfg.batch_size // world)),
        desc=f"epoch {epoch + 1}",
        leave=False,
        disable=not cfg.progress or rank != 0,
    )
    for x, y in bar:
        for o in opts:
            o.zero_grad(set_to_none=True)
        v = net(x)
        loss = snn_loss(v, y)
        loss.backward()
        for o in opts:
            o.step()
        model.clamp()
        loss_sum += loss.item() * len(y)
        correct += int((sum_softmax(v.detach()).argmax(1) == y).sum())
        count += len(y)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}


def _write_metrics(out: Path, history: list[dict]) -> None:
    _write_json(out / "metrics.json", history)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    _write_text(out / "metrics.csv", text.getvalue())


def load_model(path) -> DelaySNN:
    """A trained model back from ``best.pt``/``last.pt`` (integer delays if it was saved discretised)."""
    state = load_checkpoint(path)
    try:
        cfg = TrainConfig(**state["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: its configuration is not understood ({exc})") from None
    sd = state["model"]
    n_inputs, n_outputs = sd["synapses.0.weight"].shape[1], sd[f"synapses.{cfg.n_layers}.weight"].shape[0]
    model = DelaySNN(cfg.model_config(n_inputs, n_outputs))
    model.load_state_dict(sd)
    return model


# ---------------------------------------------------------------------------- command line
def _parse_value(field: dataclasses.Field, text: str):
    kind = str(field.type)
    if text.lower() in ("none", "null") and "None" in kind:
        return None
    if "bool" in kind:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"--set {field.name}={text}: {field.name} must be true or false")
        return text.lower() in ("true", "1", "yes")
    try:
        if "int" in kind and "float" not in kind:
            return int(text)
        if "float" in kind:
            return float(text)
    except ValueError:
        raise ValueError(f"--set {field.name}={text}: {field.name} must be {kind.replace(' | ', ' or ')}") from None
    return text


def _read_config(path: Path) -> dict:
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError
        raise ValueError(
            f"--config {path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} "
            f"({str(exc).splitlines()[0]})"
        ) from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: must hold a mapping of TrainConfig fields, got {type(values).__name__}")
    return values


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Recipe, then ``--config`` (YAML or JSON), then ``--set key=value`` and the named options, in that order."""
    values = dict(RECIPES[args.recipe])
    if args.config:
        values.update(_read_config(Path(args.config)))
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for item in args.set or []:
        key, sep, text = item.partition("=")
        if not sep or key not in fields:
            raise ValueError(f"--set expects key=value with key one of {sorted(fields)}, got {item!r}")
        values[key] = _parse_value(fields[key], text)
    for key in ("epochs", "batch_size", "seed", "device", "data_root", "delays"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.no_progress:
        values["progress"] = False
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"unknown configuration keys {sorted(unknown)}; known: {sorted(fields)}")
    return TrainConfig(**values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe",
        choices=sorted(RECIPES),
        default="synthetic",
        help="built-in recipe (default: synthetic, which needs no download)",
    )
    parser.add_argument(
        "--config", type=Path, help="YAML or JSON file of TrainConfig fields (applied after the recipe)"
    )
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any TrainConfig field")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", dest="batch_size", type=int)
    parser.add_argument("--delays", choices=["learned", "random", "none"])
    parser.add_argument("--seed", type=experiment.seed, help="random seed (default: the recipe's, 0)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 or auto (default: auto)")
    parser.add_argument(
        "--data-root", dest="data_root", help="where SHD/SSC are cached (default: $SDRNET_DATA or ~/.cache/sdrnet)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/snn"), help="output folder (default: runs/snn)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt")
    mode.add_argument("--force", action="store_true", help="replace the run in OUT (its run files are deleted)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--format",
        choices=experiment.FORMATS,
        default="png",
        help=f"file format of the figure {CURVES}.FORMAT (default: png)",
    )


def training_curves(history: list[dict], best_epoch: int):
    """Loss, accuracy (train and validation) and σ per epoch (1-based), the selected checkpoint's epoch
    ``best_epoch`` marked; a matplotlib Figure."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    epochs = [r["epoch"] + 1 for r in history]
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, 3)
    for ax, key in zip(axes[:2], ("loss", "accuracy")):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], "o-", ms=3, label="train")
        ax.plot(epochs, [r[f"valid_{key}"] for r in history], "s-", ms=3, label="validation")
        ax.set(xlabel="epoch", ylabel=key, title=key)
    axes[2].plot(epochs, [r["sigma"] for r in history], "o-", ms=3, color="C2")
    axes[2].set(xlabel="epoch", ylabel="σ (steps)", title="width σ of the delay kernels")
    for ax in axes:
        ax.axvline(best_epoch, color="k", ls=":", lw=1, label=f"selected (epoch {best_epoch})")
        ax.grid(alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()  # one legend for all, right of the last panel
    axes[2].legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig


def _fail(prog: str, err: BaseException, status: int = 2) -> int:
    print(f"{prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None, prog: str = "python -m snn.train") -> int:
    """The command line; errors are one line on stderr with status 2, Ctrl-C ends with status 130."""
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
    except (ValueError, TypeError) as err:
        return _fail(parser.prog, err)
    run = None
    with _threads(cfg.threads):
        try:
            run = _prepare(cfg, args.out, args.resume, args.force, None)
            results = _fit(run)
        except KeyboardInterrupt:
            saved = (
                f"epochs 1–{len(run.history)} are saved in {args.out / 'last.pt'}: continue with --resume"
                if run is not None and run.history
                else "no epoch was completed, nothing saved"
            )
            print(f"{parser.prog}: interrupted; {saved}", file=sys.stderr)
            return 130
        except TrainingDiverged as err:
            return _fail(parser.prog, err, status=1)
        except (ValueError, TypeError, OSError) as err:
            if run is not None:  # not a usage error: raised during training
                raise
            return _fail(parser.prog, err)
    if run.rank == 0:
        figure = save_figure(training_curves(run.history, results["best_epoch"]), args.out / CURVES, args.format)
        print(
            f"test accuracy {results['test_accuracy']:.4f} (best epoch {results['best_epoch']}); "
            f"results in {args.out}/results.json, curves in {figure}"
        )
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
