"""The README's Python example runs as written."""

import contextlib
import io
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
    assert ns["y"].shape == (112, 8, 256) and ns["run"].synops.sum() > 0


def test_readme_delta_example_runs():
    ns = _block("insert_delta")
    assert ns["run"].synops.sum() < ns["run"].dense_synops.sum()


def _printed_and_claimed(word: str) -> tuple[dict, list[str], list[str]]:
    """Run the block holding ``word``; return its namespace, the lines it printed, and the lines the README
    says it prints (the ``# ...`` comment right under each ``print(...)``)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if word in b)
    lines = block.splitlines()
    claimed = [nxt[2:] for line, nxt in zip(lines, lines[1:]) if line.startswith("print(") and nxt.startswith("# ")]
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), namespace)
    return namespace, out.getvalue().splitlines(), claimed


def test_readme_prune_example_runs():
    ns, printed, claimed = _printed_and_claimed("magnitude_prune")
    assert printed == claimed and len(claimed) == 2  # the README shows what the code prints
    nnz = [layer.synapses.nnz for layer in ns["fit"].network.layers]
    assert nnz[0] == 8192 - round(0.9 * 8192) and 1270 < nnz[1] <= 1280  # the readout is not pruned
    assert all(ns["result"].synops > 0)  # no layer is empty or silent


def _run_printing(word: str) -> tuple[dict, list[str]]:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if word in b)
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), namespace)
    return namespace, out.getvalue().splitlines()


def test_readme_dendrites_example_prints_what_its_comments_say():
    _, printed = _run_printing("DendriticNeuron")
    assert printed[0] == "30 50"  # "# 30, 50"
    false_match, false_negative, respond, false_rate = printed[-4:]  # after the multi-line overlap matrix
    assert f"{float(false_match):.1e}" == "8.0e-13" and f"{float(false_negative):.4f}" == "0.0717"
    assert set(respond.strip("[]").split()) == {"True"} and float(false_rate) == 0.0


def test_readme_sparsey_example_prints_what_its_comments_say():
    _, printed = _run_printing("Macrocolumn")
    familiarity, shared = map(float, printed[0].split())
    assert abs(familiarity - 0.8) < 1e-9 and shared > 0.8  # "familiar (G = 0.8): mostly a's code"
    assert float(printed[1]) == 1.0  # "# 1.0: a stored input"
