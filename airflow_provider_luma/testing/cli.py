"""
``python -m airflow_provider_luma.testing``: run the emulator in the foreground.

When it is ready it prints three lines to stdout (flushed): ``LUMA_EMULATOR_CONTROL_TOKEN=TOKEN``,
the token its ``/_emulator/*`` control routes need in the ``X-Luma-Emulator-Token`` header, then
``LUMA_EMULATOR_URL=http://HOST:PORT/dream-machine/v1`` (the Dream Machine API), then
``LUMA_AGENTS_EMULATOR_URL=http://HOST:PORT/agents/v1`` (the Agents API, same key). The token is
random unless the environment variable ``LUMA_EMULATOR_CONTROL_TOKEN`` sets it (for a harness that
starts it). It stops cleanly on SIGTERM or SIGINT and exits 0. The API key is never printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from airflow_provider_luma.testing.config import EmulatorConfig
from airflow_provider_luma.testing.server import LumaEmulator

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

#: The environment variable that chooses the control token (and the name of the line that prints it).
CONTROL_TOKEN_VARIABLE = "LUMA_EMULATOR_CONTROL_TOKEN"
#: The name of the line that prints the Agents API base URL.
AGENTS_URL_VARIABLE = "LUMA_AGENTS_EMULATOR_URL"


def _seconds_or_range(text: str) -> float | tuple[float, float]:
    """Parse ``"5"`` or ``"2,8"`` (a min,max range)."""
    if "," in text:
        low, high = text.split(",", 1)
        return float(low), float(high)
    return float(text)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_luma.testing",
        description="Run the Luma API emulator (the Dream Machine API and the Agents API).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one")
    parser.add_argument("--api-key", default="test-key", help="the API key to accept (default test-key)")
    parser.add_argument("--queued-seconds", type=float, default=1.0, help="seconds a generation stays queued")
    parser.add_argument(
        "--dreaming-seconds",
        type=_seconds_or_range,
        default=5.0,
        help="seconds a generation stays dreaming, or MIN,MAX to spread completions",
    )
    parser.add_argument(
        "--blocked-word",
        action="extend",
        nargs="+",
        dest="blocked_words",
        metavar="WORD",
        help='a prompt containing it fails with "Contains blacklisted words" (repeatable; default: blocked)',
    )
    parser.add_argument("--credits", type=float, default=None, help="starting credit balance in US cents")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draws")
    parser.add_argument("--rate-limits", action="store_true", help="enforce the Build-tier rate limits")
    parser.add_argument("--public-url", default=None, help="scheme://host:port to use in asset URLs")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """
    Build the emulator settings from parsed arguments.

    :param args: the result of :func:`build_parser`'s ``parse_args``.
    """
    config = EmulatorConfig(
        queued_seconds=args.queued_seconds,
        dreaming_seconds=args.dreaming_seconds,
        seed=args.seed,
        rate_limits=args.rate_limits,
        public_url=args.public_url,
    )
    if args.blocked_words:
        config = config.updated(blocked_words=args.blocked_words)
    if args.credits is not None:
        config = config.updated(credits=args.credits)
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the emulator until SIGTERM/SIGINT; return the exit status.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator = LumaEmulator(
        api_key=args.api_key,
        config=config_from_args(args),
        host=args.host,
        port=args.port,
        control_token=os.environ.get(CONTROL_TOKEN_VARIABLE) or None,
    )
    emulator.start()
    try:
        print(f"{CONTROL_TOKEN_VARIABLE}={emulator.control_token}", flush=True)
        print(f"LUMA_EMULATOR_URL={emulator.base_url}", flush=True)
        print(f"{AGENTS_URL_VARIABLE}={emulator.agents_base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
