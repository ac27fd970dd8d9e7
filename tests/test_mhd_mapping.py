"""FHIR to XDS mapping of ITI-65 bundles (MHD 3:4.5), one test per mapped attribute or rule."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from mhd_support import encode, fixture_bundle, resource

from mhd.bundle import fhir_path, parse_bundle, read_provide_bundle
from mhd.datatypes import dtm, unique_id
from mhd.mapping import MappedSubmission, map_submission
from mhd.outcome import BundleRejected
from registry.errors import ErrorCode
from registry.metadata import AssociationType, AvailabilityStatus, Code, DocumentEntryType

NHN_PATIENT = "01017000001^^^&2.16.578.1.12.4.1.4.1&ISO"
IHE_PATIENT = "IHERED-994^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
LOINC = "2.16.840.1.113883.6.1"
SNOMED = "2.16.840.1.113883.6.96"
CONFIDENTIALITY = "2.16.840.1.113883.5.25"
FORMAT_CODES = "1.3.6.1.4.1.19376.1.2.3"
VOLVEN_9602 = "2.16.578.1.12.4.1.1.9602"


def mapped(bundle: dict) -> MappedSubmission:
    return map_submission(read_provide_bundle(parse_bundle(encode(bundle))))


def rejected(bundle: dict) -> list[tuple[ErrorCode, str]]:
    with pytest.raises(BundleRejected) as caught:
        mapped(bundle)
    return [(issue.code, issue.expression) for issue in caught.value.issues]


@pytest.fixture
def nhn() -> MappedSubmission:
    return mapped(fixture_bundle("nhn"))


@pytest.fixture
def ihe() -> MappedSubmission:
    return mapped(fixture_bundle("ihe"))


# DocumentEntry


def test_patient_id_is_the_cx_of_the_subject_patient_identifier(nhn, ihe):
    assert nhn.submission.document_entries[0].patient_id == NHN_PATIENT
    assert [e.patient_id for e in ihe.submission.document_entries] == [IHE_PATIENT] * 2


def test_patient_id_from_a_logical_reference_by_identifier():
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["subject"] = {
        "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "01017000001"}
    }
    assert mapped(bundle).submission.document_entries[0].patient_id == NHN_PATIENT


def test_patient_id_from_a_conditional_reference():
    bundle = fixture_bundle("nhn")
    reference = "Patient?identifier=urn:oid:2.16.578.1.12.4.1.4.1|01017000001"
    resource(bundle, 3)["subject"] = {"reference": reference}
    assert mapped(bundle).submission.document_entries[0].patient_id == NHN_PATIENT


def test_patient_id_from_a_contained_patient():
    bundle = fixture_bundle("nhn")
    document = resource(bundle, 3)
    document["contained"].append(
        {
            "resourceType": "Patient",
            "id": "p",
            "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "01017000001"}],
        }
    )
    document["subject"] = {"reference": "#p"}
    assert mapped(bundle).submission.document_entries[0].patient_id == NHN_PATIENT


def test_subject_that_cannot_be_resolved_is_an_unknown_patient_id():
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["subject"] = {"reference": "Patient/held-elsewhere"}
    assert rejected(bundle) == [
        (ErrorCode.UNKNOWN_PATIENT_ID, "Bundle.entry[3].resource.subject"),
    ]


def test_patient_identifier_must_be_an_oid():
    bundle = fixture_bundle("nhn")
    resource(bundle, 1)["identifier"][0]["system"] = "http://example.org/patients"
    assert set(rejected(bundle)) == {
        (ErrorCode.UNKNOWN_PATIENT_ID, "Bundle.entry[0].resource.subject"),
        (ErrorCode.UNKNOWN_PATIENT_ID, "Bundle.entry[3].resource.subject"),
    }


def test_unique_id_from_master_identifier_strips_urn_oid(ihe):
    assert ihe.submission.document_entries[0].unique_id == "1.2.3.4.5.200.1"


def test_unique_id_from_master_identifier_strips_urn_uuid(nhn):
    entry = nhn.submission.document_entries[0]
    assert entry.unique_id == "6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a04"


def test_unique_id_under_an_oid_system_is_oid_caret_extension(ihe):
    assert ihe.submission.document_entries[1].unique_id == "1.2.3.4.5.200^2"


@pytest.mark.parametrize(
    ("system", "value", "expected"),
    [
        ("urn:ietf:rfc:3986", "urn:oid:1.2.3", "1.2.3"),
        (None, "urn:oid:1.2.3", "1.2.3"),
        ("urn:ietf:rfc:3986", "urn:uuid:abc", "abc"),
        ("urn:oid:1.2.3", "45", "1.2.3^45"),
    ],
)
def test_unique_id_forms(system, value, expected):
    assert unique_id(system, value) == expected


def test_entry_uuid_from_official_identifier(ihe):
    entry = ihe.submission.document_entries[0]
    assert entry.entry_uuid == "urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-0000000000bb"


def test_entry_uuid_from_full_url_without_official_identifier(ihe):
    entry = ihe.submission.document_entries[1]
    assert entry.entry_uuid == "urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-000000000005"


def test_entry_uuid_is_new_when_full_url_is_not_a_uuid():
    bundle = fixture_bundle("ihe")
    bundle["entry"][4]["fullUrl"] = "http://example.org/fhir/DocumentReference/2"
    bundle["entry"][0]["resource"]["entry"][1]["item"]["reference"] = bundle["entry"][4]["fullUrl"]
    entry_uuid = mapped(bundle).submission.document_entries[1].entry_uuid
    assert entry_uuid.startswith("urn:uuid:")
    assert entry_uuid != "urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-000000000005"


def test_availability_status_approved_and_object_type_stable(nhn):
    entry = nhn.submission.document_entries[0]
    assert entry.availability_status == AvailabilityStatus.APPROVED
    assert entry.object_type == DocumentEntryType.STABLE


def test_codes_carry_code_scheme_and_display(nhn):
    entry = nhn.submission.document_entries[0]
    assert entry.class_code == Code("D00-1", VOLVEN_9602, "Organfunksjon")
    assert entry.type_code == Code("D08-2", VOLVEN_9602, "ØNH")
    assert entry.healthcare_facility_type_code == Code(
        "86.909", "2.16.578.1.12.4.1.1.1303", "Andre helsetjenester"
    )
    assert entry.practice_setting_code == Code(
        "A04", "2.16.578.1.12.4.1.1.8651", "Overvåkningsenhet"
    )


def test_well_known_fhir_code_systems_become_their_oids(ihe):
    entry = ihe.submission.document_entries[0]
    assert entry.type_code == Code("34133-9", LOINC, "Summary of episode note")
    assert entry.format_code == Code("urn:ihe:iti:xds-sd:text:2008", FORMAT_CODES)
    assert entry.healthcare_facility_type_code == Code("82242000", SNOMED)
    assert entry.event_code_list == [Code("PATDOC", "2.16.840.1.113883.5.4")]


def test_confidentiality_codes_from_every_security_label(ihe):
    assert ihe.submission.document_entries[0].confidentiality_codes == [
        Code("N", CONFIDENTIALITY),
        Code("R", CONFIDENTIALITY),
    ]


def test_creation_time_is_a_utc_dtm(nhn, ihe):
    assert nhn.submission.document_entries[0].creation_time == "20260310132518"
    assert ihe.submission.document_entries[0].creation_time == "20200202045050"


def test_creation_date_keeps_its_precision(ihe):
    assert ihe.submission.document_entries[1].creation_time == "20200202"


def test_service_times_from_context_period_keep_their_precision(nhn, ihe):
    assert nhn.submission.document_entries[0].service_start_time == "20260303000000"
    assert nhn.submission.document_entries[0].service_stop_time == "20260304"
    assert ihe.submission.document_entries[0].service_start_time == "2019"
    assert ihe.submission.document_entries[0].service_stop_time == "20200202045050"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 3, 10, 14, 25, 18, tzinfo=timezone(timedelta(hours=1))), "20260310132518"),
        (datetime(2026, 3, 10, 14, 25, 18, 500000, tzinfo=UTC), "20260310142518"),
        (date(2026, 3, 10), "20260310"),
        ("2026-03", "202603"),
        ("2026", "2026"),
        ("2026-03-10T14:25:18+01:00", "20260310132518"),
        (None, None),
    ],
)
def test_fhir_date_times_become_dtm(value, expected):
    assert dtm(value) == expected


def test_mime_type_title_language_and_comments(ihe):
    entry = ihe.submission.document_entries[0]
    assert entry.mime_type == "text/plain"
    assert entry.title == "Hello"
    assert entry.language_code == "en"
    assert entry.comments == "first synthetic document"


def test_authors_from_contained_practitioner_role_and_organization(nhn):
    person = "9144900^TESTLEGE^SYNTETISK^^^^^^&2.16.578.1.12.4.1.4.4&ISO"
    institution = "SYNTETISK SYKEHUS HF^^^^^&2.16.578.1.12.4.1.4.101&ISO^^^^999999999"
    practitioner, role, organization = nhn.submission.document_entries[0].authors
    assert practitioner.person == person
    assert practitioner.telecommunications == ["^^Internet^lege@example.org"]
    assert role.person == person
    assert role.institutions == [institution]
    assert role.roles == ["4^^^&2.16.578.1.12.4.1.1.9034&ISO"]
    assert role.specialties == ["1^^^&2.16.578.1.12.4.1.1.7426&ISO"]
    assert organization.person is None
    assert organization.institutions == [institution]


def test_author_without_identifier_is_named_only():
    bundle = fixture_bundle("nhn")
    del resource(bundle, 3)["contained"][0]["identifier"]
    author = mapped(bundle).submission.document_entries[0].authors[0]
    assert author.person == "^TESTLEGE^SYNTETISK"


def test_author_organization_without_oid_is_its_name(ihe):
    assert ihe.submission.document_entries[0].authors[1].institutions == ["Example Hospital"]


def test_author_phone_and_coded_role(ihe):
    author = ihe.submission.document_entries[0].authors[0]
    assert author.telecommunications == ["^PRN^PH^^^^^^^^^+15551234"]
    assert author.roles == [f"158965000^^^&{SNOMED}&ISO"]
    assert author.specialties == ["Cardiology"]


def test_author_reference_must_resolve():
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["author"][0]["reference"] = "#nobody"
    assert rejected(bundle) == [
        (ErrorCode.UNRESOLVED_REFERENCE, "Bundle.entry[3].resource.author[0]"),
    ]


def test_legal_authenticator_from_authenticator(ihe):
    entry = ihe.submission.document_entries[0]
    assert entry.legal_authenticator == "pr-77^Author^Anna^^^^^^&1.3.6.1.4.1.21367.100.1&ISO"


def test_source_patient_id_and_info_from_a_bundle_patient(nhn):
    entry = nhn.submission.document_entries[0]
    assert entry.source_patient_id == NHN_PATIENT
    assert entry.source_patient_info == [
        f"PID-3|{NHN_PATIENT}",
        "PID-5|TESTESEN^SYNTETISK^OLA^^",
        "PID-7|19700101",
        "PID-8|M",
    ]


def test_source_patient_id_and_info_from_a_contained_patient(ihe):
    entry = ihe.submission.document_entries[0]
    assert entry.source_patient_id == "mrn-1234^^^&http://example.org/mrn&URI"
    assert entry.source_patient_info == [
        "PID-3|mrn-1234^^^&http://example.org/mrn&URI",
        "PID-5|Moore^Chip^J^^",
        "PID-7|196005",
        "PID-8|F",
    ]


def test_reference_id_list_from_context_related_as_cxi(ihe):
    assert ihe.submission.document_entries[0].reference_id_list == [
        "ref-42^^^&1.2.3.4.5.300&ISO^urn:ihe:iti:xds:2013:referral"
    ]


def test_hl7_delimiters_in_values_are_escaped(ihe):
    author = ihe.submission.document_entries[1].authors[0]
    assert author.institutions == [
        "Example \\T\\ Sons Clinic^^^^^&1.3.6.1.4.1.21367.100.2&ISO^^^^org-1"
    ]


def test_hash_and_size_are_not_taken_from_the_bundle(nhn):
    entry = nhn.submission.document_entries[0]
    assert (entry.hash, entry.size, entry.repository_unique_id) == (None, None, None)


def test_stated_base64_sha1_hash_is_expected_as_hex(nhn):
    data = nhn.contents["urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a04"]
    expected = nhn.expected["urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a04"]
    assert expected == (hashlib.sha1(data).hexdigest(), len(data))


def test_stated_hex_digest_in_base64_is_tolerated():
    bundle = fixture_bundle("nhn")
    attachment = resource(bundle, 3)["content"][0]["attachment"]
    data = base64.b64decode(resource(bundle, 2)["data"])
    hex_digest = hashlib.sha1(data).hexdigest()
    attachment["hash"] = base64.b64encode(hex_digest.encode()).decode()
    entry_uuid = "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a04"
    assert mapped(bundle).expected[entry_uuid][0] == hex_digest


def test_stated_hash_that_is_no_sha1_digest_is_a_metadata_error():
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["content"][0]["attachment"]["hash"] = base64.b64encode(b"short").decode()
    assert rejected(bundle) == [
        (ErrorCode.REGISTRY_METADATA_ERROR, "Bundle.entry[3].resource.content[0].attachment.hash"),
    ]


def test_document_bytes_come_from_the_binary(ihe):
    assert ihe.contents["urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-0000000000bb"] == (
        b"Hello synthetic world\n"
    )


# SubmissionSet


def test_submission_set_identifiers(ihe):
    submission_set = ihe.submission.submission_set
    assert submission_set.unique_id == "1.2.3.4.5.100.1"
    assert submission_set.entry_uuid == "urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-0000000000aa"


def test_submission_set_source_id_strips_urn_oid(nhn, ihe):
    assert nhn.submission.submission_set.source_id == "1.1"
    assert ihe.submission.submission_set.source_id == "1.3.6.1.4.1.21367.2017.2.1.1"


def test_submission_set_time_patient_and_content_type(ihe):
    submission_set = ihe.submission.submission_set
    assert submission_set.submission_time == "20200202045050"
    assert submission_set.patient_id == IHE_PATIENT
    assert submission_set.content_type_code == Code("34133-9", LOINC, "Summary of episode note")


def test_submission_set_author_from_source_and_author_org(ihe):
    (author,) = ihe.submission.submission_set.authors
    assert author.person == "pr-77^Sender^Sam^Q^^^^^&1.3.6.1.4.1.21367.100.1&ISO"
    assert author.institutions == [
        "Example \\T\\ Sons Clinic^^^^^&1.3.6.1.4.1.21367.100.2&ISO^^^^org-1"
    ]


def test_submission_set_title_comments_and_intended_recipient(ihe):
    submission_set = ihe.submission.submission_set
    assert submission_set.title == "Example submission"
    assert submission_set.comments == "Two synthetic documents"
    assert submission_set.intended_recipients == ["||^^Internet^recipient@example.org"]


def test_one_has_member_association_per_document_with_status_original(ihe):
    submission = ihe.submission
    associations = submission.associations
    assert [a.target_object for a in associations] == [
        e.entry_uuid for e in submission.document_entries
    ]
    for association in associations:
        assert association.association_type == AssociationType.HAS_MEMBER
        assert association.source_object == submission.submission_set.entry_uuid
        assert association.submission_set_status == "Original"
    assert len({a.entry_uuid for a in associations}) == 2


def test_locations_name_every_entry_in_order(nhn):
    assert nhn.locations == [
        "List/6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a01",
        "Patient/6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a02",
        "Binary/6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a03",
        "DocumentReference/6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a04",
    ]


def test_locator_maps_xds_attributes_back_to_fhirpath(ihe):
    locator = ihe.locator
    second = "urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-000000000005"
    submission_set = "urn:uuid:0b7e3b5c-8a2d-4c1e-9f00-0000000000aa"
    assert locator.path_of(second, "uniqueId") == "Bundle.entry[4].resource.masterIdentifier"
    assert locator.path_of(second, "hash") == "Bundle.entry[4].resource.content[0].attachment.hash"
    assert locator.path_of(second, "entryUUID") == "Bundle.entry[4].fullUrl"
    assert locator.path_of(submission_set, "uniqueId") == "Bundle.entry[0].resource.identifier[1]"
    assert locator.path_of(submission_set, "sourceId") == "Bundle.entry[0].resource.extension[0]"
    assert locator.path_of("urn:uuid:unknown", "uniqueId") == "Bundle"


def test_pydantic_locations_become_fhirpath():
    loc = ("entry", 3, "resource", "content", 0, "attachment", "size")
    assert fhir_path(loc) == "Bundle.entry[3].resource.content[0].attachment.size"
