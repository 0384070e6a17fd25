"""sdrnet.experiment: the budget base class, --config/--set, config.json/results.json, the compile notice."""

import argparse
import json
import subprocess
import sys
import textwrap
from dataclasses import FrozenInstanceError, dataclass

import numpy as np
import pytest

import sdrnet
from sdrnet import experiment


@dataclass(frozen=True)
class Toy(experiment.Budget):
    pairs: int = 60
    rate: float = 0.5
    loads: tuple[int, ...] = (100, 200)
    shape: tuple[int, float] = (2, 0.5)
    threads: int | None = 1
    name: str = "toy"
    plot: bool = True
    FULL = {"pairs": 1000, "loads": (50, 100, 150)}

    def check(self):
        self.require_positive("pairs", "loads")


def _args(*argv):
    parser = argparse.ArgumentParser()
    experiment.add_options(parser, "bigger", experiment.Path("runs/toy"))
    return parser.parse_args(argv)


def test_presets_and_replace():
    assert Toy.quick() == Toy() and Toy.quick().pairs == 60
    full = Toy.full()
    assert (full.pairs, full.loads, full.rate) == (1000, (50, 100, 150), 0.5)
    assert full.replace(rate=1).rate == 1.0 and isinstance(full.replace(rate=1).rate, float)
    with pytest.raises(FrozenInstanceError):
        full.pairs = 3
    with pytest.raises(ValueError, match=r"no field parts; fields: pairs, rate, loads"):
        full.replace(parts=3)


@pytest.mark.parametrize(
    "kwargs, error, says",
    [
        (dict(pairs=2.5), TypeError, r"pairs must be int, got 2.5 \(float\)"),
        (dict(pairs=True), TypeError, "pairs must be int"),
        (dict(pairs="60"), TypeError, "pairs must be int"),
        (dict(loads=(1, "2")), TypeError, r"loads\[1\] must be int"),
        (dict(shape=(1, 2, 3)), TypeError, "shape must be tuple"),
        (dict(rate=float("nan")), ValueError, "rate must be finite"),
        (dict(name=None), TypeError, "name must be str"),
        (dict(pairs=0), ValueError, r"pairs must be >= 1, got 0"),
        (dict(loads=(5, 0)), ValueError, r"loads must be >= 1, got \(5, 0\)"),
    ],
)
def test_fields_are_checked_by_name(kwargs, error, says):
    with pytest.raises(error, match=says):
        Toy(**kwargs)


def test_lists_become_tuples_and_none_is_kept():
    toy = Toy(loads=[1, 2, 3], shape=[3, 1], threads=None)
    assert toy.loads == (1, 2, 3) and toy.shape == (3, 1.0) and isinstance(toy.shape[1], float)
    assert toy.threads is None


def test_set_is_typed_by_the_field():
    budget, seed = experiment.budget_from_args(
        Toy,
        _args("--set", "pairs=7", "--set", "loads=5,6", "--set", "threads=none", "--set", "plot=false", "--seed", "3"),
    )
    assert budget == Toy(pairs=7, loads=(5, 6), threads=None, plot=False) and seed == 3
    assert experiment.budget_from_args(Toy, _args("--set", "shape=[4, 2.5]"))[0].shape == (4, 2.5)
    assert experiment.budget_from_args(Toy, _args("--full", "--set", "rate=0.25"))[0] == Toy.full().replace(rate=0.25)


@pytest.mark.parametrize(
    "item, says",
    [
        ("pairs", "--set expects KEY=VALUE, got 'pairs'"),
        ("parts=3", "--set parts=3: unknown field 'parts'; fields: pairs, rate, loads, shape, threads, name, plot"),
        ("pairs=many", "--set pairs=many: pairs must be int, got 'many'"),
        ("plot=maybe", "plot must be true or false"),
        ("shape=1", r"shape must be tuple\[int, float\] \(2 items\)"),
        ("pairs=0", "--set: pairs must be >= 1"),
    ],
)
def test_bad_set_names_the_option_and_the_field(item, says):
    with pytest.raises(ValueError, match=says):
        experiment.budget_from_args(Toy, _args("--set", item))


def test_config_file_yaml_json_and_a_runs_config(tmp_path):
    (tmp_path / "b.yaml").write_text("pairs: 9\nloads: [1, 2]\n")
    (tmp_path / "b.json").write_text('{"rate": 2}')
    budget, seed = experiment.budget_from_args(Toy, _args("--config", str(tmp_path / "b.yaml"), "--set", "pairs=4"))
    assert budget == Toy(pairs=4, loads=(1, 2)) and seed == 0  # --set after --config
    assert experiment.budget_from_args(Toy, _args("--config", str(tmp_path / "b.json")))[0].rate == 2.0
    saved = Toy(pairs=11, loads=(7,))
    experiment.write_config(tmp_path, "toy", saved, 5, full=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {
        "command": "toy",
        "budget": {
            "pairs": 11,
            "rate": 0.5,
            "loads": [7],
            "shape": [2, 0.5],
            "threads": 1,
            "name": "toy",
            "plot": True,
        },
        "seed": 5,
        "version": sdrnet.__version__,
        "full": False,
    }
    assert experiment.budget_from_args(Toy, _args("--config", str(tmp_path / "config.json"))) == (saved, 5)
    assert experiment.budget_from_args(Toy, _args("--config", str(tmp_path / "config.json"), "--seed", "1"))[1] == 1


@pytest.mark.parametrize(
    "name, text, says",
    [
        ("missing.json", None, "no such file"),
        ("bad.json", "{", "not valid JSON"),
        ("bad.yaml", "a: [", "not valid YAML"),
        ("list.json", "[1, 2]", "must hold a mapping of budget fields, got list"),
        ("unknown.json", '{"parts": 1}', "--config .*unknown.json: Toy has no field parts"),
        ("typed.json", '{"pairs": "1"}', r"--config .*typed.json: pairs must be int, got '1' \(str\)"),
    ],
)
def test_bad_config_file(tmp_path, name, text, says):
    if text is not None:
        (tmp_path / name).write_text(text)
    with pytest.raises((ValueError, TypeError), match=says):
        experiment.budget_from_args(Toy, _args("--config", str(tmp_path / name)))


def test_results_json_is_plain_data_with_snake_case_keys(tmp_path):
    results = {
        "rows": [{"x": np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True)}],
        "curve": np.arange(3),
        "pair": (1, 2.5),
        "missing": float("nan"),
        "budget": Toy(),
    }
    experiment.write_results(tmp_path, results)
    loaded = json.loads((tmp_path / "results.json").read_text())
    assert loaded["rows"] == [{"x": 0.5, "n": 3, "ok": True}] and loaded["curve"] == [0, 1, 2]
    assert loaded["pair"] == [1, 2.5] and loaded["missing"] is None and loaded["budget"]["loads"] == [100, 200]
    for bad in ({"code overlap (simulated)": 1.0}, {"rows": [{"Accuracy": 1}]}, {1: 2}):
        with pytest.raises(ValueError, match="is not snake_case"):
            experiment.write_results(tmp_path, bad)
    with pytest.raises(TypeError, match=r"results.f: builtin_function_or_method is not JSON data"):
        experiment.write_results(tmp_path, {"f": print})


def test_seed_range():
    assert experiment.seed("0") == 0 and experiment.seed(str(2**32 - 1)) == 2**32 - 1
    for text in ("-1", str(2**32), "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            experiment.seed(text)


def test_compile_notice_once_per_process_and_only_when_numba_compiles(tmp_path):
    (tmp_path / "probe_kernels.py").write_text(
        textwrap.dedent(
            """
            from numba import njit

            @njit(cache=True)
            def add(x):
                return x + 1

            @njit(cache=True)
            def twice(x):
                return 2 * x
            """
        )
    )
    code = (
        "from sdrnet import experiment\n"
        "experiment.announce_compilation(packages=('probe_kernels',))\n"
        "experiment.announce_compilation(packages=('probe_kernels',))\n"
        "import probe_kernels\n"
        "print(probe_kernels.add(1), probe_kernels.twice(2), probe_kernels.add(1.5))\n"
    )
    env = {"PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}

    def run():
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["2", "4", "2.5"]
        return proc.stderr

    assert run() == experiment.COMPILING + "\n"  # three compilations, one line
    assert run() == ""  # every kernel comes from numba's cache: nothing compiles, nothing is said
