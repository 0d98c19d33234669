"""An HTML text's plain words, as PocketBase's ``excerpt`` field modifier reads them."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# What an excerpt leaves out with everything inside, and what does not break a line
# (PocketBase's lists).
_EXCLUDED = frozenset(
    [
        "head",
        "style",
        "script",
        "iframe",
        "embed",
        "applet",
        "object",
        "svg",
        "img",
        "picture",
        "dialog",
        "template",
        "button",
        "form",
        "textarea",
        "input",
        "select",
        "option",
    ]
)
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "bdo",
        "big",
        "br",
        "button",
        "cite",
        "code",
        "em",
        "i",
        "label",
        "q",
        "small",
        "span",
        "strong",
        "strike",
        "sub",
        "sup",
        "time",
    ]
)
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
_WHITESPACE = re.compile(r"\s+")


class _PlainText(HTMLParser):
    """An HTML text's words: spaces collapsed, a space around every block element, the
    contents of excluded elements left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.spaced = False
        self.excluded: list[str] = []

    def _space(self) -> None:
        if not self.spaced:
            self.parts.append(" ")
            self.spaced = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.excluded or tag in _EXCLUDED:
            if tag not in _VOID:  # an element without an end tag holds nothing
                self.excluded.append(tag)
        elif tag not in _INLINE:
            self._space()

    def handle_endtag(self, tag: str) -> None:
        if self.excluded:
            if tag in self.excluded:
                del self.excluded[self.excluded.index(tag) :]
        elif tag not in _INLINE:
            self._space()

    def handle_data(self, data: str) -> None:
        if self.excluded:
            return
        text = _WHITESPACE.sub(" ", data)
        if self.spaced:
            text = text.lstrip(" ")
        if text:
            self.spaced = text.endswith(" ")
            self.parts.append(text)


def plain_text(html: str) -> str:
    """The words of ``html``, spaces collapsed and trimmed."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts).strip()
