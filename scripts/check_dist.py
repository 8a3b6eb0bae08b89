"""
Check the built sdist and wheel the way a user meets them (``make dist-check``).

1. The archives in ``dist/`` hold the license, the notice, ``py.typed`` and the provider's
   modules (and no tests in the wheel); ``twine check --strict`` runs before this script.
2. The wheel goes into a fresh virtual environment with Airflow (pinned by ``constraints.txt``),
   and ``airflow providers list`` there shows the provider at the version the wheel carries.
3. That environment has no OpenLineage provider: the operators import and work there, and their
   ``get_openlineage_facets_on_complete`` answers None (lineage is optional).

Usage: ``python scripts/check_dist.py DIST_DIR PYTHON CONSTRAINTS``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "airflow-provider-luma"
NO_OPENLINEAGE_CHECK = """
import importlib.util
assert importlib.util.find_spec("airflow.providers.openlineage") is None, "OpenLineage is installed"
from airflow_provider_luma.operators.luma import LumaImageGenerateOperator
operator = LumaImageGenerateOperator(task_id="t", prompt="a lighthouse at dawn", style_ref=["https://x/a.png"])
assert operator.get_openlineage_facets_on_complete(None) is None
print("LINEAGE-NONE")
"""


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        sys.exit(f"expected one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


def check_wheel(wheel: Path) -> None:
    """
    Require the license files, ``py.typed`` and the modules in the wheel.

    :param wheel: the wheel file.
    """
    names = zipfile.ZipFile(wheel).namelist()
    wanted = ["airflow_provider_luma/py.typed", "airflow_provider_luma/operators/luma.py"]
    wanted += [f"licenses/{name}" for name in ("LICENSE", "NOTICE")]
    missing = [w for w in wanted if not any(n.endswith(w) for n in names)]
    stray = [n for n in names if n.startswith("tests/")]
    if missing or stray:
        sys.exit(f"{wheel.name}: missing {missing}, unexpected {stray[:5]}")
    print(f"{wheel.name}: {len(names)} files, LICENSE, NOTICE and py.typed present")


def check_sdist(sdist: Path) -> None:
    """
    Require the license files, the changelog and the sources in the sdist.

    :param sdist: the ``.tar.gz`` file.
    """
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    wanted = {"LICENSE", "NOTICE", "CHANGELOG.md", "README.md", "pyproject.toml"}
    wanted |= {"airflow_provider_luma/py.typed", "airflow_provider_luma/__init__.py"}
    missing = sorted(wanted - names)
    if missing:
        sys.exit(f"{sdist.name}: missing {missing}")
    print(f"{sdist.name}: {len(names)} files, LICENSE, NOTICE, CHANGELOG.md and py.typed present")


def check_install(wheel: Path, python: str, constraints: Path) -> None:
    """
    Install the wheel into a fresh venv with Airflow and find the provider in ``providers list``.

    :param wheel: the wheel file.
    :param python: the interpreter for the new venv.
    :param constraints: the pins to install Airflow with.
    """
    version = wheel.name.split("-")[1]
    with tempfile.TemporaryDirectory(prefix="luma-dist-check-") as tmp:
        venv = Path(tmp, "venv")
        subprocess.run(["uv", "venv", "--quiet", "--python", python, str(venv)], check=True)
        python_in_venv = str(venv / "bin" / "python")
        install = ["uv", "pip", "install", "--quiet", "--python", python_in_venv, "-c", str(constraints)]
        subprocess.run([*install, str(wheel)], check=True)
        env = {**os.environ, "AIRFLOW_HOME": str(Path(tmp, "airflow-home"))}
        env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
        listed = subprocess.run(
            [str(venv / "bin" / "airflow"), "providers", "list", "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        providers = {item["package_name"]: item["version"] for item in json.loads(listed.stdout)}
        if providers.get(PACKAGE) != version:
            sys.exit(f"airflow providers list shows {PACKAGE} {providers.get(PACKAGE)!r}, wanted {version}")
        airflow = subprocess.run(
            [str(venv / "bin" / "airflow"), "version"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"fresh venv (Airflow {airflow}): airflow providers list shows {PACKAGE} {version}")
        without_openlineage = subprocess.run(
            [str(venv / "bin" / "python"), "-c", NO_OPENLINEAGE_CHECK],
            env=env,
            capture_output=True,
            text=True,
        )
        if without_openlineage.returncode != 0 or "LINEAGE-NONE" not in without_openlineage.stdout:
            sys.exit(f"without the OpenLineage provider: {without_openlineage.stderr[-2000:]}")
        print("fresh venv: no OpenLineage provider; operators import, lineage answers None")


def main() -> None:
    """Run the three checks on ``sys.argv``'s dist folder, interpreter and constraints."""
    dist, python, constraints = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]).resolve()
    wheel = _one(dist, "*.whl")
    check_wheel(wheel)
    check_sdist(_one(dist, "*.tar.gz"))
    check_install(wheel.resolve(), python, constraints)


if __name__ == "__main__":
    main()
