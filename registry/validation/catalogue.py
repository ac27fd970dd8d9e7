"""The catalogue of validation rules: every rule the registry checks, bound to its IHE error code.

One member per rule, named for what it forbids. The rule modules report a broken rule with
`Rule.X.issue(...)`, so the error code of a message is decided here and nowhere else.
"""

from __future__ import annotations

from enum import Enum

from registry.errors import ErrorCode, Issue


class Rule(Enum):
    """A validation rule of ITI TF-3 4.2/4.3 or of a national profile, with its error code."""

    # Cardinality (ITI TF-3 Table 4.3.1-3).
    REQUIRED_ATTRIBUTE_MISSING = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a required attribute is missing",
    )
    ATTRIBUTE_REPEATED = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a single-valued attribute (classCode, creationTime, ...) is given once at most",
    )
    DOCUMENT_ENTRY_TYPE_NOT_STABLE = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a Register transaction carries stable DocumentEntries only",
    )

    # Identifiers and formats (ITI TF-3 4.2.3.1, 4.2.3.2-4).
    ENTRY_UUID_MALFORMED = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "entryUUID is neither a UUID nor a symbol",
    )
    OID_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not an OID of at most 64 characters"
    DOCUMENT_UNIQUE_ID_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "malformed document uniqueId"
    CX_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not a CX id^^^&OID&ISO"
    DTM_MALFORMED = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "not a UTC DTM YYYY[MM[DD[hh[mm[ss]]]]] of a real date and time",
    )
    HASH_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not a SHA-1 in hexadecimal"
    SIZE_NEGATIVE = ErrorCode.REGISTRY_METADATA_ERROR, "size is negative"
    SIZE_TOO_LARGE = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "size is at most 2^63-1 bytes, on every register path (formats.SIZE_MAX)",
    )
    SOURCE_PATIENT_INFO_MALFORMED = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a sourcePatientInfo value is PID-n|field, PID-3 a CX with an id, PID-7 an HL7 DTM",
    )
    VALUE_TOO_LONG = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a value the registry indexes is within the length limit of registry/validation/limits.py",
    )
    REGISTRY_PACKAGE_UNCLASSIFIED = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a RegistryPackage is classified as SubmissionSet or Folder (ITI TF-3 4.2.3.3, 4.2.3.4)",
    )
    LANGUAGE_CODE_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not an RFC 5646 language tag"
    MIME_TYPE_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not a MIME type"
    CODE_INCOMPLETE = ErrorCode.REGISTRY_METADATA_ERROR, "a code needs a value and a codingScheme"
    AUTHOR_EMPTY = ErrorCode.REGISTRY_METADATA_ERROR, "an author names no person or institution"
    XCN_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not an XCN person"
    XON_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not an XON organization"
    XTN_MALFORMED = ErrorCode.REGISTRY_METADATA_ERROR, "not an XTN telecommunication address"

    # Associations (ITI TF-3 4.2.2, 4.2.1.3).
    ASSOCIATION_TYPE_UNKNOWN = ErrorCode.REGISTRY_METADATA_ERROR, "unknown associationType"
    MEMBER_NOT_IN_SUBMISSION_SET = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "every DocumentEntry and Folder submitted is a HasMember target of the SubmissionSet",
    )
    SUBMISSION_SET_STATUS_INVALID = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a SubmissionSet-DocumentEntry HasMember has SubmissionSetStatus Original or Reference",
    )
    ORIGINAL_NOT_IN_SUBMISSION = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a SubmissionSetStatus Original member is part of the submission",
    )
    FOLDER_MEMBERSHIP_NOT_IN_SUBMISSION_SET = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a Folder-DocumentEntry HasMember is itself a member of the SubmissionSet",
    )
    REFERENCE_UNRESOLVED = (
        ErrorCode.UNRESOLVED_REFERENCE,
        "an association end is neither in the submission nor in the registry",
    )

    # Identity across the submission and the registry (ITI TF-2b 3.42.4.1.3).
    ENTRY_UUID_DUPLICATE_IN_MESSAGE = ErrorCode.REGISTRY_METADATA_ERROR, "entryUUID used twice"
    UNIQUE_ID_DUPLICATE_IN_MESSAGE = (
        ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE,
        "uniqueId used twice in the submission",
    )
    UNIQUE_ID_IN_REGISTRY = (
        ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
        "uniqueId already registered for another object",
    )
    NON_IDENTICAL_HASH = ErrorCode.NON_IDENTICAL_HASH, "uniqueId registered with another hash"
    NON_IDENTICAL_SIZE = ErrorCode.NON_IDENTICAL_SIZE, "uniqueId registered with another size"
    PATIENT_ID_DOES_NOT_MATCH = (
        ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
        "every object of a submission, and every registry object it refers to, has one patient",
    )
    PATIENT_ID_UNKNOWN = (
        ErrorCode.UNKNOWN_PATIENT_ID,
        "patient id of an unknown assigning authority",
    )

    # The Norwegian profile (HIS 1169 as NHN publishes it; codes in registry/validation/codes).
    NORWAY_PATIENT_ID_AUTHORITY = (
        ErrorCode.UNKNOWN_PATIENT_ID,
        "the patient is identified by a Norwegian person identifier",
    )
    NORWAY_PATIENT_ID_MALFORMED = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a fødselsnummer or D-nummer has a real date of birth, an FH-nummer a leading 8 or 9, "
        "and each its two check digits",
    )
    NORWAY_SYNTHETIC_PATIENT_ID = (
        ErrorCode.UNKNOWN_PATIENT_ID,
        "synthetic test identities are accepted only where configured",
    )
    NORWAY_CODE_NOT_IN_VALUE_SET = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a code is taken from the value set the Norwegian profile binds",
    )
    NORWAY_TYPE_CODE_NOT_OF_CLASS = (
        ErrorCode.REGISTRY_METADATA_ERROR,
        "a Volven 9602 typeCode belongs to the classCode given",
    )

    def __init__(self, code: ErrorCode, summary: str) -> None:
        self.code = code
        self.summary = summary

    def issue(self, message: str, object_id: str = "", attribute: str = "") -> Issue:
        """Report this rule broken by one object's attribute."""
        return Issue(self.code, message, object_id, attribute)
