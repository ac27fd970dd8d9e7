"""The Registry Stored Queries of ITI TF-2a 3.18.4.1.2.3.7, each a function of store and params.

Adding a stored query is adding a function and its entry in `STORED_QUERIES`.
"""

from __future__ import annotations

from collections.abc import Callable

from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import DocumentEntryType
from registry.query_params import QueryParams
from registry.store import DocumentEntryQuery, QueryResult, RegistryStore, StoredQueryRequest

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"

StoredQuery = Callable[[RegistryStore, QueryParams, int], QueryResult]
"""A stored query: reads its parameters, asks the store for at most `limit` objects of each kind."""


def run_stored_query(
    store: RegistryStore, request: StoredQueryRequest, *, max_results: int
) -> QueryResult:
    """Run the stored query `request` names; `XdsError` on bad parameters or too many results."""
    query = STORED_QUERIES.get(request.query_id.strip().lower())
    if query is None:
        raise XdsError(
            Issue(ErrorCode.UNKNOWN_STORED_QUERY, f"unknown stored query {request.query_id}")
        )

    result = query(store, QueryParams(request.slots), max_results + 1)

    found = len(result)
    if found > max_results:
        raise XdsError(
            Issue(
                ErrorCode.TOO_MANY_RESULTS,
                f"the query matches more than {max_results} objects; narrow it",
            )
        )
    return result


def find_documents(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """FindDocuments: one patient's DocumentEntries by status, codes, times and authors."""
    query = DocumentEntryQuery(
        patient_id=params.single("$XDSDocumentEntryPatientId", required=True) or "",
        availability_statuses=params.values("$XDSDocumentEntryStatus", required=True) or [],
        object_types=_object_types(params),
        class_codes=params.codes("$XDSDocumentEntryClassCode"),
        type_codes=params.codes("$XDSDocumentEntryTypeCode"),
        practice_setting_codes=params.codes("$XDSDocumentEntryPracticeSettingCode"),
        healthcare_facility_type_codes=params.codes("$XDSDocumentEntryHealthcareFacilityTypeCode"),
        format_codes=params.codes("$XDSDocumentEntryFormatCode"),
        event_codes=params.code_clauses("$XDSDocumentEntryEventCodeList"),
        confidentiality_codes=params.code_clauses("$XDSDocumentEntryConfidentialityCode"),
        creation_time_from=params.dtm("$XDSDocumentEntryCreationTimeFrom"),
        creation_time_to=params.dtm("$XDSDocumentEntryCreationTimeTo"),
        service_start_time_from=params.dtm("$XDSDocumentEntryServiceStartTimeFrom"),
        service_start_time_to=params.dtm("$XDSDocumentEntryServiceStartTimeTo"),
        service_stop_time_from=params.dtm("$XDSDocumentEntryServiceStopTimeFrom"),
        service_stop_time_to=params.dtm("$XDSDocumentEntryServiceStopTimeTo"),
        author_persons=params.values("$XDSDocumentEntryAuthorPerson"),
    )
    return QueryResult(document_entries=store.find_document_entries(query, limit))


def get_documents(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetDocuments: DocumentEntries by entryUUID or by uniqueId, whatever their status."""
    by_uuid, by_unique_id = "$XDSDocumentEntryEntryUUID", "$XDSDocumentEntryUniqueId"
    if params.has(by_uuid) and params.has(by_unique_id):
        raise XdsError(
            Issue(
                ErrorCode.STORED_QUERY_PARAM_NUMBER,
                f"give {by_uuid} or {by_unique_id}, not both",
                attribute=by_uuid,
            )
        )
    if not params.has(by_uuid) and not params.has(by_unique_id):
        raise XdsError(
            Issue(
                ErrorCode.STORED_QUERY_MISSING_PARAM,
                f"{by_uuid} or {by_unique_id} is required",
                attribute=by_uuid,
            )
        )
    params.single("$homeCommunityId")
    object_types = _object_types(params)

    if params.has(by_uuid):
        entries = store.document_entries_by_uuid(params.values(by_uuid) or [])
    else:
        entries = store.document_entries_by_unique_id(params.values(by_unique_id) or [])
    return QueryResult(document_entries=[e for e in entries if e.object_type in object_types])


def _object_types(params: QueryParams) -> list[str]:
    # Without $XDSDocumentEntryType a query returns stable entries only (On-Demand Documents).
    return params.values("$XDSDocumentEntryType") or [DocumentEntryType.STABLE.value]


STORED_QUERIES: dict[str, StoredQuery] = {
    FIND_DOCUMENTS: find_documents,
    GET_DOCUMENTS: get_documents,
}
"""Every supported stored query by its queryId (lower-case urn:uuid)."""
