# kefu: `make run` starts everything locally; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STAGE ?= dev
TEST_WORKERS ?= 2

.PHONY: install run test lint package bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python -m devstack

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=12

package: install
	$(BIN)/python -m infra.package --stage $(STAGE)

bench: install
	$(BIN)/python benchmarks/_bench.py

clean:
	rm -rf build .pytest_cache .ruff_cache
