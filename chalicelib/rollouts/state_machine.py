"""The rollout state machine (reference §3.1-3.3), atomic where the original was not.

A deployment has at most one running rollout (``endDate == ""``). Every change of which
rollout runs is one DynamoDB transaction that rewrites the deployment item under its
version (its hidden ``runningRollout`` pointer), ends the previous running rollout and
writes the new one: two concurrent clicks cannot both win, and none is lost.

Records and cluster cannot drift apart: the transaction marks the rollout ``pending``, the
cluster call follows, and then the mark is cleared. If the cluster call fails, the records
are put back as they were and the caller gets the error; if even that fails (or the Lambda
dies), the mark stays and ``reconcile_pending`` finishes the cluster side later.

Fixed against the original: a hide-only change or an edit of a historical rollout never
touches the cluster (§3.2's last row deleted the live deployment); every running rollout
is ended, not just the first; deleting the running rollout removes its resource reliably.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta
from typing import Any

from chalicelib.cluster import namespaces
from chalicelib.cluster import rollouts as cluster
from chalicelib.errors import ApiError, BadRequest, Conflict, NotFound
from chalicelib.records import service, store, values
from chalicelib.records.access import Viewer
from chalicelib.records.schema import ROLLOUTS
from chalicelib.records.store import Record
from chalicelib.records.validation import empty_record

logger = logging.getLogger("oneclick.rollouts")

ENDDATE_ON_CREATE = "endDate is not allowed on create"
_ATTEMPTS = 3
_CONFIRM_ATTEMPTS = 8
# Rounds of "write what runs, read again" before leaving it to the newer writers.
_CONVERGE_ROUNDS = 8
# Ignore a pending mark younger than this: its request may still be on its way.
RECONCILE_AFTER_SECONDS = 120
_NOT_RESTORED = (
    "could not restore records after a failed cluster call; the pending mark stays for the "
    "reconciler"
)


def _running_besides(deployment: Record, rollout_id: str) -> list[Record]:
    """Every running rollout of the deployment except ``rollout_id``: the pointer (read
    consistently) plus any the index shows, so data from before the pointer is covered."""
    found = {r["id"]: r for r in store.query("rollouts", "deployment", deployment["id"])}
    pointer = deployment.get("runningRollout")
    if pointer and pointer not in found:
        current = store.get("rollouts", pointer)
        if current is not None and current["deployment"] == deployment["id"]:
            found[pointer] = current
    return [r for i, r in found.items() if i != rollout_id and r["endDate"] == ""]


def _live_project(project_id: str) -> Record:
    """The rollout's project, read again: its delete may have begun, or run to the end,
    since the request's reference check saw it."""
    project = store.get("projects", project_id)
    if project is None or project.get("deleting"):
        raise store.ParentGone("project")
    return project


def _owner_namespace(project: Record, viewer: Viewer) -> None:
    """Ensure the project's namespace. A namespace this call had to create may come after
    the project's delete removed it (the delete marks the project first, then removes the
    namespace): then it is removed again, or it would outlive its project."""
    user = viewer.user or {}
    created = namespaces.ensure_namespace(
        project["id"], project["user"], user.get("username", ""), user.get("name", "")
    )
    if created:
        current = store.get("projects", project["id"])
        if current is None or current.get("deleting"):
            namespaces.delete_namespace(project["id"])
            raise store.ParentGone("project")


def _jitter(attempt: int) -> None:
    """Spread retries of racing writers apart so that each round lets one through."""
    if attempt:
        time.sleep(random.uniform(0, 0.02 * attempt))  # noqa: S311 - jitter only


def _restore(changed: list[tuple[str, Record | None, str]]) -> set[str]:
    """Put records back as they were before a failed cluster call (``None``: created);
    returns the ids put back.

    Only a record that still carries the version our transaction wrote is put back: if a
    concurrent request changed it since, its state is newer than ours and stands. Such a
    change can also land between the read and the write here (a cascade deleting the
    project, a newer click): then it is read again, and left alone the next round."""
    for attempt in range(_CONFIRM_ATTEMPTS):
        _jitter(attempt)
        creates_undone, updates = [], []
        for collection, before, record_id in changed:
            current = store.get(collection, record_id)
            written = 1 if before is None else before["version"] + 1
            if current is None or current["version"] != written:
                continue
            if before is None:
                creates_undone.append((collection, current))
            else:
                updates.append((collection, current, dict(before, version=current["version"])))
        try:
            store.write_together(updates=updates, deletes=creates_undone)
        except store.VersionConflict:
            continue
        return {record["id"] for _, record in creates_undone} | {o["id"] for _, o, _ in updates}
    raise Conflict()


def _confirm(rollout_id: str) -> Record | None:
    """Clear the pending mark once the cluster has the change; None if a cascade deleted
    the rollout meanwhile. Newer clicks ending this rollout meanwhile are what conflicts
    here: retried with jitter, they settle quickly."""
    for attempt in range(_CONFIRM_ATTEMPTS):
        _jitter(attempt)
        current = store.get("rollouts", rollout_id)
        if current is None or not current["pendingKind"]:
            return current
        try:
            return store.update("rollouts", current, dict(current, pendingKind="", pendingSince=""))
        except store.VersionConflict:
            continue
    raise Conflict()


class Superseded(Exception):
    """The rollout a change was based on no longer runs: someone else changed it first."""


def _activate(
    target: Record, before: Record | None, project: Record, replaces: Record | None = None
) -> Record:
    """Make ``target`` the running rollout of its deployment and apply it to the cluster.
    ``before`` is the stored rollout for a rollback/re-apply, ``None`` for a new one.

    With ``replaces`` the change only happens if that rollout, exactly as read, still runs:
    the transaction ends it under the version the caller saw, so of several racing
    replacements of one rollout at most one commits (``Superseded`` for the others)."""
    for _ in range(_ATTEMPTS):
        deployment = store.get("deployments", target["deployment"])
        if deployment is None or deployment.get("deleting"):
            raise store.ParentGone("deployment")
        if replaces is not None and deployment.get("runningRollout") not in ("", replaces["id"]):
            raise Superseded()
        stamp = values.now()
        pending = dict(target, endDate="", startDate=stamp, pendingKind="apply", pendingSince=stamp)
        ended = _running_besides(deployment, target["id"])
        if replaces is not None:
            ended = [r for r in ended if r["id"] != replaces["id"]] + [replaces]
        updates = [("deployments", deployment, dict(deployment, runningRollout=target["id"]))]
        updates += [("rollouts", r, dict(r, endDate=stamp, updated=stamp)) for r in ended]
        if before is not None:
            updates.append(("rollouts", before, pending))
        try:
            store.write_together(creates=[] if before else [("rollouts", pending)], updates=updates)
            break
        except store.VersionConflict:
            if replaces is not None:
                current = store.get("rollouts", replaces["id"])
                if current is None or current["version"] != replaces["version"]:
                    raise Superseded() from None
            if before is not None:
                before = store.get("rollouts", before["id"])
                if before is None:
                    raise Conflict() from None
            continue
    else:
        raise Conflict()
    changed = [
        ("deployments", deployment, deployment["id"]),
        *(("rollouts", r, r["id"]) for r in ended),
        ("rollouts", before, target["id"]),
    ]
    try:
        cluster.apply_rollout(project["id"], deployment["id"], target["id"], pending["manifest"])
    except Exception:
        restored = _undo_or_leave_pending(changed, project["id"], deployment["id"])
        if restored is None or deployment["id"] in restored or not _exists(deployment["id"]):
            raise
        # A newer commit replaced this rollout before its write landed: the newer one owns
        # the cluster now, so this click succeeded (and already ended), like any overtaken one.
        logger.info("rollout %s was overtaken while its cluster write failed", target["id"])
    return _finish(pending, project["id"], deployment["version"] + 1)


def _exists(deployment_id: str) -> bool:
    return store.get("deployments", deployment_id) is not None


def _finish(committed: Record, project_id: str, written_at: int | None) -> Record:
    """After a committed change reached the cluster: converge, clear the pending mark, and
    answer with the record. The change stands whatever happens here, so a failure is not
    the caller's: the mark stays and the reconciler converges the deployment later. A
    cascade may have deleted the record meanwhile: the change still happened, so the
    answer is the record as committed."""
    rollout_id = committed["id"]
    try:
        _converge(project_id, committed["deployment"], written_at)
        return _confirm(rollout_id) or committed
    except ApiError as error:  # the cluster busy or away, clicks racing: expected, no trace
        logger.warning(
            "rollout %s committed; the reconciler converges the rest: %s", rollout_id, error
        )
    except Exception:  # noqa: BLE001 - logged; the pending mark hands it to the reconciler
        logger.exception("rollout %s committed; the reconciler converges the rest", rollout_id)
    return store.get("rollouts", rollout_id) or committed


def _converge(project_id: str, deployment_id: str, written_at: int | None) -> None:
    """Concurrent requests may reach the cluster in another order than their transactions
    committed. Each one, after its own cluster call (or its undo: ``written_at=None``),
    makes the cluster show what runs now, then reads the deployment again: a cluster call
    based on a version that has been overtaken meanwhile may have landed after the newer
    one's, so it is repeated. Whoever stops has seen its write land before any newer
    commit, and every newer committer converges after it: the last one leaves it right."""
    for _ in range(_CONVERGE_ROUNDS):
        deployment = store.get("deployments", deployment_id)
        if deployment is None or deployment["version"] == written_at:
            return  # a deleted deployment's resource goes with its cascade
        running = deployment.get("runningRollout", "")
        current = store.get("rollouts", running) if running else None
        try:
            if current is not None and current["endDate"] == "":
                cluster.apply_rollout(project_id, deployment_id, current["id"], current["manifest"])
            else:
                cluster.delete_rollout(project_id, deployment_id)
        except Conflict:  # other writers kept changing the Rollout: read again, write again
            written_at = None
            continue
        written_at = deployment["version"]
    logger.warning(
        "deployment %s kept changing while its cluster state was written; "
        "the newer writers converge it",
        deployment_id,
    )


def converge(project_id: str, deployment_id: str) -> None:
    """Make the cluster show whatever the records say runs now (after a failed delete)."""
    _converge(project_id, deployment_id, None)


def _deactivate(before: Record, after: Record, project: Record, delete: bool) -> Record:
    """Stop the running rollout ``before`` (``after`` carries its endDate) and remove its
    resource; with ``delete`` the record goes too. Returns the stopped record (as
    committed, if a cascade deleted it meanwhile)."""
    deployment = store.get("deployments", before["deployment"])
    stamp = values.now()
    stopped = dict(
        after, endDate=after["endDate"] or stamp, pendingKind="delete", pendingSince=stamp
    )
    updates = [("rollouts", before, stopped)]
    written_at = None if deployment is None else deployment["version"]
    if deployment is not None and deployment.get("runningRollout") == before["id"]:
        updates.append(("deployments", deployment, dict(deployment, runningRollout="")))
        written_at = deployment["version"] + 1
    try:
        store.write_together(updates=updates)
    except store.VersionConflict:
        raise Conflict() from None
    changed = [(c, b, b["id"]) for c, b, _ in updates]
    try:
        cluster.delete_rollout(project["id"], before["deployment"])
    except Exception:
        _undo_or_leave_pending(changed, project["id"], before["deployment"])
        raise
    _converge(project["id"], before["deployment"], written_at)
    confirmed = _confirm(before["id"])
    if confirmed is None:
        return stopped
    if delete:
        store.delete_in_order([("rollouts", confirmed)])
    return confirmed


def _undo_or_leave_pending(
    changed: list[tuple[str, Record | None, str]], project_id: str, deployment_id: str
) -> set[str] | None:
    """The ids put back after a failed cluster call; None if not even that worked."""
    try:
        restored = _restore(changed)
        _converge(project_id, deployment_id, None)
    except ApiError as error:  # racing writers or the cluster away: expected, no trace
        logger.warning("%s: %s", _NOT_RESTORED, error)
        return None
    except Exception:  # noqa: BLE001 - the original error is what the caller must see
        logger.exception(_NOT_RESTORED)
        return None
    return restored


def create_rollout(body: dict[str, Any], query: dict[str, str], viewer: Viewer) -> dict[str, Any]:
    rollout = service.prepare_create(ROLLOUTS, body, viewer)
    if rollout["endDate"]:  # checked after field validation, as the original's hook was
        raise BadRequest(ENDDATE_ON_CREATE)
    try:
        project = _live_project(rollout["project"])
        _owner_namespace(project, viewer)
        cluster.validate_manifest(project["id"], rollout["deployment"], rollout["manifest"])
        activated = _activate(rollout, None, project)
    except store.ParentGone as gone:
        raise service.parent_gone(gone) from None
    return service.render(ROLLOUTS, activated, query, viewer)


def replace_running(running: Record, manifest: dict[str, Any]) -> Record:
    """Roll out ``manifest`` in place of ``running`` (the auto-updater's new image tag).

    Exactly once: ``Superseded`` if ``running`` was ended or changed since it was read (or
    its deployment is being deleted). A failed cluster apply puts the records back and
    raises, so the next check retries it.
    The new rollout keeps the old one's ``user``; the namespace labels come from the
    project's owner (the original took the rollout's user, reference §3.6)."""
    project = store.get("projects", running["project"])
    if project is None:
        raise Conflict()
    owner = Viewer(store.get("users", project["user"]))
    try:
        _owner_namespace(project, owner)
    except store.ParentGone:
        raise Superseded() from None  # the project is being deleted, and ``running`` too
    cluster.validate_manifest(project["id"], running["deployment"], manifest)
    stamp = values.now()
    rollout = {
        **empty_record(ROLLOUTS),
        "id": values.new_id(),
        "created": stamp,
        "updated": stamp,
        "user": running["user"],
        "project": running["project"],
        "deployment": running["deployment"],
        "manifest": manifest,
    }
    try:
        return _activate(rollout, None, project, replaces=running)
    except store.ParentGone:
        raise Superseded() from None  # the deployment is being deleted, and ``running`` too


def update_rollout(
    record_id: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    before, after = service.prepare_update(ROLLOUTS, record_id, body, viewer)
    try:
        project = _live_project(after["project"])
    except store.ParentGone:
        raise NotFound() from None  # the rollout goes with its project's cascade
    was_running, runs = before["endDate"] == "", after["endDate"] == ""
    touches_cluster = runs and (
        not was_running
        or after["manifest"] != before["manifest"]
        or after["deployment"] != before["deployment"]
    )
    if touches_cluster:
        try:
            _owner_namespace(project, viewer)
            cluster.validate_manifest(
                project["id"],
                after["deployment"],
                after["manifest"],
                failure_message=service.UPDATE_FAILED,
            )
            result = _activate(after, before, project)
        except store.ParentGone:
            raise NotFound() from None  # its deployment is being deleted, and it with it
    elif was_running and not runs:
        result = _deactivate(before, after, project, delete=False)
    else:
        # hide, an unchanged re-save, or an edit of a historical rollout: records only
        try:
            result = store.update("rollouts", before, after)
        except store.VersionConflict:
            raise Conflict() from None
    return service.render(ROLLOUTS, result, query, viewer)


def delete_rollout(record_id: str, viewer: Viewer) -> None:
    rollout = service.owned_record(ROLLOUTS, record_id, viewer)
    if rollout["endDate"] != "":
        store.delete_in_order([("rollouts", rollout)])
        return
    try:
        project = _live_project(rollout["project"])
    except store.ParentGone:
        raise NotFound() from None  # the project's cascade deletes it (or did)
    _deactivate(rollout, dict(rollout, endDate=values.now()), project, delete=True)


def reconcile_pending(now: str | None = None) -> int:
    """Finish cluster changes whose request died half-way; returns how many were settled."""
    settled = 0
    age = timedelta(seconds=RECONCILE_AFTER_SECONDS)
    cutoff = values.format_date(values.parse_date(now or values.now()) - age)
    for rollout in store.pending_rollouts():
        if rollout["pendingSince"] > cutoff:
            continue
        try:
            _settle(rollout)
        except Exception:  # noqa: BLE001 - logged; it is retried on the next tick
            logger.exception("could not settle pending rollout %s", rollout["id"])
            continue
        settled += 1
    return settled


def _settle(rollout: Record) -> None:
    """Make the cluster show what the deployment's records say runs now (this rollout, or
    the one that overtook it), then clear the mark."""
    _converge(rollout["project"], rollout["deployment"], None)
    _confirm(rollout["id"])
