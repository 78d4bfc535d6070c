# imgprep developer entry points. Every target creates .venv on first use, so a fresh clone needs
# nothing but python3 (>= 3.11) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help demo test lint bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 10

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)  ## run the tutorial pipeline on sample_images/ into out/demo/
	$(BIN)/imgprep -i sample_images -o out/demo --format png \
	    resize 200x200 --mode cover grayscale autocontrast --cutoff 3 augment --mirror
	@echo "Prepared images are in $(CURDIR)/out/demo/"

test: $(STAMP)  ## run the test suite
	$(BIN)/python -m pytest -q

lint: $(STAMP)  ## ruff and mypy, both must be clean
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)  ## side-by-side benchmarks; writes docs/benchmarks.md
	$(BIN)/python bench/run.py

clean:  ## remove the virtualenv, build and demo outputs
	rm -rf $(VENV) out build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
