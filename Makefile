# imgprep developer entry points. Every target creates .venv on first use, so a fresh clone needs
# nothing but python3 (>= 3.11) and make. Each target installs only what it needs, into the same
# .venv: demo the package alone, bench the dask extra (for its Dask row), test the test extra
# (which includes dask), lint the dev extra (see the
# [project.optional-dependencies] of pyproject.toml). The package is installed in editable mode.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP    := $(VENV)/.installed-test
DEV_STAMP     := $(VENV)/.installed-dev
DASK_STAMP    := $(VENV)/.installed-dask

.PHONY: help demo test lint bench clean
# the stamps install into one .venv: never two pip runs at once, even under make -j
.NOTPARALLEL:

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 10

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# A stamp is redone when pyproject.toml changes. A larger install also satisfies the smaller
# ones (dev includes test, test includes dask, dask includes the package), so it touches their
# stamps too.
$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(DASK_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dask]'
	touch $(RUNTIME_STAMP) $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[test]'
	touch $(RUNTIME_STAMP) $(DASK_STAMP) $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $(RUNTIME_STAMP) $(DASK_STAMP) $(TEST_STAMP) $@

demo: $(RUNTIME_STAMP)  ## run the tutorial pipeline on sample_images/ into out/demo/
	$(BIN)/imgprep -i sample_images -o out/demo --format png \
	    resize 200x200 --mode cover grayscale autocontrast --cutoff 3 augment --mirror
	@echo "Prepared images are in $(CURDIR)/out/demo/"

test: $(TEST_STAMP)  ## run the test suite (installs pytest and hypothesis)
	$(BIN)/python -m pytest -q

lint: $(DEV_STAMP)  ## ruff and mypy, both must be clean (installs them)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(DASK_STAMP)  ## side-by-side benchmarks; writes docs/benchmarks.md
	$(BIN)/python bench/run.py

clean:  ## remove the virtualenv, build and demo outputs
	rm -rf $(VENV) out build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
