"""A safe subset of PocketBase's filter language, evaluated in Python.

Supported: comparisons ``= != > >= < <= ~ !~`` between the collection's own scalar fields
and literals (quoted strings, numbers, ``true``/``false``/``null``), joined with ``&&`` /
``||`` and parentheses (``&&`` binds tighter, as in PocketBase). Anything else — relation
paths, ``@request``/``@collection`` macros, the ``?=`` any-of operators — is refused with a
400 that names the unsupported construct, rather than silently matching nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from chalicelib.errors import BadRequest
from chalicelib.records.schema import SYSTEM_FIELDS, Collection, FieldType

Predicate = Callable[[dict[str, Any]], bool]

MAX_FILTER_LENGTH = 3500
MAX_DEPTH = 32
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<paren>[()])
    | (?P<logic>&&|\|\|)
    | (?P<any>\?(?:!=|>=|<=|!~|=|>|<|~))
    | (?P<op>!=|>=|<=|!~|=|>|<|~)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[@A-Za-z_][\w.:@]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _fail(message: str) -> BadRequest:
    return BadRequest(f"Invalid filter: {message}")


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if not match or match.lastgroup is None:
            raise _fail(f"unexpected character {text[position:].lstrip()[:1]!r}")
        if match.lastgroup == "any":
            raise _fail(f"the any-of operator {match.group('any')!r} is not supported")
        tokens.append(_Token(match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Token], collection: Collection) -> None:
        self.tokens = tokens
        self.index = 0
        self.collection = collection
        self.fields = {f.name: f for f in collection.fields}

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise _fail("unexpected end of expression")
        self.index += 1
        return token

    def expression(self, depth: int) -> Predicate:
        if depth > MAX_DEPTH:
            raise _fail("too deeply nested")
        left = self.conjunction(depth)
        while (token := self.peek()) and token.text == "||":
            self.take()
            right = self.conjunction(depth)
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def conjunction(self, depth: int) -> Predicate:
        left = self.term(depth)
        while (token := self.peek()) and token.text == "&&":
            self.take()
            right = self.term(depth)
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def term(self, depth: int) -> Predicate:
        token = self.peek()
        if token and token.text == "(":
            self.take()
            inner = self.expression(depth + 1)
            closing = self.peek()
            if closing is None or closing.text != ")":
                raise _fail("missing closing parenthesis")
            self.take()
            return inner
        left = self.operand()
        operator = self.take()
        if operator.kind != "op":
            raise _fail(f"expected a comparison operator, got {operator.text!r}")
        right = self.operand()
        return _comparison(operator.text, left, right)

    def operand(self) -> Callable[[dict[str, Any]], Any]:
        token = self.take()
        if token.kind == "string":
            literal = _string(token)
            return lambda _r: literal
        if token.kind == "number":
            if math.isinf(float(token.text)):  # past float64: PocketBase cannot parse it either
                raise _fail(f"number out of range: {token.text[:20]}...")
            number = float(token.text) if "." in token.text else int(token.text)
            return lambda _r: number
        if token.kind != "name":
            raise _fail(f"expected a field or a value, got {token.text!r}")
        keyword = {"true": True, "false": False, "null": None}
        if token.text in keyword:
            value = keyword[token.text]
            return lambda _r: value
        return self.field(token.text)

    def field(self, name: str) -> Callable[[dict[str, Any]], Any]:
        if name.startswith("@"):
            raise _fail(f"{name.split('.')[0]!r} macros are not supported")
        if "." in name or ":" in name:
            raise _fail(f"relation paths and modifiers ({name!r}) are not supported")
        field = self.fields.get(name)
        if field is None and name not in SYSTEM_FIELDS:
            raise _fail(f"unknown field {name!r} in collection {self.collection.name!r}")
        if field is not None and (field.type is FieldType.JSON or field.multiple):
            raise _fail(f"filtering on the multi-value/JSON field {name!r} is not supported")
        if field is not None and field.type is FieldType.FILE:
            raise _fail(f"filtering on the file field {name!r} is not supported")
        return lambda record: record.get(name)


_LIKE_SPECIALS = "\\%_"


def _has_unescaped(text: str, char: str) -> bool:
    previous = ""
    for current in text:
        if current == char and previous != "\\":
            return True
        previous = "" if current == previous == "\\" else current  # "\\\\" escapes itself
    return False


def _escape_unescaped(text: str) -> str:
    """A backslash before each LIKE special that is not escaped yet, read from the end as
    PocketBase does (so a backslash that escapes the next special is left as it is)."""
    out: list[str] = []
    escaping_next = False
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if escaping_next:
            if char != "\\":
                out.append("\\")
            escaping_next = False
        elif char in _LIKE_SPECIALS:
            escaping_next = True
        out.append(char)
    if escaping_next:  # the first character was a special
        out.append("\\")
    return "".join(reversed(out))


@lru_cache(maxsize=256)
def _like(pattern: str) -> Any:
    """SQLite ``LIKE … ESCAPE '\\'`` (case-insensitive), as PocketBase builds it: a value with
    no unescaped ``%`` is a plain substring (its ``_``, ``%`` and ``\\`` escaped, ``%`` at both
    ends); otherwise it is the pattern itself, ``_`` one character, ``\\x`` a literal x.
    Compiled for RE2, which matches in linear time: ``%a%a%a…`` cannot make a list request
    backtrack for minutes. RE2's binding loads here, with the first ``~``: most lists have
    no such filter and a cold start should not pay for it."""
    import re2

    if not _has_unescaped(pattern, "%"):
        pattern = "%" + _escape_unescaped(pattern) + "%"
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re2.compile("(?is)" + "".join(parts))


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _compare(operator: str, left: Any, right: Any) -> bool:
    if operator in ("~", "!~"):
        found = _like(_as_text(right)).fullmatch(_as_text(left)) is not None
        return found if operator == "~" else not found
    if left is None or right is None:
        equal = _is_empty(left) and _is_empty(right)
        return {"=": equal, "!=": not equal}.get(operator, False)
    a, b = _numeric(left), _numeric(right)
    x: Any
    y: Any
    if a is not None and b is not None:
        x, y = a, b
    else:
        x, y = _as_text(left), _as_text(right)
    return {
        "=": x == y,
        "!=": x != y,
        ">": x > y,
        ">=": x >= y,
        "<": x < y,
        "<=": x <= y,
    }[operator]


def _comparison(
    operator: str, left: Callable[[dict[str, Any]], Any], right: Callable[[dict[str, Any]], Any]
) -> Predicate:
    return lambda record: _compare(operator, left(record), right(record))


def _string(token: _Token) -> str:
    """As PocketBase unquotes: only an escaped quote of the same kind loses its backslash
    (every other backslash stays, for LIKE's escapes)."""
    quote = token.text[0]
    return token.text[1:-1].replace("\\" + quote, quote)


# Fields whose stored value DynamoDB compares with a quoted string exactly as the filter
# does (text, byte for byte): for these, and for bools, ``=`` can be left to DynamoDB.
_EXACT_TEXT = (FieldType.TEXT, FieldType.RELATION, FieldType.DATE)


def required_equalities(text: str, collection: Collection) -> dict[str, str | bool]:
    """``field = value`` terms every match must satisfy, for DynamoDB to drop the records
    that fail them before they are sent (a ``FilterExpression``). Only when the filter is
    one conjunction without parentheses, and only for a text, single-relation or date
    field against a non-empty quoted string or a bool field against true/false. The
    compiled filter still decides: this only narrows what is read."""
    tokens = _tokens(text)
    if any(t.kind == "paren" or t.text == "||" for t in tokens):
        return {}
    terms: list[list[_Token]] = [[]]
    for token in tokens:
        if token.text == "&&":
            terms.append([])
        else:
            terms[-1].append(token)
    found: dict[str, str | bool] = {}
    for term in terms:
        if len(term) != 3 or term[1].text != "=" or term[0].kind != "name":
            continue
        field, value = collection.field(term[0].text), term[2]
        if field is None or field.multiple:
            continue
        if field.type in _EXACT_TEXT and value.kind == "string" and _string(value):
            found[field.name] = _string(value)
        elif field.type is FieldType.BOOL and value.text in ("true", "false"):
            found[field.name] = value.text == "true"
    return found


def referenced_names(text: str) -> frozenset[str]:
    """The field names a filter reads (for reading only those attributes); unchecked:
    ``compile_filter`` refuses what is not a field."""
    return frozenset(t.text for t in _tokens(text) if t.kind == "name")


def compile_filter(text: str, collection: Collection) -> Predicate:
    """Parse ``text`` once into a predicate over records; raises ``BadRequest``."""
    if len(text) > MAX_FILTER_LENGTH:
        raise _fail(f"longer than {MAX_FILTER_LENGTH} characters")
    tokens = _tokens(text)
    if not tokens:
        return lambda _record: True
    parser = _Parser(tokens, collection)
    predicate = parser.expression(0)
    if parser.peek() is not None:
        raise _fail(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]
    return predicate
