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

# Two pytest workers (pytest-xdist), a test file each at a time: the suite's time budget is set on
# 2 cores, and a file's module fixtures (a SLURM cluster, a rebuilt result set) stay in one worker.
PYTEST_WORKERS := -n 2 --dist loadfile --no-loadscope-reorder

test: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_WORKERS)

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest $(PYTEST_WORKERS) -m "not slow"

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
