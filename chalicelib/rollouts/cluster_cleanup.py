"""What a cascade delete removes from the cluster, before any record goes (see
``records.cascade``): a deployment's Rollout resource, a project's namespace."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.cluster import namespaces
from chalicelib.cluster import rollouts as cluster
from chalicelib.records.cascade import Plan
from chalicelib.records.store import Record
from chalicelib.rollouts import state_machine


def remove_from_cluster(collection: str, record: Record, _plan: Plan) -> Callable[[], None] | None:
    """Returns the undo for a delete that then fails on a concurrent write: the deployment's
    running rollout (if one still runs) is applied again. A deleted namespace cannot be
    restored while it terminates; that rarer race is left to a retry of the delete."""
    if collection == "projects":
        namespaces.delete_namespace(record["id"])
    elif collection == "deployments":
        cluster.delete_rollout(record["project"], record["id"])
        return lambda: state_machine.converge(record["project"], record["id"])
    return None
