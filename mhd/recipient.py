"""The MHD Document Recipient (ITI-65) grouped with this repository and registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config import Settings
from mhd.bundle import parse_bundle, read_provide_bundle
from mhd.codemap import CodeMap, Translation
from mhd.mapping import MappedSubmission, map_submission
from mhd.national import instance_id_issues
from mhd.outcome import BundleRejected
from mhd.rules import check_submission
from registry.errors import XdsError
from registry.store import RegistryStore
from registry.validation import Transaction, ValidationOptions
from repository.provide import provide_and_register
from repository.store import DocumentStore


@dataclass
class PreparedSubmission:
    """A bundle read, its local codes translated, mapped to XDS and checked; nothing stored."""

    mapped: MappedSubmission
    translations: list[Translation] = field(default_factory=list)


def prepare_submission(
    body: bytes,
    *,
    settings: Settings,
    code_map: CodeMap | None = None,
    registry: RegistryStore | None = None,
) -> PreparedSubmission:
    """Read an ITI-65 bundle up to the registry's validation; raise BundleRejected if it fails.

    Given the registry, a fullUrl that is already an entryUUID there gets a fresh entryUUID.
    """
    bundle = read_provide_bundle(parse_bundle(body))
    translated = code_map.translate(bundle) if code_map else None
    registered = (
        (lambda entry_uuids: {o.entry_uuid for o in registry.stored_objects(entry_uuids)})
        if registry is not None
        else None
    )
    try:
        mapped = map_submission(bundle, registered)
    except BundleRejected as rejected:
        if translated is None:
            raise
        raise BundleRejected([*translated.issues, *rejected.issues]) from None
    if translated is not None and translated.issues:
        raise BundleRejected(translated.issues)

    submission = mapped.submission
    submission.submission_set.home_community_id = settings.home_community_id
    for item in [*submission.document_entries, *submission.folders]:
        item.home_community_id = settings.home_community_id

    issues = check_submission(submission, mapped.contents, mapped.expected)
    national = instance_id_issues(bundle, submission.submission_set, settings)
    if issues or national:
        raise BundleRejected([*(mapped.locator.locate(issue) for issue in issues), *national])
    return PreparedSubmission(mapped, translated.translations if translated else [])


def receive_bundle(
    body: bytes,
    *,
    settings: Settings,
    registry: RegistryStore,
    documents: DocumentStore,
    code_map: CodeMap | None = None,
) -> PreparedSubmission:
    """Store and register an ITI-65 bundle atomically; return it as stored.

    Raises BundleRejected, with every issue located by FHIRPath, when nothing was stored.
    """
    prepared = prepare_submission(body, settings=settings, code_map=code_map, registry=registry)
    mapped = prepared.mapped
    try:
        provide_and_register(
            mapped.submission,
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
    return prepared
