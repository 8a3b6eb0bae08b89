"""``python -m benchmarks``: run every benchmark and write ``benchmarks/RESULTS.md``."""

from __future__ import annotations

from benchmarks.run import main

if __name__ == "__main__":
    raise SystemExit(main())
