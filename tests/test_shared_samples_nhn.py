"""Replay NHN's published sample traffic (../shared/samples/nhn) against a running `xcads serve`.

The ITI-65 bundle is posted as captured but for attachment.language ("nb"), which NHN's export
leaves out and the server's default profile (ihe) requires. The national gateway's ITI-38 and
ITI-39 requests are pointed at the stored document (patient id and document uniqueId) and
otherwise sent byte for byte, the ITI-39 one with the HTTP Content-Type the capture was taken with.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from servers import SOAP, Server
from soap_messages import NS, split_multipart

from gateway.config import TEST_HOME_COMMUNITY_ID, TEST_REPOSITORY_UNIQUE_ID

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "nhn"

pytestmark = pytest.mark.skipif(
    os.environ.get("XCADS_NO_SHARED") == "1", reason="XCADS_NO_SHARED=1: ../shared not used"
)

CAPTURE_CONTENT_TYPE = (
    'multipart/related; boundary="MIMEBoundary_cab1d70f258a850f06f926ab5645aaa9111f017d951cfe8d";'
    ' type="application/xop+xml";'
    ' start="<0.dab1d70f258a850f06f926ab5645aaa9111f017d951cfe8d@apache.org>";'
    ' start-info="application/soap+xml"; action="urn:ihe:iti:2007:CrossGatewayRetrieve"'
)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Iterator[tuple[Server, dict]]:
    assert SAMPLES.is_dir(), f"{SAMPLES} is missing (set XCADS_NO_SHARED=1 without ../shared)"
    server = Server(
        tmp_path_factory.mktemp("nhn") / "data",
        home=TEST_HOME_COMMUNITY_ID,
        repository=TEST_REPOSITORY_UNIQUE_ID,
    )
    raw = (SAMPLES / "iti65-provide-bundle.json").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    bundle = json.loads(raw.decode("utf-8-sig"))
    _resource(bundle, "DocumentReference")["content"][0]["attachment"]["language"] = "nb"
    response = server.http.post(
        "/fhir",
        content=json.dumps(bundle, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text
    yield server, bundle
    server.stop()


def test_nhn_bundle_is_stored_and_its_resubmission_is_a_duplicate(stored):
    server, bundle = stored
    response = server.http.post(
        "/fhir",
        content=json.dumps(bundle).encode(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code in (400, 409, 422)
    codes = [c["code"] for i in response.json()["issue"] for c in i["details"]["coding"]]
    assert "XDSDuplicateUniqueIdInRegistry" in codes


def test_national_gateway_find_documents_finds_the_nhn_document(stored):
    server, bundle = stored
    patient = _resource(bundle, "Patient")["identifier"][0]["value"]
    reference = _resource(bundle, "DocumentReference")
    text = (SAMPLES / "iti38-finddocuments-with-saml.xml").read_text(encoding="utf-8")
    text = re.sub(r"'\d{11}\^\^\^", f"'{patient}^^^", text)

    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=text.encode(),
        headers={"Content-Type": SOAP},
    )

    assert reply.status_code == 200, reply.text
    root = etree.fromstring(reply.content)
    (extrinsic,) = root.xpath("//rim:ExtrinsicObject", namespaces=NS)
    assert extrinsic.get("home") == TEST_HOME_COMMUNITY_ID
    unique_ids = extrinsic.xpath(
        "rim:ExternalIdentifier[@identificationScheme="
        "'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']/@value",
        namespaces=NS,
    )
    assert unique_ids == [reference["masterIdentifier"]["value"].removeprefix("urn:uuid:")]


def test_national_gateway_mtom_retrieve_returns_the_nhn_document(stored):
    server, bundle = stored
    reference = _resource(bundle, "DocumentReference")
    binary = _resource(bundle, "Binary")
    capture = (SAMPLES / "iti39-retrieve-mtom-from-gateway.txt").read_bytes()
    capture = re.sub(
        rb"<ns3:DocumentUniqueId>[^<]+</ns3:DocumentUniqueId>",
        f"<ns3:DocumentUniqueId>{reference['masterIdentifier']['value'].removeprefix('urn:uuid:')}"
        "</ns3:DocumentUniqueId>".encode(),
        capture,
    )

    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=capture,
        headers={"Content-Type": CAPTURE_CONTENT_TYPE},
    )

    assert reply.status_code == 200, reply.text
    parts = split_multipart(reply.headers["content-type"], reply.content)
    root = etree.fromstring(parts[0].data)
    assert root.xpath("//rs:RegistryResponse/@status", namespaces=NS) == [
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    ]
    assert [part.data for part in parts[1:]] == [base64.b64decode(binary["data"])]


def _resource(bundle: dict, resource_type: str) -> dict:
    return next(
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == resource_type
    )
