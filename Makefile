# Everything installs into ./.venv from the project's own files; constraints.txt keeps the
# CPU build of torch and a numpy that brian2 accepts (see DESIGN.md, "Environment facts").
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/sdrnet demo

test: install
	$(PY) -m pytest

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
