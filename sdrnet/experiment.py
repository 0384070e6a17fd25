"""One protocol for every experiment: a budget, the options that set it, and the files a run writes.

Each family's budget derives from `Budget`, a frozen dataclass whose field defaults are the quick budget and
whose ``FULL`` mapping overrides them for ``--full``::

    @dataclass(frozen=True)
    class Budget(experiment.Budget):
        pairs: int = 60
        loads: tuple[int, ...] = (100, 200)
        FULL = {"pairs": 1000}

        def check(self):
            self.require_positive("pairs")

The command line (`add_options`, `budget_from_args`) starts from ``quick()`` or ``full()``, then applies
``--config FILE`` (a YAML or JSON mapping of budget fields, or a run's ``config.json``) and ``--set key=value``
(typed by the field). A run writes `write_config` (``config.json``: the budget, seed, version) and
`write_results` (``results.json``: snake_case keys, numbers as numbers). Nothing here imports numpy or numba.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

__all__ = [
    "Budget",
    "FORMATS",
    "add_options",
    "budget_from_args",
    "read_config",
    "write_config",
    "write_results",
    "jsonable",
    "announce_compilation",
]

FORMATS = ("png", "pdf", "svg")
MAX_SEED = 2**32 - 1  # the widest range numpy's legacy seeding and scikit-learn accept
SNAKE = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclasses.dataclass(frozen=True)
class Budget:
    """Base of every experiment's budget: a frozen dataclass of sizes, checked on construction.

    Field values are checked against their annotations (``int``, ``float``, ``bool``, ``str``,
    ``tuple[int, ...]``, ``X | None``; a list is taken for a tuple, an int for a float): a wrong one raises
    `TypeError` naming the field. Subclasses add range checks in `check`. ``QUICK`` and ``FULL`` are
    mappings of overrides of the field defaults (``QUICK`` is usually empty: the defaults are quick).
    """

    QUICK: ClassVar[Mapping[str, Any]] = {}
    FULL: ClassVar[Mapping[str, Any]] = {}

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _coerce(f.name, hints[f.name], getattr(self, f.name)))
        self.check()

    def check(self) -> None:
        """Range checks of a family's fields (`ValueError` naming the field); none by default."""

    @classmethod
    def quick(cls):
        """The quick budget: the field defaults with ``QUICK`` applied."""
        return cls(**cls.QUICK)

    @classmethod
    def full(cls):
        """The full budget (``--full``): the field defaults with ``FULL`` applied."""
        return cls(**cls.FULL)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def replace(self, **overrides):
        """A copy with ``overrides`` applied; an unknown name raises `ValueError` listing the fields."""
        unknown = sorted(set(overrides) - set(self.field_names()))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no field {', '.join(unknown)}; fields: {', '.join(self.field_names())}"
            )
        return dataclasses.replace(self, **overrides)

    @classmethod
    def parse(cls, key: str, text: str):
        """The value of field ``key`` written as ``text`` on the command line (``--set key=text``): numbers,
        ``true``/``false``, ``none``, and tuples as comma-separated items (``--set loads=100,200``)."""
        hints = typing.get_type_hints(cls)
        if key not in hints or key not in cls.field_names():
            raise ValueError(f"unknown field {key!r}; fields: {', '.join(cls.field_names())}")
        return _parse(key, hints[key], text)

    def require_positive(self, *names: str, minimum: int = 1) -> None:
        """`ValueError` naming the first of ``names`` whose value (or any item of a tuple) is below ``minimum``."""
        for name in names:
            value = getattr(self, name)
            items = value if isinstance(value, tuple) else (value,)
            if any(v is not None and v < minimum for v in items):
                raise ValueError(f"{name} must be >= {minimum}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _optional(kind) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(kind, False)``."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(kind)) == 2:
            return args[0], True
    return kind, False


def _tuple_items(kind, n: int) -> list | None:
    """The item types of a ``tuple[...]`` annotation for ``n`` items, or None if ``kind`` is not a tuple."""
    if typing.get_origin(kind) is not tuple:
        return None
    args = typing.get_args(kind)
    if len(args) == 2 and args[1] is Ellipsis:
        return [args[0]] * n
    return list(args)


def _describe(kind) -> str:
    inner, optional = _optional(kind)
    name = str(inner).replace("typing.", "") if typing.get_origin(inner) else getattr(inner, "__name__", str(inner))
    return f"{name} or None" if optional else name


def _coerce(name: str, kind, value):
    """``value`` as field ``name`` of type ``kind`` holds it, or `TypeError` naming the field."""
    inner, optional = _optional(kind)
    if value is None and optional:
        return None
    if isinstance(value, (list, tuple)):
        items = _tuple_items(inner, len(value))
        if items is not None and len(items) == len(value):
            return tuple(_coerce(f"{name}[{i}]", k, v) for i, (k, v) in enumerate(zip(items, value)))
    elif isinstance(value, bool):
        if inner is bool:
            return value
    elif isinstance(value, int) and inner in (int, float):
        return value if inner is int else float(value)
    elif isinstance(value, float) and inner is float:
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return value
    elif inner is str and isinstance(value, str):
        return value
    elif inner in (Any, object):
        return value
    raise TypeError(f"{name} must be {_describe(kind)}, got {value!r} ({type(value).__name__})")


def _parse(name: str, kind, text: str):
    inner, optional = _optional(kind)
    if optional and text.strip().lower() in ("none", "null"):
        return None
    if typing.get_origin(inner) is tuple:
        parts = [p.strip() for p in text.strip().strip("[]()").split(",") if p.strip()]
        items = _tuple_items(inner, len(parts))
        if len(items) != len(parts):
            raise ValueError(f"{name} must be {_describe(kind)} ({len(items)} items), got {text!r}")
        return tuple(_parse(f"{name}[{i}]", k, p) for i, (k, p) in enumerate(zip(items, parts)))
    if inner is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name} must be true or false, got {text!r}")
        return text.lower() in ("true", "1", "yes")
    try:
        if inner is int:
            return int(text)
        if inner is float:
            return float(text)
    except ValueError:
        raise ValueError(f"{name} must be {_describe(kind)}, got {text!r}") from None
    return text


# ------------------------------------------------------------------------------------------------ command line
def add_options(parser: argparse.ArgumentParser, full_help: str, out: Path) -> None:
    """The options of every experiment command: ``--config``, ``--set``, ``--seed``, ``--out``, ``--full``,
    ``--no-progress``, ``--format``."""
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="YAML or JSON mapping of budget fields, or a run's config.json (applied after --full)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set one budget field (repeatable; applied last; tuples as 1,2,3)",
    )
    parser.add_argument("--seed", type=seed, default=None, help="random seed (default: 0, or the --config run's)")
    parser.add_argument("--out", type=Path, default=out, help=f"output folder (default: {out})")
    parser.add_argument("--full", action="store_true", help=full_help)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--format", choices=FORMATS, default="png", help="figure file format (default: png)")


def seed(text: str) -> int:
    """An argparse type: an integer seed in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to {MAX_SEED}, got {text!r}")
    return value


def budget_from_args(cls: type[Budget], args: argparse.Namespace) -> tuple[Budget, int]:
    """The budget and seed the options ask for: ``cls.quick()`` (``cls.full()`` with ``--full``), then
    ``--config``, then each ``--set``; the seed is ``--seed``, else the config file's, else 0. `ValueError`
    or `TypeError` names the option and the field."""
    budget = cls.full() if args.full else cls.quick()
    run_seed = 0
    if args.config is not None:
        values, saved_seed = read_config(args.config)
        run_seed = run_seed if saved_seed is None else saved_seed
        budget = _apply(budget, values, f"--config {args.config}")
    overrides = {}
    for item in args.set:
        key, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = cls.parse(key.strip(), text.strip())
        except ValueError as err:
            raise ValueError(f"--set {item}: {err}") from None
    budget = _apply(budget, overrides, "--set")
    return budget, run_seed if args.seed is None else args.seed


def _apply(budget: Budget, values: Mapping[str, Any], source: str) -> Budget:
    try:
        return budget.replace(**values)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{source}: {err}") from None


def read_config(path: Path) -> tuple[dict[str, Any], int | None]:
    """The budget fields in ``path`` (YAML for .yaml/.yml, else JSON) and its seed (None if it has none).

    The file holds either a mapping of budget fields or a run's ``config.json`` (``budget``, ``seed``, ...)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    is_yaml = path.suffix in (".yaml", ".yml")
    try:
        if is_yaml:
            from sdrnet.optional import require

            values = require("yaml", "--config with a YAML file").safe_load(path.read_text()) or {}
        else:
            values = json.loads(path.read_text())
    except (ModuleNotFoundError, OSError):
        raise
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError
        kind = "YAML" if is_yaml else "JSON"
        raise ValueError(f"--config {path}: not valid {kind} ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: must hold a mapping of budget fields, got {type(values).__name__}")
    if isinstance(values.get("budget"), dict) and "version" in values:  # a run's config.json
        return values["budget"], values.get("seed")
    return values, None


# ------------------------------------------------------------------------------------------------ run files
def write_config(out: Path, command: str, budget: Budget, seed: int, **extra) -> Path:
    """Write ``out/config.json``: the command, its resolved budget, seed, sdrnet's version and ``extra``."""
    from sdrnet import __version__

    config = {"command": command, "budget": budget.to_dict(), "seed": seed, "version": __version__, **extra}
    return _write_json(Path(out) / "config.json", config)


def write_results(out: Path, results: Mapping[str, Any]) -> Path:
    """Write ``out/results.json``; every key must be snake_case (`ValueError` naming the first that is not)."""
    return _write_json(Path(out) / "results.json", results)


def _write_json(path: Path, data: Mapping[str, Any]) -> Path:
    text = json.dumps(jsonable(data), indent=2, allow_nan=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)
    return path


def jsonable(value, where: str = "results"):
    """``value`` as plain JSON: numpy scalars and arrays as numbers and lists, tuples as lists, NaN and ±inf as
    None, dataclasses as mappings; mapping keys must be snake_case strings."""
    if isinstance(value, Mapping) or dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = value.items() if isinstance(value, Mapping) else dataclasses.asdict(value).items()
        out = {}
        for key, v in items:
            if not isinstance(key, str) or not SNAKE.match(key):
                raise ValueError(f"{where}: key {key!r} is not snake_case (lower-case letters, digits, _)")
            out[key] = jsonable(v, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        return jsonable(value.tolist(), where)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{where}: {type(value).__name__} is not JSON data")


# ------------------------------------------------------------------------------------------------ compilation
COMPILING = "compiling sdrnet's kernels (first run only, ~30 s) …"
_notice: dict[str, Any] = {"installed": False, "shown": False}


def announce_compilation(packages: Iterable[str] = ("sdrnet", "dendrites", "snn"), file=None) -> None:
    """Print `COMPILING` on stderr (or ``file``) once per process when numba starts compiling a kernel of
    ``packages`` — a real compilation only: kernels loaded from numba's cache raise no compile event. Installing
    it again does nothing."""
    if _notice["installed"]:
        return
    from numba.core import event

    packages = tuple(packages)

    class Notice(event.Listener):
        def on_start(self, ev):
            func = getattr(ev.data.get("dispatcher"), "py_func", None)
            module = getattr(func, "__module__", "") or ""
            if not _notice["shown"] and module.partition(".")[0] in packages:
                _notice["shown"] = True
                print(COMPILING, file=file or sys.stderr, flush=True)

        def on_end(self, ev):
            pass

    event.register("numba:compile", Notice())
    _notice["installed"] = True
