# Two commands for a fresh clone:  `make demo`  and  `make test`.
# Each builds .venv (once) and runs.  Override PYTHON to pick another interpreter.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# taufactor (a test dependency) needs torch; the CPU build is all the tests need.
TORCH  ?= torch==2.13.0

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e ".[test,dist,bench]"
	touch $(VENV)/.base $@

# The main job on the embedded defaults: one 64^3 composite generated and analyzed (phase,
# utilization, structure and transport tables), then a 3 x 2 (CAM content x SE d50) x 2 seeds
# sweep at 64^3 and its report.  ~1 min on 2 cores; a rerun resumes the sweep
# (rm -rf demo_out for a fresh one).
DEMO_DIR ?= demo_out
DEMO_OUT ?= $(DEMO_DIR)/sweep
demo: $(VENV)/.base
	$(BIN)/assb demo --small --out $(DEMO_DIR)
	$(BIN)/assb sweep examples/demo_sweep.toml -o $(DEMO_OUT)
	$(BIN)/assb report $(DEMO_OUT)
	@echo "open $(DEMO_OUT)/report/report.html in a browser"

test: $(VENV)/.test
	$(BIN)/ruff check microstructure solvers tests benchmarks
	$(BIN)/python -m pytest -q -p no:cacheprovider tests --ignore=tests/cudasim
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/cudasim

bench: $(VENV)/.test
	$(BIN)/python benchmarks/bench_generate.py
	$(BIN)/python benchmarks/bench_label.py
	$(BIN)/python benchmarks/bench_transport.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
