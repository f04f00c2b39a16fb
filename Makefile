# The README's commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,server]'
	touch $(STAMP)

## demo: a server on SQLite and an enrolled kiosk in browser mode (Ctrl-C stops both)
demo: $(STAMP)
	$(BIN)/linli demo

## test: lint, type check, then the whole test suite (SQLite and PostgreSQL)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/sync_backlog.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
