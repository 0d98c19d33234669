"""What goes when a record is deleted, in an order that never strands a reference.

PocketBase relations here do not cascade, and the original deleted a project's
deployments before their autoUpdates, so a project with auto-update could not be deleted
at all (reference §3.5). The plan lists children before parents: rollouts and autoUpdates,
then deployments, then the project. Optional references (a deployment's blueprint) are
cleared rather than deleted.

Removing the cluster side (the Rollout resource, the namespace) is not a records concern:
whoever owns the cluster registers a ``before_delete`` hook, which runs before any record
is removed, so a failing cluster call leaves every record in place for a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chalicelib.records import store, values
from chalicelib.records.store import Record

Plan = list[tuple[str, Record]]
# A hook may return an undo: run when the records could not be deleted after all (a
# concurrent write changed one of them), so the outside world matches the records again.
BeforeDelete = Callable[[str, Record, Plan], Callable[[], None] | None]

logger = logging.getLogger("oneclick.cascade")
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


def delete(collection: str, record: Record) -> None:
    steps = plan(collection, record)
    undos = [undo for hook in _before_delete if (undo := hook(collection, record, steps))]
    _detach(collection, record)
    try:
        store.delete_in_order(steps)
    except store.VersionConflict:
        for undo in undos:
            try:
                undo()
            except Exception:  # noqa: BLE001 - the conflict is what the caller must see
                logger.exception("could not undo a before-delete step of %s", collection)
        raise
    for after in _after_delete:
        after(steps)
