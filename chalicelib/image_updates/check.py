"""One autoUpdate check: list the registry's tags, let the policy choose, roll out a change.

The decision is the pure ``chalicelib.autoupdate`` domain; this module only feeds it the
running rollout's image and the registry's answer, and hands a new tag to the state
machine, which makes it exactly-once: a racing tick or webhook gets ``Superseded``.
Every failure becomes a plain-words ``error`` on the outcome instead of an exception, so
one broken autoUpdate cannot stop a tick (the original's panics took the server down).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from chalicelib.autoupdate.patterns import compile_pattern
from chalicelib.autoupdate.policies import choose_tag, parse_policy, should_roll_out
from chalicelib.errors import ApiError, ServiceUnavailable
from chalicelib.records import store
from chalicelib.records.store import Record
from chalicelib.registry.client import RegistryClient, RegistryError
from chalicelib.registry.credentials import (
    credentials_from_image,
    resolve_credential_reference,
)
from chalicelib.registry.reference import repository_from_image
from chalicelib.rollouts import state_machine

logger = logging.getLogger("oneclick.autoupdate")
_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class Outcome:
    found: str = ""  # the tag the policy chose
    digest: str = ""  # that tag's digest, when the policy needed it
    rollout: str = ""  # the rollout this check created
    error: str = ""  # plain words for the owner; "" when the check went fine
    retry_soon: bool = False  # the cluster or the registry failed for now: check on the next tick
    timed_out: bool = False  # the registry did not answer in time


# Reads of the deployment after finding the rollout it pointed to ended meanwhile.
_POINTER_READS = 4


def running_rollout(deployment: Record | None, preloaded: dict[str, Record]) -> Record | None:
    """The deployment's running rollout: its pointer, else (older data) the index.

    The deployment and the rollout are two reads: a rollout committed between them (a
    racing webhook's or tick's) ends the one the pointer named, and moves the pointer. So
    an ended rollout is only believed once the deployment, read again, still points to it."""
    for _ in range(_POINTER_READS):
        if deployment is None:
            return None
        pointer = deployment.get("runningRollout")
        if not pointer:
            rollouts = store.query("rollouts", "deployment", deployment["id"])
            return next((r for r in rollouts if r["endDate"] == ""), None)
        found = preloaded.get(pointer) or store.get("rollouts", pointer)
        if found is not None and found["endDate"] == "":
            return found
        current = store.get("deployments", deployment["id"])
        if current is None or current.get("runningRollout") == pointer:
            return None  # it really ended (stopped, or the deployment is gone)
        deployment = current
    return None


def _image(rollout: Record) -> dict[str, Any]:
    spec = (rollout.get("manifest") or {}).get("spec")
    image = spec.get("image") if isinstance(spec, dict) else None
    if not isinstance(image, dict) or not isinstance(image.get("tag"), str):
        raise ValueError("the running rollout's manifest has no spec.image with a tag")
    return image


def registry_host(running: Record | None) -> str:
    """The registry the check of ``running`` asks; "" when the check cannot ask one."""
    if running is None:
        return ""
    try:
        return repository_from_image(_image(running)).host
    except (ValueError, ApiError):
        return ""


def check(auto_update: Record, running: Record | None, registry: RegistryClient) -> Outcome:
    if running is None:
        return Outcome(error="The deployment has no running rollout to update.")
    try:
        image = _image(running)
        repository = repository_from_image(image)
        policy = parse_policy(auto_update["policy"])
        pattern = compile_pattern(auto_update["pattern"])
    except (ValueError, ApiError) as problem:
        return Outcome(error=_words(problem))
    try:
        credentials = (
            resolve_credential_reference(auto_update["credentials"], auto_update["user"])
            if auto_update["credentials"]
            else credentials_from_image(image)
        )
        candidate = choose_tag(registry.list_tags(repository, credentials), policy, pattern)
        digest = None
        if candidate is not None and policy.kind == "latest":
            digest = registry.digest(repository, candidate, credentials)
    except RegistryError as problem:
        if problem.kind == "timeout":  # a slow moment or a dead registry: try the next tick
            error = f"{_words(problem)}; checking again on the next tick"
            return Outcome(error=error, retry_soon=True, timed_out=True)
        return Outcome(error=_words(problem))
    except ApiError as problem:
        return Outcome(error=_words(problem))
    if candidate is None:
        return Outcome(error=f"No tag of {repository.name} matches the pattern and policy.")
    last_digest = auto_update.get("lastDigest") or None
    if not should_roll_out(policy, candidate, image["tag"], last_digest, digest):
        return Outcome(found=candidate, digest=digest or "")
    manifest = copy.deepcopy(running["manifest"])
    manifest["spec"]["image"]["tag"] = candidate
    try:
        created = state_machine.replace_running(running, manifest)
    except state_machine.Superseded:
        return Outcome(found=candidate, digest=digest or "")
    except ServiceUnavailable as problem:  # the cluster is unreachable: the next tick retries
        return Outcome(found=candidate, error=_retrying(candidate, problem), retry_soon=True)
    except ApiError as problem:  # the cluster refused the manifest: retrying cannot help
        return Outcome(found=candidate, error=_words(problem))
    except Exception as problem:  # noqa: BLE001 - reported to the owner, retried next tick
        logger.exception("auto-update %s could not roll out %s", auto_update["id"], candidate)
        return Outcome(found=candidate, error=_retrying(candidate, problem), retry_soon=True)
    return Outcome(found=candidate, digest=digest or "", rollout=created["id"])


def _retrying(tag: str, problem: Exception) -> str:
    return f"Could not roll out {tag}; retrying on the next tick: {_words(problem)}"


def _words(problem: Exception) -> str:
    text = getattr(problem, "message", None) or str(problem) or type(problem).__name__
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
