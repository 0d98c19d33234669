"""What a cascade delete removes from the cluster, before any record goes (see
``records.cascade``): a deployment's Rollout resource, a project's namespace."""

from __future__ import annotations

from chalicelib.cluster import namespaces
from chalicelib.cluster import rollouts as cluster
from chalicelib.records.cascade import Plan
from chalicelib.records.store import Record


def remove_from_cluster(collection: str, record: Record, _plan: Plan) -> None:
    if collection == "projects":
        namespaces.delete_namespace(record["id"])
    elif collection == "deployments":
        cluster.delete_rollout(record["project"], record["id"])
