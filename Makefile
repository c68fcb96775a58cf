# Tradewind: the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check format bench services clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## run: install into .venv and start scheduler (+ web server) on SQLite with example DAGs
run: $(STAMP)
	$(BIN)/tradewind standalone

## test: install test extras, start PostgreSQL/MariaDB/Redis/RabbitMQ if needed, run every test
test: $(STAMP)
	bash scripts/ensure-services.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## check: formatting, lint and types
check: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

## bench: the speed benchmarks (figures printed, never asserted)
bench: $(STAMP)
	$(BIN)/python bench/chain.py
	$(BIN)/python bench/fanout.py

services:
	bash scripts/ensure-services.sh

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
