"""SOAP 1.2 envelopes with WS-Addressing: reading requests, writing responses and faults."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from lxml import etree

from registry.ebrim.xml import XML, XmlRejected, local_name, parse_xml, qname, text_of

if TYPE_CHECKING:
    from gateway.mtom import Part

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

SOAP12_MEDIA_TYPE = "application/soap+xml"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
# WS-Addressing 1.0 Core 2.1: messages sent to this address are discarded.
NONE = "http://www.w3.org/2005/08/addressing/none"

# Fault actions of WS-Addressing 1.0 SOAP Binding 6.4 (addressing faults) and 6.1 (other faults).
WSA_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/fault"
SOAP_FAULT_ACTION = "http://www.w3.org/2005/08/addressing/soap/fault"

# Header blocks this node processes; a mustUnderstand block from any other namespace is refused.
UNDERSTOOD_NAMESPACES = frozenset({WSA, WSSE, WSU})

_ROLE_NONE = "http://www.w3.org/2003/05/soap-envelope/role/none"
_OUR_ROLES = frozenset(
    {
        "",
        "http://www.w3.org/2003/05/soap-envelope/role/next",
        "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver",
    }
)


class FaultCode(StrEnum):
    """SOAP 1.2 fault codes (SOAP 1.2 Part 1, 5.4.6)."""

    VERSION_MISMATCH = "VersionMismatch"
    MUST_UNDERSTAND = "MustUnderstand"
    DATA_ENCODING_UNKNOWN = "DataEncodingUnknown"
    SENDER = "Sender"
    RECEIVER = "Receiver"


class SoapFault(Exception):
    """A fault to answer with instead of a response."""

    def __init__(
        self,
        code: FaultCode,
        reason: str,
        *,
        subcode: str | None = None,
        subsubcode: str | None = None,
        not_understood: list[str] | None = None,
        problem_action: str | None = None,
        problem_soap_action: str | None = None,
        problem_header: str | None = None,
        soap11: bool = False,
        http_status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.subcode = subcode
        self.subsubcode = subsubcode
        self.not_understood = not_understood or []
        self.problem_action = problem_action
        self.problem_soap_action = problem_soap_action
        self.problem_header = problem_header
        self.soap11 = soap11
        self._http_status = http_status

    @property
    def http_status(self) -> int:
        """The HTTP status of SOAP 1.2 Part 2, 7.5.2.2: 400 for Sender, 500 otherwise."""
        if self._http_status is not None:
            return self._http_status
        return 400 if self.code == FaultCode.SENDER and not self.soap11 else 500


@dataclass
class EndpointReference:
    """Where a message goes (WS-Addressing 1.0 Core 2): an address, and reference parameters that
    the message carries as header blocks (SOAP Binding 2.3)."""

    address: str
    reference_parameters: list[etree._Element] = field(default_factory=list)

    @property
    def is_anonymous(self) -> bool:
        """Whether the message goes back on the request's own HTTP connection."""
        return self.address == ANONYMOUS

    @property
    def is_none(self) -> bool:
        """Whether the message is to be discarded."""
        return self.address == NONE


@dataclass
class SoapRequest:
    """A SOAP 1.2 request: its addressing headers and the first element of its Body.

    `attachments` holds the MTOM parts that an xop:Include left in the body names, by Content-ID
    (see `gateway.mtom.resolve_xop`); a large part is in a temporary file, read it by iterating.
    """

    body: etree._Element
    action: str | None = None
    message_id: str | None = None
    reply_to: EndpointReference | None = None
    fault_to: EndpointReference | None = None
    to: str | None = None
    headers: list[etree._Element] = field(default_factory=list)
    attachments: dict[str, Part] = field(default_factory=dict)


@dataclass(frozen=True)
class SoapMessage:
    """A serialized SOAP message ready to send: bytes, media type and HTTP status."""

    body: bytes
    content_type: str
    status: int = 200


def parse_envelope(data: bytes, *, action: str | None = None) -> SoapRequest:
    """Parse a SOAP 1.2 envelope from bytes; raise SoapFault if it cannot be processed."""
    try:
        root = parse_xml(data)
    except XmlRejected as exc:
        raise SoapFault(FaultCode.SENDER, str(exc)) from None
    return read_envelope(root, action=action)


def read_envelope(root: etree._Element, *, action: str | None = None) -> SoapRequest:
    """Read a parsed SOAP 1.2 envelope; `action` (from the media type) is used if no wsa:Action."""
    if root.tag == qname(SOAP11, "Envelope"):
        raise SoapFault(
            FaultCode.VERSION_MISMATCH, "SOAP 1.1 is not supported; use SOAP 1.2", soap11=True
        )
    if root.tag != qname(SOAP12, "Envelope"):
        raise SoapFault(FaultCode.VERSION_MISMATCH, "the document is not a SOAP 1.2 Envelope")

    header = root.find(qname(SOAP12, "Header"))
    body = root.find(qname(SOAP12, "Body"))
    if body is None:
        raise SoapFault(FaultCode.SENDER, "the Envelope has no Body")
    # SOAP 1.2 Part 1 5.1: an optional Header, then the Body, nothing else. A second Body would
    # otherwise go unread while a logging intermediary might read it.
    children = [child.tag for child in root if isinstance(child.tag, str)]
    if children not in ([body.tag], [qname(SOAP12, "Header"), body.tag]):
        names = ", ".join(etree.QName(tag).localname for tag in children)
        raise SoapFault(FaultCode.SENDER, f"the Envelope holds {names}; only Header, Body may be")
    content = next((child for child in body if isinstance(child.tag, str)), None)
    if content is None:
        raise SoapFault(FaultCode.SENDER, "the Body is empty")

    blocks = [] if header is None else [b for b in header if isinstance(b.tag, str)]
    _check_must_understand(blocks)
    addressing, endpoints = _addressing(blocks)
    wsa_action = addressing.get("Action")
    if wsa_action and action and action.strip() != wsa_action.strip():
        # WS-Addressing 1.0 SOAP Binding (6.4.1, Action Mismatch): the media type's action
        # parameter, when sent, must be wsa:Action; intermediaries may route by either.
        raise SoapFault(
            FaultCode.SENDER,
            f"the wsa:Action {wsa_action} differs from the media type's action {action}",
            subcode=qname(WSA, "InvalidAddressingHeader"),
            subsubcode=qname(WSA, "ActionMismatch"),
            problem_action=wsa_action,
            problem_soap_action=action,
        )
    return SoapRequest(
        body=content,
        action=wsa_action or action,
        message_id=addressing.get("MessageID"),
        reply_to=endpoints.get("ReplyTo"),
        fault_to=endpoints.get("FaultTo"),
        to=addressing.get("To"),
        headers=blocks,
    )


def _check_must_understand(blocks: list[etree._Element]) -> None:
    for block in blocks:
        value = block.get(qname(SOAP12, "mustUnderstand"))
        if value is not None and value.strip() not in ("1", "true", "0", "false"):
            name = etree.QName(block).localname
            message = f"mustUnderstand of header {name} is {value!r}, not an xs:boolean"
            raise SoapFault(FaultCode.SENDER, message)
    not_understood = [
        block.tag
        for block in blocks
        if block.get(qname(SOAP12, "mustUnderstand"), "").strip() in ("1", "true")
        and block.get(qname(SOAP12, "role"), "").strip() in _OUR_ROLES
        and etree.QName(block).namespace not in UNDERSTOOD_NAMESPACES
    ]
    if not_understood:
        names = ", ".join(etree.QName(tag).localname for tag in not_understood)
        raise SoapFault(
            FaultCode.MUST_UNDERSTAND,
            f"header blocks not understood: {names}",
            not_understood=not_understood,
        )


def _addressing(
    blocks: list[etree._Element],
) -> tuple[dict[str, str], dict[str, EndpointReference]]:
    found: dict[str, str] = {}
    endpoints: dict[str, EndpointReference] = {}
    for block in blocks:
        if etree.QName(block).namespace != WSA or block.get(qname(SOAP12, "role")) == _ROLE_NONE:
            continue
        name = local_name(block)
        if name in found or name in endpoints:
            raise SoapFault(
                FaultCode.SENDER,
                f"more than one wsa:{name} header",
                subcode=qname(WSA, "InvalidAddressingHeader"),
                problem_header=qname(WSA, name),
            )
        if name in ("ReplyTo", "FaultTo"):
            endpoints[name] = _endpoint_reference(block)
        elif name in ("Action", "MessageID", "To"):
            found[name] = text_of(block)
    return found, endpoints


def _endpoint_reference(block: etree._Element) -> EndpointReference:
    address = text_of(block.find(qname(WSA, "Address"))) or ANONYMOUS
    parameters = block.find(qname(WSA, "ReferenceParameters"))
    elements = [] if parameters is None else [e for e in parameters if isinstance(e.tag, str)]
    return EndpointReference(address, elements)


def envelope(
    body: etree._Element | None,
    *,
    action: str,
    relates_to: str | None = None,
    to: EndpointReference | None = None,
) -> etree._Element:
    """Wrap a body element in a SOAP 1.2 envelope with wsa:Action, MessageID and RelatesTo.

    A reply sent to an address of its own (`to`, not anonymous) names it in wsa:To and carries
    its reference parameters (WS-Addressing 1.0 SOAP Binding 2.3).
    """
    root = etree.Element(qname(SOAP12, "Envelope"), nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(root, qname(SOAP12, "Header"))
    etree.SubElement(header, qname(WSA, "Action")).text = action
    etree.SubElement(header, qname(WSA, "MessageID")).text = uuid.uuid4().urn
    if relates_to:
        etree.SubElement(header, qname(WSA, "RelatesTo")).text = relates_to
    if to is not None and not to.is_anonymous:
        etree.SubElement(header, qname(WSA, "To")).text = to.address
        for parameter in to.reference_parameters:
            block = copy.deepcopy(parameter)
            block.set(qname(WSA, "IsReferenceParameter"), "true")
            header.append(block)
    content = etree.SubElement(root, qname(SOAP12, "Body"))
    if body is not None:
        content.append(body)
    return root


def serialize(root: etree._Element) -> bytes:
    """Return an envelope as UTF-8 bytes with an XML declaration."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def serialize_with_body(root: etree._Element, body: bytes) -> bytes:
    """Serialize an envelope made with no body element, putting `body` (the UTF-8 bytes of one
    element, its namespaces declared on it) into its Body."""
    # The Body follows the Header, so its empty tag is the last one written.
    head, empty_body, tail = serialize(root).rpartition(b"<env:Body/>")
    if not empty_body:
        raise ValueError("the envelope's Body is not empty")
    return b"%s<env:Body>%s</env:Body>%s" % (head, body, tail)


def content_type(action: str | None = None) -> str:
    """Return the SOAP 1.2 media type with charset and, if given, the action parameter."""
    value = f"{SOAP12_MEDIA_TYPE}; charset=UTF-8"
    return f'{value}; action="{action}"' if action else value


def response(body: etree._Element, *, action: str, relates_to: str | None) -> SoapMessage:
    """Return a plain SOAP 1.2 response carrying `body`."""
    root = envelope(body, action=action, relates_to=relates_to)
    return SoapMessage(serialize(root), content_type(action))


def fault(
    error: SoapFault, *, relates_to: str | None = None, to: EndpointReference | None = None
) -> SoapMessage:
    """Return the fault message for `error`, in SOAP 1.1 for a SOAP 1.1 sender."""
    if error.soap11:
        return SoapMessage(_soap11_version_mismatch(error), "text/xml; charset=UTF-8", 500)

    wsa_fault = error.subcode is not None and etree.QName(error.subcode).namespace == WSA
    action = WSA_FAULT_ACTION if wsa_fault else SOAP_FAULT_ACTION
    placeholder = etree.Element(qname(SOAP12, "Fault"))
    root = envelope(placeholder, action=action, relates_to=relates_to, to=to)
    # Built in place: QName-valued texts need the prefixes of the final tree.
    body = root.find(qname(SOAP12, "Body"))
    body.remove(placeholder)
    _add_fault(body, error)
    header = root.find(qname(SOAP12, "Header"))
    for tag in error.not_understood:
        namespace = etree.QName(tag).namespace
        block = etree.SubElement(header, qname(SOAP12, "NotUnderstood"), nsmap={"h": namespace})
        block.set("qname", _prefixed(block, tag))
    if error.code == FaultCode.VERSION_MISMATCH:
        header.append(_upgrade())
    return SoapMessage(serialize(root), content_type(action), error.http_status)


def _add_fault(body: etree._Element, error: SoapFault) -> None:
    element = etree.SubElement(body, qname(SOAP12, "Fault"))
    code = etree.SubElement(element, qname(SOAP12, "Code"))
    etree.SubElement(code, qname(SOAP12, "Value")).text = f"env:{error.code}"
    parent = code
    for name in (error.subcode, error.subsubcode):
        if not name:
            break
        namespace = etree.QName(name).namespace
        parent = etree.SubElement(parent, qname(SOAP12, "Subcode"))
        declared = namespace in parent.nsmap.values()
        value = etree.SubElement(
            parent, qname(SOAP12, "Value"), nsmap=None if declared else {"sc": namespace}
        )
        value.text = _prefixed(value, name)
    reason = etree.SubElement(element, qname(SOAP12, "Reason"))
    text = etree.SubElement(reason, qname(SOAP12, "Text"))
    text.set(qname(XML, "lang"), "en")
    text.text = error.reason

    if error.problem_action or error.problem_header:
        detail = etree.SubElement(element, qname(SOAP12, "Detail"))
        if error.problem_action:
            problem = etree.SubElement(detail, qname(WSA, "ProblemAction"))
            etree.SubElement(problem, qname(WSA, "Action")).text = error.problem_action
            if error.problem_soap_action:
                soap_action = etree.SubElement(problem, qname(WSA, "SoapAction"))
                soap_action.text = error.problem_soap_action
        if error.problem_header:
            header_name = etree.QName(error.problem_header)
            problem = etree.SubElement(
                detail, qname(WSA, "ProblemHeaderQName"), nsmap={"h": header_name.namespace}
            )
            problem.text = _prefixed(problem, error.problem_header)


def _prefixed(element: etree._Element, clark_name: str) -> str:
    """Return `prefix:local` for a QName-valued text, with a prefix in scope at `element`."""
    name = etree.QName(clark_name)
    prefix = next(p for p, uri in element.nsmap.items() if uri == name.namespace)
    return f"{prefix}:{name.localname}"


def _upgrade() -> etree._Element:
    # SOAP 1.2 Part 1, 5.4.7: tell the sender which envelope version we speak.
    upgrade = etree.Element(qname(SOAP12, "Upgrade"), nsmap={"env": SOAP12})
    supported = etree.SubElement(upgrade, qname(SOAP12, "SupportedEnvelope"))
    supported.set("qname", "env:Envelope")
    return upgrade


def _soap11_version_mismatch(error: SoapFault) -> bytes:
    # SOAP 1.2 Part 1, Appendix A: a SOAP 1.1 sender gets a SOAP 1.1 fault with an Upgrade block.
    root = etree.Element(qname(SOAP11, "Envelope"), nsmap={"soap": SOAP11})
    etree.SubElement(root, qname(SOAP11, "Header")).append(_upgrade())
    body = etree.SubElement(root, qname(SOAP11, "Body"))
    soap_fault = etree.SubElement(body, qname(SOAP11, "Fault"))
    etree.SubElement(soap_fault, "faultcode").text = "soap:VersionMismatch"
    etree.SubElement(soap_fault, "faultstring").text = error.reason
    return serialize(root)
