"""MTOM/XOP: multipart/related requests read, responses streamed (XOP 1.0, SOAP MTOM 1.0)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import tracemalloc
from pathlib import Path

import pytest
from lxml import etree

from gateway.mtom import (
    Attachment,
    MtomMessage,
    MultipartReader,
    XopPackage,
    normalize_content_id,
    parse_content_type,
    parse_multipart,
    read_multipart,
    resolve_xop,
    root_xml,
)
from gateway.soap import FaultCode, SoapFault, read_envelope
from registry.ebrim import parse_xml
from registry.ebrim.response import ResponseStatus
from registry.ebrim.retrieve import DocumentResponse, retrieve_document_set_response

FIXTURES = Path(__file__).parent / "fixtures" / "xca"
XOP = "http://www.w3.org/2004/08/xop/include"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
BOUNDARY = "MIMEBoundary_test"
ROOT_TYPE = 'application/xop+xml; charset=UTF-8; type="application/soap+xml"'


def part(headers: dict[str, str], data: bytes) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"--{BOUNDARY}\r\n{head}\r\n".encode() + data + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def soap_with_include(href: str) -> bytes:
    return (
        f"<env:Envelope xmlns:env='{SOAP12}'><env:Body><d:Doc xmlns:d='urn:d'>"
        f"<xop:Include xmlns:xop='{XOP}' href='{href}'/></d:Doc></env:Body></env:Envelope>"
    ).encode()


def test_content_type_parameters_quoted_or_not():
    media_type, params = parse_content_type(
        'Multipart/Related; boundary=abc; type="application/xop+xml"; '
        'start="<root@x>"; start-info="application/soap+xml"; action=urn:a'
    )

    assert media_type == "multipart/related"
    assert params == {
        "boundary": "abc",
        "type": "application/xop+xml",
        "start": "<root@x>",
        "start-info": "application/soap+xml",
        "action": "urn:a",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<a.b@c>", "a.b@c"),
        ("a.b@c", "a.b@c"),
        (" <a.b@c> ", "a.b@c"),
        ("cid:a.b@c", "a.b@c"),
        ("CID:a%2Eb%40c", "a.b@c"),
        ("cid:%3Ca.b@c%3E", "a.b@c"),
    ],
)
def test_content_id_forms_are_normalized(value, expected):
    assert normalize_content_id(value) == expected


def test_root_part_is_chosen_by_start():
    body = multipart(
        part({"Content-Type": "text/plain", "Content-ID": "<doc@x>"}, b"hello"),
        part({"Content-Type": ROOT_TYPE, "Content-ID": "<root@x>"}, soap_with_include("cid:doc@x")),
    )

    package = parse_multipart(body, f'multipart/related; boundary={BOUNDARY}; start="<root@x>"')

    assert package.root.content_id == "root@x"
    assert list(package.parts) == ["doc@x"]


def test_without_start_the_first_part_is_the_root():
    body = multipart(
        part({"Content-Type": ROOT_TYPE, "Content-ID": "root@x"}, soap_with_include("cid:doc@x")),
        part({"Content-Type": "text/plain", "Content-ID": "doc@x"}, b"hello"),
    )

    package = parse_multipart(body, f'multipart/related; boundary="{BOUNDARY}"')

    assert package.root.content_id == "root@x"


def test_start_that_names_no_part_is_a_sender_fault():
    body = multipart(part({"Content-Type": ROOT_TYPE, "Content-ID": "<a@x>"}, b"<a/>"))

    with pytest.raises(SoapFault) as caught:
        parse_multipart(body, f"multipart/related; boundary={BOUNDARY}; start=<b@x>")

    assert caught.value.code == FaultCode.SENDER


def test_xop_include_is_resolved_to_base64_of_the_part():
    data = bytes(range(256))
    body = multipart(
        part({"Content-Type": ROOT_TYPE, "Content-ID": "<root@x>"}, soap_with_include("cid:d%40x")),
        part({"Content-Type": "application/octet-stream", "Content-ID": "<d@x>"}, data),
    )
    package = parse_multipart(body, f"multipart/related; boundary={BOUNDARY}")
    root = parse_xml(root_xml(package))

    resolve_xop(root, package.parts)

    (document,) = root.iter("{urn:d}Doc")
    assert len(document) == 0
    assert base64.b64decode(document.text) == data


def test_xop_include_naming_no_part_is_a_sender_fault():
    body = multipart(part({"Content-Type": ROOT_TYPE}, soap_with_include("cid:missing@x")))
    package = parse_multipart(body, f"multipart/related; boundary={BOUNDARY}")

    with pytest.raises(SoapFault):
        resolve_xop(parse_xml(root_xml(package)), package.parts)


def test_action_parameter_of_the_multipart_content_type():
    body = multipart(part({"Content-Type": ROOT_TYPE}, b"<a/>"))

    package = parse_multipart(body, f'multipart/related; boundary={BOUNDARY}; action="urn:act"')

    assert package.action == "urn:act"


def test_action_inside_start_info():
    body = multipart(part({"Content-Type": ROOT_TYPE}, b"<a/>"))
    content_type = (
        f"multipart/related; boundary={BOUNDARY}; "
        'start-info="application/soap+xml; action=\\"urn:act\\""'
    )

    assert parse_multipart(body, content_type).action == "urn:act"


def test_action_inside_the_root_part_type():
    root_type = 'application/xop+xml; type="application/soap+xml; action=\\"urn:act\\""'
    body = multipart(part({"Content-Type": root_type}, b"<a/>"))

    assert parse_multipart(body, f"multipart/related; boundary={BOUNDARY}").action == "urn:act"


def test_root_charset_named_only_in_the_header_is_honoured():
    body = multipart(
        part({"Content-Type": ROOT_TYPE.replace("UTF-8", "ISO-8859-1")}, b"<a>\xd8</a>")
    )

    package = parse_multipart(body, f"multipart/related; boundary={BOUNDARY}")

    assert parse_xml(root_xml(package)).text == "Ø"


def test_bare_lf_framing_is_accepted_and_contents_kept():
    data = b"line one\nline two\n"
    body = (
        f"--{BOUNDARY} \nContent-Type: {ROOT_TYPE}\nContent-ID: <root@x>\n\n".encode()
        + soap_with_include("cid:doc@x")
        + f"\n--{BOUNDARY}\nContent-Type: text/plain\nContent-ID: <doc@x>\n\n".encode()
        + data
        + f"\n--{BOUNDARY}--\n".encode()
    )

    package = parse_multipart(body, f"multipart/related; boundary={BOUNDARY}")

    assert package.parts["doc@x"].data == data


def test_body_without_closing_delimiter_is_a_sender_fault():
    body = part({"Content-Type": ROOT_TYPE}, b"<a/>")

    with pytest.raises(SoapFault):
        parse_multipart(body, f"multipart/related; boundary={BOUNDARY}")


def test_garbage_is_a_sender_fault():
    with pytest.raises(SoapFault):
        parse_multipart(b"not multipart at all", f"multipart/related; boundary={BOUNDARY}")


def test_multipart_without_boundary_is_a_sender_fault():
    with pytest.raises(SoapFault):
        parse_multipart(b"", "multipart/related")


def test_national_gateway_shape_with_a_latin1_byte_is_accepted(caplog):
    body = (FIXTURES / "iti39-mtom-latin1-saml.bin").read_bytes()
    content_type = (FIXTURES / "iti39-mtom-latin1-saml.content-type").read_text().strip()

    package = parse_multipart(body, content_type)
    root = parse_xml(root_xml(package))
    request = read_envelope(root, action=package.action)

    assert request.action == "urn:ihe:iti:2007:CrossGatewayRetrieve"
    assert request.body.tag == "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetRequest"
    values = [e.text for e in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue")]
    assert values[0] == "TESTESEN \ufffd KARI"
    assert "xml.invalid_utf8 replaced=1" in caplog.text


# --- Responses ---------------------------------------------------------------------------------


def test_mtom_content_type_names_root_and_types():
    message = MtomMessage(b"<e/>", [], "urn:act", boundary="b1", root_id="root@x")

    media_type, params = parse_content_type(message.content_type)

    assert media_type == "multipart/related"
    assert params == {
        "type": "application/xop+xml",
        "boundary": "b1",
        "start": "<root@x>",
        "start-info": "application/soap+xml",
        "action": "urn:act",
    }


def test_mtom_message_streams_parts_that_read_back():
    envelope = soap_with_include("cid:doc@x")
    message = MtomMessage(
        envelope, [Attachment("doc@x", "application/pdf", iter([b"%PDF", b"-1.7\r\n", b"end"]))]
    )

    package = parse_multipart(b"".join(message.stream()), message.content_type)

    assert package.root.data == envelope
    assert package.root.content_type.startswith("application/xop+xml")
    assert package.parts["doc@x"].data == b"%PDF-1.7\r\nend"
    assert package.parts["doc@x"].content_type == "application/pdf"


def test_mtom_message_reads_documents_only_while_streaming():
    consumed = []

    def chunks():
        for chunk in (b"a", b"b"):
            consumed.append(chunk)
            yield chunk

    message = MtomMessage(b"<e/>", [Attachment("d@x", "text/plain", chunks())])
    stream = message.stream()

    assert consumed == []
    pieces = [next(stream) for _ in range(5)]
    assert consumed == [b"a"]
    assert pieces[-1] == b"a"
    assert b"".join([*pieces, *stream]).endswith(f"--{message.boundary}--\r\n".encode())


def test_content_id_is_escaped_in_the_include():
    response = retrieve_document_set_response(
        ResponseStatus.SUCCESS, [], [DocumentResponse("urn:oid:1", "1", "2", "a/b", "d x@y")]
    )

    (include,) = response.iter(f"{{{XOP}}}Include")
    assert include.get("href") == "cid:d%20x@y"
    assert normalize_content_id(include.get("href")) == "d x@y"


def test_xml_part_is_the_unchanged_envelope():
    envelope = etree.tostring(etree.Element("{urn:x}e"))
    message = MtomMessage(envelope, [])

    assert envelope in b"".join(message.stream())


def test_boundary_longer_than_70_characters_is_a_sender_fault():
    boundary = "a" * 71
    body = f"--{boundary}\r\nContent-Type: {ROOT_TYPE}\r\n\r\n<a/>\r\n--{boundary}--\r\n"

    with pytest.raises(SoapFault) as raised:
        parse_multipart(body.encode(), f"multipart/related; boundary={boundary}")

    assert raised.value.code == FaultCode.SENDER


def test_two_parts_with_the_same_content_id_are_a_sender_fault():
    body = multipart(
        part({"Content-Type": ROOT_TYPE, "Content-ID": "<root@x>"}, b"<a/>"),
        part({"Content-Type": "text/plain", "Content-ID": "<root@x>"}, b"other"),
    )

    with pytest.raises(SoapFault) as raised:
        parse_multipart(body, f'multipart/related; boundary={BOUNDARY}; start="<root@x>"')

    assert "same Content-ID" in str(raised.value)


def test_part_content_type_a_header_cannot_carry_becomes_octet_stream():
    message = MtomMessage(
        soap_with_include("cid:doc@x"), [Attachment("doc@x", "text/x\u0101ml", iter([b"x"]))]
    )

    package = parse_multipart(b"".join(message.stream()), message.content_type)

    assert package.parts["doc@x"].content_type == "application/octet-stream"


# --- Requests read as they arrive --------------------------------------------------------------


def document_body(data: bytes) -> bytes:
    return multipart(
        part({"Content-Type": ROOT_TYPE, "Content-ID": "<root@x>"}, soap_with_include("cid:d@x")),
        part({"Content-Type": "application/pdf", "Content-ID": "<d@x>"}, data),
    )


def read_in_pieces(body: bytes, size: int, **options) -> XopPackage:
    reader = MultipartReader(f"multipart/related; boundary={BOUNDARY}", **options)
    for start in range(0, len(body), size):
        reader.feed(body[start : start + size])
    return reader.finish()


@pytest.mark.parametrize("size", [1, 7, 64 * 1024])
def test_body_fed_in_pieces_of_any_size_reads_the_same(size):
    data = bytes(range(256)) * 64 + b"\r\n--MIMEBoundary_tes\r\n"

    package = read_in_pieces(document_body(data), size)

    assert package.root.data == soap_with_include("cid:d@x")
    assert package.parts["d@x"].data == data
    assert package.parts["d@x"].content_type == "application/pdf"


def test_large_part_goes_to_a_temporary_file_and_never_whole_into_memory(tmp_path):
    piece = bytes(range(256)) * 256
    head, tail = document_body(b"<<DATA>>").split(b"<<DATA>>")
    reader = MultipartReader(f"multipart/related; boundary={BOUNDARY}", spool_dir=tmp_path)

    tracemalloc.start()
    reader.feed(head)
    for _ in range(320):
        reader.feed(piece)
    reader.feed(tail)
    package = reader.finish()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    document = package.parts["d@x"]
    assert document.size == len(document) == 320 * len(piece)
    assert peak < 4 * 1024 * 1024
    digest = hashlib.sha1(usedforsecurity=False)
    for chunk in document:
        digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha1(piece * 320, usedforsecurity=False).hexdigest()
    package.close()


def test_root_part_over_the_envelope_cap_is_a_413_sender_fault():
    body = document_body(b"document")

    with pytest.raises(SoapFault) as raised:
        read_in_pieces(body, 16, max_root_bytes=20)

    assert (raised.value.code, raised.value.http_status) == (FaultCode.SENDER, 413)


def test_a_document_larger_than_the_envelope_cap_is_fine():
    data = b"x" * 5000

    package = read_in_pieces(document_body(data), 1000, max_root_bytes=1000)

    assert package.parts["d@x"].data == data


def test_preamble_before_the_first_delimiter_is_ignored():
    body = b"This is a preamble.\r\n" + document_body(b"doc")

    package = read_in_pieces(body, 5)

    assert package.parts["d@x"].data == b"doc"


def test_bare_lf_framing_fed_in_pieces_is_accepted():
    data = b"line one\nline two\n"
    body = (
        f"--{BOUNDARY}\nContent-Type: {ROOT_TYPE}\nContent-ID: <root@x>\n\n".encode()
        + soap_with_include("cid:doc@x")
        + f"\n--{BOUNDARY}\nContent-Type: text/plain\nContent-ID: <doc@x>\n\n".encode()
        + data
        + f"\n--{BOUNDARY}--\n".encode()
    )

    assert read_in_pieces(body, 3).parts["doc@x"].data == data


def test_bare_lf_framing_is_read_whole_only_up_to_the_envelope_cap():
    body = f"--{BOUNDARY}\nContent-Type: {ROOT_TYPE}\n\n<a/>\n--{BOUNDARY}--\n".encode()

    with pytest.raises(SoapFault):
        read_in_pieces(body + b" " * 100, 10, max_root_bytes=50)


def test_reading_from_an_async_stream():
    data = b"%PDF-1.7" * 1000

    async def arriving():
        body = document_body(data)
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    package = asyncio.run(read_multipart(arriving(), f"multipart/related; boundary={BOUNDARY}"))

    assert package.parts["d@x"].data == data
    assert b"".join(package.parts["d@x"].chunks(100)) == data


def test_closing_the_package_releases_the_parts():
    package = parse_multipart(document_body(b"doc"), f"multipart/related; boundary={BOUNDARY}")

    with package:
        assert package.parts["d@x"].data == b"doc"

    assert package.parts["d@x"].file.closed
