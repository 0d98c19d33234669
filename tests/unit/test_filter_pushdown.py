"""Which filter terms DynamoDB may check itself: only those every match must satisfy and
that it compares exactly as PocketBase does."""

from __future__ import annotations

import pytest

from chalicelib.records.filter import required_equalities
from chalicelib.records.schema import ROLLOUTS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deployment = 'abc'", {"deployment": "abc"}),
        ("deployment='abc' && hide=false", {"deployment": "abc", "hide": False}),
        ('startDate = "2026-01-01 00:00:00.000Z"', {"startDate": "2026-01-01 00:00:00.000Z"}),
        ("project = 'it\\'s'", {"project": "it's"}),
        ("deployment = 'a' || hide = true", {}),  # a disjunction: no term is required
        ("(deployment = 'a') && hide = true", {}),  # parentheses: left to the filter
        ("deployment != 'a'", {}),
        ("deployment = ''", {}),  # "" is also a missing attribute
        ("deployment ~ 'a'", {}),
        ("hide = 1", {}),  # a number against a bool: not the same comparison
        ("endDate = 5", {}),
        ("'abc' = deployment", {}),
        ("id = 'abc'", {}),  # not a schema field
    ],
)
def test_required_equalities(text: str, expected: dict[str, object]) -> None:
    assert required_equalities(text, ROLLOUTS) == expected
