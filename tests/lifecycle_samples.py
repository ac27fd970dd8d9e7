"""Submissions that replace, version, re-status and remove registered metadata, for tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from uuid import uuid4

from registry_samples import PATIENT, complete_folder, document_entry, new_uuid, submission
from registry_support import SOAP, URL
from soap_messages import envelope

from registry import lifecycle
from registry.ebrim.xml import LCM, RIM
from registry.errors import ErrorCode, XdsError
from registry.metadata import (
    Association,
    AssociationType,
    DocumentEntry,
    Folder,
    Submission,
)
from registry.store import AssociationQuery, RegistryStore


def unique_id() -> str:
    """A fresh OID."""
    return f"2.25.{uuid4().int}"


def registered(store: RegistryStore, **attributes) -> DocumentEntry:
    """Register one new DocumentEntry of PATIENT and return it as stored."""
    entry = document_entry(unique_id(), **attributes)
    store.register(submission(entry), lambda: None)
    return stored(store, entry.entry_uuid)


def stored(store: RegistryStore, entry_uuid: str) -> DocumentEntry:
    """The DocumentEntry with this entryUUID as the registry holds it now."""
    (entry,) = store.document_entries_by_uuid([entry_uuid])
    return entry


def link(association_type: str, source: str, target: str, **slots: str) -> Association:
    """An Association of `association_type` from `source` to `target`, with single-valued slots."""
    return Association(
        entry_uuid=new_uuid(),
        association_type=association_type,
        source_object=source,
        target_object=target,
        extra_slots={name: [value] for name, value in slots.items()},
    )


def related(association_type: str, original: DocumentEntry, **attributes) -> Submission:
    """A submission of one new DocumentEntry related to `original` by `association_type`."""
    entry = document_entry(unique_id(), **attributes)
    whole = submission(entry)
    whole.associations.append(link(association_type, entry.entry_uuid, original.entry_uuid))
    return whole


def filed(store: RegistryStore, entry: DocumentEntry) -> Folder:
    """Register a new Folder of PATIENT holding the registered `entry`; return the Folder."""
    folder = replace(complete_folder(), home_community_id=None)
    whole = submission(folders=[folder])
    membership = link(AssociationType.HAS_MEMBER, folder.entry_uuid, entry.entry_uuid)
    whole.associations += [
        link(AssociationType.HAS_MEMBER, whole.submission_set.entry_uuid, folder.entry_uuid),
        membership,
        link(AssociationType.HAS_MEMBER, whole.submission_set.entry_uuid, membership.entry_uuid),
    ]
    store.register(whole, lambda: None)
    return folder


def folder_members(store: RegistryStore, folder: Folder) -> set[str]:
    """The entryUUIDs a Folder has HasMember Associations to."""
    query = AssociationQuery(
        source_objects=[folder.entry_uuid], association_types=[AssociationType.HAS_MEMBER]
    )
    return {a.target_object for a in store.find_associations(query, 1000)}


def new_version(
    previous: DocumentEntry, *, previous_version: str | None = None, **attributes
) -> Submission:
    """An ITI-57 submission of the next version of `previous`, with PreviousVersion set."""
    entry = replace(previous, **{"entry_uuid": new_uuid(), "version": None, **attributes})
    whole = submission(entry)
    member = whole.associations[0]
    member.extra_slots[lifecycle.PREVIOUS_VERSION] = [
        previous.version if previous_version is None else previous_version
    ]
    return whole


def status_update(target: str, original: str, new: str, patient_id: str = PATIENT) -> Submission:
    """An ITI-57 submission changing `target`'s availabilityStatus from `original` to `new`."""
    whole = submission()
    whole.submission_set.patient_id = patient_id
    whole.associations.append(
        link(
            AssociationType.UPDATE_AVAILABILITY_STATUS,
            whole.submission_set.entry_uuid,
            target,
            OriginalStatus=original,
            NewStatus=new,
        )
    )
    return whole


def update(store: RegistryStore, whole: Submission) -> None:
    """Apply an ITI-57 submission as the Update Document Set handler does."""
    store.register(whole, lambda: None, lifecycle.plan_update(whole, store))


def codes(error: XdsError) -> list[ErrorCode]:
    """The error codes of a failure, in order."""
    return [issue.code for issue in error.issues]


def race(*attempts: Callable[[], None]) -> list[BaseException | None]:
    """Run `attempts` at once on threads; return what each raised (None for success)."""
    start = threading.Barrier(len(attempts))
    outcomes: list[BaseException | None] = [None] * len(attempts)

    def run(index: int) -> None:
        start.wait()
        try:
            attempts[index]()
        except BaseException as error:
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


# --- Over SOAP, on the registry endpoint ------------------------------------------------------

UPDATE_DOCUMENT_SET = "urn:ihe:iti:2010:UpdateDocumentSet"
DELETE_DOCUMENT_SET = "urn:ihe:iti:2010:DeleteDocumentSet"


def post(client, action: str, body: str):
    """POST one SOAP 1.2 request with `action` and `body` to the registry endpoint."""
    message = envelope(action, body).encode()
    return client.post(URL, content=message, headers={"Content-Type": SOAP})


def remove_objects_request(entry_uuids: list[str]) -> str:
    """The lcm:RemoveObjectsRequest of an ITI-62 request removing `entry_uuids`."""
    refs = "".join(f'<rim:ObjectRef id="{entry_uuid}"/>' for entry_uuid in entry_uuids)
    return (
        f'<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}">'
        f"<rim:ObjectRefList>{refs}</rim:ObjectRefList></lcm:RemoveObjectsRequest>"
    )
