"""The README's example messages work against the service, under both validation profiles."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from soap_messages import NS, split_multipart

from gateway.app import create_app
from gateway.config import Settings

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SOAP = {"Content-Type": "application/soap+xml"}
XCA = "/XCA/services/RespondingGatewayService"


@pytest.mark.parametrize("profile", ["ihe", "norway"])
def test_readme_examples_submit_find_and_retrieve(tmp_path, profile):
    settings = Settings(data_dir=tmp_path / "data", profile=profile, accept_synthetic_ids=True)
    with TestClient(create_app(settings)) as client:
        submitted = client.post(
            "/fhir",
            content=(EXAMPLES / "iti65-provide-bundle.json").read_bytes(),
            headers={"Content-Type": "application/fhir+json"},
        )
        found = client.post(
            XCA, content=(EXAMPLES / "iti38-find-documents.xml").read_bytes(), headers=SOAP
        )
        retrieved = client.post(
            XCA, content=(EXAMPLES / "iti39-retrieve.xml").read_bytes(), headers=SOAP
        )

    assert submitted.status_code == 200, submitted.text
    assert len(etree.fromstring(found.content).xpath("//rim:ExtrinsicObject", namespaces=NS)) == 1
    parts = split_multipart(retrieved.headers["content-type"], retrieved.content)
    assert parts[1].data.startswith(b"Epikrise")
