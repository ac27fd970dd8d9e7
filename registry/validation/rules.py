"""The IHE rules of a Register transaction: ITI TF-3 4.2 and 4.3.1, ITI TF-2b 3.42.4.1.3.

Each function checks one group of rules over a whole submission and returns every broken one;
nothing stops at the first problem.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from registry.errors import Issue
from registry.metadata import (
    AssociationType,
    Author,
    Code,
    DocumentEntry,
    DocumentEntryType,
    Folder,
    Submission,
    SubmissionSet,
)
from registry.store import ObjectKind, StoredObject
from registry.validation import formats
from registry.validation.catalogue import Rule
from registry.validation.options import Profile, Transaction, ValidationOptions

ORIGINAL = "Original"
REFERENCE = "Reference"
_HAS_MEMBER = AssociationType.HAS_MEMBER.value
_KNOWN_ASSOCIATION_TYPES = frozenset(t.value for t in AssociationType)


@dataclass(frozen=True)
class Required:
    """A required attribute (R in ITI TF-3 Table 4.3.1-3) and where a profile relaxes it."""

    attribute: str
    value: Callable[[Any], object]
    relaxed_for: frozenset[tuple[Transaction, Profile]] = frozenset()
    limited: bool = False


# `limited` marks what the Metadata-Limited option (ITI TF-3 4.1.1.1; MHD Minimal Metadata) lets
# a sender leave out.

# NHN's ITI-65 senders, its own export among them, declare Comprehensive Metadata yet leave out
# attachment.language and context.sourcePatientInfo; the Norwegian profile takes such bundles,
# while IHE alone holds Comprehensive to the XDS DS column (MHD 4.2 ITI-65).
_NORWEGIAN_MHD = frozenset({(Transaction.PROVIDE_DOCUMENT_BUNDLE, Profile.NORWAY)})

DOCUMENT_ENTRY_REQUIRED = (
    Required("classCode", lambda e: e.class_code, limited=True),
    Required("confidentialityCode", lambda e: e.confidentiality_codes, limited=True),
    Required("creationTime", lambda e: e.creation_time, limited=True),
    Required("formatCode", lambda e: e.format_code, limited=True),
    Required("hash", lambda e: e.hash),
    Required("healthcareFacilityTypeCode", lambda e: e.healthcare_facility_type_code, limited=True),
    Required("languageCode", lambda e: e.language_code, _NORWEGIAN_MHD, limited=True),
    Required("mimeType", lambda e: e.mime_type),
    Required("objectType", lambda e: e.object_type),
    Required("patientId", lambda e: e.patient_id),
    Required("practiceSettingCode", lambda e: e.practice_setting_code, limited=True),
    Required("repositoryUniqueId", lambda e: e.repository_unique_id),
    Required("size", lambda e: e.size),
    Required("sourcePatientId", lambda e: e.source_patient_id, _NORWEGIAN_MHD, limited=True),
    Required("typeCode", lambda e: e.type_code, limited=True),
    Required("uniqueId", lambda e: e.unique_id),
)
SUBMISSION_SET_REQUIRED = (
    Required("contentTypeCode", lambda s: s.content_type_code, limited=True),
    Required("patientId", lambda s: s.patient_id),
    Required("sourceId", lambda s: s.source_id),
    Required("submissionTime", lambda s: s.submission_time),
    Required("uniqueId", lambda s: s.unique_id),
)
FOLDER_REQUIRED = (
    Required("codeList", lambda f: f.code_list, limited=True),
    Required("patientId", lambda f: f.patient_id),
    Required("title", lambda f: f.title),
    Required("uniqueId", lambda f: f.unique_id),
)


@dataclass
class Context:
    """One submission under validation, with the registry objects it refers to."""

    submission: Submission
    options: ValidationOptions
    stored: dict[str, StoredObject] = field(default_factory=dict)
    registered: dict[str, DocumentEntry] = field(default_factory=dict)

    @property
    def submitted_ids(self) -> set[str]:
        """The entryUUIDs (or symbols) of every object of the submission."""
        return set(self.submission.entry_uuids())


def required_attributes(context: Context) -> list[Issue]:
    """Every attribute the transaction's optionality column marks R is present."""
    s, transaction = context.submission, context.options.transaction
    relaxation = (transaction, context.options.profile)
    objects: list[tuple[str, Any, tuple[Required, ...]]] = [
        ("SubmissionSet", s.submission_set, SUBMISSION_SET_REQUIRED),
        *(("DocumentEntry", e, DOCUMENT_ENTRY_REQUIRED) for e in s.document_entries),
        *(("Folder", f, FOLDER_REQUIRED) for f in s.folders),
    ]
    issues = []
    for kind, item, table in objects:
        for required in table:
            if relaxation in required.relaxed_for or _present(required.value(item)):
                continue
            if required.limited and item.limited_metadata:
                continue
            message = f"{kind}.{required.attribute} is required in {transaction}"
            issues.append(
                Rule.REQUIRED_ATTRIBUTE_MISSING.issue(message, item.entry_uuid, required.attribute)
            )
    return issues


def document_entry_formats(context: Context) -> list[Issue]:
    """Every DocumentEntry attribute has the format of ITI TF-3 4.2.3.2."""
    issues: list[Issue] = []
    for entry in context.submission.document_entries:
        check = _Checker(entry.entry_uuid, issues)
        unique_id_format = _formats_of(context).document_unique_id
        check.identity(entry, Rule.DOCUMENT_UNIQUE_ID_MALFORMED, unique_id_format)
        check.value(
            Rule.CX_MALFORMED, "sourcePatientId", entry.source_patient_id, formats.source_cx_problem
        )
        for attribute in ("creationTime", "serviceStartTime", "serviceStopTime"):
            value = getattr(entry, _snake(attribute))
            check.value(Rule.DTM_MALFORMED, attribute, value, formats.dtm_problem)
        check.value(Rule.HASH_MALFORMED, "hash", entry.hash, formats.hash_problem)
        if entry.size is not None and entry.size < 0:
            check.report(Rule.SIZE_NEGATIVE, "size", f"size {entry.size} is negative")
        if entry.size is not None and entry.size > formats.SIZE_MAX:
            message = f"size {entry.size} is larger than {formats.SIZE_MAX}"
            check.report(Rule.SIZE_TOO_LARGE, "size", message)
        for value in entry.source_patient_info:
            check.value(
                Rule.SOURCE_PATIENT_INFO_MALFORMED,
                "sourcePatientInfo",
                value,
                formats.source_patient_info_problem,
            )
        check.value(
            Rule.LANGUAGE_CODE_MALFORMED,
            "languageCode",
            entry.language_code,
            formats.language_problem,
        )
        check.value(
            Rule.MIME_TYPE_MALFORMED, "mimeType", entry.mime_type, formats.mime_type_problem
        )
        check.value(
            Rule.OID_MALFORMED,
            "repositoryUniqueId",
            entry.repository_unique_id,
            _formats_of(context).oid,
        )
        check.value(
            Rule.XCN_MALFORMED, "legalAuthenticator", entry.legal_authenticator, formats.xcn_problem
        )
        check.codes("classCode", [entry.class_code])
        check.codes("typeCode", [entry.type_code])
        check.codes("formatCode", [entry.format_code])
        check.codes("healthcareFacilityTypeCode", [entry.healthcare_facility_type_code])
        check.codes("practiceSettingCode", [entry.practice_setting_code])
        check.codes("confidentialityCode", entry.confidentiality_codes)
        check.codes("eventCodeList", entry.event_code_list)
        check.authors(entry.authors)
        if entry.object_type and entry.object_type != DocumentEntryType.STABLE:
            message = f"objectType {entry.object_type} is not the stable DocumentEntry type"
            check.report(Rule.DOCUMENT_ENTRY_TYPE_NOT_STABLE, "objectType", message)
    return issues


def submission_set_formats(context: Context) -> list[Issue]:
    """Every SubmissionSet attribute has the format of ITI TF-3 4.2.3.3."""
    submission_set = context.submission.submission_set
    issues: list[Issue] = []
    check = _Checker(submission_set.entry_uuid, issues)
    check.identity(submission_set, Rule.OID_MALFORMED, _formats_of(context).oid)
    check.value(Rule.OID_MALFORMED, "sourceId", submission_set.source_id, _formats_of(context).oid)
    check.value(
        Rule.DTM_MALFORMED, "submissionTime", submission_set.submission_time, formats.dtm_problem
    )
    check.codes("contentTypeCode", [submission_set.content_type_code])
    check.authors(submission_set.authors)
    return issues


def folder_formats(context: Context) -> list[Issue]:
    """Every Folder attribute has the format of ITI TF-3 4.2.3.4."""
    issues: list[Issue] = []
    for folder in context.submission.folders:
        check = _Checker(folder.entry_uuid, issues)
        check.identity(folder, Rule.OID_MALFORMED, _formats_of(context).oid)
        check.value(
            Rule.DTM_MALFORMED, "lastUpdateTime", folder.last_update_time, formats.dtm_problem
        )
        check.codes("codeList", folder.code_list)
    return issues


def association_rules(context: Context) -> list[Issue]:
    """Associations have known types and ends, and tie every member to the SubmissionSet.

    ITI TF-3 4.2.2.1: each DocumentEntry and Folder of a submission is the target of a HasMember
    from its SubmissionSet; a SubmissionSet-DocumentEntry HasMember says Original (submitted
    now) or Reference (registered before); a Folder-DocumentEntry HasMember is in turn a member
    of the SubmissionSet (4.2.1.3).
    """
    s = context.submission
    submission_set_id = s.submission_set.entry_uuid
    submitted = context.submitted_ids
    entries = {e.entry_uuid for e in s.document_entries}
    folders = {f.entry_uuid for f in s.folders}
    issues: list[Issue] = []

    for association in s.associations:
        check = _Checker(association.entry_uuid, issues)
        check.entry_uuid(association.entry_uuid)
        if association.association_type not in _KNOWN_ASSOCIATION_TYPES:
            message = f"associationType {association.association_type} is not an XDS type"
            check.report(Rule.ASSOCIATION_TYPE_UNKNOWN, "associationType", message)
        for attribute, end in (
            ("sourceObject", association.source_object),
            ("targetObject", association.target_object),
        ):
            if end not in submitted and end not in context.stored:
                message = f"{attribute} {end} is neither in the submission nor in the registry"
                check.report(Rule.REFERENCE_UNRESOLVED, attribute, message)

    has_members = [a for a in s.associations if a.association_type == _HAS_MEMBER]
    from_submission_set = [a for a in has_members if a.source_object == submission_set_id]
    members = {a.target_object for a in from_submission_set}

    for item_id in sorted((entries | folders) - members):
        kind = "DocumentEntry" if item_id in entries else "Folder"
        message = f"the {kind} is not the target of a HasMember from the SubmissionSet"
        issues.append(Rule.MEMBER_NOT_IN_SUBMISSION_SET.issue(message, item_id, "entryUUID"))

    for association in from_submission_set:
        if _kind(context, association.target_object, entries) != ObjectKind.DOCUMENT_ENTRY:
            continue
        status = association.submission_set_status
        if status not in (ORIGINAL, REFERENCE):
            message = f"SubmissionSetStatus {status!r} is not Original or Reference"
            issues.append(
                Rule.SUBMISSION_SET_STATUS_INVALID.issue(
                    message, association.entry_uuid, "SubmissionSetStatus"
                )
            )
        elif status == ORIGINAL and association.target_object not in entries:
            message = f"Original member {association.target_object} is not in the submission"
            issues.append(
                Rule.ORIGINAL_NOT_IN_SUBMISSION.issue(
                    message, association.entry_uuid, "SubmissionSetStatus"
                )
            )

    for association in has_members:
        source_kind = _kind(context, association.source_object, entries, folders)
        if source_kind == ObjectKind.FOLDER and association.entry_uuid not in members:
            message = "the Folder membership is not a HasMember target of the SubmissionSet"
            issues.append(
                Rule.FOLDER_MEMBERSHIP_NOT_IN_SUBMISSION_SET.issue(
                    message, association.entry_uuid, "sourceObject"
                )
            )
    return issues


def identity_rules(context: Context) -> list[Issue]:
    """entryUUIDs and uniqueIds are unique in the message; a registered uniqueId is the same
    document: same patient, hash and size (ITI TF-2b 3.42.4.1.3)."""
    s = context.submission
    issues: list[Issue] = []

    for entry_uuid, count in Counter(s.entry_uuids()).items():
        if count > 1:
            message = f"entryUUID {entry_uuid} names {count} objects of the submission"
            issues.append(
                Rule.ENTRY_UUID_DUPLICATE_IN_MESSAGE.issue(message, entry_uuid, "entryUUID")
            )

    identified: list[SubmissionSet | DocumentEntry | Folder] = [
        s.submission_set,
        *s.document_entries,
        *s.folders,
    ]
    counts = Counter(item.unique_id for item in identified if item.unique_id)
    reported: set[str] = set()
    for item in identified:
        if counts[item.unique_id] > 1 and item.unique_id not in reported:
            reported.add(item.unique_id)
            message = f"uniqueId {item.unique_id} is used by {counts[item.unique_id]} objects"
            issues.append(
                Rule.UNIQUE_ID_DUPLICATE_IN_MESSAGE.issue(message, item.entry_uuid, "uniqueId")
            )

    for entry in s.document_entries:
        registered = context.registered.get(entry.unique_id)
        if registered is not None:
            issues += _compare_with_registered(entry, registered)
    return issues


def patient_rules(context: Context) -> list[Issue]:
    """One patient per submission, referenced registry objects included; a known domain."""
    s = context.submission
    patient_id = s.submission_set.patient_id
    issues: list[Issue] = []

    for item in [*s.document_entries, *s.folders]:
        if patient_id and item.patient_id and item.patient_id != patient_id:
            kind = "DocumentEntry" if isinstance(item, DocumentEntry) else "Folder"
            message = f"the {kind}'s patientId differs from the SubmissionSet's"
            issues.append(
                Rule.PATIENT_ID_DOES_NOT_MATCH.issue(message, item.entry_uuid, "patientId")
            )

    for association in s.associations:
        for attribute, end in (
            ("sourceObject", association.source_object),
            ("targetObject", association.target_object),
        ):
            stored = context.stored.get(end)
            if stored and stored.patient_id and patient_id and stored.patient_id != patient_id:
                message = f"{attribute} {end} in the registry belongs to another patient"
                issues.append(
                    Rule.PATIENT_ID_DOES_NOT_MATCH.issue(message, association.entry_uuid, attribute)
                )

    domains = context.options.patient_id_domains
    authority = formats.assigning_authority_of(patient_id)
    if domains and patient_id and authority not in domains:
        message = f"patient id assigning authority {authority} is not a configured domain"
        issues.append(
            Rule.PATIENT_ID_UNKNOWN.issue(message, s.submission_set.entry_uuid, "patientId")
        )
    return issues


IHE_RULES: tuple[Callable[[Context], list[Issue]], ...] = (
    required_attributes,
    submission_set_formats,
    document_entry_formats,
    folder_formats,
    association_rules,
    identity_rules,
    patient_rules,
)


def referenced_ids(submission: Submission) -> list[str]:
    """Association ends outside the submission that could be registry objects."""
    submitted = set(submission.entry_uuids())
    ends = (end for a in submission.associations for end in (a.source_object, a.target_object))
    return sorted({e for e in ends if e not in submitted and not formats.is_symbolic_id(e)})


def is_same_document(entry: DocumentEntry, registered: DocumentEntry) -> bool:
    """True when a submitted entry resubmits a registered one: same patient, hash and size."""
    return not _compare_with_registered(entry, registered)


def _compare_with_registered(entry: DocumentEntry, registered: DocumentEntry) -> list[Issue]:
    where = (entry.entry_uuid, "uniqueId")
    if registered.patient_id != entry.patient_id:
        message = f"uniqueId {entry.unique_id} is registered for another patient"
        return [Rule.UNIQUE_ID_IN_REGISTRY.issue(message, *where)]
    issues = []
    if (registered.hash or "").lower() != (entry.hash or "").lower():
        message = f"uniqueId {entry.unique_id} is registered with hash {registered.hash}"
        issues.append(Rule.NON_IDENTICAL_HASH.issue(message, entry.entry_uuid, "hash"))
    if registered.size != entry.size:
        message = f"uniqueId {entry.unique_id} is registered with size {registered.size}"
        issues.append(Rule.NON_IDENTICAL_SIZE.issue(message, entry.entry_uuid, "size"))
    return issues


def _kind(
    context: Context, object_id: str, entries: set[str], folders: set[str] = frozenset()
) -> ObjectKind | None:
    if object_id in entries:
        return ObjectKind.DOCUMENT_ENTRY
    if object_id in folders:
        return ObjectKind.FOLDER
    stored = context.stored.get(object_id)
    return stored.kind if stored else None


@dataclass(frozen=True)
class _Formats:
    """Format checks whose strictness depends on the transaction."""

    oid: Callable[[str], str | None]
    document_unique_id: Callable[[str], str | None]


# MHD senders, the IHE MHD examples among them, use OIDs longer than the 64 characters of ITI TF-3
# 4.2.3.1.7; the ITI-65 Document Recipient takes them (ITI TF-2 3.65.4.1.3, robustness).
_STRICT = _Formats(formats.oid_problem, formats.document_unique_id_problem)
_ROBUST = _Formats(
    formats.any_length_oid_problem,
    lambda value: formats.document_unique_id_problem(value, oid_max_length=None),
)


def _formats_of(context: Context) -> _Formats:
    robust = context.options.transaction == Transaction.PROVIDE_DOCUMENT_BUNDLE
    return _ROBUST if robust else _STRICT


def _present(value: object) -> bool:
    return value is not None and value != "" and value != []


def _snake(attribute: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in attribute)


class _Checker:
    """Collects the issues of one object."""

    def __init__(self, object_id: str, issues: list[Issue]) -> None:
        self.object_id = object_id
        self.issues = issues

    def report(self, rule: Rule, attribute: str, message: str) -> None:
        self.issues.append(rule.issue(message, self.object_id, attribute))

    def value(
        self, rule: Rule, attribute: str, value: str | None, problem: Callable[[str], str | None]
    ) -> None:
        if value is None or value == "":
            return
        if reason := problem(value):
            self.report(rule, attribute, f"{attribute}: {reason}")

    def entry_uuid(self, value: str) -> None:
        if reason := formats.entry_uuid_problem(value):
            self.report(Rule.ENTRY_UUID_MALFORMED, "entryUUID", reason)

    def identity(
        self,
        item: DocumentEntry | SubmissionSet | Folder,
        unique_id_rule: Rule,
        unique_id_problem: Callable[[str], str | None],
    ) -> None:
        """Check what an object is known by: its entryUUID, uniqueId and patientId."""
        self.entry_uuid(item.entry_uuid)
        self.value(unique_id_rule, "uniqueId", item.unique_id, unique_id_problem)
        self.value(Rule.CX_MALFORMED, "patientId", item.patient_id, formats.cx_problem)

    def codes(self, attribute: str, codes: Iterable[Code | None]) -> None:
        for code in codes:
            if code is not None and (not code.code.strip() or not code.coding_scheme.strip()):
                message = f"{attribute} {code.code!r} needs both a code and a codingScheme"
                self.report(Rule.CODE_INCOMPLETE, attribute, message)

    def authors(self, authors: list[Author]) -> None:
        for author in authors:
            if not (author.person or author.institutions or author.telecommunications):
                message = "author has no authorPerson, authorInstitution or authorTelecommunication"
                self.report(Rule.AUTHOR_EMPTY, "author", message)
            self.value(Rule.XCN_MALFORMED, "authorPerson", author.person, formats.xcn_problem)
            for institution in author.institutions:
                self.value(
                    Rule.XON_MALFORMED, "authorInstitution", institution, formats.xon_problem
                )
            for telecom in author.telecommunications:
                self.value(
                    Rule.XTN_MALFORMED, "authorTelecommunication", telecom, formats.xtn_problem
                )
