"""The README's Python example runs as written."""

import re
from pathlib import Path


def test_readme_core_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    assert namespace["currents"].shape == (10 + namespace["syn"].max_delay, 4, 256)
    assert namespace["counts"].shape == (3, 10) and namespace["winners"].shape == (3, 5)


def test_readme_dendrites_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "DendriticNeuron" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    neuron, patterns = namespace["neuron"], namespace["patterns"]
    assert neuron.n_segments == 10 and neuron.respond(patterns).all()


def test_readme_sparsey_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Macrocolumn" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    code_a, code_b, mac, a = (namespace[k] for k in ("code_a", "code_b", "mac", "a"))
    assert abs(float(code_b.familiarity) - 0.8) < 1e-9 and (code_a.winners == code_b.winners).mean() > 0.8
    assert (mac.recognize(a).winners == code_a.winners).all()


def test_readme_active_dendrites_example_runs():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "DendriticMLP" in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # the block asserts core == torch itself
    assert namespace["logits"].shape == (32, 10)


def _block(word: str) -> dict:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if word in b)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace


def test_readme_delay_snn_example_runs():
    ns = _block("DelayedLinear")  # the block asserts core == torch itself
    assert ns["y"].shape == (112, 8, 256) and ns["synops"].sum() > 0


def test_readme_delta_example_runs():
    ns = _block("insert_delta")
    assert ns["run"].synops.sum() < ns["run"].dense_synops.sum()


def test_readme_prune_example_runs():
    ns = _block("magnitude_prune")
    assert ns["result"].synops.sum() > 0
