"""Run the unit tables for tag patterns and semver through the Go libraries the original
backend used (``regexp`` and Masterminds semver v1.5.0) and print where we differ.

The known differences are the deliberate ones (``chalicelib/autoupdate/semver.py``, rows
marked ``# v1:`` in ``tests/unit/test_autoupdate_semver.py``, RE2's memory budget for
patterns); any other difference is a bug, and the exit status is 1.

Usage: .venv/bin/python tools/go-reference/compare.py   (needs Go; fetches the module once)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]

from test_autoupdate_patterns import INVALID, MATCHES  # noqa: E402
from test_autoupdate_semver import ASCENDING, CONSTRAINTS, NOT_VERSIONS, PARSED  # noqa: E402

from chalicelib.autoupdate.patterns import compile_pattern  # noqa: E402
from chalicelib.autoupdate.semver import parse_constraint, parse_version  # noqa: E402
from chalicelib.errors import Invalid  # noqa: E402

DELIBERATE = {
    "!=1.2.3",
    ">1.2.x",
    ">1",
    "<1.25.x",
    "1.2",
    ">=1.24.x, <1.25.x",
    ">=1.24.x,<1.25.x",
    ">=1.24 <1.25",
    "^0.2.3",
    "^0.2",
    "^0.0.3",
    "^0.0",
    "^0.0.x",
    "^*",
    "1.2 - 1.4",
    ">=1.2.11-rc.0, <1.3.0",
    # RE2 refuses what it cannot compile within its 8 MiB budget; Go has no such limit.
    r"\pL{1000}",
}


def _version(text: str) -> str:
    version = parse_version(text)
    return str(version) if version else "VERR"


def _less(a: str, b: str) -> str:
    first, second = parse_version(a), parse_version(b)
    return "VERR" if first is None or second is None else str(first < second).lower()


def _check(constraint_text: str, version_text: str) -> str:
    try:
        constraint = parse_constraint(constraint_text)
    except ValueError:
        return "CERR"
    version = parse_version(version_text)
    return "VERR" if version is None else str(constraint.check(version)).lower()


def _match(pattern: str, tag: str) -> str:
    try:
        return str(compile_pattern(pattern)(tag)).lower()
    except Invalid:
        return "RERR"


def ours(question: list[str]) -> str:
    kind, *args = question
    return {"V": _version, "L": _less, "C": _check, "R": _match}[kind](*args)


def questions() -> list[list[str]]:
    asked = [["V", text] for text, _ in PARSED] + [["V", text] for text in NOT_VERSIONS]
    asked += [["L", a, b] for a, b in zip(ASCENDING, ASCENDING[1:], strict=False)]
    for text, satisfy, fail in CONSTRAINTS:
        asked += [["C", text, version] for version in satisfy + fail]
    asked += [["R", pattern, tag] for pattern, tag, _ in MATCHES]
    asked += [["R", pattern, ""] for pattern, _ in INVALID]
    return asked


def main() -> int:
    asked = questions()
    result = subprocess.run(  # noqa: S603 - our own program, fixed arguments
        ["go", "run", "."],  # noqa: S607 - go from PATH, as tools/kube does
        cwd=HERE,
        input="".join(json.dumps(question) + "\n" for question in asked),
        capture_output=True,
        text=True,
        check=True,
    )
    unexpected = 0
    for question, answer in zip(asked, result.stdout.splitlines(), strict=True):
        mine = ours(question)
        if mine != answer:
            deliberate = question[0] in ("C", "R") and question[1] in DELIBERATE
            unexpected += not deliberate
            label = "deliberate" if deliberate else "UNEXPECTED"
            print(f"{label:<10} {json.dumps(question)}: ours {mine}, Go {answer}")
    print(f"{len(asked)} questions, {unexpected} unexpected differences")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
