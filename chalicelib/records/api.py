"""The record API's entry points: one per PocketBase action, whatever the collection.

Users have their own write rules (``records.users``); every other collection goes through
the generic ``records.service``; rollouts drive the cluster (``rollouts.state_machine``).
Handlers call only this module. The collection-specific modules are imported by the
writes that need them: lists and views (most requests, and every cold start's first) load
none of their password hashing, throttling, auto-update rules or cluster code.
"""

from __future__ import annotations

from typing import Any

from chalicelib.records import service
from chalicelib.records.access import Viewer
from chalicelib.records.schema import AUTO_UPDATES, ROLLOUTS, USERS

list_records = service.list_records
view_record = service.view_record


def create_record(
    name: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    collection = service.collection_or_404(name)
    if collection is USERS:
        from chalicelib.records import users

        return users.sign_up(body, query, viewer)
    if collection is ROLLOUTS:
        from chalicelib.rollouts import state_machine

        return state_machine.create_rollout(body, query, viewer)
    if collection is AUTO_UPDATES:
        from chalicelib.records import auto_updates

        return auto_updates.create(body, query, viewer)
    return service.create_record(name, body, query, viewer)


def update_record(
    name: str, record_id: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    collection = service.collection_or_404(name)
    if collection is USERS:
        from chalicelib.records import users

        return users.update_user(record_id, body, query, viewer)
    if collection is ROLLOUTS:
        from chalicelib.rollouts import state_machine

        return state_machine.update_rollout(record_id, body, query, viewer)
    if collection is AUTO_UPDATES:
        from chalicelib.records import auto_updates

        return auto_updates.update(record_id, body, query, viewer)
    return service.update_record(name, record_id, body, query, viewer)


def delete_record(name: str, record_id: str, viewer: Viewer) -> None:
    collection = service.collection_or_404(name)
    if collection is USERS:
        from chalicelib.records import users

        users.delete_user(record_id, viewer)
    elif collection is ROLLOUTS:
        from chalicelib.rollouts import state_machine

        state_machine.delete_rollout(record_id, viewer)
    else:
        service.delete_record(name, record_id, viewer)
