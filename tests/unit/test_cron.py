"""CRON_TICK: parsing, matching, and the EventBridge form deployed on AWS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib import cron
from chalicelib.errors import ConfigError
from chalicelib.settings import load_settings

SECRET = {"JWT_SECRET": "x" * 40}


@pytest.mark.parametrize(
    ("text", "eventbridge"),
    [
        ("*/1 * * * *", "cron(*/1 * * * ? *)"),
        ("*/5 * * * *", "cron(*/5 * * * ? *)"),
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("15 9 * * 1-5", "cron(15 9 ? * 2,3,4,5,6 *)"),
        ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("0 12 1 * *", "cron(0 12 1 * ? *)"),
        ("30 6 * JAN,JUL *", "cron(30 6 * JAN,JUL ? *)"),
        ("0 8 * * MON,FRI", "cron(0 8 ? * 2,6 *)"),
    ],
)
def test_eventbridge_form(text: str, eventbridge: str) -> None:
    assert cron.parse(text).eventbridge() == eventbridge


@pytest.mark.parametrize("text", ["*/1 * * * *", "0 3 * * *", "15 9 * * 1-5", "0 0 * * 0"])
def test_local_scheduler_reads_back_the_deployed_form(text: str) -> None:
    original = cron.parse(text)
    again = cron.from_schedule(original.eventbridge())
    assert (again.minutes, again.hours, again.days, again.months, again.weekdays) == (
        original.minutes,
        original.hours,
        original.days,
        original.months,
        original.weekdays,
    )


def test_rate_schedules_map_to_minute_steps() -> None:
    assert cron.from_schedule("rate(1 minute)").minutes == frozenset(range(60))
    assert cron.from_schedule("rate(15 minutes)").minutes == {0, 15, 30, 45}


@pytest.mark.parametrize(
    "text",
    [
        "* * *",  # too few fields
        "* * * * * *",  # six fields (that is EventBridge's form, not CRON_TICK's)
        "60 * * * *",  # minute out of range
        "* 24 * * *",
        "*/0 * * * *",  # zero step
        "5-1 * * * *",  # reversed range
        "* * 0 * *",  # day 0
        "* * * 13 *",
        "* * * * 8",
        "x * * * *",
        "0 0 31 2 *",  # never fires
        "0 0 1 * 1",  # both day fields: EventBridge cannot express it
    ],
)
def test_invalid_expressions_fail_at_start_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="CRON_TICK"):
        load_settings({**SECRET, "CRON_TICK": text})


def test_matching_and_next_fire_time() -> None:
    weekdays_at_nine = cron.parse("15 9 * * 1-5")
    saturday = datetime(2026, 11, 28, 9, 15, tzinfo=UTC)
    monday = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    assert not weekdays_at_nine.matches(saturday)
    assert weekdays_at_nine.matches(monday)
    assert weekdays_at_nine.next_after(saturday) == monday
    every_five = cron.parse("*/5 * * * *")
    assert every_five.next_after(datetime(2026, 1, 1, 10, 4, 59, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 5, tzinfo=UTC
    )
    assert every_five.next_after(datetime(2026, 1, 1, 10, 5, tzinfo=UTC)) == datetime(
        2026, 1, 1, 10, 10, tzinfo=UTC
    )


def test_both_day_fields_follow_vixie_cron_locally() -> None:
    first_or_monday = cron.Cron(
        text="0 0 1 * 1",
        minutes=frozenset({0}),
        hours=frozenset({0}),
        days=frozenset({1}),
        months=frozenset(range(1, 13)),
        weekdays=frozenset({1}),
        days_restricted=True,
        weekdays_restricted=True,
    )
    assert first_or_monday.matches(datetime(2026, 12, 1, tzinfo=UTC))  # a Tuesday, the 1st
    assert first_or_monday.matches(datetime(2026, 12, 7, tzinfo=UTC))  # a Monday
    assert not first_or_monday.matches(datetime(2026, 12, 8, tzinfo=UTC))
