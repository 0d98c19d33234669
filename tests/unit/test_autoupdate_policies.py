"""Tag policies against realistic tag lists and the original's documented examples
(reference §5.3; ``pocketbase/filters.md`` and docs ``platform/image.md`` of the original)."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.autoupdate.patterns import compile_pattern
from chalicelib.autoupdate.policies import (
    DEFAULT_POLICY,
    POLICY_MESSAGE,
    Policy,
    choose_tag,
    is_newer,
    parse_policy,
    should_roll_out,
    timestamp_in_tag,
    version_in_tag,
)
from chalicelib.autoupdate.semver import parse_version
from chalicelib.errors import Invalid

NGINX = [
    "latest",
    "stable",
    "mainline",
    "alpine",
    "perl",
    "stable-alpine",
    "mainline-alpine3.18-perl",
    "alpine3.18",
    "1",
    "1-alpine",
    "1.24",
    "1.24.0",
    "1.24.0-alpine",
    "1.24.0-perl",
    "1.25",
    "1.25-alpine",
    "1.25.2",
    "1.25.2-alpine",
    "1.25.3",
    "1.25.3-alpine",
    "1.25.3-alpine-slim",
    "1.25.3-alpine3.18-perl",
    "1.25.3-bookworm",
    "1.23.4",
    "1.22.1",
]


# (policy, pattern, tags, expected candidate)
CHOICES = [
    # nginx
    ("", "", NGINX, "1.25.3"),  # the default policy is semver
    ("semver", "", NGINX, "1.25.3"),
    ("semver", r"^\d+\.\d+\.\d+$", NGINX, "1.25.3"),
    ("semver:1.24.x", "", NGINX, "1.24.0"),  # "1.24" names 1.24.0 too: the fuller tag wins
    ("semver:>=1.24.x, <1.25.x", "", NGINX, "1.24.0"),
    ("semver:~1.25", "", NGINX, "1.25.3"),
    ("semver:<1.25", "", NGINX, "1.24.0"),
    ("semver:1.23.x || 1.22.x", "", NGINX, "1.23.4"),
    ("semver:^2", "", NGINX, None),
    ("semver", "-alpine$", NGINX, "1.25.3-alpine"),  # the pattern chose a variant
    ("semver:1.24.x", "-alpine$", NGINX, "1.24.0-alpine"),
    ("semver:1.24.x", "alpine", NGINX, "1.24.0-alpine"),
    ("semver:~1.25", "-perl$", NGINX, "1.25.3-alpine3.18-perl"),
    ("asc", "", NGINX, "1"),  # lexicographic ascending picks the smallest string
    ("desc", "", NGINX, "stable-alpine"),
    ("desc", r"^\d+\.\d+\.\d+$", NGINX, "1.25.3"),
    ("asc", r"^\d+\.\d+\.\d+$", NGINX, "1.22.1"),
    ("latest", "", NGINX, "latest"),
    ("latest", r"^1\.", NGINX, None),  # the pattern removed it
    ("timestamp", "", NGINX, None),
    # pocketbase/filters.md: Timestamp, suffix and prefix
    (
        "timestamp",
        r"\d{10}-slim$",
        ["1700000000-slim", "1700003600-slim", "1700007200", "1690000000-slim", "latest"],
        "1700003600-slim",
    ),
    (
        "timestamp",
        r"slim-\d{10}$",
        ["slim-1700000000", "slim-1700003600", "1700007200", "fat-1800000000"],
        "slim-1700003600",
    ),
    # filters.md: Semver plain, prefix (the original dropped prefixed tags), suffix, between
    ("semver:1.2.x", ".*", ["1.2.0", "1.2.5", "1.3.0", "1.2.6-rc1", "latest"], "1.2.5"),
    ("semver:1.2.x", "test-.*", ["test-1.2.1", "test-1.2.4", "test-1.3.0", "1.2.9"], "test-1.2.4"),
    ("semver:1.2.x", ".*-slim", ["1.2.3-slim", "1.2.4-slim", "1.3.0-slim", "1.2.9"], "1.2.4-slim"),
    ("semver:>=1.24.x, <1.25.x", ".*", NGINX, "1.24.0"),
    ("semver:>=1.24.x, <1.25.x", r"^\d+\.\d+\.\d+$", NGINX, "1.24.0"),
    # docs platform/image.md: the four examples
    ("semver", r"^\d+.\d+.\d+$", ["1.2.0", "1.2.1", "latest"], "1.2.1"),
    (
        "semver",
        r"dev-\d+.\d+.\d+$",
        ["dev-1.2.3", "dev-1.2.10", "dev-1.3.0-rc1", "test-1.9.0", "1.9.0", "dev-latest"],
        "dev-1.2.10",
    ),
    ("timestamp", ".*", ["1700000000", "1700000600", "latest", "main-1600000000"], "1700000600"),
    (
        "timestamp",
        "preview-*",
        ["preview-1700000000", "preview-1700000600", "main-1800000000"],
        "preview-1700000600",
    ),
    # prefixed and v-tags, pre-releases
    ("semver", "", ["v1.2.3", "v1.10.0", "v1.9.9", "main", "sha-3f9a2c1"], "v1.10.0"),
    ("semver:^1.2", "", ["release-v1.2.0", "release-v1.4.2", "release-v2.0.0"], "release-v1.4.2"),
    ("semver", "", ["1.2.3", "1.2.4-rc1"], "1.2.3"),  # releases exist: rc tags wait
    ("semver:1.2.x", "", ["1.2.3", "1.2.4-rc1"], "1.2.3"),
    ("semver:>=1.2.4-0", "", ["1.2.3", "1.2.4-rc1"], "1.2.4-rc1"),  # the constraint asks for them
    ("semver:>=1.2.11-rc.0, <1.3.0", "", ["1.2.10", "1.2.11-rc.1", "1.2.11-rc.2"], "1.2.11-rc.2"),
    ("semver:>=1.2.11-rc.0, <1.3.0", "", ["1.2.11-rc.2", "1.2.11"], "1.2.11"),
    ("semver:1.2.x", "-rc", ["1.2.4-rc1", "1.2.4-rc2", "1.3.0-rc1"], "1.2.4-rc2"),
    ("semver", "", ["0.9.0-beta", "0.10.0-alpha"], "0.10.0-alpha"),
    # tags made by CI tools next to the releases (docker/metadata-action style)
    (
        "",
        "",
        ["1.2.2", "1.2.3", "main", "sha-3f9a2c1", "sha-1234567", "pr-42", "build-1700000000"],
        "1.2.3",
    ),
    # ties are deterministic: the fuller version, then the shortest tag, then alphabetical
    ("semver", "", ["v1.2.3", "release-1.2.3", "1.2.3"], "1.2.3"),
    ("semver", "", ["1.2", "1.2.0", "1"], "1.2.0"),
    ("semver", "", ["v1.2.0", "1.2"], "v1.2.0"),
    ("semver", "", ["b-1.2.3", "a-1.2.3"], "a-1.2.3"),
    ("timestamp", "", ["build-1700000000", "1700000000-slim", "1700000000"], "1700000000"),
    ("timestamp", "", ["b-1700000000", "a-1700000000"], "a-1700000000"),
    # nothing to choose
    ("semver", "", [], None),
    ("semver", "^nomatch$", NGINX, None),
    ("semver", "", ["latest", "main", "edge"], None),
    ("semver:1.2.x", "", ["1.3.0", "2.0.0"], None),
    ("timestamp", "", ["slim_1700000000", "17000000001", "x1700000000"], None),
    ("asc", "", [], None),
    ("desc", "^z", ["a", "b"], None),
]


@pytest.mark.parametrize(("policy", "pattern", "tags", "expected"), CHOICES)
def test_choose_tag(policy: str, pattern: str, tags: list[str], expected: str | None) -> None:
    assert choose_tag(tags, parse_policy(policy), compile_pattern(pattern)) == expected


@pytest.mark.parametrize(
    "tags",
    [
        ["v1.2.3", "release-1.2.3", "1.2.3", "1.2", "1.2.2"],
        ["build-1700000000", "1700000000-slim", "1700000000", "1600000000"],
    ],
)
@pytest.mark.parametrize("policy", ["semver", "timestamp", "asc", "desc"])
def test_choice_does_not_depend_on_registry_order(tags: list[str], policy: str) -> None:
    chosen = {
        choose_tag(iter(order), parse_policy(policy), compile_pattern(""))
        for order in itertools.permutations(tags)
    }
    assert len(chosen) == 1


def test_duplicate_tags_are_harmless():
    tags = ["1.2.3", "1.2.3", "1.2.4", "1.2.4"]
    assert choose_tag(tags, parse_policy("semver"), compile_pattern("")) == "1.2.4"


VERSIONS_IN_TAGS = [
    ("1.2.3", "1.2.3"),
    ("v1.2.3", "1.2.3"),
    ("1.2", "1.2.0"),
    ("7", "7.0.0"),
    ("dev-1.2.3", "1.2.3"),
    ("test-1.2.3-rc1", "1.2.3-rc1"),
    ("dev-1.2.3-2", "1.2.3-2"),  # the shortest prefix: not "dev-1.2.3-" + "2"
    ("release_v2.0", "2.0.0"),
    ("my-app-1.0", "1.0.0"),
    ("1.25.3-alpine", "1.25.3-alpine"),
    ("1.25.3-alpine3.18-perl", "1.25.3-alpine3.18-perl"),
    ("2023.11.05", "2023.11.5"),
    ("alpine3.18", None),  # the number is not after '-' or '_'
    ("x1.2.3", None),
    ("1.2.3_linux", None),  # the version must run to the end of the tag
    ("1.2.3.4", None),
    ("latest", None),
    ("stable-alpine", None),
    ("mainline-alpine3.18-perl", None),
    ("sha-3f9a2c1", None),
    # after a prefix a bare number is a PR, build or hash, not a version
    ("pr-42", None),
    ("build-1700000000", None),
    ("sha-1234567", None),
    ("release-v2", None),
    ("release-v2.0", "2.0.0"),
    ("pr-42-1.2", "1.2.0"),
    ("1700000000", "1700000000.0.0"),  # without a prefix it is one, as in Masterminds
    ("9" * 129, None),  # longer than any OCI tag
]


@pytest.mark.parametrize(("tag", "version"), VERSIONS_IN_TAGS)
def test_version_in_tag(tag: str, version: str | None) -> None:
    found = version_in_tag(tag)
    assert (str(found) if found else None) == version


@pytest.mark.parametrize(
    ("tag", "seconds"),
    [
        ("1700000000", 1_700_000_000),
        ("preview-1700000000", 1_700_000_000),
        ("1700000000-slim", 1_700_000_000),
        ("1700000000.5", 1_700_000_000),
        ("1600000000-1700000000", 1_600_000_000),  # the first one, as the original
        ("slim_1700000000", None),  # '_' is a word character: no boundary
        ("x1700000000", None),
        ("17000000001", None),
        ("170000000", None),
        ("latest", None),
    ],
)
def test_timestamp_in_tag(tag: str, seconds: int | None) -> None:
    assert timestamp_in_tag(tag) == seconds


VALID_POLICIES = [
    ("", "semver", None),
    ("   ", "semver", None),
    ("asc", "asc", None),
    ("desc", "desc", None),
    ("latest", "latest", None),
    ("semver", "semver", None),
    ("timestamp", "timestamp", None),
    (" Semver ", "semver", None),
    ("semver:1.2.x", "semver", "1.2.x"),
    ("semver:>=1.24.x, <1.25.x", "semver", ">=1.24.x, <1.25.x"),
    ("semver: >=1.0,<2 ", "semver", ">=1.0,<2"),
    ("semver:1.x || 3.x", "semver", "1.x || 3.x"),
]


@pytest.mark.parametrize(("text", "kind", "constraint"), VALID_POLICIES)
def test_parse_policy(text: str, kind: str, constraint: str | None) -> None:
    policy = parse_policy(text)
    assert policy.kind == kind
    assert (policy.constraint.text if policy.constraint else None) == constraint


def test_the_whole_constraint_after_the_first_colon_is_kept():
    constraint = parse_policy("semver:>=1.24.x, <1.25.x").constraint
    assert constraint is not None
    assert constraint.check(parse_version("1.24.7"))  # type: ignore[arg-type]
    assert not constraint.check(parse_version("1.25.0"))  # type: ignore[arg-type]


def test_the_default_policy_is_plain_semver():
    assert parse_policy("") == DEFAULT_POLICY == Policy("semver")


INVALID_POLICIES = [
    ("newest", POLICY_MESSAGE),
    ("alphabetical", POLICY_MESSAGE),
    ("semverx", POLICY_MESSAGE),
    ("asc:1", "only semver takes a constraint, e.g. semver:^1.2"),
    ("timestamp:unix", "only semver takes a constraint, e.g. semver:^1.2"),
    (":1.2", "only semver takes a constraint, e.g. semver:^1.2"),
    ("semver:", "policy constraint is not valid: the constraint is empty"),
    ("semver:latest", "policy constraint is not valid: improper constraint: latest"),
    # the original split on every ':' and silently fell back to registry order here
    ("semver:>=1:x", "policy constraint is not valid: improper constraint: >=1:x"),
    ("semver:>=1.0,", "policy constraint is not valid: improper constraint: >=1.0,"),
]


@pytest.mark.parametrize(("text", "message"), INVALID_POLICIES)
def test_invalid_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_policy(text)
    assert caught.value.message == message
    assert caught.value.data == {
        "policy": {"code": "validation_invalid_policy", "message": message}
    }


SEMVER = Policy("semver")
# (policy, candidate, current tag, digest last rolled out, candidate's digest, roll out?)
ROLL_OUTS = [
    (SEMVER, None, "1.2.3", "sha256:a", "sha256:b", False),
    (SEMVER, "1.2.4", "1.2.3", None, None, True),
    (SEMVER, "1.10.0", "1.9.0", None, None, True),
    (SEMVER, "dev-1.2.4", "dev-1.2.3", None, None, True),
    (SEMVER, "1.2.4", "latest", None, None, True),  # the current tag is no version
    (SEMVER, "1.2.4", "", None, None, True),
    (SEMVER, "1.2.3", "1.2.4", None, None, False),  # set by hand to something newer
    (parse_policy("semver:1.x"), "1.9.0", "2.0.0", None, None, False),
    (SEMVER, "1.2.9", "1.3.0-rc1", None, None, False),
    (SEMVER, "1.2.3", "v1.2.3", None, None, False),  # the same version
    (SEMVER, "1.2.0", "1.2", None, None, False),
    (SEMVER, "1.2.4-alpine", "1.2.3-alpine", None, None, True),
    (SEMVER, "1.2.3", "1.2.3-rc1", None, None, True),
    (SEMVER, "1.2.3-alpine", "1.2.3", None, None, False),  # a variant ranks as a pre-release
    (SEMVER, "1.2.3", "1.2.3", "sha256:a", "sha256:b", True),  # the tag was re-pushed
    (SEMVER, "1.2.3", "1.2.3", "sha256:a", "sha256:a", False),
    (SEMVER, "1.2.3", "1.2.3", None, "sha256:b", False),  # unknown: no evidence
    (SEMVER, "1.2.3", "1.2.3", "sha256:a", None, False),
    (SEMVER, "1.2.3", "1.2.3", "", "sha256:b", False),
    (SEMVER, "1.2.4", "1.2.3", "sha256:a", "sha256:a", True),
    (Policy("latest"), "latest", "latest", "sha256:a", "sha256:b", True),
    (Policy("latest"), "latest", "latest", "sha256:a", "sha256:a", False),
    (Policy("latest"), "latest", "latest", None, None, False),
    (Policy("latest"), "latest", "1.25.3", None, None, True),
    (Policy("latest"), None, "latest", "sha256:a", "sha256:b", False),
    (Policy("timestamp"), "1700000600", "1700000000", None, None, True),
    (Policy("timestamp"), "1700000000", "1700000600", None, None, False),
    (Policy("timestamp"), "1700000000-slim", "1700000000", None, None, False),
    (Policy("timestamp"), "1700000000", "main", None, None, True),
    (Policy("timestamp"), "1700000000", "1700000000", "sha256:a", "sha256:b", True),
    (Policy("asc"), "1.0", "2.0", None, None, True),  # no "newer" to protect for asc/desc
    (Policy("desc"), "a", "b", None, None, True),
    (Policy("desc"), "b", "b", None, None, False),
]


@pytest.mark.parametrize(
    ("policy", "candidate", "current", "current_digest", "candidate_digest", "expected"),
    ROLL_OUTS,
)
def test_should_roll_out(
    policy: Policy,
    candidate: str | None,
    current: str,
    current_digest: str | None,
    candidate_digest: str | None,
    expected: bool,
) -> None:
    assert should_roll_out(policy, candidate, current, current_digest, candidate_digest) is expected


@pytest.mark.parametrize(
    ("policy", "candidate", "current", "expected"),
    [
        (SEMVER, "2.0.0", "1.9.9", True),
        (SEMVER, "1.9.9", "2.0.0", False),
        (SEMVER, "1.9.9", "1.9.9", False),
        (SEMVER, "main", "1.9.9", True),
        (Policy("timestamp"), "1700000001", "1700000000", True),
        (Policy("timestamp"), "1700000000", "preview-1700000001", False),
        (Policy("latest"), "latest", "1.0.0", True),
        (Policy("asc"), "a", "b", True),
    ],
)
def test_is_newer(policy: Policy, candidate: str, current: str, expected: bool) -> None:
    assert is_newer(policy, candidate, current) is expected


def test_a_hand_set_newer_tag_is_kept_across_ticks():
    """The original rolled back a hand-set 2.0.0 to 1.9.0 on every tick (§5.3 step 9)."""
    tags = ["1.8.0", "1.9.0", "2.0.0"]
    policy = parse_policy("semver:1.x")
    candidate = choose_tag(tags, policy, compile_pattern(""))
    assert candidate == "1.9.0"
    assert not should_roll_out(policy, candidate, "2.0.0", "sha256:2", "sha256:1")
    assert should_roll_out(policy, candidate, "1.8.0", "sha256:8", "sha256:9")
