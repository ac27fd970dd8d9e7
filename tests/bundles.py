"""ITI-65 transaction Bundles shaped like a Norwegian EPR's, built fresh for each test."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass, field

NO_PERSON_ID = "2.16.578.1.12.4.1.4.1"
VOLVEN_9602 = "urn:oid:2.16.578.1.12.4.1.1.9602"
COMPREHENSIVE_PROVIDE_BUNDLE = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD.Comprehensive.ProvideBundle"
)


@dataclass
class Document:
    """One document to put in a bundle."""

    data: bytes
    content_type: str = "text/plain"
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    title: str = "Epikrise"
    stated_hash: str | None = None
    stated_size: int | None = None

    @property
    def master_identifier(self) -> str:
        """The uniqueId as DocumentReference.masterIdentifier carries it (RFC 3986 URN)."""
        try:
            uuid.UUID(self.unique_id)
        except ValueError:
            return f"urn:oid:{self.unique_id}"
        return f"urn:uuid:{self.unique_id}"


def sha1_base64(data: bytes) -> str:
    """The FHIR Attachment.hash of some bytes."""
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def provide_bundle(
    patient_id: str,
    documents: list[Document],
    *,
    document_patient_id: str | None = None,
    source_id: str = "urn:oid:2.16.578.1.12.4.5.100.1.1",
) -> dict:
    """Build an ITI-65 Comprehensive bundle with a Patient, a SubmissionSet and the documents."""
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    other_patient_url = f"urn:uuid:{uuid.uuid4()}"
    list_url = f"urn:uuid:{uuid.uuid4()}"
    entries: list[dict] = []
    references: list[dict] = []

    for document in documents:
        binary_url = f"urn:uuid:{uuid.uuid4()}"
        reference_url = f"urn:uuid:{uuid.uuid4()}"
        subject = other_patient_url if document_patient_id else patient_url
        entries.append(_binary_entry(binary_url, document))
        references.append(
            _document_reference_entry(reference_url, binary_url, subject, patient_url, document)
        )

    entries = [
        _submission_set_entry(list_url, patient_url, references, source_id),
        _patient_entry(patient_url, patient_id),
        *entries,
        *references,
    ]
    if document_patient_id:
        entries.append(_patient_entry(other_patient_url, document_patient_id))
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [COMPREHENSIVE_PROVIDE_BUNDLE]},
        "type": "transaction",
        "entry": entries,
    }


def encode(bundle: dict, bom: bool = True) -> bytes:
    """Serialize a bundle as a Norwegian EPR does: UTF-8 with a byte-order mark."""
    text = json.dumps(bundle, ensure_ascii=False)
    return ("\ufeff" + text if bom else text).encode("utf-8")


def _patient_entry(url: str, patient_id: str) -> dict:
    return {
        "fullUrl": url,
        "resource": {
            "resourceType": "Patient",
            "identifier": [{"system": f"urn:oid:{NO_PERSON_ID}", "value": patient_id}],
            "name": [{"family": "TESTESEN", "given": ["KARI"]}],
            "birthDate": "1969-11-13",
        },
        "request": {"method": "POST", "url": "Patient"},
    }


def _binary_entry(url: str, document: Document) -> dict:
    return {
        "fullUrl": url,
        "resource": {
            "resourceType": "Binary",
            "contentType": document.content_type,
            "data": base64.b64encode(document.data).decode(),
        },
        "request": {"method": "POST", "url": "Binary"},
    }


def _author_resources() -> tuple[list[dict], list[dict]]:
    contained = [
        {
            "resourceType": "Practitioner",
            "id": "author",
            "name": [{"family": "LEGE", "given": ["OLA"]}],
        },
        {
            "resourceType": "Organization",
            "id": "org",
            "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.4.101", "value": "981275721"}],
            "name": "TESTSYKEHUSET HF",
        },
    ]
    references = [
        {"reference": "#author", "type": "Practitioner"},
        {"reference": "#org", "type": "Organization"},
    ]
    return contained, references


def _document_reference_entry(
    url: str, binary_url: str, subject: str, source_patient: str, document: Document
) -> dict:
    contained, authors = _author_resources()
    attachment = {
        "contentType": document.content_type,
        "url": binary_url,
        "title": document.title,
        "creation": "2026-03-10T14:25:18+01:00",
        "language": "nb-NO",
    }
    if document.stated_hash is not None:
        attachment["hash"] = document.stated_hash
    if document.stated_size is not None:
        attachment["size"] = document.stated_size
    return {
        "fullUrl": url,
        "resource": {
            "resourceType": "DocumentReference",
            "contained": contained,
            "masterIdentifier": {
                "system": "urn:ietf:rfc:3986",
                "value": document.master_identifier,
            },
            "status": "current",
            "type": {"coding": [{"system": VOLVEN_9602, "code": "A03-2", "display": "Epikrise"}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": VOLVEN_9602,
                            "code": "A00-1",
                            "display": "Epikriser og sammenfatninger",
                        }
                    ]
                }
            ],
            "subject": {"reference": subject},
            "date": "2026-03-10T14:25:18+01:00",
            "author": authors,
            "securityLabel": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                            "code": "N",
                            "display": "Normal",
                        }
                    ]
                }
            ],
            "content": [
                {
                    "attachment": attachment,
                    "format": {
                        "system": "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode",
                        "code": "urn:ihe:iti:xds:2017:mimeTypeSufficient",
                    },
                }
            ],
            "context": {
                "period": {"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"},
                "facilityType": {
                    "coding": [
                        {
                            "system": "urn:oid:2.16.578.1.12.4.1.1.1303",
                            "code": "86.101",
                            "display": "Somatisk sykehus",
                        }
                    ]
                },
                "practiceSetting": {
                    "coding": [
                        {
                            "system": "urn:oid:2.16.578.1.12.4.1.1.8651",
                            "code": "A04",
                            "display": "Overvåkningsenhet",
                        }
                    ]
                },
                "sourcePatientInfo": {"reference": source_patient},
            },
        },
        "request": {"method": "POST", "url": "DocumentReference"},
    }


def _submission_set_entry(
    url: str, patient_url: str, references: list[dict], source_id: str
) -> dict:
    contained, authors = _author_resources()
    return {
        "fullUrl": url,
        "resource": {
            "resourceType": "List",
            "contained": contained,
            "extension": [
                {
                    "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType",
                    "valueCodeableConcept": {
                        "coding": [{"system": VOLVEN_9602, "code": "A03-2", "display": "Epikrise"}]
                    },
                },
                {
                    "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId",
                    "valueIdentifier": {"value": source_id},
                },
            ],
            "identifier": [
                {
                    "use": "usual",
                    "system": "urn:ietf:rfc:3986",
                    "value": f"urn:oid:2.25.{uuid.uuid4().int}",
                },
                {"use": "official", "system": "urn:ietf:rfc:3986", "value": url},
            ],
            "status": "current",
            "mode": "working",
            "title": "Innsending",
            "code": {
                "coding": [
                    {
                        "system": "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes",
                        "code": "submissionset",
                    }
                ]
            },
            "subject": {"reference": patient_url},
            "date": "2026-03-10T13:25:17Z",
            "source": {
                "reference": authors[0]["reference"],
                "extension": [
                    {
                        "url": "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-authorOrg",
                        "valueReference": {"reference": authors[1]["reference"]},
                    }
                ],
            },
            "entry": [{"item": {"reference": reference["fullUrl"]}} for reference in references],
        },
        "request": {"method": "POST", "url": "List"},
    }
