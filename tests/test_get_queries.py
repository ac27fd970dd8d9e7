"""The stored queries that read objects by id and follow their Associations.

GetFolders, GetAssociations, GetDocumentsAndAssociations, GetSubmissionSets,
GetSubmissionSetAndContents, GetFolderAndContents, GetFoldersForDocument and GetRelatedDocuments,
each parameter as ITI TF-2a 3.18.4.1.2.3.7 defines it, on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from query_support import (
    APND,
    HAS_MEMBER,
    RPLC,
    XFRM,
    association,
    error_of,
    folder,
    id_parameter_errors,
    links,
    one,
    quoted,
    run,
    submission_set,
    submit,
    unique_ids,
)
from registry_samples import APPROVED, DEPRECATED, document_entry, new_uuid

from registry.errors import ErrorCode
from registry.metadata import Code, DocumentEntryType, Folder, SubmissionSet
from registry.queries import (
    GET_ASSOCIATIONS,
    GET_DOCUMENTS_AND_ASSOCIATIONS,
    GET_FOLDER_AND_CONTENTS,
    GET_FOLDERS,
    GET_FOLDERS_FOR_DOCUMENT,
    GET_RELATED_DOCUMENTS,
    GET_SUBMISSION_SET_AND_CONTENTS,
    GET_SUBMISSION_SETS,
)

ON_DEMAND = DocumentEntryType.ON_DEMAND.value
HOME = one("urn:oid:1.2.3")


@dataclass
class Filed:
    """A submission of two entries, one of them also in a Folder the submission makes."""

    submission_set: SubmissionSet
    folder: Folder
    filed: str
    loose: str


def filed_submission(
    store, *, filed_attributes=None, loose_attributes=None, prefix: str = ""
) -> Filed:
    """Register entries `filed` (in a new Folder) and `loose` in one SubmissionSet.

    `prefix` goes before the uniqueIds `filed`, `loose` and `folder`.
    """
    filed = document_entry(f"{prefix}filed", **(filed_attributes or {}))
    loose = document_entry(f"{prefix}loose", **(loose_attributes or {}))
    folder_ = folder(f"{prefix}folder")
    membership = association(HAS_MEMBER, folder_.entry_uuid, filed.entry_uuid)
    package = submit(store, filed, loose, folder_, associations=(membership,))
    return Filed(package, folder_, filed.entry_uuid, loose.entry_uuid)


# --- GetFolders -------------------------------------------------------------------------------


def test_get_folders_by_entry_uuid_returns_any_status(registry_store):
    approved, deprecated = folder("approved"), folder("deprecated", availability_status=DEPRECATED)
    submit(registry_store, approved, deprecated, folder("other"))

    uuids = [[quoted(deprecated.entry_uuid, approved.entry_uuid, new_uuid())]]
    found = run(registry_store, GET_FOLDERS, XDSFolderEntryUUID=uuids).folders
    assert [f.unique_id for f in found] == ["deprecated", "approved"]


def test_get_folders_by_unique_id(registry_store):
    submit(registry_store, folder("a"), folder("b"))

    found = run(
        registry_store, GET_FOLDERS, XDSFolderUniqueId=[[quoted("b")]], homeCommunityId=HOME
    )
    assert unique_ids(found.folders) == ["b"]


def test_get_folders_takes_entry_uuid_or_unique_id_not_both(registry_store):
    code, _ = error_of(
        run,
        registry_store,
        GET_FOLDERS,
        XDSFolderEntryUUID=one(new_uuid()),
        XDSFolderUniqueId=one("a"),
    )
    assert code == ErrorCode.STORED_QUERY_PARAM_NUMBER


def test_get_folders_requires_entry_uuid_or_unique_id(registry_store):
    code, _ = error_of(run, registry_store, GET_FOLDERS, homeCommunityId=HOME)
    assert code == ErrorCode.STORED_QUERY_MISSING_PARAM


def test_get_folders_takes_a_single_home_community_id(registry_store):
    homes = [["'urn:oid:1.2'", "'urn:oid:1.3'"]]
    assert error_of(
        run, registry_store, GET_FOLDERS, XDSFolderUniqueId=one("a"), homeCommunityId=homes
    ) == (ErrorCode.STORED_QUERY_PARAM_NUMBER, "$homeCommunityId")


# --- GetAssociations --------------------------------------------------------------------------


def test_get_associations_returns_those_with_either_end_named(registry_store):
    made = filed_submission(registry_store)

    result = run(registry_store, GET_ASSOCIATIONS, uuid=one(made.filed))

    assert links(result) == sorted(
        [
            (HAS_MEMBER, made.submission_set.entry_uuid, made.filed),
            (HAS_MEMBER, made.folder.entry_uuid, made.filed),
        ]
    )
    assert result.document_entries == []


def test_get_associations_of_several_objects(registry_store):
    made = filed_submission(registry_store)

    uuids = [[quoted(made.folder.entry_uuid, made.loose)]]
    result = run(registry_store, GET_ASSOCIATIONS, uuid=uuids)
    assert len(result.associations) == 3


def test_get_associations_requires_uuid(registry_store):
    assert error_of(run, registry_store, GET_ASSOCIATIONS, homeCommunityId=HOME) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        "$uuid",
    )


def test_get_associations_returns_approved_ones_unless_asked_otherwise(registry_store):
    made = filed_submission(registry_store)

    deprecated = [[quoted(DEPRECATED)]]
    result = run(
        registry_store, GET_ASSOCIATIONS, uuid=one(made.loose), XDSAssociationStatus=deprecated
    )
    assert result.associations == []
    both = [[quoted(APPROVED, DEPRECATED)]]
    result = run(registry_store, GET_ASSOCIATIONS, uuid=one(made.loose), XDSAssociationStatus=both)
    assert len(result.associations) == 1


# --- GetDocumentsAndAssociations --------------------------------------------------------------


def test_get_documents_and_associations_by_entry_uuid(registry_store):
    made = filed_submission(registry_store)

    result = run(
        registry_store, GET_DOCUMENTS_AND_ASSOCIATIONS, XDSDocumentEntryEntryUUID=one(made.filed)
    )

    assert unique_ids(result.document_entries) == ["filed"]
    assert {a.source_object for a in result.associations} == {
        made.submission_set.entry_uuid,
        made.folder.entry_uuid,
    }


def test_get_documents_and_associations_by_unique_id(registry_store):
    filed_submission(registry_store)

    uids = [[quoted("loose", "filed")]]
    result = run(registry_store, GET_DOCUMENTS_AND_ASSOCIATIONS, XDSDocumentEntryUniqueId=uids)
    assert unique_ids(result.document_entries) == ["filed", "loose"]
    assert len(result.associations) == 3


def test_get_documents_and_associations_of_unknown_documents_is_empty(registry_store):
    result = run(
        registry_store, GET_DOCUMENTS_AND_ASSOCIATIONS, XDSDocumentEntryUniqueId=one("none")
    )
    assert len(result) == 0


@pytest.mark.parametrize(
    ("slots", "code"), id_parameter_errors("XDSDocumentEntryEntryUUID", "XDSDocumentEntryUniqueId")
)
def test_get_documents_and_associations_takes_entry_uuid_or_unique_id(registry_store, slots, code):
    assert error_of(run, registry_store, GET_DOCUMENTS_AND_ASSOCIATIONS, **slots)[0] == code


# --- GetSubmissionSets ------------------------------------------------------------------------


def test_get_submission_sets_of_a_document_with_their_has_member_associations(registry_store):
    made = filed_submission(registry_store)

    result = run(registry_store, GET_SUBMISSION_SETS, uuid=one(made.filed))

    assert [s.entry_uuid for s in result.submission_sets] == [made.submission_set.entry_uuid]
    assert links(result) == [(HAS_MEMBER, made.submission_set.entry_uuid, made.filed)]


def test_get_submission_sets_of_a_folder(registry_store):
    made = filed_submission(registry_store)

    result = run(registry_store, GET_SUBMISSION_SETS, uuid=one(made.folder.entry_uuid))
    assert [s.entry_uuid for s in result.submission_sets] == [made.submission_set.entry_uuid]


def test_get_submission_sets_of_a_document_submitted_again_by_reference(registry_store):
    made = filed_submission(registry_store)
    later = submission_set()
    reference = association(
        HAS_MEMBER, later.entry_uuid, made.loose, submission_set_status="Reference"
    )
    submit(
        registry_store, document_entry("later"), submission_set_=later, associations=(reference,)
    )

    result = run(registry_store, GET_SUBMISSION_SETS, uuid=one(made.loose))
    assert {s.entry_uuid for s in result.submission_sets} == {
        made.submission_set.entry_uuid,
        later.entry_uuid,
    }
    assert len(result.associations) == 2


def test_get_submission_sets_requires_uuid(registry_store):
    assert (
        error_of(run, registry_store, GET_SUBMISSION_SETS)[0]
        == ErrorCode.STORED_QUERY_MISSING_PARAM
    )


# --- GetSubmissionSetAndContents --------------------------------------------------------------


def set_and_contents(store, made: Filed, **slots):
    uuid = one(made.submission_set.entry_uuid)
    return run(store, GET_SUBMISSION_SET_AND_CONTENTS, XDSSubmissionSetEntryUUID=uuid, **slots)


def test_get_submission_set_and_contents_returns_set_members_and_associations(registry_store):
    made = filed_submission(registry_store)
    filed_submission(registry_store, prefix="other-")

    result = set_and_contents(registry_store, made)

    ss = made.submission_set.entry_uuid
    assert [s.entry_uuid for s in result.submission_sets] == [ss]
    assert sorted(e.entry_uuid for e in result.document_entries) == sorted([made.filed, made.loose])
    assert [f.entry_uuid for f in result.folders] == [made.folder.entry_uuid]
    assert links(result) == sorted(
        [
            (HAS_MEMBER, ss, made.filed),
            (HAS_MEMBER, ss, made.loose),
            (HAS_MEMBER, ss, made.folder.entry_uuid),
            (HAS_MEMBER, made.folder.entry_uuid, made.filed),
        ]
    )


def test_get_submission_set_and_contents_by_unique_id(registry_store):
    made = filed_submission(registry_store)

    uid = one(made.submission_set.unique_id)
    result = run(registry_store, GET_SUBMISSION_SET_AND_CONTENTS, XDSSubmissionSetUniqueId=uid)
    assert len(result.document_entries) == 2


def test_get_submission_set_and_contents_filters_format_code(registry_store):
    made = filed_submission(
        registry_store,
        filed_attributes={"format_code": Code("pdf", "s")},
        loose_attributes={"format_code": Code("text", "s")},
    )

    result = set_and_contents(
        registry_store, made, XDSDocumentEntryFormatCode=[[quoted("text^^s")]]
    )

    assert [e.entry_uuid for e in result.document_entries] == [made.loose]
    assert made.filed not in {a.target_object for a in result.associations}
    assert len(result.folders) == 1
    none = set_and_contents(registry_store, made, XDSDocumentEntryFormatCode=[[quoted("xml^^s")]])
    assert none.document_entries == []


def test_get_submission_set_and_contents_filters_confidentiality_code(registry_store):
    made = filed_submission(
        registry_store,
        filed_attributes={"confidentiality_codes": [Code("N", "s"), Code("R", "s")]},
        loose_attributes={"confidentiality_codes": [Code("N", "s")]},
    )

    both = [[quoted("N^^s")], [quoted("R^^s")]]
    result = set_and_contents(registry_store, made, XDSDocumentEntryConfidentialityCode=both)
    assert [e.entry_uuid for e in result.document_entries] == [made.filed]
    either = [[quoted("R^^s", "V^^s")]]
    result = set_and_contents(registry_store, made, XDSDocumentEntryConfidentialityCode=either)
    assert [e.entry_uuid for e in result.document_entries] == [made.filed]


def test_get_submission_set_and_contents_returns_stable_entries_unless_asked_otherwise(
    registry_store,
):
    made = filed_submission(registry_store, loose_attributes={"object_type": ON_DEMAND})

    result = set_and_contents(registry_store, made)
    assert [e.entry_uuid for e in result.document_entries] == [made.filed]
    result = set_and_contents(registry_store, made, XDSDocumentEntryType=[[quoted(ON_DEMAND)]])
    assert [e.entry_uuid for e in result.document_entries] == [made.loose]


def test_get_submission_set_and_contents_of_an_unknown_set_is_empty(registry_store):
    uuid = one(new_uuid())
    assert (
        len(run(registry_store, GET_SUBMISSION_SET_AND_CONTENTS, XDSSubmissionSetEntryUUID=uuid))
        == 0
    )


@pytest.mark.parametrize(
    ("slots", "code"),
    [
        *id_parameter_errors("XDSSubmissionSetEntryUUID", "XDSSubmissionSetUniqueId"),
        pytest.param(
            {"XDSSubmissionSetUniqueId": [[quoted("1", "2")]]},
            ErrorCode.STORED_QUERY_PARAM_NUMBER,
            id="two-values",
        ),
    ],
)
def test_get_submission_set_and_contents_takes_one_entry_uuid_or_unique_id(
    registry_store, slots, code
):
    assert error_of(run, registry_store, GET_SUBMISSION_SET_AND_CONTENTS, **slots)[0] == code


# --- GetFolderAndContents ---------------------------------------------------------------------


def folder_and_contents(store, made: Filed, **slots):
    uuid = one(made.folder.entry_uuid)
    return run(store, GET_FOLDER_AND_CONTENTS, XDSFolderEntryUUID=uuid, **slots)


def test_get_folder_and_contents_returns_folder_members_and_has_member(registry_store):
    made = filed_submission(registry_store)

    result = folder_and_contents(registry_store, made)

    assert [f.entry_uuid for f in result.folders] == [made.folder.entry_uuid]
    assert [e.entry_uuid for e in result.document_entries] == [made.filed]
    assert links(result) == [(HAS_MEMBER, made.folder.entry_uuid, made.filed)]
    assert result.submission_sets == []


def test_get_folder_and_contents_by_unique_id(registry_store):
    made = filed_submission(registry_store)

    result = run(registry_store, GET_FOLDER_AND_CONTENTS, XDSFolderUniqueId=one("folder"))
    assert [e.entry_uuid for e in result.document_entries] == [made.filed]


def test_get_folder_and_contents_filters_format_code(registry_store):
    made = filed_submission(registry_store, filed_attributes={"format_code": Code("pdf", "s")})

    pdf = folder_and_contents(registry_store, made, XDSDocumentEntryFormatCode=[[quoted("pdf^^s")]])
    assert len(pdf.document_entries) == 1
    text = folder_and_contents(
        registry_store, made, XDSDocumentEntryFormatCode=[[quoted("txt^^s")]]
    )
    assert text.document_entries == []
    assert text.associations == []
    assert len(text.folders) == 1


def test_get_folder_and_contents_filters_confidentiality_code(registry_store):
    made = filed_submission(
        registry_store, filed_attributes={"confidentiality_codes": [Code("N", "s")]}
    )

    normal = [[quoted("N^^s")]]
    assert (
        len(folder_and_contents(registry_store, made, XDSDocumentEntryConfidentialityCode=normal))
        == 3
    )
    restricted = [[quoted("R^^s")]]
    result = folder_and_contents(
        registry_store, made, XDSDocumentEntryConfidentialityCode=restricted
    )
    assert result.document_entries == []


def test_get_folder_and_contents_returns_stable_entries_unless_asked_otherwise(registry_store):
    made = filed_submission(registry_store, filed_attributes={"object_type": ON_DEMAND})

    assert folder_and_contents(registry_store, made).document_entries == []
    types = [[quoted(ON_DEMAND)]]
    assert (
        len(folder_and_contents(registry_store, made, XDSDocumentEntryType=types).document_entries)
        == 1
    )


@pytest.mark.parametrize(
    ("slots", "code"), id_parameter_errors("XDSFolderEntryUUID", "XDSFolderUniqueId")
)
def test_get_folder_and_contents_takes_entry_uuid_or_unique_id(registry_store, slots, code):
    assert error_of(run, registry_store, GET_FOLDER_AND_CONTENTS, **slots)[0] == code


# --- GetFoldersForDocument --------------------------------------------------------------------


def test_get_folders_for_document_by_entry_uuid(registry_store):
    made = filed_submission(registry_store)

    result = run(
        registry_store, GET_FOLDERS_FOR_DOCUMENT, XDSDocumentEntryEntryUUID=one(made.filed)
    )

    assert [f.entry_uuid for f in result.folders] == [made.folder.entry_uuid]
    assert result.submission_sets == []
    assert result.associations == []


def test_get_folders_for_document_by_unique_id(registry_store):
    made = filed_submission(registry_store)

    result = run(registry_store, GET_FOLDERS_FOR_DOCUMENT, XDSDocumentEntryUniqueId=one("filed"))
    assert [f.entry_uuid for f in result.folders] == [made.folder.entry_uuid]


def test_get_folders_for_a_document_in_no_folder_is_empty(registry_store):
    made = filed_submission(registry_store)

    result = run(
        registry_store, GET_FOLDERS_FOR_DOCUMENT, XDSDocumentEntryEntryUUID=one(made.loose)
    )
    assert len(result) == 0


@pytest.mark.parametrize(
    ("slots", "code"),
    [
        ({}, ErrorCode.STORED_QUERY_MISSING_PARAM),
        (
            {"XDSDocumentEntryEntryUUID": one(new_uuid()), "XDSDocumentEntryUniqueId": one("a")},
            ErrorCode.STORED_QUERY_PARAM_NUMBER,
        ),
        ({"XDSDocumentEntryUniqueId": [[quoted("a", "b")]]}, ErrorCode.STORED_QUERY_PARAM_NUMBER),
    ],
    ids=["neither", "both", "two-values"],
)
def test_get_folders_for_document_takes_one_entry_uuid_or_unique_id(registry_store, slots, code):
    assert error_of(run, registry_store, GET_FOLDERS_FOR_DOCUMENT, **slots)[0] == code


# --- GetRelatedDocuments ----------------------------------------------------------------------


def related(store, origin: str, *types: str, **slots) -> tuple[list[str], list[tuple]]:
    """GetRelatedDocuments of `origin` by `types`: the uniqueIds found and the links."""
    result = run(
        store,
        GET_RELATED_DOCUMENTS,
        XDSDocumentEntryEntryUUID=one(origin),
        AssociationTypes=[[quoted(*types)]],
        **slots,
    )
    return unique_ids(result.document_entries), links(result)


def _replaced(store):
    old = document_entry("old")
    submit(store, old)
    new = document_entry("new")
    submit(store, new, associations=(association(RPLC, new.entry_uuid, old.entry_uuid),))
    return old.entry_uuid, new.entry_uuid


def test_get_related_documents_follows_rplc_both_ways(registry_store):
    old, new = _replaced(registry_store)

    assert related(registry_store, old, RPLC) == (["new", "old"], [(RPLC, new, old)])
    assert related(registry_store, new, RPLC) == (["new", "old"], [(RPLC, new, old)])


def test_get_related_documents_follows_only_the_types_asked(registry_store):
    _, new = _replaced(registry_store)
    addendum = document_entry("addendum")
    submit(registry_store, addendum, associations=(association(APND, addendum.entry_uuid, new),))

    assert related(registry_store, new, APND) == (
        ["addendum", "new"],
        [(APND, addendum.entry_uuid, new)],
    )
    assert related(registry_store, new, APND, RPLC)[0] == ["addendum", "new", "old"]
    assert related(registry_store, new, XFRM) == ([], [])


def test_get_related_documents_of_an_unrelated_document_is_empty(registry_store):
    made = filed_submission(registry_store)

    assert related(registry_store, made.loose, RPLC, HAS_MEMBER) == ([], [])


def test_get_related_documents_by_unique_id(registry_store):
    _replaced(registry_store)

    result = run(
        registry_store,
        GET_RELATED_DOCUMENTS,
        XDSDocumentEntryUniqueId=one("old"),
        AssociationTypes=[[quoted(RPLC)]],
    )
    assert unique_ids(result.document_entries) == ["new", "old"]


def test_get_related_documents_returns_stable_entries_unless_asked_otherwise(registry_store):
    old = document_entry("old")
    submit(registry_store, old)
    odd = document_entry("odd", object_type=ON_DEMAND)
    submit(registry_store, odd, associations=(association(XFRM, odd.entry_uuid, old.entry_uuid),))

    assert related(registry_store, old.entry_uuid, XFRM) == ([], [])
    types = [[quoted(DocumentEntryType.STABLE.value, ON_DEMAND)]]
    assert related(registry_store, old.entry_uuid, XFRM, XDSDocumentEntryType=types)[0] == [
        "odd",
        "old",
    ]


def test_get_related_documents_requires_association_types(registry_store):
    assert error_of(
        run, registry_store, GET_RELATED_DOCUMENTS, XDSDocumentEntryEntryUUID=one(new_uuid())
    ) == (ErrorCode.STORED_QUERY_MISSING_PARAM, "$AssociationTypes")


@pytest.mark.parametrize(
    ("slots", "code"),
    [
        ({}, ErrorCode.STORED_QUERY_MISSING_PARAM),
        (
            {"XDSDocumentEntryEntryUUID": one(new_uuid()), "XDSDocumentEntryUniqueId": one("a")},
            ErrorCode.STORED_QUERY_PARAM_NUMBER,
        ),
    ],
    ids=["neither", "both"],
)
def test_get_related_documents_takes_entry_uuid_or_unique_id(registry_store, slots, code):
    types = [[quoted(RPLC)]]
    assert (
        error_of(run, registry_store, GET_RELATED_DOCUMENTS, AssociationTypes=types, **slots)[0]
        == code
    )


def test_get_submission_set_and_contents_returns_the_filing_of_an_entry_into_an_older_folder(
    registry_store,
):
    made = filed_submission(registry_store)
    later, entry = submission_set(), document_entry("later")
    filing = association(HAS_MEMBER, made.folder.entry_uuid, entry.entry_uuid)
    filing_member = association(HAS_MEMBER, later.entry_uuid, filing.entry_uuid)
    submit(registry_store, entry, submission_set_=later, associations=(filing, filing_member))

    uuid = one(later.entry_uuid)
    result = run(registry_store, GET_SUBMISSION_SET_AND_CONTENTS, XDSSubmissionSetEntryUUID=uuid)

    assert unique_ids(result.document_entries) == ["later"]
    assert result.folders == []
    assert links(result) == [(HAS_MEMBER, later.entry_uuid, entry.entry_uuid)]
