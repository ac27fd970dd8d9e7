"""The CapabilityStatement of `GET /fhir/metadata` (ITI TF-2x Appendix Z.3).

It declares what xcads does: the MHD Document Recipient (ITI-65) and the Document Responder
(ITI-66, ITI-67, ITI-68), with the search parameters and formats `mhd.search` reads.
"""

from __future__ import annotations

from mhd.search import DOCUMENT_CODES

MHD = "https://profiles.ihe.net/ITI/MHD/"
FHIR_OPERATION = "http://hl7.org/fhir/OperationDefinition/"
FORMATS = ["application/fhir+json", "application/fhir+xml", "json", "xml"]

_DOCUMENT_REFERENCE_SEARCH = [
    ("patient", "reference", "Patient/<assigning authority OID>-<id>, as subject gives it"),
    ("patient.identifier", "token", "system|value of the patient id, e.g. urn:oid:<aa>|<id>"),
    ("status", "token", "current or superseded (availabilityStatus)"),
    ("identifier", "token", "masterIdentifier (uniqueId) or identifier (entryUUID)"),
    ("_id", "token", "the entryUUID without urn:uuid:"),
    ("creation", "date", "content.attachment.creation (creationTime)"),
    ("date", "date", "when the registry took the entry (its SubmissionSet's submissionTime)"),
    ("period", "date", "context.period overlapping the range (service start and stop time)"),
    ("author.given", "string", "given name of an author person"),
    ("author.family", "string", "family name of an author person"),
    ("related", "reference", "context.related identifier (referenceIdList)"),
    *(
        (name, "token", f"system|code of {parameter.removeprefix('$XDSDocumentEntry')}")
        for name, (parameter, _) in DOCUMENT_CODES.items()
    ),
]
_LIST_SEARCH = [
    ("patient", "reference", "Patient/<assigning authority OID>-<id>, as subject gives it"),
    ("patient.identifier", "token", "system|value of the patient id"),
    ("code", "token", "submissionset or folder"),
    ("status", "token", "current or superseded (availabilityStatus)"),
    ("identifier", "token", "uniqueId or entryUUID"),
    ("_id", "token", "the entryUUID without urn:uuid:"),
    ("date", "date", "submissionTime of a SubmissionSet, lastUpdateTime of a Folder"),
    ("designationType", "token", "contentTypeCode of a SubmissionSet, codeList of a Folder"),
    ("sourceId", "token", "sourceId of a SubmissionSet"),
    ("source.given", "string", "given name of the SubmissionSet's author person"),
    ("source.family", "string", "family name of the SubmissionSet's author person"),
]
_PAGING = [("_count", "number", "page size; the Bundle links next and previous page on")]


def capability_statement(base_url: str, software_version: str) -> dict:
    """Render the CapabilityStatement for a service answering at `base_url`."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-04",
        "kind": "instance",
        "instantiates": [
            MHD + "CapabilityStatement/IHE.MHD.DocumentRecipient",
            MHD + "CapabilityStatement/IHE.MHD.DocumentResponder",
        ],
        "software": {"name": "xcads", "version": software_version},
        "implementation": {"description": "xcads MHD Recipient and Responder", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": FORMATS,
        "rest": [
            {
                "mode": "server",
                "documentation": "ITI-65 Provide Document Bundle (transaction at the base URL);"
                " ITI-66 Find Document Lists, ITI-67 Find Document References, ITI-68 Retrieve"
                " Document at DocumentReference.content.attachment.url",
                "resource": [
                    _resource("DocumentReference", _DOCUMENT_REFERENCE_SEARCH),
                    _resource("List", _LIST_SEARCH),
                    {
                        "type": "Bundle",
                        "operation": [
                            {
                                "name": "validate",
                                "definition": FHIR_OPERATION + "Resource-validate",
                                "documentation": "an ITI-65 bundle checked, nothing stored",
                            }
                        ],
                    },
                ],
                "interaction": [{"code": "transaction"}],
            }
        ],
    }


def _resource(kind: str, parameters: list[tuple[str, str, str]]) -> dict:
    return {
        "type": kind,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": name, "type": kind_of, "documentation": documentation}
            for name, kind_of, documentation in [*parameters, *_PAGING]
        ],
    }
