"""Kubernetes quantities ("1234567n", "10240Ki", "1e3") as Go's ``Quantity.AsDec().String()``.

The frontend does ``Number(...)`` on the metrics the original backend produced with Go's
apimachinery, so the strings must be the same: cores and bytes as plain decimals, with Go's
exact choice of scale (``"100m"`` is ``"0.100"``, ``"1.5Gi"`` is ``"1610612736.000000000"``).
This is a port of ``ParseQuantity`` (apimachinery v0.36) on top of Python's exact ``Decimal``;
the unit tests compare it with values computed by the Go library itself.
"""

from __future__ import annotations

from decimal import ROUND_UP, Decimal, localcontext

_DECIMAL_SUFFIXES = {
    "": 0,
    "n": -9,
    "u": -6,
    "m": -3,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS = set("eEinumkKMGTP")
_DIGITS = set("0123456789")
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_MAX_INT64_FACTORS = 18
_NANO = -9


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def _split(text: str) -> tuple[bool, str, str, str, str]:
    """Go's parseQuantityString: (positive, value, numerator, denominator, suffix)."""
    positive, pos, end = True, 0, len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while pos < end and text[pos] == "0":
        pos += 1
    if pos >= end:
        return positive, "0", "0", "", ""
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and text[pos] in "+-":
        pos += 1
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    if pos < end:
        raise QuantityError(f"not a quantity: {text!r}")
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, str]:
    """(base, exponent, format) of a suffix, as Go's suffixHandler.interpret."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], "DecimalSI"
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], "BinarySI"
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[0] in "+-" else digits
        if body and set(body) <= _DIGITS:
            exponent = int(digits)
            if _INT64_MIN <= exponent <= _INT64_MAX:
                # Go truncates the parsed int64 to int32.
                exponent = (exponent + 2**31) % 2**32 - 2**31
                return 10, exponent, "DecimalExponent"
    raise QuantityError(f"unknown quantity suffix: {suffix!r}")


def parse(text: str) -> Decimal:
    """The quantity's value with Go's scale (a Decimal whose exponent is -scale)."""
    if not isinstance(text, str):
        raise QuantityError("a quantity is a string")
    text = text.strip()
    if not text:
        raise QuantityError("empty quantity")
    if text == "0":
        return Decimal(0)
    positive, value, num, denom, suffix = _split(text)
    base, exponent, fmt = _interpret(suffix)

    precision, scale, mantissa = 0, 0, 1
    if fmt in ("DecimalExponent", "DecimalSI"):
        scale = exponent
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
    elif exponent >= 0 and not denom:
        mantissa = 1 << exponent
        # Go: 15 - len(num) - int32(float32(exponent)*3/10) - 1; exact for multiples of 10.
        precision = 15 - len(num) - (exponent * 3 // 10) - 1
    else:
        precision = -1

    if precision >= 0:
        scale -= len(denom)
        if scale >= _NANO:
            shifted = int(num + denom)
            if shifted > _INT64_MAX:
                raise QuantityError(f"not a quantity: {text!r}")
            result = shifted * mantissa
            if _INT64_MIN <= result <= _INT64_MAX:
                return Decimal((0 if positive else 1, _digits(result), scale))

    # The arbitrary-precision path (Go's inf.Dec): exact value, then rounded UP to nanos.
    with localcontext() as ctx:
        ctx.prec = 200
        amount = _decimal_of(value)
        amount = amount.scaleb(exponent) if base == 10 else amount * (1 << exponent)
        negative = amount < 0
        amount = abs(amount)
        if amount != 0:
            amount = amount.quantize(Decimal("1e-9"), rounding=ROUND_UP)
        if fmt == "BinarySI" and amount > _INT64_MAX:
            amount = Decimal(_INT64_MAX)
        if negative:
            amount = -amount
        return amount


def _digits(n: int) -> tuple[int, ...]:
    return tuple(int(c) for c in str(abs(n)))


def _decimal_of(value: str) -> Decimal:
    """inf.Dec.SetString of the numeric part (sign, digits, optional fraction)."""
    text = value[:-1] if value.endswith(".") else value
    if text in ("", "+", "-"):
        raise QuantityError("no digits in quantity")
    return Decimal(text)


def go_string(amount: Decimal) -> str:
    """inf.Dec.String(): no exponent notation, exactly ``scale`` fraction digits."""
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # noqa: S101 - parse() never makes NaN/Infinity
    unscaled = "".join(map(str, digits)).lstrip("0") or "0"
    negative = sign == 1 and unscaled != "0"
    scale = -exponent
    if scale <= 0:
        if unscaled == "0":
            return "0"
        return ("-" if negative else "") + unscaled + "0" * (-scale)
    if len(unscaled) <= scale:
        return ("-" if negative else "") + "0." + "0" * (scale - len(unscaled)) + unscaled
    return ("-" if negative else "") + unscaled[:-scale] + "." + unscaled[-scale:]


def as_dec_string(text: str) -> str:
    """Go's ``resource.MustParse(text).AsDec().String()``."""
    return go_string(parse(text))
