"""The client commands on the wire: what an initiating gateway sends (WS-Addressing, SAML, MTOM),
TLS with client certificates, and every way an exchange can fail."""

from __future__ import annotations

import hashlib
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from client_support import (
    ASSERTION_ID,
    SAML2,
    CaptureApp,
    Reply,
    closed_port,
    make_pki,
    retrieve_argv,
    serving,
    signed_assertion,
    tls_server_options,
    xcads,
)
from lxml import etree
from signxml import XMLVerifier
from soap_messages import NS

from gateway.app import create_app
from gateway.config import Settings
from gateway.mtom import Attachment, MtomMessage, parse_content_type, parse_multipart
from gateway.soap import WSSE, WSU

EXAMPLE = "examples/iti65-provide-bundle.json"
EXAMPLE_UNIQUE_ID = "2.25.258472819235412983746512398745123987"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
HOME = "urn:oid:1.2.3.4.5"
REPOSITORY = "1.2.3.4.5.6"
WIRE_NS = {**NS, "wsse": WSSE, "wsu": WSU, "saml": SAML2}


@pytest.fixture
def capture() -> Iterator[tuple[CaptureApp, str]]:
    app = CaptureApp()
    with serving(app) as url:
        yield app, url + "/xca"


def soap_reply(body: str, status: int = 200) -> Reply:
    envelope = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        "<wsa:Action>urn:ihe:iti:2007:CrossGatewayQueryResponse</wsa:Action></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()
    return Reply(
        status, {"content-type": "application/soap+xml; charset=UTF-8"}, lambda: iter([envelope])
    )


EMPTY_QUERY_ANSWER = (
    '<query:AdhocQueryResponse xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"'
    f' xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" status="{SUCCESS}">'
    "<rim:RegistryObjectList/></query:AdhocQueryResponse>"
)


def header_block(root: etree._Element, name: str) -> etree._Element:
    (block,) = root.xpath(f"/s:Envelope/s:Header/{name}", namespaces=WIRE_NS)
    return block


def test_query_is_sent_as_the_national_gateway_sends_it(capture, tmp_path, capsys):
    app, url = capture
    app.reply = soap_reply(EMPTY_QUERY_ANSWER)
    assertion, _ = signed_assertion(tmp_path)

    before = datetime.now(UTC).replace(microsecond=0)
    code, out, err = xcads(
        capsys,
        "query",
        "--gateway",
        url,
        "--patient",
        "13116900216",
        "--class",
        "A00-1^^2.16.578.1.12.4.1.1.9602",
        "--community",
        HOME,
        "--saml",
        str(assertion),
    )
    assert code == 0, err
    assert "0 document(s); status Success" in out

    (request,) = app.requests
    assert request.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(request.body)
    action = header_block(root, "a:Action")
    assert action.text == "urn:ihe:iti:2007:CrossGatewayQuery"
    assert action.get(f"{{{NS['s']}}}mustUnderstand") == "1"
    assert uuid.UUID(header_block(root, "a:MessageID").text.removeprefix("urn:uuid:"))
    assert header_block(root, "a:ReplyTo/a:Address").text == (
        "http://www.w3.org/2005/08/addressing/anonymous"
    )
    assert header_block(root, "a:To").text == url

    query = root.find(".//rim:AdhocQuery", NS)
    assert query.get("id") == FIND_DOCUMENTS
    assert query.get("home") == HOME
    slots = {
        slot.get("name"): slot.xpath("rim:ValueList/rim:Value/text()", namespaces=NS)
        for slot in query.findall("rim:Slot", NS)
    }
    assert slots == {
        "$XDSDocumentEntryPatientId": ["'13116900216^^^&2.16.578.1.12.4.1.4.1&ISO'"],
        "$XDSDocumentEntryStatus": [f"('{APPROVED}')"],
        "$XDSDocumentEntryClassCode": ["('A00-1^^2.16.578.1.12.4.1.1.9602')"],
    }
    option = root.find(".//query:ResponseOption", NS)
    assert option.get("returnType") == "LeafClass"

    security = header_block(root, "wsse:Security")
    assert [etree.QName(child).localname for child in security] == ["Assertion", "Timestamp"]
    created = datetime.fromisoformat(security.findtext("wsu:Timestamp/wsu:Created", None, WIRE_NS))
    expires = datetime.fromisoformat(security.findtext("wsu:Timestamp/wsu:Expires", None, WIRE_NS))
    assert before <= created <= datetime.now(UTC)
    assert expires - created == timedelta(minutes=15)


def test_saml_assertion_arrives_with_its_signature_intact(capture, tmp_path, capsys):
    app, url = capture
    app.reply = soap_reply(EMPTY_QUERY_ANSWER)
    assertion, signer = signed_assertion(tmp_path)

    assert (
        xcads(capsys, "query", "--gateway", url, "--patient", "1", "--saml", str(assertion))[0] == 0
    )

    root = etree.fromstring(app.requests[0].body)
    sent = header_block(root, "wsse:Security/saml:Assertion")
    assert sent.get("ID") == ASSERTION_ID
    verified = XMLVerifier().verify(etree.tostring(sent), x509_cert=signer.decode())
    assert verified.signed_xml.findtext(f"{{{SAML2}}}Issuer") == "idp.test"


def test_query_without_saml_has_no_security_header(capture, capsys):
    app, url = capture
    app.reply = soap_reply(EMPTY_QUERY_ANSWER)
    assert xcads(capsys, "query", "--gateway", url, "--patient", "1", "--objectref")[0] == 0

    root = etree.fromstring(app.requests[0].body)
    assert root.find(f".//{{{WSSE}}}Security") is None
    assert root.find(".//query:ResponseOption", NS).get("returnType") == "ObjectRef"


def test_a_file_that_is_not_an_assertion_is_refused_before_sending(capture, tmp_path, capsys):
    app, url = capture
    other = tmp_path / "other.xml"
    other.write_text("<Envelope/>")

    code, _, err = xcads(capsys, "query", "--gateway", url, "--patient", "1", "--saml", str(other))
    assert code == 2
    assert "not a saml2:Assertion" in err
    assert app.requests == []


def mtom_answer(document_chunks, size: int) -> Reply:
    body = (
        '<xds:RetrieveDocumentSetResponse xmlns:xds="urn:ihe:iti:xds-b:2007"'
        ' xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"'
        ' xmlns:xop="http://www.w3.org/2004/08/xop/include">'
        f'<rs:RegistryResponse status="{SUCCESS}"/><xds:DocumentResponse>'
        f"<xds:HomeCommunityId>{HOME}</xds:HomeCommunityId>"
        f"<xds:RepositoryUniqueId>{REPOSITORY}</xds:RepositoryUniqueId>"
        "<xds:DocumentUniqueId>2.25.77</xds:DocumentUniqueId>"
        "<xds:mimeType>application/pdf</xds:mimeType>"
        '<xds:Document><xop:Include href="cid:doc-1%40test"/></xds:Document>'
        "</xds:DocumentResponse></xds:RetrieveDocumentSetResponse>"
    )
    envelope = soap_reply(body).chunks
    message = MtomMessage(b"".join(envelope()), [])

    def chunks() -> Iterator[bytes]:
        message.attachments = [Attachment("doc-1@test", "application/pdf", document_chunks())]
        yield from message.stream()

    return Reply(200, {"content-type": message.content_type}, chunks)


def test_retrieve_is_sent_as_mtom_and_a_large_document_streams_to_its_file(
    capture, tmp_path, capsys
):
    app, url = capture
    block = bytes(range(256)) * 256
    count = 256
    expected = hashlib.sha1()
    for _ in range(count):
        expected.update(block)
    app.reply = mtom_answer(lambda: (block for _ in range(count)), len(block) * count)
    assertion, _ = signed_assertion(tmp_path)
    target = tmp_path / "large.pdf"

    tracemalloc.start()
    try:
        argv = retrieve_argv(url, ["2.25.77"], REPOSITORY, HOME, target)
        code, out, err = xcads(capsys, *argv, "--saml", str(assertion))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert code == 0, err
    size = len(block) * count
    assert target.stat().st_size == size
    assert f"application/pdf  {size}  {expected.hexdigest()}" in out
    # 16 MiB went through; neither the client nor the server in this process held it whole.
    assert peak < size / 4

    (request,) = app.requests
    media_type, params = parse_content_type(request.headers["content-type"])
    assert media_type == "multipart/related"
    assert params["type"] == "application/xop+xml"
    assert params["start-info"] == "application/soap+xml"
    with parse_multipart(request.body, request.headers["content-type"]) as package:
        root = etree.fromstring(package.root.data)
    assert header_block(root, "a:Action").text == "urn:ihe:iti:2007:CrossGatewayRetrieve"
    assert header_block(root, "wsse:Security/saml:Assertion").get("ID") == ASSERTION_ID
    (document_request,) = root.findall(".//xds:DocumentRequest", NS)
    assert [child.text for child in document_request] == [HOME, REPOSITORY, "2.25.77"]


def test_a_document_part_missing_from_the_answer_leaves_no_file(capture, tmp_path, capsys):
    app, url = capture
    reply = mtom_answer(lambda: iter([b"x"]), 1)
    reply.chunks = _without_last_part(reply.chunks)
    app.reply = reply
    target = tmp_path / "doc.pdf"

    code, _, err = xcads(capsys, *retrieve_argv(url, ["2.25.77"], REPOSITORY, HOME, target))
    assert code == 3
    assert "names a MIME part that is not there" in err
    assert list(tmp_path.iterdir()) == []


def _without_last_part(chunks):
    def trimmed() -> Iterator[bytes]:
        pieces = list(chunks())
        boundary = pieces[0].split(b"\r\n", 1)[0]
        yield pieces[0] + pieces[1] + b"\r\n" + boundary + b"--\r\n"

    return trimmed


def test_soap_fault_is_one_line_with_exit_1(capture, capsys):
    app, url = capture
    fault = (
        "<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>"
        '<env:Reason><env:Text xml:lang="en">the Body is empty</env:Text></env:Reason></env:Fault>'
    )
    app.reply = soap_reply(fault, status=400)

    code, out, err = xcads(capsys, "query", "--gateway", url, "--patient", "1")
    assert code == 1
    assert err.strip() == f"xcads query: error: {url}: SOAP Fault env:Sender: the Body is empty"
    assert out == ""


def test_soap_11_fault_is_read_too(capture, capsys):
    app, url = capture
    envelope = (
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b"<soap:Fault><faultcode>soap:VersionMismatch</faultcode>"
        b"<faultstring>SOAP 1.1 only</faultstring></soap:Fault></soap:Body></soap:Envelope>"
    )
    app.reply = Reply(500, {"content-type": "text/xml"}, lambda: iter([envelope]))

    code, _, err = xcads(capsys, "query", "--gateway", url, "--patient", "1")
    assert code == 1
    assert err.strip() == (
        f"xcads query: error: {url}: SOAP 1.1 Fault soap:VersionMismatch: SOAP 1.1 only"
    )


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply(200, {"content-type": "text/html"}, lambda: iter([b"<html>login</html>"])),
            "HTTP 200, not a SOAP 1.2 answer: '<html>login</html>'",
        ),
        (
            Reply(502, {"content-type": "text/plain"}, lambda: iter([b"Bad gateway"])),
            "HTTP 502, not a SOAP 1.2 answer: 'Bad gateway'",
        ),
        (Reply(200, {}, lambda: iter([b""])), "HTTP 200, not a SOAP 1.2 answer: (empty body)"),
        (
            Reply(
                200,
                {"content-type": 'multipart/related; boundary="b"; type="application/xop+xml"'},
                lambda: iter([b"--b\r\nContent-Type: text/plain\r\n\r\nno end"]),
            ),
            "unreadable MTOM answer: the multipart body ends before its closing delimiter",
        ),
    ],
    ids=["html", "bad-gateway", "empty", "truncated-mtom"],
)
def test_garbage_answer_is_one_line_with_exit_3(capture, capsys, reply, message):
    app, url = capture
    app.reply = reply

    code, _, err = xcads(capsys, "query", "--gateway", url, "--patient", "1")
    assert code == 3
    assert err.strip() == f"xcads query: error: {url}: {message}"


def test_submit_with_a_garbage_answer_is_one_line_with_exit_3(capture, capsys):
    app, url = capture
    app.reply = Reply(200, {"content-type": "text/html"}, lambda: iter([b"<html/>"]))

    code, _, err = xcads(capsys, "submit", EXAMPLE, "--to", url)
    assert code == 3
    assert err.strip() == (
        f"xcads submit: error: {url}: HTTP 200, not a FHIR Bundle or OperationOutcome: '<html/>'"
    )
    assert app.requests[0].headers["content-type"] == "application/fhir+json"


def test_slow_target_times_out(capture, capsys):
    app, url = capture
    app.reply = soap_reply(EMPTY_QUERY_ANSWER)
    app.reply.delay = 3

    code, _, err = xcads(capsys, "query", "--gateway", url, "--patient", "1", "--timeout", "0.3")
    assert code == 3
    assert err.strip() == f"xcads query: error: {url}: timed out"


@pytest.mark.parametrize("command", ["query", "retrieve", "submit"])
def test_down_target_is_one_line_with_exit_3(capsys, command):
    url = f"http://127.0.0.1:{closed_port()}/x"
    argv = {
        "query": ["query", "--gateway", url, "--patient", "1"],
        "retrieve": retrieve_argv(url, ["1"], "1", None, None),
        "submit": ["submit", EXAMPLE, "--to", url],
    }[command]

    code, out, err = xcads(capsys, *argv)
    assert code == 3
    assert err.startswith(f"xcads {command}: error: {url}: cannot connect: ")
    assert err.count("\n") == 1
    assert out == ""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_gateway(pki, tmp_path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "data", home_community_id=HOME, repository_unique_id=REPOSITORY
    )
    with serving(create_app(settings), **tls_server_options(pki)) as url:
        yield url


def client_tls(pki) -> list[str]:
    return ["--cert", str(pki.client_cert), "--key", str(pki.client_key), "--ca", str(pki.ca)]


def test_mutual_tls_submit_query_and_retrieve(tls_gateway, pki, tmp_path, capsys):
    assert xcads(capsys, "submit", EXAMPLE, "--to", tls_gateway, *client_tls(pki))[0] == 0

    code, out, err = xcads(
        capsys, "query", "--gateway", tls_gateway, "--patient", "13116900216", *client_tls(pki)
    )
    assert code == 0, err
    assert EXAMPLE_UNIQUE_ID in out

    target = tmp_path / "doc.txt"
    argv = retrieve_argv(tls_gateway, [EXAMPLE_UNIQUE_ID], REPOSITORY, HOME, target)
    code, _, err = xcads(capsys, *argv, *client_tls(pki))
    assert code == 0, err
    assert target.read_bytes().startswith(b"Epikrise")


def test_insecure_skips_server_verification_but_still_presents_the_certificate(
    tls_gateway, pki, capsys
):
    argv = ["query", "--gateway", tls_gateway, "--patient", "1", "--insecure"]
    argv += ["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    assert xcads(capsys, *argv)[0] == 0


def test_without_a_client_certificate_the_handshake_fails(tls_gateway, pki, capsys):
    code, _, err = xcads(
        capsys, "query", "--gateway", tls_gateway, "--patient", "1", "--ca", str(pki.ca)
    )
    assert code == 3
    assert err.count("\n") == 1
    assert "TLS failure" in err or "gets no client certificate it accepts: --cert" in err


def test_a_server_certificate_from_an_unknown_ca_is_refused(tls_gateway, pki, capsys):
    argv = ["query", "--gateway", tls_gateway, "--patient", "1"]
    argv += ["--cert", str(pki.client_cert), "--key", str(pki.client_key)]
    code, _, err = xcads(capsys, *argv, "--ca", str(pki.other_ca))
    assert code == 3
    assert err.count("\n") == 1
    assert "TLS failure: CERTIFICATE_VERIFY_FAILED" in err


def test_unreadable_client_certificate_is_a_usage_error(tmp_path, capsys):
    code, _, err = xcads(
        capsys,
        "query",
        "--gateway",
        "https://127.0.0.1:1/x",
        "--patient",
        "1",
        "--cert",
        str(tmp_path / "missing.pem"),
    )
    assert code == 2
    assert (
        err.strip() == f"xcads query: error: cannot read {tmp_path / 'missing.pem'}: no such file"
    )


def test_document_sent_inline_as_base64_is_saved_too(capture, tmp_path, capsys):
    app, url = capture
    app.reply = soap_reply(
        '<xds:RetrieveDocumentSetResponse xmlns:xds="urn:ihe:iti:xds-b:2007"'
        ' xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0">'
        f'<rs:RegistryResponse status="{SUCCESS}"/><xds:DocumentResponse>'
        f"<xds:HomeCommunityId>{HOME}</xds:HomeCommunityId>"
        f"<xds:RepositoryUniqueId>{REPOSITORY}</xds:RepositoryUniqueId>"
        "<xds:DocumentUniqueId>../../2.25.78</xds:DocumentUniqueId>"
        "<xds:mimeType>text/plain</xds:mimeType>"
        "<xds:Document>aW5saW5l\n</xds:Document>"
        "</xds:DocumentResponse></xds:RetrieveDocumentSetResponse>"
    )
    folder = tmp_path / "out"
    folder.mkdir()

    code, out, err = xcads(capsys, *retrieve_argv(url, ["2.25.78"], REPOSITORY, HOME, folder))
    assert code == 0, err
    # A uniqueId cannot lead the file out of the folder.
    assert [path.name for path in folder.iterdir()] == ["_.._2.25.78.txt"]
    assert (folder / "_.._2.25.78.txt").read_bytes() == b"inline"
    assert hashlib.sha1(b"inline").hexdigest() in out


def test_partial_success_query_prints_entries_and_errors_with_exit_1(capture, capsys):
    app, url = capture
    app.reply = soap_reply(
        '<query:AdhocQueryResponse xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"'
        ' xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"'
        ' xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"'
        ' status="urn:ihe:iti:2007:ResponseStatusType:PartialSuccess">'
        '<rs:RegistryErrorList highestSeverity="urn:oasis:names:tc:ebxml-regrep:'
        'ErrorSeverityType:Error"><rs:RegistryError errorCode="XDSUnavailableCommunity"'
        ' codeContext="community 1.2.9 did not answer" location="urn:oid:1.2.9"'
        ' severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/>'
        "</rs:RegistryErrorList><rim:RegistryObjectList>"
        f'<rim:ObjectRef id="urn:uuid:6f1d2b1e-0000-4000-8000-000000000001" home="{HOME}"/>'
        "</rim:RegistryObjectList></query:AdhocQueryResponse>"
    )

    code, out, err = xcads(capsys, "query", "--gateway", url, "--patient", "1", "--objectref")
    assert code == 1
    assert f"urn:uuid:6f1d2b1e-0000-4000-8000-000000000001  {HOME}" in out
    assert "1 document(s); status PartialSuccess" in out
    assert err.strip() == (
        "Error XDSUnavailableCommunity at urn:oid:1.2.9: community 1.2.9 did not answer"
    )


def test_out_file_for_several_documents_is_refused_before_sending(capture, tmp_path, capsys):
    app, url = capture
    existing = tmp_path / "one.txt"
    existing.write_bytes(b"keep")

    code, _, err = xcads(capsys, *retrieve_argv(url, ["1", "2"], REPOSITORY, HOME, existing))
    assert code == 2
    assert "must be a folder" in err
    assert app.requests == []
    assert existing.read_bytes() == b"keep"


def test_out_folder_that_cannot_be_made_is_a_usage_error(capture, tmp_path, capsys):
    app, url = capture
    app.reply = mtom_answer(lambda: iter([b"x"]), 1)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")

    argv = retrieve_argv(url, ["2.25.77"], REPOSITORY, HOME, blocker / "sub" / "doc.pdf")
    code, _, err = xcads(capsys, *argv)
    assert code == 2
    assert (
        err.strip()
        == f"xcads retrieve: error: cannot make the folder {blocker / 'sub'}: Not a directory"
    )
