#!/usr/bin/env bash
# What installing the provider's wheel adds to a fresh Airflow environment, per Python and Airflow
# version: `pip freeze` before and after, diffed. Usage: scripts/install_footprint.sh dist/*.whl
# (build the wheel with `make dist`). Needs uv and pyenv's Python 3.10 and 3.13.
set -euo pipefail
wheel=$(realpath "$1")
work=$(mktemp -d -t luma-footprint-XXXX)
trap 'rm -rf "$work"' EXIT
export UV_PYTHON_DOWNLOADS=never
for spec in "3.13 apache-airflow==3.3.2" "3.10 apache-airflow==3.3.2" "3.10 apache-airflow==2.11.2"; do
    read -r python airflow <<<"$spec"
    venv="$work/venv-$python-${airflow#*==}"
    uv venv --quiet --python "$(pyenv prefix "$python")/bin/python" "$venv"
    uv pip install --quiet --python "$venv/bin/python" "$airflow"
    uv pip freeze --python "$venv/bin/python" | sort >"$venv.before"
    uv pip install --quiet --python "$venv/bin/python" "$airflow" "$wheel"
    uv pip freeze --python "$venv/bin/python" | sort >"$venv.after"
    echo "== Python $python, $airflow: the provider adds"
    comm -13 "$venv.before" "$venv.after" | grep -v '^airflow-provider-luma' || echo "(nothing)"
done
