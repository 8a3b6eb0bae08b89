# Two set-up commands: `make demo` and `make test`. Both create .venv when needed, from PyPI only.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Airflow publishes no wheel-only lock we can reach offline, so our own pinned set lives here.
CONSTRAINTS := constraints.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | cksum | cut -d' ' -f1)

.PHONY: venv demo test lint typecheck unit clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c $(CONSTRAINTS) -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: venv
	$(BIN)/python scripts/demo.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
