"""The NIST FHIR Toolkit MHD 4.2.0 Document Recipient tests, replayed against `POST /fhir`.

Each TestScript of the collections MHDv420_DocumentRecipient_comprehensive and _minimal is one
fixture under `tests/fixtures/nist_mhd/` (see its README) and one pytest item
(`test_nist_mhd[comprehensive/Bad_Patient_Link]`). A replay fills the toolkit's variables as the
toolkit does (fresh uniqueIds, the test patient, the original's location), posts each bundle and
checks what the TestScript asserts: the HTTP status, the transaction-response Bundle or the
OperationOutcome, and what was persisted. The toolkit checks persistence with ITI-67 searches;
here the registry store is asked instead (by uniqueId for SubmissionSets and DocumentEntries, by
entryUUID and Association for the replace, transform and append scripts), and a failed
submission must leave the registry and the document store empty.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from mhd_support import FIXTURES, make_app, post, stored_files

from registry.metadata import AssociationType, AvailabilityStatus
from registry.store import (
    AssociationQuery,
    DocumentEntryQuery,
    RegistryStore,
    SubmissionSetQuery,
)

CASES = FIXTURES / "nist_mhd"

# The toolkit's test patient William EXTRA-ONE (Test_Patients collection), by its IHE RED domain
# identifier. xcads keeps no Patient resources, so the server URL the toolkit puts in
# `${patientResourceId}` becomes the conditional reference by that identifier.
PATIENT_SYSTEM = "urn:oid:1.3.6.1.4.1.21367.13.20.1000"
PATIENT_VALUE = "IHERED-2654"
PATIENT_REFERENCE = f"Patient?identifier={PATIENT_SYSTEM}|{PATIENT_VALUE}"
PATIENT_ID = f"{PATIENT_VALUE}^^^&{PATIENT_SYSTEM.removeprefix('urn:oid:')}&ISO"

RELATIONSHIPS = {
    "replaces": AssociationType.REPLACE,
    "transforms": AssociationType.TRANSFORM,
    "appends": AssociationType.APPEND,
}
STATUSES = {"current": AvailabilityStatus.APPROVED, "superseded": AvailabilityStatus.DEPRECATED}


@dataclass
class Case:
    """One TestScript: its fixture file and what it expects."""

    name: str
    spec: dict[str, Any]


def load_cases() -> list[Case]:
    """Every fixture, named `<comprehensive|minimal>/<TestScript folder>`."""
    return [
        Case(f"{path.parent.name}/{path.stem}", json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(CASES.glob("*/*.json"))
    ]


ALL_CASES = load_cases()


def prepare(bundle: dict, original: str | None = None) -> dict:
    """Fill the toolkit's variables and give every SubmissionSet and document a fresh uniqueId."""
    text = json.dumps(bundle)
    text = text.replace("${patientResourceId}", PATIENT_REFERENCE)
    if original is not None:
        text = text.replace("${original}", original)
    text = text.replace("@{RandomUUID}", str(uuid.uuid4()))
    prepared = json.loads(text)

    for entry in prepared["entry"]:
        resource = entry.get("resource", {})
        master = resource.get("masterIdentifier", {})
        if resource.get("resourceType") == "DocumentReference" and master.get("value"):
            master["value"] = fresh_oid()
        if resource.get("resourceType") == "List":
            for identifier in resource.get("identifier", []):
                if identifier.get("use") == "usual" and identifier.get("value"):
                    identifier["value"] = fresh_oid()
    return prepared


def fresh_oid() -> str:
    """A uniqueId no other submission uses, as the toolkit allocates one per send."""
    return f"urn:oid:1.2.129.6.58.92.{uuid.uuid4().int % 10**12}.{uuid.uuid4().int % 10**6}"


def resources(bundle: dict, resource_type: str) -> list[dict]:
    """The resources of one type among a bundle's entries."""
    return [
        entry["resource"]
        for entry in bundle["entry"]
        if entry.get("resource", {}).get("resourceType") == resource_type
    ]


def unique_id(value: str) -> str:
    """The XDS uniqueId an MHD identifier value stands for (MHD 3:4.5.1.1: `urn:oid:` dropped)."""
    for prefix in ("urn:oid:", "urn:uuid:"):
        if value.lower().startswith(prefix):
            return value[len(prefix) :]
    return value


def submission_set_unique_ids(bundle: dict) -> list[str]:
    """The usual identifiers of the bundle's Lists, as uniqueIds."""
    return [
        unique_id(identifier["value"])
        for resource in resources(bundle, "List")
        for identifier in resource.get("identifier", [])
        if identifier.get("use") == "usual" and identifier.get("value")
    ]


def document_unique_ids(bundle: dict) -> list[str]:
    """The masterIdentifiers of the bundle's DocumentReferences, as uniqueIds."""
    return [
        unique_id(resource["masterIdentifier"]["value"])
        for resource in resources(bundle, "DocumentReference")
        if resource.get("masterIdentifier", {}).get("value")
    ]


def assert_transaction_response(response: Any, request: dict, expected_entries: int) -> None:
    """TR_1..: HTTP 200, a transaction-response Bundle, one created entry per request entry."""
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["resourceType"] == "Bundle"
    assert answer["type"] == "transaction-response"
    assert len(answer["entry"]) == expected_entries == len(request["entry"])
    for sent, received in zip(request["entry"], answer["entry"], strict=True):
        assert received["response"]["status"].startswith("201"), received
        assert received["response"]["location"].startswith(sent["resource"]["resourceType"] + "/")


def assert_persisted(registry: RegistryStore, data_dir: Path, bundle: dict, spec: dict) -> None:
    """What the toolkit's List and DocumentReference searches would find after a success."""
    for ss_unique_id in submission_set_unique_ids(bundle):
        found = registry.submission_sets_by_unique_id([ss_unique_id])
        assert len(found) == spec.get("persisted_lists", 1)
        assert found[0].patient_id == PATIENT_ID

    binaries = {
        entry["fullUrl"]: base64.b64decode(entry["resource"]["data"])
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Binary"
    }
    references = resources(bundle, "DocumentReference")
    for reference, document_unique_id in zip(references, document_unique_ids(bundle), strict=True):
        found = registry.document_entries_by_unique_id([document_unique_id])
        assert len(found) == spec.get("persisted_document_references", 1)
        entry = found[0]
        assert entry.availability_status == AvailabilityStatus.APPROVED
        assert entry.patient_id == PATIENT_ID
        data = binaries[reference["content"][0]["attachment"]["url"]]
        assert entry.size == len(data)
        assert entry.hash == hashlib.sha1(data, usedforsecurity=False).hexdigest()
    assert len(stored_files(data_dir)) == len(references) + spec.get("documents_before", 0)


def assert_rejected(
    response: Any, registry: RegistryStore, data_dir: Path, bundle: dict, fault: str
) -> None:
    """PDBFails: HTTP 400, an OperationOutcome with an error at the fault, nothing persisted."""
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    at_fault = [
        issue
        for issue in outcome["issue"]
        if issue["severity"] in ("error", "fatal")
        and any(path.startswith(fault) for path in issue.get("expression", []))
    ]
    assert at_fault, f"no error at {fault}: {outcome}"

    assert registry.submission_sets_by_unique_id(submission_set_unique_ids(bundle)) == []
    assert registry.document_entries_by_unique_id(document_unique_ids(bundle)) == []
    statuses = [AvailabilityStatus.APPROVED, AvailabilityStatus.DEPRECATED]
    assert registry.find_document_entries(DocumentEntryQuery(patient_id=PATIENT_ID), 10) == []
    assert registry.find_submission_sets(SubmissionSetQuery(PATIENT_ID, statuses), 10) == []
    assert stored_files(data_dir) == []


def replay(case: Case, data_dir: Path) -> None:
    """Send the TestScript's bundles in order and check each outcome it asserts."""
    spec = case.spec
    with TestClient(make_app(data_dir)) as client:
        registry = client.app.state.registry
        if spec["module"] == "MHDPDBFails":
            bundle = prepare(spec["steps"][0]["bundle"])
            assert len(bundle["entry"]) == spec["request_entries"]
            response = post(client, bundle)
            assert_rejected(response, registry, data_dir, bundle, spec["fault"])
        elif "relationship" in spec:
            replay_relationship(client, registry, data_dir, spec)
        else:
            bundle = prepare(spec["steps"][0]["bundle"])
            response = post(client, bundle)
            assert_transaction_response(response, bundle, spec["response_entries"])
            assert_persisted(registry, data_dir, bundle, spec)


def replay_relationship(
    client: TestClient, registry: RegistryStore, data_dir: Path, spec: dict
) -> None:
    """DocumentReplace/Addendum/Transforms: the original, then a document related to it."""
    original_bundle = prepare(spec["steps"][0]["bundle"])
    response = post(client, original_bundle)
    assert_transaction_response(response, original_bundle, len(original_bundle["entry"]))
    assert_persisted(registry, data_dir, original_bundle, {})
    original = response.json()["entry"][0]["response"]["location"]
    assert original.startswith("DocumentReference/")

    related_bundle = prepare(spec["steps"][1]["bundle"], original=original)
    response = post(client, related_bundle)
    assert_transaction_response(response, related_bundle, len(related_bundle["entry"]))
    assert_persisted(registry, data_dir, related_bundle, {"documents_before": 1})
    related = response.json()["entry"][0]["response"]["location"]

    original_uuid = "urn:uuid:" + original.removeprefix("DocumentReference/")
    related_uuid = "urn:uuid:" + related.removeprefix("DocumentReference/")
    [original_entry] = registry.document_entries_by_uuid([original_uuid])
    assert original_entry.availability_status == STATUSES[spec["original_status_after"]]
    [related_entry] = registry.document_entries_by_uuid([related_uuid])
    assert related_entry.availability_status == AvailabilityStatus.APPROVED
    associations = registry.find_associations(
        AssociationQuery(
            source_objects=[related_uuid],
            target_objects=[original_uuid],
            association_types=[RELATIONSHIPS[spec["relationship"]]],
        ),
        limit=10,
    )
    assert len(associations) == 1


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: case.name)
def test_nist_mhd(case: Case, tmp_path: Path) -> None:
    """Each MHD 4.2.0 Document Recipient TestScript gets the outcome it expects."""
    replay(case, tmp_path)


def test_nist_mhd_collection_on_one_server(tmp_path: Path) -> None:
    """Run in order on one server, as the toolkit does, the same fullUrls in every bundle."""
    with TestClient(make_app(tmp_path)) as client:
        registry = client.app.state.registry
        stored = 0
        for case in ALL_CASES:
            if case.spec["outcome"] != "success":
                continue
            for step in case.spec["steps"][:1]:
                bundle = prepare(step["bundle"])
                response = post(client, bundle)
                assert_transaction_response(response, bundle, len(bundle["entry"]))
                assert_persisted(registry, tmp_path, bundle, {"documents_before": stored})
                stored += len(resources(bundle, "DocumentReference"))


def test_every_testscript_of_both_collections_is_replayed() -> None:
    """The fixtures cover both collections, 26 comprehensive and 17 minimal TestScripts."""
    names = [case.name for case in ALL_CASES]
    assert sum(name.startswith("comprehensive/") for name in names) == 26
    assert sum(name.startswith("minimal/") for name in names) == 17


def test_prepare_fills_every_toolkit_variable() -> None:
    """No toolkit placeholder survives into a posted bundle; uniqueIds are fresh per send."""
    for case in ALL_CASES:
        for step in case.spec["steps"]:
            first = prepare(copy.deepcopy(step["bundle"]), original="DocumentReference/x")
            text = json.dumps(first)
            assert "${" not in text and "@{" not in text, case.name
            second = prepare(step["bundle"], original="DocumentReference/x")
            assert set(document_unique_ids(first)).isdisjoint(document_unique_ids(second))
