"""The Lambda bundle of a stage: its size zipped and unzipped, and the cold import time of the
REST handler (``app.py``) from the unzipped bundle with and without the precompiled bytecode.

Each import runs in a fresh interpreter with ``-S`` (only the bundle and the standard library,
like Lambda's /var/task) and ``PYTHONDONTWRITEBYTECODE`` (Lambda cannot write ``.pyc``), so
without the bundled bytecode every run compiles every module again, as a cold start would.
Prints figures; asserts nothing. Usage: .venv/bin/python benchmarks/bundle.py [runs] [stage]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_env import ROOT  # noqa: F401 - puts the project on sys.path first
from cold_import import run

from infra.package import package

NO_BYTECODE_WRITES = {"PYTHONDONTWRITEBYTECODE": "1"}


def median_import_ms(root: Path, runs: int) -> tuple[float, list[float]]:
    times = [run(NO_BYTECODE_WRITES, cwd=root, flags=("-S",)) for _ in range(runs)]
    return statistics.median(times), times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    stage = sys.argv[2] if len(sys.argv) > 2 else "dev"
    with tempfile.TemporaryDirectory(prefix="bundle-bench-") as work:
        artifacts = package(stage, Path(work) / stage)
        size = artifacts.size
        with_bytecode = Path(work) / "with"
        shutil.unpack_archive(artifacts.bundle, with_bytecode, "zip")
        without_bytecode = Path(work) / "without"
        shutil.copytree(with_bytecode, without_bytecode)
        for cache in list(without_bytecode.rglob("__pycache__")):
            shutil.rmtree(cache)
        source_only = sum(p.stat().st_size for p in without_bytecode.rglob("*") if p.is_file())
        print(f"bundle of stage {stage}: {size.files} files, {size.bytecode_files} of them .pyc")
        print(f"  zipped:   {size.zipped / 1e6:6.1f} MB (direct upload limit 50 MB)")
        print(
            f"  unzipped: {size.unzipped / 1e6:6.1f} MB (limit 250 MB; "
            f"{(size.unzipped - source_only) / 1e6:.1f} MB of it bytecode)"
        )
        for label, root in (
            ("with bytecode", with_bytecode),
            ("without bytecode", without_bytecode),
        ):
            median, times = median_import_ms(root, runs)
            print(
                f"import app from the bundle, {label + ':':18} median {median:6.0f} ms  "
                f"(runs: {', '.join(f'{t:.0f}' for t in times)})"
            )


if __name__ == "__main__":
    main()
