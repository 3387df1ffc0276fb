"""Run the benchmarks: `python -m bench [NAME ...]` (NAME is the part after `bench_`)."""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"Unknown benchmark(s) {unknown}; available: {available()}")
        return 2
    failed = []
    for name in names:
        print(f"=== bench_{name} ===", flush=True)
        start = time.perf_counter()
        try:
            importlib.import_module(f"bench.bench_{name}").main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        # to stderr, so each benchmark's own figure stays the last line of its output
        print(f"(bench_{name} took {time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
