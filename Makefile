# kefu: `make run` starts everything locally; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
STAGE ?= dev
TEST_WORKERS ?= 3

.PHONY: install run test lint package bench clean checkov

# Installs go through uv (resolves and downloads in parallel: a clean clone's two virtualenvs in
# about 45 s instead of 65), byte-compiled as pip does; plain pip when uv cannot be had or fails.
UV_VERSION := 0.13.8
define install_into
	( $(1)/bin/python -m pip install --quiet uv==$(UV_VERSION) && \
	  $(1)/bin/uv pip install --quiet --compile-bytecode --python $(1)/bin/python --upgrade-package pip pip -r $(2) ) || \
	$(1)/bin/python -m pip install --quiet -r $(2)
endef

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(call install_into,$(VENV),requirements-dev.txt)
	touch $(STAMP)

install: $(STAMP)

# checkov lives apart: its pins (boto3, botocore, packaging) clash with ours.
$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(call install_into,$(CHECKOV_VENV),requirements-checkov.txt)
	$(CHECKOV_VENV)/bin/python infra/checkov_tables.py
	touch $(CHECKOV)

checkov: $(CHECKOV)

run: install
	$(BIN)/python -m devstack

lint: install
	$(BIN)/ruff check .

# The two virtualenvs are installed side by side (a clean clone waits for one instead of both).
# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE): otherwise each
# of the suite's Python processes (three workers, their moto servers, every stack a test starts)
# compiles the project, and pytest rewrites every test module, from source again.
test:
	$(MAKE) --no-print-directory -j2 install checkov
	$(MAKE) --no-print-directory lint
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=12

package: install checkov
	$(BIN)/python -m infra.package --stage $(STAGE)

bench: install
	$(BIN)/python benchmarks/_bench.py

clean:
	rm -rf build .pytest_cache .ruff_cache
