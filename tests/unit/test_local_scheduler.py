"""The local run fires the app's scheduled functions on the minutes EventBridge would."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from chalice import Chalice, Cron, Rate

from chalicelib import cron
from chalicelib.local.scheduler import Job, jobs_of


def test_every_scheduled_function_of_the_app_is_found_with_its_minutes() -> None:
    from app import app

    jobs = {job.name: job.schedule for job in jobs_of(app)}
    assert set(jobs) == {"auto_update_tick", "reconcile_rollouts"}
    every_minute = cron.parse("* * * * *").minutes
    assert jobs["auto_update_tick"].minutes == every_minute  # CRON_TICK's default
    assert jobs["reconcile_rollouts"].minutes == every_minute


def test_rates_and_crons_are_read_back() -> None:
    app = Chalice(app_name="t")
    app.schedule(Rate(15, unit=Rate.MINUTES))(lambda _event: None)
    app.schedule(Cron(30, 6, "?", "*", "2-6", "*"))(lambda _event: None)
    quarter, weekday_mornings = (job.schedule for job in jobs_of(app))
    assert quarter.minutes == {0, 15, 30, 45}
    assert weekday_mornings.matches(datetime(2026, 11, 30, 6, 30, tzinfo=UTC))  # a Monday
    assert not weekday_mornings.matches(datetime(2026, 11, 29, 6, 30, tzinfo=UTC))  # Sunday


def test_a_run_gets_an_eventbridge_event_and_never_overlaps_itself() -> None:
    started, release = threading.Event(), threading.Event()
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], _context: object) -> None:
        events.append(event)
        started.set()
        release.wait(5)

    job = Job("tick", cron.parse("* * * * *"), handler)
    moment = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    first = threading.Thread(target=job.fire, args=(moment,))
    first.start()
    assert started.wait(5)
    job.fire(moment)  # still running: skipped, not queued
    release.set()
    first.join(5)
    assert len(events) == 1
    assert events[0]["detail-type"] == "Scheduled Event" and events[0]["time"] == (
        "2026-11-24T10:00:00Z"
    )
    job.fire(moment)
    assert len(events) == 2
