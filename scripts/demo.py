"""
`make demo`: run example_dags/example_luma_image.py with real Airflow (`airflow dags test`, deferral
included) against the bundled Luma emulator, or against the real API when LUMAAI_API_KEY is set,
and print where the images landed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOME = ROOT / ".airflow-demo"
OUTPUT = ROOT / "demo-output"
DAG_ID = "example_luma_image"


def start_emulator() -> tuple[subprocess.Popen[str], str, str]:
    """Start the emulator on a free port; return the process, its base URL and its API key."""
    api_key = "demo-key"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_luma.testing",
            "--port",
            "0",
            "--api-key",
            api_key,
            "--queued-seconds",
            "1",
            "--dreaming-seconds",
            "3",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("LUMA_EMULATOR_URL="):
            return process, line.strip().split("=", 1)[1], api_key
    process.kill()
    raise SystemExit("The Luma emulator did not start")


def main() -> int:
    real_key = os.environ.get("LUMAAI_API_KEY")
    emulator = None
    if real_key:
        connection = {"conn_type": "luma", "password": real_key}
        print("LUMAAI_API_KEY is set: using the real Luma API (this spends credits)")
    else:
        emulator, base_url, api_key = start_emulator()
        connection = {"conn_type": "luma", "password": api_key, "host": base_url}
        print(f"Luma emulator running at {base_url}")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_LUMA_DEFAULT": json.dumps(connection),
        "LUMA_EXAMPLE_POLL_INTERVAL": "5" if real_key else "1",
        "LUMA_EXAMPLE_OUTPUT_DIR": str(OUTPUT),
    }
    log_path = HOME / "dags-test.log"
    try:
        HOME.mkdir(exist_ok=True)
        with log_path.open("w") as log:
            subprocess.run([BIN / "airflow", "db", "migrate"], env=env, stdout=log, stderr=log, check=True)
            print(f"Running `airflow dags test {DAG_ID}` (log: {log_path})")
            result = subprocess.run(
                [BIN / "airflow", "dags", "test", DAG_ID], env=env, stdout=log, stderr=log
            )
    finally:
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)
    images = sorted(OUTPUT.glob("*")) if OUTPUT.exists() else []
    if result.returncode != 0 or not images:
        print(f"The DAG run failed; see {log_path}")
        return 1
    for image in images:
        print(f"Image saved to {image} ({image.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
