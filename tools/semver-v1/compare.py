"""Run the semver unit tables through Masterminds semver v1.5.0, the Go library the original
backend used, and print where we differ. The known differences are the deliberate ones
(``chalicelib/autoupdate/semver.py``, rows marked ``# v1:`` in the tests); any other
difference is a bug, and the exit status is 1.

Usage: .venv/bin/python tools/semver-v1/compare.py   (needs Go; fetches the module once)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]

from test_autoupdate_semver import ASCENDING, CONSTRAINTS, NOT_VERSIONS, PARSED  # noqa: E402

from chalicelib.autoupdate.semver import parse_constraint, parse_version  # noqa: E402

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
}


def ours(question: list[str]) -> str:
    kind, *args = question
    if kind == "V":
        version = parse_version(args[0])
        return str(version) if version else "VERR"
    if kind == "L":
        a, b = parse_version(args[0]), parse_version(args[1])
        return "VERR" if a is None or b is None else str(a < b).lower()
    try:
        constraint = parse_constraint(args[0])
    except ValueError:
        return "CERR"
    version = parse_version(args[1])
    return "VERR" if version is None else str(constraint.check(version)).lower()


def questions() -> list[list[str]]:
    asked = [["V", text] for text, _ in PARSED] + [["V", text] for text in NOT_VERSIONS]
    asked += [["L", a, b] for a, b in zip(ASCENDING, ASCENDING[1:], strict=False)]
    for text, satisfy, fail in CONSTRAINTS:
        asked += [["C", text, version] for version in satisfy + fail]
    return asked


def main() -> int:
    asked = questions()
    result = subprocess.run(  # noqa: S603 - our own program, fixed arguments
        ["go", "run", "."],  # noqa: S607 - go from PATH, as tools/kube does
        cwd=HERE,
        input="".join("\t".join(question) + "\n" for question in asked),
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = result.stdout.splitlines()
    unexpected = 0
    for question, answer in zip(asked, theirs, strict=True):
        mine = ours(question)
        if mine != answer:
            deliberate = question[0] == "C" and question[1] in DELIBERATE
            unexpected += not deliberate
            label = "deliberate" if deliberate else "UNEXPECTED"
            print(f"{label:<10} {' | '.join(question)}: ours {mine}, v1.5.0 {answer}")
    print(f"{len(asked)} questions, {unexpected} unexpected differences")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
