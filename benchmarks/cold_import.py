"""Cold import time of ``app.py`` in fresh interpreters (what a Lambda cold start pays
before the first request), with and without compiled bytecode, plus what dominates.

Prints figures; asserts nothing (machines are shared and noisy: read the medians).
Usage: .venv/bin/python benchmarks/cold_import.py [runs]
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JWT_SECRET": "x" * 40, "AWS_DEFAULT_REGION": "us-east-1"}
PROBE = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"


def run(extra_env: dict[str, str], cwd: Path = ROOT, flags: tuple[str, ...] = ()) -> float:
    """Milliseconds ``import app`` takes in a fresh interpreter started in ``cwd``."""
    result = subprocess.run(
        [sys.executable, *flags, "-c", PROBE],
        cwd=cwd,
        env={**ENV, **extra_env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip()) * 1000


def import_cost_by_package(limit: int = 8) -> list[tuple[float, str]]:
    """Self time of every imported module, summed per top-level package."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            package = match.group(2).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1000
    return sorted(((ms, name) for name, ms in totals.items()), reverse=True)[:limit]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    run({})  # compile bytecode into __pycache__ once
    warm = [run({}) for _ in range(runs)]
    cold = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as empty:
            cold.append(run({"PYTHONPYCACHEPREFIX": empty, "PYTHONDONTWRITEBYTECODE": "1"}))
    print(
        f"import app, with bytecode:    median {statistics.median(warm):6.0f} ms  "
        f"(runs: {', '.join(f'{t:.0f}' for t in warm)})"
    )
    print(
        f"import app, without bytecode: median {statistics.median(cold):6.0f} ms  "
        f"(runs: {', '.join(f'{t:.0f}' for t in cold)})"
    )
    print("import self-time by top-level package (-X importtime, one run):")
    for ms, name in import_cost_by_package():
        print(f"  {ms:7.1f} ms  {name}")
    loaded = subprocess.run(
        [sys.executable, "-c", "import app, sys; print(int('kubernetes' in sys.modules))"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"kubernetes imported by app.py: {'yes' if loaded == '1' else 'no'}")


if __name__ == "__main__":
    main()
