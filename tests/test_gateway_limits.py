"""Gateway-wide protections: the request size cap and one-line logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from gateway.app import create_app
from gateway.config import Settings
from gateway.logs import TextFormatter

SOAP_NS = {"s": "http://www.w3.org/2003/05/soap-envelope"}


@pytest.fixture
def client(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", max_request_bytes=1000))
    with TestClient(app) as test_client:
        yield test_client


def test_fhir_body_over_the_limit_gets_413_operation_outcome(client):
    response = client.post(
        "/fhir",
        content=b"{" + b" " * 2000 + b"}",
        headers={"Content-Type": "application/fhir+json"},
    )

    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "too-costly"


def test_soap_body_over_the_limit_gets_413_sender_fault(client):
    response = client.post(
        "/XCA/services/RespondingGatewayService",
        content=b"<x>" + b" " * 2000 + b"</x>",
        headers={"Content-Type": "application/soap+xml"},
    )

    assert response.status_code == 413
    root = etree.fromstring(response.content)
    assert root.xpath("//s:Fault/s:Code/s:Value/text()", namespaces=SOAP_NS) == ["env:Sender"]


def test_chunked_body_without_length_is_counted_as_it_arrives(client):
    def chunks():
        for _ in range(10):
            yield b" " * 200

    response = client.post(
        "/fhir", content=chunks(), headers={"Content-Type": "application/fhir+json"}
    )

    assert response.status_code == 413


def test_body_under_the_limit_passes(client):
    response = client.post(
        "/fhir", content=b"{}", headers={"Content-Type": "application/fhir+json"}
    )

    assert response.status_code == 400


def test_log_lines_cannot_be_forged_with_line_breaks():
    formatter = TextFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "xcads", logging.INFO, __file__, 1, "xca.fault action=%s", ("urn:x\nINFO forged",), None
    )

    assert formatter.format(record) == "INFO xca.fault action=urn:x\\nINFO forged"


def test_failure_log_fields_name_types_and_place_but_never_the_message():
    from gateway.failures import failure_fields

    try:
        try:
            raise ValueError("patient 13116900216^^^&2.16.578.1.12.4.1.4.1&ISO")
        except ValueError as cause:
            raise RuntimeError("insert failed for 13116900216") from cause
    except RuntimeError as error:
        fields = failure_fields(error)

    assert fields.startswith("error=RuntimeError cause=ValueError at=test_gateway_limits.py:")
    assert "13116900216" not in fields
