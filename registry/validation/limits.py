"""How long a value the registry keeps in an indexed column may be (rule VALUE_TOO_LONG).

The spec sets no length on most identifiers and codes, but the registry indexes them (see
`registry/tables.py`), and PostgreSQL refuses a btree index entry over 2704 bytes, a third of an
8 kB page. Unchecked, a long authorPerson or code would fail a registration with a database error
instead of an XDS one. The limits count characters; a UTF-8 character takes at most 4 bytes, so
each index entry stays under 2704 bytes even when every character takes 4:

- 128 characters for entry identifiers and registry URNs: entryUUID, logicalID, version,
  sourceObject, targetObject, objectType, associationType (a `urn:uuid:` is 45);
- 256 for identifiers and codes: patientId, sourceId, uniqueId, a code value and its codingScheme;
- 512 for the HL7 composites searched on: authorPerson (XCN) and referenceIdList (CXi).

The widest entries are document_code's (entryUUID, kind, code, codingScheme), 128 + 256 + 256
characters and a short kind, and document_author's (entryUUID, authorPerson), 128 + 512
characters: about 2600 bytes with PostgreSQL's own overhead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from registry.errors import Issue
from registry.metadata import Author, Code, Submission
from registry.validation.catalogue import Rule
from registry.validation.formats import is_symbolic_id

ENTRY_ID_MAX_LENGTH = 128
IDENTIFIER_MAX_LENGTH = 256
COMPOSITE_MAX_LENGTH = 512

# Entry identifiers the registry replaces before storing when they are symbols.
_REPLACED_WHEN_SYMBOLIC = frozenset({"entryUUID", "sourceObject", "targetObject"})

# (kind of object, its entryUUID, attribute, value, limit)
_Value = tuple[str, str, str, str | None, int]


def indexed_value_issues(submission: Submission) -> list[Issue]:
    """Report every value of `submission` longer than its indexed column takes."""
    issues = []
    for kind, object_id, attribute, value, limit in _indexed_values(submission):
        if value is None or len(value) <= limit:
            continue
        if attribute in _REPLACED_WHEN_SYMBOLIC and is_symbolic_id(value):
            continue
        message = (
            f"{kind}.{attribute} is {len(value)} characters long; "
            f"the registry takes {limit} at most"
        )
        issues.append(Rule.VALUE_TOO_LONG.issue(message, object_id, attribute))
    return issues


def _indexed_values(submission: Submission) -> Iterator[_Value]:
    submission_set = submission.submission_set
    kind, object_id = "SubmissionSet", submission_set.entry_uuid
    yield kind, object_id, "entryUUID", object_id, ENTRY_ID_MAX_LENGTH
    yield kind, object_id, "uniqueId", submission_set.unique_id, IDENTIFIER_MAX_LENGTH
    yield kind, object_id, "patientId", submission_set.patient_id, IDENTIFIER_MAX_LENGTH
    yield kind, object_id, "sourceId", submission_set.source_id, IDENTIFIER_MAX_LENGTH
    yield from _authors(kind, object_id, submission_set.authors)

    for entry in submission.document_entries:
        kind, object_id = "DocumentEntry", entry.entry_uuid
        yield kind, object_id, "entryUUID", object_id, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "logicalID", entry.logical_id, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "version", entry.version, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "objectType", entry.object_type, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "uniqueId", entry.unique_id, IDENTIFIER_MAX_LENGTH
        yield kind, object_id, "patientId", entry.patient_id, IDENTIFIER_MAX_LENGTH
        coded: list[tuple[str, Iterable[Code | None]]] = [
            ("classCode", [entry.class_code]),
            ("typeCode", [entry.type_code]),
            ("formatCode", [entry.format_code]),
            ("healthcareFacilityTypeCode", [entry.healthcare_facility_type_code]),
            ("practiceSettingCode", [entry.practice_setting_code]),
            ("confidentialityCode", entry.confidentiality_codes),
            ("eventCodeList", entry.event_code_list),
        ]
        for attribute, codes in coded:
            yield from _codes(kind, object_id, attribute, codes)
        yield from _authors(kind, object_id, entry.authors)
        for reference_id in entry.reference_id_list:
            yield kind, object_id, "referenceIdList", reference_id, COMPOSITE_MAX_LENGTH

    for folder in submission.folders:
        kind, object_id = "Folder", folder.entry_uuid
        yield kind, object_id, "entryUUID", object_id, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "uniqueId", folder.unique_id, IDENTIFIER_MAX_LENGTH
        yield kind, object_id, "patientId", folder.patient_id, IDENTIFIER_MAX_LENGTH
        yield from _codes(kind, object_id, "codeList", folder.code_list)

    for association in submission.associations:
        kind, object_id = "Association", association.entry_uuid
        yield kind, object_id, "entryUUID", object_id, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "associationType", association.association_type, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "sourceObject", association.source_object, ENTRY_ID_MAX_LENGTH
        yield kind, object_id, "targetObject", association.target_object, ENTRY_ID_MAX_LENGTH


def _codes(
    kind: str, object_id: str, attribute: str, codes: Iterable[Code | None]
) -> Iterator[_Value]:
    for code in codes:
        if code is not None:
            yield kind, object_id, attribute, code.code, IDENTIFIER_MAX_LENGTH
            yield kind, object_id, attribute, code.coding_scheme, IDENTIFIER_MAX_LENGTH


def _authors(kind: str, object_id: str, authors: list[Author]) -> Iterator[_Value]:
    for author in authors:
        yield kind, object_id, "authorPerson", author.person, COMPOSITE_MAX_LENGTH
