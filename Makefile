# rollforward — every target sets itself up on a fresh machine: make demo, make test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# jsii (CDK) needs Node at synth time: use the supported Node pinned in package.json.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
PYTEST_ARGS ?=

.PHONY: setup demo test lint format synth bench clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(BIN)/rollforward demo

test: setup lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

synth: setup
	npx cdk synth --quiet

bench: setup
	$(BIN)/python -m bench.judge
	$(BIN)/python -m bench.p99_window
	$(BIN)/python -m bench.transitions
	$(BIN)/python -m bench.scan --accounts 1 --regions 2 --functions 1000
	$(BIN)/python -m bench.load --pins 200 --window 25 --idle 500

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
