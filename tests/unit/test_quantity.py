"""Quantity math against Go: every expected value below was printed by apimachinery v0.36.3's
``resource.Quantity`` (``UnmarshalJSON`` then ``AsDec().String()``), the code the original
backend used for its metrics, so the frontend's ``Number(...)`` sees the same strings."""

from __future__ import annotations

import pytest

from chalicelib.cluster.quantity import QuantityError, as_dec_string

GO_AS_DEC = [
    ("0", "0"),
    ("1234567n", "0.001234567"),
    ("10240Ki", "10485760"),
    ("100m", "0.100"),
    ("1e3", "1000"),
    ("1E3", "1000"),
    ("1.5Gi", "1610612736.000000000"),
    ("0m", "0.000"),
    ("1n", "0.000000001"),
    ("1u", "0.000001"),
    ("1m", "0.001"),
    ("1k", "1000"),
    ("1M", "1000000"),
    ("1G", "1000000000"),
    ("1T", "1000000000000"),
    ("1P", "1000000000000000"),
    ("1E", "1000000000000000000"),
    ("1Ki", "1024"),
    ("1Mi", "1048576"),
    ("1Gi", "1073741824"),
    ("1Ti", "1099511627776"),
    ("1Pi", "1125899906842624.000000000"),
    ("1Ei", "1152921504606846976.000000000"),
    ("9Ei", "9223372036854775807"),
    ("2.5", "2.5"),
    ("0.1", "0.1"),
    ("1.5n", "0.000000002"),
    ("0.5n", "0.000000001"),
    ("-1.5n", "-0.000000002"),
    ("12345678901Ki", "12641975194624"),
    ("123456789012Ki", "126419751948288.000000000"),
    ("9223372036854775807", "9223372036854775807.000000000"),
    ("9223372036854775808", "9223372036854775808.000000000"),
    ("99999999999999999999", "99999999999999999999.000000000"),
    ("1e-3", "0.001"),
    ("1e+3", "1000"),
    ("12e6", "12000000"),
    ("1.23e2", "123"),
    ("-100m", "-0.100"),
    ("+5", "5"),
    (".5", "0.5"),
    ("1.", "1"),
    ("1.G", "1000000000"),
    ("000123", "123"),
    ("0.000000001", "0.000000001"),
    ("0.0000000001", "0.000000001"),
    ("1.5Ki", "1536.000000000"),
    ("0.5Ki", "512.000000000"),
    ("1024", "1024"),
    ("500Mi", "524288000"),
    ("268435456", "268435456"),
    ("0.200", "0.200"),
    ("3.14159265358979323846", "3.141592654"),
    (
        "1e100",
        "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    ),
    ("7Ki", "7168"),
    ("8Ki", "8192"),
    ("1000m", "1.000"),
    ("1000", "1000"),
    ("15000000000n", "15.000000000"),
]

GO_REJECTS = [
    "1Ki5",
    "abc",
    "1.2.3",
    "1e",
    "1ee3",
    "",
    "12 Mi",
]


@pytest.mark.parametrize(("quantity", "expected"), GO_AS_DEC)
def test_as_dec_string_matches_go(quantity: str, expected: str) -> None:
    assert as_dec_string(quantity) == expected


@pytest.mark.parametrize("quantity", GO_REJECTS)
def test_rejects_what_go_rejects(quantity: str) -> None:
    with pytest.raises(QuantityError):
        as_dec_string(quantity)


def test_metrics_examples_from_the_upstream_notes() -> None:
    # metrics.k8s.io answers nanocores and KiB; the original sent cores and bytes.
    assert as_dec_string("1234567n") == "0.001234567"
    assert as_dec_string("10240Ki") == "10485760"
    assert float(as_dec_string("250m")) == 0.25
