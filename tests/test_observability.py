"""Request ids, structured logs and metrics of one app, exercised in process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from bundles import Document, encode, provide_bundle
from fastapi.testclient import TestClient
from production_support import metric, provide_one
from repository_support import SOAP as SOAP_CONTENT_TYPE
from repository_support import retrieve_request
from servers import HOME, PERSON_ID_AUTHORITY, REPOSITORY
from soap_messages import find_documents, retrieve

from gateway.app import create_app
from gateway.config import Settings
from gateway.logs import JsonFormatter, RequestIdFilter, TextFormatter
from gateway.metrics import http_transaction

XCA = "/XCA/services/RespondingGatewayService"
REPOSITORY_PATH = "/Repository/services/RepositoryService"
PATIENT_ID = "24069712345"
PATIENT_CX = f"{PATIENT_ID}^^^&{PERSON_ID_AUTHORITY}&ISO"
DOCUMENT_TEXT = "Innhold som aldri skal i loggen 7f3a9c"


class Lines(logging.Handler):
    """Every record of the xcads loggers, formatted as the service formats them."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(RequestIdFilter())
        self.setFormatter(formatter)
        self.records: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelno, self.format(record)))

    def at_info_or_above(self) -> list[str]:
        return [line for level, line in self.records if level >= logging.INFO]


@pytest.fixture
def app(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data", home_community_id=HOME, repository_unique_id=REPOSITORY
    )
    app = create_app(settings)
    yield app
    app.state.registry.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def capture(formatter: logging.Formatter) -> Iterator[Lines]:
    lines = Lines(formatter)
    logger = logging.getLogger("xcads")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.DEBUG)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


@pytest.fixture
def text_lines() -> Iterator[Lines]:
    yield from capture(TextFormatter())


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    yield from capture(JsonFormatter())


def submit(client: TestClient, patient_id: str, data: bytes) -> Document:
    document = Document(data)
    response = client.post(
        "/fhir",
        content=encode(provide_bundle(patient_id, [document])),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text
    return document


def soap(client: TestClient, message: str | bytes, path: str = XCA, **headers: str):
    return client.post(
        path, content=message, headers={"Content-Type": SOAP_CONTENT_TYPE, **headers}
    )


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_count_requests_latency_bytes_and_documents_per_transaction(client):
    before = scrape(client)
    data = b"x" * 20_000

    document = submit(client, "13116900216", data)
    query = soap(client, find_documents(f"13116900216^^^&{PERSON_ID_AUTHORITY}&ISO"))
    retrieved = soap(client, retrieve([(HOME, REPOSITORY, document.unique_id)]))
    after = scrape(client)

    assert query.status_code == retrieved.status_code == 200

    def grew(name: str, transaction: str) -> float:
        return metric(after, name, transaction=transaction) - metric(
            before, name, transaction=transaction
        )

    for transaction in ("ITI-65", "ITI-38", "ITI-39"):
        assert grew("xcads_requests_total", transaction) == 1
        assert grew("xcads_request_errors_total", transaction) == 0
        assert grew("xcads_request_duration_seconds_count", transaction) == 1
    assert grew("xcads_documents_stored_total", "ITI-65") == 1
    assert grew("xcads_received_bytes_total", "ITI-65") > len(data)
    assert grew("xcads_sent_bytes_total", "ITI-39") > len(data)
    assert grew("xcads_sent_bytes_total", "ITI-38") == len(query.content)


def test_soap_transactions_are_named_by_their_action(client):
    before = scrape(client)
    body, content_type, _ = provide_one(b"one document")

    stored = client.post(REPOSITORY_PATH, content=body, headers={"Content-Type": content_type})
    fetched = soap(client, retrieve_request([(REPOSITORY, "1.2.3.404")]), REPOSITORY_PATH)
    after = scrape(client)

    assert stored.status_code == fetched.status_code == 200
    assert metric(after, "xcads_requests_total", transaction="ITI-41") == 1 + metric(
        before, "xcads_requests_total", transaction="ITI-41"
    )
    assert metric(after, "xcads_documents_stored_total", transaction="ITI-41") == 1 + metric(
        before, "xcads_documents_stored_total", transaction="ITI-41"
    )
    assert metric(after, "xcads_requests_total", transaction="ITI-43") == 1 + metric(
        before, "xcads_requests_total", transaction="ITI-43"
    )


def test_faults_failures_and_refused_bundles_count_as_errors(client):
    before = scrape(client)

    missing = soap(client, retrieve([(HOME, REPOSITORY, "1.2.3.404")]))
    fault = soap(client, "<not-an-envelope/>")
    refused = client.post("/fhir", content=b"{}", headers={"Content-Type": "text/plain"})
    after = scrape(client)

    assert b"ResponseStatusType:Failure" in missing.content
    assert fault.status_code >= 400 and refused.status_code == 415

    def errors(transaction: str) -> float:
        name = "xcads_request_errors_total"
        return metric(after, name, transaction=transaction) - metric(
            before, name, transaction=transaction
        )

    assert errors("ITI-39") == 1
    assert errors("other") == 1
    assert errors("ITI-65") == 1


def test_probes_and_scrapes_are_not_counted_as_traffic(client):
    before = scrape(client)

    client.get("/health")
    client.get("/ready")
    after = scrape(client)

    name = "xcads_requests_total"
    assert metric(after, name, transaction="other") == metric(before, name, transaction="other")


def test_a_sane_request_id_is_echoed(client):
    response = client.get("/health", headers={"X-Request-ID": "gw-42.a:b"})

    assert response.headers["x-request-id"] == "gw-42.a:b"


@pytest.mark.parametrize("offered", ["", "has space", "x" * 129, "<script>", "-starts-with-dash"])
def test_an_unusable_request_id_is_replaced_by_a_new_one(client, offered):
    first = client.get("/health", headers={"X-Request-ID": offered})
    second = client.get("/health", headers={"X-Request-ID": offered})

    assert first.headers["x-request-id"] != offered
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


def test_lines_logged_in_threadpool_work_carry_the_request_id(client, text_lines):
    message = find_documents(PATIENT_CX)

    response = soap(client, message, **{"X-Request-ID": "query-0001"})

    assert response.headers["x-request-id"] == "query-0001"
    (line,) = [line for line in text_lines.at_info_or_above() if " iti38.query " in line]
    assert line.endswith(" request_id=query-0001")


def test_json_lines_carry_event_fields_and_request_id(client, json_lines):
    soap(client, find_documents(PATIENT_CX), **{"X-Request-ID": "json-0001"})

    records = [json.loads(line) for line in json_lines.at_info_or_above()]
    (query,) = [record for record in records if record["event"] == "iti38.query"]
    assert query["request_id"] == "json-0001"
    assert query["level"] == "INFO"
    assert query["logger"] == "xcads.xca"
    assert isinstance(query["ms"], float)
    assert query["message"].startswith("iti38.query ")


def test_text_lines_outside_requests_show_no_request_id():
    record = logging.LogRecord(
        "xcads", logging.INFO, __file__, 1, "repair.done orphans=%d", (0,), None
    )
    RequestIdFilter().filter(record)

    assert TextFormatter("%(message)s").format(record) == "repair.done orphans=0 request_id=-"


def test_no_patient_id_or_document_content_is_logged_at_info(client, text_lines):
    data = DOCUMENT_TEXT.encode()
    other_patient = "01010012356"

    document = submit(client, PATIENT_ID, data)
    mismatched = client.post(
        "/fhir",
        content=encode(
            provide_bundle(PATIENT_ID, [Document(data)], document_patient_id=other_patient)
        ),
        headers={"Content-Type": "application/fhir+json"},
    )
    body, content_type, entry = provide_one(data, patient=PATIENT_CX)
    provided = client.post(REPOSITORY_PATH, content=body, headers={"Content-Type": content_type})
    queried = soap(client, find_documents(PATIENT_CX))
    retrieved = soap(client, retrieve([(HOME, REPOSITORY, document.unique_id)]))
    fetched = soap(client, retrieve_request([(REPOSITORY, entry.unique_id)]), REPOSITORY_PATH)

    assert mismatched.status_code == 400
    assert b"ResponseStatusType:Success" in provided.content
    assert PATIENT_ID.encode() in queried.content
    assert data in retrieved.content and data in fetched.content
    lines = text_lines.at_info_or_above()
    assert any(" iti65.stored " in line for line in lines)
    assert any(" iti38.query " in line for line in lines)
    for line in lines:
        assert PATIENT_ID not in line
        assert other_patient not in line
        assert DOCUMENT_TEXT not in line


def test_a_library_line_without_an_event_name_is_named_by_its_logger():
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Shutting down x=1", (), None
    )

    line = json.loads(JsonFormatter().format(record))

    assert line["event"] == "uvicorn.error"
    assert line["message"] == "Shutting down x=1"
    assert "x" not in line


@pytest.mark.parametrize(
    ("method", "path", "transaction"),
    [
        ("POST", "/fhir", "ITI-65"),
        ("POST", "/fhir/", "ITI-65"),
        ("GET", "/fhir/List", "ITI-66"),
        ("POST", "/fhir/List/_search", "ITI-66"),
        ("GET", "/fhir/DocumentReference", "ITI-67"),
        ("GET", "/fhir/DocumentReference/abc", "ITI-67"),
        ("POST", "/fhir/DocumentReference/_search", "ITI-67"),
        ("GET", "/fhir/Binary/abc", "ITI-68"),
        ("GET", "/mhd/documents/1.2.3", "ITI-68"),
        ("GET", "/fhir/metadata", "other"),
        ("GET", "/fhir", "other"),
        ("POST", "/XCA/services/RespondingGatewayService", None),
    ],
)
def test_mhd_transactions_are_named_by_method_and_path(method, path, transaction):
    assert http_transaction(method, path) == transaction
