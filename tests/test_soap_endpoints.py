"""What every SOAP endpoint (XCA, Registry, Repository) does alike: its WSDL at `?wsdl`, and the
SOAP Faults for SOAP 1.1, unknown mustUnderstand headers, wrong actions and schema-invalid bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from registry_support import body_of, register, stored_query
from repository_support import assert_schema_valid
from soap_messages import as_mtom, envelope
from validation_samples import PATIENT, document_entry, submission

from gateway import registry_service, repository_service, xca
from gateway.app import create_app
from gateway.config import Settings

SOAP = "application/soap+xml; charset=utf-8"
ENV = "http://www.w3.org/2003/05/soap-envelope"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP12_WSDL = "http://schemas.xmlsoap.org/wsdl/soap12/"
WSAW = "http://www.w3.org/2006/05/addressing/wsdl"
XSD = "http://www.w3.org/2001/XMLSchema"
XDS = "urn:ihe:iti:xds-b:2007"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"wsdl": WSDL, "soap12": SOAP12_WSDL, "wsaw": WSAW, "xsd": XSD, "env": ENV}

# Each endpoint: its path, its WSDL's service and port type, and the actions it dispatches on.
ENDPOINTS = {
    "xca": (
        "/XCA/services/RespondingGatewayService",
        "RespondingGateway_Service",
        "RespondingGateway_PortType",
        xca._ENDPOINT.handlers,
    ),
    "registry": (
        "/Registry/services/RegistryService",
        "DocumentRegistry_Service",
        "DocumentRegistry_PortType",
        registry_service.ACTIONS,
    ),
    "repository": (
        "/Repository/services/RepositoryService",
        "DocumentRepository_Service",
        "DocumentRepository_PortType",
        repository_service.ACTIONS,
    ),
}

# One action per endpoint and a body the schema refuses for it: a DocumentRequest without its
# DocumentUniqueId, an AdhocQueryRequest without its AdhocQuery.
INVALID_BODIES = {
    "xca": (
        "urn:ihe:iti:2007:CrossGatewayRetrieve",
        f"<xds:RetrieveDocumentSetRequest xmlns:xds='{XDS}'><xds:DocumentRequest>"
        "<xds:HomeCommunityId>urn:oid:1.2</xds:HomeCommunityId>"
        "<xds:RepositoryUniqueId>1.2</xds:RepositoryUniqueId>"
        "</xds:DocumentRequest></xds:RetrieveDocumentSetRequest>",
        "DocumentUniqueId",
    ),
    "registry": (
        "urn:ihe:iti:2007:RegistryStoredQuery",
        f"<query:AdhocQueryRequest xmlns:query='{QUERY}'>"
        "<query:ResponseOption returnType='LeafClass'/></query:AdhocQueryRequest>",
        "AdhocQuery",
    ),
    "repository": (
        "urn:ihe:iti:2007:RetrieveDocumentSet",
        f"<xds:RetrieveDocumentSetRequest xmlns:xds='{XDS}'><xds:DocumentRequest>"
        "<xds:DocumentUniqueId>1.2</xds:DocumentUniqueId><xds:RepositoryUniqueId>1.2"
        "</xds:RepositoryUniqueId></xds:DocumentRequest></xds:RetrieveDocumentSetRequest>",
        "RepositoryUniqueId",
    ),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("endpoints")))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.registry.close()


def fault_codes(reply) -> list[str]:
    """The fault's Code and Subcode values as `{namespace}local`."""
    root = etree.fromstring(reply.content)
    names = []
    for value in root.iterfind("env:Body/env:Fault/env:Code//env:Value", NS):
        prefix, local = value.text.split(":")
        names.append(f"{{{value.nsmap[prefix]}}}{local}")
    return names


def fault_reason(reply) -> str:
    return etree.fromstring(reply.content).findtext(".//env:Reason/env:Text", namespaces=NS)


def wsdl_of(client, endpoint: str, query: str = "wsdl") -> etree._Element:
    path = ENDPOINTS[endpoint][0]
    reply = client.get(f"{path}?{query}")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/xml")
    return etree.fromstring(reply.content)


# --- WSDL --------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_wsdl_names_the_service_and_its_address_from_the_request_url(client, endpoint):
    path, service, _, _ = ENDPOINTS[endpoint]

    wsdl = wsdl_of(client, endpoint)

    assert wsdl.tag == f"{{{WSDL}}}definitions"
    (port,) = wsdl.iterfind(f"wsdl:service[@name='{service}']/wsdl:port", NS)
    assert port.find("soap12:address", NS).get("location") == f"http://testserver{path}"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_wsdl_operations_are_the_actions_the_endpoint_dispatches(client, endpoint):
    _, _, port_type, actions = ENDPOINTS[endpoint]

    wsdl = wsdl_of(client, endpoint)

    inputs = wsdl.xpath(
        f"wsdl:portType[@name='{port_type}']/wsdl:operation/wsdl:input/@wsaw:Action",
        namespaces=NS,
    )
    assert sorted(inputs) == sorted(actions)
    outputs = wsdl.xpath("wsdl:portType/wsdl:operation/wsdl:output/@wsaw:Action", namespaces=NS)
    assert sorted(outputs) == sorted(f"{action}Response" for action in actions)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_wsdl_binds_every_operation_with_soap12(client, endpoint):
    wsdl = wsdl_of(client, endpoint)

    operations = set(wsdl.xpath("wsdl:portType/wsdl:operation/@name", namespaces=NS))
    (binding,) = wsdl.iterfind("wsdl:binding", NS)
    assert binding.find("soap12:binding", NS).get("style") == "document"
    assert set(binding.xpath("wsdl:operation/@name", namespaces=NS)) == operations
    soap_actions = binding.xpath("wsdl:operation/soap12:operation/@soapAction", namespaces=NS)
    assert sorted(soap_actions) == sorted(ENDPOINTS[endpoint][3])


def test_wsdl_operation_names_follow_appendix_v(client):
    names = {
        endpoint: set(
            wsdl_of(client, endpoint).xpath("wsdl:portType/wsdl:operation/@name", namespaces=NS)
        )
        for endpoint in ENDPOINTS
    }

    assert names["xca"] == {
        "RespondingGateway_CrossGatewayQuery",
        "RespondingGateway_CrossGatewayRetrieve",
    }
    assert {
        "DocumentRepository_ProvideAndRegisterDocumentSet-b",
        "DocumentRepository_RetrieveDocumentSet",
        "DocumentRepository_RemoveDocuments",
    } == names["repository"]
    assert {
        "DocumentRegistry_RegisterDocumentSet-b",
        "DocumentRegistry_RegistryStoredQuery",
    } <= names["registry"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_wsdl_types_import_schemas_that_are_served(client, endpoint):
    wsdl = wsdl_of(client, endpoint)

    imports = wsdl.findall("wsdl:types/xsd:schema/xsd:import", NS)
    assert imports
    for element in imports:
        reply = client.get(element.get("schemaLocation"))
        assert reply.status_code == 200, element.get("schemaLocation")
        schema = etree.fromstring(reply.content)
        assert schema.get("targetNamespace") == element.get("namespace")


def test_wsdl_query_is_case_insensitive_and_path_too(client):
    wsdl = wsdl_of(client, "xca", "WSDL")

    assert wsdl.find("wsdl:service", NS).get("name") == "RespondingGateway_Service"
    assert client.get("/xca/services/respondinggatewayservice?wsdl").status_code == 200


def test_get_without_wsdl_is_method_not_allowed(client):
    reply = client.get("/Repository/services/RepositoryService")

    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"


def test_unknown_schema_is_not_found(client):
    assert client.get("/schemas/../config.py").status_code == 404
    assert client.get("/schemas/nothing.xsd").status_code == 404


# --- Faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_soap11_is_a_version_mismatch_with_an_upgrade_header(client, endpoint):
    message = (
        b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'>"
        b"<s:Body><x/></s:Body></s:Envelope>"
    )

    reply = client.post(
        ENDPOINTS[endpoint][0], content=message, headers={"Content-Type": "text/xml"}
    )

    assert reply.status_code == 500
    root = etree.fromstring(reply.content)
    assert root.tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
    assert root.findtext(".//faultcode").endswith(":VersionMismatch")
    assert root.find(f".//{{{ENV}}}Upgrade") is not None


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_unknown_header_that_must_be_understood_is_a_must_understand_fault(client, endpoint):
    action, _, _ = INVALID_BODIES[endpoint]
    message = envelope(action, "<x/>").replace(
        "<s:Header>", "<s:Header><v:Ctx xmlns:v='urn:vendor' s:mustUnderstand='true'/>"
    )

    reply = client.post(ENDPOINTS[endpoint][0], content=message, headers={"Content-Type": SOAP})

    assert reply.status_code == 500
    assert fault_codes(reply) == [f"{{{ENV}}}MustUnderstand"]
    not_understood = etree.fromstring(reply.content).find(f".//{{{ENV}}}NotUnderstood")
    assert not_understood.get("qname").endswith(":Ctx")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_action_of_another_endpoint_is_action_not_supported(client, endpoint):
    others = [INVALID_BODIES[other][0] for other in ENDPOINTS if other != endpoint]

    for action in others:
        reply = client.post(
            ENDPOINTS[endpoint][0],
            content=envelope(action, "<x/>"),
            headers={"Content-Type": SOAP},
        )

        assert reply.status_code == 400
        assert fault_codes(reply) == [
            f"{{{ENV}}}Sender",
            "{http://www.w3.org/2005/08/addressing}ActionNotSupported",
        ]
        problem = etree.fromstring(reply.content).findtext(
            ".//{http://www.w3.org/2005/08/addressing}ProblemAction/"
            "{http://www.w3.org/2005/08/addressing}Action"
        )
        assert problem == action


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_schema_invalid_body_is_a_sender_fault_naming_the_problem(client, endpoint):
    action, body, missing = INVALID_BODIES[endpoint]

    reply = client.post(
        ENDPOINTS[endpoint][0], content=envelope(action, body), headers={"Content-Type": SOAP}
    )

    assert reply.status_code == 400
    assert fault_codes(reply) == [f"{{{ENV}}}Sender"]
    reason = fault_reason(reply)
    assert "not valid against its schema" in reason
    assert missing in reason


def test_body_in_the_wrong_namespace_is_a_sender_fault_naming_both_namespaces(client):
    body = "<AdhocQueryRequest><ResponseOption returnType='LeafClass'/></AdhocQueryRequest>"

    reply = client.post(
        ENDPOINTS["registry"][0],
        content=envelope("urn:ihe:iti:2007:RegistryStoredQuery", body),
        headers={"Content-Type": SOAP},
    )

    assert reply.status_code == 400
    assert fault_codes(reply) == [f"{{{ENV}}}Sender"]
    assert f"{{{QUERY}}}AdhocQueryRequest body, not AdhocQueryRequest" in fault_reason(reply)


def test_schema_fault_does_not_echo_values(client, caplog):
    body = (
        f"<query:AdhocQueryRequest xmlns:query='{QUERY}' xmlns:rim='{RIM}'>"
        "<query:ResponseOption returnType='LeafClass'/>"
        "<rim:AdhocQuery id='urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d'>"
        "<rim:Slot name='$XDSDocumentEntryPatientId'><rim:ValueList><rim:Value>"
        f"'13116900216{'^' * 300}'</rim:Value></rim:ValueList></rim:Slot></rim:AdhocQuery>"
        "</query:AdhocQueryRequest>"
    )

    with caplog.at_level(logging.INFO, logger="xcads"):
        reply = client.post(
            ENDPOINTS["registry"][0],
            content=envelope("urn:ihe:iti:2007:RegistryStoredQuery", body),
            headers={"Content-Type": SOAP},
        )

    assert reply.status_code == 400
    assert "Value" in fault_reason(reply)
    assert "13116900216" not in fault_reason(reply)
    assert "13116900216" not in caplog.text


# --- Responses valid against the schemas -------------------------------------------------------


def test_registry_responses_are_schema_valid(client):
    entry = document_entry(class_code=None)

    failure = body_of(register(client, submission(entry)))
    success = body_of(register(client, submission(document_entry())))
    found = body_of(stored_query(client, PATIENT))

    assert failure.get("status").endswith("Failure")
    assert success.get("status").endswith("Success")
    assert len(found.findall(f".//{{{RIM}}}ExtrinsicObject")) == 1
    for element in (failure, success, found):
        assert_schema_valid(element)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("mtom", [False, True], ids=["plain", "MTOM"])
def test_a_media_type_action_other_than_wsa_action_is_faulted_as_action_mismatch(
    client, endpoint, mtom
):
    path, _, _, handlers = ENDPOINTS[endpoint]
    action, other = sorted(handlers)[:2]
    message = envelope(action, "<x:Op xmlns:x='urn:x'/>")
    if mtom:
        body, content_type = as_mtom(message, other)
    else:
        body, content_type = message.encode(), f'{SOAP}; action="{other}"'

    reply = client.post(path, content=body, headers={"Content-Type": content_type})

    assert reply.status_code == 400
    assert fault_codes(reply) == [
        f"{{{ENV}}}Sender",
        "{http://www.w3.org/2005/08/addressing}InvalidAddressingHeader",
        "{http://www.w3.org/2005/08/addressing}ActionMismatch",
    ]
