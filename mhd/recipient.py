"""The MHD Document Recipient (ITI-65) grouped with this repository and registry."""

from __future__ import annotations

from gateway.config import Settings
from mhd.bundle import parse_bundle, read_provide_bundle
from mhd.mapping import map_submission
from mhd.outcome import BundleRejected
from mhd.rules import check_submission
from registry.errors import XdsError
from registry.store import RegistryStore
from registry.validation import Transaction, ValidationOptions
from repository.provide import provide_and_register
from repository.store import DocumentStore


def receive_bundle(
    body: bytes, *, settings: Settings, registry: RegistryStore, documents: DocumentStore
) -> list[str]:
    """Store and register an ITI-65 bundle atomically; return each entry's `Type/id`.

    Raises BundleRejected, with every issue located by FHIRPath, when nothing was stored.
    """
    mapped = map_submission(read_provide_bundle(parse_bundle(body)))
    submission = mapped.submission
    submission.submission_set.home_community_id = settings.home_community_id
    for entry in submission.document_entries:
        entry.home_community_id = settings.home_community_id

    issues = check_submission(submission, mapped.contents, mapped.expected)
    if issues:
        raise BundleRejected(mapped.locator.locate(issue) for issue in issues)

    try:
        provide_and_register(
            submission,
            mapped.contents,
            registry=registry,
            documents=documents,
            repository_unique_id=settings.repository_unique_id,
            expected=mapped.expected,
            validation=ValidationOptions.from_settings(
                settings, Transaction.PROVIDE_DOCUMENT_BUNDLE
            ),
        )
    except XdsError as error:
        raise BundleRejected(mapped.locator.locate(issue) for issue in error.issues) from None
    return mapped.locations
