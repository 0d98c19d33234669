"""The tag filter runs RE2 with Go's syntax and unanchored MatchString semantics."""

from __future__ import annotations

import pytest

from chalicelib.autoupdate.patterns import compile_pattern
from chalicelib.errors import Invalid

MATCHES = [
    ("", "anything", True),
    ("", "", True),
    (r"^\d+\.\d+\.\d+$", "1.25.3", True),
    (r"^\d+\.\d+\.\d+$", "1.25.3-alpine", False),
    (r"^\d+\.\d+\.\d+$", "v1.25.3", False),
    (r"dev-\d+.\d+.\d+$", "dev-1.2.3", True),
    (r"dev-\d+.\d+.\d+$", "xdev-1.2.3", True),  # unanchored at the start, like Go
    (r"dev-\d+.\d+.\d+$", "dev-1.2.3-rc1", False),
    ("alpine", "1.25.3-alpine-slim", True),  # a search, not a full match
    (r"\d{10}-slim$", "1700000000-slim", True),
    (r"slim-\d{10}$", "slim-1700000000", True),
    ("preview-*", "preview-1700000000", True),
    ("preview-*", "main-1700000000", False),
    (r"(?i)^LATEST$", "latest", True),
    (r"^\Q1.2+\E$", "1.2+", True),  # Go's literal quoting
    (r"^[[:digit:]]+$", "123", True),  # POSIX classes, Go syntax
    (r"^1\.2$", "1.2\n", False),  # $ is the end of the text, unlike Python's re
    (r"^1\.2\z", "1.2", True),  # \z exists in Go/RE2 (Python spells it \Z)
    (r"^\d+$", "١٢٣", False),  # \d is ASCII in Go; Python's re would match Arabic digits
    (r"^\w+$", "é", False),  # so is \w
    (r"^\pL+$", "é", True),  # Unicode classes are explicit
    (r"^(?P<v>\d+)$", "12", True),
    (r"^(?<v>\d+)$", "12", True),  # Go 1.22's named-group syntax
]


@pytest.mark.parametrize(("pattern", "tag", "expected"), MATCHES)
def test_pattern_matches_like_go(pattern: str, tag: str, expected: bool) -> None:
    assert compile_pattern(pattern)(tag) is expected


INVALID = [
    ("(", "missing )"),
    ("[a-", "missing ]"),
    ("*", "no argument for repetition operator"),
    (r"(?=1)\d", "invalid perl operator"),  # look-ahead: Python only
    (r"(?<!v)\d", "invalid"),  # look-behind: Python only
    (r"(\d)\1", "invalid escape sequence"),  # back-references: Python only
    (r"(?P<v>\d)(?P=v)", "invalid"),
    (r"\Z", "invalid escape sequence"),  # Python's spelling of \z
    ("a{1001}", "invalid repetition size"),
    ("((a{100}){100}){100}", "invalid repetition size"),  # nested counts multiply
    (r"\pL{1000}", "pattern too large"),  # over RE2's memory budget, refused not run
]


@pytest.mark.parametrize(("pattern", "reason"), INVALID)
def test_invalid_patterns_are_refused(pattern: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        compile_pattern(pattern)
    message = caught.value.message
    assert message.startswith("pattern is not a valid regular expression: ")
    assert reason in message
    assert caught.value.data == {
        "pattern": {"code": "validation_invalid_pattern", "message": message}
    }


def test_catastrophic_backtracking_pattern_finishes():
    """``(a+)+$`` against a long non-matching string takes exponential time in a
    backtracking engine (Python's re would not finish); RE2 answers at once."""
    matches = compile_pattern(r"(a+)+$")
    assert matches("a" * 100_000 + "!") is False
    assert matches("a" * 100_000) is True
