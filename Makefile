# The front door. `make run` serves the API on SQLite; `make test` runs the whole suite;
# `make bench` measures it (README, "Performance").
# Each creates .venv and installs the project into it on first use (and after pyproject.toml
# changes), so a fresh clone needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint format

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

run: $(STAMP)
	$(BIN)/flask db upgrade
	$(BIN)/flask run

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest --cov --cov-report=term:skip-covered

bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
