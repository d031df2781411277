# featurestream — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: pkgview setup jars up down status demo test test-unit test-integration lint format docs bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[all,dev]"
	@touch $(STAMP)

setup: $(STAMP) jars  ## create .venv, install the package, resolve the jars (never needs root)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		echo "note: no chromium on PATH; the dashboard's browser test will be skipped (CI installs it)"

jars: $(STAMP)  ## resolve Kafka + Flink connector jars with Maven (no-op when present)
	$(BIN)/featurestream setup

up: setup  ## start the local stack (Kafka, Redis, Flink)
	$(BIN)/featurestream up

down:  ## stop the local stack (only the processes it started)
	@if [ -x $(BIN)/featurestream ]; then $(BIN)/featurestream down; fi

status:
	$(BIN)/featurestream status

demo: setup  ## stack up, apply the demo repo, run the pipeline end to end, print what happened
	$(BIN)/featurestream demo

test: setup  ## the whole suite: unit tests, then integration tests on one shared local stack
	$(BIN)/pytest -p no:cacheprovider tests

test-unit: setup
	$(BIN)/pytest tests/unit

test-integration: setup
	$(BIN)/pytest -m integration tests

# mypy and import-linter read packages from disk, not through the editable-install hook, so they
# check a tree of symlinks laid out as the installed package (featurestream/api -> api/, ...).
PKGVIEW := build/pkgview
pkgview:
	@rm -rf $(PKGVIEW) && mkdir -p $(PKGVIEW)
	@cp -rs $(CURDIR)/featurestream $(PKGVIEW)/featurestream
	@for p in api jobs online offline monitoring udfs; do cp -rs $(CURDIR)/$$p $(PKGVIEW)/featurestream/$$p; done
	@cp -rs $(CURDIR)/tests $(PKGVIEW)/tests
	@find $(PKGVIEW) -name __pycache__ -prune -exec rm -rf {} +

lint: $(STAMP) pkgview  ## ruff (lint + format check), mypy and the import contract (layers) on the whole tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(PKGVIEW) && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml featurestream
	MYPYPATH=$(PKGVIEW) $(BIN)/mypy bench tests
	cd $(PKGVIEW) && PYTHONPATH=. $(CURDIR)/$(BIN)/lint-imports $(CURDIR)/pyproject.toml

docs: $(STAMP)  ## regenerate docs/reference.md from the CLI and the config models
	$(BIN)/python -m featurestream.cli.reference docs/reference.md

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	@echo "benchmarks: see bench/README.md"

clean: down
	rm -rf .featurestream
