# Fresh machine: `make demo` or `make test` (needs only python3 >= 3.11, make and pip).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUNTIME := $(VENV)/.installed

.PHONY: install test lint demo bench bench-peer bench-consoles reliability clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP) $(RUNTIME)

# The demo needs the package, its core dependencies and what the examples it offers need
# (hello-digits: scikit-learn), not the test tools.
$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[examples]'
	touch $(RUNTIME)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check console tests examples benchmarks

# PYTEST_WORKERS=3: the suite on three workers (pytest-xdist) on a machine of two cores: the tests'
# processes mostly wait on each other (a run on two workers kept the cores ~58% busy: 13 min of CPU in
# 11 min 20 s), so a third cuts the run to ~8.5 min (session 12, 1,635 tests) and leaves room under
# CI's 15-minute limit. Every FLARE test runs on one of them (xdist_group "nvflare": one POC), each
# other module's tests together (its shared server starts once). PYTEST_WORKERS= (empty) runs one at
# a time. PYTEST_ARGS adds options (--durations=30, -x, a file).
PYTEST_WORKERS ?= 3
XDIST := $(if $(PYTEST_WORKERS),-n $(PYTEST_WORKERS) --dist loadgroup)

test: lint
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

demo: $(RUNTIME)
	$(BIN)/flare-console demo

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# Side by side with NVIDIA FLARE 2.9 (installs nvflare once into ~/.cache/flare-console, about 1 min):
# writes docs/benchmarks.md and docs/compatibility.md.
bench-peer: $(STAMP)
	$(BIN)/python benchmarks/bench_peer.py
	$(BIN)/python benchmarks/bench_models.py --peer

# Only FLARE's fl_admin.sh and ours on one FLARE POC (a few minutes): that table in docs/benchmarks.md.
bench-consoles: $(STAMP)
	$(BIN)/python benchmarks/bench_peer.py --consoles-only

reliability: $(STAMP)
	$(BIN)/python benchmarks/reliability.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
