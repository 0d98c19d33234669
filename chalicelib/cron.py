"""Five-field cron expressions (``CRON_TICK``), as the original's scheduler reads them.

One parser serves both places a tick is scheduled: on AWS the expression is converted to
EventBridge's six-field form (which numbers weekdays 1-7 from Sunday and needs ``?`` in
one of the two day fields); locally the run command fires the same expression itself.
Anything EventBridge cannot express is refused at start instead of deploying a schedule
that silently differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.errors import ConfigError

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# name, lowest, highest, symbolic names (index 0 = lowest value)
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_LIMIT = timedelta(days=366 * 5)


def _value(text: str, low: int, names: tuple[str, ...], field: str) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + low
    if not text.isdigit():
        raise ConfigError(f"CRON_TICK: {text!r} is not a valid {field}")
    return int(text)


def _parse_field(text: str, index: int) -> frozenset[int]:
    field, low, high, names = _FIELDS[index]
    chosen: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ConfigError(f"CRON_TICK: bad step {step_text!r} in the {field} field")
            step = int(step_text)
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = _value(first, low, names, field), _value(last, low, names, field)
        else:
            start = _value(spec, low, names, field)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ConfigError(f"CRON_TICK: {part!r} is out of range for the {field} field")
        chosen.update(range(start, end + 1, step))
    if index == 4 and 7 in chosen:  # both 0 and 7 mean Sunday
        chosen = (chosen - {7}) | {0}
    return frozenset(chosen)


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, moment: datetime) -> bool:
        """Vixie cron: when both day fields are restricted, either one matching is enough."""
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            day_match = day_ok or weekday_ok
        else:
            day_match = day_ok and weekday_ok
        return (
            moment.minute in self.minutes
            and moment.hour in self.hours
            and moment.month in self.months
            and day_match
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first whole minute strictly after ``moment`` that the expression selects."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = candidate + _SEARCH_LIMIT
        while candidate < limit:
            if self.matches(candidate):
                return candidate
            if candidate.month not in self.months or candidate.hour not in self.hours:
                candidate = candidate.replace(minute=0) + timedelta(hours=1)
            else:
                candidate += timedelta(minutes=1)
        raise ConfigError(f"CRON_TICK {self.text!r} never fires")

    def eventbridge(self) -> str:
        """The ``cron(...)`` schedule expression EventBridge runs on the same minutes."""
        minute, hour, day, month, weekday = self.text.split()
        if self.days_restricted and self.weekdays_restricted:
            raise ConfigError(
                "CRON_TICK restricts both day of month and day of week; EventBridge can only "
                "restrict one of them"
            )
        if self.weekdays_restricted:
            day = "?"
            weekday = ",".join(str(d + 1) for d in sorted(self.weekdays))
        else:
            weekday = "?"
        return f"cron({minute} {hour} {day} {month} {weekday} *)"


def parse(text: str) -> Cron:
    """A validated expression; ``ConfigError`` names what is wrong."""
    fields = text.split()
    if len(fields) != 5:
        raise ConfigError(f"CRON_TICK must be a 5-field cron expression, got {text!r}")
    parsed = [_parse_field(value, index) for index, value in enumerate(fields)]
    cron = Cron(
        text=" ".join(fields),
        minutes=parsed[0],
        hours=parsed[1],
        days=parsed[2],
        months=parsed[3],
        weekdays=parsed[4],
        days_restricted=fields[2] != "*",
        weekdays_restricted=fields[4] != "*",
    )
    cron.next_after(datetime(2000, 1, 1))  # refuses 31 February and friends
    return cron


def from_schedule(expression: str) -> Cron:
    """The five-field form of an EventBridge ``cron(...)`` or ``rate(N minute[s])``, so the
    local run fires each scheduled function on the minutes AWS would."""
    text = expression.strip()
    if text.startswith("rate(") and text.endswith(")"):
        value, _, unit = text[5:-1].partition(" ")
        if unit.rstrip("s") != "minute" or not value.isdigit() or not 1 <= int(value) <= 59:
            raise ConfigError(f"no local equivalent for the schedule {expression!r}")
        return parse(f"*/{value} * * * *")
    if not (text.startswith("cron(") and text.endswith(")")):
        raise ConfigError(f"not a schedule expression: {expression!r}")
    fields = text[5:-1].split()
    if len(fields) != 6 or fields[5] != "*":
        raise ConfigError(f"no local equivalent for the schedule {expression!r}")
    minute, hour, day, month, weekday = (f.replace("?", "*") for f in fields[:5])
    return parse(f"{minute} {hour} {day} {month} {_unix_weekdays(weekday)}")


def _unix_weekdays(field: str) -> str:
    """EventBridge numbers weekdays 1-7 from Sunday, cron 0-6: shift every number."""

    def shift(value: str) -> str:
        return str(int(value) - 1) if value.isdigit() else value

    parts = []
    for part in field.split(","):
        spec, slash, step = part.partition("/")
        spec = "-".join(shift(v) for v in spec.split("-"))
        parts.append(spec + slash + step)
    return ",".join(parts)
