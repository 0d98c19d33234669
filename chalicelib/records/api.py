"""The record API's entry points: one per PocketBase action, whatever the collection.

Users have their own write rules (``records.users``); every other collection goes through
the generic ``records.service``; rollouts drive the cluster (``rollouts.state_machine``).
Handlers call only this module.
"""

from __future__ import annotations

from typing import Any

from chalicelib.records import auto_updates, service, users
from chalicelib.records.access import Viewer
from chalicelib.records.schema import AUTO_UPDATES, ROLLOUTS, USERS
from chalicelib.rollouts import state_machine

list_records = service.list_records
view_record = service.view_record


def create_record(
    name: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    collection = service.collection_or_404(name)
    if collection is USERS:
        return users.sign_up(body, query, viewer)
    if collection is ROLLOUTS:
        return state_machine.create_rollout(body, query, viewer)
    if collection is AUTO_UPDATES:
        return auto_updates.create(body, query, viewer)
    return service.create_record(name, body, query, viewer)


def update_record(
    name: str, record_id: str, body: dict[str, Any], query: dict[str, str], viewer: Viewer
) -> dict[str, Any]:
    collection = service.collection_or_404(name)
    if collection is USERS:
        return users.update_user(record_id, body, query, viewer)
    if collection is ROLLOUTS:
        return state_machine.update_rollout(record_id, body, query, viewer)
    if collection is AUTO_UPDATES:
        return auto_updates.update(record_id, body, query, viewer)
    return service.update_record(name, record_id, body, query, viewer)


def delete_record(name: str, record_id: str, viewer: Viewer) -> None:
    collection = service.collection_or_404(name)
    if collection is USERS:
        users.delete_user(record_id, viewer)
    elif collection is ROLLOUTS:
        state_machine.delete_rollout(record_id, viewer)
    else:
        service.delete_record(name, record_id, viewer)
