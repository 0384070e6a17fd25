"""The layering of the three packages (issue 15): `sdrnet` never imports `snn` or `dendrites`, `sdrnet.core`
imports nothing of `sdrnet` outside itself, no package imports another's private (underscore) names, and
`snn`/`dendrites` export their main names in ``__all__`` without loading torch on ``import``."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sdrnet", "snn", "dendrites")
IMPORT_CALLS = ("import_module", "require", "__import__")  # calls whose first argument names a module


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str | None, level: int, here: str, is_package: bool) -> str:
    """The absolute module of ``from <level dots><module> import ...`` written in module ``here``."""
    if level == 0:
        return module or ""
    base = here.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join(base + ([module] if module else []))


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, module)`` for every module the file imports, at any depth (inside functions too), including
    ``from m import name`` as ``m.name`` and modules named by a string in ``importlib.import_module``,
    ``require`` or ``__import__``."""
    here, is_package = _module_name(path, root), path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node.module, node.level, here, is_package)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in IMPORT_CALLS
        ):
            found.append((node.lineno, node.args[0].value))
    return found


# sdrnet.core may import itself and sdrnet.optional (a leaf: the optional packages and their extras; it imports no
# sdrnet module, and it lives outside sdrnet.core so that the command line's parser loads without numba)
CORE_MAY_IMPORT = ("sdrnet.core", "sdrnet.optional")


def _private(module: str) -> bool:
    return any(
        part.startswith("_") and not (part.startswith("__") and part.endswith("__")) for part in module.split(".")
    )


def violations(root: Path = ROOT) -> list[str]:
    """``file:line: why`` for each import that points up the layers or into another package's private names."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            here = _module_name(path, root)
            for line, module in imports(path, root):
                top = module.partition(".")[0]
                if top not in PACKAGES:
                    continue
                where = f"{path.relative_to(root)}:{line}: {module}"
                if here == "sdrnet.optional":
                    out.append(f"{where}: sdrnet.optional is a leaf (sdrnet.core imports it)")
                elif package == "sdrnet" and top != "sdrnet":
                    out.append(f"{where}: sdrnet imports {top}")
                elif here.startswith("sdrnet.core") and not any(
                    (module + ".").startswith(base + ".") for base in CORE_MAY_IMPORT
                ):
                    out.append(f"{where}: sdrnet.core imports sdrnet outside sdrnet.core")
                elif top != package and _private(module):
                    out.append(f"{where}: a private name of {top}")
    return out


def test_the_checker_finds_each_kind_of_violation(tmp_path):
    files = {
        "sdrnet/__init__.py": "",
        "sdrnet/cli.py": "def f():\n    from snn.train import main\n",
        "sdrnet/core/__init__.py": "from .. import _optional\n",
        "sdrnet/core/net.py": "import importlib\nimportlib.import_module('dendrites.nn')\n",
        "snn/__init__.py": "from sdrnet.core.ops import _active\n",
        "snn/x.py": "from sdrnet._optional import require\nfrom . import _own\nfrom sdrnet.core import ops\n",
        "dendrites/__init__.py": "from sdrnet import sdr\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert violations(tmp_path) == [
        "sdrnet/cli.py:2: snn.train.main: sdrnet imports snn",
        "sdrnet/core/__init__.py:1: sdrnet._optional: sdrnet.core imports sdrnet outside sdrnet.core",
        "sdrnet/core/net.py:2: dendrites.nn: sdrnet imports dendrites",
        "snn/__init__.py:1: sdrnet.core.ops._active: a private name of sdrnet",
        "snn/x.py:1: sdrnet._optional.require: a private name of sdrnet",
    ]


def test_no_import_points_up_the_layers_or_into_private_names():
    found = violations()
    assert not found, "\n".join(found)


def _fresh(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("package", ["snn", "dendrites"])
def test_all_names_exist(package):
    pytest.importorskip("spikingjelly")
    module = __import__(package)
    assert module.__all__ and len(set(module.__all__)) == len(module.__all__)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert not missing
    assert set(module.__all__) <= set(dir(module))


def test_packages_and_the_command_line_parser_load_without_torch():
    code = (
        "import sys, contextlib, io\nimport sdrnet, snn, dendrites\nfrom sdrnet.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main([])\n"
        "print(sorted(m for m in ('torch', 'spikingjelly', 'numba', 'snn.models', 'dendrites.nn') "
        "if m in sys.modules))"
    )
    assert _fresh(code) == "[]"


def test_the_timing_task_registers_itself_through_its_entry_point():
    pytest.importorskip("spikingjelly")
    code = (
        "import sys\nfrom sdrnet.prune import experiment\nbefore = sorted(m for m in sys.modules if "
        "m.partition('.')[0] in ('snn', 'dendrites'))\nfactory = experiment.get_task('timing')\n"
        "print(before, factory.__module__, sorted(experiment.TASKS))"
    )
    assert _fresh(code) == "[] snn.prune_task ['digits', 'timing']"
    from sdrnet.prune import experiment

    with pytest.raises(ValueError, match="'no-such-task'"):
        experiment.get_task("no-such-task")


def test_a_command_announced_by_an_entry_point_runs_with_the_usual_checks(tmp_path, monkeypatch, capsys):
    import importlib.metadata

    from sdrnet import cli

    (tmp_path / "hello_plugin.py").write_text(
        "from sdrnet.cli import Command\n"
        "def _run(args):\n    print('hello', args.seed, args.out.name)\n"
        "HELLO = Command('say hello', _run, full='say it louder')\n"
        "MISSING = Command('needs a package', _run, full='x', needs=('no_such_package_xyz',), extra='all')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = importlib.metadata.EntryPoints(
        [
            importlib.metadata.EntryPoint(name, f"hello_plugin:{obj}", cli.COMMANDS)
            for name, obj in (("hello", "HELLO"), ("missing", "MISSING"))
        ]
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps if group == cli.COMMANDS else ())
    assert cli.main(["hello", "--seed", "5", "--out", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().out == "hello 5 o\n"
    with pytest.raises(SystemExit) as exit_:
        cli.main(["missing", "--out", str(tmp_path / "m")])
    assert exit_.value.code == 2 and not (tmp_path / "m").exists()
    assert capsys.readouterr().err == (
        "sdrnet missing: error: this command needs no_such_package_xyz: pip install 'sdrnet[all]'\n"
    )
    assert cli.main([]) == 0 and "say hello" in capsys.readouterr().out


def test_every_packaged_command_comes_from_its_own_package():
    from sdrnet import cli

    owners = {name: command.run.__module__ for name, command in cli.commands().items()}
    assert owners == {
        "demo": "sdrnet.cli",
        "sparsey": "sdrnet.cli",
        "prune": "sdrnet.cli",
        "snn-train": "snn.commands",
        "snn-delays": "snn.commands",
        "delta": "snn.commands",
        "dendrites": "dendrites.commands",
        "active-dendrites": "dendrites.commands",
    }


def test_prunable_layer_types_register_themselves():
    pytest.importorskip("spikingjelly")
    code = (
        "import sys, torch\nfrom sdrnet.prune import masks\n"
        "class Gate(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.weight = torch.nn.Parameter(torch.ones(3, 2))\n"
        "def refused(model):\n    try:\n        masks.targets(model)\n    except TypeError as err:\n"
        "        return str(err)\n"
        "print(refused(Gate()))\nmasks.register_prunable(Gate)\nmasks.register_prunable(Gate)\n"
        "print(len(masks.targets(torch.nn.Sequential(Gate(), torch.nn.Linear(2, 2)))))\n"
        "import snn.delays\nprint(refused(torch.nn.ReLU()))\nprint('snn.delays' in str(masks.prunable_types()))"
    )
    assert _fresh(code).splitlines() == [
        "model (Gate) holds no prunable layer (Linear, Conv1d, Conv2d)",
        "2",
        "model (ReLU) holds no prunable layer (Linear, Conv1d, Conv2d, __main__.Gate, snn.delays.DelayedLinear)",
        "True",
    ]
    from sdrnet.prune import masks

    with pytest.raises(TypeError, match="cls must be an nn.Module subclass"):
        masks.register_prunable(int)
