"""Submissions that pass every rule, IHE and Norwegian, for tests to break one rule of."""

from __future__ import annotations

import hashlib
from uuid import uuid4

from registry.metadata import (
    Association,
    AssociationType,
    Author,
    Code,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)

# A valid fødselsnummer (13.11.69, check digits 16) under the fødselsnummer authority.
PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"
OTHER_PATIENT = "01010012356^^^&2.16.578.1.12.4.1.4.1&ISO"
REPOSITORY = "2.16.578.1.12.4.5.100.1.2"
CONTENT = b"Epikrise for pasienten"
VOLVEN_9602 = "2.16.578.1.12.4.1.1.9602"


def new_uuid() -> str:
    """A fresh urn:uuid."""
    return f"urn:uuid:{uuid4()}"


def new_oid() -> str:
    """A fresh OID under 2.25."""
    return f"2.25.{uuid4().int}"


def document_entry(unique_id: str | None = None, **attributes) -> DocumentEntry:
    """A stable DocumentEntry of PATIENT with every required attribute, Norwegian codes."""
    values = {
        "entry_uuid": new_uuid(),
        "unique_id": unique_id or new_oid(),
        "patient_id": PATIENT,
        "mime_type": "application/pdf",
        "hash": hashlib.sha1(CONTENT).hexdigest(),
        "size": len(CONTENT),
        "repository_unique_id": REPOSITORY,
        "class_code": Code("A00-1", VOLVEN_9602, "Epikriser og sammenfatninger"),
        "type_code": Code("A03-2", VOLVEN_9602, "Epikrise"),
        "format_code": Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3"),
        "healthcare_facility_type_code": Code("86.211", "2.16.578.1.12.4.1.1.1303", "Sykehus"),
        "practice_setting_code": Code("A04", "2.16.578.1.12.4.1.1.8651"),
        "confidentiality_codes": [Code("N", "2.16.840.1.113883.5.25", "normal")],
        "language_code": "nb-NO",
        "creation_time": "20240102030405",
        "source_patient_id": PATIENT,
        "authors": [
            Author(
                person="9144900^Lege^Lise^^^^^^&2.16.578.1.12.4.1.4.4&ISO",
                institutions=["Sykehuset^^^^^&2.16.578.1.12.4.1.4.101&ISO^^^^974589095"],
                roles=["LE^^^&2.16.578.1.12.4.1.1.9060&ISO"],
                telecommunications=["^^Internet^lise@example.no"],
            )
        ],
    }
    values.update(attributes)
    return DocumentEntry(**values)


def submission_set(**attributes) -> SubmissionSet:
    """A SubmissionSet of PATIENT with every required attribute."""
    values = {
        "entry_uuid": new_uuid(),
        "unique_id": new_oid(),
        "source_id": "2.16.578.1.12.4.5.100.1",
        "patient_id": PATIENT,
        "submission_time": "20240102030405",
        "content_type_code": Code("A03-2", VOLVEN_9602, "Epikrise"),
    }
    values.update(attributes)
    return SubmissionSet(**values)


def folder(**attributes) -> Folder:
    """A Folder of PATIENT with every required attribute."""
    values = {
        "entry_uuid": new_uuid(),
        "unique_id": new_oid(),
        "patient_id": PATIENT,
        "code_list": [Code("A00-1", VOLVEN_9602)],
        "title": "Mappe",
    }
    values.update(attributes)
    return Folder(**values)


def has_member(source: str, target: str, status: str | None = "Original") -> Association:
    """A HasMember association from `source` to `target`."""
    return Association(
        entry_uuid=new_uuid(),
        association_type=AssociationType.HAS_MEMBER,
        source_object=source,
        target_object=target,
        submission_set_status=status,
    )


def submission(*entries: DocumentEntry, folders: tuple[Folder, ...] = (), **extra) -> Submission:
    """A valid Submission of `entries` and `folders` with their HasMember associations."""
    the_set = submission_set(**extra)
    associations = [has_member(the_set.entry_uuid, e.entry_uuid) for e in entries]
    associations += [has_member(the_set.entry_uuid, f.entry_uuid, None) for f in folders]
    return Submission(
        submission_set=the_set,
        document_entries=list(entries),
        folders=list(folders),
        associations=associations,
    )
