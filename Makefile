# The README's two commands: `make run` and `make test`. Both create .venv when it is missing and can be
# run again without cleaning.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# reinstall only when pyproject.toml changes
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/cexflow build
	$(BIN)/cexflow report
	@echo "Query it: $(BIN)/duckdb cexflow.duckdb -c \"from fct_netflow_daily_by_exchange limit 5\""

lint: install-dev
	$(BIN)/ruff check scripts tests

test: install-dev lint
	$(BIN)/pytest

clean:
	rm -rf target logs site cexflow.duckdb cexflow.duckdb.wal
