"""The XDS metadata model of ITI TF-3 4.1/4.2.3: DocumentEntry, SubmissionSet, Folder, Association.

Names follow the spec's attribute names in snake_case. Nothing here knows about XML, FHIR, HTTP or
SQL; codecs and storage translate to and from these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class AvailabilityStatus(StrEnum):
    """ebRIM status values used for availabilityStatus."""

    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
    SUBMITTED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted"


class DocumentEntryType(StrEnum):
    """objectType of a DocumentEntry (ITI TF-3 4.2.5.2)."""

    STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    ON_DEMAND = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"


class AssociationType(StrEnum):
    """Association types of ITI TF-3 4.1.2."""

    HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    REPLACE = "urn:ihe:iti:2007:AssociationType:RPLC"
    TRANSFORM = "urn:ihe:iti:2007:AssociationType:XFRM"
    APPEND = "urn:ihe:iti:2007:AssociationType:APND"
    TRANSFORM_AND_REPLACE = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
    SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
    IS_SNAPSHOT_OF = "urn:ihe:iti:2010:AssociationType:IsSnapshotOf"
    UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"


@dataclass(frozen=True)
class Code:
    """A coded value: code, codingScheme and displayName (ebRIM Classification)."""

    code: str
    coding_scheme: str
    display_name: str = ""


@dataclass
class Author:
    """An author: person (XCN), institutions (XON), roles, specialties, telecommunications (XTN)."""

    person: str | None = None
    institutions: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    specialties: list[str] = field(default_factory=list)
    telecommunications: list[str] = field(default_factory=list)


@dataclass
class DocumentEntry:
    """Metadata of one document (ITI TF-3 4.2.3.2).

    Times are HL7 DTM strings (YYYY[MM[DD[hh[mm[ss]]]]], UTC) as they travel in ebRIM; hash is SHA-1
    in lower-case hex.
    """

    entry_uuid: str
    unique_id: str
    patient_id: str
    mime_type: str
    hash: str | None = None
    size: int | None = None
    repository_unique_id: str | None = None
    home_community_id: str | None = None
    availability_status: str = AvailabilityStatus.APPROVED
    object_type: str = DocumentEntryType.STABLE
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    healthcare_facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    confidentiality_codes: list[Code] = field(default_factory=list)
    event_code_list: list[Code] = field(default_factory=list)
    language_code: str | None = None
    creation_time: str | None = None
    service_start_time: str | None = None
    service_stop_time: str | None = None
    title: str | None = None
    comments: str | None = None
    authors: list[Author] = field(default_factory=list)
    legal_authenticator: str | None = None
    source_patient_id: str | None = None
    source_patient_info: list[str] = field(default_factory=list)
    reference_id_list: list[str] = field(default_factory=list)
    uri: str | None = None
    limited_metadata: bool = False
    logical_id: str | None = None
    version: str | None = None
    extra_slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SubmissionSet:
    """Metadata of one submission (ITI TF-3 4.2.3.3)."""

    entry_uuid: str
    unique_id: str
    source_id: str
    patient_id: str
    submission_time: str
    content_type_code: Code | None = None
    authors: list[Author] = field(default_factory=list)
    intended_recipients: list[str] = field(default_factory=list)
    title: str | None = None
    comments: str | None = None
    availability_status: str = AvailabilityStatus.APPROVED
    home_community_id: str | None = None
    limited_metadata: bool = False
    extra_slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Folder:
    """A Folder (ITI TF-3 4.2.3.4)."""

    entry_uuid: str
    unique_id: str
    patient_id: str
    code_list: list[Code] = field(default_factory=list)
    last_update_time: str | None = None
    title: str | None = None
    comments: str | None = None
    availability_status: str = AvailabilityStatus.APPROVED
    home_community_id: str | None = None
    limited_metadata: bool = False
    extra_slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Association:
    """An Association between two registry objects (ITI TF-3 4.2.2)."""

    entry_uuid: str
    association_type: str
    source_object: str
    target_object: str
    submission_set_status: str | None = None
    availability_status: str = AvailabilityStatus.APPROVED
    home_community_id: str | None = None
    extra_slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Submission:
    """Everything one register transaction carries: one SubmissionSet and its members."""

    submission_set: SubmissionSet
    document_entries: list[DocumentEntry] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)

    def entry_uuids(self) -> list[str]:
        """The entryUUID (or symbol) of every object: SubmissionSet, entries, Folders, links."""
        return [
            self.submission_set.entry_uuid,
            *(e.entry_uuid for e in self.document_entries),
            *(f.entry_uuid for f in self.folders),
            *(a.entry_uuid for a in self.associations),
        ]
