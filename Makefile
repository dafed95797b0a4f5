# inttower — the README's commands are these targets. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# The CPU wheel, pinned: an open-ended `torch` would pull gigabytes of CUDA into a fresh venv.
TORCH ?= torch==2.13.0
ARTIFACTS ?= artifacts
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help setup test lint serve train-default bench-speed

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed ## Create .venv with the CPU torch wheel and the project (editable)

test: setup ## Run every test (unit, real ml-100k, end-to-end server)
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is miswired" >&2; fi; \
	exit $$rc

lint: setup ## ruff
	$(BIN)/ruff check .

train-default: setup ## Train the default ml-100k model unless a bundle is already published
	@if [ -f $(ARTIFACTS)/CURRENT ]; then echo "bundle $$(cat $(ARTIFACTS)/CURRENT) already published"; \
	else $(BIN)/inttower train --dataset ml-100k --artifacts $(ARTIFACTS); fi

serve: train-default ## Set up, train ml-100k if no bundle exists, then serve on :$(PORT)
	$(BIN)/inttower serve --artifacts $(ARTIFACTS) --port $(PORT)

bench-speed: setup ## Speed benchmarks (FE-Block kernel, HTTP service vs the floor) -> docs/benchmarks
	$(BIN)/inttower bench kernel
	$(BIN)/inttower bench serve
