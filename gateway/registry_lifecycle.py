"""ITI-57 Update Document Set and ITI-62 Delete Document Set on the registry endpoint.

Both answer with an rs:RegistryResponse, Success or Failure: an update or a removal is applied
whole or not at all. ITI-62 removes registry metadata only; the documents' bytes stay in the
repository, which ITI-86 Remove Documents would empty.
"""

from __future__ import annotations

from lxml import etree

from gateway.registry_transaction import run_transaction
from gateway.soap_endpoint import Exchange
from registry import lifecycle
from registry.ebrim import parse_submit_objects_request
from registry.ebrim.remove import parse_remove_objects_request
from registry.errors import XdsError
from registry.metadata import AssociationType
from registry.service import as_registered
from registry.validation import indexed_value_issues

UPDATE_DOCUMENT_SET = "urn:ihe:iti:2010:UpdateDocumentSet"
UPDATE_DOCUMENT_SET_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
DELETE_DOCUMENT_SET = "urn:ihe:iti:2010:DeleteDocumentSet"
DELETE_DOCUMENT_SET_RESPONSE = "urn:ihe:iti:2010:DeleteDocumentSetResponse"


def update_document_set(body: etree._Element, exchange: Exchange) -> etree._Element:
    """ITI-57: store the new versions and status updates of an lcm:SubmitObjectsRequest."""
    counts = {"versions": 0, "status_updates": 0}

    def work() -> None:
        submission = as_registered(parse_submit_objects_request(body), {})
        counts["versions"] = len(submission.document_entries)
        counts["status_updates"] = sum(
            1
            for link in submission.associations
            if link.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS
        )
        # The new versions are stored like an ITI-42 submission's: within the indexes' limits.
        if too_long := indexed_value_issues(submission):
            raise XdsError(too_long)
        plan = lifecycle.plan_update(submission, exchange.registry)
        exchange.registry.register(submission, lambda: None, plan)

    return run_transaction("iti57.update", counts, work)


def delete_document_set(body: etree._Element, exchange: Exchange) -> etree._Element:
    """ITI-62: remove the registry objects an lcm:RemoveObjectsRequest names, all or none."""
    counts = {"removed": 0}

    def work() -> None:
        entry_uuids = parse_remove_objects_request(body)
        exchange.registry.remove_objects(entry_uuids)
        counts["removed"] = len(set(entry_uuids))

    return run_transaction("iti62.delete", counts, work)
