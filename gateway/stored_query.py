"""Answering an AdhocQueryRequest, shared by ITI-18 (registry) and ITI-38 (XCA)."""

from __future__ import annotations

import dataclasses
import logging
import time

from lxml import etree

from gateway.config import strip_urn_oid
from gateway.soap_endpoint import Exchange, expect_body
from registry.ebrim import (
    ResponseStatus,
    adhoc_query_response,
    adhoc_query_response_xml,
    parse_adhoc_query_request,
    status_for,
)
from registry.ebrim.xml import QUERY, qname
from registry.errors import ErrorCode, Issue, XdsError
from registry.queries import (
    GET_ASSOCIATIONS,
    GET_DOCUMENTS,
    GET_DOCUMENTS_AND_ASSOCIATIONS,
    GET_FOLDER_AND_CONTENTS,
    GET_FOLDERS,
    GET_FOLDERS_FOR_DOCUMENT,
    GET_RELATED_DOCUMENTS,
    GET_SUBMISSION_SET_AND_CONTENTS,
    GET_SUBMISSION_SETS,
    run_stored_query,
)
from registry.store import QueryResult, StoredQueryRequest

HOME_COMMUNITY_ID = "$homeCommunityId"

# The stored queries that take no patient id: across communities they must name one (ITI TF-2b
# 3.38.1, 3.38.4.1.3), as the ids they select by say nothing of where the objects live.
QUERIES_WITHOUT_PATIENT = frozenset(
    {
        GET_DOCUMENTS,
        GET_FOLDERS,
        GET_ASSOCIATIONS,
        GET_DOCUMENTS_AND_ASSOCIATIONS,
        GET_SUBMISSION_SETS,
        GET_SUBMISSION_SET_AND_CONTENTS,
        GET_FOLDER_AND_CONTENTS,
        GET_FOLDERS_FOR_DOCUMENT,
        GET_RELATED_DOCUMENTS,
    }
)


def answer_stored_query(
    exchange: Exchange, *, log: logging.Logger, event: str, cross_community: bool
) -> etree._Element | bytes:
    """Run the request's stored query; return its AdhocQueryResponse and log `event`.

    A response with results comes serialized already (`adhoc_query_response_xml`), one with
    errors as an element.

    Across communities (ITI-38) a query naming another community fails with XDSUnknownCommunity,
    a query without a patient id that names none with XDSMissingHomeCommunityId, and every
    returned object carries this community's id in `home`. A registry (ITI-18) ignores
    the community a query names, as NIST test 11901 expects, and sets `home` only when one was
    named.
    """
    started = time.perf_counter()
    settings = exchange.settings
    body = expect_body(exchange.request, qname(QUERY, "AdhocQueryRequest"))
    query_id, return_type, results = "", "LeafClass", 0
    try:
        query = parse_adhoc_query_request(body)
        query_id, return_type = query.query_id, query.return_type
        home = _named_community(query)
        ours = strip_urn_oid(settings.home_community_id)
        if cross_community and home and strip_urn_oid(home.strip()) != ours:
            message = f"homeCommunityId {home} is not this community"
            raise XdsError(Issue(ErrorCode.UNKNOWN_COMMUNITY, message))
        if cross_community and not home and query.query_id in QUERIES_WITHOUT_PATIENT:
            message = "a query without a patient id must name the community (AdhocQuery/@home)"
            raise XdsError(Issue(ErrorCode.MISSING_HOME_COMMUNITY_ID, message))
        result = run_stored_query(exchange.registry, query, max_results=settings.max_query_results)
    except XdsError as error:
        status = status_for(error.issues, has_results=False)
        response = adhoc_query_response(status, issues=error.issues, return_type=return_type)
        codes = ",".join(issue.code for issue in error.issues)
    else:
        result = _with_repository(result, settings.repository_unique_id)
        results = len(result)
        response = adhoc_query_response_xml(
            ResponseStatus.SUCCESS,
            result,
            return_type=return_type,
            home=settings.home_community_id if cross_community or home else None,
        )
        status, codes = ResponseStatus.SUCCESS, ""

    log.info(
        "%s query_id=%s return_type=%s status=%s results=%d errors=%s ms=%.1f",
        event,
        query_id,
        return_type,
        status.name,
        results,
        codes,
        (time.perf_counter() - started) * 1000,
    )
    return response


def _named_community(query: StoredQueryRequest) -> str | None:
    """The community a query names: AdhocQuery/@home, or its $homeCommunityId parameter."""
    if query.home_community_id:
        return query.home_community_id
    for values in query.slots.get(HOME_COMMUNITY_ID, []):
        for value in values:
            if value.strip().strip("'").strip():
                return value.strip().strip("'").strip()
    return None


def _with_repository(result: QueryResult, repository_unique_id: str) -> QueryResult:
    # Entries registered before repositoryUniqueId was recorded live in this repository.
    entries = [
        entry
        if entry.repository_unique_id
        else dataclasses.replace(entry, repository_unique_id=repository_unique_id)
        for entry in result.document_entries
    ]
    return dataclasses.replace(result, document_entries=entries)
