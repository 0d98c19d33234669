"""The One-Click ``Rollout`` custom resource: validate, apply, delete.

We own ``spec`` and our three labels; the operator owns ``status`` (a subresource, so a PUT
of the main resource can never overwrite it). Validation is two-fold: our tenant policy
(what widens a tenant's power) is checked here, the CRD schema by the apiserver itself in a
server-side dry run — so the answer is exactly what a real apply would say, without a
second copy of the schema to keep in sync.
"""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

from chalicelib.cluster.connection import KubeError, guarded, path, request
from chalicelib.cluster.names import (
    DEPLOYMENT_LABEL,
    PROJECT_LABEL,
    ROLLOUT_LABEL,
    require_namespace,
    require_object_name,
)
from chalicelib.errors import Conflict, Invalid, NotFound
from chalicelib.settings import get_settings

log = logging.getLogger(__name__)

GROUP = "one-click.dev"
VERSION = "v1alpha1"
PLURAL = "rollouts"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "Rollout"
NO_NAMESPACE = "The project's Kubernetes namespace does not exist."
CREATE_FAILED = "Failed to create record."
MANIFEST_CODE = "validation_invalid_manifest"
WRITE_ROUNDS = 6
_FIELD_AT_END = re.compile(
    r'^(?:Invalid value: "[^"]*": )?(?P<message>.+?) in (?P<field>(?:spec|metadata)[\w.\[\]-]*)$'
)


def _collection(project_id: str) -> str:
    return path("apis", GROUP, VERSION, "namespaces", project_id, PLURAL)


def _item(project_id: str, deployment_id: str) -> str:
    return path("apis", GROUP, VERSION, "namespaces", project_id, PLURAL, deployment_id)


def _invalid(problems: list[str], failure_message: str) -> Invalid:
    unique = list(dict.fromkeys(problems))
    return Invalid(
        failure_message, {"manifest": {"code": MANIFEST_CODE, "message": "; ".join(unique)}}
    )


# ---------------------------------------------------------------------------- policy


def policy_problems(manifest: dict[str, Any]) -> list[str]:
    """What the manifest asks for beyond a tenant's rights under this deployment's settings."""
    settings = get_settings()
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        return []
    problems: list[str] = []
    security = spec.get("securityContext")
    if isinstance(security, dict) and not settings.allow_privileged:
        if security.get("privileged") is True:
            problems.append(
                "spec.securityContext.privileged: Forbidden: not allowed on this cluster"
            )
        if security.get("allowPrivilegeEscalation") is True:
            problems.append(
                "spec.securityContext.allowPrivilegeEscalation: Forbidden: not allowed on this "
                "cluster"
            )
        capabilities = security.get("capabilities")
        if isinstance(capabilities, dict) and capabilities.get("add"):
            problems.append(
                "spec.securityContext.capabilities.add: Forbidden: not allowed on this cluster"
            )
    if spec.get("hostAliases") and not settings.allow_host_aliases:
        problems.append("spec.hostAliases: Forbidden: not allowed on this cluster")
    if spec.get("nodeSelector") and not settings.allow_node_selectors:
        problems.append("spec.nodeSelector: Forbidden: not allowed on this cluster")
    if spec.get("tolerations") and not settings.allow_tolerations:
        problems.append("spec.tolerations: Forbidden: not allowed on this cluster")
    account = spec.get("serviceAccountName")
    if isinstance(account, str):
        # The operator runs a pod with an empty name as "default".
        effective = account or "default"
        if effective not in settings.allowed_service_accounts:
            allowed = ", ".join(sorted(settings.allowed_service_accounts)) or "(none)"
            problems.append(
                f"spec.serviceAccountName: Unsupported value: {account!r}: must be one of {allowed}"
            )
    return problems


def _shape_problems(manifest: Any) -> list[str]:
    if not isinstance(manifest, dict):
        return ["manifest: must be a JSON object"]
    problems: list[str] = []
    if manifest.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion: Unsupported value: must be {API_VERSION!r}")
    if manifest.get("kind") != KIND:
        problems.append(f"kind: Unsupported value: must be {KIND!r}")
    if "spec" not in manifest or manifest.get("spec") is None:
        problems.append("spec: Required value")
    elif not isinstance(manifest["spec"], dict):
        problems.append("spec: Invalid value: must be an object")
    return problems


def _kube_problems(err: KubeError) -> list[str]:
    """The apiserver's 422/400 answer as 'field: message' lines."""
    details = err.body.get("details")
    causes = details.get("causes") if isinstance(details, dict) else None
    problems: list[str] = []
    for cause in causes or []:
        if not isinstance(cause, dict):
            continue
        field, message = cause.get("field"), str(cause.get("message") or cause.get("reason"))
        if field in (None, "", "<nil>"):
            # Format errors (e.g. int32 range) come without a field and name it at the end.
            found = _FIELD_AT_END.match(message)
            field, message = (found["field"], found["message"]) if found else (None, message)
        problems.append(f"{field}: {message}" if field else message)
    if not problems:
        problems.append(err.message or "the cluster rejected the manifest")
    return problems


# ---------------------------------------------------------------------------- the object


def _object(
    project_id: str,
    deployment_id: str,
    rollout_id: str | None,
    spec: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Rollout as we write it: name, namespace, exactly our labels, the manifest's spec.

    The manifest's own metadata is ignored (the original let it through): a tenant has no
    business setting finalizers, owner references or annotations on the object.
    """
    labels = {PROJECT_LABEL: project_id, DEPLOYMENT_LABEL: deployment_id}
    if rollout_id:
        labels[ROLLOUT_LABEL] = rollout_id
    meta = {
        k: v
        for k, v in (metadata or {}).items()
        if k not in ("labels", "managedFields", "name", "namespace")
    }
    meta.update({"name": deployment_id, "namespace": project_id, "labels": labels})
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": spec}


def _write(
    project_id: str,
    deployment_id: str,
    rollout_id: str | None,
    spec: dict[str, Any],
    dry_run: bool,
) -> None:
    """Create the Rollout, or replace spec and labels of the existing one (keeping its
    resourceVersion so a concurrent writer is detected, not overwritten).

    GET first, like the original: two calls whether the Rollout exists or not (a create
    attempt first would cost three for the common case, a new rollout of a deployment).
    """
    query = [("dryRun", "All")] if dry_run else []
    collection, item = _collection(project_id), _item(project_id, deployment_id)
    for attempt in range(WRITE_ROUNDS):
        if attempt:
            # Lost a race (another writer, or the operator's status write bumped the
            # resourceVersion): back off a little so racing writers spread out.
            time.sleep(random.uniform(0.01, 0.05 * attempt))  # noqa: S311 - jitter only
        try:
            current = request("GET", item)
        except KubeError as err:
            if err.status != 404:
                raise
            current = None
        if current is None:
            body = _object(project_id, deployment_id, rollout_id, spec)
            try:
                request("POST", collection, query=query, body=body)
                return
            except KubeError as err:
                if err.status == 404:
                    raise NotFound(NO_NAMESPACE) from None
                if err.status == 409:  # created meanwhile: replace it on the next round
                    continue
                raise
        body = _object(project_id, deployment_id, rollout_id, spec, current.get("metadata"))
        try:
            request("PUT", item, query=query, body=body)
            return
        except KubeError as err:
            if err.status not in (404, 409):  # 409: changed meanwhile, 404: deleted meanwhile
                raise
    raise Conflict()


def _spec_of(manifest: Any) -> dict[str, Any]:
    problems = _shape_problems(manifest)
    if problems:
        raise _invalid(problems, CREATE_FAILED)
    return dict(manifest["spec"])


@guarded("validating a rollout manifest")
def validate_manifest(
    project_id: str,
    deployment_id: str,
    manifest: Any,
    failure_message: str = CREATE_FAILED,
) -> None:
    """Raise ``Invalid`` naming every offending field, or return when the manifest would apply.

    Costs two calls: a GET, then a dry-run create (new deployment) or replace (existing
    one). The caller has ensured the namespace exists.
    """
    require_namespace(project_id)
    require_object_name(deployment_id)
    problems = _shape_problems(manifest)
    if not isinstance(manifest, dict):
        raise _invalid(problems, failure_message)
    problems += policy_problems(manifest)
    spec = manifest.get("spec")
    if isinstance(spec, dict):
        try:
            _write(project_id, deployment_id, None, spec, dry_run=True)
        except KubeError as err:
            if err.status not in (400, 422):
                raise
            problems += _kube_problems(err)
    if problems:
        raise _invalid(problems, failure_message)


@guarded("applying a rollout")
def apply_rollout(
    project_id: str, deployment_id: str, rollout_id: str, manifest: dict[str, Any]
) -> None:
    """Create or update the deployment's Rollout with this rollout's spec and labels.

    The tenant policy is checked again here (it costs no call), so no code path can apply a
    manifest that skipped validation. Two calls: GET, then create or replace.
    """
    require_namespace(project_id)
    require_object_name(deployment_id)
    spec = _spec_of(manifest)
    problems = policy_problems(manifest)
    if problems:
        raise _invalid(problems, CREATE_FAILED)
    try:
        _write(project_id, deployment_id, rollout_id, spec, dry_run=False)
    except KubeError as err:
        if err.status not in (400, 422):
            raise
        raise _invalid(_kube_problems(err), CREATE_FAILED) from None


@guarded("deleting a rollout")
def delete_rollout(project_id: str, deployment_id: str) -> None:
    """Delete the deployment's Rollout (the operator's children are garbage-collected);
    missing is fine."""
    try:
        require_namespace(project_id)
        require_object_name(deployment_id)
    except NotFound:
        return
    try:
        request("DELETE", _item(project_id, deployment_id))
    except KubeError as err:
        if err.status != 404:
            raise


@guarded("reading a rollout")
def get_rollout(project_id: str, deployment_id: str) -> dict[str, Any]:
    """The Rollout object as stored; NotFound when missing."""
    require_namespace(project_id)
    require_object_name(deployment_id)
    try:
        return dict(request("GET", _item(project_id, deployment_id)))
    except KubeError as err:
        if err.status == 404:
            raise NotFound() from None
        raise
