"""Physical time through the delay SNN: the model carries its data's step length (`SNNConfig.dt`, set by
`snn.train`), and the exports write τ and the delays in seconds from it (core `Network.dt`, NIR, Brian2)."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from snn import data  # noqa: E402
from snn.models import DelaySNN, SNNConfig  # noqa: E402
from snn.train import TrainConfig, load_checkpoint, load_model, train  # noqa: E402
from snn_fixtures import trained_like_delay_snn  # noqa: E402

DT = 0.01  # 10 ms bins, as SHD/SSC


def _quick(**kw):
    base = dict(dataset="synthetic", n_hidden=8, n_layers=1, max_delay=6, epochs=1, batch_size=32,
                synthetic_samples=120, dropout=0.0, progress=False)
    return TrainConfig(**{**base, **kw})


def test_training_gives_the_model_its_datas_step_length(tmp_path):
    res = train(_quick(dt=DT), tmp_path / "run")
    assert res["model"].config.dt == DT
    assert load_model(tmp_path / "run" / "best.pt").config.dt == DT


def test_data_binned_at_another_dt_than_configured_is_refused(tmp_path):
    full = data.timing_task(n_samples=120, seed=0, dt=0.005)
    rest, test = data.holdout(full, fraction=0.25, seed=1)
    train_set, valid = data.holdout(rest, fraction=0.1, seed=0)
    with pytest.raises(ValueError, match=r"binned at dt=0.005 s .* dt=0.01 s"):
        train(_quick(dt=DT), tmp_path / "run", datasets={"train": train_set, "valid": valid, "test": test})


def test_checkpoint_and_config_from_before_dt_still_load(tmp_path):
    fields = {f.name for f in dataclasses.fields(SNNConfig)} - {"dt"}
    old = SNNConfig(**{name: getattr(SNNConfig(), name) for name in fields})
    assert old.dt is None
    train(_quick(), tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / "best.pt")
    del state["config"]["dt"]  # a TrainConfig of a version without dt trained at its default 10 ms bins
    torch.save(state, tmp_path / "old.pt")
    model = load_model(tmp_path / "old.pt")
    assert model.config.dt == 0.01
    for a, b in zip(model.state_dict().values(), state["model"].values()):
        torch.testing.assert_close(a, b)


def test_config_dt_must_be_seconds():
    with pytest.raises(ValueError, match="dt must be a positive finite number of seconds"):
        SNNConfig(dt=0)
    with pytest.raises(ValueError, match="dt"):
        SNNConfig(dt=float("nan"))
    assert DelaySNN(SNNConfig(n_inputs=4, n_hidden=3, n_outputs=2, dt=1)).config.dt == 1.0
    model, _ = trained_like_delay_snn(dt=DT)
    assert model.config.dt == DT
