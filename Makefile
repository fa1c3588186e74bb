# The front door. `make run` serves the API on SQLite; `make test` runs the whole suite;
# `make bench` measures it (docs/performance.md).
# Each creates .venv and installs into it what it needs on first use (and again after
# pyproject.toml changes), so a fresh clone needs nothing else. `make run` installs only
# the service; the test and benchmark tools come with `make test` and `make bench`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint format

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# One stamp per extra: pip sees what is installed already, so a later `make test` after
# `make run` adds only the test tools.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.$(if $(filter base,$*),,[$*])'
	touch $@

run: $(VENV)/.installed-base
	$(BIN)/flask db upgrade
	$(BIN)/flask run

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/pytest --cov --cov-report=term:skip-covered

bench: $(VENV)/.installed-dev $(VENV)/.installed-bench
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python -m bench

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
