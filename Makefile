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
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | cksum | cut -d' ' -f1)
STAMP2 := $(VENV2)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS2) | cksum | cut -d' ' -f1)
# .venv-distributed: Airflow 3.3 with Celery, PostgreSQL drivers, the Amazon provider and moto.
VENV3 := .venv-distributed
CONSTRAINTS3 := constraints-distributed.txt
STAMP3 := $(VENV3)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) $(CONSTRAINTS3) | cksum | cut -d' ' -f1)
DISTRIBUTED_PACKAGES := apache-airflow-providers-celery "apache-airflow-providers-amazon[s3fs]" \
	psycopg2-binary asyncpg "moto[server]"

.PHONY: venv venv-airflow2 venv-distributed demo test lint typecheck unit unit-airflow2 clean

venv: $(STAMP)
venv-airflow2: $(STAMP2)
venv-distributed: $(STAMP3)

# $(1): venv folder, $(2): constraints file, $(3): extra requirement pinning Airflow.
define make_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip uv
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python -c $(2) -e ".[dev]" $(3)
	@rm -f $(1)/.installed-*
	@touch $@
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(call make_venv,$(VENV),$(CONSTRAINTS),)

$(STAMP2): pyproject.toml $(CONSTRAINTS2)
	$(call make_venv,$(VENV2),$(CONSTRAINTS2),"apache-airflow==2.11.2")

# constraints.txt with its python-dateutil pin replaced by constraints-distributed.txt's (botocore
# needs python-dateutil<3), plus the pins of the distributed run's extra packages.
$(STAMP3): pyproject.toml $(CONSTRAINTS) $(CONSTRAINTS3)
	@mkdir -p $(VENV3)
	grep -v '^python-dateutil==' $(CONSTRAINTS) | cat - $(CONSTRAINTS3) > $(VENV3)/constraints.txt
	$(call make_venv,$(VENV3),$(VENV3)/constraints.txt,$(DISTRIBUTED_PACKAGES))

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
	rm -rf $(VENV) $(VENV2) $(VENV3) .pytest_cache .mypy_cache .ruff_cache

# The provider in a running Airflow: api-server, scheduler, dag-processor and triggerer as separate
# processes (LocalExecutor, SQLite) against the Luma emulator. See tests/e2e/conftest.py.
.PHONY: e2e
e2e: venv
	LUMA_E2E=1 $(BIN)/python -m pytest tests/e2e -q -p no:cacheprovider -rxX

# Performance figures next to baselines measured in the same run (about 6 min on 2 cores):
# prints the table and writes benchmarks/RESULTS.md. See benchmarks/__init__.py.
.PHONY: bench
bench: venv
	$(BIN)/python -m benchmarks

# The provider in a distributed Airflow: PostgreSQL, Redis and CeleryExecutor, two Celery workers
# in network namespaces of their own, two triggerers, moto as S3, the Luma emulator with rate
# limits; crash scenarios and the rate-limit table (about 17 min on 2 cores; run as root: it
# installs missing Debian packages and makes network namespaces). See tests/e2e_distributed/.
.PHONY: e2e-distributed
e2e-distributed: venv-distributed
	bash scripts/e2e_distributed.sh $(VENV3)/bin/python
