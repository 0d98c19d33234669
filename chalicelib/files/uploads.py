"""A file received in a multipart form, named and typed once when it arrives."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.files.names import sniff, stored_name


@dataclass(frozen=True)
class Upload:
    original_name: str
    content: bytes = field(repr=False)
    name: str = ""  # the stored name; generated from original_name when not given
    content_type: str = ""

    @classmethod
    def received(cls, original_name: str, content: bytes) -> Upload:
        return cls(original_name, content, stored_name(original_name, content), sniff(content))
