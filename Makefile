# The README's two commands: `make run` (set up + default pipeline) and `make test` (set up + tests).
PYTHON ?= python3
VENV := .venv
CORES ?= 2
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench bench-loop published clean

# (Re)install only when the dependencies change; pip keeps its cache for the next time.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

# pytest-xdist workers, a test file each at a time, so that a file's module fixtures (a SLURM
# cluster, a rebuilt result set) stay in one worker. The suite's time budget is set on 2 cores. The
# whole suite runs one worker more than that: its SLURM tests spend minutes waiting on the
# scheduler's status polling, which the third worker fills (tests/README.md). The fast suite has no
# such waits and runs two.
PYTEST_DIST := --dist loadfile --no-loadscope-reorder
PYTEST_WORKERS := -n 3 $(PYTEST_DIST)
PYTEST_FAST_WORKERS := -n 2 $(PYTEST_DIST)

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_WORKERS)

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_FAST_WORKERS) -m "not slow"

# Snakemake's own lints (rules, params, conda envs), the Snakefiles' format, the Python code's lints.
lint: $(STAMP)
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check .
	$(VENV)/bin/ruff check .

# Every table and figure of the published result sets (published/), from their bundles, without training.
published: $(STAMP)
	$(VENV)/bin/python scripts/published.py rebuild

bench: $(STAMP)
	$(VENV)/bin/python scripts/bench_methods.py

# A training job's step against the bench's step (docs/speed.md).
bench-loop: $(STAMP)
	$(VENV)/bin/python scripts/bench_loop.py

clean:
	rm -rf results .snakemake
