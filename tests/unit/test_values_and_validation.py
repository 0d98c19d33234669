"""Ids, dates and field casting follow PocketBase's formats and limits."""

from __future__ import annotations

import re

import pytest

from chalicelib.errors import Invalid
from chalicelib.records import values
from chalicelib.records.schema import BLUEPRINTS, PROJECTS, ROLLOUTS
from chalicelib.records.validation import apply_body, check_record, empty_record


def test_ids_are_15_lowercase_alphanumerics_and_distinct() -> None:
    ids = {values.new_id() for _ in range(500)}
    assert len(ids) == 500 and all(re.fullmatch(r"[a-z0-9]{15}", i) for i in ids)
    assert values.is_record_id("abc123abc123abc")
    assert not values.is_record_id("ABC123ABC123ABC") and not values.is_record_id("short")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-05-01T12:00:00.000Z", "2024-05-01 12:00:00.000Z"),
        ("2024-05-01T14:00:00+02:00", "2024-05-01 12:00:00.000Z"),
        ("2024-05-01 12:00:00.123Z", "2024-05-01 12:00:00.123Z"),
        ("2024-05-01 12:00:00", "2024-05-01 12:00:00.000Z"),
        ("", ""),
    ],
)
def test_dates_normalize_to_pocketbase_format(given: str, expected: str) -> None:
    assert values.normalize_date(given) == expected


def test_now_has_pocketbase_format() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z", values.now())


def test_casting_like_pocketbase() -> None:
    record, errors = apply_body(
        ROLLOUTS,
        empty_record(ROLLOUTS),
        {
            "hide": "true",
            "startDate": "2024-01-01T00:00:00Z",
            "manifest": '{"k": 1}',
            "project": ["p" * 15],
            "unknown": 1,
        },
    )
    assert errors == {}
    assert record["hide"] is True and record["startDate"] == "2024-01-01 00:00:00.000Z"
    assert record["manifest"] == {"k": 1} and record["project"] == "p" * 15
    assert "unknown" not in record


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"hide": "maybe"}, "hide", "validation_invalid_value"),
        ({"startDate": "yesterday"}, "startDate", "validation_invalid_date"),
        ({"manifest": "{bad"}, "manifest", "validation_invalid_value"),
        ({"project": 5}, "project", "validation_invalid_value"),
    ],
)
def test_bad_types_are_field_errors(body: dict, field: str, code: str) -> None:
    _, errors = apply_body(ROLLOUTS, empty_record(ROLLOUTS), body)
    assert errors[field]["code"] == code


def test_required_and_limits_are_reported_together() -> None:
    record, errors = apply_body(PROJECTS, empty_record(PROJECTS), {"name": "x" * 21})
    with pytest.raises(Invalid) as caught:
        check_record(PROJECTS, record, errors)
    assert caught.value.message == "Failed to create record."
    assert caught.value.data["name"]["code"] == "validation_max_text_constraint"
    assert caught.value.data["user"]["code"] == "validation_required"


def test_name_length_counts_characters_not_bytes() -> None:
    record, errors = apply_body(
        PROJECTS, empty_record(PROJECTS), {"name": "ü" * 20, "user": "u" * 15}
    )
    check_record(PROJECTS, record, errors)


def test_multi_relation_dedupes_and_caps() -> None:
    record, errors = apply_body(
        BLUEPRINTS, empty_record(BLUEPRINTS), {"users": ["a" * 15, "a" * 15, "b" * 15]}
    )
    assert record["users"] == ["a" * 15, "b" * 15] and errors == {}
    many, errors = apply_body(
        BLUEPRINTS,
        empty_record(BLUEPRINTS),
        {
            "users": [values.new_id() for _ in range(91)],
            "name": "n",
            "owner": "o" * 15,
            "manifest": {"a": 1},
        },
    )
    with pytest.raises(Invalid) as caught:
        check_record(BLUEPRINTS, many, errors)
    assert caught.value.data["users"]["code"] == "validation_too_many_values"
