"""Document lifecycle: what a submission does to the objects already in the registry.

- ITI-42 relationship Associations (ITI TF-3 4.2.2.2): RPLC and XFRM_RPLC deprecate the original
  and carry its Folder memberships over to the replacement; XFRM, APND and signs only link.
- ITI-57 Update Document Set (ITI TF-2b 3.57.4.1.3): new DocumentEntry versions by logicalID and
  availabilityStatus updates of DocumentEntries and Folders.
- ITI-62 Delete Document Set (ITI TF-2b 3.62.4.1.3): which removals leave the registry whole.

The functions here only read, through `RegistryStore`, and decide: they return a `LifecyclePlan`
or raise `XdsError`. The store applies a plan in the same transaction as the submission.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace

from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import (
    Association,
    AssociationType,
    AvailabilityStatus,
    DocumentEntry,
    Submission,
)
from registry.store import (
    AssociationQuery,
    LifecyclePlan,
    ObjectKind,
    RegistryStore,
    StatusChange,
    StoredObject,
)

APPROVED = AvailabilityStatus.APPROVED.value
DEPRECATED = AvailabilityStatus.DEPRECATED.value

# Slots of ITI-57 (ITI TF-2b 3.57.4.1.3.3).
PREVIOUS_VERSION = "PreviousVersion"
ASSOCIATION_PROPAGATION = "AssociationPropagation"
ORIGINAL_STATUS = "OriginalStatus"
NEW_STATUS = "NewStatus"

FIRST_VERSION = "1"

RELATIONSHIPS = frozenset(
    {
        AssociationType.REPLACE,
        AssociationType.TRANSFORM,
        AssociationType.APPEND,
        AssociationType.TRANSFORM_AND_REPLACE,
        AssociationType.SIGNS,
    }
)
REPLACEMENTS = frozenset({AssociationType.REPLACE, AssociationType.TRANSFORM_AND_REPLACE})

# The statuses an ITI-57 status update may move between.
_UPDATABLE_STATUSES = frozenset({APPROVED, DEPRECATED})
_UPDATABLE_KINDS = frozenset({ObjectKind.DOCUMENT_ENTRY, ObjectKind.FOLDER})
# The objects a SubmissionSet lists as members (ITI TF-3 4.2.2.1).
_MEMBER_KINDS = frozenset({ObjectKind.DOCUMENT_ENTRY, ObjectKind.FOLDER})

# Far more Associations than one object ever has; only a bound for the store's query.
_ASSOCIATIONS_PER_OBJECT = 100_000


def plan(submission: Submission, store: RegistryStore) -> LifecyclePlan:
    """Decide what an ITI-42 submission does to stored objects; raise XdsError on a broken rule.

    Fills each DocumentEntry's logicalID (its entryUUID) and version ("1") where the submission
    leaves them empty: both are the registry's to assign on a first version.
    """
    issues = _first_versions(submission, store)
    issues += [
        Issue(
            ErrorCode.REGISTRY_METADATA_ERROR,
            "an UpdateAvailabilityStatus Association belongs in Update Document Set (ITI-57)",
            link.entry_uuid,
            "associationType",
        )
        for link in submission.associations
        if link.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS
    ]
    relationships = [a for a in submission.associations if a.association_type in RELATIONSHIPS]
    result = _relationships(submission, relationships, store, issues) if relationships else None
    if issues:
        raise XdsError(issues)
    return result or LifecyclePlan()


def plan_update(submission: Submission, store: RegistryStore) -> LifecyclePlan:
    """Decide what an ITI-57 Update Document Set does; raise XdsError on a broken rule.

    Sets each new DocumentEntry version's version number and availabilityStatus, which the
    registry assigns from the version it supersedes.
    """
    issues: list[Issue] = [
        Issue(
            ErrorCode.METADATA_UPDATE_OPERATION_ERROR,
            "Folder metadata update is not supported by this registry",
            folder.entry_uuid,
        )
        for folder in submission.folders
    ]
    result = LifecyclePlan()
    _new_versions(submission, store, result, issues)
    _status_updates(submission, store, result, issues)
    if issues:
        raise XdsError(issues)
    return result


def latest_versions(entries: Iterable[DocumentEntry]) -> dict[str, DocumentEntry]:
    """The version of each document that stands for it, by uniqueId: Approved, then highest.

    Every version of a document shares its uniqueId (ITI-57); whoever wants "the document" by
    uniqueId (a retrieve, a resubmission check) means this one.
    """
    latest: dict[str, DocumentEntry] = {}
    for entry in entries:
        current = latest.get(entry.unique_id)
        if current is None or _precedence(entry) > _precedence(current):
            latest[entry.unique_id] = entry
    return latest


def removal_issues(
    requested: list[str],
    stored: set[str],
    references: list[Association],
    around: Iterable[Association] = (),
    kinds: Mapping[str, ObjectKind] | None = None,
) -> list[Issue]:
    """Judge an ITI-62 removal of `requested` (ITI TF-2b 3.62.4.1.3).

    `stored` holds those of the ids the registry has, `references` every Association with an end
    among them. Every id must be stored, and no Association that stays may point at a removed one.
    `around` holds every Association at an object that a removed Association links and that
    stays, `kinds` the kind of every object those Associations link: no such object may be left
    out of its SubmissionSet (see `_unreferenced`).
    """
    issues = [
        Issue(ErrorCode.UNRESOLVED_REFERENCE, f"{entry_uuid} is not in the registry", entry_uuid)
        for entry_uuid in dict.fromkeys(requested)
        if entry_uuid not in stored
    ]
    removed = set(requested)
    for link in references:
        if link.entry_uuid in removed:
            continue
        for end in dict.fromkeys((link.source_object, link.target_object)):
            if end in removed:
                message = (
                    f"Association {link.entry_uuid} refers to {end} and is not removed with it"
                )
                issues.append(Issue(ErrorCode.REFERENCES_EXIST, message, end))
    return issues + _unreferenced(removed, list(around), kinds or {})


def _unreferenced(
    removed: set[str], around: list[Association], kinds: Mapping[str, ObjectKind]
) -> list[Issue]:
    """DocumentEntries and Folders a removal would leave in no SubmissionSet.

    Each stays the target of a HasMember from a SubmissionSet (ITI TF-3 4.2.2.1); removing only
    that HasMember would leave an orphan no SubmissionSet lists.
    """
    staying = [link for link in around if link.entry_uuid not in removed]
    cut = {
        end
        for link in around
        if link.entry_uuid in removed
        for end in (link.source_object, link.target_object)
        if end not in removed and kinds.get(end) in _MEMBER_KINDS
    }
    listed = {
        link.target_object
        for link in staying
        if link.association_type == AssociationType.HAS_MEMBER
        and kinds.get(link.source_object) == ObjectKind.SUBMISSION_SET
    }
    return [
        Issue(
            ErrorCode.UNREFERENCED_OBJECT,
            f"the {kinds[object_id]} would be left a member of no SubmissionSet",
            object_id,
        )
        for object_id in sorted(cut - listed)
    ]


def _first_versions(submission: Submission, store: RegistryStore) -> list[Issue]:
    for entry in submission.document_entries:
        entry.logical_id = entry.logical_id or entry.entry_uuid
        entry.version = entry.version or FIRST_VERSION

    # A logicalID of the sender's choosing is harmless; one naming a stored document would slip
    # a new version past the checks of ITI-57.
    claimed = {e.logical_id: e for e in submission.document_entries if e.logical_id != e.entry_uuid}
    if not claimed:
        return []
    taken = {entry.logical_id for entry in store.document_entry_versions(list(claimed))}
    return [
        Issue(
            ErrorCode.REGISTRY_METADATA_ERROR,
            f"logicalID {logical_id} is a document in the registry; a new version of it is "
            "submitted with Update Document Set (ITI-57)",
            claimed[logical_id].entry_uuid,
            "logicalID",
        )
        for logical_id in claimed
        if logical_id in taken
    ]


def _relationships(
    submission: Submission,
    relationships: list[Association],
    store: RegistryStore,
    issues: list[Issue],
) -> LifecyclePlan:
    """Check each relationship Association and plan the deprecations its replacements cause."""
    entries = {entry.entry_uuid: entry for entry in submission.document_entries}
    targets = [a.target_object for a in relationships if a.target_object not in entries]
    stored = {e.entry_uuid: e for e in store.document_entries_by_uuid(targets)} if targets else {}

    result = LifecyclePlan()
    replaced: dict[str, str] = {}
    for link in relationships:
        source = entries.get(link.source_object)
        target = stored.get(link.target_object)
        if target is None and link.association_type == AssociationType.SIGNS:
            # A signature may sign a document submitted with it.
            target = entries.get(link.target_object)
        problem = _relationship_problem(link, source, target)
        if problem is not None or source is None or target is None:
            issues += [problem] if problem else []
            continue
        if link.association_type not in REPLACEMENTS:
            continue
        if target.entry_uuid in replaced:
            message = f"{target.entry_uuid} is replaced twice in one submission"
            issues.append(_issue(ErrorCode.REGISTRY_METADATA_ERROR, message, link, "targetObject"))
            continue
        replaced[target.entry_uuid] = source.entry_uuid
        result.status_changes.append(_deprecation(link, target))

    if replaced:
        result.associations += _folder_memberships(submission, replaced, store)
    return result


def _relationship_problem(
    link: Association, source: DocumentEntry | None, target: DocumentEntry | None
) -> Issue | None:
    """The first thing wrong with one relationship Association, if any."""
    name = link.association_type.rsplit(":", 1)[-1]
    if source is None:
        message = f"the source of a {name} Association is a DocumentEntry of the submission"
        return _issue(ErrorCode.REGISTRY_METADATA_ERROR, message, link, "sourceObject")
    if target is None:
        message = f"the {name} target {link.target_object} is no DocumentEntry in the registry"
        return _issue(ErrorCode.UNRESOLVED_REFERENCE, message, link, "targetObject")
    if target.patient_id != source.patient_id:
        message = f"the {name} target {target.entry_uuid} is another patient's document"
        return _issue(ErrorCode.PATIENT_ID_DOES_NOT_MATCH, message, link, "targetObject")
    # Only a current document can be replaced, transformed or appended to.
    if link.association_type != AssociationType.SIGNS and target.availability_status != APPROVED:
        message = f"the {name} target {target.entry_uuid} is not Approved"
        code = ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR
        return _issue(code, message, link, "targetObject")
    return None


def _deprecation(link: Association, original: DocumentEntry) -> StatusChange:
    """The original of a replacement goes from Approved to Deprecated, unless someone beat us."""
    conflict = _issue(
        ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR,
        f"{original.entry_uuid} was deprecated by another submission meanwhile",
        link,
        "targetObject",
    )
    kind = ObjectKind.DOCUMENT_ENTRY
    return StatusChange(kind, original.entry_uuid, APPROVED, DEPRECATED, conflict)


def _folder_memberships(
    submission: Submission, replaced: dict[str, str], store: RegistryStore
) -> list[Association]:
    """HasMember Associations putting each replacement in the Folders its original is in.

    ITI TF-3 4.2.2.2: a replacement takes its original's place in every Folder; the original
    stays a (deprecated) member too.
    """
    memberships = _approved_has_members(store, target_objects=list(replaced))
    folders = _kinds(store, [link.source_object for link in memberships], ObjectKind.FOLDER)
    already = {
        (link.source_object, link.target_object)
        for link in submission.associations
        if link.association_type == AssociationType.HAS_MEMBER
    }
    made: list[Association] = []
    for link in memberships:
        pair = (link.source_object, replaced[link.target_object])
        if link.source_object in folders and pair not in already:
            already.add(pair)
            made.append(_registry_association(AssociationType.HAS_MEMBER, *pair))
    return made


def _new_versions(
    submission: Submission, store: RegistryStore, result: LifecyclePlan, issues: list[Issue]
) -> None:
    """Check each new DocumentEntry version against the latest stored one and plan the swap."""
    submission_set = submission.submission_set
    members = {
        link.target_object: link
        for link in submission.associations
        if link.association_type == AssociationType.HAS_MEMBER
        and link.source_object == submission_set.entry_uuid
    }
    updates: list[DocumentEntry] = []
    for entry in submission.document_entries:
        if entry.logical_id and entry.logical_id != entry.entry_uuid:
            updates.append(entry)
            continue
        message = (
            "Update Document Set carries new versions only: logicalID names the stored "
            "document and differs from the entryUUID"
        )
        code = ErrorCode.METADATA_UPDATE_OPERATION_ERROR
        issues.append(Issue(code, message, entry.entry_uuid, "logicalID"))

    twice = [lid for lid, count in Counter(e.logical_id for e in updates).items() if count > 1]
    for logical_id in twice:
        message = f"logicalID {logical_id} gets more than one new version in one request"
        issues.append(Issue(ErrorCode.METADATA_UPDATE_OPERATION_ERROR, message, logical_id))
    if not updates or twice:
        return

    latest: dict[str, DocumentEntry] = {}
    for stored in store.document_entry_versions([e.logical_id or "" for e in updates]):
        current = latest.get(stored.logical_id or "")
        if current is None or _version_number(stored) > _version_number(current):
            latest[stored.logical_id or ""] = stored

    for entry in updates:
        previous = latest.get(entry.logical_id or "")
        if previous is None:
            message = f"logicalID {entry.logical_id} names no DocumentEntry in the registry"
            issues.append(Issue(ErrorCode.UNRESOLVED_REFERENCE, message, entry.entry_uuid, "lid"))
            continue
        member = members.get(entry.entry_uuid)
        problems = _version_issues(entry, member, previous)
        if problems:
            issues += problems
            continue

        for attribute in ("hash", "size", "repository_unique_id"):
            if getattr(entry, attribute) is None:
                setattr(entry, attribute, getattr(previous, attribute))
        entry.version = str(_version_number(previous) + 1)
        entry.availability_status = previous.availability_status
        result.new_versions[entry.entry_uuid] = previous.entry_uuid
        conflict = Issue(
            ErrorCode.METADATA_VERSION_ERROR,
            f"version {previous.version} of {entry.logical_id} was updated meanwhile",
            entry.entry_uuid,
            "PreviousVersion",
        )
        result.status_changes.append(
            StatusChange(
                ObjectKind.DOCUMENT_ENTRY,
                previous.entry_uuid,
                previous.availability_status,
                DEPRECATED,
                conflict,
            )
        )
        if member is not None and _propagates(member):
            result.associations += _propagated(store, previous.entry_uuid, entry.entry_uuid)


def _version_issues(
    entry: DocumentEntry, member: Association | None, previous: DocumentEntry
) -> list[Issue]:
    """What is wrong with `entry` as the next version after `previous`."""
    issues: list[Issue] = []
    previous_version = _single_slot(member, PREVIOUS_VERSION) if member else None
    if previous_version is None:
        message = "the SubmissionSet's HasMember Association to a new version has a PreviousVersion"
        code = ErrorCode.METADATA_UPDATE_OPERATION_ERROR
        issues.append(Issue(code, message, entry.entry_uuid, PREVIOUS_VERSION))
    elif previous_version != previous.version:
        message = (
            f"PreviousVersion {previous_version} is not the latest version of "
            f"{entry.logical_id}, which is {previous.version}"
        )
        issues.append(
            Issue(ErrorCode.METADATA_VERSION_ERROR, message, entry.entry_uuid, PREVIOUS_VERSION)
        )

    if entry.patient_id != previous.patient_id:
        message = "a new version keeps the patientId of the version it updates"
        code = ErrorCode.PATIENT_ID_RECONCILIATION_ERROR
        issues.append(Issue(code, message, entry.entry_uuid, "patientId"))

    # The document itself is the same; only its description changes.
    fixed = [("uniqueId", "unique_id"), ("objectType", "object_type")]
    fixed += [("hash", "hash"), ("size", "size"), ("repositoryUniqueId", "repository_unique_id")]
    for name, attribute in fixed:
        value = getattr(entry, attribute)
        if value is not None and value != getattr(previous, attribute):
            message = f"a new version keeps the {name} of the version it updates"
            issues.append(Issue(ErrorCode.METADATA_UPDATE_ERROR, message, entry.entry_uuid, name))
    return issues


def _propagated(store: RegistryStore, previous: str, new: str) -> list[Association]:
    """Copies of `previous`'s Folder memberships and relationships, pointing at `new`.

    A SubmissionSet's HasMember records what that submission carried, so it is not copied.
    """
    links = [
        link
        for link in store.find_associations(
            AssociationQuery(objects=[previous], availability_statuses=[APPROVED]),
            _ASSOCIATIONS_PER_OBJECT,
        )
        if link.association_type != AssociationType.UPDATE_AVAILABILITY_STATUS
    ]
    sets = _kinds(store, [link.source_object for link in links], ObjectKind.SUBMISSION_SET)
    return [
        replace(
            link,
            entry_uuid=uuid.uuid4().urn,
            source_object=new if link.source_object == previous else link.source_object,
            target_object=new if link.target_object == previous else link.target_object,
        )
        for link in links
        if not (link.association_type == AssociationType.HAS_MEMBER and link.source_object in sets)
    ]


def _status_updates(
    submission: Submission, store: RegistryStore, result: LifecyclePlan, issues: list[Issue]
) -> None:
    """Check each UpdateAvailabilityStatus Association and plan its status change."""
    updates = [
        link
        for link in submission.associations
        if link.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS
    ]
    if not updates:
        return
    stored = {o.entry_uuid: o for o in store.stored_objects([u.target_object for u in updates])}
    superseded = {old: new for new, old in result.new_versions.items()}
    entries = {entry.entry_uuid: entry for entry in submission.document_entries}

    for link in updates:
        target = stored.get(link.target_object)
        problem = _status_update_problem(submission, link, target)
        if problem is not None or target is None:
            issues += [problem] if problem else []
            continue
        original = _single_slot(link, ORIGINAL_STATUS) or ""
        new = _single_slot(link, NEW_STATUS) or ""
        if target.entry_uuid in superseded:
            # ITI TF-2b 3.57.4.1.3.1: updated and re-statused at once, the new status goes to
            # the new version and the old one is only deprecated.
            entries[superseded[target.entry_uuid]].availability_status = new
            continue
        conflict = _issue(
            ErrorCode.METADATA_UPDATE_ERROR,
            f"the status of {target.entry_uuid} was changed meanwhile",
            link,
            ORIGINAL_STATUS,
        )
        result.status_changes.append(
            StatusChange(target.kind, target.entry_uuid, original, new, conflict)
        )


def _status_update_problem(
    submission: Submission, link: Association, target: StoredObject | None
) -> Issue | None:
    """The first thing wrong with one UpdateAvailabilityStatus Association, if any."""
    operation_error = ErrorCode.METADATA_UPDATE_OPERATION_ERROR
    if link.source_object != submission.submission_set.entry_uuid:
        message = "an UpdateAvailabilityStatus Association starts at the SubmissionSet"
        return _issue(operation_error, message, link, "sourceObject")
    for slot in (ORIGINAL_STATUS, NEW_STATUS):
        value = _single_slot(link, slot)
        if value not in _UPDATABLE_STATUSES:
            message = f"{slot} is one of Approved or Deprecated, not {value!r}"
            return _issue(operation_error, message, link, slot)
    if target is None:
        message = f"{link.target_object} is not in the registry"
        return _issue(ErrorCode.UNRESOLVED_REFERENCE, message, link, "targetObject")
    if target.kind not in _UPDATABLE_KINDS:
        message = f"the status of a {target.kind} is not updated by this registry"
        return _issue(operation_error, message, link, "targetObject")
    if target.patient_id != submission.submission_set.patient_id:
        message = f"{target.entry_uuid} is not the SubmissionSet's patient's"
        return _issue(ErrorCode.PATIENT_ID_RECONCILIATION_ERROR, message, link, "targetObject")
    if target.availability_status != _single_slot(link, ORIGINAL_STATUS):
        message = f"OriginalStatus is not the status of {target.entry_uuid}"
        return _issue(ErrorCode.METADATA_UPDATE_ERROR, message, link, ORIGINAL_STATUS)
    return None


def _approved_has_members(store: RegistryStore, *, target_objects: list[str]) -> list[Association]:
    query = AssociationQuery(
        target_objects=target_objects,
        association_types=[AssociationType.HAS_MEMBER],
        availability_statuses=[APPROVED],
    )
    return store.find_associations(query, _ASSOCIATIONS_PER_OBJECT)


def _kinds(store: RegistryStore, entry_uuids: list[str], kind: ObjectKind) -> set[str]:
    """Those of `entry_uuids` that are stored objects of `kind`."""
    if not entry_uuids:
        return set()
    return {o.entry_uuid for o in store.stored_objects(entry_uuids) if o.kind == kind}


def _registry_association(association_type: str, source: str, target: str) -> Association:
    return Association(
        entry_uuid=uuid.uuid4().urn,
        association_type=association_type,
        source_object=source,
        target_object=target,
    )


def _propagates(member: Association) -> bool:
    # ITI TF-2b 3.57.4.1.3: propagation is on unless the Slot says "no".
    return (_single_slot(member, ASSOCIATION_PROPAGATION) or "yes").lower() != "no"


def _single_slot(link: Association, name: str) -> str | None:
    values = link.extra_slots.get(name) or []
    return values[0] if len(values) == 1 else None


def _precedence(entry: DocumentEntry) -> tuple[bool, int]:
    return entry.availability_status == APPROVED, _version_number(entry)


def _version_number(entry: DocumentEntry) -> int:
    try:
        return int(entry.version or FIRST_VERSION)
    except ValueError:
        return 0


def _issue(code: ErrorCode, message: str, link: Association, attribute: str) -> Issue:
    return Issue(code, message, link.entry_uuid, attribute)
