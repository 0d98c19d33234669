"""Versions and constraints with Masterminds semver's grammar (what the original used),
with the wildcard and caret meanings of Masterminds v3/npm where v1 differed (module doc).

``tools/go-reference/compare.py`` runs these tables through Masterminds semver v1.5.0 itself:
versions, their order and the constraint rows agree except the rows marked ``# v1:`` below,
which are the deliberate differences listed in ``chalicelib/autoupdate/semver.py``."""

from __future__ import annotations

import pytest

from chalicelib.autoupdate.semver import Version, parse_constraint, parse_version

PARSED = [
    ("1.2.3", Version(1, 2, 3)),
    ("v1.2.3", Version(1, 2, 3)),
    ("1.2", Version(1, 2, 0, parts=2)),
    ("1", Version(1, 0, 0, parts=1)),
    ("v2", Version(2, 0, 0, parts=1)),
    ("1.2.3-alpine", Version(1, 2, 3, "alpine")),
    ("1.25.3-alpine3.18-perl", Version(1, 25, 3, "alpine3.18-perl")),
    ("1.2.3-rc.1+build.7", Version(1, 2, 3, "rc.1", "build.7")),
    ("1.2.3+build", Version(1, 2, 3, build="build")),
    ("1.2-rc1", Version(1, 2, 0, "rc1", parts=2)),
    ("01.002.0003", Version(1, 2, 3)),  # lenient about leading zeros, like v1
    ("9223372036854775807.0.0", Version(2**63 - 1, 0, 0)),
]


@pytest.mark.parametrize(("text", "version"), PARSED)
def test_parse_version(text: str, version: Version) -> None:
    parsed = parse_version(text)
    assert parsed is not None
    assert (parsed.major, parsed.minor, parsed.patch) == (
        version.major,
        version.minor,
        version.patch,
    )
    assert (parsed.prerelease, parsed.build, parsed.parts) == (
        version.prerelease,
        version.build,
        version.parts,
    )


NOT_VERSIONS = [
    "",
    "latest",
    "V1.2.3",
    "1.2.3.4",
    "1.",
    "1..2",
    "1.2.3-",
    "1.2.3+",
    "1.2.3-a_b",
    " 1.2.3",
    "dev-1.2.3",
    "1.x",
    "-1.2.3",
    "1.2.3-rc..1",
    "9223372036854775808.0.0",  # over int64, as Masterminds
    "1.9223372036854775808",
]


@pytest.mark.parametrize("text", NOT_VERSIONS)
def test_not_a_version(text: str) -> None:
    assert parse_version(text) is None


ASCENDING = [
    "0.0.1",
    "0.1.0",
    "1.0.0-0",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",  # numeric identifiers compare as numbers
    "1.0.0-alpha",  # and before alphanumeric ones
    "1.0.0-alpha.1",  # a longer identifier list ranks after its prefix
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",  # the release after all its pre-releases
    "1.0.1-alpine",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
    "10.0.0",
]


def test_precedence_follows_semver():
    versions = [parse_version(text) for text in ASCENDING]
    assert all(v is not None for v in versions)
    for lower, higher in zip(versions, versions[1:], strict=False):
        assert lower < higher, (lower, higher)
        assert higher > lower
        assert lower != higher
    assert sorted(reversed(versions)) == versions  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("a", "b"),
    [("1.2.3", "v1.2.3"), ("1.2", "1.2.0"), ("1", "1.0.0"), ("1.2.3+a", "1.2.3+b")],
)
def test_equal_versions(a: str, b: str) -> None:
    assert parse_version(a) == parse_version(b)
    assert hash(parse_version(a)) == hash(parse_version(b))


# constraint, versions that satisfy it, versions that do not
CONSTRAINTS = [
    ("1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4", "1.2.2", "1.2.3-rc1"]),
    ("=1.2.3", ["1.2.3"], ["1.2.4"]),
    ("!=1.2.3", ["1.2.2", "1.2.4", "2.0.0"], ["1.2.3", "1.2.4-rc1"]),  # v1: admitted pre-releases
    ("!=1.2.x", ["1.1.9", "1.3.0"], ["1.2.0", "1.2.9"]),
    (">1.2.3", ["1.2.4", "1.3.0", "2.0.0"], ["1.2.3", "1.2.2", "1.2.4-rc1"]),
    (">1.2.x", ["1.3.0", "2.0.0"], ["1.2.9", "1.2.0"]),  # v1: >1.2.0
    (">1", ["2.0.0"], ["1.9.9"]),  # v1: >1.0.0
    (">=1.2.3", ["1.2.3", "1.3.0"], ["1.2.2", "1.3.0-beta"]),
    (">= 1.2", ["1.2.0", "9.0.0"], ["1.1.9"]),
    ("=>1.2.3", ["1.2.3"], ["1.2.2"]),
    ("<1.2.3", ["1.2.2", "0.0.1"], ["1.2.3", "1.2.3-rc1", "1.2.2-rc1"]),
    ("<1.25.x", ["1.24.9"], ["1.25.0", "1.25.3"]),  # v1: admitted 1.25.*
    ("<=1.2.3", ["1.2.3", "1.2.2"], ["1.2.4"]),
    ("<=1.25.x", ["1.25.9", "1.24.0"], ["1.26.0"]),
    ("=<1.2.3", ["1.2.3"], ["1.2.4"]),
    ("1.2.x", ["1.2.0", "1.2.99"], ["1.3.0", "1.1.9", "1.2.5-rc1"]),
    ("1.2.X", ["1.2.7"], ["1.3.0"]),
    ("1.2.*", ["1.2.7"], ["1.3.0"]),
    ("1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),  # v1: exactly 1.2.0
    ("1.x", ["1.0.0", "1.99.0"], ["2.0.0", "0.9.0"]),
    ("1", ["1.5.0"], ["2.0.0"]),
    ("*", ["0.0.0", "1.2.3", "99.0.0"], ["1.0.0-rc1"]),
    ("x", ["3.0.0"], []),
    # v1: admitted 1.25.* (the documented "between" example)
    (">=1.24.x, <1.25.x", ["1.24.0", "1.24.11"], ["1.25.0", "1.25.3", "1.23.9", "1.24.1-rc1"]),
    (">=1.24.x,<1.25.x", ["1.24.3"], ["1.25.3"]),  # v1: admitted 1.25.*
    (">=1.24 <1.25", ["1.24.3"], ["1.25.0"]),  # v1: an error; whitespace is AND
    (">= 1.24, < 1.25", ["1.24.3"], ["1.25.0"]),
    ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.2.2", "1.3.0"]),
    ("~>1.2.3", ["1.2.4"], ["1.3.0"]),
    ("~1", ["1.0.0", "1.9.9"], ["2.0.0"]),
    ("~1.x", ["1.9.9"], ["2.0.0"]),
    ("~0.0.0", ["0.0.0", "0.0.9", "0.1.0", "5.0.0"], ["0.0.1-rc1"]),  # Masterminds' special case
    ("~0.0.x", ["0.0.9"], ["0.1.0"]),
    ("^1.2.3", ["1.2.3", "1.9.0"], ["1.2.2", "2.0.0"]),
    ("^1.2", ["1.2.0", "1.99.0"], ["1.1.0", "2.0.0"]),
    ("^1", ["1.0.0", "1.99.0"], ["2.0.0"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.2.2", "0.3.0", "1.0.0"]),  # v1: <1.0.0
    ("^0.2", ["0.2.0", "0.2.9"], ["0.3.0"]),  # v1: <1.0.0
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),  # v1: <1.0.0
    ("^0.0", ["0.0.0", "0.0.9"], ["0.1.0"]),  # v1: <1.0.0
    ("^0.0.x", ["0.0.9"], ["0.1.0"]),  # v1: <1.0.0
    ("^0", ["0.9.9"], ["1.0.0"]),
    ("^*", ["5.0.0"], []),  # v1: 0.x only
    ("1.x || 3.x", ["1.0.0", "1.9.0", "3.0.0", "3.5.1"], ["2.0.0", "4.0.0", "0.1.0"]),
    ("1.2 - 1.4.5", ["1.2.0", "1.3.0", "1.4.5"], ["1.1.9", "1.4.6", "1.5.0"]),
    ("1.2 - 1.4", ["1.4.9"], ["1.5.0"]),  # v1: <=1.4.0
    ("1.2.3 - 2 || >=5", ["1.2.3", "2.9.0", "5.0.0"], ["3.0.0", "1.2.2"]),
    ("v1.2.3", ["1.2.3"], ["1.2.4"]),
    ("=1.2.3+build", ["1.2.3"], ["1.2.4"]),  # build metadata is ignored
    # a comparator naming a pre-release lets its AND group consider pre-releases
    (
        ">=1.2.11-rc.0, <1.3.0",
        # v1: none of these pre-releases, "<1.3.0" refused them. 1.3.0-rc.1 precedes 1.3.0,
        # so Masterminds v3 (unlike npm) admits it too
        ["1.2.11-rc.0", "1.2.11-rc.1", "1.2.11", "1.2.99-beta", "1.3.0-rc.1"],
        ["1.2.10", "1.2.10-rc.9", "1.3.0"],
    ),
    ("1.2.3-rc1", ["1.2.3-rc1"], ["1.2.3-rc2", "1.2.3"]),
    (">1.2.3-alpha.1", ["1.2.3-alpha.2", "1.2.3-beta", "1.2.3"], ["1.2.3-alpha.1", "1.2.3-alpha"]),
    ("^1.2.3-beta", ["1.2.3-beta.2", "1.2.3", "1.9.0", "1.5.0-alpha"], ["2.0.0", "1.2.3-alpha"]),
    # ... but only within that group
    ("1.2.3-rc1 || 2.x", ["1.2.3-rc1", "2.1.0"], ["2.1.0-rc1"]),
]


@pytest.mark.parametrize(("text", "satisfy", "fail"), CONSTRAINTS)
def test_constraints(text: str, satisfy: list[str], fail: list[str]) -> None:
    constraint = parse_constraint(text)
    for version in satisfy:
        parsed = parse_version(version)
        assert parsed is not None
        assert constraint.check(parsed), f"{version} should satisfy {text}"
    for version in fail:
        parsed = parse_version(version)
        assert parsed is not None
        assert not constraint.check(parsed), f"{version} should not satisfy {text}"


@pytest.mark.parametrize(
    ("text", "names_prerelease"),
    [("1.2.x", False), (">=1.0.0-0", True), ("1.x || >=2.0.0-rc.1 <3", True), ("1.2 - 1.3", False)],
)
def test_names_prerelease(text: str, names_prerelease: bool) -> None:
    assert parse_constraint(text).names_prerelease is names_prerelease


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "latest",
        ">",
        ">=",
        "1.2.3.4",
        ">=1.0,",  # a trailing comma
        ",>=1.0",
        ">=1.0,,<2",
        "1.x ||",
        "|| 1.x",
        ">1<2",  # two comparators glued together
        "1.2.3x",
        "1:x",  # the original's "semver:>=1:x" example
        ">=1:x",
        "1.2 -",
        "1.2 - ",
        "- 1.2",
        ">=1.2 - 1.4",
        "1.x-beta",  # a wildcard with a pre-release
        "~=1.2",  # Python's operator, not semver's
        "==1.2",
        "1.2 -- 1.4",
        ">=9223372036854775808",
    ],
)
def test_invalid_constraints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_constraint(text)
