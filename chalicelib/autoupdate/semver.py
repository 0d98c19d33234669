"""Semantic versions and constraints with the grammar of Masterminds semver, which the
original used (v1.5.0), so ``semver:<constraint>`` policies written for it keep their meaning.

Versions are lenient like Masterminds' ``NewVersion``: ``v1.2.3``, ``1.2`` (= 1.2.0), ``1``,
``1.2.3-alpine`` (pre-release ``alpine``), ``1.2.3+build`` (build ignored when comparing).
Precedence follows SemVer 2.0: a pre-release sorts before its release, numeric identifiers
compare as numbers and before alphanumeric ones.

Constraints: ``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=`` (also ``=>``, ``=<``), ``~`` (``~>``),
``^``, wildcards ``x``/``X``/``*`` or missing parts (``1.2.x`` = ``1.2``), hyphen ranges
``1.2 - 1.4.5``; ``,`` or whitespace is AND, ``||`` is OR. Where v1 gave wildcards in bounds
a meaning nobody writes them for, we use the one Masterminds v3 (and npm) settled on:

- ``<1.25.x`` is ``<1.25.0`` (v1 admitted all of 1.25, so the documented "between" example
  ``>=1.24.x, <1.25.x`` jumped to 1.25), ``<=1.25.x`` is ``<1.26.0``, ``>1.2.x`` is ``>=1.3.0``;
- ``1.2`` is ``1.2.x`` (v1: exactly 1.2.0);
- ``^0.2.3`` is ``>=0.2.3, <0.3.0`` and ``^0.0.3`` is ``>=0.0.3, <0.0.4`` (v1: ``<1.0.0``),
  because a 0.x minor bump is a breaking change in SemVer and an auto-update must not take it;
  ``^*`` is anything (v1: 0.x).

Pre-releases satisfy an AND group only if one of its comparators names a pre-release
(Masterminds' rule as v3 applies it, per group: v1 applied it per comparator, so
``>=1.2.11-rc.0, <1.3.0`` admitted no rc tag, and not at all to ``!=1.2.3``).

``tools/go-reference/compare.py`` checks the unit tables against the Go library itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(
    rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-({_IDENTIFIERS}))?(?:\+({_IDENTIFIERS}))?"
)
_WILD = r"[0-9]+|[xX*]"
_PARTIAL_TEXT = rf"v?(?:{_WILD})(?:\.(?:{_WILD})){{0,2}}(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?"
_PARTIAL = re.compile(
    rf"v?({_WILD})(?:\.({_WILD}))?(?:\.({_WILD}))?(?:-({_IDENTIFIERS}))?(?:\+{_IDENTIFIERS})?"
)
_TERM = re.compile(
    rf"\s*(?:(?P<low>{_PARTIAL_TEXT})\s+-\s+(?P<high>{_PARTIAL_TEXT})"
    rf"|(?P<op>!=|>=|=>|<=|=<|~>|>|<|=|~|\^)?\s*(?P<version>{_PARTIAL_TEXT}))\s*"
)

# Masterminds parses numbers as int64 and refuses larger ones; so do we.
MAX_NUMBER = 2**63 - 1
PrereleaseKey = tuple[tuple[int, int | str], ...]
VersionKey = tuple[int, int, int, int, PrereleaseKey]


def version_text(min_parts: int = 1) -> str:
    """The text of a lenient version spelling at least ``min_parts`` of major.minor.patch,
    without groups, for callers that embed it in a larger regex."""
    dots = rf"(?:\.[0-9]+){{{min_parts - 1},2}}"
    return rf"v?[0-9]+{dots}(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?"


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A version; ``parts`` records how many of major.minor.patch were written (``1.2`` is
    1.2.0 with parts 2), which only breaks ties between tags naming the same version."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""
    build: str = ""
    parts: int = 3

    @property
    def key(self) -> VersionKey:
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        identifiers = tuple(
            (0, int(part)) if part.isdigit() else (1, part) for part in self.prerelease.split(".")
        )
        return (self.major, self.minor, self.patch, 0, identifiers)

    def release(self) -> Version:
        return Version(self.major, self.minor, self.patch, parts=self.parts)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        text += f"-{self.prerelease}" if self.prerelease else ""
        return text + (f"+{self.build}" if self.build else "")


def parse_version(text: str) -> Version | None:
    """The version ``text`` spells in full, or None."""
    match = _VERSION.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, prerelease, build = match.groups()
    if max(int(major), int(minor or 0), int(patch or 0)) > MAX_NUMBER:
        return None
    return Version(
        int(major),
        int(minor or 0),
        int(patch or 0),
        prerelease or "",
        build or "",
        parts=3 - (minor is None) - (patch is None),
    )


@dataclass(frozen=True)
class _Range:
    """``low ..= high`` with open or closed ends, possibly negated; None is unbounded."""

    low: Version | None = None
    low_inclusive: bool = True
    high: Version | None = None
    high_inclusive: bool = False
    negate: bool = False

    def admits(self, version: Version) -> bool:
        inside = (
            self.low is None or version > self.low or (self.low_inclusive and version == self.low)
        ) and (
            self.high is None
            or version < self.high
            or (self.high_inclusive and version == self.high)
        )
        return inside != self.negate


_ZERO = Version(0, 0, 0)
_ANY = _Range()
_NOTHING = _Range(negate=True)


@dataclass(frozen=True)
class _Group:
    ranges: tuple[_Range, ...]
    admits_prereleases: bool

    def admits(self, version: Version) -> bool:
        if version.prerelease and not self.admits_prereleases:
            return False
        return all(r.admits(version) for r in self.ranges)


@dataclass(frozen=True)
class Constraint:
    text: str
    groups: tuple[_Group, ...]

    @property
    def names_prerelease(self) -> bool:
        return any(group.admits_prereleases for group in self.groups)

    def check(self, version: Version) -> bool:
        return any(group.admits(version) for group in self.groups)


@dataclass(frozen=True)
class _Partial:
    """A constraint's version with its wildcards: ``wild`` is the index of the first part
    left open (0 for ``*``, 1 for ``1.x``, 2 for ``1.2``, 3 when fully written)."""

    numbers: tuple[int, int, int]
    prerelease: str
    wild: int

    @property
    def low(self) -> Version:
        return Version(*self.numbers, self.prerelease)

    @property
    def high(self) -> Version:
        """The first version past the open part: the next major for ``1.x``, else the next
        minor (for a full version that is tilde's bound)."""
        major, minor, _ = self.numbers
        return Version(major + 1, 0, 0) if self.wild == 1 else Version(major, minor + 1, 0)


def _partial(text: str) -> _Partial:
    match = _PARTIAL.fullmatch(text)
    if match is None:
        raise ValueError(f"improper version in constraint: {text}")
    *parts, prerelease = match.groups()
    numbers: list[int] = []
    for part in parts:
        if part is None or not part.isdigit():
            break
        numbers.append(int(part))
    if any(number > MAX_NUMBER for number in numbers):
        raise ValueError(f"version number out of range: {text}")
    wild = len(numbers)
    if prerelease and any(part is not None and not part.isdigit() for part in parts):
        raise ValueError(f"a wildcard version cannot have a pre-release: {text}")
    if prerelease:  # "1.2-rc.0" names one version, 1.2.0-rc.0, as in Masterminds
        wild = 3
    numbers += [0] * (3 - len(numbers))
    return _Partial((numbers[0], numbers[1], numbers[2]), prerelease or "", wild)


def _caret_high(partial: _Partial) -> Version:
    major, minor, patch = partial.numbers
    if major or partial.wild == 1:
        return Version(major + 1, 0, 0)
    if minor or partial.wild == 2:
        return Version(0, minor + 1, 0)
    return Version(0, 0, patch + 1)


def _comparator(op: str, partial: _Partial) -> _Range:
    exact = partial.wild == 3
    low = partial.low
    if op in ("", "="):
        if exact:
            return _Range(low, True, low, True)
        return _Range(low, True, partial.high) if partial.wild else _ANY
    if op == "!=":
        return replace(_comparator("=", partial), negate=True)
    if op == ">":
        if exact:
            return _Range(low, False)
        return _Range(partial.high, True) if partial.wild else _NOTHING
    if op in (">=", "=>"):
        return _Range(low, True)
    if op == "<":
        return _Range(high=low, high_inclusive=False) if partial.wild else _NOTHING
    if op in ("<=", "=<"):
        if exact:
            return _Range(high=low, high_inclusive=True)
        return _Range(high=partial.high) if partial.wild else _ANY
    if partial.wild == 0:
        return _ANY
    if op in ("~", "~>"):
        # Masterminds (v1 and v3) reads a plain ~0.0.0 as ">=0.0.0".
        return _Range(low, True) if low == _ZERO and exact else _Range(low, True, partial.high)
    return _Range(low, True, _caret_high(partial))  # "^"


def _group(text: str) -> _Group:
    ranges: list[_Range] = []
    prereleases = False
    position = 0
    while True:
        match = _TERM.match(text, position)
        if match is None:
            raise ValueError(f"improper constraint: {text.strip()}")
        if match["version"] is not None:
            partial = _partial(match["version"])
            ranges.append(_comparator(match["op"] or "", partial))
            prereleases |= bool(partial.prerelease)
        else:
            low, high = _partial(match["low"]), _partial(match["high"])
            ranges += [_comparator(">=", low), _comparator("<=", high)]
            prereleases |= bool(low.prerelease or high.prerelease)
        position = match.end()
        if position == len(text):
            return _Group(tuple(ranges), prereleases)
        if text[position] == ",":
            position += 1
        elif not text[position - 1].isspace():
            raise ValueError(f"improper constraint: {text.strip()}")


def parse_constraint(text: str) -> Constraint:
    """The constraint in ``text``; ValueError with a short reason when it is not one."""
    if not text.strip():
        raise ValueError("the constraint is empty")
    return Constraint(text.strip(), tuple(_group(part) for part in text.split("||")))
