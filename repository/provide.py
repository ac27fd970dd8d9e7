"""Provide and Register: store a submission's documents and register their metadata as one unit.

This is the Document Repository's half of ITI-41, also used by the MHD Document Recipient
(ITI-65): bytes are staged and hashed first, metadata is registered in one transaction, and the
bytes become visible only inside that transaction's commit window. Whatever fails, nothing of the
submission remains.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import Submission
from registry.service import register_submission
from registry.store import RegistryStore
from registry.validation import Transaction, ValidationOptions
from repository.store import DocumentStore, StagedDocument

log = logging.getLogger("xcads.repository")


def provide_and_register(
    submission: Submission,
    contents: Mapping[str, bytes | Iterable[bytes]],
    *,
    registry: RegistryStore,
    documents: DocumentStore,
    repository_unique_id: str,
    expected: Mapping[str, tuple[str | None, int | None]] | None = None,
    validation: ValidationOptions | None = None,
) -> None:
    """Store the documents in `contents` (keyed by entryUUID) and register `submission`.

    `expected` holds a sender's stated (SHA-1 hex, size) per entryUUID; a mismatch with the bytes
    fails with XDSRepositoryMetadataError. Sets hash, size and repositoryUniqueId on each entry,
    then validates the metadata with `validation` (ITI-41 rules by default) before anything
    becomes visible. A document the registry already holds (same uniqueId, hash and size) is not
    stored again.
    """
    expected = expected or {}
    _check_documents_match_metadata(submission, contents)

    staged: dict[str, StagedDocument] = {}
    promoted: list[str] = []
    committed = False
    try:
        for entry in submission.document_entries:
            staged[entry.entry_uuid] = documents.stage(_chunks(contents[entry.entry_uuid]))

        issues: list[Issue] = []
        for entry in submission.document_entries:
            stored = staged[entry.entry_uuid]
            stated_hash, stated_size = expected.get(entry.entry_uuid, (None, None))
            issues += _compare(entry.entry_uuid, stored, stated_hash, stated_size)
            entry.hash = stored.hash
            entry.size = stored.size
            entry.repository_unique_id = repository_unique_id
        if issues:
            raise XdsError(issues)
        staged_uuid = {entry.unique_id: entry.entry_uuid for entry in submission.document_entries}

        def promote_all(stored: Submission) -> None:
            for entry in stored.document_entries:
                entry_uuid = staged_uuid[entry.unique_id]
                documents.promote(staged[entry_uuid], entry.unique_id)
                del staged[entry_uuid]
                promoted.append(entry.unique_id)

        options = validation or ValidationOptions(transaction=Transaction.PROVIDE_AND_REGISTER)
        register_submission(registry, submission, options=options, before_commit=promote_all)
        committed = True
    finally:
        # Left staged are the documents of a failed submission, or resubmitted ones whose
        # identical bytes the repository already holds.
        for token in staged.values():
            documents.discard(token)
        if not committed:
            for key in promoted:
                documents.delete(key)

    log.info(
        "repository.provided documents=%d bytes=%d",
        len(submission.document_entries),
        sum(entry.size or 0 for entry in submission.document_entries),
    )


def _chunks(content: bytes | Iterable[bytes]) -> Iterable[bytes]:
    if isinstance(content, bytes | bytearray | memoryview):
        return [bytes(content)]
    return content


def _check_documents_match_metadata(
    submission: Submission, contents: Mapping[str, bytes | Iterable[bytes]]
) -> None:
    entry_uuids = {entry.entry_uuid for entry in submission.document_entries}
    issues = [
        Issue(
            ErrorCode.MISSING_DOCUMENT,
            "DocumentEntry has no document",
            object_id=entry_uuid,
        )
        for entry_uuid in sorted(entry_uuids - set(contents))
    ]
    issues += [
        Issue(
            ErrorCode.MISSING_DOCUMENT_METADATA,
            "document has no DocumentEntry",
            object_id=entry_uuid,
        )
        for entry_uuid in sorted(set(contents) - entry_uuids)
    ]
    if issues:
        raise XdsError(issues)


def _compare(
    entry_uuid: str, stored: StagedDocument, stated_hash: str | None, stated_size: int | None
) -> list[Issue]:
    issues = []
    if stated_hash is not None and stated_hash.lower() != stored.hash:
        issues.append(
            Issue(
                ErrorCode.REPOSITORY_METADATA_ERROR,
                f"stated hash {stated_hash} does not match the document's SHA-1 {stored.hash}",
                object_id=entry_uuid,
                attribute="hash",
            )
        )
    if stated_size is not None and stated_size != stored.size:
        issues.append(
            Issue(
                ErrorCode.REPOSITORY_METADATA_ERROR,
                f"stated size {stated_size} does not match the document's {stored.size} bytes",
                object_id=entry_uuid,
                attribute="size",
            )
        )
    return issues
