# The course in two commands:
#   make lab    create/update .venv and open JupyterLab on notebooks/
#   make test   create/update .venv, lint, and run every test
# Both reuse .venv and skip pip when pyproject.toml and constraints.txt are unchanged.
#
# Variables: PYTHON (interpreter that creates .venv, default python3, needs >= 3.11),
#            PORT (JupyterLab's port), LAB_ARGS (more `jupyter lab` options),
#            NOTEBOOK (the notebook `make lab` opens, default notebooks/00_start_here.ipynb).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?=
LAB_ARGS ?=
NOTEBOOK ?= notebooks/00_start_here.ipynb

# jupyter refuses to run as root without --allow-root (containers, CI).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# Run tools as if .venv were activated, so anything a test starts comes from it too.
IN_VENV := PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)"
# ruff fails on a missing path; git does not keep empty folders.
LINT_PATHS := $(wildcard ntk_helpers tests benchmarks notebooks)

.PHONY: help venv lab test bench lint strip check-env constraints env-files clean clean-venv

help:
	@echo "make lab         open the course in JupyterLab (NOTEBOOK=... PORT=8888 LAB_ARGS=... optional)"
	@echo "make test        lint + every test (package doctests, tests/, notebooks via nbval)"
	@echo "make bench       the benchmarks: analytic and empirical kernels, slider latency (minutes)"
	@echo "make lint        ruff only"
	@echo "make strip       strip outputs, execution counts and widget state from notebooks/"
	@echo "make check-env   dry-run pip on the pins of environment.yml and binder/environment.yml"
	@echo "make constraints re-resolve pyproject.toml's ranges into constraints.txt + conda files"
	@echo "make env-files   regenerate environment.yml and binder/environment.yml from constraints.txt"
	@echo "make assignments nbgrader student versions of the exercises (INSTRUCTORS.md)"
	@echo "make clean       remove caches; make clean-venv also removes .venv"

venv:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" scripts/ensure_venv.sh

# JupyterLab's defaults for the course (binder/overrides.json: no news pop-up, no update check,
# a notebook's kernel shut down when its tab closes), where JupyterLab reads them.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json

# `?reset` starts from an empty workspace: only NOTEBOOK opens, not every tab of the last session.
lab: venv
	@mkdir -p "$(dir $(LAB_OVERRIDES))" && cp binder/overrides.json "$(LAB_OVERRIDES)"
	$(IN_VENV) $(BIN)/jupyter lab \
		--ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url="/lab/tree/$(NOTEBOOK)?reset" \
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
	$(IN_VENV) $(BIN)/python benchmarks/bench_scale.py
	$(IN_VENV) $(BIN)/python benchmarks/bench_eigh.py

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

# Both are `make lock` (appended below): uv pip compile, then the conda files.
constraints: venv
	@$(MAKE) --no-print-directory lock LOCK_ARGS="--upgrade $(LOCK_ARGS)"

env-files: venv
	@mkdir -p build
	rm -f $(BINDER_PINS)
	$(UV_COMPILE) --python-platform x86_64-manylinux_2_28 --extra course -c constraints.txt \
		--no-header --no-annotate -o $(BINDER_PINS)
	$(BIN)/python scripts/pins.py sync $(BINDER_PINS)

clean:
	rm -rf build .pytest_cache .ruff_cache .jax_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -path ./$(VENV) -prune -o -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +

clean-venv: clean
	rm -rf $(VENV)

# ----------------------------------------------------------------------------------------------
# The ecosystem's standard tools: lock (uv), strip (nbstripout), pair (jupytext), the rendered
# site (Sphinx + MyST-NB) and checks of the Binder image (repo2docker's plan, `pip check`).
.PHONY: lock check-binder pair site sdist

# Universal lock of the [dev] extra (every platform, Python >= 3.11); the Binder pins are the
# [course] extra alone, for Linux, within it. LOCK_ARGS="--upgrade" (= `make constraints`)
# re-resolves everything; without it the versions already in constraints.txt are kept.
UV_COMPILE := $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --quiet
BINDER_PINS := build/binder-pins.txt
LOCK_ARGS ?=

lock: venv
	$(UV_COMPILE) --universal --fork-strategy fewest --extra dev \
		--custom-compile-command "make lock" -o constraints.txt $(LOCK_ARGS)
	@$(MAKE) --no-print-directory env-files
	@echo "Now run 'make test': the venv reinstalls from the new constraints.txt."

# repo2docker's base environment from PyPI + binder/environment.yml's pins, `pip check`ed;
# prints the installed size of the Binder pins (about a minute with a warm download cache).
check-binder: venv
	$(BIN)/python scripts/pins.py check-binder build/binder-check

# Every notebook paired with a MyST Markdown file (jupytext.toml), synced both ways: the
# newer of the two is the source. Run it after editing either; the hygiene tests check it.
pair: venv
	$(BIN)/jupytext --sync notebooks/[0-9][0-9]_*.ipynb

# The course as a static site in build/site/html: notebooks executed once (cached until they
# or ntk_helpers change), rendered by Sphinx with MyST-NB; open build/site/html/index.html.
site: venv
	$(IN_VENV) $(BIN)/python docs/site/build.py

# The source distribution, with the tests and the data they need; lists its files.
sdist: venv
	$(BIN)/python -m build --sdist --no-isolation --outdir build/dist .
	tar -tzf build/dist/ntk_helpers-*.tar.gz | sort

# ----------------------------------------------------------------------------------------------
# Coursework (INSTRUCTORS.md): nbgrader's student version of every notebook with exercises, in
# coursework/release/<NN_topic>/ (the course layout of nbgrader_config.py; generated, not committed).
.PHONY: assignments

assignments: venv
	$(IN_VENV) $(BIN)/python scripts/coursework.py release --root coursework
