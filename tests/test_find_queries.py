"""The stored queries FindDocumentsByReferenceId, FindSubmissionSets, FindFolders and GetAll.

Each parameter as ITI TF-2a 3.18.4.1.2.3.7 defines it, on every backend.
"""

from __future__ import annotations

import pytest
from alembic import command
from query_support import (
    HAS_MEMBER,
    RPLC,
    Slots,
    approved_of,
    association,
    error_of,
    folder,
    links,
    one,
    quoted,
    run,
    submission_set,
    submit,
    unique_ids,
)
from registry_samples import (
    APPROVED,
    DEPRECATED,
    OTHER_PATIENT,
    PATIENT,
    document_entry,
    register,
)

from registry import tables
from registry.errors import ErrorCode
from registry.metadata import Author, Code, DocumentEntryType
from registry.migrations import alembic_config
from registry.queries import (
    FIND_DOCUMENTS_BY_REFERENCE_ID,
    FIND_FOLDERS,
    FIND_SUBMISSION_SETS,
    GET_ALL,
)
from registry.sql import SqlRegistryStore, create_registry_engine, to_json

ON_DEMAND = DocumentEntryType.ON_DEMAND.value
ACCESSION = "^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"


# --- FindDocumentsByReferenceId ---------------------------------------------------------------


def by_reference_id(store, **slots: Slots) -> list[str]:
    """FindDocumentsByReferenceId for PATIENT's approved entries; the uniqueIds found."""
    params = {**approved_of(PATIENT, "XDSDocumentEntry"), **slots}
    return unique_ids(run(store, FIND_DOCUMENTS_BY_REFERENCE_ID, **params).document_entries)


def _referenced(unique_id: str, *references: str, **attributes):
    return document_entry(
        unique_id, reference_id_list=[r + ACCESSION for r in references], **attributes
    )


def test_find_documents_by_reference_id_matches_a_reference_id(registry_store):
    register(registry_store, _referenced("a", "A1"), _referenced("b", "B1"), document_entry("none"))

    assert by_reference_id(
        registry_store, XDSDocumentEntryReferenceIdList=one("A1" + ACCESSION)
    ) == ["a"]


def test_find_documents_by_reference_id_matches_the_whole_cxi_value(registry_store):
    register(registry_store, _referenced("a", "A1"))

    assert by_reference_id(registry_store, XDSDocumentEntryReferenceIdList=one("A1")) == []
    other_type = "A1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:referral"
    assert by_reference_id(registry_store, XDSDocumentEntryReferenceIdList=one(other_type)) == []


def test_find_documents_by_reference_id_ors_values_within_a_slot(registry_store):
    register(registry_store, _referenced("a", "A1"), _referenced("b", "B1"), _referenced("c", "C1"))

    values = [[quoted("A1" + ACCESSION, "B1" + ACCESSION)]]
    assert by_reference_id(registry_store, XDSDocumentEntryReferenceIdList=values) == ["a", "b"]


def test_find_documents_by_reference_id_ands_slots(registry_store):
    register(registry_store, _referenced("a-b", "A1", "B1"), _referenced("a", "A1"))

    slots = [[quoted("A1" + ACCESSION)], [quoted("B1" + ACCESSION)]]
    assert by_reference_id(registry_store, XDSDocumentEntryReferenceIdList=slots) == ["a-b"]


def test_find_documents_by_reference_id_requires_reference_id_list(registry_store):
    assert error_of(by_reference_id, registry_store) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        "$XDSDocumentEntryReferenceIdList",
    )


def test_find_documents_by_reference_id_requires_patient_id(registry_store):
    code = error_of(
        by_reference_id,
        registry_store,
        XDSDocumentEntryPatientId=[],
        XDSDocumentEntryReferenceIdList=one("A1" + ACCESSION),
    )
    assert code == (ErrorCode.STORED_QUERY_MISSING_PARAM, "$XDSDocumentEntryPatientId")


def test_find_documents_by_reference_id_takes_find_documents_parameters(registry_store):
    register(
        registry_store,
        _referenced("class-x", "A1", class_code=Code("X", "s")),
        _referenced("class-y", "A1", class_code=Code("Y", "s")),
        _referenced("deprecated", "A1", availability_status=DEPRECATED),
        _referenced("other-patient", "A1", patient_id=OTHER_PATIENT),
        _referenced("on-demand", "A1", object_type=ON_DEMAND),
    )
    reference = one("A1" + ACCESSION)

    assert by_reference_id(registry_store, XDSDocumentEntryReferenceIdList=reference) == [
        "class-x",
        "class-y",
    ]
    assert by_reference_id(
        registry_store,
        XDSDocumentEntryReferenceIdList=reference,
        XDSDocumentEntryClassCode=[[quoted("X^^s")]],
    ) == ["class-x"]


# --- FindSubmissionSets -----------------------------------------------------------------------


def find_sets(store, **slots: Slots) -> list[str]:
    """FindSubmissionSets for PATIENT's approved SubmissionSets; the uniqueIds found."""
    params = {**approved_of(PATIENT, "XDSSubmissionSet"), **slots}
    return unique_ids(run(store, FIND_SUBMISSION_SETS, **params).submission_sets)


def _sets(store, **variants: dict) -> None:
    for unique_id, attributes in variants.items():
        submit(store, submission_set_=submission_set(unique_id, **attributes))


def test_find_submission_sets_returns_only_the_patients_sets(registry_store):
    _sets(registry_store, mine={}, theirs={"patient_id": OTHER_PATIENT})

    assert find_sets(registry_store) == ["mine"]


@pytest.mark.parametrize("parameter", ["XDSSubmissionSetPatientId", "XDSSubmissionSetStatus"])
def test_find_submission_sets_requires_patient_id_and_status(registry_store, parameter):
    assert error_of(find_sets, registry_store, **{parameter: []}) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        f"${parameter}",
    )


def test_find_submission_sets_takes_a_single_patient_id(registry_store):
    assert error_of(
        find_sets, registry_store, XDSSubmissionSetPatientId=[[quoted(PATIENT, OTHER_PATIENT)]]
    ) == (ErrorCode.STORED_QUERY_PARAM_NUMBER, "$XDSSubmissionSetPatientId")


def test_find_submission_sets_selects_by_status(registry_store):
    _sets(registry_store, approved={}, other={"availability_status": DEPRECATED})

    assert find_sets(registry_store) == ["approved"]
    statuses = [[quoted(APPROVED, DEPRECATED)]]
    assert find_sets(registry_store, XDSSubmissionSetStatus=statuses) == ["approved", "other"]


def test_find_submission_sets_by_source_id(registry_store):
    _sets(registry_store, a={"source_id": "1.1"}, b={"source_id": "1.2"}, c={"source_id": "1.3"})

    assert find_sets(registry_store, XDSSubmissionSetSourceId=[[quoted("1.1", "1.3")]]) == [
        "a",
        "c",
    ]
    assert find_sets(registry_store, XDSSubmissionSetSourceId=one("9.9")) == []


def test_find_submission_sets_submission_time_from_is_inclusive_and_to_exclusive(registry_store):
    _sets(
        registry_store,
        before={"submission_time": "20240101095959"},
        at_from={"submission_time": "20240101100000"},
        at_to={"submission_time": "202401011100"},
    )
    time_from = {"XDSSubmissionSetSubmissionTimeFrom": [["20240101100000"]]}
    time_to = {"XDSSubmissionSetSubmissionTimeTo": [["2024010111"]]}

    assert find_sets(registry_store, **time_from, **time_to) == ["at_from"]
    assert find_sets(registry_store, **time_from) == ["at_from", "at_to"]
    assert find_sets(registry_store, **time_to) == ["at_from", "before"]


def test_find_submission_sets_rejects_a_time_that_is_not_dtm(registry_store):
    assert error_of(find_sets, registry_store, XDSSubmissionSetSubmissionTimeTo=[["'noon'"]]) == (
        ErrorCode.REGISTRY_ERROR,
        "$XDSSubmissionSetSubmissionTimeTo",
    )


def test_find_submission_sets_by_author_person_pattern(registry_store):
    _sets(
        registry_store,
        smith={"authors": [Author(person="^Smith^John")]},
        smithson={"authors": [Author(person="^Smithson^Ann")]},
        anonymous={},
    )

    assert find_sets(registry_store, XDSSubmissionSetAuthorPerson=one("%smith^%")) == ["smith"]
    assert find_sets(registry_store, XDSSubmissionSetAuthorPerson=one("^Smiths_n%")) == ["smithson"]
    assert find_sets(registry_store, XDSSubmissionSetAuthorPerson=one("^Jones%")) == []


def test_find_submission_sets_takes_a_single_author_person(registry_store):
    assert error_of(
        find_sets, registry_store, XDSSubmissionSetAuthorPerson=[["'^A%'", "'^B%'"]]
    ) == (ErrorCode.STORED_QUERY_PARAM_NUMBER, "$XDSSubmissionSetAuthorPerson")


def test_find_submission_sets_by_content_type(registry_store):
    _sets(
        registry_store,
        x={"content_type_code": Code("X", "s")},
        y={"content_type_code": Code("Y", "s")},
        other_scheme={"content_type_code": Code("X", "t")},
        none={},
    )

    assert find_sets(registry_store, XDSSubmissionSetContentType=[[quoted("X^^s", "Y^^s")]]) == [
        "x",
        "y",
    ]
    assert find_sets(registry_store, XDSSubmissionSetContentType=[[quoted("Z^^s")]]) == []


def test_find_submission_sets_ignores_document_entry_parameters(registry_store):
    _sets(registry_store, a={})

    assert find_sets(registry_store, XDSDocumentEntryClassCode=[[quoted("X^^s")]]) == ["a"]


# --- FindFolders ------------------------------------------------------------------------------


def find_folders(store, **slots: Slots) -> list[str]:
    """FindFolders for PATIENT's approved Folders; the uniqueIds found."""
    params = {**approved_of(PATIENT, "XDSFolder"), **slots}
    return unique_ids(run(store, FIND_FOLDERS, **params).folders)


def _folders(store, **variants: dict) -> None:
    submit(store, *(folder(unique_id, **attributes) for unique_id, attributes in variants.items()))


def _coded(*codes: str) -> dict:
    return {"code_list": [Code(code, "s") for code in codes]}


def test_find_folders_returns_only_the_patients_folders(registry_store):
    _folders(registry_store, mine={})
    _folders(registry_store, theirs={"patient_id": OTHER_PATIENT})

    assert find_folders(registry_store) == ["mine"]


@pytest.mark.parametrize("parameter", ["XDSFolderPatientId", "XDSFolderStatus"])
def test_find_folders_requires_patient_id_and_status(registry_store, parameter):
    assert error_of(find_folders, registry_store, **{parameter: []}) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        f"${parameter}",
    )


def test_find_folders_selects_by_status(registry_store):
    _folders(registry_store, approved={}, deprecated={"availability_status": DEPRECATED})

    assert find_folders(registry_store) == ["approved"]
    assert find_folders(registry_store, XDSFolderStatus=[[quoted(DEPRECATED)]]) == ["deprecated"]


def test_find_folders_last_update_time_from_is_inclusive_and_to_exclusive(registry_store):
    _folders(
        registry_store,
        before={"last_update_time": "2023"},
        at_from={"last_update_time": "20240101"},
        at_to={"last_update_time": "20240201000000"},
    )
    time_from = {"XDSFolderLastUpdateTimeFrom": [["2024"]]}
    time_to = {"XDSFolderLastUpdateTimeTo": [["202402"]]}

    assert find_folders(registry_store, **time_from, **time_to) == ["at_from"]
    assert find_folders(registry_store, **time_from) == ["at_from", "at_to"]
    assert find_folders(registry_store, **time_to) == ["at_from", "before"]


def test_find_folders_takes_a_single_last_update_time_bound(registry_store):
    assert error_of(
        find_folders, registry_store, XDSFolderLastUpdateTimeFrom=[["2024"], ["2025"]]
    ) == (
        ErrorCode.STORED_QUERY_PARAM_NUMBER,
        "$XDSFolderLastUpdateTimeFrom",
    )


def test_find_folders_ors_codes_within_a_slot(registry_store):
    _folders(registry_store, a=_coded("A"), b=_coded("B"), c=_coded("C"))

    assert find_folders(registry_store, XDSFolderCodeList=[[quoted("A^^s"), quoted("B^^s")]]) == [
        "a",
        "b",
    ]


def test_find_folders_ands_code_slots(registry_store):
    _folders(registry_store, a_b=_coded("A", "B"), a=_coded("A"), b_c=_coded("B", "C"))

    assert find_folders(registry_store, XDSFolderCodeList=[[quoted("A^^s")], [quoted("B^^s")]]) == [
        "a_b"
    ]


def test_find_folders_matches_codes_by_coding_scheme(registry_store):
    _folders(registry_store, a=_coded("A"))

    assert find_folders(registry_store, XDSFolderCodeList=[[quoted("A^^other")]]) == []


def test_find_folders_rejects_a_code_without_coding_scheme(registry_store):
    assert error_of(find_folders, registry_store, XDSFolderCodeList=[[quoted("A")]]) == (
        ErrorCode.REGISTRY_ERROR,
        "$XDSFolderCodeList",
    )


# --- GetAll -----------------------------------------------------------------------------------

ALL_APPROVED = {
    "patientId": one(PATIENT),
    "XDSDocumentEntryStatus": [[quoted(APPROVED)]],
    "XDSSubmissionSetStatus": [[quoted(APPROVED)]],
    "XDSFolderStatus": [[quoted(APPROVED)]],
}


def get_all(store, **slots: Slots):
    """GetAll of PATIENT's approved objects, with `slots` replacing or adding parameters."""
    return run(store, GET_ALL, **{**ALL_APPROVED, **slots})


def test_get_all_returns_the_patients_objects_and_the_associations_between_them(registry_store):
    entry, folder_ = document_entry("entry"), folder("folder")
    filed = association(HAS_MEMBER, folder_.entry_uuid, entry.entry_uuid)
    package = submit(registry_store, entry, folder_, associations=(filed,))
    submit(registry_store, document_entry("theirs", patient_id=OTHER_PATIENT))

    result = get_all(registry_store)

    assert unique_ids(result.document_entries) == ["entry"]
    assert unique_ids(result.folders) == ["folder"]
    assert [s.unique_id for s in result.submission_sets] == [package.unique_id]
    assert links(result) == sorted(
        [
            (HAS_MEMBER, package.entry_uuid, entry.entry_uuid),
            (HAS_MEMBER, package.entry_uuid, folder_.entry_uuid),
            (HAS_MEMBER, folder_.entry_uuid, entry.entry_uuid),
        ]
    )


@pytest.mark.parametrize("parameter", list(ALL_APPROVED))
def test_get_all_requires_patient_id_and_every_status(registry_store, parameter):
    assert error_of(get_all, registry_store, **{parameter: []}) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        f"${parameter}",
    )


def test_get_all_returns_the_filing_of_an_entry_into_an_older_folder(registry_store):
    folder_ = folder("folder")
    submit(registry_store, folder_)
    later, entry = submission_set(), document_entry("later")
    filing = association(HAS_MEMBER, folder_.entry_uuid, entry.entry_uuid)
    filing_member = association(HAS_MEMBER, later.entry_uuid, filing.entry_uuid)
    submit(registry_store, entry, submission_set_=later, associations=(filing, filing_member))

    result = get_all(registry_store)

    assert (HAS_MEMBER, folder_.entry_uuid, entry.entry_uuid) in links(result)
    assert (HAS_MEMBER, later.entry_uuid, filing.entry_uuid) in links(result)
    assert len(result.associations) == 4


def test_get_all_selects_each_kind_by_its_own_status(registry_store):
    old = document_entry("old")
    submit(registry_store, old, folder("old-folder", availability_status=DEPRECATED))
    new = document_entry("new")
    submit(registry_store, new, associations=(association(RPLC, new.entry_uuid, old.entry_uuid),))

    approved = get_all(registry_store)
    assert unique_ids(approved.document_entries) == ["new"]
    assert approved.folders == []

    both = [[quoted(APPROVED, DEPRECATED)]]
    everything = get_all(registry_store, XDSDocumentEntryStatus=both, XDSFolderStatus=both)
    assert unique_ids(everything.document_entries) == ["new", "old"]
    assert unique_ids(everything.folders) == ["old-folder"]
    assert (RPLC, new.entry_uuid, old.entry_uuid) in links(everything)


def test_get_all_leaves_out_associations_to_objects_it_does_not_return(registry_store):
    old = document_entry("old")
    submit(registry_store, old)
    new = document_entry("new")
    submit(registry_store, new, associations=(association(RPLC, new.entry_uuid, old.entry_uuid),))

    result = get_all(registry_store)

    assert unique_ids(result.document_entries) == ["new"]
    assert all(a.target_object != old.entry_uuid for a in result.associations)
    assert RPLC not in {a.association_type for a in result.associations}


def test_get_all_filters_format_code(registry_store):
    submit(
        registry_store,
        document_entry("pdf", format_code=Code("pdf", "s")),
        document_entry("text", format_code=Code("text", "s")),
    )

    result = get_all(registry_store, XDSDocumentEntryFormatCode=[[quoted("pdf^^s")]])
    assert unique_ids(result.document_entries) == ["pdf"]
    assert len(result.associations) == 1


def test_get_all_filters_confidentiality_code_and_or(registry_store):
    submit(
        registry_store,
        document_entry("n", confidentiality_codes=[Code("N", "s")]),
        document_entry("n-r", confidentiality_codes=[Code("N", "s"), Code("R", "s")]),
        document_entry("v", confidentiality_codes=[Code("V", "s")]),
    )

    one_slot = [[quoted("N^^s", "V^^s")]]
    found = get_all(registry_store, XDSDocumentEntryConfidentialityCode=one_slot)
    assert unique_ids(found.document_entries) == ["n", "n-r", "v"]
    two_slots = [[quoted("N^^s")], [quoted("R^^s")]]
    found = get_all(registry_store, XDSDocumentEntryConfidentialityCode=two_slots)
    assert unique_ids(found.document_entries) == ["n-r"]


def test_get_all_returns_stable_entries_unless_asked_otherwise(registry_store):
    submit(registry_store, document_entry("stable"), document_entry("odd", object_type=ON_DEMAND))

    assert unique_ids(get_all(registry_store).document_entries) == ["stable"]
    found = get_all(registry_store, XDSDocumentEntryType=[[quoted(ON_DEMAND)]])
    assert unique_ids(found.document_entries) == ["odd"]


def test_get_all_selects_associations_by_status(registry_store):
    entry = document_entry("entry")
    package = submit(registry_store, entry)

    result = get_all(registry_store, XDSAssociationStatus=[[quoted(DEPRECATED)]])
    assert result.associations == []
    assert [s.entry_uuid for s in result.submission_sets] == [package.entry_uuid]


# --- Migration 0002 ---------------------------------------------------------------------------


def test_migration_indexes_reference_ids_of_entries_stored_before_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    entry = _referenced("old", "A1")
    engine = create_registry_engine(url)
    config = alembic_config()
    with engine.connect() as connection, connection.begin():
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            tables.document_entry.insert(),
            {
                "entry_uuid": entry.entry_uuid,
                "unique_id": entry.unique_id,
                "patient_id": entry.patient_id,
                "availability_status": APPROVED,
                "object_type": entry.object_type,
                "metadata": to_json(entry),
            },
        )
    engine.dispose()

    store = SqlRegistryStore(url)
    try:
        found = by_reference_id(store, XDSDocumentEntryReferenceIdList=one("A1" + ACCESSION))
    finally:
        store.close()
    assert found == ["old"]
