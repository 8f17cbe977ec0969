# scratchnn — every target installs what it needs first (`setup`), so a fresh clone needs no manual step.
# `make help` lists the targets; the text after `##` on a target line is its help.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help setup test test-fast lint

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the project with dev extras (idempotent, fast when nothing changed)

test: setup ## run the whole test suite (what CI runs)
	$(BIN)/python -m pytest $(ARGS)

test-fast: setup ## run the tests except those marked slow
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

lint: setup ## check the code with ruff
	$(BIN)/ruff check scratchnn pipeline tests
	$(BIN)/ruff format --check scratchnn pipeline tests
