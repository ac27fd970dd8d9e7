"""Helpers for the MHD Document Responder tests: searches, their answers, and seeding a registry."""

from __future__ import annotations

import httpx
from fhir.resources.R4B.bundle import Bundle
from validation_samples import PATIENT, submission

from registry.metadata import DocumentEntry, Folder, Submission
from registry.store import RegistryStore

Params = dict[str, str] | list[tuple[str, str]]


def patient_token(cx: str = PATIENT) -> str:
    """The patient.identifier token `urn:oid:<aa>|<id>` of a CX `id^^^&aa&ISO`."""
    value, authority = cx.split("^^^&")
    return f"urn:oid:{authority.split('&')[0]}|{value}"


def with_patient(params: Params, *, status: str | None = "current") -> list[tuple[str, str]]:
    """The parameters plus patient.identifier of PATIENT and, unless None, status."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    pairs.insert(0, ("patient.identifier", patient_token()))
    if status is not None:
        pairs.append(("status", status))
    return pairs


def found(response: httpx.Response) -> list[dict]:
    """The resources of a searchset Bundle answer, checked to be a valid FHIR Bundle."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset"
    return [entry["resource"] for entry in bundle.get("entry", [])]


def unique_ids(response: httpx.Response) -> set[str]:
    """The uniqueIds (masterIdentifier as registered) of the DocumentReferences found."""
    ids = set()
    for resource in found(response):
        usual = next(i for i in resource["identifier"] if i["use"] == "usual")
        value, system = usual["value"], usual.get("system", "")
        if system.startswith("urn:oid:"):
            value = f"{system.removeprefix('urn:oid:')}^{value}"
        ids.add(value.removeprefix("urn:oid:").removeprefix("urn:uuid:"))
    return ids


def search(client, params: Params, *, status: str | None = "current") -> httpx.Response:
    """GET an ITI-67 search for PATIENT's documents."""
    return client.get("/fhir/DocumentReference", params=with_patient(params, status=status))


def outcome(response: httpx.Response, status: int = 400) -> str:
    """The diagnostics of an OperationOutcome answer with `status`."""
    assert response.status_code == status, response.text
    resource = response.json()
    assert resource["resourceType"] == "OperationOutcome"
    return " ".join(issue["diagnostics"] for issue in resource["issue"])


def seed(
    store: RegistryStore, *entries: DocumentEntry, folders: tuple[Folder, ...] = (), **set_values
) -> Submission:
    """Register `entries` and `folders` as one submission, straight into the registry store.

    `set_values` override SubmissionSet attributes.
    """
    registered = submission(*entries, folders=folders, **set_values)
    store.register(registered, lambda: None)
    return registered
