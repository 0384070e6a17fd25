"""The README: its tour runs and prints what its comments say, it stays short, and what it states matches the
project (its links, the extras of setup.cfg, the numbers of the docs pages it summarises).

The longer examples live in the documentation pages; tests/test_docs.py runs them."""

import configparser
import contextlib
import functools
import io
import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@functools.cache
def _tour() -> tuple[dict, list[str]]:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert len(blocks) == 1, "the README holds one python example, the tour"
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), namespace)
    return namespace, out.getvalue().splitlines()


def test_readme_starts_with_the_two_commands_and_stays_short():
    lines = README.splitlines()
    assert lines[3:5] == [
        "make demo   # installs everything into .venv and runs `sdrnet demo` on built-in data",
        "make test   # installs everything into .venv and runs the checks and the test suite",
    ]
    assert len(lines) <= 250


def test_readme_tour_core_part_against_a_dense_count():
    ns, printed = _tour()
    events, syn, result = ns["events"], ns["syn"], ns["result"]
    assert result.output.shape == (events.n_steps + syn.max_delay, 2, 32)  # until every delayed spike landed
    fan_out = (syn.to_dense() != 0).sum(axis=1)  # synapses per input unit, from the dense matrix
    assert result.synops.tolist() == [int(fan_out[events.unit].sum())]  # every event × its fan-out
    assert printed[0] == f"{result.output.shape} {result.synops}"


def test_readme_tour_families_print_what_the_comments_say():
    ns, printed = _tour()
    respond, false_match = printed[1].rsplit("] ", 1)
    assert set(respond.strip("[]").split()) == {"True"}  # "# all True"
    n, a, s, theta = 2048, 40, 24, 12  # Ahmad & Hawkins (2016): sum over b >= theta of C(s,b) C(n-s,a-b) / C(n,a)
    exact = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, s + 1)) / math.comb(n, a)
    assert math.isclose(float(false_match), exact, rel_tol=1e-9) and f"{exact:.1e}" == "1.2e-15"
    assert printed[2] == "1.0" and (ns["mac"].recognize(ns["x"]).winners == ns["code"].winners).all()


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 20  # the docs pages, LICENSE, CITATION.cff, CONTRIBUTING.md, CHANGELOG.md
    assert [link for link in local if not (ROOT / link).is_file()] == []


def test_readme_names_every_extra_of_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    extras = set(config["options.extras_require"])
    table = README[README.index("| extra | brings | for |") :].split("\n\n")[0]
    named = set(re.findall(r"^\| `([\w-]+)` \|", table, re.M))
    assert named == extras


def test_readme_headline_numbers_come_from_the_docs_pages():
    docs = (ROOT / "docs" / "papers.md").read_text() + (ROOT / "docs" / "benchmarks.md").read_text()
    results = README[README.index("## Headline results") : README.index("## Install")]
    rows = [line for line in results.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    numbers = {n for row in rows for n in re.findall(r"\d[\d,]*\.\d+(?:e-\d+)?|\d{1,3}(?:,\d{3})+", row)}
    assert len(numbers) > 30
    assert sorted(n for n in numbers if n not in docs) == []
