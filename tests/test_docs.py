"""The documentation: every python block of its pages runs and does what its text says, the API reference
covers every public name, and the files it points to exist (CITATION.cff, the gallery's figures)."""

import contextlib
import functools
import importlib
import io
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
BLOCKS = [(page, i) for page in PAGES for i, _ in enumerate(re.findall(r"```python\n", (DOCS / page).read_text()))]


def _blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


@functools.cache
def _run(page: str, index: int) -> tuple[dict, tuple[str, ...]]:
    """Run a block once per session: its namespace and the lines it printed."""
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_blocks(page)[index], f"docs/{page}", "exec"), namespace)
    return namespace, tuple(out.getvalue().splitlines())


def _block(page: str, word: str) -> tuple[dict, tuple[str, ...]]:
    index = next(i for i, b in enumerate(_blocks(page)) if word in b)
    return _run(page, index)


def _claimed(page: str, word: str) -> list[str]:
    """What the page says the block holding ``word`` prints: the ``# ...`` line right under each print."""
    lines = next(b for b in _blocks(page) if word in b).splitlines()
    return [nxt[2:] for line, nxt in zip(lines, lines[1:]) if line.startswith("print(") and nxt.startswith("# ")]


@pytest.mark.parametrize("page, index", BLOCKS)
def test_every_python_block_of_the_docs_runs(page, index):
    _run(page, index)


def test_the_guide_pages_hold_their_examples():
    assert len(BLOCKS) >= 11
    for page in ("core", "dendrites", "sparsey", "active-dendrites", "delta", "snn", "prune", "interop"):
        assert _blocks(f"guide/{page}.md"), page


def test_core_first_run():
    ns, _ = _block("guide/core.md", "kwta(")
    assert ns["currents"].shape == (10 + ns["syn"].max_delay, 4, 256)
    assert ns["counts"].shape == (3, 10) and ns["winners"].shape == (3, 5)


def test_core_streaming_equals_one_run():
    ns, printed = _block("guide/core.md", "init_state(3)")
    assert printed == ("True",)
    assert ns["streamed"].shape == (40, 3, 8)


def test_core_protocol_example():
    ns, printed = _block("guide/core.md", "isinstance(core, CoreModel)")
    # v = 0.75, 1.125 (spike), 0.75 for unit 0 (w=1.5, tau=2, reset 0); unit 1 (w=2.5) spikes every step
    assert ns["result"].spikes.to_dense()[:, 0, :].tolist() == [[0, 1], [1, 1], [0, 1]]
    assert printed == ("(3, 1, 2) [6]",)


def test_dendrites_example():
    ns, printed = _block("guide/dendrites.md", "DendriticNeuron")
    neuron, patterns = ns["neuron"], ns["patterns"]
    assert neuron.n_segments == 10 and neuron.respond(patterns).all()
    assert printed[0] == "30 50"  # "# 30, 50"
    false_match, false_negative, respond, false_rate = printed[-4:]  # after the multi-line overlap matrix
    assert f"{float(false_match):.1e}" == "8.0e-13" and f"{float(false_negative):.4f}" == "0.0717"
    assert set(respond.strip("[]").split()) == {"True"} and float(false_rate) == 0.0


def test_sparsey_example():
    ns, printed = _block("guide/sparsey.md", "Macrocolumn")
    code_a, code_b, mac, a = (ns[k] for k in ("code_a", "code_b", "mac", "a"))
    assert abs(float(code_b.familiarity) - 0.8) < 1e-9 and (code_a.winners == code_b.winners).mean() > 0.8
    assert (mac.recognize(a).winners == code_a.winners).all()
    familiarity, shared = map(float, printed[0].split())
    assert abs(familiarity - 0.8) < 1e-9 and shared > 0.8  # "familiar (G = 0.8): mostly a's code"
    assert float(printed[1]) == 1.0  # "# 1.0: a stored input"


def test_active_dendrites_example():
    ns, _ = _block("guide/active-dendrites.md", "DendriticMLP")  # the block asserts core == torch itself
    assert ns["logits"].shape == (32, 10)


def test_delay_snn_example():
    ns, _ = _block("guide/snn.md", "DelayedLinear")  # the block asserts core == torch itself
    assert ns["y"].shape == (112, 8, 256) and ns["run"].synops.sum() > 0


def test_delta_example():
    ns, _ = _block("guide/delta.md", "insert_delta")
    assert ns["run"].synops.sum() < ns["run"].dense_synops.sum()


def test_prune_example():
    ns, printed = _block("guide/prune.md", "magnitude_prune")
    claimed = _claimed("guide/prune.md", "magnitude_prune")
    assert list(printed) == claimed and len(claimed) == 2  # the page shows what the code prints
    nnz = [layer.synapses.nnz for layer in ns["fit"].network.layers]
    assert nnz[0] == 8192 - round(0.9 * 8192) and 1270 < nnz[1] <= 1280  # the readout is not pruned
    assert all(ns["result"].synops > 0)  # no layer is empty or silent


def test_interop_nir_round_trip():
    ns, _ = _block("guide/interop.md", "network_to_nir")  # the block asserts equal spikes itself
    assert ns["net"].run(ns["events"]).spikes.n_events > 0  # the round trip compared real spikes


def _api_pages() -> dict[str, str]:
    sys.path.insert(0, str(DOCS / "hooks"))
    try:
        import api
    finally:
        sys.path.pop(0)
    return api.render_pages()


# the modules whose public names the reference must cover (and, through docs/hooks/api.py, every other one)
PUBLIC = (
    "sdrnet.core",
    "sdrnet.core.neurons",
    "sdrnet.core.protocol",
    "sdrnet.core.nir",
    "sdrnet.sdr",
    "sdrnet.encoders",
    "sdrnet.sparsey",
    "sdrnet.prune",
    "snn",
    "snn.delta",
    "dendrites",
    "dendrites.nn",
)


def _sections(text: str) -> dict[str, str]:
    """module -> its section of the generated pages (from its ``::: module`` heading to the next module's)."""
    parts = re.split(r"^::: ([\w.]+)\n    options:\n      heading_level: 2$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_api_reference_covers_every_public_name():
    text = "\n".join(_api_pages().values())
    sections = _sections(text)
    missing = []
    for module in PUBLIC:
        section = sections[module]
        for name in importlib.import_module(module).__all__:
            row = re.search(rf"^\| \[`{name}`\]\[[\w.]+\]", section, re.M)  # exported from where it is documented
            own = re.search(rf"^::: {re.escape(module)}\.{name}$", section, re.M)  # documented here
            value = re.search(rf"^\| `{name}` \| ", section, re.M)  # a constant griffe cannot see, by value
            if not (row or own or value):
                missing.append(f"{module}.{name}")
    assert missing == []
    documented = set(re.findall(r"^::: ([\w.]+)$", text, re.M))
    linked = set(re.findall(r"^\| \[`\w+`\]\[([\w.]+)\]", text, re.M))
    assert linked <= documented  # every table row links to an object documented on some page


def test_api_reference_documents_each_object_once():
    text = "\n".join(_api_pages().values())
    documented = re.findall(r"^::: ([\w.]+)$", text, re.M)
    assert len(documented) == len(set(documented)) > 300


def test_gallery_figures_exist_and_stay_small():
    text = (DOCS / "examples.md").read_text()
    figures = re.findall(r"!\[[^\]]+\]\((assets/gallery/[\w.]+\.png)\)", text)
    assert len(figures) == 12
    for figure in figures:
        assert (DOCS / figure).stat().st_size < 200_000, figure


def test_citation_cff_cites_sdrnet_and_the_papers():
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["license"] == "MIT"
    assert {"message", "title", "authors", "version"} <= set(cff)
    import sdrnet

    assert cff["version"] == sdrnet.__version__
    first_authors = {ref["authors"][0].get("family-names") for ref in cff["references"]}
    assert {"Ahmad", "Rinkus", "Iyer", "Hammouamri", "Yousefzadeh", "Zhu"} <= first_authors


def test_license_is_the_mit_license_setup_cfg_names():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) 2026 The sdrnet developers" in text
    assert "license = MIT" in (ROOT / "setup.cfg").read_text()
    assert text.count("Permission is hereby granted") == 1


def test_make_docs_builds_strict_and_make_test_runs_the_checks():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^docs: .*\n\t(.*)$", makefile, re.M).group(1)
    # --quiet silences the warnings --strict counts: a broken link would pass
    assert "--strict" in recipe and not re.search(r"(^|\s)(-q|--quiet)\b", recipe)
    prerequisites = re.search(r"^test: (.*)$", makefile, re.M).group(1).split()
    assert {"lint", "docs", "typecheck"} <= set(prerequisites)
    typecheck = re.search(r"^typecheck: .*\n\t(.*)$", makefile, re.M).group(1)
    assert typecheck.endswith("mypy sdrnet/core")
    lint = re.search(r"^lint: .*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "ruff check ." in lint and "ruff format --check ." in lint
    assert "make test" in (ROOT / ".ci" / "run").read_text()
