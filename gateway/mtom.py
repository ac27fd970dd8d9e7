"""MTOM/XOP over multipart/related: reading requests and streaming responses (W3C XOP, MTOM)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
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


@dataclass
class Part:
    """One MIME part: its headers (names in lower case) and its bytes."""

    headers: dict[str, str] = field(default_factory=dict)
    data: bytes = b""

    @property
    def content_id(self) -> str:
        """The Content-ID without angle brackets, '' if absent."""
        return normalize_content_id(self.headers.get("content-id", ""))

    @property
    def content_type(self) -> str:
        """The part's Content-Type header, '' if absent."""
        return self.headers.get("content-type", "")


@dataclass
class XopPackage:
    """A multipart/related message read: its root part, the other parts, and any action hint."""

    root: Part
    parts: dict[str, Part]
    action: str | None = None


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type into its lower-case media type and its (unquoted) parameters."""
    message = Message()
    message["content-type"] = value
    params = message.get_params(failobj=[])[1:]
    return message.get_content_type(), {key.lower(): val for key, val in params}


def normalize_content_id(value: str) -> str:
    """Return a Content-ID or `cid:` URL as a bare addr-spec (RFC 2392)."""
    value = value.strip()
    if value[:4].lower() == "cid:":
        value = unquote(value[4:])
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def parse_multipart(body: bytes, content_type: str) -> XopPackage:
    """Read a multipart/related body; raise SoapFault(Sender) if it is not one."""
    media_type, params = parse_content_type(content_type)
    boundary = params.get("boundary", "")
    if media_type != MULTIPART_RELATED or not boundary:
        raise SoapFault(FaultCode.SENDER, "expected multipart/related with a boundary")
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        message = f"the boundary is longer than {MAX_BOUNDARY_LENGTH} characters (RFC 2046 5.1.1)"
        raise SoapFault(FaultCode.SENDER, message)

    parts = _split(_with_crlf_framing(body, boundary.encode("latin-1")), boundary)
    if not parts:
        raise SoapFault(FaultCode.SENDER, "the multipart body has no parts")
    content_ids = [part.content_id for part in parts if part.content_id]
    if len(content_ids) != len(set(content_ids)):
        raise SoapFault(FaultCode.SENDER, "two MIME parts have the same Content-ID")

    start = normalize_content_id(params.get("start", ""))
    by_id = {part.content_id: part for part in parts if part.content_id}
    root = by_id.get(start) if start else parts[0]
    if root is None:
        raise SoapFault(FaultCode.SENDER, "no part has the Content-ID named by start")
    others = {cid: part for cid, part in by_id.items() if part is not root}
    return XopPackage(root=root, parts=others, action=_action(params, root))


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


def resolve_xop(root: etree._Element, parts: dict[str, Part]) -> None:
    """Replace every xop:Include by the base64 text of the part it names (XOP 1.0, 3.2)."""
    for include in list(root.iter(qname(XOP, "Include"))):
        href = include.get("href", "")
        part = parts.get(normalize_content_id(href))
        if part is None:
            raise SoapFault(FaultCode.SENDER, f"xop:Include names no part: {href}")
        parent = include.getparent()
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


def _split(body: bytes, boundary: str) -> list[Part]:
    parts: list[Part] = []
    header: dict[str, bytes] = {"field": b"", "value": b""}
    data: list[bytes] = []

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise SoapFault(FaultCode.SENDER, f"more than {MAX_PARTS} MIME parts")
        parts.append(Part())
        data.clear()

    def on_header_field(chunk: bytes, start: int, end: int) -> None:
        header["field"] += chunk[start:end]

    def on_header_value(chunk: bytes, start: int, end: int) -> None:
        header["value"] += chunk[start:end]

    def on_header_end() -> None:
        name = header["field"].decode("latin-1").strip().lower()
        parts[-1].headers[name] = header["value"].decode("latin-1").strip()
        header["field"] = header["value"] = b""

    def on_part_data(chunk: bytes, start: int, end: int) -> None:
        data.append(chunk[start:end])

    def on_part_end() -> None:
        parts[-1].data = b"".join(data)

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
    except FormParserError as exc:
        raise SoapFault(FaultCode.SENDER, f"malformed multipart body: {exc}") from None
    if parser.state != MultipartState.END:
        raise SoapFault(FaultCode.SENDER, "the multipart body ends before its closing delimiter")
    return parts


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
