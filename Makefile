# Two commands for a fresh clone:  `make demo`  and  `make test`.
# Each builds .venv (once) and runs.  Override PYTHON to pick another interpreter.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# pip --no-compile, then one parallel compileall: pip byte-compiles ~14 000 modules one by one
# (torch alone 60 s, 18 s without); compileall -j 0 does them all in ~17 s on 2 cores.  The .pyc
# must be there up front: where PYTHONDONTWRITEBYTECODE is set (as on our CI image) Python never
# writes them, and every process (pytest, notebook kernels, sweep workers) then recompiles what it
# imports, 7.0 s instead of 3.3 s for the test stack.
INSTALL := $(PIP) install -q --no-compile
# compileall exits 1 on files this interpreter cannot parse (torch ships Python-3.12-only test
# files that nothing imports); those are left to fail where they would anyway, on import.
COMPILE := $(BIN)/python -m compileall -q -j 0 $(VENV)/lib microstructure solvers > /dev/null || true
# taufactor (a test dependency) needs torch; the CPU build is all the tests need.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-min bench gpu-kit clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(INSTALL) -e .
	$(COMPILE)
	touch $@

# The test suite's needs only; the peers the benchmarks run (PoreSpy, OpenPNM) come with `bench`.
$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(INSTALL) "$(TORCH)"
	$(INSTALL) -e ".[test,dist]"
	$(COMPILE)
	touch $(VENV)/.base $@

$(VENV)/.bench: pyproject.toml $(VENV)/.test
	$(INSTALL) -e ".[test,dist,bench]"
	$(COMPILE)
	touch $@

# The main job on the embedded defaults: one 64^3 composite generated and analyzed (phase,
# utilization, structure and transport tables), then a 2 x 2 (CAM content x SE d50) x 2 seeds
# sweep at 48^3 (its points read back first: assb check) and its report.  About 20 s on 2 cores
# once .venv is built; a rerun resumes the sweep (rm -rf demo_out for a fresh one).
DEMO_DIR ?= demo_out
DEMO_OUT ?= $(DEMO_DIR)/sweep
demo: $(VENV)/.base $(VENV)/.kernels
	$(BIN)/assb demo --small --out $(DEMO_DIR)
	$(BIN)/assb check examples/demo_sweep.toml
	$(BIN)/assb sweep examples/demo_sweep.toml -o $(DEMO_OUT)
	$(BIN)/assb report $(DEMO_OUT)
	@echo "open $(DEMO_OUT)/report/report.html in a browser"

# numba's on-disk kernel cache (*.nbi / *.nbc beside the sources) is keyed on the file that
# defines each cached kernel, not on the kernels it calls from other modules: after an edit,
# a checkout or a rebase of a called kernel, a caller's cached machine code is stale (the old
# callee runs, silently).  `make test` and `make demo` empty the project's kernel cache
# whenever a module that uses numba is newer than the last emptying; the next run compiles
# afresh.
KERNEL_SOURCES := $(shell grep -rl --include='*.py' numba microstructure solvers)
$(VENV)/.kernels: $(KERNEL_SOURCES) | $(BIN)/python
	find microstructure solvers -name '*.nb[ic]' -delete
	touch $@

test: $(VENV)/.test $(VENV)/.kernels
	$(BIN)/ruff check microstructure solvers tests benchmarks notebooks
	$(BIN)/python -m pytest -q -p no:cacheprovider tests --ignore=tests/cudasim \
		--doctest-modules solvers microstructure
	NUMBA_ENABLE_CUDASIM=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/cudasim

# The lower bounds of pyproject.toml, checked: .venv-min holds exactly the versions of
# .ci/min-versions.txt and runs the whole suite (not part of CI's `make test`: the suite again,
# ~12 min on 2 cores with the venv; run it when a bound or a dependency's use changes).  Its
# own numba cache directory, emptied each time (see .kernels above), keeps the two venvs'
# compiled kernels apart.
VENV_MIN := .venv-min
$(VENV_MIN)/.test: pyproject.toml .ci/min-versions.txt
	$(PYTHON) -m venv $(VENV_MIN)
	$(VENV_MIN)/bin/python -m pip install -q --no-compile "$(TORCH)"
	$(VENV_MIN)/bin/python -m pip install -q --no-compile -c .ci/min-versions.txt -e ".[test,dist]"
	touch $@

test-min: $(VENV_MIN)/.test
	rm -rf $(VENV_MIN)/numba-cache
	NUMBA_CACHE_DIR=$(VENV_MIN)/numba-cache $(VENV_MIN)/bin/python -m pytest -q \
		-p no:cacheprovider tests --ignore=tests/cudasim --doctest-modules solvers microstructure
	NUMBA_CACHE_DIR=$(VENV_MIN)/numba-cache NUMBA_ENABLE_CUDASIM=1 $(VENV_MIN)/bin/python -m pytest \
		-q -p no:cacheprovider tests/cudasim

# For a lent GPU machine (see benchmarks/gpu_session.sh): wheels of the packages its
# image lacks (runtime, and cc3d for bench_label), at the versions tested here, for its Python
# 3.12 on x86-64, into .whl/ (ignored
# by git; the device run carries it).
GPU_WHEELS := pydantic pydantic_core annotated-types typing-inspection typing_extensions zarr \
	numcodecs donfig google-crc32c connected-components-3d
gpu-kit: $(VENV)/.test
	mkdir -p .whl
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 --platform any -d .whl \
		$$($(PIP) freeze | grep -i -E "^($(shell echo $(GPU_WHEELS) | tr ' ' '|'))==")
	@ls .whl

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/bench_generate.py
	$(BIN)/python benchmarks/bench_label.py
	$(BIN)/python benchmarks/bench_transport.py

clean:
	rm -rf $(VENV) $(VENV_MIN) demo_out .pytest_cache
