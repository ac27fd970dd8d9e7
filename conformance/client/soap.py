"""SOAP 1.2 requests as an XCA initiating gateway sends them, and reading their answers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from lxml import etree

from conformance.client.transport import EXIT_REPORTED_ERRORS, EXIT_USAGE, ClientError, talking_to
from gateway.mtom import MAX_ROOT_BYTES, MultipartReader, XopPackage, parse_content_type, root_xml
from gateway.soap import ANONYMOUS, SOAP11, SOAP12, WSA, WSSE, WSU, SoapFault, serialize
from registry.ebrim.xml import XmlRejected, parse_xml, qname, text_of

SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
# How long the wsu:Timestamp says the message is valid; the national gateway uses 15 minutes.
TIMESTAMP_VALIDITY = timedelta(minutes=15)


@dataclass
class SoapAnswer:
    """A SOAP answer read: the raw envelope, its Body's first element and any MTOM parts."""

    xml: bytes
    body: etree._Element
    package: XopPackage | None = None

    def close(self) -> None:
        """Release the MTOM parts (temporary files for large documents)."""
        if self.package is not None:
            self.package.close()


def load_assertion(path: Path) -> etree._Element:
    """Read a SAML 2.0 Assertion from a file, refusing anything else."""
    try:
        root = parse_xml(path.read_bytes())
    except OSError as exc:
        raise ClientError(
            f"cannot read the SAML assertion {path}: {exc.strerror}", EXIT_USAGE
        ) from None
    except XmlRejected as exc:
        raise ClientError(
            f"the SAML assertion {path} is not usable XML: {exc}", EXIT_USAGE
        ) from None
    if root.tag != qname(SAML2, "Assertion"):
        name = etree.QName(root)
        raise ClientError(
            f"{path} holds {{{name.namespace}}}{name.localname}, not a saml2:Assertion", EXIT_USAGE
        )
    return root


def security_header(assertion: etree._Element, now: datetime | None = None) -> etree._Element:
    """Return a wsse:Security block carrying the assertion and then a wsu:Timestamp.

    The order and the Timestamp's validity follow the national gateway's requests. The assertion
    is carried unchanged, so its enveloped signature still verifies.
    """
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    security = etree.Element(qname(WSSE, "Security"), nsmap={"wsse": WSSE, "wsu": WSU})
    security.append(assertion)
    timestamp = etree.SubElement(security, qname(WSU, "Timestamp"))
    etree.SubElement(timestamp, qname(WSU, "Created")).text = _utc(now)
    etree.SubElement(timestamp, qname(WSU, "Expires")).text = _utc(now + TIMESTAMP_VALIDITY)
    return security


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def request_envelope(
    body: etree._Element, *, action: str, to: str, assertion: etree._Element | None = None
) -> bytes:
    """Return a SOAP 1.2 request: wsa:Action, MessageID, ReplyTo anonymous, To, and any SAML."""
    root = etree.Element(qname(SOAP12, "Envelope"), nsmap={"s": SOAP12, "a": WSA})
    header = etree.SubElement(root, qname(SOAP12, "Header"))
    must_understand = qname(SOAP12, "mustUnderstand")

    action_block = etree.SubElement(header, qname(WSA, "Action"), {must_understand: "1"})
    action_block.text = action
    etree.SubElement(header, qname(WSA, "MessageID")).text = uuid.uuid4().urn
    reply_to = etree.SubElement(header, qname(WSA, "ReplyTo"))
    etree.SubElement(reply_to, qname(WSA, "Address")).text = ANONYMOUS
    etree.SubElement(header, qname(WSA, "To"), {must_understand: "1"}).text = to
    if assertion is not None:
        header.append(security_header(assertion))

    etree.SubElement(root, qname(SOAP12, "Body")).append(body)
    return serialize(root)


def exchange(
    client: httpx.Client,
    url: str,
    content: bytes,
    content_type: str,
    *,
    max_envelope_bytes: int = MAX_ROOT_BYTES,
) -> SoapAnswer:
    """POST a SOAP request and read the answer, plain or MTOM, as it arrives.

    MTOM parts other than the envelope are spooled to temporary files, so a large document is
    never held in memory. A SOAP Fault raises ClientError with EXIT_REPORTED_ERRORS; anything
    that is not a SOAP 1.2 answer raises ClientError with EXIT_TRANSPORT.
    """
    headers = {"Content-Type": content_type, "Accept": "application/soap+xml, multipart/related"}
    with (
        talking_to(url),
        client.stream("POST", url, content=content, headers=headers) as response,
    ):
        media_type, _ = parse_content_type(response.headers.get("content-type", ""))
        if media_type == "multipart/related":
            package = _read_multipart(response, max_envelope_bytes)
            try:
                xml = root_xml(package)
            except SoapFault as exc:
                package.close()
                raise ClientError(f"{url}: unreadable MTOM answer: {exc.reason}") from None
        else:
            package = None
            xml = _read_plain(response, max_envelope_bytes)
        status = response.status_code

    try:
        body = answer_body(url, status, xml)
    except BaseException:
        if package is not None:
            package.close()
        raise
    return SoapAnswer(xml=xml, body=body, package=package)


def _read_multipart(response: httpx.Response, max_envelope_bytes: int) -> XopPackage:
    try:
        reader = MultipartReader(
            response.headers["content-type"], max_root_bytes=max_envelope_bytes
        )
    except SoapFault as exc:
        raise ClientError(f"{response.url}: unreadable MTOM answer: {exc.reason}") from None
    try:
        for chunk in response.iter_bytes():
            reader.feed(chunk)
        return reader.finish()
    except SoapFault as exc:
        raise ClientError(f"{response.url}: unreadable MTOM answer: {exc.reason}") from None
    except BaseException:
        reader.close()
        raise


def _read_plain(response: httpx.Response, max_envelope_bytes: int) -> bytes:
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > max_envelope_bytes:
            message = f"{response.url}: the answer is larger than {max_envelope_bytes} bytes"
            raise ClientError(message)
    return bytes(data)


def answer_body(url: str, status: int, xml: bytes) -> etree._Element:
    """Return the first element of a SOAP 1.2 answer's Body; raise ClientError for a fault or
    for an answer that is not SOAP 1.2."""
    try:
        root = parse_xml(xml) if xml.strip() else None
    except XmlRejected:
        root = None
    if root is not None and root.tag == qname(SOAP11, "Envelope"):
        fault = root.find(f"{qname(SOAP11, 'Body')}/{qname(SOAP11, 'Fault')}")
        if fault is not None:
            code, reason = fault.findtext("faultcode") or "?", fault.findtext("faultstring") or ""
            message = f"{url}: SOAP 1.1 Fault {code}: {' '.join(reason.split())}"
            raise ClientError(message, EXIT_REPORTED_ERRORS)
    if root is None or root.tag != qname(SOAP12, "Envelope"):
        raise ClientError(f"{url}: HTTP {status}, not a SOAP 1.2 answer: {_glimpse(xml)}")

    body = root.find(qname(SOAP12, "Body"))
    content = None if body is None else next((c for c in body if isinstance(c.tag, str)), None)
    if content is None:
        raise ClientError(f"{url}: HTTP {status}, the SOAP answer has an empty Body")
    if content.tag == qname(SOAP12, "Fault"):
        raise ClientError(f"{url}: SOAP Fault {describe_fault(content)}", EXIT_REPORTED_ERRORS)
    if status >= 300:
        raise ClientError(f"{url}: HTTP {status} with a SOAP answer that is not a Fault")
    return content


def describe_fault(fault: etree._Element) -> str:
    """Return `Code[/Subcode…]: reason` of a SOAP 1.2 Fault."""
    codes = []
    code = fault.find(qname(SOAP12, "Code"))
    while code is not None:
        codes.append(text_of(code.find(qname(SOAP12, "Value"))))
        code = code.find(qname(SOAP12, "Subcode"))
    reason = text_of(fault.find(f"{qname(SOAP12, 'Reason')}/{qname(SOAP12, 'Text')}"))
    return f"{'/'.join(c for c in codes if c) or '?'}: {' '.join(reason.split())}"


def _glimpse(data: bytes) -> str:
    if not data.strip():
        return "(empty body)"
    text = " ".join(data[:120].decode("utf-8", errors="replace").split())
    return repr(text + ("…" if len(data) > 120 else ""))
