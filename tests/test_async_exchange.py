"""XCA Asynchronous Web Services Exchange (ITI TF-2x Appendix V.3, WS-Addressing 1.0 SOAP
Binding 5.2): 202 at once, the answer POSTed later to wsa:ReplyTo (faults to wsa:FaultTo)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from servers import threaded_uvicorn
from test_xca import (
    HOME,
    NS,
    PATIENT,
    QUERY,
    REPOSITORY,
    RETRIEVE,
    SUCCESS,
    envelope,
    fault_code,
    find_documents,
    post,
    retrieve,
    status,
    store_document,
)

from gateway.app import create_app
from gateway.config import Settings
from gateway.mtom import parse_multipart
from gateway.outbox import check_reply_address
from gateway.soap import SoapFault

MESSAGE_ID = "urn:uuid:6f0c3f5e-1d8b-4a57-9b0c-2f1e4c7a9d10"
QUERY_RESPONSE = "urn:ihe:iti:2007:CrossGatewayQueryResponse"
RETRIEVE_RESPONSE = "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"


# --- A receiving gateway -----------------------------------------------------------------------


@dataclass
class Delivery:
    """One POST the receiver took."""

    path: str
    content_type: str
    body: bytes

    def envelope(self) -> etree._Element:
        if self.content_type.startswith("multipart/related"):
            return etree.fromstring(parse_multipart(self.body, self.content_type).root.data)
        return etree.fromstring(self.body)


@dataclass
class Receiver:
    """An initiating gateway's reply endpoint: a real HTTP server recording what is POSTed.

    The first `failures` POSTs get 503 (every one when None).
    """

    failures: int | None = 0
    url: str = ""
    attempts: int = 0
    deliveries: list[Delivery] = field(default_factory=list)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.attempts += 1
        failing = self.failures is None or self.attempts <= self.failures
        if not failing:
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"").decode()
            self.deliveries.append(Delivery(scope["path"], content_type, body))
        await send({"type": "http.response.start", "status": 503 if failing else 202})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver())


@pytest.fixture
def flaky_receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver(failures=2))


@pytest.fixture
def broken_receiver() -> Iterator[Receiver]:
    yield from _serve(Receiver(failures=None))


def _serve(receiver: Receiver) -> Iterator[Receiver]:
    with threaded_uvicorn(receiver) as url:
        receiver.url = url
        yield receiver


# --- The gateway under test --------------------------------------------------------------------


def async_settings(tmp_path, **overrides) -> Settings:
    values = {
        "data_dir": tmp_path / "data",
        "home_community_id": HOME,
        "repository_unique_id": REPOSITORY,
        "async_allowed_reply_hosts": ["127.0.0.1"],
        "async_retries": 2,
        "async_backoff_seconds": 0.05,
        "async_timeout_seconds": 5,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return async_settings(tmp_path)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    app.state.registry.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def reply_to(address: str, *, fault_to: str | None = None, parameters: str = "") -> str:
    """wsa:ReplyTo (and wsa:FaultTo) header blocks, with a wsa:MessageID."""
    reference = f"<wsa:ReferenceParameters>{parameters}</wsa:ReferenceParameters>"
    headers = (
        f"<wsa:ReplyTo><wsa:Address>{address}</wsa:Address>"
        f"{reference if parameters else ''}</wsa:ReplyTo>"
    )
    if fault_to:
        headers += f"<wsa:FaultTo><wsa:Address>{fault_to}</wsa:Address></wsa:FaultTo>"
    return headers


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def failed_records(settings: Settings) -> list[dict]:
    """The record of failed deliveries, complete lines only."""
    path = settings.failed_deliveries_path
    text = path.read_text() if path.exists() else ""
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


def header(root: etree._Element, name: str) -> str | None:
    return root.findtext(f"env:Header/wsa:{name}", namespaces=NS)


# --- Accepted and delivered --------------------------------------------------------------------


def test_query_with_reply_to_gets_202_and_the_response_at_that_address(app, client, receiver):
    store_document(app, b"a")
    headers = reply_to(f"{receiver.url}/replies")

    reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id=MESSAGE_ID))

    assert reply.status_code == 202
    assert reply.content == b""
    wait_for(lambda: receiver.deliveries)
    (delivery,) = receiver.deliveries
    assert delivery.path == "/replies"
    assert delivery.content_type.startswith("application/soap+xml")
    root = delivery.envelope()
    assert header(root, "Action") == QUERY_RESPONSE
    assert header(root, "RelatesTo") == MESSAGE_ID
    assert header(root, "To") == f"{receiver.url}/replies"
    assert status(root) == SUCCESS
    assert len(root.findall(".//rim:ExtrinsicObject", NS)) == 1


def test_retrieve_with_reply_to_is_delivered_as_mtom(app, client, receiver):
    data = bytes(range(256)) * 1024
    entry = store_document(app, data, mime_type="application/pdf")
    message = envelope(
        RETRIEVE,
        retrieve((HOME, REPOSITORY, entry.unique_id)),
        headers=reply_to(receiver.url + "/xca"),
        message_id=MESSAGE_ID,
    )

    assert post(client, message).status_code == 202

    wait_for(lambda: receiver.deliveries)
    (delivery,) = receiver.deliveries
    assert delivery.content_type.startswith("multipart/related")
    package = parse_multipart(delivery.body, delivery.content_type)
    root = etree.fromstring(package.root.data)
    assert header(root, "Action") == RETRIEVE_RESPONSE
    assert header(root, "RelatesTo") == MESSAGE_ID
    assert status(root) == SUCCESS
    href = root.find(".//xds:Document/xop:Include", NS).get("href")
    assert package.parts[href.removeprefix("cid:")].data == data


def test_reference_parameters_of_reply_to_travel_as_header_blocks(app, client, receiver):
    parameters = "<c:Correlation xmlns:c='urn:example:c'>42</c:Correlation>"
    headers = reply_to(receiver.url, parameters=parameters)

    post(client, envelope(QUERY, find_documents(), headers=headers, message_id=MESSAGE_ID))

    wait_for(lambda: receiver.deliveries)
    root = receiver.deliveries[0].envelope()
    (block,) = root.iterfind("env:Header/{urn:example:c}Correlation", NS)
    assert block.text == "42"
    assert block.get(f"{{{NS['wsa']}}}IsReferenceParameter") == "true"


def test_fault_goes_to_fault_to(client, receiver):
    headers = reply_to(f"{receiver.url}/replies", fault_to=f"{receiver.url}/faults")
    wrong_body = retrieve((HOME, REPOSITORY, "2.25.1"))

    reply = post(client, envelope(QUERY, wrong_body, headers=headers, message_id=MESSAGE_ID))

    assert reply.status_code == 202
    wait_for(lambda: receiver.deliveries)
    (delivery,) = receiver.deliveries
    assert delivery.path == "/faults"
    root = delivery.envelope()
    assert header(root, "Action") == "http://www.w3.org/2005/08/addressing/soap/fault"
    assert header(root, "RelatesTo") == MESSAGE_ID
    assert header(root, "To") == f"{receiver.url}/faults"
    assert root.find("env:Body/env:Fault", NS) is not None


def test_fault_without_fault_to_goes_to_reply_to(client, receiver):
    headers = reply_to(f"{receiver.url}/replies")

    post(client, envelope(QUERY, "<x:Other xmlns:x='urn:x'/>", headers=headers, message_id="m"))

    wait_for(lambda: receiver.deliveries)
    assert receiver.deliveries[0].path == "/replies"
    assert receiver.deliveries[0].envelope().find("env:Body/env:Fault", NS) is not None


def test_reply_to_none_is_accepted_and_its_answer_discarded(app, client, receiver, caplog):
    headers = reply_to("http://www.w3.org/2005/08/addressing/none")

    with caplog.at_level(logging.INFO, logger="xcads"):
        reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))
        wait_for(lambda: app.state.outbox.pending == 0)

    assert reply.status_code == 202
    assert "async.discarded" in caplog.text
    assert receiver.attempts == 0


# --- Retries and failures ----------------------------------------------------------------------


def test_receiver_failing_twice_gets_the_answer_on_the_third_try(
    app, client, flaky_receiver, settings, caplog
):
    headers = reply_to(flaky_receiver.url)

    with caplog.at_level(logging.INFO, logger="xcads"):
        post(client, envelope(QUERY, find_documents(), headers=headers, message_id=MESSAGE_ID))
        wait_for(lambda: flaky_receiver.deliveries and app.state.outbox.pending == 0)

    assert flaky_receiver.attempts == 3
    assert caplog.text.count("async.retry") == 2
    assert "attempts=3" in caplog.text
    assert header(flaky_receiver.deliveries[0].envelope(), "RelatesTo") == MESSAGE_ID
    assert not settings.failed_deliveries_path.exists()


def test_undeliverable_answer_is_logged_and_recorded_without_patient_data(
    app, client, broken_receiver, settings, caplog
):
    store_document(app, b"a")
    headers = reply_to(f"{broken_receiver.url}/replies")

    with caplog.at_level(logging.INFO, logger="xcads"):
        post(client, envelope(QUERY, find_documents(), headers=headers, message_id=MESSAGE_ID))
        wait_for(lambda: failed_records(settings))

    assert broken_receiver.attempts == 3
    (record,) = failed_records(settings)
    assert record["relates_to"] == MESSAGE_ID
    assert record["action"] == QUERY
    assert record["address"] == f"{broken_receiver.url}/replies"
    assert record["attempts"] == 3
    assert record["error"] == "HTTP 503"
    assert "async.failed" in caplog.text
    patient_number = PATIENT.split("^")[0]
    assert patient_number not in caplog.text
    assert patient_number not in settings.failed_deliveries_path.read_text()


def test_unreachable_reply_to_is_recorded(client, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    headers = reply_to(f"http://127.0.0.1:{closed_port}/replies")

    post(client, envelope(QUERY, find_documents(), headers=headers, message_id=MESSAGE_ID))

    wait_for(lambda: failed_records(settings))
    (record,) = failed_records(settings)
    assert record["error"] == "ConnectError"


def test_shutdown_records_answers_not_yet_delivered(tmp_path, broken_receiver):
    settings = async_settings(tmp_path, async_backoff_seconds=60, async_shutdown_seconds=0.2)
    app = create_app(settings)
    headers = reply_to(broken_receiver.url)

    with TestClient(app) as client:
        reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))
        wait_for(lambda: broken_receiver.attempts == 1)

    assert reply.status_code == 202
    (record,) = failed_records(settings)
    assert (record["error"], record["attempts"]) == ("shutdown", 1)
    app.state.registry.close()


# --- Refused -----------------------------------------------------------------------------------


def test_reply_to_host_not_allowed_is_a_sender_fault(client, receiver):
    headers = reply_to("http://10.1.2.3:8080/replies")

    reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))

    assert reply.status_code == 400
    assert fault_code(reply) == ("env:Sender", "wsa:InvalidAddressingHeader")
    assert b"10.1.2.3" in reply.content
    assert receiver.attempts == 0


def test_fault_to_host_not_allowed_is_a_sender_fault(client, receiver):
    headers = reply_to(receiver.url, fault_to="http://metadata.internal/faults")

    reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))

    assert reply.status_code == 400
    root = etree.fromstring(reply.content)
    problem = root.findtext(".//wsa:ProblemHeaderQName", namespaces=NS)
    assert problem.endswith(":FaultTo")


def test_without_allowed_hosts_only_anonymous_reply_to_is_supported(tmp_path):
    app = create_app(async_settings(tmp_path, async_allowed_reply_hosts=[]))
    headers = reply_to("http://127.0.0.1:9/replies")

    with TestClient(app) as client:
        reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))

    assert reply.status_code == 400
    root = etree.fromstring(reply.content)
    subcodes = root.xpath("//env:Code/env:Subcode//env:Value/text()", namespaces=NS)
    assert [value.split(":")[1] for value in subcodes] == [
        "InvalidAddressingHeader",
        "OnlyAnonymousAddressSupported",
    ]
    app.state.registry.close()


def test_reply_to_without_message_id_is_a_required_header_fault(client, receiver):
    message = (
        f"<env:Envelope xmlns:env='{NS['env']}' xmlns:wsa='{NS['wsa']}'><env:Header>"
        f"<wsa:Action>{QUERY}</wsa:Action>{reply_to(receiver.url)}"
        f"</env:Header><env:Body>{find_documents()}</env:Body></env:Envelope>"
    ).encode()

    reply = post(client, message)

    assert fault_code(reply) == ("env:Sender", "wsa:MessageAddressingHeaderRequired")


def test_too_many_waiting_answers_is_a_receiver_fault(tmp_path, receiver):
    app = create_app(async_settings(tmp_path, async_max_pending=0))
    headers = reply_to(receiver.url)

    with TestClient(app) as client:
        reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))

    assert reply.status_code == 503
    assert fault_code(reply)[0] == "env:Receiver"
    app.state.registry.close()


def test_anonymous_reply_to_is_answered_on_the_same_connection(client):
    headers = reply_to("http://www.w3.org/2005/08/addressing/anonymous")

    reply = post(client, envelope(QUERY, find_documents(), headers=headers, message_id="m"))

    assert reply.status_code == 200
    assert header(etree.fromstring(reply.content), "To") is None


@pytest.mark.parametrize(
    ("address", "patterns", "allowed"),
    [
        ("https://gw.example.org/reply", ["gw.example.org"], True),
        ("https://GW.Example.org/reply", ["gw.example.org"], True),
        ("https://a.b.example.org/reply", ["*.example.org"], True),
        ("https://example.org.evil.test/reply", ["*.example.org"], False),
        ("http://gw.example.org:8080/reply", ["gw.example.org:8080"], True),
        ("http://gw.example.org/reply", ["gw.example.org:8080"], False),
        ("https://gw.example.org/reply", ["gw.example.org:443"], True),
        ("http://[::1]:8080/reply", ["[::1]:8080"], True),
        ("http://gw.example.org@10.0.0.1/reply", ["gw.example.org"], False),
        ("ftp://gw.example.org/reply", ["gw.example.org"], False),
        ("urn:example:reply", ["*"], False),
        ("http://anything.test/reply", ["*"], True),
    ],
)
def test_reply_to_host_patterns(address, patterns, allowed):
    try:
        check_reply_address(address, patterns)
    except SoapFault:
        assert not allowed
    else:
        assert allowed
