import subprocess
import sys

import sdrnet
from sdrnet.cli import main


def test_version_and_help(capsys):
    out = subprocess.run([sys.executable, "-m", "sdrnet.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"sdrnet {sdrnet.__version__}"
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_demo_writes_tables_and_figures(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "max_abs_diff_vs_dense" in text and "synaptic_ops" in text
    assert (tmp_path / "core_quickstart.png").stat().st_size > 10_000


def test_core_import_is_light():
    # numba itself may import scipy, so scipy is not checked here
    code = ("import sys, sdrnet.core; bad = [m for m in ('torch', 'networkx', 'brian2', 'matplotlib', 'h5py') "
            "if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]"
