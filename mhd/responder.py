"""HTTP edge of the MHD Document Responder: ITI-66, ITI-67, ITI-68 and the CapabilityStatement.

Searches run as Registry Stored Queries (`mhd.search`) and are answered with searchset Bundles of
plain dicts (`mhd.resources`), in JSON, or in XML through the fhir.resources models when asked
(ITI TF-2x Appendix Z.6). A page is a slice of the stored query's result, which is ordered by
entryUUID and capped at XCADS_MAX_QUERY_RESULTS; `_offset` in the paging links says where.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from fhir.resources.R4B import get_fhir_model_class

from gateway.config import strip_urn_oid
from gateway.query_threads import CLIENT_CLOSED_REQUEST, ClientGone, run_query
from mhd.capability import capability_statement
from mhd.datatypes import URN_OID, URN_UUID
from mhd.formats import FhirFormat, format_of
from mhd.outcome import FhirIssue, operation_outcome
from mhd.resources import (
    RELATES_TO,
    Links,
    document_reference,
    folder_list,
    resource_id,
    submission_set_list,
)
from mhd.search import (
    Search,
    SearchRejected,
    parse_document_reference_search,
    parse_list_search,
    run_search,
    submission_times,
)
from registry.errors import ErrorCode
from registry.lifecycle import latest_versions
from registry.metadata import AssociationType, AvailabilityStatus, DocumentEntry, SubmissionSet
from registry.store import AssociationQuery, ObjectKind, RegistryStore
from repository.store import DocumentNotFound

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
DOCUMENT_PATH = "/mhd/documents/"

log = logging.getLogger("xcads.mhd")
router = APIRouter()


class Rejected(Exception):
    """A request answered with an HTTP error and an OperationOutcome."""

    def __init__(self, status: int, issue_type: str, message: str) -> None:
        self.status = status
        self.issues = [FhirIssue(ErrorCode.REGISTRY_ERROR, message, issue_type=issue_type)]
        super().__init__(message)


# --- ITI-67 Find Document References and ITI-66 Find Document Lists ----------------------------


@router.get("/fhir/DocumentReference")
@router.post("/fhir/DocumentReference/_search")
async def find_document_references(request: Request) -> Response:
    """ITI-67: a searchset Bundle of the DocumentReferences the parameters select."""
    return await _search(request, "DocumentReference", parse_document_reference_search, "iti67")


@router.get("/fhir/List")
@router.post("/fhir/List/_search")
async def find_document_lists(request: Request) -> Response:
    """ITI-66: a searchset Bundle of the SubmissionSet and Folder Lists the parameters select."""
    return await _search(request, "List", parse_list_search, "iti66")


@router.get("/fhir/DocumentReference/{id}")
def read_document_reference(id: str, request: Request) -> Response:
    """Read one DocumentReference by id (the entryUUID), whatever its status."""
    return _read(request, "DocumentReference", id)


@router.get("/fhir/List/{id}")
def read_list(id: str, request: Request) -> Response:
    """Read one SubmissionSet or Folder List by id (the entryUUID), whatever its status."""
    return _read(request, "List", id)


@router.get("/fhir/metadata")
def metadata(request: Request) -> Response:
    """The CapabilityStatement of this server."""
    try:
        xml = _wants_xml(request, list(request.query_params.multi_items()))
    except Rejected as rejected:
        return _outcome(rejected, xml=False)
    return _answer(capability_statement(_base(request) + "/fhir", _version()), xml)


def _read(request: Request, kind: str, id: str) -> Response:
    try:
        xml = _wants_xml(request, list(request.query_params.multi_items()))
    except Rejected as rejected:
        return _outcome(rejected, xml=False)
    registry: RegistryStore = request.app.state.registry
    key = _entry_uuid(id)
    if kind == "DocumentReference":
        found: list = registry.document_entries_by_uuid([key])
    else:
        found = [*registry.submission_sets_by_uuid([key]), *registry.folders_by_uuid([key])]
    if not found:
        return _not_found(kind, id, xml)
    links = _links(request, registry, found)
    if kind == "DocumentReference":
        return _answer(document_reference(found[0], links), xml)
    return _answer(_lists(found, links)[0], xml)


# --- ITI-68 Retrieve Document -------------------------------------------------------------------


@router.get(DOCUMENT_PATH + "{unique_id:path}")
def retrieve_document(unique_id: str, request: Request) -> Response:
    """ITI-68: the document's bytes, streamed from the document store, as its mimeType."""
    started = time.perf_counter()
    state = request.app.state
    entry = latest_versions(state.registry.document_entries_by_unique_id([unique_id])).get(
        unique_id
    )
    status, problem = 200, ""
    if entry is None or entry.repository_unique_id != state.settings.repository_unique_id:
        status, problem = 404, "Document Not Found"
    elif entry.availability_status != AvailabilityStatus.APPROVED:
        status, problem = 410, "the document is deprecated"
    elif not _acceptable(entry.mime_type, request.headers.get("accept")):
        status, problem = 406, f"the document is {entry.mime_type} only, which Accept excludes"
    else:
        try:
            chunks = state.documents.open(unique_id)
        except DocumentNotFound:
            status, problem = 410, "the document's bytes are not available"
    log.info("iti68.retrieve status=%d ms=%.1f", status, (time.perf_counter() - started) * 1000)
    if status != 200:
        issue_type = "not-supported" if status == 406 else "not-found"
        return _outcome(Rejected(status, issue_type, problem), xml=False)
    return StreamingResponse(_closing(chunks), media_type=entry.mime_type)


def _acceptable(mime_type: str, accept: str | None) -> bool:
    """Whether an Accept header admits the document's one mimeType (ITI-68: else 406)."""
    if not accept:
        return True
    kind = mime_type.split(";")[0].strip().lower()
    for item in accept.split(","):
        media_range, _, parameters = item.partition(";")
        media_range = media_range.strip().lower()
        if _quality(parameters) > 0 and media_range in ("*/*", kind, kind.split("/")[0] + "/*"):
            return True
    return False


def _quality(parameters: str) -> float:
    for parameter in parameters.split(";"):
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0


def _closing(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # The store's iterator holds a file or connection until closed, also when the client leaves.
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


# --- Searching ----------------------------------------------------------------------------------


async def _search(request: Request, kind: str, parse, event: str) -> Response:
    started = time.perf_counter()
    pairs = list(request.query_params.multi_items())
    if request.method == "POST":
        body = (await request.body()).decode("utf-8", errors="replace")
        pairs += parse_qsl(body, keep_blank_values=True)
    xml = False
    try:
        xml = _wants_xml(request, pairs)
        strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
        settings = request.app.state.settings
        search = parse(pairs, max_count=settings.max_query_results, strict=strict)
        bundle, total = await run_query(
            request.app.state, _searchset, request, kind, search, gone=request.is_disconnected
        )
    except (SearchRejected, Rejected) as rejected:
        log.info("%s.rejected ms=%.1f", event, (time.perf_counter() - started) * 1000)
        return _outcome(rejected, xml)
    except ClientGone:
        log.info("%s.abandoned ms=%.1f", event, (time.perf_counter() - started) * 1000)
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    log.info(
        "%s.search results=%d page=%d ms=%.1f",
        event,
        total,
        len(bundle["entry"]),
        (time.perf_counter() - started) * 1000,
    )
    return _answer(bundle, xml)


def _searchset(request: Request, kind: str, search: Search) -> tuple[dict, int]:
    registry: RegistryStore = request.app.state.registry
    max_results = request.app.state.settings.max_query_results
    found = run_search(registry, search, max_results=max_results)
    page = found[search.offset : search.offset + search.count]
    links = _links(request, registry, page)
    if kind == "DocumentReference":
        resources = [document_reference(entry, links) for entry in page]
    else:
        resources = _lists(page, links)

    url = f"{_base(request)}/fhir/{kind}"
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": _paging_links(url, search, len(found)),
        "entry": [
            {
                "fullUrl": f"{url}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ],
    }
    return bundle, len(found)


def _paging_links(url: str, search: Search, total: int) -> list[dict]:
    def page(offset: int) -> str:
        query = [*search.applied, ("_count", str(search.count)), ("_offset", str(offset))]
        return f"{url}?{urlencode(query)}"

    links = [{"relation": "self", "url": page(search.offset)}]
    if search.count and search.offset + search.count < total:
        links.append({"relation": "next", "url": page(search.offset + search.count)})
    if search.offset > 0:
        previous = max(0, min(search.offset, total) - search.count)
        links.append({"relation": "previous", "url": page(previous)})
    return links


def _links(request: Request, registry: RegistryStore, objects: list) -> Links:
    """The URLs and the Associations the resources of `objects` refer to."""
    base = _base(request)
    home = URN_OID + strip_urn_oid(request.app.state.settings.home_community_id)
    links = Links(home_community_id=home, document_url=base + DOCUMENT_PATH)
    entries = [o for o in objects if isinstance(o, DocumentEntry)]
    containers = [o for o in objects if not isinstance(o, DocumentEntry)]
    if entries:
        uuids = {e.entry_uuid for e in entries}
        # One query for both: the relations each entry states, and the HasMembers naming it.
        associations = registry.find_associations(
            AssociationQuery(
                objects=list(uuids),
                association_types=[*RELATES_TO, AssociationType.HAS_MEMBER.value],
            ),
            len(entries) * 100,
        )
        memberships = [a for a in associations if a.target_object in uuids]
        links.registered = submission_times(registry, memberships)
        for link in associations:
            if link.association_type in RELATES_TO and link.source_object in uuids:
                code = RELATES_TO[link.association_type]
                links.relations.setdefault(link.source_object, []).append(
                    (code, link.target_object)
                )
    if containers:
        memberships = registry.find_associations(
            AssociationQuery(
                source_objects=[c.entry_uuid for c in containers],
                association_types=[AssociationType.HAS_MEMBER.value],
            ),
            request.app.state.settings.max_query_results * len(containers),
        )
        kinds = {
            o.entry_uuid: o.kind
            for o in registry.stored_objects(list({m.target_object for m in memberships}))
        }
        for membership in memberships:
            kind = kinds.get(membership.target_object)
            target = resource_id(membership.target_object)
            if kind == ObjectKind.DOCUMENT_ENTRY:
                reference = f"DocumentReference/{target}"
            elif kind == ObjectKind.FOLDER:
                reference = f"List/{target}"
            else:
                continue
            links.members.setdefault(membership.source_object, []).append(reference)
    return links


def _lists(containers: list, links: Links) -> list[dict]:
    return [
        submission_set_list(c, links) if isinstance(c, SubmissionSet) else folder_list(c, links)
        for c in containers
    ]


# --- Answers ------------------------------------------------------------------------------------


def _wants_xml(request: Request, pairs: list[tuple[str, str]]) -> bool:
    """XML or JSON, by `_format` first and the Accept header next (Appendix Z.6)."""
    requested = next((value for name, value in pairs if name == "_format"), None)
    if requested is not None:
        if (wanted := format_of(requested)) is None:
            raise Rejected(406, "not-supported", f"_format {requested!r} is not json or xml")
        return wanted == FhirFormat.XML
    accept = request.headers.get("accept", "").lower()
    return ("xml" in accept) and ("json" not in accept)


def _answer(resource: dict, xml: bool, status: int = 200) -> Response:
    if xml:
        model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        return Response(model.model_dump_xml(), status, media_type=FHIR_XML + "; charset=utf-8")
    body = json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status, media_type=FHIR_JSON + "; charset=utf-8")


def _outcome(rejected: SearchRejected | Rejected, xml: bool) -> Response:
    return _answer(operation_outcome(rejected.issues), xml, rejected.status)


def _not_found(kind: str, id: str, xml: bool) -> Response:
    return _outcome(Rejected(404, "not-found", f"{kind}/{id} is not known"), xml)


def _entry_uuid(id: str) -> str:
    return id.lower() if id.lower().startswith(URN_UUID) else URN_UUID + id.lower()


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _version() -> str:
    try:
        return version("xcads")
    except PackageNotFoundError:
        return "unknown"
