"""Image auto-update: the pure rules (intervals, tag patterns, tag policies, semver).

No AWS, HTTP or Kubernetes here (an import-linter contract keeps it so): the scheduled tick
and the webhook feed these functions tag lists and digests fetched elsewhere, so every rule
can be tested as plain Python and a bad value is refused when it is written, not at 3 a.m.
"""

from __future__ import annotations

from chalicelib.errors import Invalid, field_error


def invalid(field: str, message: str) -> Invalid:
    """One field's 400 with the same text at the top, so the domain does not need to know
    whether the caller is creating or updating the record."""
    return Invalid(message, {field: field_error(f"validation_invalid_{field}", message)})
