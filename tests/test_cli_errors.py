"""`sdrnet` command manners: one-line errors with exit status 2 before any work, Ctrl-C, missing extras,
the caller's matplotlib backend, the seed of the demo, and user-facing text."""

import gzip
import re
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sdrnet import cli

ROOT = Path(__file__).resolve().parents[1]


def _write_idx(path: Path, arr: np.ndarray) -> None:
    data = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _mnist_folder(folder: Path, splits=("train", "t10k")) -> Path:
    folder.mkdir()
    for split in splits:
        _write_idx(folder / f"{split}-images-idx3-ubyte.gz", np.zeros((4, 28, 28), np.uint8))
        _write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(4, dtype=np.uint8))
    return folder


def _bad_mnist(tmp: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp / "nowhere"
    if kind == "a file":
        (tmp / "file").write_text("x")
        return tmp / "file"
    if kind == "no test split":
        return _mnist_folder(tmp / "m", splits=("train",))
    folder = _mnist_folder(tmp / "m")
    images = folder / "t10k-images-idx3-ubyte.gz"
    if kind == "truncated gzip":
        images.write_bytes(images.read_bytes()[:-9])
    elif kind == "not IDX":
        (folder / "train-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    elif kind == "disagreeing counts":
        _write_idx(folder / "train-labels-idx1-ubyte", np.arange(5, dtype=np.uint8))
    return folder


def _one_line_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, says",
    [
        (["dendrites", "--seed", "-1"], "--seed"),
        (["dendrites", "--seed", "abc"], "--seed"),
        (["sparsey", "--seed", "1.5"], "--seed"),
        (["demo", "--seed", str(2**32)], "--seed"),
        (["sparsey", "--per-class", "0"], "--per-class"),
        (["prune", "--target", "loihi", "--seed", "-2"], "--seed"),
        (["no-such-command"], "no-such-command"),
        (["dendrites", "--set", "segments=many"], "--set segments=many: segments must be int, got 'many'"),
        (["dendrites", "--set", "segment=5"], "unknown field 'segment'; fields: segments, inputs, noise_trials"),
        (["dendrites", "--set", "segments"], "--set expects KEY=VALUE"),
        (["dendrites", "--set", "inputs=-1"], "--set: inputs must be >= 0, got -1"),
        (["sparsey", "--set", "pairs=1"], "pairs must be >= 2"),
        (["sparsey", "--set", "loads=10,x"], "loads[1] must be int"),
        (["sparsey", "--full", "--set", "capacity_trials=0"], "capacity_trials must be >= 1"),
        (["dendrites", "--config", "CONFIG/missing.yaml"], "--config"),
        (["sparsey", "--config", "CONFIG/bad.json"], "not valid JSON"),
        (["sparsey", "--config", "CONFIG/unknown.yaml"], "Budget has no field pears; fields: pairs"),
        (["dendrites", "--format", "jpg"], "--format"),
    ],
)
def test_bad_option_is_one_line_and_nothing_is_written(tmp_path, capsys, argv, says):
    (tmp_path / "bad.json").write_text('{"pairs": 5,')
    (tmp_path / "unknown.yaml").write_text("pears: 5\n")
    argv = [a.replace("CONFIG", str(tmp_path)) for a in argv]
    out = tmp_path / "out"
    assert says in _one_line_error(capsys, [*argv, "--out", str(out)] if argv[0] != "no-such-command" else argv)
    assert not out.exists()


def test_budget_options_come_before_any_work(tmp_path, capsys, monkeypatch):
    import dendrites.figures as figures

    monkeypatch.setattr(figures, "run", lambda *a, **k: pytest.fail("the command ran"))
    _one_line_error(capsys, ["dendrites", "--set", "inputs=x", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["sparsey", "active-dendrites"])
@pytest.mark.parametrize(
    "kind, says",
    [
        ("missing", "is not a folder"),
        ("a file", "is not a folder"),
        ("no test split", "t10k-images-idx3-ubyte"),
        ("truncated gzip", "truncated or corrupt"),
        ("not IDX", "not an IDX file"),
        ("disagreeing counts", "disagree"),
    ],
)
def test_bad_mnist_folder_is_refused_before_any_work(tmp_path, capsys, command, kind, says):
    out = tmp_path / "out"
    err = _one_line_error(capsys, [command, "--mnist", str(_bad_mnist(tmp_path, kind)), "--out", str(out)])
    assert "--mnist" in err and says in err
    assert not out.exists()


def test_good_mnist_folder_passes_the_check(tmp_path):
    from sdrnet.datasets import load_mnist, mnist_files

    folder = _mnist_folder(tmp_path / "m")
    for split in ("train", "test"):
        images, labels = mnist_files(folder, split)
        assert images.name.endswith("images-idx3-ubyte.gz") and labels.name.endswith("labels-idx1-ubyte")
        x, y = load_mnist(folder, split)
        assert x.shape == (4, 28, 28) and y.tolist() == [0, 1, 2, 3]


def _unwritable(tmp: Path, kind: str) -> Path:
    (tmp / "file").write_text("x")
    return {
        "existing file": tmp / "file",
        "under a file": tmp / "file" / "sub",
        "read-only place": Path("/proc/sdrnet-out"),
    }[kind]


@pytest.mark.parametrize("command", ["demo", "dendrites", "sparsey", "active-dendrites", "delta", "prune"])
@pytest.mark.parametrize("kind", ["existing file", "under a file", "read-only place"])
def test_unusable_out_is_one_line(tmp_path, capsys, command, kind):
    if kind == "read-only place" and not Path("/proc/self").exists():
        pytest.skip("needs Linux's /proc")
    err = _one_line_error(capsys, [command, "--out", str(_unwritable(tmp_path, kind))])
    assert "--out" in err and f"sdrnet {command}: error:" in err


def test_keyboard_interrupt_ends_with_a_short_message(tmp_path, capsys, monkeypatch):
    import dendrites.figures as figures

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(figures, "run", interrupted)
    assert cli.main(["dendrites", "--out", str(tmp_path), "--no-progress"]) == 130
    assert capsys.readouterr().err == "sdrnet dendrites: interrupted\n"


def test_ctrl_c_on_a_running_command(tmp_path):
    code = (
        "import sys, time\nimport dendrites.figures as f\n"
        "def slow(*a, **k):\n    print('working', flush=True)\n    time.sleep(60)\n"
        "f.run = slow\nfrom sdrnet.cli import main\n"
        f"sys.exit(main(['dendrites', '--out', {str(tmp_path)!r}, '--no-progress']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "working\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err == "sdrnet dendrites: interrupted\n", err


@pytest.mark.parametrize(
    "argv, missing, extra",
    [
        (["active-dendrites"], "torch", "torch"),
        (["delta"], "torch", "torch"),
        (["prune"], "nir", "snn"),
        (["demo"], "spikingjelly", "snn"),
        (["snn-train", "--epochs", "1"], "torch", "snn"),
    ],
)
def test_missing_dependency_names_the_extra(tmp_path, argv, missing, extra):
    code = (
        f"import sys\nsys.modules[{missing!r}] = None\nfrom sdrnet.cli import main\n"
        f"sys.exit(main({[*argv, '--out', str(tmp_path / 'out')]!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"sdrnet {argv[0]}: error: this command needs {missing}: pip install 'sdrnet[{extra}]'\n"), (
        proc.stderr
    )
    assert not (tmp_path / "out").exists()


def test_missing_dependency_found_during_a_run_names_the_extra(tmp_path, capsys, monkeypatch):
    import dendrites.figures as figures

    def needs_nir(*args, **kwargs):
        import nir  # noqa: F401

    monkeypatch.setitem(sys.modules, "nir", None)
    monkeypatch.setattr(figures, "run", needs_nir)
    assert cli.main(["dendrites", "--out", str(tmp_path), "--no-progress"]) == 2
    assert capsys.readouterr().err == "sdrnet dendrites: error: this command needs nir: pip install 'sdrnet[snn]'\n"


def test_demo_parts_leave_the_callers_backend_alone(tmp_path):
    plotting = [p.name for p in sorted((ROOT / "examples").glob("*.py")) if "matplotlib" in p.read_text()]
    assert plotting
    code = (  # each part at its quick budget where it has one
        "import inspect, runpy, sys, matplotlib\nmatplotlib.use('svg')\n"
        f"for name in {plotting!r}:\n"
        f"    main = runpy.run_path({str(ROOT / 'examples')!r} + '/' + name, run_name='sdrnet_demo')['main']\n"
        "    quick = {'quick': True} if 'quick' in inspect.signature(main).parameters else {}\n"
        f"    main({str(tmp_path)!r}, **quick)\n"
        "print(matplotlib.get_backend())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "svg"


def _calls_matplotlib_use(path: Path) -> list[int]:
    import ast

    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "use"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "matplotlib"
    ]


def test_library_code_never_selects_a_matplotlib_backend(tmp_path):
    (tmp_path / "switches.py").write_text("import matplotlib\n\ndef plot():\n    matplotlib.use('Agg')\n")
    assert _calls_matplotlib_use(tmp_path / "switches.py") == [4]  # the check sees a call inside a function
    calls = [
        f"{p.relative_to(ROOT)}:{line}"
        for d in ("sdrnet", "snn", "dendrites")
        for p in sorted((ROOT / d).rglob("*.py"))
        for line in _calls_matplotlib_use(p)
    ]
    assert not calls


def test_demo_passes_its_seed_to_every_part(tmp_path, capsys, monkeypatch):
    parts = tmp_path / "examples"
    parts.mkdir()
    for i in range(3):
        (parts / f"part{i}.py").write_text(
            "from pathlib import Path\n"
            f"def main(out, seed=0):\n    (Path(out) / 'part{i}.seed').write_text(str(seed))\n"
        )
    monkeypatch.setattr(cli, "EXAMPLES", parts)
    monkeypatch.setattr(cli, "DEMO_PARTS", [(f"part {i}", f"part{i}.py") for i in range(3)])
    assert cli.main(["demo", "--out", str(tmp_path / "out"), "--seed", "7"]) == 0
    assert [(tmp_path / "out" / f"part{i}.seed").read_text() for i in range(3)] == ["7"] * 3


def test_demo_quick_gives_quick_to_the_parts_that_take_it(tmp_path, capsys, monkeypatch):
    parts = tmp_path / "examples"
    parts.mkdir()
    (parts / "budgeted.py").write_text(
        "from pathlib import Path\n"
        "def main(out, seed=0, quick=False):\n    (Path(out) / 'budgeted.txt').write_text(f'{seed} {quick}')\n"
    )
    (parts / "plain.py").write_text(
        "from pathlib import Path\ndef main(out, seed=0):\n    (Path(out) / 'plain.txt').write_text(str(seed))\n"
    )
    monkeypatch.setattr(cli, "EXAMPLES", parts)
    monkeypatch.setattr(cli, "DEMO_PARTS", [("a part with budgets", "budgeted.py"), ("a plain part", "plain.py")])
    for flag, out in (["--quick"], "quick"), ([], "full"):
        assert cli.main(["demo", *flag, "--seed", "4", "--out", str(tmp_path / out)]) == 0
        assert (tmp_path / out / "plain.txt").read_text() == "4"
    assert (tmp_path / "quick" / "budgeted.txt").read_text() == "4 True"
    assert (tmp_path / "full" / "budgeted.txt").read_text() == "4 False"
    text = capsys.readouterr().out
    assert "[1/2] a part with budgets (budgeted.py, quick)" in text and "[2/2] a plain part (plain.py) ===" in text


def test_every_demo_part_takes_a_seed_and_it_changes_the_results(tmp_path):
    import inspect
    import runpy

    for _, script in cli.DEMO_PARTS:
        assert "seed" in inspect.signature(runpy.run_path(str(cli.EXAMPLES / script))["main"]).parameters, script
    encoders = runpy.run_path(str(cli.EXAMPLES / "sdr_encoders.py"))["main"]
    assert encoders(tmp_path, seed=1)["overlap"] != encoders(tmp_path, seed=0)["overlap"]


FORBIDDEN = re.compile(
    r"this machine|this session|this cpu|no gpu was available|cannot be downloaded|"
    r"no download (on|here)|is no download|not measured here|downloaded here|available here",
    re.IGNORECASE,
)


def test_user_facing_text_speaks_of_the_data_not_of_a_machine():
    files = [
        ROOT / "README.md",
        *(p for d in ("sdrnet", "snn", "dendrites", "examples", "benchmarks") for p in (ROOT / d).rglob("*.py")),
    ]
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_the_first_compilation_is_announced_once(tmp_path, capsys, monkeypatch):
    from numba import njit

    import dendrites.figures as figures
    from sdrnet import experiment

    monkeypatch.setattr(experiment, "_notice", {"installed": experiment._notice["installed"], "shown": False})

    def probe(x):
        return x + 1

    probe.__module__ = "sdrnet.probe"  # a kernel of sdrnet's, compiled afresh (no cache)
    kernel = njit(probe)
    monkeypatch.setattr(figures, "run", lambda *args, **kwargs: {"value": kernel(1) + kernel(2.0)})
    assert cli.main(["dendrites", "--out", str(tmp_path), "--no-progress"]) == 0
    assert capsys.readouterr().err == experiment.COMPILING + "\n"  # two compilations, one line
    assert cli.main(["dendrites", "--out", str(tmp_path), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
