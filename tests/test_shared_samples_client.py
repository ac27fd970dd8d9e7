"""The client's requests next to the national initiating gateway's (../shared/samples/nhn): the
same headers, the same SAML placement, the same query and retrieve bodies."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from client_support import CaptureApp, Reply, retrieve_argv, serving, xcads
from lxml import etree
from soap_messages import NS

from gateway.mtom import parse_content_type, parse_multipart
from registry.ebrim.xml import parse_xml

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "nhn"
SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XDS = "urn:ihe:iti:xds-b:2007"

pytestmark = pytest.mark.skipif(
    os.environ.get("XCADS_NO_SHARED") == "1", reason="XCADS_NO_SHARED=1: ../shared not used"
)


@pytest.fixture
def capture() -> Iterator[tuple[CaptureApp, str]]:
    assert SAMPLES.is_dir(), f"{SAMPLES} is missing (set XCADS_NO_SHARED=1 without ../shared)"
    app = CaptureApp()
    # The answer does not matter here: the tests look at what was sent.
    app.reply = Reply(500, {"content-type": "text/plain"}, lambda: iter([b"captured"]))
    with serving(app) as url:
        yield app, url + "/XCA/services/RespondingGatewayService"


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=True))


def canonical(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True)


def header_blocks(root: etree._Element) -> list[etree._Element]:
    return list(root.find("s:Header", NS))


def assertion_file(sample: etree._Element, folder: Path) -> Path:
    path = folder / "assertion.xml"
    path.write_bytes(etree.tostring(sample.find(f".//{{{SAML2}}}Assertion")))
    return path


def test_query_matches_the_national_gateways_find_documents(capture, tmp_path, capsys):
    app, url = capture
    sample = parse((SAMPLES / "iti38-finddocuments-with-saml.xml").read_bytes())
    saml = assertion_file(sample, tmp_path)

    code, _, _ = xcads(
        capsys, "query", "--gateway", url, "--patient", "16923453613", "--saml", str(saml)
    )
    assert code == 3
    sent = parse(app.requests[0].body)

    def shape(root: etree._Element) -> list[tuple[str, dict]]:
        return [(block.tag, dict(block.attrib)) for block in header_blocks(root)]

    assert shape(sent) == shape(sample)
    sent_security, sample_security = (
        root.find(f"s:Header/{{{WSSE}}}Security", NS) for root in (sent, sample)
    )
    assert [c.tag for c in sent_security] == [c.tag for c in sample_security]
    assert canonical(sent_security[0]) == canonical(sample_security[0])
    body_of = "s:Body/query:AdhocQueryRequest"
    assert canonical(sent.find(body_of, NS)) == canonical(sample.find(body_of, NS))


def test_retrieve_matches_the_national_gateways_mtom_request(capture, tmp_path, capsys):
    app, url = capture
    data = (SAMPLES / "iti39-retrieve-mtom-from-gateway.txt").read_bytes()
    boundary = data.split(b"\n", 1)[0].strip()[2:].decode()
    sample_type = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    with parse_multipart(data, sample_type) as package:
        # The capture has Latin-1 bytes in a SAML attribute: read it as the gateway does.
        sample = parse_xml(package.root.data)
    request = sample.find(
        f"s:Body/{{{XDS}}}RetrieveDocumentSetRequest/{{{XDS}}}DocumentRequest", NS
    )
    home, repository, document = (child.text for child in request)
    saml = assertion_file(sample, tmp_path)

    argv = retrieve_argv(url, [document], repository, home, tmp_path / "out")
    assert xcads(capsys, *argv, "--saml", str(saml))[0] == 3

    (captured,) = app.requests
    media_type, params = parse_content_type(captured.headers["content-type"])
    assert media_type == "multipart/related"
    assert params["type"] == "application/xop+xml"
    assert params["start-info"] == "application/soap+xml"
    assert params["action"] == "urn:ihe:iti:2007:CrossGatewayRetrieve"
    with parse_multipart(captured.body, captured.headers["content-type"]) as package:
        root_type = package.root.content_type
        sent = parse(package.root.data)
    assert parse_content_type(root_type)[1]["type"] == "application/soap+xml"

    sample_tags = {block.tag for block in header_blocks(sample)}
    sent_tags = {block.tag for block in header_blocks(sent)}
    # Everything but the vendor's own context header of the national gateway.
    assert sent_tags == {tag for tag in sample_tags if "sense.ith-icoserve" not in tag}
    body_of = f"s:Body/{{{XDS}}}RetrieveDocumentSetRequest"

    def content(root: etree._Element) -> list[tuple[str, str | None]]:
        return [(element.tag, element.text) for element in root.find(body_of, NS).iter()]

    assert content(sent) == content(sample)
