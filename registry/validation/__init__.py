"""Validation of a submission's metadata before it is registered (ITI-42 and the registry half of
ITI-41/ITI-65): one catalogue of rules (`Rule`), each bound to its IHE error code."""

from __future__ import annotations

from registry.errors import Issue
from registry.lifecycle import latest_versions
from registry.metadata import Submission
from registry.store import RegistryStore
from registry.validation.catalogue import Rule
from registry.validation.limits import indexed_value_issues
from registry.validation.norway import norway_rules
from registry.validation.options import Profile, Transaction, ValidationOptions
from registry.validation.rules import (
    DOCUMENT_ENTRY_REQUIRED,
    FOLDER_REQUIRED,
    IHE_RULES,
    SUBMISSION_SET_REQUIRED,
    Context,
    is_same_document,
    referenced_ids,
)

__all__ = [
    "DOCUMENT_ENTRY_REQUIRED",
    "FOLDER_REQUIRED",
    "SUBMISSION_SET_REQUIRED",
    "Profile",
    "Rule",
    "Transaction",
    "ValidationOptions",
    "indexed_value_issues",
    "is_same_document",
    "validate_submission",
]


def validate_submission(
    submission: Submission,
    *,
    options: ValidationOptions | None = None,
    registry_store: RegistryStore,
) -> list[Issue]:
    """Return every problem of `submission`, each naming its object, attribute and IHE code.

    The registry is read for the objects the submission's associations refer to and for the
    DocumentEntries whose uniqueIds it reuses; nothing is written.
    """
    options = options or ValidationOptions()
    context = Context(submission, options)

    references = referenced_ids(submission)
    if references:
        context.stored = {o.entry_uuid: o for o in registry_store.stored_objects(references)}
    unique_ids = [e.unique_id for e in submission.document_entries if e.unique_id]
    if unique_ids:
        registered = registry_store.document_entries_by_unique_id(unique_ids)
        context.registered = latest_versions(registered)

    issues = indexed_value_issues(submission)
    for rule_group in IHE_RULES:
        issues += rule_group(context)
    if options.profile == Profile.NORWAY:
        issues += norway_rules(context)
    return issues
