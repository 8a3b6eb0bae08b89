"""
Performance benchmarks of the Luma provider, each next to baselines measured in the same run.

Run them all with ``make bench`` (or ``python -m benchmarks``); the table is printed and written to
``benchmarks/RESULTS.md``. Each ``bench_*`` module measures some figures: its ``run`` function
returns their rows, and ``python -m benchmarks --only NAME`` runs one module alone (``--rounds 1``
for a quick look, whose ratio targets then count as missed).

Helpers: :mod:`._proc` (child processes, interleaved rounds, memory and CPU readings),
:mod:`._emulator` (the emulator in a process of its own), :mod:`._results` (rows, targets and
samples), :mod:`.report` (the table), :mod:`.run` (the runner).
"""

from __future__ import annotations
