"""The tag filter: a user's regular expression, run with RE2 as the original ran Go's regexp.

RE2 matches in linear time, so a pattern such as ``(a+)+$`` cannot stall the tick on a long
tag, and its syntax is Go's: a pattern that worked on the original keeps working. Matching
is an unanchored search like Go's ``MatchString``; anchor with ``^`` and ``$`` (``$`` is the
end of the tag, never "before a final newline" as in Python).
"""

from __future__ import annotations

from collections.abc import Callable

import re2

from chalicelib.autoupdate import invalid

_OPTIONS = re2.Options()
# A rejected pattern is the user's input, answered with a 400; RE2 should not also log it.
_OPTIONS.log_errors = False


def _match_all(_tag: str) -> bool:
    return True


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A predicate for tags; an empty pattern keeps every tag. A pattern RE2 cannot compile
    is refused here (400 when the autoUpdate is written), where the original silently
    matched nothing and never updated."""
    if not pattern:
        return _match_all
    try:
        regex = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0]
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise invalid("pattern", f"pattern is not a valid regular expression: {reason}") from None
    return lambda tag: regex.search(tag) is not None
