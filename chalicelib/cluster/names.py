"""Names and labels: what may reach a Kubernetes URL, and label values that are always valid.

Ids and pod names come from URLs; checking them against Kubernetes' own name rules before
they are used means ``..``, ``/`` or an over-long value can never address another resource,
and answers "not found" without a cluster call.
"""

from __future__ import annotations

import re
import unicodedata

from chalicelib.errors import NotFound

PROJECT_LABEL = "one-click.dev/projectId"
DEPLOYMENT_LABEL = "one-click.dev/deploymentId"
ROLLOUT_LABEL = "one-click.dev/rolloutId"
USER_LABEL = "one-click.dev/userId"
USERNAME_LABEL = "one-click.dev/username"
DISPLAY_NAME_LABEL = "one-click.dev/displayName"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE_INVALID = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_ALNUM_EDGES = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")
LABEL_VALUE_MAX = 63


def is_dns_label(name: str) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS_LABEL.fullmatch(name))


def is_dns_subdomain(name: str) -> bool:
    return isinstance(name, str) and len(name) <= 253 and bool(_DNS_SUBDOMAIN.fullmatch(name))


def require_namespace(name: str) -> str:
    """A project id usable as a namespace name; anything else cannot exist there."""
    if not is_dns_label(name):
        raise NotFound()
    return name


def require_object_name(name: str) -> str:
    """A pod/job/rollout name as Kubernetes allows it; anything else cannot exist."""
    if not is_dns_subdomain(name):
        raise NotFound()
    return name


def label_value(raw: object) -> str | None:
    """``raw`` made into a valid label value, or None when nothing valid remains.

    Accents are folded to ASCII, other invalid characters become ``-``, and the result is
    cut to 63 characters and trimmed to start and end alphanumeric — the original silently
    failed to create the namespace (and so the rollout) for names like "Zoë" or "_bob".
    """
    if raw is None:
        return None
    text = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode("ascii")
    text = _LABEL_VALUE_INVALID.sub("-", text)[:LABEL_VALUE_MAX]
    text = _NOT_ALNUM_EDGES.sub("", text)
    return text or None


def carries_project(obj: dict[str, object], project_id: str) -> bool:
    """Whether a Kubernetes object is labelled as belonging to this One-Click project."""
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return isinstance(labels, dict) and labels.get(PROJECT_LABEL) == project_id
