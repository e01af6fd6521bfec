# The README's two commands: `make run` and `make test`. Both create .venv when it is missing and can be
# run again without cleaning.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev install-spark lint clean

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

# the spark extra (dbt-spark, pyspark: about 450 MB) for `cexflow build --target spark` and the engine
# comparison test; `make test` installs it (the test then needs only Java 17 or 21)
$(VENV)/.installed-spark: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,spark]"
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-spark: $(VENV)/.installed-spark

run: install
	$(BIN)/cexflow build
	$(BIN)/cexflow report
	@echo "Query it: $(BIN)/duckdb -readonly cexflow.duckdb -c \"from fct_netflow_daily_by_exchange limit 5\""

lint: install-dev
	$(BIN)/ruff check scripts tests
	$(BIN)/ruff format --check scripts/cexflow

# one pytest worker per core; a test module stays on one worker (its builds are module fixtures)
test: install-spark lint
	$(BIN)/pytest -n auto --dist loadscope

clean:
	rm -rf target logs site cexflow.duckdb cexflow.duckdb.wal cexflow.duckdb.build cexflow.duckdb.lock
