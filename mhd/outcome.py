"""The FHIR edge of errors: issues located by FHIRPath, OperationOutcome and transaction-response.

MHD (ITI-65 2:3.65.4.1.3) asks for the error codes of ITI TF-3 Table 4.2.4.1-2 but IHE publishes
no FHIR CodeSystem for them; `XDS_ERROR_CODE_SYSTEM` names that table, and each issue also
carries the bare code in `details.text` for receivers that read only the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from registry.errors import ErrorCode, Issue, Severity

XDS_ERROR_CODE_SYSTEM = "https://profiles.ihe.net/ITI/TF/Volume3/ch-4.2.html#4.2.4.1"

# FHIR IssueType (http://hl7.org/fhir/issue-type) that best describes each XDS error code.
ISSUE_TYPES: dict[ErrorCode, str] = {
    ErrorCode.REGISTRY_METADATA_ERROR: "invalid",
    ErrorCode.REPOSITORY_METADATA_ERROR: "invalid",
    ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE: "duplicate",
    ErrorCode.REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE: "duplicate",
    ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY: "duplicate",
    ErrorCode.PATIENT_ID_DOES_NOT_MATCH: "business-rule",
    ErrorCode.UNKNOWN_PATIENT_ID: "not-found",
    ErrorCode.UNRESOLVED_REFERENCE: "not-found",
    ErrorCode.NON_IDENTICAL_HASH: "invalid",
    ErrorCode.NON_IDENTICAL_SIZE: "invalid",
    ErrorCode.MISSING_DOCUMENT: "required",
    ErrorCode.MISSING_DOCUMENT_METADATA: "invalid",
    ErrorCode.REGISTRY_BUSY: "transient",
    ErrorCode.REGISTRY_OUT_OF_RESOURCES: "transient",
    ErrorCode.REGISTRY_ERROR: "exception",
    ErrorCode.REPOSITORY_ERROR: "exception",
}

# Codes that say the server, not the submission, is at fault.
SERVER_ERRORS = frozenset(
    {
        ErrorCode.REGISTRY_ERROR,
        ErrorCode.REPOSITORY_ERROR,
        ErrorCode.REGISTRY_BUSY,
        ErrorCode.REGISTRY_OUT_OF_RESOURCES,
    }
)


@dataclass(frozen=True)
class FhirIssue:
    """One problem in a bundle: its XDS error code, what is wrong, and the FHIRPath at fault."""

    code: ErrorCode
    message: str
    expression: str = ""
    severity: Severity = Severity.ERROR
    issue_type: str = ""


class BundleRejected(Exception):
    """The bundle cannot be accepted; `issues` say why and where."""

    def __init__(self, issues: Iterable[FhirIssue], status: int | None = None) -> None:
        self.issues = list(issues)
        self.status = status
        super().__init__("; ".join(f"{i.code} at {i.expression}: {i.message}" for i in self.issues))

    @property
    def http_status(self) -> int:
        """The status given, else 500 when the server failed and 400 when the submission did."""
        if self.status is not None:
            return self.status
        return 500 if any(i.code in SERVER_ERRORS for i in self.issues) else 400


# Where each XDS attribute of a DocumentEntry lives inside its DocumentReference (MHD 3:4.5.1.1).
DOCUMENT_ENTRY_PATHS = {
    "uniqueId": "masterIdentifier",
    "entryUUID": "identifier",
    "availabilityStatus": "status",
    "typeCode": "type",
    "classCode": "category",
    "patientId": "subject",
    "author": "author",
    "legalAuthenticator": "authenticator",
    "comments": "description",
    "confidentialityCode": "securityLabel",
    "mimeType": "content[0].attachment.contentType",
    "languageCode": "content[0].attachment.language",
    "size": "content[0].attachment.size",
    "hash": "content[0].attachment.hash",
    "title": "content[0].attachment.title",
    "creationTime": "content[0].attachment.creation",
    "formatCode": "content[0].format",
    "referenceIdList": "context.related",
    "eventCodeList": "context.event",
    "serviceStartTime": "context.period.start",
    "serviceStopTime": "context.period.end",
    "healthcareFacilityTypeCode": "context.facilityType",
    "practiceSettingCode": "context.practiceSetting",
    "sourcePatientInfo": "context.sourcePatientInfo",
    "sourcePatientId": "context.sourcePatientInfo",
}

# Where each XDS attribute of a SubmissionSet lives inside its List (MHD 3:4.5.2).
SUBMISSION_SET_PATHS = {
    "uniqueId": "identifier",
    "entryUUID": "identifier",
    "availabilityStatus": "status",
    "title": "title",
    "patientId": "subject",
    "submissionTime": "date",
    "author": "source",
    "comments": "note",
    "sourceId": "extension",
    "contentTypeCode": "extension",
    "intendedRecipient": "extension",
}

# Where each XDS attribute of a Folder lives inside its List (MHD 3:4.5.3).
FOLDER_PATHS = {
    "uniqueId": "identifier",
    "entryUUID": "identifier",
    "availabilityStatus": "status",
    "title": "title",
    "patientId": "subject",
    "codeList": "extension",
    "comments": "note",
    "lastUpdateTime": "date",
}


@dataclass
class Locator:
    """Turns an XDS object and attribute back into the FHIRPath of the element they came from."""

    resources: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    exact: dict[tuple[str, str], str] = field(default_factory=dict)

    def add_object(
        self, object_id: str, resource_path: str, attribute_paths: dict[str, str]
    ) -> None:
        """Record that the XDS object `object_id` came from the resource at `resource_path`."""
        self.resources[object_id] = (resource_path, attribute_paths)

    def add_exact(self, object_id: str, attribute: str, path: str) -> None:
        """Record the precise FHIRPath of one attribute (e.g. which identifier held uniqueId)."""
        self.exact[(object_id, attribute)] = path

    def path_of(self, object_id: str, attribute: str = "") -> str:
        """Return the FHIRPath for an object and attribute; `Bundle` when the object is unknown."""
        if (object_id, attribute) in self.exact:
            return self.exact[(object_id, attribute)]
        if object_id not in self.resources:
            return "Bundle"
        resource_path, attribute_paths = self.resources[object_id]
        sub_path = attribute_paths.get(attribute)
        return f"{resource_path}.{sub_path}" if sub_path else resource_path

    def locate(self, issue: Issue) -> FhirIssue:
        """Translate a core `Issue` into a `FhirIssue` at the element at fault."""
        return FhirIssue(
            code=issue.code,
            message=issue.message,
            expression=self.path_of(issue.object_id, issue.attribute),
            severity=issue.severity,
        )


def operation_outcome(issues: Iterable[FhirIssue]) -> dict:
    """Render issues as an OperationOutcome resource."""
    return {"resourceType": "OperationOutcome", "issue": [_issue(i) for i in issues]}


def _issue(issue: FhirIssue) -> dict:
    rendered: dict = {
        "severity": "warning" if issue.severity == Severity.WARNING else "error",
        "code": issue.issue_type or ISSUE_TYPES.get(issue.code, "processing"),
        "details": {
            "coding": [{"system": XDS_ERROR_CODE_SYSTEM, "code": str(issue.code)}],
            "text": str(issue.code),
        },
        "diagnostics": issue.message,
    }
    if issue.expression:
        rendered["expression"] = [issue.expression]
    return rendered


def transaction_response(
    locations: Iterable[str],
    outcomes: Mapping[int, dict] | None = None,
    statuses: Sequence[str] = (),
) -> dict:
    """Render a transaction-response Bundle: one entry per request entry, in order.

    Each entry is `201 Created` unless `statuses` gives another (`200 OK` for an update).
    `outcomes` holds, by entry index, an OperationOutcome to give as that entry's
    `response.outcome` (hints and warnings about the entry, FHIR R4 Bundle.entry.response).
    """
    outcomes = outcomes or {}
    entries = []
    for index, location in enumerate(locations):
        status = statuses[index] if index < len(statuses) else "201 Created"
        response: dict = {"status": status, "location": location}
        if index in outcomes:
            response["outcome"] = outcomes[index]
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def server_error(message: str) -> dict:
    """Render the OperationOutcome of an unexpected failure, saying nothing about its internals."""
    return operation_outcome([FhirIssue(ErrorCode.REGISTRY_ERROR, message, issue_type="exception")])
