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
