# Two set-up commands: `make demo` and `make test`. Both create their environments when needed,
# from PyPI only, with the Pythons that pyenv provides (`pyenv install 3.13 3.12 3.11 3.10` on a new
# machine). The supported matrix is Python 3.10-3.13 x Airflow 2.11-3.3; CI runs every Airflow
# minor, each on one Python:
#   .venv             Python 3.13, Airflow 3.3, pinned by constraints.txt: everything (tests, e2e,
#                     docs, bench, dist-check, demo).
#   .venv-airflow2    Python 3.10, Airflow 2.11, every direct dependency at the lowest version the
#                     resolver allows (uv's lowest-direct resolution), pinned by constraints-airflow2.txt.
#   .venv-airflow3.N  Airflow 3.0 (Python 3.11), 3.1 and 3.2 (Python 3.12), each pinned by
#                     constraints-airflow3.N.txt.
# `make constraints` re-resolves every pinned set from pyproject.toml.

# The interpreter for a Python version: pyenv's if it has one, else pythonX.Y on PATH.
find_python = $(or $(addsuffix /bin/python,$(firstword $(shell pyenv prefix $(1) 2>/dev/null))),$(shell command -v python$(1) 2>/dev/null))
PYTHON_NEW ?= $(call find_python,3.13)
PYTHON_OLD ?= $(call find_python,3.10)
PYTHON_3.11 ?= $(call find_python,3.11)
PYTHON_3.12 ?= $(call find_python,3.12)
VENV := .venv
BIN := $(VENV)/bin
VENV2 := .venv-airflow2
BIN2 := $(VENV2)/bin
# The pinned sets we test with (Airflow's own constraint files are not reachable from here).
CONSTRAINTS := constraints.txt
CONSTRAINTS2 := constraints-airflow2.txt
EXTRAS := dev,docs,bench,dist,e2e
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) | cksum | cut -d' ' -f1)
STAMP2 := $(VENV2)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS2) | cksum | cut -d' ' -f1)
export UV_PYTHON_DOWNLOADS := never
# .venv-distributed: Airflow 3.3 with Celery, PostgreSQL drivers, the Amazon provider and moto.
VENV3 := .venv-distributed
CONSTRAINTS3 := constraints-distributed.txt
STAMP3 := $(VENV3)/.installed-$(shell cat pyproject.toml $(CONSTRAINTS) $(CONSTRAINTS3) | cksum | cut -d' ' -f1)
DISTRIBUTED_PACKAGES := apache-airflow-providers-celery "apache-airflow-providers-amazon[s3fs]" \
	psycopg2-binary asyncpg "moto[server]"

.PHONY: venv venv-airflow2 venv-distributed demo test lint typecheck unit unit-airflow2 clean constraints

venv: $(STAMP)
venv-airflow2: $(STAMP2)
venv-distributed: $(STAMP3)

# $(1): venv folder, $(2): interpreter, $(3): its version, $(4): uv pip install arguments.
# A venv left from another Python version is made again.
define make_venv
	@test -n "$(2)" && test -x "$(2)" || { echo "error: no Python $(3) found (tried 'pyenv prefix $(3)' and python$(3) on PATH); install it with 'pyenv install $(3)' or pass PYTHON_$(or $(if $(filter 3.10,$(3)),OLD),$(if $(filter 3.13,$(3)),NEW),$(3))=/path/to/python$(3)" >&2; exit 1; }
	@$(1)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(3)".split("."))))' 2>/dev/null || { rm -rf $(1) && $(2) -m venv $(1); }
	$(1)/bin/python -m pip install --quiet --upgrade pip uv
	$(1)/bin/uv pip install --quiet --python $(1)/bin/python $(4)
	@rm -f $(1)/.installed-*
	@touch $@
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(call make_venv,$(VENV),$(PYTHON_NEW),3.13,-c $(CONSTRAINTS) -e ".[$(EXTRAS)]")

$(STAMP2): pyproject.toml $(CONSTRAINTS2)
	$(call make_venv,$(VENV2),$(PYTHON_OLD),3.10,--resolution lowest-direct -c $(CONSTRAINTS2) -e ".[dev]")

# Re-resolve the two pinned sets (after changing a dependency or a floor in pyproject.toml).
constraints: venv
	$(BIN)/uv pip compile --quiet --no-header --no-annotate --python $(PYTHON_NEW) \
		pyproject.toml $(addprefix --extra ,$(subst $(comma), ,$(EXTRAS))) -o $(CONSTRAINTS)
	@# From scratch: an existing output file would be taken as preferences over the floors.
	rm -f $(CONSTRAINTS2)
	$(BIN)/uv pip compile --quiet --no-header --no-annotate --python $(PYTHON_OLD) \
		--resolution lowest-direct pyproject.toml --extra dev -o $(CONSTRAINTS2)
	$(foreach minor,$(AIRFLOW3_MINORS),echo "apache-airflow==$(AIRFLOW_$(minor))" | \
		$(BIN)/uv pip compile --quiet --no-header --no-annotate --python $(PYTHON_$(PY_$(minor))) \
		--exclude-newer $(CUTOFF_$(minor)) $(foreach p,$(NEWER_$(minor)),--exclude-newer-package $(p)=$(RESOLVED)) \
		pyproject.toml - --extra dev -o constraints-airflow$(minor).txt;)

comma := ,

# constraints.txt with its python-dateutil pin replaced by constraints-distributed.txt's (botocore
# needs python-dateutil<3), plus the pins of the distributed run's extra packages.
$(STAMP3): pyproject.toml $(CONSTRAINTS) $(CONSTRAINTS3)
	@mkdir -p build
	grep -v '^python-dateutil==' $(CONSTRAINTS) | cat - $(CONSTRAINTS3) > build/constraints-distributed-all.txt
	$(call make_venv,$(VENV3),$(PYTHON_NEW),3.13,-c build/constraints-distributed-all.txt -e ".[dev]" $(DISTRIBUTED_PACKAGES))

# Airflow 3.0, 3.1 and 3.2: each minor's latest release on one Python, pinned by
# constraints-airflow3.N.txt. Airflow's own constraint files (every package as PyPI had it the day
# that Airflow was released) are not reachable from here, so uv resolves the same way: nothing
# uploaded after CUTOFF_3.N (the day after that release reached PyPI), except NEWER_3.N: the
# provider's own dependencies whose floors came later, and what they need.
AIRFLOW3_MINORS := 3.0 3.1 3.2
AIRFLOW_3.0 := 3.0.6
AIRFLOW_3.1 := 3.1.8
AIRFLOW_3.2 := 3.2.2
PY_3.0 := 3.11
PY_3.1 := 3.12
PY_3.2 := 3.12
CUTOFF_3.0 := 2025-08-30
CUTOFF_3.1 := 2026-03-12
CUTOFF_3.2 := 2026-05-30
NEWER_3.0 := apache-airflow-providers-common-compat lumaai luma-agents apache-airflow-providers-openlineage \
	openlineage-integration-common openlineage-python
NEWER_3.1 := apache-airflow-providers-common-compat lumaai luma-agents
NEWER_3.2 := apache-airflow-providers-common-compat luma-agents
# The day the NEWER_ packages were resolved (uv needs a date for them too).
RESOLVED := 2026-12-04

# $(1): the Airflow minor.
define airflow3_minor
VENV_$(1) := .venv-airflow$(1)
CONSTRAINTS_$(1) := constraints-airflow$(1).txt
STAMP_$(1) := $$(VENV_$(1))/.installed-$$(shell cat pyproject.toml $$(CONSTRAINTS_$(1)) | cksum | cut -d' ' -f1)
.PHONY: venv-airflow$(1) unit-airflow$(1)
venv-airflow$(1): $$(STAMP_$(1))
$$(STAMP_$(1)): pyproject.toml $$(CONSTRAINTS_$(1))
	$$(call make_venv,$$(VENV_$(1)),$$(PYTHON_$(PY_$(1))),$(PY_$(1)),-c $$(CONSTRAINTS_$(1)) -e ".[dev]")
unit-airflow$(1): venv-airflow$(1)
	$$(VENV_$(1))/bin/python -m pytest -q -m "not slow and not airflow_agnostic" -p no:cacheprovider
endef
$(foreach minor,$(AIRFLOW3_MINORS),$(eval $(call airflow3_minor,$(minor))))

demo: venv
	$(BIN)/python scripts/demo.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/python -m pytest -q

# The oldest corner (Python 3.10, Airflow 2.11, dependency floors); the slow chaos and 200 MB
# runs are left to the 3.3 run, here and on Airflow 3.0-3.2 (unit-airflow3.N, defined above).
unit-airflow2: venv-airflow2
	$(BIN2)/python -m pytest -q -m "not slow" -p no:cacheprovider

# Every Airflow minor's suite. `make test` runs three at a time: they mostly wait (on the
# emulator's generations, on Airflow's task runs), so two cores idled at about 85% with two. The
# longest first (3.3, with the slow tests); then 3.2 and 3.1; the slot that frees first takes 3.0,
# the next 2.11.
UNIT_SUITES := unit unit-airflow3.2 unit-airflow3.1 unit-airflow3.0 unit-airflow2
.PHONY: unit-all
unit-all: $(UNIT_SUITES)

test: lint typecheck
	$(MAKE) --no-print-directory -j3 --output-sync=target unit-all

clean:
	rm -rf $(VENV) $(VENV2) $(VENV3) $(foreach minor,$(AIRFLOW3_MINORS),$(VENV_$(minor))) \
		.pytest_cache .mypy_cache .ruff_cache

# The provider in a running Airflow: api-server, scheduler, dag-processor and triggerer as separate
# processes (LocalExecutor, SQLite) against the Luma emulator. See tests/e2e/conftest.py.
.PHONY: e2e chromium e2e-deferral-race
e2e: venv chromium
	LUMA_E2E=1 $(BIN)/python -m pytest tests/e2e -q -p no:cacheprovider -rxX

# An experiment, not part of CI (about 15 min): which way keeps Airflow from failing the tasks of
# fast generations that defer from a worker. Prints a table; see tests/e2e/test_e2e_9_deferral_race.py.
e2e-deferral-race: venv
	LUMA_E2E=1 LUMA_E2E_EXPERIMENTS=1 $(BIN)/python -m pytest tests/e2e/test_e2e_9_deferral_race.py \
		-q -p no:cacheprovider -rxX

# Performance figures next to baselines measured in the same run (about 18 min on 2 cores):
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

# The release artefacts as a user meets them: build the sdist and wheel, `twine check` them, look
# for LICENSE, NOTICE and py.typed, install the wheel into a fresh Airflow venv and find the
# provider in `airflow providers list`. See scripts/check_dist.py.
.PHONY: dist dist-check
dist: venv
	rm -rf dist
	$(BIN)/uv build --quiet --out-dir dist
dist-check: dist
	$(BIN)/twine check --strict dist/*
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/check_dist.py dist $(PYTHON_NEW) $(CONSTRAINTS)

# The documentation site (Sphinx, warnings are errors): docs/_build/html/index.html.
.PHONY: docs
docs: venv
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The browser tests drive Debian's chromium (a browser build of its own is never downloaded).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }
