"""Registry metadata to register in tests."""

from __future__ import annotations

from uuid import uuid4

from registry.metadata import (
    Association,
    AssociationType,
    Author,
    AvailabilityStatus,
    Code,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)
from registry.store import RegistryStore

PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"
OTHER_PATIENT = "01017012345^^^&2.16.578.1.12.4.1.4.1&ISO"
APPROVED = AvailabilityStatus.APPROVED.value
DEPRECATED = AvailabilityStatus.DEPRECATED.value


def new_uuid() -> str:
    """A fresh urn:uuid."""
    return f"urn:uuid:{uuid4()}"


def document_entry(unique_id: str, **attributes) -> DocumentEntry:
    """A minimal DocumentEntry of PATIENT with this uniqueId; `attributes` override any field."""
    values = {
        "entry_uuid": new_uuid(),
        "unique_id": unique_id,
        "patient_id": PATIENT,
        "mime_type": "text/plain",
    }
    values.update(attributes)
    return DocumentEntry(**values)


def complete_document_entry() -> DocumentEntry:
    """A DocumentEntry with every attribute set to something other than its default."""
    return DocumentEntry(
        entry_uuid=new_uuid(),
        unique_id="2.25.1234567890",
        patient_id=PATIENT,
        mime_type="application/pdf",
        hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        size=1234,
        repository_unique_id="2.16.578.1.12.4.5.100.1.2",
        home_community_id="urn:oid:2.16.578.1.12.4.5.100.1",
        availability_status=DEPRECATED,
        object_type="urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248",
        class_code=Code("A00-1", "2.16.578.1.12.4.1.1.9602", "Epikrise"),
        type_code=Code("J01-2", "2.16.578.1.12.4.1.1.9603", "Epikrise fra sykehus"),
        format_code=Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3"),
        healthcare_facility_type_code=Code("86.211", "2.16.578.1.12.4.1.1.1303", "Sykehus"),
        practice_setting_code=Code("ALL", "2.16.578.1.12.4.1.1.8451", "Allmennmedisin"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal"), Code("R", "x")],
        event_code_list=[Code("T-D4909", "SNM3", "Kidney"), Code("P1-3020", "SNM3")],
        language_code="nb-NO",
        creation_time="20240102030405",
        service_start_time="202401",
        service_stop_time="2024010203",
        title="Epikrise – Ærlig Østby",
        comments="Kommentar med 'fnutter' og \"anførsel\"",
        authors=[
            Author(
                person="^Østby^Ærlig^^^Dr",
                institutions=["Sykehuset^^^^^^^^^1.2.3"],
                roles=["Lege"],
                specialties=["Indremedisin"],
                telecommunications=["^^Internet^ostby@example.no"],
            ),
            Author(person="^O'Brien^Pat"),
        ],
        legal_authenticator="^Welby^Marcus^^^Dr",
        source_patient_id="13116900216^^^&2.16.578.1.12.4.1.4.1&ISO",
        source_patient_info=["PID-5|Østby^Ærlig", "PID-8|F"],
        reference_id_list=["ref1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"],
        uri="https://example.no/doc/1",
        limited_metadata=True,
        logical_id=new_uuid(),
        version="2",
        extra_slots={"urn:no:nhn:custom": ["a", "b"], "urn:no:nhn:empty": []},
    )


def submission(*entries: DocumentEntry, **extra) -> Submission:
    """A Submission of `entries` under a fresh SubmissionSet with HasMember associations."""
    submission_set = SubmissionSet(
        entry_uuid=new_uuid(),
        unique_id=f"2.25.{uuid4().int}",
        source_id="2.16.578.1.12.4.5.100.1",
        patient_id=PATIENT,
        submission_time="20240102030405",
    )
    associations = [
        Association(
            entry_uuid=new_uuid(),
            association_type=AssociationType.HAS_MEMBER,
            source_object=submission_set.entry_uuid,
            target_object=entry.entry_uuid,
            submission_set_status="Original",
        )
        for entry in entries
    ]
    return Submission(
        submission_set=submission_set,
        document_entries=list(entries),
        associations=associations,
        **extra,
    )


def complete_folder() -> Folder:
    """A Folder with every attribute set."""
    return Folder(
        entry_uuid=new_uuid(),
        unique_id=f"2.25.{uuid4().int}",
        patient_id=PATIENT,
        code_list=[Code("F1", "1.2.3", "Mappe")],
        last_update_time="20240102030405",
        title="Mappe",
        comments="",
        home_community_id="urn:oid:1.2.3",
        extra_slots={"x": ["y"]},
    )


def register(store: RegistryStore, *entries: DocumentEntry) -> None:
    """Register `entries` in one submission."""
    store.register(submission(*entries), lambda: None)
