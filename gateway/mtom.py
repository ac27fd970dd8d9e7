"""MTOM/XOP over multipart/related: reading requests and streaming responses (W3C XOP, MTOM)."""

from __future__ import annotations

import base64
import functools
import io
import tempfile
import uuid
from collections.abc import AsyncIterable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from lxml import etree
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState

from gateway.soap import SOAP12_MEDIA_TYPE, FaultCode, SoapFault
from registry.ebrim.xml import XOP, qname

XOP_MEDIA_TYPE = "application/xop+xml"
MULTIPART_RELATED = "multipart/related"

MAX_PARTS = 100
MAX_BOUNDARY_LENGTH = 70
CHUNK_SIZE = 64 * 1024

# The root part is the SOAP envelope, parsed in memory; the other parts may be any size.
MAX_ROOT_BYTES = 32 * 1024 * 1024
# A non-root part larger than this moves from memory to a temporary file as it arrives.
SPOOL_MEMORY_BYTES = 256 * 1024
# How much of a body is held back to find its first delimiter line and tell its framing.
_HEAD_BYTES = 64 * 1024


@dataclass(eq=False)
class Part:
    """One MIME part: its headers (names in lower case) and its bytes, in memory or in a file.

    Iterating a part yields its bytes in chunks, from the start each time.
    """

    headers: dict[str, str] = field(default_factory=dict)
    file: BinaryIO = field(default_factory=io.BytesIO)
    size: int = 0

    @classmethod
    def of(cls, data: bytes, headers: dict[str, str] | None = None) -> Part:
        """Return a part holding `data` in memory."""
        return cls(headers or {}, io.BytesIO(data), len(data))

    @property
    def content_id(self) -> str:
        """The Content-ID without angle brackets, '' if absent."""
        return normalize_content_id(self.headers.get("content-id", ""))

    @property
    def content_type(self) -> str:
        """The part's Content-Type header, '' if absent."""
        return self.headers.get("content-type", "")

    @property
    def data(self) -> bytes:
        """All the bytes at once: for the envelope and small parts, never for a document."""
        self.file.seek(0)
        return self.file.read()

    def chunks(self, size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yield the bytes from the start, `size` at a time."""
        self.file.seek(0)
        while chunk := self.file.read(size):
            yield chunk

    def __iter__(self) -> Iterator[bytes]:
        return self.chunks()

    def __len__(self) -> int:
        return self.size

    def close(self) -> None:
        """Release the memory or temporary file holding the bytes."""
        self.file.close()


@dataclass
class XopPackage:
    """A multipart/related message read: its root part, the other parts, and any action hint.

    Non-root parts may live in temporary files: close the package once the request is answered.
    """

    root: Part
    parts: dict[str, Part]
    action: str | None = None

    def close(self) -> None:
        """Release every part's bytes."""
        for part in (self.root, *self.parts.values()):
            part.close()

    def __enter__(self) -> XopPackage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type into its lower-case media type and its (unquoted) parameters."""
    media_type, params = _parsed_content_type(value)
    return media_type, dict(params)


@functools.lru_cache(maxsize=256)
def _parsed_content_type(value: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    # The standard library's parser is slow, and part headers repeat from request to request.
    message = Message()
    message["content-type"] = value
    params = message.get_params(failobj=[])[1:]
    return message.get_content_type(), tuple((key.lower(), val) for key, val in params)


def normalize_content_id(value: str) -> str:
    """Return a Content-ID or `cid:` URL as a bare addr-spec (RFC 2392)."""
    value = value.strip()
    if value[:4].lower() == "cid:":
        value = unquote(value[4:])
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def parse_multipart(
    body: bytes,
    content_type: str,
    *,
    max_root_bytes: int = MAX_ROOT_BYTES,
    spool_dir: Path | None = None,
) -> XopPackage:
    """Read a multipart/related body held in memory; raise SoapFault(Sender) if it is not one."""
    reader = MultipartReader(content_type, max_root_bytes=max_root_bytes, spool_dir=spool_dir)
    reader.feed(body)
    return reader.finish()


async def read_multipart(
    chunks: AsyncIterable[bytes],
    content_type: str,
    *,
    max_root_bytes: int = MAX_ROOT_BYTES,
    spool_dir: Path | None = None,
) -> XopPackage:
    """Read a multipart/related body as it arrives; large parts go to temporary files."""
    reader = MultipartReader(content_type, max_root_bytes=max_root_bytes, spool_dir=spool_dir)
    try:
        async for chunk in chunks:
            reader.feed(chunk)
    except BaseException:
        reader.close()
        raise
    return reader.finish()


class MultipartReader:
    """Reads a multipart/related body fed in pieces, so that no document sits whole in memory.

    The root part (the SOAP envelope) is kept in memory up to `max_root_bytes`; every other part
    is spooled to a temporary file in `spool_dir` once it passes SPOOL_MEMORY_BYTES. Any error
    closes what was read and raises SoapFault(Sender).
    """

    def __init__(
        self,
        content_type: str,
        *,
        max_root_bytes: int = MAX_ROOT_BYTES,
        spool_dir: Path | None = None,
    ) -> None:
        media_type, params = parse_content_type(content_type)
        boundary = params.get("boundary", "")
        if media_type != MULTIPART_RELATED or not boundary:
            raise SoapFault(FaultCode.SENDER, "expected multipart/related with a boundary")
        if len(boundary) > MAX_BOUNDARY_LENGTH:
            message = (
                f"the boundary is longer than {MAX_BOUNDARY_LENGTH} characters (RFC 2046 5.1.1)"
            )
            raise SoapFault(FaultCode.SENDER, message)

        self.params = params
        self.max_root_bytes = max_root_bytes
        self.spool_dir = spool_dir
        self._boundary = boundary.encode("latin-1")
        self._start = normalize_content_id(params.get("start", ""))
        self._parts: list[Part] = []
        self._root: Part | None = None
        self._current: Part | None = None
        self._keep_current = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        # Until the first delimiter line shows CRLF or bare LF framing, bytes wait here.
        self._head = bytearray()
        self._framing: str | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
            },
        )

    def feed(self, chunk: bytes) -> None:
        """Read the next piece of the body."""
        try:
            self._feed(chunk)
        except BaseException:
            self.close()
            raise

    def finish(self) -> XopPackage:
        """Check that the body is complete and return its parts."""
        try:
            return self._finish()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release every part read so far."""
        for part in self._parts:
            part.close()

    def _feed(self, chunk: bytes) -> None:
        if self._framing == "crlf":
            self._parse(chunk)
            return

        self._head += chunk
        if self._framing == "lf":
            if len(self._head) > self.max_root_bytes:
                message = (
                    "a multipart body framed with bare LF line ends is read whole, and this one "
                    f"is larger than {self.max_root_bytes} bytes"
                )
                raise SoapFault(FaultCode.SENDER, message, http_status=413)
            return
        framing = self._framing_of_head()
        if framing is None and len(self._head) < _HEAD_BYTES:
            return
        self._framing = framing or "crlf"
        if self._framing == "crlf":
            head, self._head = bytes(self._head), bytearray()
            self._parse(head)

    def _framing_of_head(self) -> str | None:
        """Tell 'crlf' or 'lf' from the first delimiter line; None while it has not arrived.

        A preamble before that line is dropped, as RFC 2046 5.1.1 says to ignore it.
        """
        delimiter = b"--" + self._boundary
        at = self._head.find(delimiter)
        while at > 0 and self._head[at - 1] != ord("\n"):
            at = self._head.find(delimiter, at + 1)
        if at < 0:
            return None
        line_end = self._head.find(b"\n", at)
        if line_end < 0:
            return None
        del self._head[:at]
        line = self._head[: line_end - at].rstrip(b" \t")
        return "crlf" if line.endswith(b"\r") else "lf"

    def _parse(self, data: bytes) -> None:
        try:
            self._parser.write(data)
        except FormParserError as exc:
            raise SoapFault(FaultCode.SENDER, f"malformed multipart body: {exc}") from None

    def _finish(self) -> XopPackage:
        if self._framing != "crlf":
            # Bare LF framing (as log captures have) is mended on the whole body, held in memory.
            head, self._head = bytes(self._head), bytearray()
            self._framing = "crlf"
            self._parse(_with_crlf_framing(head, self._boundary))
        if self._parser.state != MultipartState.END:
            message = "the multipart body ends before its closing delimiter"
            raise SoapFault(FaultCode.SENDER, message)
        if not self._parts:
            raise SoapFault(FaultCode.SENDER, "the multipart body has no parts")
        if self._root is None:
            raise SoapFault(FaultCode.SENDER, "no part has the Content-ID named by start")

        others = {part.content_id: part for part in self._parts if part is not self._root}
        others.pop("", None)
        return XopPackage(root=self._root, parts=others, action=_action(self.params, self._root))

    def _on_part_begin(self) -> None:
        if len(self._parts) >= MAX_PARTS:
            raise SoapFault(FaultCode.SENDER, f"more than {MAX_PARTS} MIME parts")
        self._current = Part()
        self._parts.append(self._current)

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._current.headers[name] = self._header_value.decode("latin-1").strip()
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        part = self._current
        content_id = part.content_id
        if content_id and any(p.content_id == content_id for p in self._parts if p is not part):
            raise SoapFault(FaultCode.SENDER, "two MIME parts have the same Content-ID")
        if self._root is None and (not self._start or content_id == self._start):
            self._root = part
        elif content_id:
            # Closed with the package (XopPackage.close), or by close() on an error.
            part.file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                max_size=SPOOL_MEMORY_BYTES, dir=self.spool_dir
            )
        # A part without Content-ID cannot be named by an xop:Include: its bytes are dropped.
        self._keep_current = part is self._root or bool(content_id)

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current
        part.size += end - start
        if part is self._root and part.size > self.max_root_bytes:
            message = f"the SOAP envelope part is larger than {self.max_root_bytes} bytes"
            raise SoapFault(FaultCode.SENDER, message, http_status=413)
        if self._keep_current:
            part.file.write(memoryview(data)[start:end])


def root_xml(package: XopPackage) -> bytes:
    """Return the root part's XML, transcoded to UTF-8 if its charset is only in the header."""
    _, params = parse_content_type(package.root.content_type)
    charset = params.get("charset", "utf-8").lower()
    data = package.root.data
    if charset in ("utf-8", "utf8") or data.lstrip().startswith(b"<?xml"):
        return data
    try:
        return data.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError):
        raise SoapFault(FaultCode.SENDER, f"the root part is not {charset}") from None


def resolve_xop(
    root: etree._Element, parts: dict[str, Part], *, keep: Collection[str] = ()
) -> None:
    """Replace every xop:Include by the base64 text of the part it names (XOP 1.0, 3.2).

    Includes inside an element whose tag is in `keep` stay: their reader takes the part's bytes
    as they are, rather than a base64 copy a third larger.
    """
    for include in list(root.iter(qname(XOP, "Include"))):
        href = include.get("href", "")
        parent = include.getparent()
        if parent is not None and parent.tag in keep:
            continue
        part = parts.get(normalize_content_id(href))
        if part is None:
            raise SoapFault(FaultCode.SENDER, f"xop:Include names no part: {href}")
        if parent is None:
            raise SoapFault(FaultCode.SENDER, "xop:Include cannot be the root element")
        parent.remove(include)
        parent.text = base64.b64encode(part.data).decode("ascii")


def _action(params: dict[str, str], root: Part) -> str | None:
    if params.get("action"):
        return params["action"]
    candidates = [params.get("start-info", "")]
    candidates.append(parse_content_type(root.content_type)[1].get("type", ""))
    for candidate in candidates:
        if candidate and (action := parse_content_type(candidate)[1].get("action")):
            return action
    return None


def _with_crlf_framing(body: bytes, boundary: bytes) -> bytes:
    """Give a body framed with bare LF line ends (as log captures are) RFC 2046 CRLF framing.

    Only delimiter lines and part headers are touched; part contents stay byte for byte.
    """
    delimiter = b"--" + boundary
    if b"\r\n" + delimiter in body or b"\n" + delimiter not in b"\n" + body:
        return body

    chunks = (b"\n" + body).split(b"\n" + delimiter)
    framed = [chunks[0][1:]]
    for chunk in chunks[1:]:
        line_end = chunk.find(b"\n")
        if line_end < 0:
            framed.append(chunk)
            continue
        line = chunk[:line_end].rstrip(b" \t")
        headers_end = chunk.find(b"\n\n", line_end)
        if line.startswith(b"--") or headers_end < 0:
            framed.append(line + b"\r\n" + chunk[line_end + 1 :])
            continue
        head = chunk[line_end : headers_end + 2].replace(b"\n", b"\r\n")
        framed.append(line + head + chunk[headers_end + 2 :])
    return (b"\r\n" + delimiter).join(framed)


def new_content_id(label: str) -> str:
    """Return a fresh, globally unique Content-ID (without angle brackets)."""
    return f"{label}.{uuid.uuid4().hex}@xcads"


@dataclass
class Attachment:
    """A document to send as its own MIME part; `chunks` is consumed lazily while streaming."""

    content_id: str
    content_type: str
    chunks: Iterable[bytes]


@dataclass
class MtomMessage:
    """A SOAP 1.2 envelope and its attachments as an MTOM multipart/related message."""

    envelope: bytes
    attachments: list[Attachment]
    action: str | None = None
    boundary: str = field(default_factory=lambda: f"MIMEBoundary_{uuid.uuid4().hex}")
    root_id: str = field(default_factory=lambda: new_content_id("root"))

    @property
    def content_type(self) -> str:
        """The multipart/related Content-Type of MTOM (SOAP MTOM 1.0, 4.3)."""
        value = (
            f'{MULTIPART_RELATED}; type="{XOP_MEDIA_TYPE}"; boundary="{self.boundary}"; '
            f'start="<{self.root_id}>"; start-info="{SOAP12_MEDIA_TYPE}"'
        )
        # Axis2-based gateways read the action from here.
        return f'{value}; action="{self.action}"' if self.action else value

    def stream(self) -> Iterator[bytes]:
        """Yield the message part by part; attachment bytes pass through chunk by chunk."""
        delimiter = f"--{self.boundary}\r\n".encode("ascii")
        yield delimiter + _part_headers(
            f'{XOP_MEDIA_TYPE}; charset=UTF-8; type="{SOAP12_MEDIA_TYPE}"', self.root_id
        )
        yield self.envelope
        for attachment in self.attachments:
            yield b"\r\n" + delimiter
            yield _part_headers(attachment.content_type, attachment.content_id)
            yield from attachment.chunks
        yield f"\r\n--{self.boundary}--\r\n".encode("ascii")


def _part_headers(content_type: str, content_id: str) -> bytes:
    if not content_type.isascii() or not content_type.isprintable():
        # A header cannot carry it; the bytes still reach the consumer as an opaque document.
        content_type = "application/octet-stream"
    return (
        f"Content-Type: {content_type}\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: <{content_id}>\r\n\r\n"
    ).encode("latin-1")
