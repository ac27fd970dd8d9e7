"""Helpers shared by the MHD tests: fixture bundles, an app to post them to, and assertions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from httpx import Response
from lxml import etree

from gateway.app import create_app
from gateway.config import Settings

FIXTURES = Path(__file__).parent / "fixtures"
FHIR_JSON = "application/fhir+json"
XDS_ERROR_CODE_SYSTEM = "https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html#4.2.4.1"

_BUNDLES: dict[str, dict] = {}


def fixture_bundle(name: str) -> dict:
    """A fresh copy of a fixture bundle (`nhn` or `ihe`)."""
    if name not in _BUNDLES:
        path = FIXTURES / f"{name}-comprehensive-bundle.json"
        _BUNDLES[name] = json.loads(path.read_text(encoding="utf-8-sig"))
    return copy.deepcopy(_BUNDLES[name])


def resource(bundle: dict, index: int) -> dict:
    """The resource of entry `index`."""
    return bundle["entry"][index]["resource"]


def encode(bundle: dict) -> bytes:
    """Serialise a bundle as the wire carries it."""
    return json.dumps(bundle, ensure_ascii=False).encode("utf-8")


def make_app(data_dir: Path) -> FastAPI:
    """The service's app on an empty data folder."""
    return create_app(Settings(data_dir=data_dir))


def post(client: TestClient, body: dict | bytes, content_type: str = FHIR_JSON) -> Response:
    """POST a bundle to the ITI-65 endpoint."""
    content = body if isinstance(body, bytes) else encode(body)
    return client.post("/fhir", content=content, headers={"Content-Type": content_type})


def issues(response: Response) -> list[tuple[str, str]]:
    """The (XDS code, FHIRPath) of every issue of an OperationOutcome response."""
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome", outcome
    found = []
    for issue in outcome["issue"]:
        coding = issue["details"]["coding"][0]
        assert coding["system"] == XDS_ERROR_CODE_SYSTEM
        assert issue["diagnostics"]
        found.append((coding["code"], (issue.get("expression") or [""])[0]))
    return found


def stored_files(data_dir: Path) -> list[Path]:
    """Every file the document store holds, staged or promoted."""
    return [path for path in (data_dir / "documents").rglob("*") if path.is_file()]


FHIR_XML = "application/fhir+xml"
FORMATS = ("json", "xml")


def as_xml(bundle: dict) -> bytes:
    """A bundle in FHIR XML, as fhir.resources serialises it."""
    return Bundle.model_validate(bundle).model_dump_xml()


def send(
    client: TestClient, bundle: dict, wire: str, path: str = "/fhir", **headers: str
) -> tuple[Response, dict]:
    """POST a bundle in `wire` format ("json" or "xml"); return the response and its resource."""
    if wire == "xml":
        content, content_type = as_xml(bundle), FHIR_XML
    else:
        content, content_type = encode(bundle), FHIR_JSON
    response = client.post(path, content=content, headers={"Content-Type": content_type, **headers})
    return response, read_resource(response)


def read_resource(response: Response) -> dict:
    """The FHIR resource of a response in either format, as JSON-shaped data."""
    if response.headers["content-type"].startswith(FHIR_XML):
        root = etree.fromstring(response.content)
        model = get_fhir_model_class(etree.QName(root).localname)
        return json.loads(model.model_validate_xml(response.content).model_dump_json())
    return response.json()


def outcome_issues(resource: dict) -> list[tuple[str, str]]:
    """The (XDS code, FHIRPath) of every issue of an OperationOutcome resource."""
    assert resource["resourceType"] == "OperationOutcome", resource
    return [
        (issue["details"]["coding"][0]["code"], (issue.get("expression") or [""])[0])
        for issue in resource["issue"]
    ]
