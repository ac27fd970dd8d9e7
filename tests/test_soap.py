"""SOAP 1.2 envelopes, WS-Addressing headers and faults (SOAP 1.2 Part 1 and 2, WS-A 1.0)."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

from gateway.soap import (
    EndpointReference,
    FaultCode,
    SoapFault,
    fault,
    parse_envelope,
    response,
    serialize_with_body,
)
from gateway.soap import envelope as soap_envelope

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
NS = {"env": SOAP12, "wsa": WSA, "s11": SOAP11}


def envelope(headers: str = "", body: str = "<x:Op xmlns:x='urn:x'/>") -> bytes:
    return (
        f"<env:Envelope xmlns:env='{SOAP12}' xmlns:wsa='{WSA}'>"
        f"<env:Header>{headers}</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def raises_fault(data: bytes, **kwargs) -> SoapFault:
    with pytest.raises(SoapFault) as caught:
        parse_envelope(data, **kwargs)
    return caught.value


def test_addressing_headers_and_first_body_element_are_read():
    request = parse_envelope(
        envelope(
            "<wsa:Action env:mustUnderstand='1'> urn:a </wsa:Action>"
            "<wsa:MessageID>urn:uuid:1</wsa:MessageID>"
            "<wsa:ReplyTo><wsa:Address>http://reply</wsa:Address></wsa:ReplyTo>"
            "<wsa:To env:mustUnderstand='true'>http://to</wsa:To>",
            "<!-- c --><x:Op xmlns:x='urn:x'/><x:Other xmlns:x='urn:x'/>",
        )
    )

    assert (request.action, request.message_id, request.reply_to.address, request.to) == (
        "urn:a",
        "urn:uuid:1",
        "http://reply",
        "http://to",
    )
    assert request.body.tag == "{urn:x}Op"


def test_action_from_the_media_type_is_used_without_wsa_action():
    assert parse_envelope(envelope(), action="urn:from-media-type").action == "urn:from-media-type"


def test_a_media_type_action_equal_to_wsa_action_is_accepted():
    data = envelope("<wsa:Action>urn:header</wsa:Action>")

    assert parse_envelope(data, action=" urn:header ").action == "urn:header"


def test_a_media_type_action_other_than_wsa_action_is_an_action_mismatch_fault():
    data = envelope("<wsa:Action>urn:header</wsa:Action>")

    error = raises_fault(data, action="urn:media")
    root = etree.fromstring(fault(error).body)

    assert error.code == FaultCode.SENDER
    assert error.subcode == f"{{{WSA}}}InvalidAddressingHeader"
    assert error.subsubcode == f"{{{WSA}}}ActionMismatch"
    problem = "//env:Detail/wsa:ProblemAction"
    assert root.xpath(f"{problem}/wsa:Action/text()", namespaces=NS) == ["urn:header"]
    assert root.xpath(f"{problem}/wsa:SoapAction/text()", namespaces=NS) == ["urn:media"]


def test_soap11_envelope_is_a_version_mismatch_answered_in_soap11():
    data = f"<s:Envelope xmlns:s='{SOAP11}'><s:Body><x/></s:Body></s:Envelope>".encode()

    error = raises_fault(data)
    message = fault(error)

    assert error.code == FaultCode.VERSION_MISMATCH
    assert message.status == 500
    assert message.content_type.startswith("text/xml")
    root = etree.fromstring(message.body)
    assert root.findtext("s11:Body/s11:Fault/faultcode", namespaces=NS) == "soap:VersionMismatch"
    assert root.xpath("s11:Header/env:Upgrade/env:SupportedEnvelope/@qname", namespaces=NS) == [
        "env:Envelope"
    ]


def test_root_that_is_not_an_envelope_is_a_version_mismatch():
    error = raises_fault(b"<Envelope><Body/></Envelope>")

    assert error.code == FaultCode.VERSION_MISMATCH
    root = etree.fromstring(fault(error).body)
    assert root.xpath("env:Header/env:Upgrade", namespaces=NS)


def test_malformed_xml_is_a_sender_fault():
    error = raises_fault(b"<env:Envelope xmlns:env='" + SOAP12.encode() + b"'><env:Body>")

    assert error.code == FaultCode.SENDER
    assert error.http_status == 400


def test_doctype_is_a_sender_fault():
    error = raises_fault(b"<!DOCTYPE x [<!ENTITY a 'b'>]>" + envelope())

    assert error.code == FaultCode.SENDER
    assert "DOCTYPE" in error.reason


def test_envelope_without_body_is_a_sender_fault():
    data = f"<env:Envelope xmlns:env='{SOAP12}'><env:Header/></env:Envelope>".encode()

    assert raises_fault(data).code == FaultCode.SENDER


def test_empty_body_is_a_sender_fault():
    assert raises_fault(envelope(body="  ")).code == FaultCode.SENDER


@pytest.mark.parametrize(
    "data",
    [
        envelope().replace(
            b"</env:Envelope>", b"<env:Body><x:Other xmlns:x='urn:x'/></env:Body></env:Envelope>"
        ),
        envelope().replace(b"</env:Envelope>", b"<x:After xmlns:x='urn:x'/></env:Envelope>"),
        envelope().replace(b"<env:Header>", b"<x:Before xmlns:x='urn:x'/><env:Header>"),
    ],
    ids=["second-body", "element-after-body", "element-before-header"],
)
def test_envelope_holding_more_than_header_and_body_is_a_sender_fault(data):
    assert raises_fault(data).code == FaultCode.SENDER


@pytest.mark.parametrize("value", ["maybe", "yes", ""])
def test_must_understand_that_is_not_a_boolean_is_a_sender_fault(value):
    data = envelope(f"<v:Context xmlns:v='urn:vendor' env:mustUnderstand='{value}'/>")

    assert raises_fault(data).code == FaultCode.SENDER


@pytest.mark.parametrize("value", ["1", "true"])
def test_unknown_header_that_must_be_understood_is_a_must_understand_fault(value):
    data = envelope(f"<v:Context xmlns:v='urn:vendor' env:mustUnderstand='{value}'/>")

    error = raises_fault(data)
    message = fault(error)

    assert error.code == FaultCode.MUST_UNDERSTAND
    assert message.status == 500
    root = etree.fromstring(message.body)
    (not_understood,) = root.findall("env:Header/env:NotUnderstood", NS)
    prefix, local = not_understood.get("qname").split(":")
    assert (not_understood.nsmap[prefix], local) == ("urn:vendor", "Context")
    assert root.findtext("env:Body/env:Fault/env:Code/env:Value", namespaces=NS) == (
        "env:MustUnderstand"
    )


def test_unknown_header_that_may_be_ignored_is_ignored():
    data = envelope(
        "<v:A xmlns:v='urn:vendor'/><v:B xmlns:v='urn:vendor' env:mustUnderstand='0'/>"
        "<v:C xmlns:v='urn:vendor' env:mustUnderstand='1' "
        "env:role='http://www.w3.org/2003/05/soap-envelope/role/none'/>"
        "<v:D xmlns:v='urn:vendor' env:mustUnderstand='1' env:role='urn:someone-else'/>"
    )

    assert parse_envelope(data).body.tag == "{urn:x}Op"


def test_security_header_that_must_be_understood_is_accepted():
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    data = envelope(f"<wsse:Security xmlns:wsse='{wsse}' env:mustUnderstand='1'/>")

    assert parse_envelope(data).body.tag == "{urn:x}Op"


def test_two_actions_are_an_invalid_addressing_header():
    error = raises_fault(envelope("<wsa:Action>urn:a</wsa:Action><wsa:Action>urn:b</wsa:Action>"))

    assert error.subcode == f"{{{WSA}}}InvalidAddressingHeader"


def test_response_carries_action_message_id_and_relates_to():
    body = etree.Element("{urn:x}Answer")

    message = response(body, action="urn:x:Response", relates_to="urn:uuid:req")

    root = etree.fromstring(message.body)
    assert message.content_type == 'application/soap+xml; charset=UTF-8; action="urn:x:Response"'
    assert root.findtext("env:Header/wsa:Action", namespaces=NS) == "urn:x:Response"
    assert root.findtext("env:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:req"
    message_id = root.findtext("env:Header/wsa:MessageID", namespaces=NS)
    assert uuid.UUID(message_id.removeprefix("urn:uuid:"))
    assert root.find("env:Body/{urn:x}Answer", NS) is not None


def test_action_not_supported_fault():
    error = SoapFault(
        FaultCode.SENDER,
        "no such action",
        subcode=f"{{{WSA}}}ActionNotSupported",
        problem_action="urn:unknown",
    )

    message = fault(error, relates_to="urn:uuid:req")

    assert message.status == 400
    root = etree.fromstring(message.body)
    code = root.find("env:Body/env:Fault/env:Code", NS)
    assert code.findtext("env:Value", namespaces=NS) == "env:Sender"
    subcode = code.find("env:Subcode/env:Value", NS)
    prefix, local = subcode.text.split(":")
    assert (subcode.nsmap[prefix], local) == (WSA, "ActionNotSupported")
    text = root.find("env:Body/env:Fault/env:Reason/env:Text", NS)
    assert text.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert text.text == "no such action"
    assert root.findtext(
        "env:Body/env:Fault/env:Detail/wsa:ProblemAction/wsa:Action", namespaces=NS
    ) == ("urn:unknown")
    assert root.findtext("env:Header/wsa:Action", namespaces=NS) == (
        "http://www.w3.org/2005/08/addressing/fault"
    )
    assert root.findtext("env:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:req"


def test_receiver_fault_is_http_500_with_a_fault_body():
    message = fault(SoapFault(FaultCode.RECEIVER, "broken"))

    assert message.status == 500
    root = etree.fromstring(message.body)
    assert root.findtext("env:Body/env:Fault/env:Code/env:Value", namespaces=NS) == "env:Receiver"
    assert root.findtext("env:Header/wsa:Action", namespaces=NS) == (
        "http://www.w3.org/2005/08/addressing/soap/fault"
    )


def test_fault_to_and_reference_parameters_are_read():
    request = parse_envelope(
        envelope(
            "<wsa:ReplyTo><wsa:Address>http://gw/reply</wsa:Address>"
            "<wsa:ReferenceParameters><c:Id xmlns:c='urn:c'>7</c:Id></wsa:ReferenceParameters>"
            "</wsa:ReplyTo>"
            "<wsa:FaultTo><wsa:Address>http://gw/fault</wsa:Address></wsa:FaultTo>"
        )
    )

    assert request.reply_to.address == "http://gw/reply"
    assert [element.text for element in request.reply_to.reference_parameters] == ["7"]
    assert request.fault_to.address == "http://gw/fault"
    assert not request.reply_to.is_anonymous


def test_reply_to_without_address_is_anonymous():
    request = parse_envelope(envelope("<wsa:ReplyTo/>"))

    assert request.reply_to.is_anonymous


def test_two_reply_to_headers_are_an_invalid_addressing_header():
    reply_to = "<wsa:ReplyTo><wsa:Address>http://a</wsa:Address></wsa:ReplyTo>"

    with pytest.raises(SoapFault) as caught:
        parse_envelope(envelope(reply_to * 2))

    assert caught.value.subcode == f"{{{WSA}}}InvalidAddressingHeader"


def test_reply_sent_to_an_address_names_it_in_wsa_to_with_its_reference_parameters():
    request = parse_envelope(
        envelope(
            "<wsa:ReplyTo><wsa:Address>http://gw/reply</wsa:Address>"
            "<wsa:ReferenceParameters><c:Id xmlns:c='urn:c'>7</c:Id></wsa:ReferenceParameters>"
            "</wsa:ReplyTo>"
        )
    )

    root = soap_envelope(etree.Element("{urn:x}R"), action="urn:a", to=request.reply_to)

    assert root.findtext("env:Header/wsa:To", namespaces=NS) == "http://gw/reply"
    (block,) = root.iterfind("env:Header/{urn:c}Id", NS)
    assert block.get(f"{{{WSA}}}IsReferenceParameter") == "true"


def test_fault_with_a_subsubcode_nests_it():
    error = SoapFault(
        FaultCode.SENDER,
        "anonymous only",
        subcode=f"{{{WSA}}}InvalidAddressingHeader",
        subsubcode=f"{{{WSA}}}OnlyAnonymousAddressSupported",
    )

    root = etree.fromstring(fault(error).body)

    values = root.xpath("//env:Code//env:Value/text()", namespaces=NS)
    assert [value.split(":")[-1] for value in values] == [
        "Sender",
        "InvalidAddressingHeader",
        "OnlyAnonymousAddressSupported",
    ]


def test_serialized_body_goes_into_the_body_even_after_a_header_like_it():
    # A reference parameter echoed into the Header may be any element, an empty env:Body too.
    parameter = etree.Element(f"{{{SOAP12}}}Body", nsmap={"env": SOAP12})
    to = EndpointReference("http://gateway.example.org/reply", [parameter])
    root = soap_envelope(None, action="urn:example:action", relates_to="urn:uuid:1", to=to)
    body = b'<x:Answer xmlns:x="urn:example">&amp;</x:Answer>'

    message = etree.fromstring(serialize_with_body(root, body))

    content = message.find(f"{{{SOAP12}}}Body")
    assert [(child.tag, child.text) for child in content] == [("{urn:example}Answer", "&")]
    assert message.find(f"{{{SOAP12}}}Header/{{{SOAP12}}}Body") is not None
