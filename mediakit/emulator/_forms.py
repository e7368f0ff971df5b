"""Request bodies read as X reads them, without ever holding an uploaded chunk in memory.

Multipart bodies are parsed as they stream in: the `media` part (a file part, or a plain
field as some v1.1 clients send it) goes straight to a spool file, counted but no longer
written once it passes the chunk cap, so an oversized chunk is refused without being held.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

__all__ = [
    "BodyError",
    "BodyTooLarge",
    "Form",
    "SpooledPart",
    "read_form",
    "read_json",
    "read_small_body",
]

MAX_FIELD_BYTES = 16 * 1024 * 1024  # room for a base64 `media_data` of a 5 MiB chunk
BINARY_FIELDS = frozenset({"media"})


class BodyError(Exception):
    """A body that cannot be read as what it claims to be."""


class BodyTooLarge(BodyError):
    """The request body passed the size its endpoint takes (X's edge answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body is over {limit} bytes.")
        self.limit = limit


@dataclass
class SpooledPart:
    path: str
    size: int = 0
    filename: str | None = None
    too_large: bool = False


@dataclass
class Form:
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, SpooledPart] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def names(self) -> set[str]:
        return {key for key, _ in self.fields} | set(self.files)

    def discard(self) -> None:
        for part in self.files.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part.path)


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_small_body(
    request: Request, limit: int = MAX_FIELD_BYTES, *, max_body: int | None = None
) -> bytes:
    """The whole body; `BodyTooLarge` past `max_body`, `BodyError` past `limit`."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if max_body is not None and total > max_body:
            raise BodyTooLarge(max_body)
        if total > limit:
            raise BodyError("Request body is too large.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, *, max_body: int | None = None) -> Any:
    body = await read_small_body(request, max_body=max_body)
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyError("Request body is not valid JSON.") from exc


async def read_form(
    request: Request,
    spool: Callable[[], tuple[int, str]],
    max_file_bytes: int,
    *,
    max_body: int | None = None,
) -> Form:
    """Parse a multipart or urlencoded body; binary parts go to files made by `spool()`.

    Past `max_body` bytes of body, reading stops with `BodyTooLarge`.
    """
    kind = content_type(request)
    if kind == "application/x-www-form-urlencoded":
        body = await read_small_body(request, max_body=max_body)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BodyError("Request body is not valid form data.") from exc
        return Form(fields=parse_qsl(text, keep_blank_values=True))
    if kind != "multipart/form-data":
        raise BodyError(f"Unsupported content type: {kind or 'none'}")
    _, params = parse_options_header(request.headers["content-type"])
    boundary = params.get(b"boundary")
    if not boundary:
        raise BodyError("Missing boundary in multipart body.")
    return await _MultipartReader(spool, max_file_bytes, max_body).parse(request, boundary)


def _write_all(fd: int, piece: memoryview) -> None:
    while piece:
        piece = piece[os.write(fd, piece) :]


class _MultipartReader:
    def __init__(
        self, spool: Callable[[], tuple[int, str]], max_file_bytes: int, max_body: int | None
    ) -> None:
        self._spool = spool
        self._max_file_bytes = max_file_bytes
        self._max_body = max_body
        self.form = Form()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._file: SpooledPart | None = None
        self._fd: int | None = None
        self._data = bytearray()

    def _on_part_begin(self) -> None:
        self._disposition = b""
        self._file = None
        self._fd = None
        self._data = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if raw_name is None:
            raise BodyError('The Content-Disposition header field "name" must be provided.')
        self._name = raw_name.decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is not None or self._name in BINARY_FIELDS:
            fd, path = self._spool()
            self._fd = fd
            self._file = SpooledPart(
                path=path, filename=filename.decode("utf-8", "replace") if filename else None
            )
            previous = self.form.files.pop(self._name, None)
            if previous is not None:
                os.unlink(previous.path)
            self.form.files[self._name] = self._file

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        # A view, not a slice: a slice would copy every uploaded byte once more.
        piece = memoryview(data)[start:end]
        if self._file is not None and self._fd is not None:
            self._file.size += len(piece)
            if self._file.size > self._max_file_bytes:
                self._file.too_large = True
            else:
                _write_all(self._fd, piece)
            return
        if len(self._data) + len(piece) > MAX_FIELD_BYTES:
            raise BodyError(f"Field {self._name} is too large.")
        self._data.extend(piece)

    def _on_part_end(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        elif self._file is None:
            self.form.fields.append((self._name, self._data.decode("utf-8", "replace")))

    async def parse(self, request: Request, boundary: bytes) -> Form:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
            },
        )
        total = 0
        try:
            async for chunk in request.stream():
                total += len(chunk)
                if self._max_body is not None and total > self._max_body:
                    raise BodyTooLarge(self._max_body)
                parser.write(chunk)
            parser.finalize()
        except (BodyError, ClientDisconnect):
            self._close_and_discard()
            raise
        except Exception as exc:  # python-multipart raises its own errors on broken bodies
            self._close_and_discard()
            raise BodyError(f"Malformed multipart body: {exc}") from exc
        if self._fd is not None:  # the body ended inside a part
            self._close_and_discard()
            raise BodyError("Malformed multipart body: truncated part.")
        return self.form

    def _close_and_discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.form.discard()
