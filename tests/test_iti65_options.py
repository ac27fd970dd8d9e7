"""ITI-65 beyond one new document: FHIR XML, Folders, relatesTo, Minimal metadata, national OIDs.

Every test runs with the bundle sent as JSON and as XML; the answer comes in the same format.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundles import Document, provide_bundle
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mhd_support import (
    FHIR_JSON,
    FHIR_XML,
    FORMATS,
    as_xml,
    encode,
    outcome_issues,
    read_resource,
    send,
    stored_files,
)

from gateway.app import create_app
from gateway.config import Settings
from registry.metadata import AssociationType
from registry.store import AssociationQuery

PATIENT = "13116900216"
MHD = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
SUBMISSION_SET = "Bundle.entry[0].resource"
DOCUMENT = "Bundle.entry[3].resource"

pytestmark = pytest.mark.parametrize("wire", FORMATS)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(data_dir) -> FastAPI:
    return create_app(Settings(data_dir=data_dir))


def new_bundle(text: str = "Hello") -> dict:
    """One document for PATIENT: entries SubmissionSet, Patient, Binary, DocumentReference."""
    return provide_bundle(PATIENT, [Document(f"{text} {uuid.uuid4()}".encode())])


def document_uuid(bundle: dict) -> str:
    return bundle["entry"][3]["fullUrl"]


def stored(client: TestClient, wire: str, bundle: dict) -> dict:
    response, answer = send(client, bundle, wire)
    assert response.status_code == 200, answer
    return answer


def rejected(client: TestClient, wire: str, bundle: dict) -> list[tuple[str, str]]:
    response, answer = send(client, bundle, wire)
    assert response.status_code == 400, answer
    return outcome_issues(answer)


def status_of(app: FastAPI, entry_uuid: str) -> str:
    (entry,) = app.state.registry.document_entries_by_uuid([entry_uuid])
    return entry.availability_status.rsplit(":", 1)[-1]


def associations(app: FastAPI, source: str, association_type: str) -> list:
    query = AssociationQuery(source_objects=[source], association_types=[association_type])
    return app.state.registry.find_associations(query, 100)


def folder_list(members: list[str], *, full_url: str | None = None) -> dict:
    """A Comprehensive Folder List entry holding `members` (fullUrls of the bundle)."""
    return {
        "fullUrl": full_url or f"urn:uuid:{uuid.uuid4()}",
        "resource": {
            "resourceType": "List",
            "meta": {"profile": [MHD + "IHE.MHD.Comprehensive.Folder"]},
            "extension": [
                {
                    "url": MHD + "ihe-designationType",
                    "valueCodeableConcept": {
                        "coding": [{"system": "http://snomed.info/sct", "code": "225728007"}]
                    },
                }
            ],
            "identifier": [
                {
                    "use": "usual",
                    "system": "urn:ietf:rfc:3986",
                    "value": f"urn:oid:2.25.{uuid.uuid4().int}",
                }
            ],
            "status": "current",
            "mode": "working",
            "title": "Svangerskap",
            "code": {"coding": [{"system": LIST_TYPES, "code": "folder"}]},
            "subject": {"reference": "urn:uuid:" + "0" * 8 + "-0000-0000-0000-" + "0" * 12},
            "entry": [{"item": {"reference": member}} for member in members],
        },
        "request": {"method": "POST", "url": "List"},
    }


def with_folder(bundle: dict, folder: dict) -> dict:
    """Add a Folder to a bundle, with the bundle's patient, listed by its SubmissionSet."""
    folder["resource"]["subject"] = bundle["entry"][0]["resource"]["subject"]
    bundle["entry"].append(folder)
    bundle["entry"][0]["resource"]["entry"].append({"item": {"reference": folder["fullUrl"]}})
    return bundle


def relating(bundle: dict, code: str, target: str) -> dict:
    bundle["entry"][3]["resource"]["relatesTo"] = [
        {"code": code, "target": {"reference": f"DocumentReference/{target}"}}
    ]
    return bundle


def superseding(bundle: dict, target: str, value: str = "superseded") -> dict:
    """Add the PATCH of IHE.MHD.Patch.Parameters marking `target` superseded."""
    parameters = {
        "resourceType": "Parameters",
        "meta": {"profile": [MHD + "IHE.MHD.Patch.Parameters"]},
        "parameter": [
            {
                "name": "operation",
                "part": [
                    {"name": "path", "valueString": "DocumentReference.status"},
                    {"name": "type", "valueCode": "replace"},
                    {"name": "value", "valueCode": value},
                ],
            }
        ],
    }
    bundle["entry"].append(
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": parameters,
            "request": {"method": "PATCH", "url": f"DocumentReference/{target}"},
        }
    )
    return bundle


def bare(urn: str) -> str:
    return urn.removeprefix("urn:uuid:")


# FHIR XML and the format of the answer


def test_bundle_is_stored_and_answered_in_the_format_sent(client, app, wire):
    bundle = new_bundle()

    response, answer = send(client, bundle, wire)

    assert response.status_code == 200, answer
    assert response.headers["content-type"].startswith(FHIR_XML if wire == "xml" else FHIR_JSON)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 4
    assert answer["entry"][3]["response"]["location"] == "DocumentReference/" + bare(
        document_uuid(bundle)
    )
    assert status_of(app, document_uuid(bundle)) == "Approved"


@pytest.mark.parametrize(
    ("query", "accept", "expected"),
    [
        ("?_format=xml", None, FHIR_XML),
        ("?_format=application/fhir%2Bjson", None, FHIR_JSON),
        ("", "application/fhir+xml", FHIR_XML),
        ("", "application/fhir+json", FHIR_JSON),
        ("?_format=json", "application/fhir+xml", FHIR_JSON),
    ],
)
def test_format_parameter_then_accept_choose_the_answer_format(
    client, wire, query, accept, expected
):
    headers = {"Accept": accept} if accept else {}
    response, answer = send(client, new_bundle(), wire, path="/fhir" + query, **headers)

    assert response.status_code == 200, answer
    assert response.headers["content-type"].startswith(expected)
    assert answer["type"] == "transaction-response"


def test_an_unknown_format_parameter_is_not_acceptable(client, data_dir, wire):
    response, answer = send(client, new_bundle(), wire, path="/fhir?_format=csv")

    assert response.status_code == 406
    assert outcome_issues(answer) == [("XDSRegistryMetadataError", "")]
    assert stored_files(data_dir) == []


def test_errors_are_answered_in_the_format_sent(client, data_dir, wire):
    bundle = new_bundle()
    del bundle["entry"][3]["resource"]["masterIdentifier"]

    response, answer = send(client, bundle, wire)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith(FHIR_XML if wire == "xml" else FHIR_JSON)
    assert ("XDSRegistryMetadataError", f"{DOCUMENT}.masterIdentifier") in outcome_issues(answer)
    assert stored_files(data_dir) == []


def test_xml_with_a_doctype_is_refused(client, data_dir, wire):
    xml = as_xml(new_bundle()).replace(
        b"<Bundle", b'<!DOCTYPE Bundle [<!ENTITY x SYSTEM "file:///etc/passwd">]><Bundle', 1
    )
    response = client.post("/fhir", content=xml, headers={"Content-Type": FHIR_XML})

    assert response.status_code == 400
    assert outcome_issues(read_resource(response)) == [("XDSRegistryMetadataError", "Bundle")]
    assert b"root:" not in response.content
    assert stored_files(data_dir) == []


def test_xml_that_is_not_a_fhir_resource_is_refused(client, data_dir, wire):
    for body in (b"<Bundle/>", b"<Bundle xmlns='http://hl7.org/fhir'><type", b"<x:Nothing />"):
        response = client.post("/fhir", content=body, headers={"Content-Type": FHIR_XML})
        assert response.status_code == 400, response.text
        assert outcome_issues(read_resource(response))[0][0] == "XDSRegistryMetadataError"
    assert stored_files(data_dir) == []


def test_xml_nested_beyond_the_limit_is_refused(client, data_dir, wire):
    deep = b"<extension url='x'>" * 200 + b"</extension>" * 200
    body = b"<Bundle xmlns='http://hl7.org/fhir'><type value='transaction'/>" + deep + b"</Bundle>"
    response = client.post("/fhir", content=body, headers={"Content-Type": FHIR_XML})

    assert response.status_code == 400
    (issue,) = outcome_issues(read_resource(response))
    assert issue == ("XDSRegistryMetadataError", "Bundle")
    assert stored_files(data_dir) == []


def test_validate_answers_in_the_format_sent_and_stores_nothing(client, data_dir, wire):
    response, answer = send(client, new_bundle(), wire, path="/fhir/Bundle/$validate")

    assert response.status_code == 200, answer
    assert response.headers["content-type"].startswith(FHIR_XML if wire == "xml" else FHIR_JSON)
    assert answer["resourceType"] == "Parameters"
    (outcome,) = [p["resource"] for p in answer["parameter"] if p["name"] == "return"]
    assert [issue["severity"] for issue in outcome["issue"]] == ["information"]
    assert stored_files(data_dir) == []


def test_other_media_types_are_unsupported(client, wire):
    response = client.post(
        "/fhir", content=encode(new_bundle()), headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 415
    assert outcome_issues(response.json()) == [("XDSRegistryMetadataError", "")]


# Folders


def test_a_new_folder_is_registered_with_its_documents(client, app, wire):
    bundle = new_bundle()
    folder = folder_list([document_uuid(bundle)])
    with_folder(bundle, folder)

    answer = stored(client, wire, bundle)

    location = answer["entry"][4]["response"]
    assert location == {"status": "201 Created", "location": "List/" + bare(folder["fullUrl"])}
    (registered,) = app.state.registry.folders_by_uuid([folder["fullUrl"]])
    assert registered.title == "Svangerskap"
    assert [c.code for c in registered.code_list] == ["225728007"]
    (membership,) = associations(app, folder["fullUrl"], AssociationType.HAS_MEMBER)
    assert membership.target_object == document_uuid(bundle)


def test_a_folder_member_must_be_a_document_reference_of_the_bundle(client, data_dir, wire):
    bundle = with_folder(new_bundle(), folder_list([f"urn:uuid:{uuid.uuid4()}"]))

    assert rejected(client, wire, bundle) == [
        ("UnresolvedReferenceException", "Bundle.entry[4].resource.entry[0].item")
    ]
    assert stored_files(data_dir) == []


def test_a_folder_needs_its_comprehensive_elements(client, data_dir, wire):
    folder = folder_list([])
    del folder["resource"]["title"]
    del folder["resource"]["extension"]
    bundle = new_bundle()
    folder["resource"]["entry"] = [{"item": {"reference": document_uuid(bundle)}}]

    found = rejected(client, wire, with_folder(bundle, folder))

    assert ("XDSRegistryMetadataError", "Bundle.entry[4].resource.title") in found
    assert ("XDSRegistryMetadataError", "Bundle.entry[4].resource.extension") in found
    assert stored_files(data_dir) == []


def test_documents_are_added_to_an_existing_folder_with_put(client, app, wire):
    first = new_bundle()
    folder = folder_list([document_uuid(first)])
    stored(client, wire, with_folder(first, folder))
    (created,) = app.state.registry.folders_by_uuid([folder["fullUrl"]])
    created_at = created.last_update_time
    time.sleep(1.1)

    second = new_bundle()
    update = folder_list([document_uuid(first), document_uuid(second)])
    update["request"] = {"method": "PUT", "url": "List/" + bare(folder["fullUrl"])}
    second["entry"].append(update)
    second["entry"][-1]["resource"]["subject"] = second["entry"][0]["resource"]["subject"]
    answer = stored(client, wire, second)

    assert answer["entry"][4]["response"] == {
        "status": "200 OK",
        "location": "List/" + bare(folder["fullUrl"]),
    }
    members = associations(app, folder["fullUrl"], AssociationType.HAS_MEMBER)
    assert {m.target_object for m in members} == {document_uuid(first), document_uuid(second)}
    (updated,) = app.state.registry.folders_by_uuid([folder["fullUrl"]])
    assert updated.last_update_time > created_at


def test_a_put_must_name_a_folder_in_the_registry(client, data_dir, wire):
    bundle = new_bundle()
    update = folder_list([document_uuid(bundle)])
    update["request"] = {"method": "PUT", "url": f"List/{uuid.uuid4()}"}
    bundle["entry"].append(update)

    found = rejected(client, wire, bundle)

    assert [code for code, _ in found] == ["UnresolvedReferenceException"]
    assert stored_files(data_dir) == []


def test_a_put_to_another_patients_folder_is_refused(client, app, wire):
    theirs = provide_bundle("02030500457", [Document(b"someone else's")])
    folder = folder_list([theirs["entry"][3]["fullUrl"]])
    stored(client, wire, with_folder(theirs, folder))

    bundle = new_bundle()
    update = folder_list([document_uuid(bundle)])
    update["request"] = {"method": "PUT", "url": "List/" + bare(folder["fullUrl"])}
    bundle["entry"].append(update)

    assert [code for code, _ in rejected(client, wire, bundle)] == ["XDSPatientIdDoesNotMatch"]
    members = associations(app, folder["fullUrl"], AssociationType.HAS_MEMBER)
    assert [m.target_object for m in members] == [theirs["entry"][3]["fullUrl"]]


def test_only_a_folder_may_be_updated(client, data_dir, wire):
    bundle = new_bundle()
    bundle["entry"][0]["request"] = {"method": "PUT", "url": f"List/{uuid.uuid4()}"}

    assert ("XDSRegistryMetadataError", "Bundle.entry[0].request.method") in rejected(
        client, wire, bundle
    )
    assert stored_files(data_dir) == []


# relatesTo: replace, transform, append


def test_replaces_deprecates_the_original(client, app, wire):
    original = new_bundle("original")
    stored(client, wire, original)

    replacement = relating(new_bundle("replacement"), "replaces", bare(document_uuid(original)))
    stored(client, wire, replacement)

    assert status_of(app, document_uuid(original)) == "Deprecated"
    assert status_of(app, document_uuid(replacement)) == "Approved"
    (link,) = associations(app, document_uuid(replacement), AssociationType.REPLACE)
    assert link.target_object == document_uuid(original)


def test_replaces_with_the_superseded_patch_answers_200_for_the_patch(client, app, wire):
    original = new_bundle("original")
    stored(client, wire, original)
    target = bare(document_uuid(original))

    answer = stored(client, wire, superseding(relating(new_bundle(), "replaces", target), target))

    assert answer["entry"][4]["response"] == {
        "status": "200 OK",
        "location": f"DocumentReference/{target}",
    }
    assert status_of(app, document_uuid(original)) == "Deprecated"


def test_a_patch_must_supersede_a_document_the_bundle_replaces(client, app, data_dir, wire):
    original = new_bundle("original")
    stored(client, wire, original)
    files = stored_files(data_dir)

    bundle = superseding(new_bundle(), bare(document_uuid(original)))

    assert rejected(client, wire, bundle) == [
        ("XDSRegistryMetadataError", "Bundle.entry[4].request.url")
    ]
    assert status_of(app, document_uuid(original)) == "Approved"
    assert stored_files(data_dir) == files


def test_a_patch_may_only_set_status_superseded(client, app, wire):
    original = new_bundle("original")
    stored(client, wire, original)
    target = bare(document_uuid(original))

    bundle = superseding(relating(new_bundle(), "replaces", target), target, value="current")

    assert rejected(client, wire, bundle) == [
        ("XDSRegistryMetadataError", "Bundle.entry[4].resource.parameter")
    ]
    assert status_of(app, document_uuid(original)) == "Approved"


@pytest.mark.parametrize(
    ("code", "association_type"),
    [("transforms", AssociationType.TRANSFORM), ("appends", AssociationType.APPEND)],
)
def test_transforms_and_appends_link_without_deprecating(client, app, wire, code, association_type):
    original = new_bundle("original")
    stored(client, wire, original)

    addition = relating(new_bundle("addition"), code, bare(document_uuid(original)))
    stored(client, wire, addition)

    assert status_of(app, document_uuid(original)) == "Approved"
    (link,) = associations(app, document_uuid(addition), association_type)
    assert link.target_object == document_uuid(original)


def test_signs_may_name_a_document_of_the_same_bundle(client, app, wire):
    bundle = provide_bundle(PATIENT, [Document(b"document"), Document(b"signature")])
    signed, signature = bundle["entry"][4]["fullUrl"], bundle["entry"][5]["fullUrl"]
    bundle["entry"][5]["resource"]["relatesTo"] = [
        {"code": "signs", "target": {"reference": signed}}
    ]

    stored(client, wire, bundle)

    (link,) = associations(app, signature, AssociationType.SIGNS)
    assert link.target_object == signed


def test_relates_to_an_unknown_document_is_an_unresolved_reference(client, data_dir, wire):
    bundle = relating(new_bundle(), "replaces", str(uuid.uuid4()))

    assert rejected(client, wire, bundle) == [
        ("UnresolvedReferenceException", f"{DOCUMENT}.relatesTo[0].target")
    ]
    assert stored_files(data_dir) == []


def test_relates_to_must_name_a_document_by_its_id(client, data_dir, wire):
    bundle = relating(new_bundle(), "appends", "not-an-entry-uuid")

    assert rejected(client, wire, bundle) == [
        ("UnresolvedReferenceException", f"{DOCUMENT}.relatesTo[0].target")
    ]
    assert stored_files(data_dir) == []


def test_a_deprecated_document_cannot_be_replaced_again(client, app, wire):
    original = new_bundle("original")
    stored(client, wire, original)
    target = bare(document_uuid(original))
    stored(client, wire, relating(new_bundle(), "replaces", target))

    again = relating(new_bundle(), "replaces", target)

    assert rejected(client, wire, again) == [
        ("XDSRegistryDeprecatedDocumentError", f"{DOCUMENT}.relatesTo[0].target")
    ]
    assert app.state.registry.document_entries_by_uuid([document_uuid(again)]) == []


def test_replacing_another_patients_document_is_refused(client, app, wire):
    original = provide_bundle("02030500457", [Document(b"someone else's")])
    stored(client, wire, original)

    bundle = relating(new_bundle(), "replaces", bare(document_uuid(original)))

    assert [code for code, _ in rejected(client, wire, bundle)] == ["XDSPatientIdDoesNotMatch"]
    assert status_of(app, document_uuid(original)) == "Approved"


# Minimal metadata


def minimal(bundle: dict, where: str = "bundle") -> dict:
    """Declare Minimal metadata (on the Bundle or on each resource) and drop what it allows."""
    if where == "bundle":
        bundle["meta"] = {"profile": [MHD + "IHE.MHD.Minimal.ProvideBundle"]}
    else:
        bundle["entry"][0]["resource"]["meta"] = {
            "profile": [MHD + "IHE.MHD.Minimal.SubmissionSet"]
        }
        bundle["entry"][3]["resource"]["meta"] = {
            "profile": [MHD + "IHE.MHD.Minimal.DocumentReference"]
        }
    document = bundle["entry"][3]["resource"]
    for element in ("type", "category", "securityLabel", "context"):
        del document[element]
    del document["content"][0]["format"]
    del document["content"][0]["attachment"]["creation"]
    del document["content"][0]["attachment"]["language"]
    del bundle["entry"][0]["resource"]["extension"][0]
    return bundle


@pytest.mark.parametrize("where", ["bundle", "resources"])
def test_minimal_metadata_is_registered_as_limited(client, app, wire, where):
    bundle = minimal(new_bundle(), where)

    stored(client, wire, bundle)

    (entry,) = app.state.registry.document_entries_by_uuid([document_uuid(bundle)])
    assert entry.limited_metadata is True
    assert entry.type_code is None and entry.class_code is None


def test_minimal_metadata_still_needs_the_document_identity(client, data_dir, wire):
    bundle = minimal(new_bundle())
    del bundle["entry"][3]["resource"]["masterIdentifier"]
    del bundle["entry"][3]["resource"]["content"][0]["attachment"]["contentType"]

    found = rejected(client, wire, bundle)

    assert ("XDSRegistryMetadataError", f"{DOCUMENT}.masterIdentifier") in found
    assert (
        "XDSRegistryMetadataError",
        f"{DOCUMENT}.content[0].attachment.contentType",
    ) in found
    assert stored_files(data_dir) == []


def test_comprehensive_profile_on_the_resource_wins_over_a_minimal_bundle(client, data_dir, wire):
    bundle = minimal(new_bundle())
    bundle["entry"][3]["resource"]["meta"] = {
        "profile": [MHD + "IHE.MHD.Comprehensive.DocumentReference"]
    }

    assert ("XDSRegistryMetadataError", f"{DOCUMENT}.type") in rejected(client, wire, bundle)
    assert stored_files(data_dir) == []


# The declared Provide Document Bundle profile and the Comprehensive elements (ITI TF-3 XDS DS)


@pytest.mark.parametrize(
    "profiles",
    [
        None,
        ["http://ihe.net/fhir/StructureDefinition/IHE_MHD"],
        [MHD + "IHE.MHD.Comprehensive.DocumentReference"],
    ],
    ids=["absent", "mhd3", "not-a-bundle-profile"],
)
def test_a_bundle_must_declare_a_provide_bundle_profile(client, app, data_dir, wire, profiles):
    bundle = new_bundle()
    if profiles is None:
        del bundle["meta"]
    else:
        bundle["meta"]["profile"] = profiles

    assert rejected(client, wire, bundle) == [("XDSRegistryMetadataError", "Bundle.meta.profile")]
    assert app.state.registry.document_entries_by_uuid([document_uuid(bundle)]) == []
    assert stored_files(data_dir) == []


@pytest.mark.parametrize(
    "profile",
    [
        "IHE.MHD.UnContained.Comprehensive.ProvideBundle",
        "IHE.MHD.Comprehensive.ProvideBundle|4.2.2",
    ],
)
def test_every_provide_bundle_profile_of_mhd_is_accepted(client, app, wire, profile):
    bundle = new_bundle()
    bundle["meta"]["profile"] = ["http://example.org/other", MHD + profile]

    stored(client, wire, bundle)

    (entry,) = app.state.registry.document_entries_by_uuid([document_uuid(bundle)])
    assert entry.limited_metadata is False


def test_comprehensive_requires_the_attachment_language(client, app, data_dir, wire):
    bundle = new_bundle()
    del bundle["entry"][3]["resource"]["content"][0]["attachment"]["language"]

    found = rejected(client, wire, bundle)

    assert found == [("XDSRegistryMetadataError", f"{DOCUMENT}.content[0].attachment.language")]
    assert app.state.registry.document_entries_by_uuid([document_uuid(bundle)]) == []
    assert stored_files(data_dir) == []


def test_comprehensive_requires_the_source_patient_info(client, app, data_dir, wire):
    bundle = new_bundle()
    del bundle["entry"][3]["resource"]["context"]["sourcePatientInfo"]

    found = rejected(client, wire, bundle)

    assert found == [("XDSRegistryMetadataError", f"{DOCUMENT}.context.sourcePatientInfo")]
    assert app.state.registry.document_entries_by_uuid([document_uuid(bundle)]) == []
    assert stored_files(data_dir) == []


# UnContained references


def test_authors_may_be_entries_of_the_bundle(client, app, wire):
    bundle = new_bundle()
    author_url = f"urn:uuid:{uuid.uuid4()}"
    bundle["entry"].append(
        {
            "fullUrl": author_url,
            "resource": {"resourceType": "Practitioner", "name": [{"family": "UTENFOR"}]},
            "request": {"method": "POST", "url": "Practitioner"},
        }
    )
    bundle["entry"][3]["resource"]["author"] = [{"reference": author_url}]

    stored(client, wire, bundle)

    (entry,) = app.state.registry.document_entries_by_uuid([document_uuid(bundle)])
    assert [author.person for author in entry.authors] == ["^UTENFOR"]


# The Norwegian profile: this instance's OIDs


@pytest.fixture
def norway(data_dir) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, profile="norway", accept_synthetic_ids=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def nhn_bundle(source_id: str = "urn:oid:2.16.578.1.12.4.5.100.1.1") -> dict:
    return provide_bundle("13116900216", [Document(b"epikrise")], source_id=source_id)


def test_norway_takes_a_source_id_under_the_home_community(norway, wire):
    stored(norway, wire, nhn_bundle())


def test_norway_takes_comprehensive_without_language_and_source_patient(norway, wire):
    bundle = nhn_bundle()
    document = bundle["entry"][3]["resource"]
    del document["content"][0]["attachment"]["language"]
    del document["context"]["sourcePatientInfo"]

    stored(norway, wire, bundle)

    (entry,) = norway.app.state.registry.document_entries_by_uuid([document_uuid(bundle)])
    assert entry.language_code is None and entry.source_patient_id is None
    assert entry.limited_metadata is False


def test_norway_refuses_a_source_id_of_another_organisation(norway, data_dir, wire):
    assert rejected(norway, wire, nhn_bundle("urn:oid:1.1")) == [
        ("XDSRegistryMetadataError", f"{SUBMISSION_SET}.extension[1].valueIdentifier")
    ]
    assert stored_files(data_dir) == []


def test_norway_takes_the_configured_source_ids(data_dir, wire):
    settings = Settings(
        data_dir=data_dir, profile="norway", accept_synthetic_ids=True, source_ids="1.1, 1.2"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        stored(client, wire, nhn_bundle("urn:oid:1.1"))
        found = rejected(client, wire, nhn_bundle())
    assert found == [("XDSRegistryMetadataError", f"{SUBMISSION_SET}.extension[1].valueIdentifier")]


def test_norway_refuses_another_home_community_id(norway, data_dir, wire):
    bundle = nhn_bundle()
    attachment = bundle["entry"][3]["resource"]["content"][0]["attachment"]
    attachment["extension"] = [
        {"url": MHD + "ihe-homeCommunityId", "valueUri": "urn:oid:2.16.578.1.12.4.5.100.9"}
    ]

    assert rejected(norway, wire, bundle) == [
        ("XDSUnknownCommunity", f"{DOCUMENT}.content[0].attachment.extension[0].valueUri")
    ]
    assert stored_files(data_dir) == []


def test_norway_takes_this_home_community_id_and_repository(norway, wire):
    bundle = nhn_bundle()
    attachment = bundle["entry"][3]["resource"]["content"][0]["attachment"]
    attachment["extension"] = [
        {"url": MHD + "ihe-homeCommunityId", "valueUri": "urn:oid:2.16.578.1.12.4.5.100.1"},
        {"url": "urn:example:repositoryUniqueId", "valueString": "2.16.578.1.12.4.5.100.1.2"},
    ]
    stored(norway, wire, bundle)


def test_norway_refuses_another_repository(norway, data_dir, wire):
    bundle = nhn_bundle()
    attachment = bundle["entry"][3]["resource"]["content"][0]["attachment"]
    attachment["extension"] = [
        {"url": "urn:example:repositoryUniqueId", "valueString": "urn:oid:1.2.3"}
    ]

    assert rejected(norway, wire, bundle) == [
        ("XDSUnknownRepositoryId", f"{DOCUMENT}.content[0].attachment.extension[0].valueString")
    ]
    assert stored_files(data_dir) == []


def test_ihe_profile_takes_any_source_id(client, wire):
    stored(client, wire, nhn_bundle("urn:oid:1.1"))
