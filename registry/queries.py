"""The Registry Stored Queries of ITI TF-2a 3.18.4.1.2.3.7, each a function of store and params.

Adding a stored query is adding a function and its entry in `STORED_QUERIES`. Parameters a query
does not define are ignored (ebRS 3.0 6.3.2.1); those it defines are checked by `QueryParams`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import (
    Association,
    AssociationType,
    AvailabilityStatus,
    DocumentEntry,
    DocumentEntryType,
    Folder,
    SubmissionSet,
)
from registry.query_params import QueryParams
from registry.store import (
    AssociationQuery,
    DocumentEntryQuery,
    FolderQuery,
    QueryResult,
    RegistryStore,
    StoredQueryRequest,
    SubmissionSetQuery,
)

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FIND_DOCUMENTS_BY_REFERENCE_ID = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
FIND_FOLDERS = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
GET_ALL = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
GET_FOLDERS = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
GET_DOCUMENTS_AND_ASSOCIATIONS = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
GET_SUBMISSION_SETS = "urn:uuid:51224314-5390-4169-9b91-b1980040715a"
GET_SUBMISSION_SET_AND_CONTENTS = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
GET_FOLDER_AND_CONTENTS = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
GET_FOLDERS_FOR_DOCUMENT = "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578"
GET_RELATED_DOCUMENTS = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"

LEAF_CLASS = "LeafClass"
METADATA_LEVELS = ("1", "2")

DOCUMENT_ENTRY_UUID = "$XDSDocumentEntryEntryUUID"
DOCUMENT_ENTRY_UNIQUE_ID = "$XDSDocumentEntryUniqueId"
DOCUMENT_ENTRY_LOGICAL_ID = "$XDSDocumentEntryLogicalID"
FOLDER_UUID = "$XDSFolderEntryUUID"
FOLDER_UNIQUE_ID = "$XDSFolderUniqueId"
SUBMISSION_SET_UUID = "$XDSSubmissionSetEntryUUID"
SUBMISSION_SET_UNIQUE_ID = "$XDSSubmissionSetUniqueId"

StoredQuery = Callable[[RegistryStore, QueryParams, int], QueryResult]
"""A stored query: reads its parameters, asks the store for at most `limit` objects of each kind."""

ContainerLookup = Callable[[list[str]], Sequence[SubmissionSet | Folder]]
"""The store's lookup of SubmissionSets or Folders by one kind of id."""


def run_stored_query(
    store: RegistryStore, request: StoredQueryRequest, *, max_results: int
) -> QueryResult:
    """Run the stored query `request` names; `XdsError` on bad parameters or an unfit result.

    The result fails with XDSTooManyResults above `max_results` objects, and a LeafClass result
    with XDSResultNotSinglePatient when its objects belong to more than one patient.
    """
    query = STORED_QUERIES.get(request.query_id.strip().lower())
    if query is None:
        raise XdsError(
            Issue(ErrorCode.UNKNOWN_STORED_QUERY, f"unknown stored query {request.query_id}")
        )

    params = QueryParams(request.slots)
    _check_metadata_level(params)
    result = query(store, params, max_results + 1)

    if len(result) > max_results:
        raise XdsError(
            Issue(
                ErrorCode.TOO_MANY_RESULTS,
                f"the query matches more than {max_results} objects; narrow it",
            )
        )
    if request.return_type == LEAF_CLASS:
        _check_single_patient(result)
    return result


# --- Find queries: one patient's objects by their attributes -----------------------------------


def find_documents(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """FindDocuments: one patient's DocumentEntries by status, codes, times and authors."""
    query = _find_documents_query(params)
    return QueryResult(document_entries=store.find_document_entries(query, limit))


def find_documents_by_reference_id(
    store: RegistryStore, params: QueryParams, limit: int
) -> QueryResult:
    """FindDocumentsByReferenceId: FindDocuments narrowed to entries with given referenceIds.

    Values within a Slot are alternatives and Slots are AND-ed, as for the event code list; a
    value matches a referenceIdList item (CXi) exactly.
    """
    query = _find_documents_query(params)
    query.reference_ids = params.clauses("$XDSDocumentEntryReferenceIdList", required=True)
    return QueryResult(document_entries=store.find_document_entries(query, limit))


def find_submission_sets(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """FindSubmissionSets: one patient's SubmissionSets by source, time, author and content type."""
    query = SubmissionSetQuery(
        patient_id=params.single("$XDSSubmissionSetPatientId", required=True) or "",
        availability_statuses=params.values("$XDSSubmissionSetStatus", required=True) or [],
        source_ids=params.values("$XDSSubmissionSetSourceId"),
        submission_time_from=params.dtm("$XDSSubmissionSetSubmissionTimeFrom"),
        submission_time_to=params.dtm("$XDSSubmissionSetSubmissionTimeTo"),
        author_person=params.single("$XDSSubmissionSetAuthorPerson"),
        content_type_codes=params.codes("$XDSSubmissionSetContentType"),
    )
    return QueryResult(submission_sets=store.find_submission_sets(query, limit))


def find_folders(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """FindFolders: one patient's Folders by status, last update time and codes (AND/OR)."""
    query = FolderQuery(
        patient_id=params.single("$XDSFolderPatientId", required=True) or "",
        availability_statuses=params.values("$XDSFolderStatus", required=True) or [],
        last_update_time_from=params.dtm("$XDSFolderLastUpdateTimeFrom"),
        last_update_time_to=params.dtm("$XDSFolderLastUpdateTimeTo"),
        codes=params.code_clauses("$XDSFolderCodeList"),
    )
    return QueryResult(folders=store.find_folders(query, limit))


def get_all(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetAll: a patient's DocumentEntries, SubmissionSets, Folders and Associations among them.

    Each kind is selected by its own status parameter; the entries also by format,
    confidentiality and type.
    """
    patient_id = params.single("$patientId", required=True) or ""
    entry_query = DocumentEntryQuery(
        patient_id=patient_id,
        availability_statuses=params.values("$XDSDocumentEntryStatus", required=True),
        object_types=_object_types(params),
        format_codes=params.codes("$XDSDocumentEntryFormatCode"),
        confidentiality_codes=params.code_clauses("$XDSDocumentEntryConfidentialityCode"),
    )
    set_statuses = params.values("$XDSSubmissionSetStatus", required=True) or []
    folder_statuses = params.values("$XDSFolderStatus", required=True) or []
    association_statuses = _association_statuses(params)

    result = QueryResult(
        document_entries=store.find_document_entries(entry_query, limit),
        submission_sets=store.find_submission_sets(
            SubmissionSetQuery(patient_id, set_statuses), limit
        ),
        folders=store.find_folders(FolderQuery(patient_id, folder_statuses), limit),
    )
    result.associations = _associations_between(store, result, association_statuses, limit)
    return result


# --- Get queries: objects by id, and what is linked to them ------------------------------------


def get_documents(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetDocuments: DocumentEntries by entryUUID, uniqueId or logicalID, whatever their status.

    A logicalID (ITI-57) names every version of a document.
    """
    name = _one_of(params, DOCUMENT_ENTRY_UUID, DOCUMENT_ENTRY_UNIQUE_ID, DOCUMENT_ENTRY_LOGICAL_ID)
    keys = params.values(name) or []
    params.single("$homeCommunityId")
    object_types = _object_types(params)

    if name == DOCUMENT_ENTRY_UUID:
        entries = store.document_entries_by_uuid(keys)
    elif name == DOCUMENT_ENTRY_UNIQUE_ID:
        entries = store.document_entries_by_unique_id(keys)
    else:
        entries = store.document_entry_versions(keys)
    return QueryResult(document_entries=[e for e in entries if e.object_type in object_types])


def get_folders(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetFolders: Folders by entryUUID or by uniqueId, whatever their status."""
    name = _one_of(params, FOLDER_UUID, FOLDER_UNIQUE_ID)
    keys = params.values(name) or []
    params.single("$homeCommunityId")

    if name == FOLDER_UUID:
        return QueryResult(folders=store.folders_by_uuid(keys))
    return QueryResult(folders=store.folders_by_unique_id(keys))


def get_associations(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetAssociations: the Associations with either end among the objects named by `$uuid`."""
    uuids = params.values("$uuid", required=True) or []
    params.single("$homeCommunityId")
    statuses = _association_statuses(params)

    query = AssociationQuery(objects=uuids, availability_statuses=statuses)
    return QueryResult(associations=store.find_associations(query, limit))


def get_documents_and_associations(
    store: RegistryStore, params: QueryParams, limit: int
) -> QueryResult:
    """GetDocumentsAndAssociations: DocumentEntries by id, and the Associations at either end."""
    params.single("$homeCommunityId")
    statuses = _association_statuses(params)

    entries = _document_entries(store, params)
    if not entries:
        return QueryResult()
    query = AssociationQuery(
        objects=[e.entry_uuid for e in entries], availability_statuses=statuses
    )
    return QueryResult(document_entries=entries, associations=store.find_associations(query, limit))


def get_submission_sets(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetSubmissionSets: the SubmissionSets holding the `$uuid` objects, with those HasMembers."""
    uuids = params.values("$uuid", required=True) or []
    params.single("$homeCommunityId")
    statuses = _association_statuses(params)

    memberships = store.find_associations(
        AssociationQuery(
            target_objects=uuids,
            association_types=[AssociationType.HAS_MEMBER.value],
            availability_statuses=statuses,
        ),
        limit,
    )
    sets = store.submission_sets_by_uuid(list(dict.fromkeys(a.source_object for a in memberships)))
    set_uuids = {s.entry_uuid for s in sets}
    links = [a for a in memberships if a.source_object in set_uuids]
    return QueryResult(submission_sets=sets, associations=links)


def get_submission_set_and_contents(
    store: RegistryStore, params: QueryParams, limit: int
) -> QueryResult:
    """GetSubmissionSetAndContents: one SubmissionSet, its members and the Associations among them.

    Member DocumentEntries are filtered by format, confidentiality and type.
    """
    lookups = {
        SUBMISSION_SET_UUID: store.submission_sets_by_uuid,
        SUBMISSION_SET_UNIQUE_ID: store.submission_sets_by_unique_id,
    }
    return _container_and_contents(store, params, limit, lookups)


def get_folder_and_contents(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetFolderAndContents: one Folder, its member DocumentEntries and their HasMembers.

    Member DocumentEntries are filtered by format, confidentiality and type.
    """
    lookups = {FOLDER_UUID: store.folders_by_uuid, FOLDER_UNIQUE_ID: store.folders_by_unique_id}
    return _container_and_contents(store, params, limit, lookups)


def get_folders_for_document(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetFoldersForDocument: the Folders that have one DocumentEntry as a member."""
    params.single("$homeCommunityId")
    statuses = _association_statuses(params)

    entry_uuids = _document_entry_uuids(store, params)
    if not entry_uuids:
        return QueryResult()
    memberships = store.find_associations(
        AssociationQuery(
            target_objects=entry_uuids,
            association_types=[AssociationType.HAS_MEMBER.value],
            availability_statuses=statuses,
        ),
        limit,
    )
    folder_uuids = list(dict.fromkeys(a.source_object for a in memberships))
    return QueryResult(folders=store.folders_by_uuid(folder_uuids))


def get_related_documents(store: RegistryStore, params: QueryParams, limit: int) -> QueryResult:
    """GetRelatedDocuments: one DocumentEntry, those linked to it, and the linking Associations.

    Associations of `$AssociationTypes` are followed in either direction; when none links a
    DocumentEntry, the result is empty, the named DocumentEntry included.
    """
    association_types = params.values("$AssociationTypes", required=True) or []
    params.single("$homeCommunityId")
    object_types = _object_types(params)
    statuses = _association_statuses(params)

    origins = _document_entry_uuids(store, params)
    if not origins:
        return QueryResult()
    links = store.find_associations(
        AssociationQuery(
            objects=origins, association_types=association_types, availability_statuses=statuses
        ),
        limit,
    )
    ends = [end for a in links for end in (a.source_object, a.target_object)]
    entries = store.find_document_entries(
        DocumentEntryQuery(entry_uuids=[*origins, *ends], object_types=object_types), limit
    )

    found = {e.entry_uuid for e in entries}
    links = [a for a in links if a.source_object in found and a.target_object in found]
    linked = {end for a in links for end in (a.source_object, a.target_object)}
    return QueryResult(
        document_entries=[e for e in entries if e.entry_uuid in linked], associations=links
    )


STORED_QUERIES: dict[str, StoredQuery] = {
    FIND_DOCUMENTS: find_documents,
    FIND_DOCUMENTS_BY_REFERENCE_ID: find_documents_by_reference_id,
    FIND_SUBMISSION_SETS: find_submission_sets,
    FIND_FOLDERS: find_folders,
    GET_ALL: get_all,
    GET_DOCUMENTS: get_documents,
    GET_FOLDERS: get_folders,
    GET_ASSOCIATIONS: get_associations,
    GET_DOCUMENTS_AND_ASSOCIATIONS: get_documents_and_associations,
    GET_SUBMISSION_SETS: get_submission_sets,
    GET_SUBMISSION_SET_AND_CONTENTS: get_submission_set_and_contents,
    GET_FOLDER_AND_CONTENTS: get_folder_and_contents,
    GET_FOLDERS_FOR_DOCUMENT: get_folders_for_document,
    GET_RELATED_DOCUMENTS: get_related_documents,
}
"""Every supported stored query by its queryId (lower-case urn:uuid)."""


# --- Parameters shared by several queries ------------------------------------------------------


def _find_documents_query(params: QueryParams) -> DocumentEntryQuery:
    return DocumentEntryQuery(
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


def _contents_filter(params: QueryParams) -> DocumentEntryQuery:
    """What GetSubmissionSetAndContents and GetFolderAndContents keep of the member entries."""
    return DocumentEntryQuery(
        object_types=_object_types(params),
        format_codes=params.codes("$XDSDocumentEntryFormatCode"),
        confidentiality_codes=params.code_clauses("$XDSDocumentEntryConfidentialityCode"),
    )


def _object_types(params: QueryParams) -> list[str]:
    # Without $XDSDocumentEntryType a query returns stable entries only (On-Demand Documents).
    return params.values("$XDSDocumentEntryType") or [DocumentEntryType.STABLE.value]


def _association_statuses(params: QueryParams) -> list[str]:
    # $XDSAssociationStatus comes with Metadata Update (ITI-57); without it, Approved only.
    return params.values("$XDSAssociationStatus") or [AvailabilityStatus.APPROVED.value]


def _check_metadata_level(params: QueryParams) -> None:
    level = params.single("$MetadataLevel")
    if level is not None and level not in METADATA_LEVELS:
        raise XdsError(
            Issue(
                ErrorCode.REGISTRY_ERROR,
                f"parameter $MetadataLevel is {level}; only 1 and 2 are defined",
                attribute="$MetadataLevel",
            )
        )


def _one_of(params: QueryParams, *names: str) -> str:
    """The one parameter of `names` the request gives; the spec requires exactly one."""
    given = [name for name in names if params.has(name)]
    if len(given) > 1:
        raise XdsError(
            Issue(
                ErrorCode.STORED_QUERY_PARAM_NUMBER,
                f"give one of {', '.join(names)}, not several",
                attribute=given[1],
            )
        )
    if not given:
        raise XdsError(
            Issue(
                ErrorCode.STORED_QUERY_MISSING_PARAM,
                f"one of {', '.join(names)} is required",
                attribute=names[0],
            )
        )
    return given[0]


def _document_entries(store: RegistryStore, params: QueryParams) -> list[DocumentEntry]:
    """The DocumentEntries named by $XDSDocumentEntryEntryUUID or $XDSDocumentEntryUniqueId."""
    name = _one_of(params, DOCUMENT_ENTRY_UUID, DOCUMENT_ENTRY_UNIQUE_ID)
    keys = params.values(name) or []

    if name == DOCUMENT_ENTRY_UUID:
        return store.document_entries_by_uuid(keys)
    return store.document_entries_by_unique_id(keys)


def _document_entry_uuids(store: RegistryStore, params: QueryParams) -> list[str]:
    """The entryUUIDs of the one DocumentEntry a query is about (of each version, by uniqueId)."""
    name = _one_of(params, DOCUMENT_ENTRY_UUID, DOCUMENT_ENTRY_UNIQUE_ID)
    key = params.single(name) or ""

    if name == DOCUMENT_ENTRY_UUID:
        return [key]
    return [e.entry_uuid for e in store.document_entries_by_unique_id([key])]


# --- Results ------------------------------------------------------------------------------------


def _container_and_contents(
    store: RegistryStore,
    params: QueryParams,
    limit: int,
    lookups: dict[str, ContainerLookup],
) -> QueryResult:
    """The one SubmissionSet or Folder named by the parameter of `lookups` given, with contents.

    `lookups` maps each id parameter (entryUUID, uniqueId) to the store's lookup by it.
    """
    name = _one_of(params, *lookups)
    key = params.single(name) or ""
    params.single("$homeCommunityId")
    entry_filter = _contents_filter(params)
    statuses = _association_statuses(params)

    containers = lookups[name]([key])
    if not containers:
        return QueryResult()

    return _contents(store, containers[0], entry_filter, statuses, limit)


def _contents(
    store: RegistryStore,
    container: SubmissionSet | Folder,
    entry_filter: DocumentEntryQuery,
    statuses: list[str],
    limit: int,
) -> QueryResult:
    """A SubmissionSet or Folder, its members, and the Associations among them.

    A member DocumentEntry the filter drops takes its Associations with it.
    """
    memberships = store.find_associations(
        AssociationQuery(
            source_objects=[container.entry_uuid],
            association_types=[AssociationType.HAS_MEMBER.value],
            availability_statuses=statuses,
        ),
        limit,
    )
    members = list(dict.fromkeys(a.target_object for a in memberships))
    entry_filter.entry_uuids = members
    result = QueryResult(
        document_entries=store.find_document_entries(entry_filter, limit) if members else [],
        folders=store.folders_by_uuid(members),
    )
    if isinstance(container, SubmissionSet):
        result.submission_sets = [container]
    else:
        result.folders.insert(0, container)
    result.associations = _associations_between(store, result, statuses, limit)
    return result


def _associations_between(
    store: RegistryStore, result: QueryResult, statuses: list[str], limit: int
) -> list[Association]:
    """The Associations whose both ends are in `result`, or are Associations returned with it.

    A SubmissionSet that files a document into an existing Folder has a HasMember to the
    Folder's HasMember Association (ITI TF-3 4.1.4.2); it comes back with that Association.
    """
    uuids = _uuids(result)
    if not uuids:
        return []
    between = store.find_associations(
        AssociationQuery(
            source_objects=uuids, target_objects=uuids, availability_statuses=statuses
        ),
        limit,
    )
    if not between:
        return []
    to_links = store.find_associations(
        AssociationQuery(
            source_objects=uuids,
            target_objects=[a.entry_uuid for a in between],
            availability_statuses=statuses,
        ),
        limit,
    )
    found = {a.entry_uuid: a for a in [*between, *to_links]}
    return [found[key] for key in sorted(found)]


def _uuids(result: QueryResult) -> list[str]:
    objects = (*result.document_entries, *result.submission_sets, *result.folders)
    return [o.entry_uuid for o in objects]


def _check_single_patient(result: QueryResult) -> None:
    # ITI TF-2a 3.18.4.1.3: full metadata (LeafClass) goes out for one patient at a time.
    patients = {
        o.patient_id for o in (*result.document_entries, *result.submission_sets, *result.folders)
    }
    if len(patients) > 1:
        raise XdsError(
            Issue(
                ErrorCode.RESULT_NOT_SINGLE_PATIENT,
                f"the result holds objects of {len(patients)} patients; ask for ObjectRef",
            )
        )
