"""Stored file names and content types, as PocketBase 0.22 derives them.

PocketBase never keeps a client's file name: it snake-cases the base name, keeps a cleaned
extension (double extensions such as ``.tar.gz`` included) and always adds ten random
characters, so names are unguessable and never collide. The content type comes from the
bytes, not from what the client claims, so a script renamed ``.png`` is served as what it is.
"""

from __future__ import annotations

import re
import secrets

_RANDOM_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_EXT_INVALID = re.compile(r"[^\w.*\-+=#]+", re.ASCII)
_WORD_SPLIT = re.compile(r"[\W_]+", re.ASCII)
# What a stored name may contain: a generated name, or one an import brings along.
STORED_NAME = re.compile(r"[A-Za-z0-9_][\w.*\-+=#]{0,200}", re.ASCII)

OCTET_STREAM = "application/octet-stream"
SVG = "image/svg+xml"
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"BM", 0, "image/bmp"),
    (b"\x00\x00\x01\x00", 0, "image/x-icon"),
    (b"ftypavif", 4, "image/avif"),
    (b"%PDF-", 0, "application/pdf"),
)
# Every type ``sniff`` can answer: the app declares them binary so API Gateway passes the
# bytes through unchanged.
SERVED_TYPES = (*dict.fromkeys(t for _, _, t in _MAGIC), SVG, OCTET_STREAM)
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/x-icon": ".ico",
    "image/avif": ".avif",
    "application/pdf": ".pdf",
    SVG: ".svg",
}
# PocketBase serves these inline; anything else (SVG included) as an attachment.
INLINE_TYPES = frozenset(SERVED_TYPES) - {SVG, OCTET_STREAM}


def sniff(content: bytes) -> str:
    """The content type of ``content`` from its first bytes."""
    for magic, offset, content_type in _MAGIC:
        if content[offset : offset + len(magic)] == magic:
            if content_type == "image/webp" and not content.startswith(b"RIFF"):
                continue
            return content_type
    head = content[:3072].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and b"<svg" in head:
        return SVG
    return OCTET_STREAM


def _random(length: int = 10) -> str:
    return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(length))


def _extension(name: str) -> str:
    """The extension with its dot, the last two parts for ``a.tar.gz`` (PocketBase's rule)."""
    primary = name.rfind(".")
    if primary == -1:
        return ""
    secondary = name.rfind(".", 0, primary)
    return name[secondary:] if secondary >= 0 else name[primary:]


def snake_case(text: str) -> str:
    """PocketBase's ``inflector.Snakecase``: ASCII words joined by ``_``, camel humps split."""
    words = []
    for word in _WORD_SPLIT.split(text):
        if not word:
            continue
        out = []
        for index, char in enumerate(word):
            if char.isupper() and index > 0 and not word[index - 1].isupper():
                out.append("_")
            out.append(char)
        words.append("".join(out))
    return "_".join(words).lower()


def stored_name(original: str, content: bytes) -> str:
    """The name PocketBase would store an upload called ``original`` under."""
    original_ext = _extension(original)
    ext = _EXT_INVALID.sub("", original_ext)
    if not ext:
        ext = _EXTENSIONS.get(sniff(content), "")
    if len(ext) > 20:
        ext = "." + ext[-20:]
    base = snake_case(original[: len(original) - len(original_ext)])
    if len(base) < 3:
        base += _random()
    return f"{base[:100]}_{_random()}{ext}"
