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
    parse_adhoc_query_request,
    status_for,
)
from registry.ebrim.xml import QUERY, qname
from registry.errors import ErrorCode, Issue, XdsError
from registry.queries import run_stored_query
from registry.store import QueryResult


def answer_stored_query(
    exchange: Exchange, *, log: logging.Logger, event: str, cross_community: bool
) -> etree._Element:
    """Run the request's stored query; return its AdhocQueryResponse and log `event`.

    Across communities (ITI-38) a query naming another community fails with XDSUnknownCommunity
    and every returned object carries this community's id in `home`. A registry (ITI-18) ignores
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
        home = query.home_community_id
        ours = strip_urn_oid(settings.home_community_id)
        if cross_community and home and strip_urn_oid(home.strip()) != ours:
            message = f"homeCommunityId {home} is not this community"
            raise XdsError(Issue(ErrorCode.UNKNOWN_COMMUNITY, message))
        result = run_stored_query(exchange.registry, query, max_results=settings.max_query_results)
    except XdsError as error:
        status = status_for(error.issues, has_results=False)
        response = adhoc_query_response(status, issues=error.issues, return_type=return_type)
        codes = ",".join(issue.code for issue in error.issues)
    else:
        result = _with_repository(result, settings.repository_unique_id)
        results = len(result)
        response = adhoc_query_response(
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


def _with_repository(result: QueryResult, repository_unique_id: str) -> QueryResult:
    # Entries registered before repositoryUniqueId was recorded live in this repository.
    entries = [
        entry
        if entry.repository_unique_id
        else dataclasses.replace(entry, repository_unique_id=repository_unique_id)
        for entry in result.document_entries
    ]
    return dataclasses.replace(result, document_entries=entries)
