# Two set-up commands: `make demo` and `make test`. Both create their environments when needed,
# from PyPI only. .venv runs Airflow 3.3 (everything); .venv-airflow2 runs the suite on Airflow 2.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV2 := .venv-airflow2
BIN2 := $(VENV2)/bin
# The pinned sets we test with (Airflow's own constraint files are not reachable from here).
CONSTRAINTS := constraints.txt
CONSTRAINTS2 := constraints-airflow2.txt
comma := ,
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | cksum | cut -d' ' -f1)
STAMP2 := $(VENV2)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS2) | cksum | cut -d' ' -f1)

.PHONY: venv venv-airflow2 demo test lint typecheck unit unit-airflow2 clean

venv: $(STAMP)
venv-airflow2: $(STAMP2)

# $(1): venv folder, $(2): constraints file, $(3): extra requirement pinning Airflow, $(4): extras.
define make_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip uv
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python -c $(2) -e ".[$(4)]" $(3)
	@rm -f $(1)/.installed-*
	@touch $@
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(call make_venv,$(VENV),$(CONSTRAINTS),,dev$(comma)e2e)

$(STAMP2): pyproject.toml $(CONSTRAINTS2)
	$(call make_venv,$(VENV2),$(CONSTRAINTS2),"apache-airflow==2.11.2",dev)

demo: venv
	$(BIN)/python scripts/demo.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest -q

# The oldest Airflow we support; the slow chaos and 200 MB runs are left to the 3.3 run.
unit-airflow2: venv-airflow2
	$(BIN2)/python -m pytest -q -m "not slow" -p no:cacheprovider

test: lint typecheck unit unit-airflow2

clean:
	rm -rf $(VENV) $(VENV2) .pytest_cache .mypy_cache .ruff_cache

# The provider in a running Airflow: api-server, scheduler, dag-processor and triggerer as separate
# processes (LocalExecutor, SQLite) against the Luma emulator. See tests/e2e/conftest.py.
.PHONY: e2e chromium
e2e: venv chromium
	LUMA_E2E=1 $(BIN)/python -m pytest tests/e2e -q -p no:cacheprovider -rxX

# Performance figures next to baselines measured in the same run (about 6 min on 2 cores):
# prints the table and writes benchmarks/RESULTS.md. See benchmarks/__init__.py.
.PHONY: bench
bench: venv
	$(BIN)/python -m benchmarks

# The browser tests drive Debian's chromium (a browser build of its own is never downloaded).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
