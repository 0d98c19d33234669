"""A deployment running an image with its autoUpdate, written straight into the store as
the API leaves them: for tick tests and benchmarks that need many quickly."""

from __future__ import annotations

from typing import Any


def seed_deployment(
    user_id: str, project_id: str, manifest: dict[str, Any], pattern: str, due: str
) -> str:
    """A deployment running ``manifest`` and its semver autoUpdate due at ``due``; returns
    the autoUpdate's id."""
    from chalicelib.records import store, values
    from chalicelib.records.auto_updates import new_secret

    stamp = values.now()
    base = {"created": stamp, "updated": stamp, "user": user_id, "project": project_id}
    deployment, rollout, auto_update = (values.new_id() for _ in range(3))
    store.create(
        "deployments",
        {**base, "id": deployment, "name": "d", "avatar": "", "runningRollout": rollout},
    )
    store.create(
        "rollouts",
        {
            **base,
            "id": rollout,
            "deployment": deployment,
            "manifest": manifest,
            "startDate": stamp,
            "endDate": "",
            "hide": False,
        },
    )
    store.create(
        "autoUpdates",
        {
            **base,
            "id": auto_update,
            "deployment": deployment,
            "interval": "5m",
            "pattern": pattern,
            "policy": "semver",
            "nextCheck": due,
            "webhookSecret": new_secret(),
        },
    )
    return auto_update
