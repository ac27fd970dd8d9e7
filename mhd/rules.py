"""Rules across the objects of one submission, checked before anything is stored.

Each rule returns `Issue`s naming the XDS object and attribute at fault (ITI TF-3 4.2.4.1 codes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from registry.errors import ErrorCode, Issue
from registry.metadata import Submission


def check_submission(
    submission: Submission,
    contents: Mapping[str, bytes],
    expected: Mapping[str, tuple[str | None, int | None]],
) -> list[Issue]:
    """Run every rule of this module over a submission and its documents."""
    return (
        entry_uuids_are_unique(submission)
        + unique_ids_are_unique_in_message(submission)
        + patient_ids_match_submission_set(submission)
        + documents_match_stated_hash_and_size(contents, expected)
    )


def entry_uuids_are_unique(submission: Submission) -> list[Issue]:
    """No two objects of a submission share an entryUUID."""
    seen: set[str] = {submission.submission_set.entry_uuid}
    issues = []
    for entry in submission.document_entries:
        if entry.entry_uuid in seen:
            message = f"entryUUID {entry.entry_uuid} is used by another object of the submission"
            issues.append(
                Issue(ErrorCode.REGISTRY_METADATA_ERROR, message, entry.entry_uuid, "entryUUID")
            )
        seen.add(entry.entry_uuid)
    return issues


def unique_ids_are_unique_in_message(submission: Submission) -> list[Issue]:
    """No two objects of a submission share a uniqueId (XDSRegistryDuplicateUniqueIdInMessage)."""
    seen = {submission.submission_set.unique_id}
    issues = []
    for entry in submission.document_entries:
        if entry.unique_id and entry.unique_id in seen:
            issues.append(
                Issue(
                    ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE,
                    f"uniqueId {entry.unique_id} occurs more than once in the submission",
                    entry.entry_uuid,
                    "uniqueId",
                )
            )
        seen.add(entry.unique_id)
    return issues


def patient_ids_match_submission_set(submission: Submission) -> list[Issue]:
    """Every DocumentEntry has the SubmissionSet's patientId (XDSPatientIdDoesNotMatch)."""
    patient_id = submission.submission_set.patient_id
    return [
        Issue(
            ErrorCode.PATIENT_ID_DOES_NOT_MATCH,
            "the DocumentEntry's patient differs from the SubmissionSet's",
            entry.entry_uuid,
            "patientId",
        )
        for entry in submission.document_entries
        if patient_id and entry.patient_id and entry.patient_id != patient_id
    ]


def documents_match_stated_hash_and_size(
    contents: Mapping[str, bytes],
    expected: Mapping[str, tuple[str | None, int | None]],
) -> list[Issue]:
    """A stated hash and size describe the bytes sent (XDSRepositoryMetadataError).

    ITI-41 gives this case XDSRepositoryMetadataError; XDSNonIdenticalHash and XDSNonIdenticalSize
    are for a uniqueId already in the registry with other bytes.
    """
    issues = []
    for entry_uuid, (stated_hash, stated_size) in expected.items():
        if entry_uuid not in contents:
            continue
        data = contents[entry_uuid]
        actual_hash = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        if stated_hash is not None and stated_hash.lower() != actual_hash:
            message = f"stated hash {stated_hash} is not the SHA-1 of the document ({actual_hash})"
            issues.append(Issue(ErrorCode.REPOSITORY_METADATA_ERROR, message, entry_uuid, "hash"))
        if stated_size is not None and stated_size != len(data):
            message = f"stated size {stated_size} is not the document's {len(data)} bytes"
            issues.append(Issue(ErrorCode.REPOSITORY_METADATA_ERROR, message, entry_uuid, "size"))
    return issues
