"""The filter subset: precedence, literals, LIKE, null, and refusal of the rest."""

from __future__ import annotations

import pytest

from chalicelib.errors import BadRequest
from chalicelib.records.filter import compile_filter
from chalicelib.records.schema import BLUEPRINTS, PROJECTS, ROLLOUTS

ROWS = [
    {
        "id": "a" * 15,
        "name": "Web Shop",
        "tags": "web",
        "description": "",
        "created": "2024-01-01 00:00:00.000Z",
    },
    {
        "id": "b" * 15,
        "name": "db",
        "tags": "db,backup",
        "description": "50% off",
        "created": "2025-06-01 00:00:00.000Z",
    },
]


def names(text: str) -> list[str]:
    predicate = compile_filter(text, PROJECTS)
    return [r["name"] for r in ROWS if predicate(r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'db'", ["db"]),
        ('name != "db"', ["Web Shop"]),
        ("name ~ 'shop'", ["Web Shop"]),  # LIKE is case-insensitive
        ("name !~ 'shop'", ["db"]),
        ("tags ~ 'back%'", []),  # an explicit % anchors the other end
        ("tags ~ 'db%'", ["db"]),
        ("description ~ '50\\% off'", ["db"]),
        ("name ~ 'w_b'", []),  # without a %, _ is a plain character (PocketBase escapes it)
        ("name ~ 'w_b%'", ["Web Shop"]),  # with one, the value is the pattern: _ is any one
        ("name ~ '%\\_%'", []),  # an escaped _ stays literal
        ("description = null", ["Web Shop"]),
        ("description != null", ["db"]),
        ("created > '2024-06-01'", ["db"]),
        ("created <= '2024-01-01 00:00:00.000Z'", ["Web Shop"]),
        ("name = 'x' || name = 'db' && tags = 'nope'", []),  # && binds tighter
        ("(name = 'x' || name = 'db') && tags ~ 'db'", ["db"]),
        ("", ["Web Shop", "db"]),
        ("id = 'aaaaaaaaaaaaaaa'", ["Web Shop"]),
    ],
)
def test_supported_expressions(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_booleans_and_numbers() -> None:
    predicate = compile_filter("hide = true", ROLLOUTS)
    assert predicate({"hide": True}) and not predicate({"hide": False})
    assert compile_filter("private = false", BLUEPRINTS)({"private": False})
    assert compile_filter("name = 5", PROJECTS)({"name": "5"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name ?= 'a'", "any-of"),
        ("user.name = 'a'", "relation paths"),
        ("name:lower = 'a'", "modifiers"),
        ("@request.auth.id = 'a'", "@request"),
        ("@collection.users.id = 'a'", "@collection"),
        ("secret = 'a'", "unknown field"),
        ("users = 'a'", "unknown field"),
        ("(name = 'a'", "closing"),
        ("name = 'a')", "unexpected"),
        ("name = 'a' &&", "end of expression"),
        ("name", "end of expression"),
        ("name = 'a' name = 'b'", "unexpected"),
        ("name # 'a'", "unexpected character"),
        ("'a' 'b'", "operator"),
        ("(" * 40 + "name = 'a'" + ")" * 40, "nested"),
        ("name = '" + "x" * 4000 + "'", "longer"),
    ],
)
def test_unsupported_or_malformed_filters_say_why(text: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        compile_filter(text, PROJECTS)
    assert fragment in caught.value.message
    assert caught.value.status == 400


def test_multi_value_and_json_filters_are_refused() -> None:
    with pytest.raises(BadRequest, match="multi-value"):
        compile_filter("users = 'a'", BLUEPRINTS)
    with pytest.raises(BadRequest, match="JSON"):
        compile_filter("manifest = 'a'", ROLLOUTS)
