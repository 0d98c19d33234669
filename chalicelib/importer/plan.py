"""What an import of a One-Click PocketBase changes, and doing it through the store.

Every row is cast and checked with the record API's own rules (``records.validation``),
its relations must point to rows that are imported too, and the ownership the API
enforces must hold (a deployment, rollout or autoUpdate is its project's owner's, and
belongs to its deployment's project). Rows are then compared with what the store holds:
new ones are created, changed ones updated, equal ones left alone, so a second run
changes nothing. Ids, dates and bcrypt password hashes are kept as they are, so links,
history and logins carry over. Rollouts are records only: the cluster is not touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import Invalid, field_error
from chalicelib.files import storage
from chalicelib.files.names import STORED_NAME, sniff
from chalicelib.importer.pocketbase import PocketBaseData, Row
from chalicelib.records import store, values
from chalicelib.records.auto_updates import settings_errors
from chalicelib.records.schema import AUTO_UPDATES, COLLECTIONS, USERS, Collection, FieldType
from chalicelib.records.store import Record
from chalicelib.records.validation import apply_body, check_record, empty_record

# Parents before children, so every relation points to a record written before it.
ORDER = ("users", "projects", "blueprints", "deployments", "rollouts", "autoUpdates")
USER_SECRETS = ("tokenKey", "passwordHash", "lastResetSentAt", "lastVerificationSentAt")
BAD_FILE_NAME = ("validation_invalid_file_name", "The file name has unexpected characters.")
ACTIONS = ("create", "update", "unchanged", "invalid")


@dataclass
class Outcome:
    ids: dict[str, list[str]] = field(default_factory=lambda: {a: [] for a in ACTIONS})
    reasons: dict[str, str] = field(default_factory=dict)

    def add(self, action: str, record_id: str, reason: str = "") -> None:
        self.ids[action].append(record_id)
        if reason:
            self.reasons[record_id] = reason


@dataclass
class Report:
    dry_run: bool
    collections: dict[str, Outcome] = field(default_factory=lambda: {n: Outcome() for n in ORDER})
    files: dict[str, int] = field(default_factory=lambda: {"copy": 0, "unchanged": 0, "missing": 0})

    def counts(self, collection: str) -> dict[str, int]:
        return {a: len(ids) for a, ids in self.collections[collection].ids.items()}

    @property
    def invalid(self) -> int:
        return sum(len(o.ids["invalid"]) for o in self.collections.values())

    def lines(self) -> list[str]:
        lines = []
        for name, outcome in self.collections.items():
            counts = "  ".join(f"{a} {n}" for a, n in self.counts(name).items())
            lines.append(f"{name:<12} {counts}")
            lines += [f"  invalid {name}/{i}: {outcome.reasons[i]}" for i in outcome.ids["invalid"]]
        lines.append("files        " + "  ".join(f"{a} {n}" for a, n in self.files.items()))
        if self.dry_run:
            lines.append("dry run: nothing was written")
        return lines


def _cast(collection: Collection, row: Row) -> tuple[Record, list[str]]:
    """The row as one of our records, and what is wrong with it."""
    problems = []
    record_id = str(row.get("id") or "")
    if not values.is_record_id(record_id):
        problems.append("id: must be 15 characters a-z and 0-9")
    base = {**empty_record(collection), "id": record_id}
    for name in ("created", "updated"):
        try:
            base[name] = values.format_date(values.parse_date(str(row.get(name) or "")))
        except ValueError:
            problems.append(f"{name}: not a date")
    body: dict[str, Any] = {}
    for each in collection.fields:
        raw = row.get(each.name)
        if each.multiple and isinstance(raw, str):
            try:
                raw = json.loads(raw or "[]")
            except ValueError:
                problems.append(f"{each.name}: not a JSON list")
                continue
        body[each.name] = raw
    plain = {f.name for f in collection.fields if f.type is not FieldType.FILE}
    record, errors = apply_body(collection, base, body, writable=plain)
    for each in collection.files:
        record[each.name] = str(row.get(each.name) or "")
        if record[each.name] and not STORED_NAME.fullmatch(record[each.name]):
            errors[each.name] = field_error(*BAD_FILE_NAME)
    if collection is AUTO_UPDATES:
        errors.update(settings_errors(record))
    try:
        check_record(collection, record, errors)
    except Invalid as invalid:
        problems += [f"{k}: {v['message']}" for k, v in invalid.data.items()]
    if collection is USERS:
        record.update({name: str(row.get(name) or "") for name in USER_SECRETS})
        if not record["passwordHash"].startswith("$2"):
            problems.append("passwordHash: not a bcrypt hash")
        if not record["tokenKey"]:
            problems.append("tokenKey: missing")
    return record, problems


def _ids(collection: Collection, record: Record, name: str) -> list[str]:
    value = record[name]
    return list(value) if isinstance(value, list) else [value] if value else []


def _relation_problems(
    collection: Collection, record: Record, accepted: dict[str, dict[str, Record]]
) -> list[str]:
    problems = [
        f"{rel.name}: {target} is not an importable {rel.target} record"
        for rel in collection.relations
        for target in _ids(collection, record, rel.name)
        if target not in accepted[rel.target or ""]
    ]
    project = accepted["projects"].get(record.get("project", ""))
    if project and project["user"] != record["user"]:
        problems.append("project: belongs to another user")
    deployment = accepted["deployments"].get(record.get("deployment", ""))
    if deployment and deployment["project"] != record["project"]:
        problems.append("deployment: belongs to another project")
    return problems


def _accepted_records(data: PocketBaseData, report: Report) -> dict[str, dict[str, Record]]:
    accepted: dict[str, dict[str, Record]] = {name: {} for name in ORDER}
    for name in ORDER:
        collection = COLLECTIONS[name]
        for row in data.rows[name]:
            record, problems = _cast(collection, row)
            if not problems:
                problems = _relation_problems(collection, record, accepted)
            if problems:
                report.collections[name].add("invalid", record["id"] or "?", "; ".join(problems))
            else:
                accepted[name][record["id"]] = record
    return accepted


def _running_rollouts(accepted: dict[str, dict[str, Record]]) -> None:
    """Point each deployment at its newest running rollout, as the state machine keeps it."""
    for rollout in sorted(accepted["rollouts"].values(), key=lambda r: r["created"]):
        if rollout["endDate"] == "":
            accepted["deployments"][rollout["deployment"]]["runningRollout"] = rollout["id"]
        rollout.update(pendingKind="", pendingSince="")


def _compared(collection: str, record: Record) -> list[str]:
    """PocketBase's fields: our own bookkeeping (running pointer, pending marks, an
    autoUpdate's status, credentials and secret) is not overwritten by a later import."""
    collection_fields = [f.name for f in COLLECTIONS[collection].fields if not f.extension]
    extra = list(USER_SECRETS) if collection == "users" else []
    return ["id", "created", "updated", *collection_fields, *extra]


def _unique_problem(record: Record) -> str:
    for name in ("email", "username"):
        holder = store.user_id_by(name, record[name]) if record[name] else None
        if holder not in (None, record["id"]):
            return f"{name}: already used by another user"
    return ""


def _write(name: str, record: Record, current: Record | None, report: Report) -> None:
    outcome = report.collections[name]
    keys = _compared(name, record)
    if current is not None and all(current.get(k) == record[k] for k in keys):
        outcome.add("unchanged", record["id"])
        return
    problem = _unique_problem(record) if name == "users" else ""
    if problem:
        outcome.add("invalid", record["id"], problem)
        return
    action = "create" if current is None else "update"
    if not report.dry_run:
        try:
            if current is None:
                store.create(name, record)
            else:
                store.update(name, current, {**current, **{k: record[k] for k in keys}})
        except (store.UniqueTaken, store.VersionConflict) as error:
            outcome.add("invalid", record["id"], f"changed while importing: {error}")
            return
    outcome.add(action, record["id"])


def _copy_files(data: PocketBaseData, name: str, record: Record, report: Report) -> None:
    collection = COLLECTIONS[name]
    for each in collection.files:
        if not record[each.name]:
            continue
        key = storage.key_for(collection.id, record["id"], record[each.name])
        if storage.exists(key):
            report.files["unchanged"] += 1
            continue
        content = data.file(name, record["id"], record[each.name])
        if content is None:
            report.files["missing"] += 1
            continue
        if not report.dry_run:
            storage.put(key, content, sniff(content))
        report.files["copy"] += 1


def run(data: PocketBaseData, dry_run: bool) -> Report:
    report = Report(dry_run)
    accepted = _accepted_records(data, report)
    _running_rollouts(accepted)
    for name in ORDER:
        records = accepted[name]
        existing = store.batch_get(name, list(records))
        for record_id, record in records.items():
            _write(name, record, existing.get(record_id), report)
            if record_id not in report.collections[name].reasons:
                _copy_files(data, name, record, report)
    return report
