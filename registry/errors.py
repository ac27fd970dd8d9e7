"""XDS error codes (ITI TF-3 Table 4.2.4.1-2) and the issue list that validation returns.

Errors are data at the core: every layer reports `Issue`s, and the edges render them as a
RegistryErrorList (SOAP) or an OperationOutcome (FHIR).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """IHE XDS/XCA error codes."""

    REGISTRY_ERROR = "XDSRegistryError"
    REGISTRY_METADATA_ERROR = "XDSRegistryMetadataError"
    REGISTRY_BUSY = "XDSRegistryBusy"
    REGISTRY_OUT_OF_RESOURCES = "XDSRegistryOutOfResources"
    REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRegistryDuplicateUniqueIdInMessage"
    REGISTRY_DEPRECATED_DOCUMENT_ERROR = "XDSRegistryDeprecatedDocumentError"
    DUPLICATE_UNIQUE_ID_IN_REGISTRY = "XDSDuplicateUniqueIdInRegistry"
    PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
    UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
    NON_IDENTICAL_HASH = "XDSNonIdenticalHash"
    NON_IDENTICAL_SIZE = "XDSNonIdenticalSize"
    UNRESOLVED_REFERENCE = "UnresolvedReferenceException"
    REPOSITORY_ERROR = "XDSRepositoryError"
    REPOSITORY_METADATA_ERROR = "XDSRepositoryMetadataError"
    REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE = "XDSRepositoryDuplicateUniqueIdInMessage"
    MISSING_DOCUMENT = "XDSMissingDocument"
    MISSING_DOCUMENT_METADATA = "XDSMissingDocumentMetadata"
    DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
    UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
    UNKNOWN_COMMUNITY = "XDSUnknownCommunity"
    MISSING_HOME_COMMUNITY_ID = "XDSMissingHomeCommunityId"
    UNAVAILABLE_COMMUNITY = "XDSUnavailableCommunity"
    UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
    STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
    STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
    RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
    TOO_MANY_RESULTS = "XDSTooManyResults"
    EXTRA_METADATA_NOT_SAVED = "XDSExtraMetadataNotSaved"
    REFERENCES_EXIST = "ReferencesExistException"
    # ITI-62: a removal would leave an object unreferenced; spelled as the NIST toolkit's tests
    # expect it.
    UNREFERENCED_OBJECT = "XDSUnreferencedObjectException"
    METADATA_UPDATE_ERROR = "XDSMetadataUpdateError"
    METADATA_UPDATE_OPERATION_ERROR = "XDSMetadataUpdateOperationError"
    METADATA_VERSION_ERROR = "XDSMetadataVersionError"
    PATIENT_ID_RECONCILIATION_ERROR = "XDSPatientIDReconciliationError"


class Severity(StrEnum):
    """ebRS error severities."""

    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


@dataclass(frozen=True)
class Issue:
    """One problem found: its XDS error code, what is wrong, and where.

    `object_id` is the entryUUID (or id) of the object at fault and `attribute` the XDS attribute
    name (`hash`, `classCode`, ...); the SOAP edge prints both, the FHIR edge maps them to FHIRPath.
    """

    code: ErrorCode
    message: str
    object_id: str = ""
    attribute: str = ""
    severity: Severity = Severity.ERROR

    @property
    def location(self) -> str:
        """The object and attribute at fault, for humans."""
        return " ".join(part for part in (self.object_id, self.attribute) if part)


class XdsError(Exception):
    """A transaction failed with one or more issues."""

    def __init__(self, issues: list[Issue] | Issue) -> None:
        self.issues = [issues] if isinstance(issues, Issue) else list(issues)
        super().__init__("; ".join(f"{i.code}: {i.message}" for i in self.issues))


def errors_in(issues: list[Issue]) -> list[Issue]:
    """Return only the issues of severity Error."""
    return [i for i in issues if i.severity == Severity.ERROR]
