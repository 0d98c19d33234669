"""What goes when a record is deleted, in an order that never strands a reference.

PocketBase relations here do not cascade, and the original deleted a project's
deployments before their autoUpdates, so a project with auto-update could not be deleted
at all (reference §3.5). The plan lists children before parents: rollouts and autoUpdates,
then deployments, then the project. Optional references (a deployment's blueprint) are
cleared rather than deleted.

Removing the cluster side (the Rollout resource, the namespace) is not a records concern:
whoever owns the cluster registers a ``before_delete`` hook, which runs before any record
is removed, so a failing cluster call leaves every record in place for a retry.

Concurrent creates: deleting a parent (project, deployment) first commits a ``deleting``
mark on it. Every child create checks, in its own transaction, that its parents exist
unmarked (``store.PARENTS``), so once the mark is in no child can be added, and every child
committed before it is in the plan read after it. Children changing meanwhile (a rollout
being confirmed) only make a round's version conditions fail: the plan is read again and
the delete repeated, a few rounds with jitter, before the caller gets a 409. The plan comes
from the parent indexes, which DynamoDB keeps eventually consistent: a child committed
within the index's lag (well under a second) before the mark could be missed, a window this
design narrows to that lag but cannot close without a counter on the parent.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from chalicelib.records import store, values
from chalicelib.records.store import Record

Plan = list[tuple[str, Record]]
# A hook may return an undo: run when the records could not be deleted after all (a
# concurrent write changed one of them), so the outside world matches the records again.
BeforeDelete = Callable[[str, Record, Plan], Callable[[], None] | None]

logger = logging.getLogger("oneclick.cascade")
_ROUNDS = 5
_PARENT_COLLECTIONS = {c for parents in store.PARENTS.values() for c in parents.values()}
_before_delete: list[BeforeDelete] = []


def register_before_delete(hook: BeforeDelete) -> None:
    """Called with (collection, record, full plan) before a cascade deletes anything."""
    _before_delete.append(hook)


_after_delete: list[Callable[[Plan], None]] = []


def register_after_delete(hook: Callable[[Plan], None]) -> None:
    """Called with the plan once its records are gone: what hangs off them (files) goes
    only when nothing can point to it any more."""
    _after_delete.append(hook)


def _children(collection: str, by: str, parent_id: str) -> Plan:
    return [(collection, child) for child in store.query(collection, by, parent_id)]


def plan(collection: str, record: Record) -> Plan:
    if collection == "projects":
        return [
            *_children("rollouts", "project", record["id"]),
            *_children("autoUpdates", "project", record["id"]),
            *_children("deployments", "project", record["id"]),
            (collection, record),
        ]
    if collection == "deployments":
        return [
            *_children("rollouts", "deployment", record["id"]),
            *_children("autoUpdates", "deployment", record["id"]),
            (collection, record),
        ]
    return [(collection, record)]


def _detach(collection: str, record: Record) -> None:
    """Clear optional references to ``record`` (PocketBase unsets a non-required relation
    whose target is deleted): a deployment keeps running without its blueprint."""
    if collection != "blueprints":
        return
    for deployment in store.query("deployments", "blueprint", record["id"]):
        store.update(
            "deployments", deployment, dict(deployment, blueprint="", updated=values.now())
        )


def _undo(undos: list[Callable[[], None]], collection: str) -> None:
    for undo in undos:
        try:
            undo()
        except Exception:  # noqa: BLE001 - the conflict is what the caller must see
            logger.exception("could not undo a before-delete step of %s", collection)


def _delete_rounds(collection: str, record: Record, steps: Plan, rounds: int) -> Plan:
    """Delete the plan, reading it again after a round lost to a concurrent change."""
    attempt = 1
    while True:
        try:
            store.delete_in_order(steps)
            return steps
        except store.VersionConflict:
            if attempt == rounds:
                raise
        time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret
        attempt += 1
        current = store.get(collection, record["id"])
        if current is None:
            return steps  # a concurrent delete finished the job
        steps = plan(collection, current)


def _delete(collection: str, record: Record, rounds: int) -> None:
    steps = plan(collection, record)
    undos = [undo for hook in _before_delete if (undo := hook(collection, record, steps))]
    _detach(collection, record)
    try:
        steps = _delete_rounds(collection, record, steps, rounds)
    except store.VersionConflict:
        _undo(undos, collection)
        raise
    for after in _after_delete:
        after(steps)


def delete(collection: str, record: Record) -> None:
    if collection not in _PARENT_COLLECTIONS:
        _delete(collection, record, rounds=1)
        return
    marked = store.set_deleting(collection, record["id"], values.now())
    if marked is None:
        return  # deleted meanwhile by someone else
    try:
        _delete(collection, marked, rounds=_ROUNDS)
    except Exception:
        store.set_deleting(collection, record["id"], None)  # usable again, for a retry
        raise
