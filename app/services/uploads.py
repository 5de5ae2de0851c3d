"""Reading an attachment upload: `multipart/form-data` parsed as it streams in.

The body is never held whole: each piece of the `file` part goes on to the blob store as it
arrives (after its first bytes have told its type), hashed (SHA-256) and counted on the way.
What is refused, and how:

- not `multipart/form-data` (or no boundary): 415;
- a part other than `file` and `description`, a second `file`, no `file`, an empty file, a
  description over DESCRIPTION_MAX characters or not UTF-8, a malformed or truncated body: 422;
- a file over ATTACHMENT_MAX_BYTES: 413, as soon as the limit is passed;
- a file whose first bytes are not of a type in ATTACHMENT_TYPES: 415 (the name and the part's
  own `Content-Type` are not believed).

The stored name keeps no folder (`/` and `\\` both end one), no control characters, and at most
FILENAME_MAX characters (the extension kept).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from app.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.filetypes import HEAD_BYTES, detect
from app.models.attachments import DESCRIPTION_MAX, FILENAME_MAX

FORM = "multipart/form-data"
PARTS = ("file", "description")
DEFAULT_NAME = "attachment"


@dataclass(frozen=True, slots=True)
class Upload:
    """What was received of an upload (its bytes are in the store)."""

    filename: str
    content_type: str
    size: int
    sha256: str
    description: str | None


def clean_filename(raw: str) -> str:
    """The name without folders, control or format characters, surrounding blanks or dots, cut to
    FILENAME_MAX characters keeping the extension; DEFAULT_NAME when nothing is left."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))
    name = name.strip().strip(".").strip()
    if not name:
        return DEFAULT_NAME
    if len(name) > FILENAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = stem[: FILENAME_MAX - len(extension) - 1] + "." + extension
        else:
            name = name[:FILENAME_MAX]
    return name


def _boundary(content_type: str | None) -> bytes:
    media, options = parse_options_header(content_type or "")
    if media.decode("latin-1").lower() != FORM:
        raise UnsupportedMediaType(f"send the file as {FORM}, with a part named `file`")
    boundary: bytes | None = options.get(b"boundary")
    if not boundary:
        raise Unprocessable(f"the {FORM} Content-Type names no boundary", loc=("header", "Content-Type"))
    return boundary


@dataclass
class _Reading:
    """The parser's state between the callbacks."""

    max_bytes: int
    allowed: Collection[str]
    headers: dict[str, str] = field(default_factory=dict)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    part: str | None = None
    files: int = 0
    filename: str = DEFAULT_NAME
    content_type: str | None = None
    head: bytearray = field(default_factory=bytearray)
    ready: list[bytes] = field(default_factory=list)
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    description: bytearray | None = None
    ended: bool = False

    # -- callbacks

    def on_part_begin(self) -> None:
        self.headers, self.part = {}, None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self.header_field.decode("latin-1").strip().lower()
        self.headers[name] = self.header_value.decode("utf-8", errors="replace")
        self.header_field, self.header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", ""))
        part = options.get(b"name", b"").decode("utf-8", errors="replace")
        if part not in PARTS:
            raise Unprocessable(
                f"unknown form part {part!r}: send `file` and, optionally, `description`", loc=("body", part or "?")
            )
        if part == "file":
            self.files += 1
            if self.files > 1:
                raise Unprocessable("send one file per request", loc=("body", "file"))
            raw = options.get(b"filename", b"").decode("utf-8", errors="replace")
            self.filename = clean_filename(raw)
        else:
            if self.description is not None:
                raise Unprocessable("send one description", loc=("body", "description"))
            self.description = bytearray()
        self.part = part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self.part == "description":
            assert self.description is not None
            self.description += piece
            if len(self.description) > DESCRIPTION_MAX * 4:  # more than any 2,000 characters in UTF-8
                raise Unprocessable(
                    f"description is longer than {DESCRIPTION_MAX} characters", loc=("body", "description")
                )
            return
        self.size += len(piece)
        if self.size > self.max_bytes:
            raise PayloadTooLarge(f"the file exceeds {self.max_bytes} bytes (ATTACHMENT_MAX_BYTES)")
        self.digest.update(piece)
        if self.content_type is None:
            self.head += piece
            if len(self.head) >= HEAD_BYTES:
                self._identify()
        else:
            self.ready.append(piece)

    def on_part_end(self) -> None:
        if self.part == "file" and self.content_type is None and self.head:
            self._identify()
        self.part = None

    def on_end(self) -> None:
        self.ended = True

    def _identify(self) -> None:
        found = detect(bytes(self.head[:HEAD_BYTES]))
        if found is None or found not in self.allowed:
            kinds = ", ".join(sorted(self.allowed))
            raise UnsupportedMediaType(
                f"the file is {'of type ' + found if found else 'of a type not accepted'}; accepted: {kinds} "
                "(recognised from the file's first bytes, not its name)"
            )
        self.content_type = found
        self.ready.append(bytes(self.head))
        self.head = bytearray()

    def callbacks(self) -> Any:
        return {
            name: getattr(self, name)
            for name in (
                "on_part_begin",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
                "on_part_data",
                "on_part_end",
                "on_end",
            )
        }


class Receiver:
    """One upload: `file_bytes()` is what the blob store consumes; `result()` what was received,
    once the body has been read to its end."""

    def __init__(
        self, content_type: str | None, body: AsyncIterable[bytes], *, max_bytes: int, allowed: Collection[str]
    ) -> None:
        self._state = _Reading(max_bytes, allowed)
        self._parser = MultipartParser(_boundary(content_type), self._state.callbacks())
        self._body = body
        self._done = False

    async def file_bytes(self) -> AsyncIterator[bytes]:
        state = self._state
        try:
            async for data in self._body:
                self._parser.write(data)
                while state.ready:
                    yield state.ready.pop(0)
            self._parser.finalize()
        except MultipartParseError as exc:
            raise Unprocessable(f"the {FORM} body is malformed: {exc}") from exc
        except ClientDisconnect as exc:
            raise BadRequest("the upload was interrupted before its end") from exc
        while state.ready:
            yield state.ready.pop(0)
        self._done = True

    def result(self) -> Upload:
        state = self._state
        if not self._done or not state.ended:
            raise Unprocessable(f"the {FORM} body ended before its closing boundary (truncated upload)")
        if state.files == 0:
            raise Unprocessable("a part named `file` is required", loc=("body", "file"))
        if state.size == 0 or state.content_type is None:
            raise Unprocessable("the file is empty", loc=("body", "file"))
        return Upload(
            filename=state.filename,
            content_type=state.content_type,
            size=state.size,
            sha256=state.digest.hexdigest(),
            description=_description(state.description),
        )


def _description(raw: bytearray | None) -> str | None:
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise Unprocessable("description must be UTF-8 text", loc=("body", "description")) from exc
    if "\x00" in text:
        raise Unprocessable("text must not contain NUL (\\u0000) characters", loc=("body", "description"))
    if len(text) > DESCRIPTION_MAX:
        raise Unprocessable(f"description is longer than {DESCRIPTION_MAX} characters", loc=("body", "description"))
    return text or None
