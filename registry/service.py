"""Registering a submission: validate it, shape it as the registry keeps it, store it.

What the registry does to a valid submission before storing it (ITI TF-2b 3.42.4.1.3):

- symbolic ids are replaced by fresh `urn:uuid:` entryUUIDs, and associations follow;
- every submitted object becomes Approved, and a Folder's lastUpdateTime is now;
- a DocumentEntry whose uniqueId is already registered for the same patient with the same hash
  and size is the same document sent again: it is not stored a second time. The SubmissionSet
  is, and its HasMember (and any other association) points at the registered entry instead, with
  SubmissionSetStatus Reference, as for any member registered before.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from registry.errors import XdsError, errors_in
from registry.lifecycle import latest_versions
from registry.metadata import AvailabilityStatus, Submission
from registry.store import RegistryStore
from registry.validation import ValidationOptions, is_same_document, validate_submission
from registry.validation.formats import is_symbolic_id
from registry.validation.rules import REFERENCE

log = logging.getLogger("xcads.registry")


def register_submission(
    store: RegistryStore,
    submission: Submission,
    *,
    options: ValidationOptions | None = None,
    before_commit: Callable[[Submission], None] | None = None,
) -> Submission:
    """Validate `submission`, raise XdsError with every error found, else register it.

    Returns the submission as stored; `before_commit` receives it just before the commit (to
    promote documents, say). `submission` itself is left unchanged.
    """
    issues = validate_submission(submission, options=options, registry_store=store)
    if errors_in(issues):
        raise XdsError(issues)

    stored = as_registered(submission, _resubmitted(store, submission))
    store.register(stored, before_commit=lambda: before_commit(stored) if before_commit else None)
    log.info(
        "registry.registered entries=%d resubmitted=%d folders=%d associations=%d",
        len(stored.document_entries),
        len(submission.document_entries) - len(stored.document_entries),
        len(stored.folders),
        len(stored.associations),
    )
    return stored


def as_registered(submission: Submission, resubmitted: dict[str, str]) -> Submission:
    """Return the submission as the registry stores it; see the module docstring.

    `resubmitted` maps the entryUUID of each DocumentEntry that resubmits a registered one to
    the registered entry's entryUUID.
    """
    renamed = {
        object_id: uuid.uuid4().urn
        for object_id in submission.entry_uuids()
        if is_symbolic_id(object_id) and object_id not in resubmitted
    }
    renamed.update(resubmitted)

    def new_id(object_id: str) -> str:
        return renamed.get(object_id, object_id)

    approved = AvailabilityStatus.APPROVED.value
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    submission_set = dataclasses.replace(
        submission.submission_set,
        entry_uuid=new_id(submission.submission_set.entry_uuid),
        availability_status=approved,
    )
    entries = [
        dataclasses.replace(e, entry_uuid=new_id(e.entry_uuid), availability_status=approved)
        for e in submission.document_entries
        if e.entry_uuid not in resubmitted
    ]
    folders = [
        dataclasses.replace(
            f, entry_uuid=new_id(f.entry_uuid), availability_status=approved, last_update_time=now
        )
        for f in submission.folders
    ]
    associations = [
        dataclasses.replace(
            a,
            entry_uuid=new_id(a.entry_uuid),
            source_object=new_id(a.source_object),
            target_object=new_id(a.target_object),
            availability_status=approved,
            submission_set_status=REFERENCE
            if a.target_object in resubmitted and a.submission_set_status
            else a.submission_set_status,
        )
        for a in submission.associations
    ]
    return Submission(submission_set, entries, folders, associations)


def _resubmitted(store: RegistryStore, submission: Submission) -> dict[str, str]:
    unique_ids = [e.unique_id for e in submission.document_entries]
    registered = latest_versions(store.document_entries_by_unique_id(unique_ids))
    return {
        entry.entry_uuid: registered[entry.unique_id].entry_uuid
        for entry in submission.document_entries
        if entry.unique_id in registered and is_same_document(entry, registered[entry.unique_id])
    }
