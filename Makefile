# Two commands set everything up on a fresh machine with Python 3.11:
#   make study   create .venv if missing, install, run the quick study on the built-in default
#   make test    create .venv if missing, install, run the test suite
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: study test test-slow bench recovery sbc demo clean-venv

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# The main job: the quick calibration study (study=quick), resumable; its run folder is printed.
study: $(STAMP)
	$(PY) -m experiments.study

# Default suite (slow tests excluded). Exit code 5 (no tests collected) counts as a failure
# only if nothing at all ran, which cannot happen while tests/ has tests.
# TEST_WORKERS pytest-xdist processes, one test file per worker at a time (module fixtures are built once).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests collected"; exit 0; fi; exit $$rc

# The benchmark (issue 5): this harness side by side with PyMC-Marketing, the harness's own sweep
# and a profile; writes results/bench/<date>/bench.json and bench.md (about an hour on 2 cores).
# PyMC-Marketing 1.3 needs Python >= 3.12, so it gets its own environment, .venv-pymc, pinned by
# benchmarks/requirements-pymc.txt. Without PEER_PYTHON the comparison is skipped and says so.
# The first working Python 3.12/3.13 (pyenv shims that are not active fail --version and are skipped).
PEER_PYTHON ?= $(shell for p in python3.12 python3.13 $$HOME/.pyenv/versions/3.12*/bin/python \
                 $$HOME/.pyenv/versions/3.13*/bin/python; do $$p --version >/dev/null 2>&1 && { echo $$p; break; }; done)
PEER_VENV   := .venv-pymc
PEER_STAMP  := $(PEER_VENV)/.installed

$(PEER_STAMP): benchmarks/requirements-pymc.txt
	@if [ -n "$(PEER_PYTHON)" ] && $(PEER_PYTHON) --version >/dev/null 2>&1; then \
	  { [ -x $(PEER_VENV)/bin/python ] || $(PEER_PYTHON) -m venv $(PEER_VENV); } && \
	  $(PEER_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-pymc.txt && touch $(PEER_STAMP); \
	else echo "note: no Python 3.12+ found; the PyMC-Marketing comparison will be skipped (set PEER_PYTHON=/path/to/python3.12)"; fi

# BENCH_ARGS passes options, e.g. make bench BENCH_ARGS=--quick (a smoke run).
bench: $(STAMP) $(PEER_STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# The practitioner's workflow on simulated data that looks real (issue 16): a home_goods world under
# realistic column names, good and bad tests mixed, truth stripped; runs python -m estimators.calibrate
# on it as a user would, then prints how far the baseline and the calibrated model are from the truth.
# Writes results/demo/ (report in results/demo/report/report.html). DEMO_ARGS=inference=fast for a quick run.
demo: $(STAMP)
	$(PY) -m experiments.demo $(DEMO_ARGS)

# Parameter recovery on 20 well-specified simulated datasets (results/bench/recovery.json, ~3 min).
recovery: $(STAMP)
	$(PY) benchmarks/recovery.py

# Simulation-based calibration of NUTS (results/bench/sbc.json, ~4 min).
sbc: $(STAMP)
	$(PY) benchmarks/sbc.py

clean-venv:
	rm -rf $(VENV)
