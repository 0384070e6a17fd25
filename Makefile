# Everything installs into ./.venv from the project's own files; constraints.txt keeps the CPU build of torch,
# a numpy that brian2 accepts and the documentation tools' versions.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export NO_MKDOCS_2_WARNING := 1

.PHONY: install demo test lint docs typecheck wheel-check gallery bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,test,docs]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/sdrnet demo

# the README's test command: lint, format, the strict docs build and mypy on the core, then the fast tests
test: lint docs typecheck
	$(PY) -m pytest
	$(PY) -m pytest tests/test_wheel.py -m slow  # the built wheel in a fresh venv runs a demo part

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: install
	$(VENV)/bin/mkdocs build --strict

typecheck: install
	$(VENV)/bin/mypy sdrnet/core

# the wheel's smoke test, slow part included: python -m build, a fresh venv, sdrnet --version, the demo's core part
wheel-check: install
	$(PY) -m pytest tests/test_wheel.py -m "slow or not slow"

# the figures of docs/examples.md: run the demo, then copy its figures in, shrunk
gallery: install
	$(VENV)/bin/sdrnet demo --out build/gallery
	$(PY) docs/scripts/gallery.py build/gallery

bench: install
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_dendrites.py
	$(PY) benchmarks/bench_active_dendrites.py
	$(PY) benchmarks/bench_snn.py
	$(PY) benchmarks/bench_delta.py
	$(PY) benchmarks/bench_prune.py
	$(PY) benchmarks/bench_sparsey.py

clean:
	rm -rf $(VENV) runs build *.egg-info
