"""What a file is, from its first bytes (its "magic number"), never from its name.

Only the types the service may accept are known; anything else is `None` (refused with 415
unless someone adds it here and to ATTACHMENT_TYPES)."""

from __future__ import annotations

from collections.abc import Callable

HEAD_BYTES = 16
"""How many leading bytes `detect` needs to decide."""


def _webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/webp": _webp,
    "application/pdf": lambda head: head.startswith(b"%PDF-"),
}
"""Media type → test of the first HEAD_BYTES bytes."""


def detect(head: bytes) -> str | None:
    """The media type of a file starting with `head` (at least HEAD_BYTES bytes when the file
    has that many), or None when it is none of the known types."""
    for media_type, matches in SIGNATURES.items():
        if matches(head):
            return media_type
    return None
