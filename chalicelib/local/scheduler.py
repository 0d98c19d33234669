"""Fires the app's scheduled functions locally, on the minutes EventBridge would.

Each ``@app.schedule`` function runs with a scheduled-event payload like EventBridge's, on
its own worker thread (a slow registry must not hold up API requests), never overlapping
itself; a run that overlaps the next minute makes that minute skip, as a Lambda still
running would not (the tick's lease covers AWS's overlaps).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import Chalice, ScheduledEventConfig

from chalicelib import cron

logger = logging.getLogger("oneclick.local")


class Job:
    def __init__(self, name: str, schedule: cron.Cron, handler: Callable[..., Any]) -> None:
        self.name = name
        self.schedule = schedule
        self.handler = handler
        self.running = threading.Lock()

    def fire(self, moment: datetime) -> None:
        if not self.running.acquire(blocking=False):
            logger.warning("%s is still running; the %s run is skipped", self.name, moment)
            return
        try:
            event = {
                "version": "0",
                "id": f"local-{self.name}-{moment:%Y%m%d%H%M}",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "local",
                "resources": [],
                "detail": {},
            }
            self.handler(event, None)
        except Exception:  # noqa: BLE001 - logged like a failed Lambda; the next run retries
            logger.exception("scheduled function %s failed", self.name)
        finally:
            self.running.release()


def jobs_of(app: Chalice) -> list[Job]:
    found = []
    for source in app.event_sources:
        if isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            found.append(Job(source.name, cron.from_schedule(text), app.handler_map[source.name]))
    return found


class Scheduler:
    """A daemon thread that sleeps until the next due minute of any job."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> Scheduler:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            now = datetime.now(UTC)
            moment = min(job.schedule.next_after(now) for job in self.jobs)
            if self.stopping.wait((moment - now).total_seconds()):
                return
            for job in self.jobs:
                if job.schedule.matches(moment):
                    threading.Thread(target=job.fire, args=(moment,), daemon=True).start()
