"""The scheduled tick: check every due autoUpdate once, with bounded concurrency.

Reads only what is due (one Query on the ``due`` index) and the running rollouts they
need (BatchGetItem), shares one registry client so that identical (registry, repository,
credentials) lookups are made once per tick, and stores each outcome with the next due
time. A lease keeps overlapping ticks apart; a tick that is missed or dies leaves the
records due, so a check is delayed, never skipped.

One tenant's slow registry must not hold up the others: every lookup ends by
``REGISTRY_TIMEOUT_SECONDS``, the client sends at most half the workers' worth of requests to
one registry and stops asking a registry that stopped answering, and once a registry timed
out on one of an owner's checks, that owner's other checks on it wait for the next tick
instead of costing a timeout each (a registry that answers some requests quickly would
otherwise keep every worker busy). Timed-out and postponed checks are due again at the next
tick; the postponed ones keep their place in the queue, ahead of the one that timed out.
"""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.autoupdate.intervals import next_due, parse_interval
from chalicelib.errors import ApiError
from chalicelib.image_updates.check import Outcome, check, registry_host, running_rollout
from chalicelib.records import store, values
from chalicelib.records.store import Record
from chalicelib.registry.client import RegistryClient
from chalicelib.settings import get_settings

logger = logging.getLogger("oneclick.autoupdate")
LEASE = "auto-update-tick"
# An interval that cannot be read (data from before validation) is retried daily.
_UNREADABLE_RETRY = timedelta(days=1)


@dataclass
class TickReport:
    skipped: bool = False  # another tick holds the lease
    checked: int = 0
    rolled_out: list[str] = field(default_factory=list)
    errors: int = 0
    registry_requests: int = 0


def next_check(auto_update: Record, outcome: Outcome, now: str) -> str:
    """The next due time: on the record's own grid of intervals from ``created`` (as the
    original anchors it), or the next tick when the cluster asked us to retry."""
    moment = values.parse_date(now)
    if outcome.retry_soon:
        return now
    try:
        seconds = parse_interval(auto_update["interval"])
    except ApiError:
        return values.format_date(moment + _UNREADABLE_RETRY)
    anchor = values.parse_date(auto_update["created"]).timestamp()
    return values.format_date(
        datetime.fromtimestamp(next_due(anchor, seconds, moment.timestamp()), UTC)
    )


def record(auto_update: Record, outcome: Outcome, now: str, next_at: str | None) -> None:
    """Store what the check saw; ``next_at=None`` keeps the schedule (a webhook call)."""
    status = {
        "lastCheck": now,
        "lastTag": outcome.found or auto_update["lastTag"],
        "lastError": outcome.error,
    }
    if outcome.digest:
        status["lastDigest"] = outcome.digest
    if next_at is not None:
        status["nextCheck"] = next_at
    store.record_check(auto_update["id"], status)


def run(now: str | None = None, registry: RegistryClient | None = None) -> TickReport:
    settings = get_settings()
    now = now or values.now()
    holder = uuid.uuid4().hex
    if not store.acquire_lease(LEASE, holder, settings.auto_update_lease_seconds):
        logger.info("another auto-update tick is still running; this one is skipped")
        return TickReport(skipped=True)
    registry = registry or RegistryClient(
        timeout=settings.registry_timeout_seconds,
        per_host=max(1, settings.auto_update_concurrency // 2),
    )
    try:
        return _check_due(now, registry)
    finally:
        store.release_lease(LEASE, holder)


def _check_due(now: str, registry: RegistryClient) -> TickReport:
    due = store.due_auto_updates(now)
    deployments = store.batch_get("deployments", {a["deployment"] for a in due})
    pointers = {d.get("runningRollout") for d in deployments.values()} - {"", None}
    rollouts = store.batch_get("rollouts", pointers)
    timed_out: set[tuple[str, str]] = set()  # (owner, registry) with a timeout in this tick
    lock = threading.Lock()

    def one(auto_update: Record) -> Outcome:
        try:
            running = running_rollout(deployments.get(auto_update["deployment"]), rollouts)
            lane = (auto_update["user"], registry_host(running))
            with lock:
                postponed = lane in timed_out
            if postponed:
                outcome = Outcome(error=_postponed(lane[1]))
                record(auto_update, outcome, now, None)  # still due, ahead in the queue
                return outcome
            outcome = check(auto_update, running, registry)
            if outcome.timed_out:
                with lock:
                    timed_out.add(lane)
            record(auto_update, outcome, now, next_check(auto_update, outcome, now))
        except Exception:  # noqa: BLE001 - one autoUpdate's failure must not stop the tick
            logger.exception("auto-update %s: the check failed", auto_update["id"])
            return Outcome(error="internal error")
        return outcome

    with ThreadPoolExecutor(max_workers=get_settings().auto_update_concurrency) as pool:
        outcomes = list(pool.map(one, due))
    return TickReport(
        checked=len(outcomes),
        rolled_out=[o.rollout for o in outcomes if o.rollout],
        errors=sum(1 for o in outcomes if o.error),
        registry_requests=registry.request_count,
    )


def _postponed(host: str) -> str:
    return (
        f"Not checked: registry {host} timed out on another of your autoUpdates in this run; "
        "checking again on the next tick"
    )
