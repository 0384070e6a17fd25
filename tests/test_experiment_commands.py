"""The experiment commands of the delta, pruning, active-dendrites and delay-SNN families through ``sdrnet``:
the shared options (budget fields by --set/--config, --seed, --out, --format, --no-progress), config.json and
results.json (snake_case keys, numbers as numbers), the figures in the chosen format."""

from __future__ import annotations

import json
import re

import pytest

from sdrnet.cli import main

pytest.importorskip("torch")

SNAKE = re.compile(r"[a-z][a-z0-9_]*\Z")


def keys(value) -> set[str]:
    """Every mapping key anywhere in a JSON value."""
    if isinstance(value, dict):
        return set(value) | set().union(*(keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys(v) for v in value))
    return set()


def sets(**fields) -> list[str]:
    """``--set key=value`` options for budget fields (tuples comma-separated)."""
    out = []
    for k, v in fields.items():
        text = ",".join(map(str, v)) if isinstance(v, tuple) else str(v)
        out += ["--set", f"{k}={text}"]
    return out


def run_files(out) -> tuple[dict, dict]:
    config, results = (json.loads((out / name).read_text()) for name in ("config.json", "results.json"))
    assert all(SNAKE.match(k) for k in keys(results)), sorted(k for k in keys(results) if not SNAKE.match(k))
    return config, results


DELTA = dict(
    n_train=48,
    n_test=24,
    n_steps=3,
    size=12,
    channels=(2, 3),
    hidden=8,
    epochs=1,
    finetune_epochs=1,
    batch_size=16,
    penalties=(0.0, 0.1),
    event_clips=8,
)


def test_delta_command_writes_config_results_and_figure(tmp_path, capsys):
    from snn.delta import experiment as delta

    argv = ["delta", "--out", str(tmp_path), "--no-progress", "--seed", "2", "--format", "svg", *sets(**DELTA)]
    assert main(argv) == 0
    config, saved = run_files(tmp_path)
    assert config["command"] == "delta" and config["seed"] == 2 and config["full"] is False
    assert config["budget"] == json.loads(json.dumps(delta.Budget(**DELTA).to_dict()))
    assert (tmp_path / "delta_video.svg").stat().st_size > 10_000 and not (tmp_path / "delta_video.png").exists()
    assert [r["penalty"] for r in saved["rows"]] == [None, 0.0, 0.1] and saved["seed"] == 2
    assert saved["event_driven"]["core_synops_per_clip"] == saved["event_driven"]["neurobench_effective_per_clip"]
    assert saved["event_driven"]["max_abs_diff"] < 1e-3
    assert all(0 <= r["accuracy"] <= 1 for r in saved["rows"])
    assert "event-driven on the core" in capsys.readouterr().out


AD = dict(num_tasks=2, report_tasks=(1, 2), hidden_sizes=(32, 32), epochs=1)


def test_active_dendrites_command(tmp_path, capsys):
    import dendrites.continual as continual

    argv = ["active-dendrites", "--out", str(tmp_path), "--no-progress", "--seed", "1", "--format", "pdf"]
    assert main([*argv, *sets(**AD)]) == 0
    assert "accuracy on all tasks seen" in capsys.readouterr().out
    config, results = run_files(tmp_path)
    assert config["budget"] == json.loads(json.dumps(continual.Budget(**AD).to_dict())) and config["seed"] == 1
    assert [m["model"] for m in results["models"]] == list(continual.MODELS) and results["seeds"] == [1]
    assert all(len(m["mean"]) == 2 and all(isinstance(a, float) for a in m["mean"]) for m in results["models"])
    assert (tmp_path / "active_dendrites_permuted_digits.pdf").read_bytes().startswith(b"%PDF")


def write_mnist(folder, n_train=40, n_test=20) -> None:
    """MNIST's four IDX files (gzip) holding random 28×28 images, labels 0–9 in turn."""
    import gzip
    import struct

    import numpy as np

    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            with gzip.open(folder / f"{split}-{kind}-ubyte.gz", "wb") as f:
                f.write(bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


def test_active_dendrites_on_mnist_takes_the_paper_scale_but_what_the_user_set(tmp_path):
    from dendrites.continual import MNIST_SCALE

    write_mnist(tmp_path)
    (tmp_path / "budget.json").write_text(json.dumps({"epochs": 1, "models": ["MLP"]}))
    out = tmp_path / "out"
    argv = ["active-dendrites", "--out", str(out), "--no-progress", "--mnist", str(tmp_path)]
    argv += ["--config", str(tmp_path / "budget.json"), *sets(num_tasks=2, report_tasks=(1, 2), hidden_sizes=(8, 8))]
    assert main(argv) == 0
    config, results = run_files(out)
    budget = config["budget"]
    assert budget["mnist_dir"] == str(tmp_path) and budget["batch_size"] == MNIST_SCALE["batch_size"] == 256
    assert budget["epochs"] == 1 and budget["hidden_sizes"] == [8, 8] and budget["models"] == ["MLP"]
    assert results["dataset"] == "permuted MNIST" and [m["model"] for m in results["models"]] == ["MLP"]


TRAIN = ["snn-train", "--recipe", "synthetic", "--epochs", "2", "--no-progress"]
TRAIN += ["--set", "synthetic_samples=120", "--set", "n_hidden=8", "--set", "max_delay=4"]


def strict_json(path):
    """JSON by the standard: NaN and Infinity refused (Python's json reads them by default)."""
    text = path.read_text()
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{path.name} holds {c}, which is not JSON"))


def test_snn_train_command(tmp_path, capsys):
    pytest.importorskip("spikingjelly")
    assert main([*TRAIN, "--out", str(tmp_path), "--seed", "3", "--format", "pdf"]) == 0
    assert "test accuracy" in capsys.readouterr().out
    assert (tmp_path / "best.pt").exists() and (tmp_path / "metrics.csv").exists()
    results, config = strict_json(tmp_path / "results.json"), strict_json(tmp_path / "config.json")
    assert config["seed"] == 3 and config["epochs"] == 2 and results["config"] == config
    assert all(SNAKE.match(k) for k in keys(results)) and isinstance(results["test_accuracy"], float)
    assert (tmp_path / "training_curves.pdf").read_bytes().startswith(b"%PDF")
    # the figure is a run file: --force deletes it with the others, --resume keeps the folder's run
    assert main([*TRAIN, "--out", str(tmp_path), "--resume", "--seed", "3", "--format", "svg"]) == 0
    assert (tmp_path / "training_curves.svg").exists() and (tmp_path / "training_curves.pdf").exists()
    assert main([*TRAIN, "--out", str(tmp_path), "--force", "--seed", "3"]) == 0
    assert not (tmp_path / "training_curves.pdf").exists() and (tmp_path / "training_curves.png").exists()


@pytest.mark.parametrize("option", [["--seed", "-1"], ["--seed", str(2**32)], ["--format", "jpg"]])
def test_snn_train_refuses_bad_shared_options_before_work(tmp_path, capsys, option):
    pytest.importorskip("spikingjelly")
    with pytest.raises(SystemExit) as exit_:
        main([*TRAIN, "--out", str(tmp_path / "out"), *option])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and option[0] in err
    assert not (tmp_path / "out").exists()


def test_a_diverged_run_writes_plain_json(tmp_path, capsys):
    pytest.importorskip("spikingjelly")
    lr = ["--set", "lr_weights=1e30", "--set", "max_lr_weights=1e30"]
    assert main([*TRAIN, "--out", str(tmp_path), *lr]) == 1
    assert "the run diverged" in capsys.readouterr().err
    metrics = strict_json(tmp_path / "metrics.json")
    assert [r["valid_loss"] for r in metrics] == [None, None]  # NaN losses, as null


PRUNE = dict(hidden=(32,), epochs=1, finetune=1, imp_epochs=1, sparsities=(0.5, 0.9), methods=("magnitude (global)",))


def test_prune_command(tmp_path, capsys):
    from sdrnet.prune import experiment as prune

    out = tmp_path / "p"
    argv = ["prune", "--out", str(out), "--no-progress", "--target", "spinnaker", "--seed", "4", *sets(**PRUNE)]
    assert main([*argv, "--set", "methods=magnitude (global),small dense"]) == 0
    config, results = run_files(out)
    budget = prune.Budget(**{**PRUNE, "methods": ("magnitude (global)", "small dense")})
    assert config["budget"] == json.loads(json.dumps(budget.to_dict())) and config["seed"] == 4
    assert [(r["method"], r["target_sparsity"], r["seed"]) for r in results["runs"]] == [
        (m, s, 4) for m in ("magnitude (global)", "small dense") for s in (0.5, 0.9)
    ]
    assert [r["nonzeros"] for r in results["large_vs_small"]] == [
        r["nonzeros"] for r in results["summary"] if r["method"] == "magnitude (global)"
    ]
    assert all(isinstance(r["large_sparse_wins"], bool) for r in results["large_vs_small"])
    core = results["deploy"]["core"]
    assert core["target"] == "SpiNNaker" and 0 <= core["core_accuracy"] <= 1 and core["max_abs_diff"] < 1e-4
    assert [q["bits"] for q in results["deploy"]["quantisation"]] == [None, 8, 6, 4, 3, 2]
    assert (out / "prune_accuracy_vs_sparsity.png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "large-sparse acc." in text and "max |core − torch|" in text


def test_snn_delays_example_takes_the_shared_options(tmp_path, capsys):
    import runpy
    from pathlib import Path

    pytest.importorskip("spikingjelly")
    script = Path(__file__).resolve().parents[1] / "examples" / "snn_delays_timing.py"
    command = runpy.run_path(str(script), run_name="example")["command"]
    with pytest.raises(SystemExit) as exit_:
        command(["--out", str(tmp_path / "bad"), "--set", "epochs=0"])
    assert exit_.value.code == 2 and "epochs must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    tiny = dict(samples=120, epochs=1, n_hidden=8, batch_size=16)
    assert command(["--out", str(tmp_path), "--no-progress", "--seed", "5", "--format", "svg", *sets(**tiny)]) == 0
    config, results = run_files(tmp_path)
    assert config["budget"] == {**tiny, "seeds": [0]} and config["seed"] == 5
    assert [r["variant"] for r in results["rows"]] == ["learned", "random", "none"]
    assert [d["layer"] for d in results["delays"]] == ["layer 1", "layer 2", "readout"]
    assert sum(results["delays"][0]["change_histogram"]) == 8 * 140  # every synapse into layer 1 counted once
    assert results["core"]["agreement"] == 1.0
    assert (tmp_path / "snn_delays.svg").stat().st_size > 10_000


SNN_DELAYS = dict(samples=80, epochs=1, n_hidden=8, batch_size=32, seeds=(0,))


def test_snn_delays_command_equals_the_experiment_run(tmp_path):
    """`sdrnet snn-delays` is `snn.experiments.run` on the shared protocol: the same numbers as a direct call."""
    from snn import experiments

    argv = ["snn-delays", "--out", str(tmp_path / "cli"), "--no-progress", "--seed", "4", "--format", "svg"]
    assert main([*argv, *sets(**SNN_DELAYS)]) == 0
    config, saved = run_files(tmp_path / "cli")
    assert config["command"] == "snn-delays" and config["seed"] == 4 and config["full"] is False
    assert config["budget"] == json.loads(json.dumps(experiments.Budget(**SNN_DELAYS).to_dict()))
    assert (tmp_path / "cli" / "snn_delays.svg").is_file()
    direct = experiments.run(tmp_path / "direct", budget=experiments.Budget(**SNN_DELAYS), seed=4, progress=False)
    assert saved == json.loads(json.dumps(direct))
