"""Helpers shared by the MHD tests: fixture bundles, an app to post them to, and assertions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

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
