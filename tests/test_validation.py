"""The IHE validation catalogue (ITI TF-3 4.2, 4.3.1; ITI TF-2b 3.42): one test per rule."""

from __future__ import annotations

import pytest
from validation_samples import (
    OTHER_PATIENT,
    PATIENT,
    document_entry,
    folder,
    has_member,
    new_uuid,
    submission,
)

from registry.errors import ErrorCode
from registry.metadata import Association, Author, Code, DocumentEntryType
from registry.service import register_submission
from registry.validation import (
    DOCUMENT_ENTRY_REQUIRED,
    FOLDER_REQUIRED,
    SUBMISSION_SET_REQUIRED,
    Profile,
    Rule,
    Transaction,
    ValidationOptions,
    validate_submission,
)

META = ErrorCode.REGISTRY_METADATA_ERROR
ITI_65 = ValidationOptions(transaction=Transaction.PROVIDE_DOCUMENT_BUNDLE)


def found(store, sub, options: ValidationOptions | None = None) -> list[tuple[str, str, str]]:
    """(code, object, attribute) of every issue."""
    issues = validate_submission(sub, options=options, registry_store=store)
    for issue in issues:
        assert issue.message
    return [(issue.code, issue.object_id, issue.attribute) for issue in issues]


def entry_issues(store, options=None, **attributes) -> list[tuple[str, str]]:
    """(code, attribute) of the issues of one DocumentEntry with `attributes` set."""
    entry = document_entry(**attributes)
    return [(c, a) for c, o, a in found(store, submission(entry), options) if o == entry.entry_uuid]


def registered(store, entry) -> None:
    register_submission(store, submission(entry))


# A valid submission


@pytest.mark.parametrize("profile", list(Profile))
def test_a_complete_submission_is_valid(registry_store, profile):
    sub = submission(document_entry(), document_entry(), folders=(folder(),))
    sub.associations.append(
        has_member(sub.folders[0].entry_uuid, sub.document_entries[0].entry_uuid)
    )
    sub.associations.append(
        has_member(sub.submission_set.entry_uuid, sub.associations[-1].entry_uuid)
    )

    assert found(registry_store, sub, ValidationOptions(profile=profile)) == []


def test_every_rule_is_bound_to_an_ihe_error_code():
    assert all(isinstance(rule.code, ErrorCode) and rule.summary for rule in Rule)


# Cardinality (ITI TF-3 Table 4.3.1-3)


# The model field of each XDS attribute, emptied to leave the attribute out.
FIELDS = {
    "classCode": "class_code",
    "confidentialityCode": "confidentiality_codes",
    "creationTime": "creation_time",
    "formatCode": "format_code",
    "hash": "hash",
    "healthcareFacilityTypeCode": "healthcare_facility_type_code",
    "languageCode": "language_code",
    "mimeType": "mime_type",
    "objectType": "object_type",
    "patientId": "patient_id",
    "practiceSettingCode": "practice_setting_code",
    "repositoryUniqueId": "repository_unique_id",
    "size": "size",
    "sourcePatientId": "source_patient_id",
    "typeCode": "type_code",
    "uniqueId": "unique_id",
    "contentTypeCode": "content_type_code",
    "sourceId": "source_id",
    "submissionTime": "submission_time",
    "codeList": "code_list",
    "title": "title",
}


def leave_out(item, attribute: str) -> None:
    name = FIELDS[attribute]
    value = getattr(item, name)
    setattr(item, name, [] if isinstance(value, list) else "" if isinstance(value, str) else None)


@pytest.mark.parametrize("required", DOCUMENT_ENTRY_REQUIRED, ids=lambda r: r.attribute)
def test_document_entry_without_required_attribute_is_metadata_error(registry_store, required):
    entry = document_entry()
    leave_out(entry, required.attribute)

    issues = found(registry_store, submission(entry))

    assert (META, entry.entry_uuid, required.attribute) in issues


@pytest.mark.parametrize("required", SUBMISSION_SET_REQUIRED, ids=lambda r: r.attribute)
def test_submission_set_without_required_attribute_is_metadata_error(registry_store, required):
    sub = submission(document_entry())
    leave_out(sub.submission_set, required.attribute)

    issues = found(registry_store, sub)

    assert (META, sub.submission_set.entry_uuid, required.attribute) in issues


@pytest.mark.parametrize("required", FOLDER_REQUIRED, ids=lambda r: r.attribute)
def test_folder_without_required_attribute_is_metadata_error(registry_store, required):
    the_folder = folder()
    leave_out(the_folder, required.attribute)

    issues = found(registry_store, submission(folders=(the_folder,)))

    assert (META, the_folder.entry_uuid, required.attribute) in issues


def test_mhd_bundle_requires_language_and_source_patient_under_ihe(registry_store):
    assert entry_issues(registry_store, ITI_65, language_code=None, source_patient_id=None) == [
        (META, "languageCode"),
        (META, "sourcePatientId"),
    ]


def test_mhd_bundle_may_leave_out_language_and_source_patient_under_norway(registry_store):
    norway = ValidationOptions(
        transaction=Transaction.PROVIDE_DOCUMENT_BUNDLE,
        profile=Profile.NORWAY,
        accept_synthetic_ids=True,
    )
    assert entry_issues(registry_store, norway, language_code=None, source_patient_id=None) == []
    register = ValidationOptions(profile=Profile.NORWAY, accept_synthetic_ids=True)
    assert entry_issues(registry_store, register, language_code=None, source_patient_id=None) == [
        (META, "languageCode"),
        (META, "sourcePatientId"),
    ]


def test_limited_metadata_may_leave_out_language_and_source_patient(registry_store):
    assert (
        entry_issues(
            registry_store, limited_metadata=True, language_code=None, source_patient_id=None
        )
        == []
    )


def test_on_demand_document_entry_is_not_registered(registry_store):
    issues = entry_issues(registry_store, object_type=DocumentEntryType.ON_DEMAND)
    assert issues == [(META, "objectType")]


# Identifiers and formats (ITI TF-3 4.2.3.1)


@pytest.mark.parametrize("entry_uuid", ["urn:uuid:not-a-uuid", " "])
def test_malformed_entry_uuid_is_metadata_error(registry_store, entry_uuid):
    assert (META, "entryUUID") in entry_issues(registry_store, entry_uuid=entry_uuid)


def test_symbolic_entry_uuids_are_accepted_and_replaced(registry_store):
    entry = document_entry(entry_uuid="Document01")
    sub = submission(entry)
    sub.submission_set.entry_uuid = "SubmissionSet01"
    sub.associations[0] = has_member("SubmissionSet01", "Document01")
    assert found(registry_store, sub) == []

    stored = register_submission(registry_store, sub)

    assert stored.document_entries[0].entry_uuid.startswith("urn:uuid:")
    assert stored.associations[0].source_object == stored.submission_set.entry_uuid
    assert stored.associations[0].target_object == stored.document_entries[0].entry_uuid


@pytest.mark.parametrize("attribute", ["unique_id", "source_id"])
def test_submission_set_ids_must_be_oids(registry_store, attribute):
    sub = submission(document_entry())
    setattr(sub.submission_set, attribute, "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a01")
    name = {"unique_id": "uniqueId", "source_id": "sourceId"}[attribute]

    assert found(registry_store, sub) == [(META, sub.submission_set.entry_uuid, name)]


def test_folder_unique_id_must_be_an_oid(registry_store):
    the_folder = folder(unique_id="folder-1")
    sub = submission(folders=(the_folder,))
    assert found(registry_store, sub) == [(META, the_folder.entry_uuid, "uniqueId")]


def test_oid_longer_than_64_characters_is_refused_in_iti42_but_taken_in_iti65(registry_store):
    sub = submission(document_entry())
    sub.submission_set.unique_id = "1." + "2" * 70

    assert found(registry_store, sub) == [(META, sub.submission_set.entry_uuid, "uniqueId")]
    assert found(registry_store, sub, ITI_65) == []


@pytest.mark.parametrize(
    "unique_id",
    [
        "1.2.3.4",
        "1.2.3.4^abc",
        "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a01",
        "1.2.3^" + "x" * 16,
    ],
)
def test_document_unique_id_may_be_oid_oid_extension_or_other(registry_store, unique_id):
    assert entry_issues(registry_store, unique_id=unique_id) == []


@pytest.mark.parametrize(
    "unique_id",
    ["1.2.3^", "abc^def", "1.2.3^" + "x" * 17, "1.2.3.4 5", "1." + "2" * 130, "1.2^a^b"],
)
def test_malformed_document_unique_id_is_metadata_error(registry_store, unique_id):
    assert entry_issues(registry_store, unique_id=unique_id) == [(META, "uniqueId")]


@pytest.mark.parametrize(
    "patient_id",
    [
        "13116900216",
        "^^^&2.16.578.1.12.4.1.4.1&ISO",
        "13116900216^^^2.16.578.1.12.4.1.4.1",
        "13116900216^^^&2.16.578.1.12.4.1.4.1&URI",
        "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO^PI",
    ],
)
def test_patient_id_must_be_cx_of_id_and_iso_authority(registry_store, patient_id):
    sub = submission(document_entry(patient_id=patient_id), patient_id=patient_id)
    codes = {(code, attribute) for code, _, attribute in found(registry_store, sub)}
    assert codes == {(META, "patientId")}


def test_source_patient_id_needs_an_id_and_an_assigning_authority(registry_store):
    assert entry_issues(registry_store, source_patient_id="mrn-1^^^&http://x.org/mrn&URI") == []
    assert entry_issues(registry_store, source_patient_id="mrn-1") == [(META, "sourcePatientId")]


@pytest.mark.parametrize("value", ["2024-01-02", "20241301", "20240102030405+0100", "202401021"])
def test_times_must_be_utc_dtm(registry_store, value):
    issues = entry_issues(registry_store, creation_time=value, service_start_time=value)
    assert issues == [(META, "creationTime"), (META, "serviceStartTime")]


@pytest.mark.parametrize("value", ["20060230", "20230229", "20240431", "2100022912"])
def test_times_must_be_real_dates(registry_store, value):
    assert entry_issues(registry_store, creation_time=value) == [(META, "creationTime")]


def test_leap_day_is_a_real_date(registry_store):
    assert (
        entry_issues(registry_store, creation_time="20240229", service_stop_time="2000022923") == []
    )


def test_submission_time_must_be_dtm(registry_store):
    sub = submission(document_entry(), submission_time="2024-01-02T03:04:05Z")
    assert found(registry_store, sub) == [(META, sub.submission_set.entry_uuid, "submissionTime")]


def test_hash_must_be_sha1_in_hex(registry_store):
    assert entry_issues(registry_store, hash="da39a3ee") == [(META, "hash")]


def test_size_must_not_be_negative(registry_store):
    assert entry_issues(registry_store, size=-1) == [(META, "size")]


@pytest.mark.parametrize("options", [None, ITI_65], ids=["ITI-42", "ITI-65"])
def test_size_must_fit_a_64_bit_integer_on_every_register_path(registry_store, options):
    assert entry_issues(registry_store, options, size=2**63 - 1) == []
    assert entry_issues(registry_store, options, size=2**63) == [(META, "size")]
    assert entry_issues(registry_store, options, size=99999999999999999999999999) == [
        (META, "size")
    ]


def test_source_patient_info_of_pid_fields_is_valid(registry_store):
    values = [
        "PID-3|mrn-1^^^&1.2.3&ISO~mrn-2^^^&1.2.4&ISO",
        "PID-5|Nordmann^Kari^^^",
        "PID-7|19560527",
        "PID-7|195605271230+0100",
        "PID-8|F",
        "PID-11|Storgata 1^^Oslo^^0155^NOR",
    ]
    assert entry_issues(registry_store, source_patient_info=values) == []


@pytest.mark.parametrize(
    "value",
    [
        "PID-7|1956XX27",
        "PID-7|19560230",
        "PID-7|19561327",
        "PID-7|1956.5",
        "PID-3|^^^&1.2.3&ISO",
        "PID-3|mrn-1^^^&1.2.3&ISO~",
        "PID5|Nordmann^Kari",
        "Nordmann^Kari",
    ],
)
def test_source_patient_info_must_be_pid_fields_of_their_type(registry_store, value):
    issues = entry_issues(registry_store, source_patient_info=["PID-8|M", value])
    assert issues == [(META, "sourcePatientInfo")]


@pytest.mark.parametrize("value", ["nb-NO", "en", "x-klingon", "zh-Hant-TW"])
def test_language_code_is_a_language_tag(registry_store, value):
    assert entry_issues(registry_store, language_code=value) == []


def test_language_code_that_is_no_tag_is_metadata_error(registry_store):
    assert entry_issues(registry_store, language_code="norsk bokmål") == [(META, "languageCode")]


def test_mime_type_must_be_type_and_subtype(registry_store):
    assert entry_issues(registry_store, mime_type="text/plain; charset=utf-8") == []
    assert entry_issues(registry_store, mime_type="pdf") == [(META, "mimeType")]


def test_repository_unique_id_must_be_an_oid(registry_store):
    assert entry_issues(registry_store, repository_unique_id="repo") == [
        (META, "repositoryUniqueId")
    ]


@pytest.mark.parametrize("code", [Code("A00-1", ""), Code("", "2.16.578.1.12.4.1.1.9602")])
def test_code_without_value_or_coding_scheme_is_metadata_error(registry_store, code):
    assert (META, "classCode") in entry_issues(registry_store, class_code=code)


def test_author_without_person_or_institution_is_metadata_error(registry_store):
    issues = entry_issues(registry_store, authors=[Author(roles=["Lege"])])
    assert issues == [(META, "author")]


@pytest.mark.parametrize(
    ("author", "attribute"),
    [
        (Author(person="^^^^^Dr"), "authorPerson"),
        (Author(person="123^Lege^^^^^^^2.16.578.1.12.4.1.4.4"), "authorPerson"),
        (Author(institutions=["^^^^^^^^^974589095"]), "authorInstitution"),
        (Author(institutions=["Sykehuset^^^^^^^^^974589095"]), "authorInstitution"),
        (Author(person="^Lege", telecommunications=["^^Internet"]), "authorTelecommunication"),
        (Author(person="^Lege", telecommunications=["^PRN^PH"]), "authorTelecommunication"),
    ],
)
def test_author_values_must_be_xcn_xon_xtn(registry_store, author, attribute):
    assert entry_issues(registry_store, authors=[author]) == [(META, attribute)]


def test_legal_authenticator_must_be_xcn(registry_store):
    issues = entry_issues(registry_store, legal_authenticator="^^^^^^^^^")
    assert issues == [(META, "legalAuthenticator")]


# Associations (ITI TF-3 4.2.2)


def test_unknown_association_type_is_metadata_error(registry_store):
    first, second = document_entry(), document_entry()
    sub = submission(first, second)
    sub.associations.append(
        Association(new_uuid(), "urn:example:Likes", first.entry_uuid, second.entry_uuid)
    )
    assert found(registry_store, sub) == [
        (META, sub.associations[-1].entry_uuid, "associationType")
    ]


def test_document_entry_outside_the_submission_set_is_metadata_error(registry_store):
    sub = submission(document_entry())
    sub.associations.clear()
    entry = sub.document_entries[0]
    assert found(registry_store, sub) == [(META, entry.entry_uuid, "entryUUID")]


def test_folder_outside_the_submission_set_is_metadata_error(registry_store):
    sub = submission(folders=(folder(),))
    sub.associations.clear()
    assert found(registry_store, sub) == [(META, sub.folders[0].entry_uuid, "entryUUID")]


@pytest.mark.parametrize("status", [None, "Copy"])
def test_has_member_needs_submission_set_status_original_or_reference(registry_store, status):
    sub = submission(document_entry())
    sub.associations[0].submission_set_status = status
    link = sub.associations[0].entry_uuid
    assert found(registry_store, sub) == [(META, link, "SubmissionSetStatus")]


def test_original_member_must_be_in_the_submission(registry_store):
    old = document_entry()
    registered(registry_store, old)
    sub = submission(document_entry())
    sub.associations.append(has_member(sub.submission_set.entry_uuid, old.entry_uuid, "Original"))

    issues = found(registry_store, sub)

    assert issues == [(META, sub.associations[-1].entry_uuid, "SubmissionSetStatus")]


def test_reference_member_registered_before_is_valid(registry_store):
    old = document_entry()
    registered(registry_store, old)
    sub = submission(document_entry())
    sub.associations.append(has_member(sub.submission_set.entry_uuid, old.entry_uuid, "Reference"))

    assert found(registry_store, sub) == []


def test_reference_to_an_unknown_object_is_unresolved_reference(registry_store):
    sub = submission(document_entry())
    sub.associations.append(has_member(sub.submission_set.entry_uuid, new_uuid(), "Reference"))

    issues = found(registry_store, sub)

    assert issues == [
        (ErrorCode.UNRESOLVED_REFERENCE, sub.associations[-1].entry_uuid, "targetObject")
    ]


def test_unknown_symbolic_source_is_unresolved_reference(registry_store):
    entry = document_entry()
    sub = submission(entry)
    sub.associations.append(
        Association(new_uuid(), "urn:ihe:iti:2007:AssociationType:signs", "Doc99", entry.entry_uuid)
    )
    link = sub.associations[-1].entry_uuid
    assert found(registry_store, sub) == [(ErrorCode.UNRESOLVED_REFERENCE, link, "sourceObject")]


def test_folder_membership_must_be_a_member_of_the_submission_set(registry_store):
    entry, the_folder = document_entry(), folder()
    sub = submission(entry, folders=(the_folder,))
    sub.associations.append(has_member(the_folder.entry_uuid, entry.entry_uuid, None))

    issues = found(registry_store, sub)

    assert issues == [(META, sub.associations[-1].entry_uuid, "sourceObject")]


# Identity in the message and in the registry (ITI TF-2b 3.42.4.1.3)


def test_entry_uuid_used_twice_is_metadata_error(registry_store):
    first = document_entry()
    second = document_entry(entry_uuid=first.entry_uuid)
    issues = found(registry_store, submission(first, second))
    assert (META, first.entry_uuid, "entryUUID") in issues


def test_unique_id_used_twice_is_duplicate_unique_id_in_message(registry_store):
    first, second = document_entry("1.2.3.4"), document_entry("1.2.3.4")
    issues = found(registry_store, submission(first, second))
    assert issues == [
        (ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE, first.entry_uuid, "uniqueId")
    ]


def test_identical_resubmission_is_valid(registry_store):
    registered(registry_store, document_entry("1.2.3.5"))
    assert found(registry_store, submission(document_entry("1.2.3.5"))) == []


def test_unique_id_registered_with_another_hash_is_non_identical_hash(registry_store):
    registered(registry_store, document_entry("1.2.3.6"))
    again = document_entry("1.2.3.6", hash="0" * 40)
    assert found(registry_store, submission(again)) == [
        (ErrorCode.NON_IDENTICAL_HASH, again.entry_uuid, "hash")
    ]


def test_unique_id_registered_with_another_size_is_non_identical_size(registry_store):
    registered(registry_store, document_entry("1.2.3.7"))
    again = document_entry("1.2.3.7", size=1)
    assert found(registry_store, submission(again)) == [
        (ErrorCode.NON_IDENTICAL_SIZE, again.entry_uuid, "size")
    ]


def test_unique_id_registered_for_another_patient_is_duplicate_in_registry(registry_store):
    registered(registry_store, document_entry("1.2.3.8"))
    again = document_entry("1.2.3.8", patient_id=OTHER_PATIENT, source_patient_id=OTHER_PATIENT)
    issues = found(registry_store, submission(again, patient_id=OTHER_PATIENT))
    assert issues == [(ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY, again.entry_uuid, "uniqueId")]


def test_identical_resubmission_stores_the_submission_set_and_keeps_the_entry(registry_store):
    first = document_entry("1.2.3.9")
    registered(registry_store, first)
    sub = submission(document_entry("1.2.3.9"))

    stored = register_submission(registry_store, sub)

    assert stored.document_entries == []
    (link,) = stored.associations
    assert (link.target_object, link.submission_set_status) == (first.entry_uuid, "Reference")
    (entry,) = registry_store.document_entries_by_unique_id(["1.2.3.9"])
    assert entry.entry_uuid == first.entry_uuid
    assert registry_store.stored_objects([sub.submission_set.entry_uuid])


# Patients (ITI TF-2b 3.42.4.1.3)


def test_document_entry_of_another_patient_is_patient_id_does_not_match(registry_store):
    entry = document_entry(patient_id=OTHER_PATIENT)
    issues = found(registry_store, submission(entry))
    assert issues == [(ErrorCode.PATIENT_ID_DOES_NOT_MATCH, entry.entry_uuid, "patientId")]


def test_folder_of_another_patient_is_patient_id_does_not_match(registry_store):
    the_folder = folder(patient_id=OTHER_PATIENT)
    issues = found(registry_store, submission(folders=(the_folder,)))
    assert issues == [(ErrorCode.PATIENT_ID_DOES_NOT_MATCH, the_folder.entry_uuid, "patientId")]


def test_referenced_registry_entry_of_another_patient_is_patient_id_does_not_match(registry_store):
    old = document_entry(patient_id=OTHER_PATIENT)
    register_submission(registry_store, submission(old, patient_id=OTHER_PATIENT))
    sub = submission(document_entry())
    sub.associations.append(has_member(sub.submission_set.entry_uuid, old.entry_uuid, "Reference"))

    issues = found(registry_store, sub)

    link = sub.associations[-1].entry_uuid
    assert issues == [(ErrorCode.PATIENT_ID_DOES_NOT_MATCH, link, "targetObject")]


def test_patient_outside_the_configured_domains_is_unknown_patient_id(registry_store):
    sub = submission(document_entry())
    known = ValidationOptions(patient_id_domains=("2.16.578.1.12.4.1.4.1",))
    unknown = ValidationOptions(patient_id_domains=("1.2.3",))

    assert found(registry_store, sub, known) == []
    assert found(registry_store, sub, unknown) == [
        (ErrorCode.UNKNOWN_PATIENT_ID, sub.submission_set.entry_uuid, "patientId")
    ]


def test_settings_give_the_validation_options():
    from gateway.config import Settings

    settings = Settings(
        profile="norway", accept_synthetic_ids=True, patient_id_domains=["urn:oid:1.2.3"]
    )
    options = ValidationOptions.from_settings(settings, Transaction.REGISTER)
    assert options == ValidationOptions(Transaction.REGISTER, Profile.NORWAY, True, ("1.2.3",))


def test_patient_of_the_sample_is_a_valid_fodselsnummer():
    assert PATIENT.startswith("13116900216")
