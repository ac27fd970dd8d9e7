"""MHD Document Responder: ITI-67 and ITI-66 searches, reads, formats, paging, ITI-68, metadata."""

from __future__ import annotations

import base64
import hashlib

import pytest
from fastapi import FastAPI
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.list import List as FhirList
from mhd_support import fixture_bundle, make_app, post
from registry_samples import complete_document_entry
from responder_support import (
    found,
    outcome,
    patient_token,
    search,
    seed,
    unique_ids,
    with_patient,
)
from validation_samples import (
    OTHER_PATIENT,
    PATIENT,
    document_entry,
    folder,
    new_uuid,
    submission,
)

from registry.metadata import Association, AssociationType, Author, AvailabilityStatus, Code

DEPRECATED = AvailabilityStatus.DEPRECATED.value
LOINC = "2.16.840.1.113883.6.1"
SCHEME = "1.2.3.4"


@pytest.fixture
def app(tmp_path) -> FastAPI:
    return make_app(tmp_path / "data")


@pytest.fixture
def registry(app):
    return app.state.registry


def code(value: str) -> Code:
    return Code(value, SCHEME, value)


def token(value: str, scheme: str = SCHEME) -> str:
    return f"urn:oid:{scheme}|{value}"


# --- Required parameters -----------------------------------------------------------------------


def test_patient_identifier_selects_only_that_patients_documents(client, registry):
    seed(registry, document_entry("1.1.1"))
    seed(registry, document_entry("1.1.2", patient_id=OTHER_PATIENT), patient_id=OTHER_PATIENT)

    assert unique_ids(search(client, {})) == {"1.1.1"}


def test_patient_colon_identifier_modifier_is_patient_identifier(client, registry):
    seed(registry, document_entry("1.1.1"))

    response = client.get(
        "/fhir/DocumentReference",
        params={"patient:identifier": patient_token(), "status": "current"},
    )

    assert unique_ids(response) == {"1.1.1"}


def test_a_search_without_patient_is_a_400_operation_outcome(client):
    response = client.get("/fhir/DocumentReference", params={"status": "current"})

    assert "patient.identifier" in outcome(response)


def test_the_subject_reference_finds_that_patients_documents_as_patient(client, registry):
    seed(registry, document_entry("1.1.1"))
    seed(registry, document_entry("1.1.2", patient_id=OTHER_PATIENT), patient_id=OTHER_PATIENT)
    subject = found(search(client, {}))[0]["subject"]

    by_reference = client.get(
        "/fhir/DocumentReference", params={"patient": subject["reference"], "status": "current"}
    )

    assert subject["reference"] == "Patient/2.16.578.1.12.4.1.4.1-13116900216"
    assert unique_ids(by_reference) == {"1.1.1"}


def test_patient_takes_the_reference_as_a_full_url(client, registry):
    seed(registry, document_entry("1.1.1"))
    url = "http://example.org/fhir/Patient/2.16.578.1.12.4.1.4.1-13116900216"

    response = client.get("/fhir/DocumentReference", params={"patient": url, "status": "current"})

    assert unique_ids(response) == {"1.1.1"}


def test_a_patient_reference_of_another_form_is_refused_naming_patient_identifier(client):
    response = client.get(
        "/fhir/DocumentReference", params={"patient": "Patient/123", "status": "current"}
    )

    assert "patient.identifier" in outcome(response)


def test_several_patients_are_refused(client):
    pairs = [("patient.identifier", f"{patient_token()},{patient_token(OTHER_PATIENT)}")]

    response = client.get("/fhir/DocumentReference", params=[*pairs, ("status", "current")])

    assert "single value" in outcome(response)


def test_a_search_without_status_is_a_400_operation_outcome(client):
    assert "status" in outcome(search(client, {}, status=None))


# --- status --------------------------------------------------------------------------------------


def test_status_current_finds_approved_and_superseded_finds_deprecated(client, registry):
    seed(registry, document_entry("1.1.1"), document_entry("1.1.2", availability_status=DEPRECATED))

    assert unique_ids(search(client, {}, status="current")) == {"1.1.1"}
    assert unique_ids(search(client, {}, status="superseded")) == {"1.1.2"}
    assert unique_ids(search(client, {}, status="current,superseded")) == {"1.1.1", "1.1.2"}


def test_status_without_an_xds_equivalent_matches_nothing(client, registry):
    seed(registry, document_entry("1.1.1"))

    assert unique_ids(search(client, {}, status="entered-in-error")) == set()


# --- identifiers ---------------------------------------------------------------------------------


def test_identifier_finds_by_master_identifier_urn_oid(client, registry):
    seed(registry, document_entry("1.1.1"), document_entry("1.1.2"))

    response = search(client, {"identifier": "urn:ietf:rfc:3986|urn:oid:1.1.2"})

    assert unique_ids(response) == {"1.1.2"}


def test_identifier_finds_by_entry_uuid(client, registry):
    wanted = document_entry("1.1.2")
    seed(registry, document_entry("1.1.1"), wanted)

    assert unique_ids(search(client, {"identifier": wanted.entry_uuid})) == {"1.1.2"}


def test_identifier_with_an_oid_system_finds_an_oid_caret_extension_unique_id(client, registry):
    seed(registry, document_entry("1.2.3^abc"), document_entry("1.1.1"))

    assert unique_ids(search(client, {"identifier": "urn:oid:1.2.3|abc"})) == {"1.2.3^abc"}


def test_id_finds_by_resource_id(client, registry):
    wanted = document_entry("1.1.2")
    seed(registry, document_entry("1.1.1"), wanted)
    resource_id = wanted.entry_uuid.removeprefix("urn:uuid:")

    assert unique_ids(search(client, {"_id": resource_id})) == {"1.1.2"}


# --- coded parameters ----------------------------------------------------------------------------

SINGLE_CODES = {
    "category": "class_code",
    "type": "type_code",
    "setting": "practice_setting_code",
    "facility": "healthcare_facility_type_code",
    "format": "format_code",
}


@pytest.mark.parametrize("parameter", sorted(SINGLE_CODES))
def test_single_valued_code_parameter_ors_commas_and_intersects_repetitions(
    client, registry, parameter
):
    attribute = SINGLE_CODES[parameter]
    seed(
        registry,
        document_entry("1.1.1", **{attribute: code("a")}),
        document_entry("1.1.2", **{attribute: code("b")}),
        document_entry("1.1.3", **{attribute: code("c")}),
    )

    assert unique_ids(search(client, {parameter: token("a")})) == {"1.1.1"}
    assert unique_ids(search(client, {parameter: f"{token('a')},{token('b')}"})) == {
        "1.1.1",
        "1.1.2",
    }
    repeated = [(parameter, f"{token('a')},{token('b')}"), (parameter, token("b"))]
    assert unique_ids(search(client, repeated)) == {"1.1.2"}
    assert unique_ids(search(client, [(parameter, token("a")), (parameter, token("b"))])) == set()


def test_loinc_system_uri_matches_the_loinc_oid(client, registry):
    seed(registry, document_entry("1.1.1", type_code=Code("34133-9", LOINC)))

    assert unique_ids(search(client, {"type": "http://loinc.org|34133-9"})) == {"1.1.1"}


@pytest.mark.parametrize(
    ("parameter", "attribute"),
    [("event", "event_code_list"), ("security-label", "confidentiality_codes")],
)
def test_multi_valued_code_parameter_ands_repetitions(client, registry, parameter, attribute):
    seed(
        registry,
        document_entry("1.1.1", **{attribute: [code("a"), code("b")]}),
        document_entry("1.1.2", **{attribute: [code("a")]}),
        document_entry("1.1.3", **{attribute: [code("c")]}),
    )

    assert unique_ids(search(client, {parameter: token("a")})) == {"1.1.1", "1.1.2"}
    either = f"{token('b')},{token('c')}"
    assert unique_ids(search(client, {parameter: either})) == {"1.1.1", "1.1.3"}
    both = [(parameter, token("a")), (parameter, token("b"))]
    assert unique_ids(search(client, both)) == {"1.1.1"}


def test_a_code_without_system_is_refused(client):
    assert "system|code" in outcome(search(client, {"category": "a"}))


# --- times ---------------------------------------------------------------------------------------


@pytest.fixture
def created(registry) -> None:
    seed(
        registry,
        document_entry("1.1.1", creation_time="20231231235959"),
        document_entry("1.1.2", creation_time="20240101000000"),
        document_entry("1.1.3", creation_time="20240115120000"),
        document_entry("1.1.4", creation_time="20240201000000"),
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["ge2024-01-01"], {"1.1.2", "1.1.3", "1.1.4"}),
        (["gt2024-01"], {"1.1.4"}),
        (["lt2024-01-01"], {"1.1.1"}),
        (["le2024-01"], {"1.1.1", "1.1.2", "1.1.3"}),
        (["2024-01"], {"1.1.2", "1.1.3"}),
        (["eq2024-01-15"], {"1.1.3"}),
        (["ge2024-01-15T12:00:00Z", "lt2024-01-15T13:00:00+01:00"], set()),
        (["ge2024-01-15T12:00Z", "le2024-01-15T13:00:00+01:00"], {"1.1.3"}),
        (["ge2024", "lt2025"], {"1.1.2", "1.1.3", "1.1.4"}),
    ],
)
def test_creation_prefixes_select_by_creation_time(client, created, values, expected):
    assert unique_ids(search(client, [("creation", value) for value in values])) == expected


def test_an_unsupported_date_prefix_is_refused(client):
    assert "prefix" in outcome(search(client, {"creation": "sa2024"}))


def test_a_malformed_date_is_refused(client):
    assert "date" in outcome(search(client, {"creation": "ge2024-13-45"}))


def test_period_selects_services_overlapping_the_range(client, registry):
    seed(
        registry,
        document_entry("1.1.1", service_start_time="20230101", service_stop_time="20231231"),
        document_entry("1.1.2", service_start_time="20231201", service_stop_time="20240110"),
        document_entry("1.1.3", service_start_time="20240201", service_stop_time="20240301"),
    )

    overlapping = [("period", "ge2024-01-01"), ("period", "lt2024-02-01")]
    assert unique_ids(search(client, overlapping)) == {"1.1.2"}
    assert unique_ids(search(client, {"period": "ge2024-02-15"})) == {"1.1.3"}
    assert unique_ids(search(client, {"period": "lt2023-06"})) == {"1.1.1"}


def test_date_selects_by_when_the_registry_took_the_entry(client, registry):
    seed(registry, document_entry("1.1.1"), submission_time="20240101120000")
    seed(registry, document_entry("1.1.2"), submission_time="20240301120000")

    assert unique_ids(search(client, {"date": "ge2024-02"})) == {"1.1.2"}
    assert unique_ids(search(client, {"date": "2024-01-01"})) == {"1.1.1"}
    (resource,) = found(search(client, {"date": "lt2024-02"}))
    assert resource["date"] == "2024-01-01T12:00:00Z"


# --- authors and related ------------------------------------------------------------------------


def test_author_family_and_given_select_by_author_person(client, registry):
    def by(person: str) -> list[Author]:
        return [Author(person=person)]

    seed(
        registry,
        document_entry("1.1.1", authors=by("1^Lege^Lise^^^^^^&1.2&ISO")),
        document_entry("1.1.2", authors=by("2^Lege^Per^^^^^^&1.2&ISO")),
        document_entry("1.1.3", authors=by("^Hansen^Lise")),
    )

    assert unique_ids(search(client, {"author.family": "Lege"})) == {"1.1.1", "1.1.2"}
    assert unique_ids(search(client, {"author.given": "Lise"})) == {"1.1.1", "1.1.3"}
    both = {"author.family": "Lege", "author.given": "Lise"}
    assert unique_ids(search(client, both)) == {"1.1.1"}
    assert unique_ids(search(client, {"author.family": "Hansen,Lege"})) == {
        "1.1.1",
        "1.1.2",
        "1.1.3",
    }


def test_related_selects_by_reference_id_list(client, registry):
    accession = "A1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"
    seed(
        registry,
        document_entry("1.1.1", reference_id_list=[accession]),
        document_entry("1.1.2", reference_id_list=["B2^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"]),
    )

    assert unique_ids(search(client, {"related": accession})) == {"1.1.1"}


# --- unknown parameters, POST ----------------------------------------------------------------


def test_an_unknown_parameter_is_ignored_and_left_out_of_the_self_link(client, registry):
    seed(registry, document_entry("1.1.1"))

    response = search(client, {"flavour": "vanilla"})

    assert unique_ids(response) == {"1.1.1"}
    self_link = next(link for link in response.json()["link"] if link["relation"] == "self")
    assert "flavour" not in self_link["url"]


def test_an_unknown_parameter_with_strict_handling_is_refused(client):
    response = client.get(
        "/fhir/DocumentReference",
        params=with_patient({"flavour": "vanilla"}),
        headers={"Prefer": "handling=strict"},
    )

    assert "flavour" in outcome(response)


def test_post_search_reads_a_form_body(client, registry):
    seed(registry, document_entry("1.1.1", type_code=code("a")), document_entry("1.1.2"))

    response = client.post(
        "/fhir/DocumentReference/_search",
        data=dict(with_patient({"type": token("a")})),
    )

    assert unique_ids(response) == {"1.1.1"}


# --- paging ----------------------------------------------------------------------------------


def test_paging_follows_next_links_through_every_match_once(client, registry):
    seed(registry, *(document_entry(f"1.1.{n}") for n in range(7)))

    first = search(client, {"_count": "3"})
    pages, response = [first], first
    while next_link := _link(response, "next"):
        response = client.get(next_link)
        pages.append(response)

    assert [len(found(page)) for page in pages] == [3, 3, 1]
    assert all(page.json()["total"] == 7 for page in pages)
    assert set().union(*(unique_ids(page) for page in pages)) == {f"1.1.{n}" for n in range(7)}
    assert _link(first, "previous") is None
    assert unique_ids(client.get(_link(pages[-1], "previous"))) == unique_ids(pages[1])


def test_count_above_the_query_cap_is_lowered_to_it(app, client, registry):
    app.state.settings.max_query_results = 2
    seed(registry, document_entry("1.1.1"), document_entry("1.1.2"))

    response = search(client, {"_count": "50"})

    assert len(found(response)) == 2
    assert "_count=2" in _link(response, "self")


def test_count_zero_answers_the_total_without_entries_or_next_link(client, registry):
    seed(registry, document_entry("1.1.1"), document_entry("1.1.2"))

    response = search(client, {"_count": "0"})

    assert found(response) == []
    assert response.json()["total"] == 2
    assert _link(response, "next") is None


def test_more_matches_than_the_query_cap_is_a_too_costly_400(app, client, registry):
    app.state.settings.max_query_results = 1
    seed(registry, document_entry("1.1.1"), document_entry("1.1.2"))

    response = search(client, {})

    outcome(response)
    (issue,) = response.json()["issue"]
    assert issue["code"] == "too-costly"
    assert issue["details"]["text"] == "XDSTooManyResults"


def test_a_malformed_count_is_refused(client):
    assert "_count" in outcome(search(client, {"_count": "many"}))


def _link(response, relation: str) -> str | None:
    return next((k["url"] for k in response.json()["link"] if k["relation"] == relation), None)


# --- formats -------------------------------------------------------------------------------------


def test_format_xml_answers_a_fhir_xml_bundle(client, registry):
    seed(registry, complete_entry())

    response = search(client, {"_format": "xml"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+xml")
    bundle = Bundle.model_validate_xml(response.content)
    assert bundle.entry[0].resource.masterIdentifier.value == "urn:oid:2.25.1234567890"


def test_paging_links_keep_the_format(client, registry):
    seed(registry, document_entry("1.1.1"), document_entry("1.1.2"))

    response = search(client, {"_format": "xml", "_count": "1"})

    bundle = Bundle.model_validate_xml(response.content)
    (next_link,) = [link.url for link in bundle.link if link.relation == "next"]
    assert "_format=xml" in next_link
    assert client.get(next_link).headers["content-type"].startswith("application/fhir+xml")


def test_accept_fhir_xml_answers_xml(client, registry):
    seed(registry, document_entry("1.1.1"))

    response = client.get(
        "/fhir/DocumentReference",
        params=with_patient({}),
        headers={"Accept": "application/fhir+xml"},
    )

    assert response.headers["content-type"].startswith("application/fhir+xml")
    assert len(Bundle.model_validate_xml(response.content).entry) == 1


def test_format_json_answers_json_whatever_the_accept_header(client, registry):
    seed(registry, document_entry("1.1.1"))

    response = client.get(
        "/fhir/DocumentReference",
        params=with_patient({"_format": "application/fhir+json"}),
        headers={"Accept": "application/fhir+xml"},
    )

    assert unique_ids(response) == {"1.1.1"}


def test_an_unknown_format_is_406(client):
    assert "_format" in outcome(search(client, {"_format": "yaml"}), status=406)


def test_errors_come_as_xml_when_xml_is_asked(client):
    response = client.get("/fhir/DocumentReference", params={"status": "current", "_format": "xml"})

    assert response.status_code == 400
    assert b"<OperationOutcome" in response.content


# --- DocumentReference contents (MHD 3:4.5.1.1) --------------------------------------------------


def complete_entry():
    entry = complete_document_entry()
    entry.patient_id = PATIENT
    entry.availability_status = AvailabilityStatus.APPROVED.value
    entry.object_type = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    entry.uri = None
    return entry


def test_a_document_entry_maps_to_a_comprehensive_document_reference(client, registry):
    entry = complete_entry()
    seed(registry, entry)

    (resource,) = found(search(client, {}))

    DocumentReference.model_validate(resource)
    assert resource["id"] == entry.entry_uuid.removeprefix("urn:uuid:")
    assert resource["masterIdentifier"] == {
        "system": "urn:ietf:rfc:3986",
        "value": "urn:oid:2.25.1234567890",
    }
    assert {"use": "official", "system": "urn:ietf:rfc:3986", "value": entry.entry_uuid} in (
        resource["identifier"]
    )
    assert resource["status"] == "current"
    assert resource["extension"] == [
        {
            "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-HomeCommunityId",
            "valueOid": "urn:oid:2.16.578.1.12.4.5.100.1",
        }
    ]
    assert resource["subject"]["identifier"] == {
        "system": "urn:oid:2.16.578.1.12.4.1.4.1",
        "value": "13116900216",
    }
    assert resource["type"]["coding"][0] == {
        "system": "urn:oid:2.16.578.1.12.4.1.1.9603",
        "code": "J01-2",
        "display": "Epikrise fra sykehus",
    }
    assert resource["category"][0]["coding"][0]["code"] == "A00-1"
    assert resource["description"] == entry.comments
    assert [label["coding"][0]["code"] for label in resource["securityLabel"]] == ["N", "R"]
    attachment = resource["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["language"] == "nb-NO"
    assert attachment["size"] == 1234
    assert base64.b64decode(attachment["hash"]).hex() == entry.hash
    assert attachment["title"] == entry.title
    assert attachment["creation"] == "2024-01-02T03:04:05Z"
    assert attachment["url"].endswith("/mhd/documents/2.25.1234567890")
    assert resource["content"][0]["format"]["code"] == "urn:ihe:iti:xds:2017:mimeTypeSufficient"
    context = resource["context"]
    assert context["period"] == {"start": "2024-01", "end": "2024-01-02T03:00:00Z"}
    assert context["facilityType"]["coding"][0]["code"] == "86.211"
    assert context["practiceSetting"]["coding"][0]["code"] == "ALL"
    assert [e["coding"][0]["code"] for e in context["event"]] == ["T-D4909", "P1-3020"]
    assert context["related"][0]["identifier"]["value"] == "ref1"


def test_authors_and_source_patient_are_contained_resources(client, registry):
    seed(registry, complete_entry())

    (resource,) = found(search(client, {}))

    contained = {f"#{r['id']}": r for r in resource["contained"]}
    role = contained[resource["author"][0]["reference"]]
    assert role["resourceType"] == "PractitionerRole"
    person = contained[role["practitioner"]["reference"]]
    assert person["name"] == [{"family": "Østby", "given": ["Ærlig"], "prefix": ["Dr"]}]
    organization = contained[role["organization"]["reference"]]
    assert organization["name"] == "Sykehuset"
    assert role["telecom"] == [{"system": "email", "value": "ostby@example.no"}]
    second = contained[resource["author"][1]["reference"]]
    assert second["name"] == [{"family": "O'Brien", "given": ["Pat"]}]
    authenticator = contained[resource["authenticator"]["reference"]]
    assert authenticator["name"][0]["family"] == "Welby"
    patient = contained[resource["context"]["sourcePatientInfo"]["reference"]]
    assert patient["identifier"][0]["value"] == "13116900216"
    assert patient["gender"] == "female"
    assert patient["name"] == [{"family": "Østby", "given": ["Ærlig"]}]


def test_replacement_shows_as_relates_to_replaces_and_the_original_is_superseded(client, registry):
    original = document_entry("1.1.1")
    seed(registry, original)
    replacement = document_entry("1.1.2")
    later = submission(replacement)
    later.associations.append(
        Association(
            new_uuid(), AssociationType.REPLACE, replacement.entry_uuid, original.entry_uuid
        )
    )
    registry.register(later, lambda: None)

    (superseded,) = found(search(client, {}, status="superseded"))
    (current,) = found(search(client, {}))

    assert superseded["id"] == original.entry_uuid[9:]
    assert current["relatesTo"] == [
        {
            "code": "replaces",
            "target": {"reference": f"DocumentReference/{original.entry_uuid[9:]}"},
        }
    ]


# --- read ----------------------------------------------------------------------------------------


def test_read_document_reference_by_id_whatever_its_status(client, registry):
    entry = document_entry("1.1.1", availability_status=DEPRECATED)
    seed(registry, entry)

    response = client.get(f"/fhir/DocumentReference/{entry.entry_uuid[9:]}")

    assert response.status_code == 200
    resource = response.json()
    DocumentReference.model_validate(resource)
    assert resource["status"] == "superseded"


def test_read_an_unknown_document_reference_is_404_operation_outcome(client):
    assert "not known" in outcome(client.get(f"/fhir/DocumentReference/{new_uuid()[9:]}"), 404)


def test_read_list_by_id_answers_the_submission_set_with_its_members(client, registry):
    entry = document_entry("1.1.1")
    submission = seed(registry, entry)

    response = client.get(f"/fhir/List/{submission.submission_set.entry_uuid[9:]}?_format=xml")

    assert response.status_code == 200
    listed = FhirList.model_validate_xml(response.content)
    assert listed.entry[0].item.reference == f"DocumentReference/{entry.entry_uuid[9:]}"


def test_read_an_unknown_list_is_404_operation_outcome(client):
    assert "not known" in outcome(client.get(f"/fhir/List/{new_uuid()[9:]}"), 404)


# --- ITI-66 Find Document Lists -------------------------------------------------------------------


def lists(client, params, status: str | None = "current"):
    return found(client.get("/fhir/List", params=with_patient(params, status=status)))


def designations(resource: dict) -> list[str]:
    return [
        e["valueCodeableConcept"]["coding"][0]["code"]
        for e in resource["extension"]
        if e["url"].endswith("/ihe-designationType")
    ]


def test_code_submissionset_finds_submission_set_lists_with_their_extensions(client, registry):
    entry = document_entry("1.1.1")
    submission = seed(registry, entry)

    (resource,) = lists(client, {"code": "submissionset"})

    FhirList.model_validate(resource)
    assert resource["id"] == submission.submission_set.entry_uuid[9:]
    assert resource["code"]["coding"][0]["code"] == "submissionset"
    assert resource["date"] == "2024-01-02T03:04:05Z"
    extensions = {e["url"].rsplit("/", 1)[-1]: e for e in resource["extension"]}
    assert (
        extensions["ihe-sourceId"]["valueIdentifier"]["value"] == "urn:oid:2.16.578.1.12.4.5.100.1"
    )
    assert designations(resource) == ["A03-2"]
    assert extensions["ihe-HomeCommunityId"]["valueOid"] == "urn:oid:2.16.578.1.12.4.5.100.1"
    assert resource["entry"] == [
        {"item": {"reference": f"DocumentReference/{entry.entry_uuid[9:]}"}}
    ]


def test_code_folder_finds_folder_lists(client, registry):
    the_folder = folder()
    seed(registry, document_entry("1.1.1"), folders=(the_folder,))

    (resource,) = lists(client, {"code": "folder"})

    FhirList.model_validate(resource)
    assert resource["id"] == the_folder.entry_uuid[9:]
    assert resource["code"]["coding"][0]["code"] == "folder"
    both = lists(client, {"code": "submissionset,folder"})
    assert sorted(r["code"]["coding"][0]["code"] for r in both) == ["folder", "submissionset"]


def test_a_list_search_without_code_is_refused(client):
    response = client.get("/fhir/List", params=with_patient({}))

    assert "code" in outcome(response)


def test_list_date_selects_by_submission_time(client, registry):
    seed(registry, document_entry("1.1.1"), submission_time="20240101")
    seed(registry, document_entry("1.1.2"), submission_time="20240301")

    assert len(lists(client, {"code": "submissionset", "date": "ge2024-02"})) == 1
    assert len(lists(client, [("code", "submissionset"), ("date", "lt2024-04")])) == 2


def test_list_designation_type_selects_by_content_type_code(client, registry):
    seed(registry, document_entry("1.1.1"), content_type_code=code("a"))
    seed(registry, document_entry("1.1.2"), content_type_code=code("b"))

    (found_list,) = lists(client, {"code": "submissionset", "designationType": token("b")})

    assert designations(found_list) == ["b"]


def test_list_source_id_selects_by_source_id(client, registry):
    seed(registry, document_entry("1.1.1"), source_id="1.2.3.4.5")
    seed(registry, document_entry("1.1.2"))

    found_lists = lists(client, {"code": "submissionset", "sourceId": "urn:oid:1.2.3.4.5"})

    assert len(found_lists) == 1


def test_list_source_family_selects_by_author_person(client, registry):
    seed(registry, document_entry("1.1.1"), authors=[Author(person="^Lege^Lise")])
    seed(registry, document_entry("1.1.2"), authors=[Author(person="^Hansen^Per")])

    found_lists = lists(client, {"code": "submissionset", "source.family": "Hansen"})

    assert len(found_lists) == 1


def test_list_designation_type_selects_folders_by_code_list(client, registry):
    seed(registry, document_entry("1.1.1"), folders=(folder(code_list=[code("x")]),))
    seed(registry, document_entry("1.1.2"), folders=(folder(code_list=[code("y")]),))

    found_lists = lists(client, {"code": "folder", "designationType": token("y")})

    assert [designations(found) for found in found_lists] == [["y"]]


def test_list_status_superseded_finds_deprecated_submission_sets(client, registry):
    seed(registry, document_entry("1.1.1"), availability_status=DEPRECATED)

    assert lists(client, {"code": "submissionset"}) == []
    (retired,) = lists(client, {"code": "submissionset"}, status="superseded")
    assert retired["status"] == "retired"


# --- ITI-68 Retrieve Document and metadata -------------------------------------------------------


def test_retrieve_answers_the_document_at_the_attachment_url_with_its_mime_type(client):
    assert post(client, fixture_bundle("ihe")).status_code == 200
    patient = "urn:oid:1.3.6.1.4.1.21367.13.20.1000|IHERED-994"
    response = client.get(
        "/fhir/DocumentReference",
        params={
            "patient.identifier": patient,
            "status": "current",
            "identifier": "urn:oid:1.2.3.4.5.200.1",
        },
    )
    (resource,) = found(response)
    attachment = resource["content"][0]["attachment"]

    document = client.get(attachment["url"])

    assert document.status_code == 200
    assert document.headers["content-type"].startswith(attachment["contentType"])
    assert len(document.content) == attachment["size"]
    assert (
        base64.b64encode(hashlib.sha1(document.content).digest()).decode() == (attachment["hash"])
    )


def test_retrieve_with_an_accept_excluding_the_mime_type_is_406(client, app, registry):
    seed(registry, document_entry("1.1.1"))

    response = client.get("/mhd/documents/1.1.1", headers={"Accept": "text/html, */*;q=0"})

    assert "Accept" in outcome(response, 406)


def test_retrieve_accepts_a_matching_media_range(client):
    assert post(client, fixture_bundle("ihe")).status_code == 200

    response = client.get("/mhd/documents/1.2.3.4.5.200.1", headers={"Accept": "text/*"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


def test_retrieve_an_unknown_document_is_404(client):
    assert "Not Found" in outcome(client.get("/mhd/documents/1.2.3.999"), 404)


def test_retrieve_a_deprecated_document_is_410(client, registry):
    seed(registry, document_entry("1.1.1", availability_status=DEPRECATED))

    assert "deprecated" in outcome(client.get("/mhd/documents/1.1.1"), 410)


def test_retrieve_a_document_of_another_repository_is_404(client, registry):
    seed(registry, document_entry("1.1.1", repository_unique_id="1.2.3.4.5.6"))

    outcome(client.get("/mhd/documents/1.1.1"), 404)


def test_metadata_is_a_capability_statement_declaring_the_responder(client):
    response = client.get("/fhir/metadata")

    assert response.status_code == 200
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {p["name"] for p in resources["DocumentReference"]["searchParam"]} >= {
        "patient",
        "patient.identifier",
        "status",
        "category",
        "security-label",
        "period",
        "creation",
        "related",
    }
    assert {p["name"] for p in resources["List"]["searchParam"]} >= {"code", "designationType"}
    assert "application/fhir+xml" in statement["format"]
    assert statement["rest"][0]["interaction"] == [{"code": "transaction"}]
    assert resources["Bundle"]["operation"][0]["name"] == "validate"


def test_metadata_in_xml(client):
    response = client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})

    assert CapabilityStatement.model_validate_xml(response.content).kind == "instance"
