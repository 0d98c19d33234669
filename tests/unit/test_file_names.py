"""Stored file names and sniffed types, against what PocketBase 0.22.26 answered for the
same uploads (``tests/reference`` compares the live servers)."""

from __future__ import annotations

import re

import pytest

from chalicelib.files.names import snake_case, sniff, stored_name

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452")
R = "[A-Za-z0-9]{10}"


@pytest.mark.parametrize(
    ("original", "pattern"),
    [
        ("My Logo.png", rf"my_logo_{R}\.png"),
        ("a.PNG", rf"a{R}_{R}\.PNG"),
        ("ab", rf"ab{R}_{R}\.png"),  # no extension: taken from the content
        ("Über Straße.tar.gz", rf"ber_stra_e_{R}\.tar\.gz"),
        ("x.p n g", rf"x{R}_{R}\.png"),
        ("..hidden", rf"{R}_{R}\.\.hidden"),
        ("ÄÖÜ.png", rf"{R}_{R}\.png"),
        ("CamelCase File-name.png", rf"camel_case_file_name_{R}\.png"),
        ("a" * 120 + ".png", rf"a{{100}}_{R}\.png"),
    ],
)
def test_stored_names_follow_pocketbase(original: str, pattern: str) -> None:
    assert re.fullmatch(pattern, stored_name(original, PNG)), stored_name(original, PNG)


def test_names_are_random() -> None:
    assert stored_name("a.png", PNG) != stored_name("a.png", PNG)


def test_snake_case() -> None:
    assert snake_case("HTTPServer logs") == "httpserver_logs"
    assert snake_case("fooBar_baz") == "foo_bar_baz"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"RIFF\0\0\0\0WAVEfmt ", "application/octet-stream"),
        (b'\xef\xbb\xbf <?xml version="1.0"?><svg xmlns="x"/>', "image/svg+xml"),
        (b"<html><body>not an svg</body></html>", "application/octet-stream"),
        (b"hello", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_sniff(content: bytes, content_type: str) -> None:
    assert sniff(content) == content_type


def test_file_settings() -> None:
    from chalicelib.settings import load_settings

    base = {"JWT_SECRET": "s" * 40}
    defaults = load_settings(base)
    assert (defaults.files_bucket, str(defaults.files_dir), defaults.s3_endpoint) == (
        None,
        ".local/files",
        None,
    )
    chosen = load_settings({**base, "FILES_BUCKET": " avatars ", "S3_ENDPOINT": "http://x"})
    assert (chosen.files_bucket, chosen.s3_endpoint) == ("avatars", "http://x")
