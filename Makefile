# The course in two commands:
#   make lab    create/update .venv and open JupyterLab on notebooks/
#   make test   create/update .venv, lint, and run every test
# Both reuse .venv and skip pip when pyproject.toml and constraints.txt are unchanged.
#
# Variables: PYTHON (interpreter that creates .venv, default python3, needs >= 3.11),
#            PORT (JupyterLab's port), LAB_ARGS (more `jupyter lab` options).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?=
LAB_ARGS ?=

# jupyter refuses to run as root without --allow-root (containers, CI).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# Run tools as if .venv were activated, so anything a test starts comes from it too.
IN_VENV := PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)"
# ruff fails on a missing path; git does not keep empty folders.
LINT_PATHS := $(wildcard ntk_helpers tests benchmarks notebooks)

.PHONY: help venv lab test bench lint strip check-env constraints env-files clean clean-venv

help:
	@echo "make lab         open the course in JupyterLab (PORT=8888 LAB_ARGS=... optional)"
	@echo "make test        lint + every test (package doctests, tests/, notebooks via nbval)"
	@echo "make bench       the benchmarks: analytic and empirical kernels, slider latency (minutes)"
	@echo "make lint        ruff only"
	@echo "make strip       strip outputs, execution counts and widget state from notebooks/"
	@echo "make check-env   dry-run pip on the pins of environment.yml and binder/environment.yml"
	@echo "make constraints re-resolve pyproject.toml's ranges into constraints.txt + conda files"
	@echo "make env-files   regenerate environment.yml and binder/environment.yml from constraints.txt"
	@echo "make clean       remove caches; make clean-venv also removes .venv"

venv:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" scripts/ensure_venv.sh

lab: venv
	$(IN_VENV) $(BIN)/jupyter lab \
		--ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/notebooks \
		--LabApp.news_url=None \
		--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
		$(if $(PORT),--ServerApp.port=$(PORT)) $(ALLOW_ROOT) $(LAB_ARGS)

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)

test: venv
	$(BIN)/ruff check $(LINT_PATHS)
	@scripts/ensure_chromium.sh
	$(IN_VENV) $(BIN)/pytest --nbval-lax --doctest-modules ntk_helpers tests notebooks

bench: venv
	$(IN_VENV) $(BIN)/python benchmarks/bench_kernels.py
	$(IN_VENV) $(BIN)/python benchmarks/bench_empirical.py
	$(IN_VENV) $(BIN)/python benchmarks/bench_latency.py --json build/latency.json

strip: venv
	$(BIN)/python scripts/strip_notebooks.py

check-env: venv
	@mkdir -p build
	@for file in environment.yml binder/environment.yml; do \
		echo "== $$file"; \
		$(BIN)/python scripts/pins.py conda-pins $$file > build/conda-pins.txt || exit 1; \
		$(BIN)/python -m pip install --dry-run --no-deps --ignore-installed --quiet \
			--report - -r build/conda-pins.txt > build/conda-pins-report.json || exit 1; \
		echo "   $$(wc -l < build/conda-pins.txt) pins resolve to installable files"; \
	done

constraints:
	rm -rf build/pin-venv
	$(PYTHON) -m venv build/pin-venv
	build/pin-venv/bin/python -m pip install --disable-pip-version-check -e ".[dev]"
	$(PYTHON) scripts/pins.py freeze build/pin-venv/bin/python
	rm -rf build/pin-venv
	$(PYTHON) scripts/pins.py sync
	@echo "Now run 'make test': the venv reinstalls from the new constraints.txt."

env-files:
	$(PYTHON) scripts/pins.py sync

clean:
	rm -rf build .pytest_cache .ruff_cache .jax_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

clean-venv: clean
	rm -rf $(VENV)
