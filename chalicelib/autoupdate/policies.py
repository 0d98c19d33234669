"""Tag policies: which tag an autoUpdate moves to, and whether that is worth a rollout.

The rules, with examples, are in the README ("Tag policies"); the places where we part
from the original (reference §5.3) are deliberate: prefixed tags work with ``semver``, ties
and the empty policy are deterministic, a mutable tag whose digest changed is rolled out, and
a tag set by hand to something newer is not downgraded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, cast, get_args

from chalicelib.autoupdate import invalid
from chalicelib.autoupdate.semver import (
    Constraint,
    Version,
    parse_constraint,
    parse_version,
    version_text,
)

PolicyKind = Literal["asc", "desc", "latest", "semver", "timestamp"]
KINDS: tuple[str, ...] = get_args(PolicyKind)
# OCI caps tags at 128 characters; a longer "tag" is not one, and the cap bounds the regex work.
MAX_TAG_LENGTH = 128
# The whole tag, or the rest after the shortest prefix ending in "-" or "_"; after a prefix
# a bare number (pr-42, build-1700000000, sha-1234567) is a build or PR number, not a version.
_TAG_VERSION = re.compile(rf"({version_text()})|.*?[-_]({version_text(min_parts=2)})", re.ASCII)
_TIMESTAMP = re.compile(r"\b[0-9]{10}\b", re.ASCII)
POLICY_MESSAGE = "policy must be one of asc, desc, latest, semver, semver:<constraint> or timestamp"


@dataclass(frozen=True)
class Policy:
    kind: PolicyKind
    constraint: Constraint | None = None


# The original kept registry order for an empty policy, which is arbitrary. The newest
# version is what a user who did not choose means, never picks "latest", "edge" or a commit
# hash, and the docs' default pattern (x.x.x) is a version pattern.
DEFAULT_POLICY = Policy("semver")


def parse_policy(text: str) -> Policy:
    """The policy in ``text``; ``Invalid`` (400 at write time) for anything else. Only the
    first ':' separates, so ``semver:>=1.24.x, <1.25.x`` keeps its whole constraint."""
    kind, colon, constraint = text.strip().partition(":")
    kind = kind.strip().lower()
    if not kind and not colon:
        return DEFAULT_POLICY
    if colon:
        if kind != "semver":
            raise invalid("policy", "only semver takes a constraint, e.g. semver:^1.2")
        try:
            return Policy("semver", parse_constraint(constraint))
        except ValueError as exc:
            raise invalid("policy", f"policy constraint is not valid: {exc}") from None
    if kind not in KINDS:
        raise invalid("policy", POLICY_MESSAGE)
    return Policy(cast(PolicyKind, kind))


def version_in_tag(tag: str) -> Version | None:
    """The version a tag names: the tag is ``<prefix><version>`` with an empty prefix or the
    shortest one ending in '-' or '_' followed by at least MAJOR.MINOR (``1.2.3``, ``7``,
    ``v1.2.3``, ``dev-1.2.3``, ``test-1.2.3-rc1`` → 1.2.3-rc1, ``1.25.3-alpine`` →
    1.25.3-alpine; ``alpine3.18``, ``1.2.3_linux`` and ``pr-42`` name none)."""
    if len(tag) > MAX_TAG_LENGTH:
        return None
    match = _TAG_VERSION.fullmatch(tag)
    return parse_version(match[1] or match[2]) if match else None


def timestamp_in_tag(tag: str) -> int | None:
    """The first standalone 10-digit number (unix seconds), as the original read it."""
    match = _TIMESTAMP.search(tag)
    return int(match[0]) if match else None


def _plainest(tags: Iterable[str]) -> str:
    """Among tags that rank equal: the shortest, then the first alphabetically."""
    return min(tags, key=lambda tag: (len(tag), tag))


def _choose_semver(tags: list[str], constraint: Constraint | None) -> str | None:
    versions = {tag: v for tag in tags if (v := version_in_tag(tag)) is not None}
    if constraint is not None and constraint.names_prerelease:
        eligible = {tag: v for tag, v in versions.items() if constraint.check(v)}
    elif any(not v.prerelease for v in versions.values()):
        # Plain releases exist: suffixed tags (1.2.3-rc1, 1.2.3-alpine) are pre-releases.
        eligible = {
            tag: v
            for tag, v in versions.items()
            if not v.prerelease and (constraint is None or constraint.check(v))
        }
    else:
        # Every tag the pattern kept carries a suffix: the pattern chose a variant (-alpine,
        # -slim), so the constraint applies to major.minor.patch.
        eligible = {
            tag: v
            for tag, v in versions.items()
            if constraint is None or constraint.check(v.release())
        }
    if not eligible:
        return None
    best = max(eligible.values())
    tied = [tag for tag, v in eligible.items() if v == best]
    most_parts = max(eligible[tag].parts for tag in tied)
    return _plainest(tag for tag in tied if eligible[tag].parts == most_parts)


def _choose_timestamp(tags: list[str]) -> str | None:
    stamps = {tag: ts for tag in tags if (ts := timestamp_in_tag(tag)) is not None}
    if not stamps:
        return None
    newest = max(stamps.values())
    return _plainest(tag for tag, ts in stamps.items() if ts == newest)


def choose_tag(tags: Iterable[str], policy: Policy, pattern: Callable[[str], bool]) -> str | None:
    """The tag the policy picks among those the pattern keeps, or None."""
    kept = sorted({tag for tag in tags if pattern(tag)})
    if not kept:
        return None
    if policy.kind == "asc":
        return kept[0]
    if policy.kind == "desc":
        return kept[-1]
    if policy.kind == "latest":
        return "latest" if "latest" in kept else None
    if policy.kind == "timestamp":
        return _choose_timestamp(kept)
    return _choose_semver(kept, policy.constraint)


def is_newer(policy: Policy, candidate: str, current: str) -> bool:
    """False only when the policy can rank both tags and ``current`` is not behind
    ``candidate`` (semver: the versions, timestamp: the times). asc, desc and latest have no
    notion of "newer" that survives a tag set by hand, so any other candidate counts."""
    if policy.kind == "semver":
        new_version, old_version = version_in_tag(candidate), version_in_tag(current)
        return new_version is None or old_version is None or new_version > old_version
    if policy.kind == "timestamp":
        new_time, old_time = timestamp_in_tag(candidate), timestamp_in_tag(current)
        return new_time is None or old_time is None or new_time > old_time
    return True


def should_roll_out(
    policy: Policy,
    candidate: str | None,
    current_tag: str,
    current_digest: str | None,
    candidate_digest: str | None,
) -> bool:
    """Whether the check ends in a new rollout.

    A different tag rolls out unless it would be a downgrade (``is_newer``). The same tag
    rolls out when its digest moved since our last rollout of it (``latest``, ``1.25``),
    which the original never noticed; an unknown digest on either side is no evidence.
    """
    if candidate is None:
        return False
    if candidate != current_tag:
        return is_newer(policy, candidate, current_tag)
    return bool(current_digest and candidate_digest and current_digest != candidate_digest)
