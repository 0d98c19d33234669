"""How often an autoUpdate checks its registry, and when it is next due.

The original read only the last character as the unit, so ``1h30m`` never ran and anything
under a minute divided by zero and crashed the server (reference §5.2). Here every unit may
appear once, largest first, and a value the once-a-minute tick cannot honour is refused when
it is written.
"""

from __future__ import annotations

import math
import re

from chalicelib.autoupdate import invalid

MIN_INTERVAL_S = 60
MAX_INTERVAL_S = 365 * 24 * 3600
_UNIT_SECONDS = (("w", 7 * 24 * 3600), ("d", 24 * 3600), ("h", 3600), ("m", 60), ("s", 1))
# Nine digits per unit is already far above a year, and keeps int() away from huge inputs.
_INTERVAL = re.compile("".join(rf"(?:([0-9]{{1,9}}){unit})?" for unit, _ in _UNIT_SECONDS))
MESSAGE = "interval must be like 30m, 1h30m, 2d or 1w (at least 1m, at most 1 year)"


def parse_interval(text: str) -> int:
    """Seconds in ``text``: ``<int><unit>`` groups with units w, d, h, m, s in that order."""
    match = _INTERVAL.fullmatch(text) if text else None
    if match is None:
        raise invalid("interval", MESSAGE)
    seconds = sum(
        int(amount) * unit
        for amount, (_, unit) in zip(match.groups(), _UNIT_SECONDS, strict=True)
        if amount is not None
    )
    if not MIN_INTERVAL_S <= seconds <= MAX_INTERVAL_S:
        raise invalid("interval", MESSAGE)
    return seconds


def next_due(anchor_epoch: float, interval_s: int, now_epoch: float) -> float:
    """The first ``anchor + k * interval`` strictly after ``now`` (k >= 1).

    Storing this after each check means a tick that was late (or skipped) finds the record
    overdue and checks it once, then lines up with the anchor again: a check can be delayed
    but is never lost, and a backlog of missed ticks never turns into a burst of checks.
    """
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    steps = max(1, math.floor((now_epoch - anchor_epoch) / interval_s) + 1)
    # The division may round either way at an exact multiple; settle on the first due time
    # strictly after now.
    while steps > 1 and anchor_epoch + (steps - 1) * interval_s > now_epoch:
        steps -= 1
    while anchor_epoch + steps * interval_s <= now_epoch:
        steps += 1
    return anchor_epoch + steps * interval_s
