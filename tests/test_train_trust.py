"""The delay-SNN trainer under careless and hostile use: unsafe or damaged checkpoints, exact resume,
refused folders and configurations, learning-rate and σ schedules against their closed forms, thread
pinning, command-line errors and Ctrl-C, and the time-step bound."""

import functools
import json
import math
import shutil
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from snn_fixtures import interrupt_at_epoch  # noqa: E402

import snn.train as trainer  # noqa: E402
from sdrnet.core import Events  # noqa: E402
from snn import data  # noqa: E402
from snn.delays import sigma_at  # noqa: E402
from snn.train import CheckpointError, TrainConfig, TrainingDiverged, load_checkpoint, load_model, main, train  # noqa: E402

BASE = dict(
    dataset="synthetic",
    n_hidden=8,
    n_layers=1,
    max_delay=4,
    epochs=3,
    batch_size=32,
    synthetic_samples=120,
    dropout=0.0,
    progress=False,
)
CLI = [
    "--recipe",
    "synthetic",
    "--no-progress",
    "--epochs",
    "3",
    "--batch-size",
    "32",
    "--set",
    "n_hidden=8",
    "--set",
    "n_layers=1",
    "--set",
    "max_delay=4",
    "--set",
    "synthetic_samples=120",
]


def _tiny(**kw):
    return TrainConfig(**{**BASE, **kw})


@functools.cache
def _sets():
    """A short timing task (30 steps, 28 channels): the library-level runs take a fraction of a second."""
    full = data.timing_task(n_samples=120, seed=0, n_steps=30, n_units=140)
    rest, test = data.holdout(full, fraction=0.25, seed=1)
    train_set, valid = data.holdout(rest, fraction=0.1, seed=0)
    return {"train": train_set, "valid": valid, "test": test}


def _train(cfg, out, **kw):
    return train(cfg, out, datasets=_sets(), **kw)


def _cli(argv, capsys):
    """(exit status, stdout, stderr) of ``python -m snn.train argv``."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    out = capsys.readouterr()
    return status, out.out, out.err


def _tensors(state):
    """Every tensor in a (nested) checkpoint, by path."""
    if torch.is_tensor(state):
        return {"": state}
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    return {f"{k}/{p}": t for k, v in items for p, t in _tensors(v).items()}


def _assert_same_run(a, b):
    ta, tb = _tensors(a["model"]) | _tensors(a["optimizers"]), _tensors(b["model"]) | _tensors(b["optimizers"])
    assert ta.keys() == tb.keys()
    differ = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not differ, differ
    assert [h["valid_loss"] for h in a["history"]] == [h["valid_loss"] for h in b["history"]]


class _Payload:
    """Unpickling this calls open(marker, 'w'): code run by a checkpoint."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_carrying_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _Payload(marker), "config": {}}, evil)
    torch.load(evil, weights_only=False)  # the payload is real: an unsafe load runs it
    assert marker.exists()
    marker.unlink()
    with pytest.raises(CheckpointError, match=r"evil\.pt holds a reference to .*open.*refusing"):
        load_model(evil)
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(evil, out / "last.pt")
    with pytest.raises(CheckpointError, match="refusing"):
        _train(_tiny(), out, resume=True)
    assert not marker.exists()


def test_damaged_checkpoints_name_the_file_and_the_damage(tmp_path):
    _train(_tiny(epochs=1), tmp_path / "run")
    good = (tmp_path / "run" / "best.pt").read_bytes()
    cases = {
        "empty.pt": (b"", "empty"),
        "half.pt": (good[: len(good) // 2], "truncated"),
        "text.pt": (b'{"model": 1}', "not a checkpoint written by torch.save"),
    }
    with zipfile.ZipFile(tmp_path / "run" / "best.pt") as archive:
        member = max(archive.infolist(), key=lambda i: i.file_size)  # a weight tensor
    at = member.header_offset
    at += 30 + int.from_bytes(good[at + 26 : at + 28], "little") + int.from_bytes(good[at + 28 : at + 30], "little")
    flipped = bytearray(good)
    flipped[at + member.file_size // 2 : at + member.file_size // 2 + 4] = b"\xff\xff\xff\xff"
    cases["flipped.pt"] = (bytes(flipped), "corrupted")
    for name, (content, what) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError, match=what) as err:
            load_model(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "absent.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an snn.train checkpoint"):
        load_model(tmp_path / "other.pt")


def test_resume_with_dropout_is_bit_exact(tmp_path, monkeypatch):
    """Interrupted in the middle of the second epoch and resumed == uninterrupted, every tensor equal."""
    cfg = _tiny(dropout=0.1, n_layers=2, epochs=3)
    _train(cfg, tmp_path / "full")
    real_loss, calls = trainer.snn_loss, []

    def flaky(v, y):
        if torch.is_grad_enabled():  # training batches, not evaluation
            calls.append(1)
            if len(calls) == 5:  # 3 batches per epoch: the second batch of epoch 2
                raise KeyboardInterrupt
        return real_loss(v, y)

    monkeypatch.setattr(trainer, "snn_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        _train(cfg, tmp_path / "cut")
    monkeypatch.setattr(trainer, "snn_loss", real_loss)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 0
    _train(cfg, tmp_path / "cut", resume=True)
    _assert_same_run(
        torch.load(tmp_path / "full" / "last.pt", weights_only=True),
        torch.load(tmp_path / "cut" / "last.pt", weights_only=True),
    )


def test_resume_refuses_another_configuration_or_a_missing_run(tmp_path):
    cfg = _tiny(epochs=2)
    _train(cfg, tmp_path / "run")
    with pytest.raises(ValueError, match="lr_weights=0.001 there, 0.002 now; seed=0 there, 1 now") as err:
        _train(_tiny(epochs=2, seed=1, lr_weights=2e-3), tmp_path / "run", resume=True)
    assert "dropout" not in str(err.value)
    for key, value in (
        ("batch_size", 16),
        ("dropout", 0.2),
        ("delays", "random"),
        ("max_delay", 6),
        ("synthetic_samples", 150),
        ("epochs", 4),
    ):
        with pytest.raises(ValueError, match=f"{key}="):
            _train(_tiny(**{"epochs": 2, key: value}), tmp_path / "run", resume=True)
    # where and how visibly it runs may change
    res = _train(_tiny(epochs=2, device="cpu", progress=True, threads=2), tmp_path / "run", resume=True)
    assert res["best_epoch"] in (1, 2)
    for folder in (tmp_path / "empty", tmp_path / "absent"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(ValueError, match="no run to resume"):
            _train(cfg, folder, resume=True)
    assert not (tmp_path / "absent").exists()


def test_an_existing_run_is_kept_unless_force(tmp_path):
    out = tmp_path / "run"
    first = _train(_tiny(epochs=1), out)
    before = (out / "results.json").read_text()
    with pytest.raises(ValueError, match="already holds a run.*--resume.*--force"):
        _train(_tiny(epochs=1, seed=3), out)
    assert (out / "results.json").read_text() == before
    (out / "notes.txt").write_text("mine")
    second = _train(_tiny(epochs=1, seed=3), out, force=True)
    assert second["run_id"] != first["run_id"]
    assert json.loads((out / "results.json").read_text())["run_id"] == second["run_id"]
    assert load_checkpoint(out / "best.pt")["run_id"] == second["run_id"]
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


def _diverge(monkeypatch):
    """Every epoch ends with NaN weights, as a diverging run."""
    real = trainer._train_epoch

    def epoch(net, model, *args):
        result = real(net, model, *args)
        with torch.no_grad():
            for syn in model.synapses:
                syn.weight.fill_(float("nan"))
        return result

    monkeypatch.setattr(trainer, "_train_epoch", epoch)


def test_a_diverged_run_never_reports_an_older_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    _train(_tiny(epochs=1), out)
    _diverge(monkeypatch)
    with pytest.raises(ValueError, match="already holds a run"):
        _train(_tiny(epochs=2), out)
    with pytest.raises(TrainingDiverged, match="finite validation loss"):
        _train(_tiny(epochs=2), out, force=True)
    assert not (out / "best.pt").exists() and not (out / "results.json").exists()
    assert all(h["valid_loss"] is None for h in json.loads((out / "metrics.json").read_text()))  # NaN, as null


def test_a_best_checkpoint_from_another_run_is_not_reported(tmp_path, monkeypatch):
    _train(_tiny(epochs=2, seed=5), tmp_path / "other")
    undo = interrupt_at_epoch(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        _train(_tiny(epochs=2), tmp_path / "run")
    undo()
    shutil.copy(tmp_path / "other" / "best.pt", tmp_path / "run" / "best.pt")
    _diverge(monkeypatch)  # the resumed epoch does not improve, so best.pt stays the copied one
    with pytest.raises(CheckpointError, match="written by another run"):
        _train(_tiny(epochs=2), tmp_path / "run", resume=True)


def _one_cycle(step, total, peak, pct=0.3, div=25.0, final_div=1e4):
    """torch's OneCycleLR (cosine, three_phase=False) in closed form."""
    start, low = peak / div, peak / div / final_div
    up = pct * total - 1
    a, b, p = (start, peak, step / up) if step <= up else (peak, low, (step - up) / (total - 1 - up))
    return b + (a - b) / 2 * (1 + math.cos(math.pi * p))


def test_schedules_best_epoch_and_the_console_agree_with_the_recipe(tmp_path, capsys):
    """lr_weights sets the one-cycle peak (5×), metrics log each epoch's own rates, σ shrinks even in 3
    epochs, and best_epoch is the same 1-based number in results.json and on the console."""
    out = tmp_path / "run"
    status, stdout, _ = _cli([*CLI, "--set", "lr_weights=0.002", "--set", "lr_delays=0.05", "--out", str(out)], capsys)
    assert status == 0
    hist = json.loads((out / "metrics.json").read_text())
    for e, row in enumerate(hist):
        assert row["lr_weights"] == pytest.approx(_one_cycle(e, 3, 5 * 0.002), rel=1e-9)
        assert row["lr_delays"] == pytest.approx(0.05 * (1 + math.cos(math.pi * e / 3)) / 2, rel=1e-9)
        assert row["sigma"] == pytest.approx(sigma_at(e, 2, 0.23, 1))
    assert hist[0]["sigma"] == 2.0 and hist[1]["sigma"] == pytest.approx(0.23)
    results = json.loads((out / "results.json").read_text())
    # learned delays: eligible from the epoch before σ reaches its final width (epoch 1 of 3 here)
    best = 1 + min(range(3), key=lambda e: hist[e]["valid_loss"])
    assert results["best_epoch"] == best and f"(best epoch {best})" in stdout
    assert results["valid_accuracy"] == hist[best - 1]["valid_accuracy"]


def test_tiny_legal_configurations_run_or_fail_clearly(tmp_path):
    res = _train(_tiny(max_delay=1, epochs=4), tmp_path / "d1")
    assert {h["sigma"] for h in json.loads((tmp_path / "d1" / "metrics.json").read_text())} == {0.0}
    assert res["model"].synapses[0].max_delay == 1
    with pytest.raises(ValueError, match="split is empty.*synthetic_samples=5"):
        train(_tiny(synthetic_samples=5), tmp_path / "five")
    assert not (tmp_path / "five").exists()


def test_threads_are_pinned_during_training_and_restored(tmp_path, monkeypatch):
    seen, real = [], trainer._train_epoch

    def epoch(*args):
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(trainer, "_train_epoch", epoch)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _train(_tiny(epochs=1), tmp_path / "one")
        _train(_tiny(epochs=1, threads=None), tmp_path / "free")
        assert seen == [1, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        _tiny(threads=0)


def test_a_sample_longer_than_max_steps_is_refused_before_any_batch(tmp_path, monkeypatch):
    """One spike at 60,000 s (6·10⁶ steps of 10 ms) would need a ~100 GB dense batch."""
    sets = dict(_sets())
    ev = sets["test"].events
    late = Events(
        np.concatenate([ev.time, [6_000_000]]),
        np.concatenate([ev.unit, [3]]),
        np.concatenate([ev.value, [1.0]]).astype(ev.value.dtype),
        np.concatenate([ev.sample_ptr[:-1], [ev.sample_ptr[-1], ev.sample_ptr[-1] + 1]]),
        n_steps=6_000_001,
        n_units=ev.n_units,
        dt=ev.dt,
    )
    sets["test"] = data.SpikeDataset(late, np.concatenate([sets["test"].labels, [0]]), sets["test"].n_classes)

    def no_batches(*args, **kwargs):
        raise AssertionError("a batch was built")

    monkeypatch.setattr(data, "batches", no_batches)
    with pytest.raises(ValueError, match=r"test split has a sample \(\d+\) of 6000001 steps \(60000 s.*max_steps=1000"):
        train(_tiny(), tmp_path / "run", datasets=sets)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device", "cuda"], "no CUDA GPU"),
        (["--config", "missing.yaml"], "missing.yaml: no such file"),
        (["--set", "epochs=abc"], "epochs must be int"),
        (["--set", "lr_weights=nan"], "lr_weights must be finite"),
        (["--set", "dropout=abc"], "dropout must be float"),
        (["--set", "synthetic_samples=5"], "split is empty"),
        (["--epochs", "x"], "invalid int value"),
        (["--resume"], "no run to resume"),
    ],
)
def test_command_line_errors_are_one_line_and_status_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    status, _, err = _cli([*CLI, "--out", str(tmp_path / "run"), *argv], capsys)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists()  # checked before any work


def test_an_unusable_out_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        status, _, err = _cli([*CLI, "--out", str(out)], capsys)
        assert status == 2 and "is a file" in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "bad.yaml").write_text("epochs: [1,\n")
    status, _, err = _cli([*CLI, "--config", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "r")], capsys)
    assert status == 2 and "not valid YAML" in err and len(err.strip().splitlines()) == 1, err


def test_ctrl_c_exits_130_with_an_intact_checkpoint_that_resumes(tmp_path, monkeypatch, capsys):
    assert _cli([*CLI, "--set", "dropout=0.1", "--out", str(tmp_path / "full")], capsys)[0] == 0
    real_save = torch.save
    saves = []

    def cut_save(obj, f, *args, **kwargs):
        """Ctrl-C while a checkpoint of the second epoch is half-written."""
        saves.append(obj)
        if len(saves) == 3:  # the first write of epoch 2 (best.pt or last.pt)
            if hasattr(f, "write"):
                f.write(b"PK\x03\x04half")
            else:
                with open(f, "wb") as g:
                    g.write(b"PK\x03\x04half")
            raise KeyboardInterrupt
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", cut_save)
    out = tmp_path / "cut"
    status, _, err = _cli([*CLI, "--set", "dropout=0.1", "--out", str(out)], capsys)
    monkeypatch.setattr(torch, "save", real_save)
    assert status == 130 and "interrupted" in err and "--resume" in err and len(err.strip().splitlines()) == 1
    assert load_checkpoint(out / "last.pt")["epoch"] == 0 and load_checkpoint(out / "best.pt")["epoch"] == 0

    undo = interrupt_at_epoch(monkeypatch)
    assert _cli([*CLI, "--set", "dropout=0.1", "--out", str(out), "--resume"], capsys)[0] == 130
    undo()
    status, stdout, _ = _cli([*CLI, "--set", "dropout=0.1", "--out", str(out), "--resume"], capsys)
    assert status == 0 and "test accuracy" in stdout
    _assert_same_run(
        load_checkpoint(tmp_path / "full" / "last.pt", required=()), load_checkpoint(out / "last.pt", required=())
    )


def test_binning_reaches_the_shd_loader_and_is_checked(monkeypatch):
    """TrainConfig.binning ('grid' default, 'dcls' the DCLS authors' frames) is what the SHD/SSC loader gets."""
    seen = []
    small = data.timing_task(n_samples=40, seed=0)

    def fake_load(split, **kw):
        seen.append((split, kw["binning"], kw["dt"]))
        return small

    monkeypatch.setattr(data, "load_shd", fake_load)
    trainer.load_datasets(TrainConfig(dataset="shd", binning="dcls"))
    trainer.load_datasets(TrainConfig(dataset="shd"))
    assert seen == [("train", "dcls", 0.01), ("test", "dcls", 0.01), ("train", "grid", 0.01), ("test", "grid", 0.01)]
    with pytest.raises(ValueError, match="binning must be 'grid' or 'dcls'"):
        TrainConfig(dataset="shd", binning="frames")
    with pytest.raises(ValueError, match="SHD/SSC only"):
        TrainConfig(binning="dcls")
