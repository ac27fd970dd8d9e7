"""ITI-57 Update Document Set and ITI-62 Delete Document Set on the registry endpoint.

Both answer with an rs:RegistryResponse, Success or Failure: an update or a removal is applied
whole or not at all. ITI-62 removes registry metadata only; the documents' bytes stay in the
repository, which ITI-86 Remove Documents would empty.
"""

from __future__ import annotations

import logging
import time

from lxml import etree

from gateway.soap_endpoint import Exchange
from registry import lifecycle
from registry.ebrim import ResponseStatus, parse_submit_objects_request, registry_response
from registry.ebrim.remove import parse_remove_objects_request
from registry.errors import Issue, XdsError, errors_in
from registry.metadata import AssociationType
from registry.service import as_registered

log = logging.getLogger("xcads.registry")

UPDATE_DOCUMENT_SET = "urn:ihe:iti:2010:UpdateDocumentSet"
UPDATE_DOCUMENT_SET_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
DELETE_DOCUMENT_SET = "urn:ihe:iti:2010:DeleteDocumentSet"
DELETE_DOCUMENT_SET_RESPONSE = "urn:ihe:iti:2010:DeleteDocumentSetResponse"


def update_document_set(body: etree._Element, exchange: Exchange) -> etree._Element:
    """ITI-57: store the new versions and status updates of an lcm:SubmitObjectsRequest."""
    started = time.perf_counter()
    versions = status_updates = 0
    try:
        submission = as_registered(parse_submit_objects_request(body), {})
        versions = len(submission.document_entries)
        status_updates = sum(
            1
            for link in submission.associations
            if link.association_type == AssociationType.UPDATE_AVAILABILITY_STATUS
        )
        plan = lifecycle.plan_update(submission, exchange.registry)
        exchange.registry.register(submission, lambda: None, plan)
        issues: list[Issue] = []
    except XdsError as error:
        issues = error.issues

    status = ResponseStatus.FAILURE if errors_in(issues) else ResponseStatus.SUCCESS
    log.info(
        "iti57.update versions=%d status_updates=%d status=%s errors=%s ms=%.1f",
        versions,
        status_updates,
        status.name,
        ",".join(issue.code for issue in issues),
        (time.perf_counter() - started) * 1000,
    )
    return registry_response(status, issues)


def delete_document_set(body: etree._Element, exchange: Exchange) -> etree._Element:
    """ITI-62: remove the registry objects an lcm:RemoveObjectsRequest names, all or none."""
    started = time.perf_counter()
    removed = 0
    try:
        entry_uuids = parse_remove_objects_request(body)
        exchange.registry.remove_objects(entry_uuids)
        removed = len(set(entry_uuids))
        issues: list[Issue] = []
    except XdsError as error:
        issues = error.issues

    status = ResponseStatus.FAILURE if errors_in(issues) else ResponseStatus.SUCCESS
    log.info(
        "iti62.delete removed=%d status=%s errors=%s ms=%.1f",
        removed,
        status.name,
        ",".join(issue.code for issue in issues),
        (time.perf_counter() - started) * 1000,
    )
    return registry_response(status, issues)
