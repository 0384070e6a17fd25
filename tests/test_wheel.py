"""The wheel: built as ``python -m build`` builds it (the sdist, then the wheel from the sdist), installed into
a fresh venv and run from there, away from the source tree.

The fresh venv gets the wheel alone (``pip install --no-deps``); its dependencies come from the test's own
environment through a ``.pth`` file naming that environment's site-packages (a line of a ``.pth`` file adds a
folder to ``sys.path`` without running the ``.pth`` files inside it, so an editable install there stays
inactive). Installing the dependencies from the package index instead takes about a minute.
"""

import configparser
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from setuptools import find_packages

import sdrnet
import sdrnet.cli as cli

ROOT = Path(__file__).resolve().parents[1]


def test_setup_cfg_lists_every_package_and_ships_the_examples():
    options = configparser.ConfigParser()
    options.read(ROOT / "setup.cfg")
    listed = options["options"]["packages"].split()
    on_disk = find_packages(ROOT, include=["sdrnet*", "snn*", "dendrites*"])
    assert sorted(listed) == sorted([*on_disk, "sdrnet.examples"])
    assert options["options"]["package_dir"].split() == ["sdrnet.examples", "=", "examples"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh venv holding the wheel built from this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(ROOT)]
    proc = subprocess.run(build, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("sdrnet-*.whl")
    env = tmp / "venv"
    # the interpreter this test's venv was made from: a venv of a venv would not be fresh
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    site = _run(env, "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    (Path(site) / "sdrnet_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"), "install", "--no-deps", "--no-index"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, timeout=300)
    return env


def _run(env: Path, program: str, *args: str) -> str:
    """stdout of ``env``'s ``program``, run from a fresh folder with no PYTHONPATH (the checkout is not visible)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    cwd = env / "cwd"
    cwd.mkdir(exist_ok=True)
    proc = subprocess.run(
        [str(env / "bin" / program), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return proc.stdout


WHERE = """
import importlib.metadata, json, sdrnet, sdrnet.cli as cli
print(json.dumps({
    "sdrnet": sdrnet.__file__,
    "metadata": str(importlib.metadata.distribution("sdrnet").locate_file("")),
    "parts": [str(cli.EXAMPLES / script) for _, script in cli.DEMO_PARTS if (cli.EXAMPLES / script).is_file()],
    "commands": sorted(cli.commands()),
}))
"""


def test_wheel_installs_its_command_and_the_demo_parts(venv):
    assert _run(venv, "sdrnet", "--version").strip() == f"sdrnet {sdrnet.__version__}"
    found = json.loads(_run(venv, "python", "-c", WHERE))
    for path in (found["sdrnet"], found["metadata"], *found["parts"]):
        assert Path(path).is_relative_to(venv), path
    assert [Path(p).name for p in found["parts"]] == [script for _, script in cli.DEMO_PARTS]
    assert Path(found["parts"][0]).parent == Path(found["sdrnet"]).parent / "examples"
    assert found["commands"] == sorted(cli.commands())  # the entry points of snn and dendrites too


CORE_PART = """
import sys, sdrnet.cli as cli
print(cli.__file__)
cli.DEMO_PARTS[1:] = []
sys.exit(cli.main(["demo", "--out", sys.argv[1]]))
"""


@pytest.mark.slow
def test_installed_wheel_runs_the_core_part_of_the_demo(venv, tmp_path):
    # slow: the kernels compile afresh for the installed files (about 30 s)
    text = _run(venv, "python", "-c", CORE_PART, str(tmp_path))
    assert Path(text.splitlines()[0]).is_relative_to(venv)
    assert "[1/1] the event-driven sparse core (core_quickstart.py)" in text
    assert "max_abs_diff_vs_dense" in text and "synaptic_ops" in text and "sdrnet demo: done in" in text
    assert (tmp_path / "core_quickstart.png").stat().st_size > 10_000
