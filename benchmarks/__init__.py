"""
Performance benchmarks of the Luma provider, each next to baselines measured in the same run.

Run them all with ``make bench`` (or ``python -m benchmarks``); the table is printed and written to
``benchmarks/RESULTS.md``. Each ``bench_*`` module measures one figure and can run on its own::

    python -m benchmarks.bench_import_cost --out /tmp/rows.json

Helpers: :mod:`._proc` (processes, memory and CPU readings), :mod:`._emulator` (the emulator in a
process of its own), :mod:`._results` (rows and targets), :mod:`.report` (the table),
:mod:`.run` (the runner).
"""

from __future__ import annotations
