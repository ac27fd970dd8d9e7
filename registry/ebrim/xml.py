"""XML plumbing shared by the ebRIM codec and the SOAP edge: namespaces and a hardened parser."""

from __future__ import annotations

import logging
import re

from lxml import etree

log = logging.getLogger("xcads.xml")

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
XDS = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
XML = "http://www.w3.org/XML/1998/namespace"

NSMAP = {"rim": RIM, "rs": RS, "query": QUERY, "lcm": LCM, "xds": XDS}

REPLACEMENT = "\ufffd"


class XmlRejected(ValueError):
    """Bytes that are not a well-formed, safe XML document."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse an XML document, refusing DTDs, entities and network access; return the root.

    A document that declares (or defaults to) UTF-8 but carries bytes that are not UTF-8 is read
    with each bad byte sequence replaced by U+FFFD, as long as they sit in the SOAP header's
    character data or attribute values: the national gateway sends Latin-1 names inside SAML
    attributes, and refusing the whole request for a display name helps nobody. Markup and the
    SOAP Body stay strict.
    """
    if _has_doctype(data):
        raise XmlRejected("a DOCTYPE is not allowed")

    data, replaced = _repair_utf8(data)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"not well-formed XML: {exc.msg}") from None

    if root.getroottree().docinfo.doctype:
        raise XmlRejected("a DOCTYPE is not allowed")
    if replaced:
        if _names_contain(root, REPLACEMENT):
            raise XmlRejected("bytes that are not UTF-8 inside markup")
        log.warning("xml.invalid_utf8 replaced=%d", replaced)
    return root


def _has_doctype(data: bytes) -> bool:
    # A DOCTYPE can only follow the XML declaration, comments, processing instructions and space.
    at = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while at < len(data) and data[at] in b" \t\r\n":
            at += 1
        if data.startswith(b"<?", at):
            end, skip = data.find(b"?>", at), 2
        elif data.startswith(b"<!--", at):
            end, skip = data.find(b"-->", at), 3
        else:
            return data[at : at + 9].upper() == b"<!DOCTYPE"
        if end < 0:
            return False
        at = end + skip


def _repair_utf8(data: bytes) -> tuple[bytes, int]:
    """Replace byte sequences that are not UTF-8 in a SOAP header when the document claims UTF-8.

    The Body is the transaction's payload: there a bad byte would silently change what is
    registered or asked, so it stays strict and the document is refused.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or not _declares_utf8(data):
        return data, 0
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        body = _SOAP_BODY.search(data)
        header, payload = (data[: body.start()], data[body.start() :]) if body else (data, b"")
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            raise XmlRejected("bytes that are not UTF-8 in the SOAP Body") from None
        if body is None:
            raise XmlRejected("bytes that are not UTF-8 outside a SOAP header") from None
        text = header.decode("utf-8", errors="replace")
        replaced = text.count(REPLACEMENT) - header.count(REPLACEMENT.encode())
        return text.encode("utf-8") + payload, replaced
    return data, 0


# The start tag of a SOAP Body, whatever its prefix.
_SOAP_BODY = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Body[\s>/]")


def _declares_utf8(data: bytes) -> bool:
    if not data.lstrip(b"\xef\xbb\xbf").startswith(b"<?xml"):
        return True
    declaration = data[: data.find(b"?>")].lower()
    if b"encoding" not in declaration:
        return True
    return b"utf-8" in declaration or b"utf8" in declaration


def _names_contain(root: etree._Element, char: str) -> bool:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if char in element.tag or any(char in name for name in element.attrib):
            return True
    return False


def qname(namespace: str, local: str) -> str:
    """Return the Clark name `{namespace}local`."""
    return f"{{{namespace}}}{local}"


def local_name(element: etree._Element) -> str:
    """Return an element's name without its namespace."""
    return etree.QName(element).localname


def text_of(element: etree._Element | None) -> str:
    """Return an element's text with surrounding white space removed, '' if absent."""
    if element is None or element.text is None:
        return ""
    return element.text.strip()
