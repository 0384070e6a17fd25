import subprocess
import sys

import pytest

import sdrnet
import sdrnet.cli as cli
from sdrnet.cli import main


def test_version_and_help(capsys):
    out = subprocess.run([sys.executable, "-m", "sdrnet.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"sdrnet {sdrnet.__version__}"
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out


def test_demo_tour_runs_its_parts_in_order(tmp_path, capsys, monkeypatch):
    # the quick smoke of `sdrnet demo`: the tour itself on its two fastest parts (the full tour is -m slow;
    # every other part's command has its own test)
    monkeypatch.setattr(cli, "DEMO_PARTS", cli.DEMO_PARTS[:2])
    assert main(["demo", "--out", str(tmp_path), "--seed", "0"]) == 0
    text = capsys.readouterr().out
    assert text.index("[1/2] the event-driven sparse core") < text.index("[2/2] SDRs and encoders")
    assert "max_abs_diff_vs_dense" in text and "synaptic_ops" in text
    table = text[text.index("sparse_matmul: 1024 -> 2048") :].split("\n\n")[0]
    assert table.count("True") == 6 and "False" not in table and "gather" in table  # every kernel, same bits
    assert "SDR algebra" in text and "encode(x) with encode(0)" in text and "sdrnet demo: done in" in text
    for name in ("core_quickstart", "sdr_encoders"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000, name


@pytest.mark.slow
def test_demo_writes_tables_and_figures(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "max_abs_diff_vs_dense" in text and "synaptic_ops" in text
    assert (tmp_path / "core_quickstart.png").stat().st_size > 10_000
    assert "SDR algebra" in text and "encode(x) with encode(0)" in text
    assert "noise: theory vs simulation" in text and "max |z|" in text
    assert "similarity preservation" in text and "load_digits" in text
    assert "accuracy on all tasks seen" in text and "exported to the core" in text
    assert "learned delays (DCLS)" in text and "sdrnet snn-train --recipe shd" in text
    assert "only changes are sent" in text and "goal (≥ 3× fewer effective ops" in text
    assert "large-sparse vs small-dense at equal non-zeros" in text and "fits Loihi: no violations" in text
    for name in (
        "snn_delays",
        "delta_video",
        "prune_accuracy_vs_sparsity",
        "active_dendrites_permuted_digits",
        "sparsey",
        "sdr_encoders",
        "dendrites_effect_of_n",
        "dendrites_effect_of_s",
        "dendrites_noise",
        "dendrites_unions",
        "dendrites_optimal_threshold",
    ):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000, name


def test_dendrites_command(tmp_path, capsys):
    import json

    import dendrites.figures as figures

    (tmp_path / "budget.yaml").write_text("segments: 200\ninputs: 200\nnoise_trials: 5\n")
    argv = ["dendrites", "--out", str(tmp_path), "--no-progress", "--seed", "3", "--format", "svg"]
    argv += ["--config", str(tmp_path / "budget.yaml"), "--set", "noise_trials=2", "--set", "union_segments=20"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    z = float(text.split("max |z| = ")[1].split()[0])
    assert z < 5  # simulation agrees with the closed forms
    assert (tmp_path / "dendrites_noise.svg").read_text().startswith("<?xml")
    assert not list(tmp_path.glob("*.png"))
    config = json.loads((tmp_path / "config.json").read_text())
    budget = figures.Budget(segments=200, inputs=200, noise_trials=2, union_segments=20)
    assert config["budget"] == budget.to_dict() and config["seed"] == 3 and config["command"] == "dendrites"
    assert config["options"] == {"format": "svg"} and config["version"] == sdrnet.__version__
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["max_abs_z"] == pytest.approx(z, abs=0.005)
    simulated = [r for k in ("effect_of_n", "effect_of_s", "noise", "unions") for r in results[k]]
    assert results["summary"]["simulated_points"] == len(simulated) > 20
    assert all(isinstance(r["simulated"], float) and isinstance(r["pairs"], int) for r in simulated)
    assert {r["pairs"] for r in results["effect_of_s"]} == {200 * 200}  # the budget reached the Monte Carlo
    # a run's config.json gives the same run again
    again = tmp_path / "again"
    assert main(["dendrites", "--out", str(again), "--no-progress", "--config", str(tmp_path / "config.json")]) == 0
    assert json.loads((again / "results.json").read_text()) == results


@pytest.mark.slow  # ~17 s from a cold numba cache; the demo tour runs the sparsey command by default
def test_sparsey_command_with_mnist_files(tmp_path, capsys):
    import gzip
    import json
    import struct

    import numpy as np

    rng = np.random.default_rng(0)
    for split, n in (("train", 30), ("t10k", 10)):
        images = (rng.random((n, 28, 28)) < 0.2).astype(np.uint8) * 255
        labels = np.arange(n, dtype=np.uint8) % 10
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            with gzip.open(tmp_path / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())
    out = tmp_path / "out"
    argv = ["sparsey", "--out", str(out), "--no-progress", "--mnist", str(tmp_path), "--per-class", "2"]
    assert main([*argv, "--set", "pairs=5", "--set", "loads=20,40"]) == 0
    text = capsys.readouterr().out
    assert "capacity" in text and "MNIST (20 train / 10 test)" in text and "code overlap (simulated)" in text
    results = json.loads((out / "results.json").read_text())
    assert results["mnist_info"]["n_train"] == 20 and len(results["digits"]) == 5
    assert [r["stored_patterns"] for r in results["capacity"]] == [20, 40]
    assert all(r["reported_full_default_csa"] in (0, 1) and r["trials"] == 1 for r in results["capacity"])
    assert all(isinstance(r["test_accuracy"], float) for r in results["digits"] + results["mnist"])
    config = json.loads((out / "config.json").read_text())
    assert config["budget"] == {"pairs": 5, "capacity_trials": 1, "loads": [20, 40]}
    assert config["options"] == {"format": "png", "mnist": str(tmp_path), "per_class": 2}
    assert (out / "sparsey.png").stat().st_size > 10_000


def test_core_import_is_light():
    # numba itself may import scipy, so scipy is not checked here
    code = (
        "import sys, sdrnet.core; bad = [m for m in ('torch', 'networkx', 'brian2', 'matplotlib', 'h5py') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "[]"
