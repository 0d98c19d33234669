"""Interval parsing and due times (reference §5.2: the original crashed or never ran on most
of the rejected or multi-unit rows below)."""

from __future__ import annotations

import pytest

from chalicelib.autoupdate.intervals import MESSAGE, next_due, parse_interval
from chalicelib.errors import Invalid

VALID = [
    ("1m", 60),
    ("5m", 300),
    ("10m", 600),
    ("30m", 1800),
    ("60s", 60),
    ("90s", 90),
    ("1h", 3600),
    ("1h30m", 5400),
    ("2d", 172_800),
    ("1w", 604_800),
    ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
    ("0h1m", 60),
    ("05m", 300),
    ("120m", 7200),
    ("52w", 52 * 604_800),
    ("365d", 365 * 86_400),
    ("8760h", 365 * 86_400),
]

INVALID = [
    "",
    "m",
    "5",
    "5x",
    "5M",
    "5ms",
    "ms",
    "1.5h",
    "-5m",
    "+5m",
    "5 m",
    " 5m",
    "5m ",
    "1h 30m",
    "30m1h",  # units out of order
    "1m1m",  # a unit twice
    "1h30",
    "59s",  # under a minute: the original divided by zero here
    "30s",
    "0m",
    "0s",
    "366d",  # over a year
    "53w",
    "1000000000s",
    "9" * 5000 + "s",
    "١m",  # a non-ASCII digit
    "1d\n",
]


@pytest.mark.parametrize(("text", "seconds"), VALID)
def test_valid_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", INVALID)
def test_invalid_intervals_are_refused_with_a_plain_message(text: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_interval(text)
    assert caught.value.message == MESSAGE
    assert caught.value.body() == {
        "code": 400,
        "message": MESSAGE,
        "data": {"interval": {"code": "validation_invalid_interval", "message": MESSAGE}},
    }


ANCHOR = 1_700_000_000.0

# (now, expected next due) for a 5-minute interval anchored at ANCHOR
DUE = [
    (ANCHOR - 10_000, ANCHOR + 300),  # before the anchor: the first interval after it
    (ANCHOR, ANCHOR + 300),  # k >= 1 even exactly at the anchor
    (ANCHOR + 1, ANCHOR + 300),
    (ANCHOR + 299.999, ANCHOR + 300),
    (ANCHOR + 300, ANCHOR + 600),  # exactly due: strictly after now
    (ANCHOR + 301, ANCHOR + 600),
    (ANCHOR + 3 * 300 + 17, ANCHOR + 4 * 300),  # three missed ticks: one check, then in step
    (ANCHOR + 1_000_000 * 300, ANCHOR + 1_000_001 * 300),
]


@pytest.mark.parametrize(("now", "due"), DUE)
def test_next_due(now: float, due: float) -> None:
    assert next_due(ANCHOR, 300, now) == due


def test_a_missed_tick_delays_a_check_but_never_skips_it():
    """Simulate the tick: every minute it checks what is due, then stores the next due time.
    The ticks at minutes 5 to 13 are lost; the 5-minute check then runs once, late, and is
    back in step with the anchor afterwards."""
    interval = 300
    due = next_due(ANCHOR, interval, ANCHOR)
    checks = []
    for minute in range(1, 31):
        now = ANCHOR + minute * 60
        if 5 <= minute <= 13:
            continue
        if due <= now:
            checks.append(minute)
            due = next_due(ANCHOR, interval, now)
    assert checks == [14, 15, 20, 25, 30]


def test_next_due_is_strictly_after_now_with_fractional_times():
    anchor = 1_700_000_000.123
    for step in range(1, 2000):
        now = anchor + step * 0.7
        due = next_due(anchor, 60, now)
        assert now < due <= now + 60
        assert (due - anchor) / 60 == pytest.approx(round((due - anchor) / 60))


def test_next_due_refuses_a_nonpositive_interval():
    with pytest.raises(ValueError):
        next_due(ANCHOR, 0, ANCHOR)
