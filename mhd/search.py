"""ITI-66 and ITI-67 search parameters, read into Registry Stored Queries (XDS on FHIR Option).

Every search runs through `registry.queries.run_stored_query`, as ITI-18 does: ITI-67 becomes
FindDocuments (FindDocumentsByReferenceId with `related`), ITI-66 FindSubmissionSets or
FindFolders, mapped by ITI-67 Table 2:3.67.4.1.3.1-1 and ITI-66 Table 2:3.66.4.1.3.1-1/-2. FHIR
search semantics apply on top: commas OR values, a repeated parameter ANDs its occurrences
(search.html#combining), a date prefix picks the bound (ge, gt, le, lt, eq). Only the identifiers
(`identifier`, `_id`), which FindDocuments cannot ask for, narrow the stored query's result here.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import product

from mhd.datatypes import URN_UUID, assigning_authority, coding_scheme, dtm, escape, unique_id
from mhd.outcome import FhirIssue
from mhd.resources import DOCUMENT_STATUS, LIST_STATUS, LIST_TYPES, patient_from_reference
from registry.dtm import dtm_key
from registry.errors import ErrorCode, XdsError
from registry.metadata import Association, AssociationType, DocumentEntry, Folder, SubmissionSet
from registry.queries import (
    FIND_DOCUMENTS,
    FIND_DOCUMENTS_BY_REFERENCE_ID,
    FIND_FOLDERS,
    FIND_SUBMISSION_SETS,
    run_stored_query,
)
from registry.store import AssociationQuery, QueryResult, RegistryStore, StoredQueryRequest

DEFAULT_COUNT = 100
OBJECT_REF = "ObjectRef"
LEAF_CLASS = "LeafClass"

# ITI-67 code parameters: the FindDocuments parameter, and whether the attribute is multi-valued
# (its Slots AND) or single-valued (a repeated parameter keeps only the codes of every repetition).
DOCUMENT_CODES = {
    "category": ("$XDSDocumentEntryClassCode", False),
    "type": ("$XDSDocumentEntryTypeCode", False),
    "setting": ("$XDSDocumentEntryPracticeSettingCode", False),
    "facility": ("$XDSDocumentEntryHealthcareFacilityTypeCode", False),
    "format": ("$XDSDocumentEntryFormatCode", False),
    "event": ("$XDSDocumentEntryEventCodeList", True),
    "security-label": ("$XDSDocumentEntryConfidentialityCode", True),
}
DOCUMENT_PARAMETERS = frozenset(
    {
        *DOCUMENT_CODES,
        "patient",
        "patient.identifier",
        "status",
        "identifier",
        "_id",
        "creation",
        "date",
        "period",
        "author.given",
        "author.family",
        "related",
    }
)
LIST_PARAMETERS = frozenset(
    {
        "patient",
        "patient.identifier",
        "status",
        "code",
        "identifier",
        "_id",
        "date",
        "designationType",
        "sourceId",
        "source.given",
        "source.family",
    }
)
# Parameters that shape the answer rather than select; `_offset` is ours, in paging links.
CONTROL_PARAMETERS = frozenset({"_count", "_offset", "_format", "_pretty", "_summary", "_elements"})

# FHIR status codes to availabilityStatus; List answers `retired` for a Deprecated object.
DOCUMENT_STATUSES = {fhir: xds for xds, fhir in DOCUMENT_STATUS.items()}
LIST_STATUSES = {
    **{fhir: xds for xds, fhir in LIST_STATUS.items()},
    "superseded": DOCUMENT_STATUSES["superseded"],
}

_ESCAPED_SPLIT = re.compile(r"(?<!\\),")
_PREFIX = re.compile(r"(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.+)")
_SECONDS = re.compile(r"T\d{2}:\d{2}:\d{2}")
_FHIR_DATE = re.compile(
    r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


# How the stored query's errors read as FHIR IssueType; all are the search's fault.
_ISSUE_TYPES = {ErrorCode.TOO_MANY_RESULTS: "too-costly"}


class SearchRejected(Exception):
    """The search cannot be run as asked; `issues` say why."""

    def __init__(self, issues: list[FhirIssue], status: int = 400) -> None:
        self.issues = issues
        self.status = status
        super().__init__("; ".join(issue.message for issue in issues))


@dataclass
class Search:
    """A parsed search: the stored queries to run, what narrows their result, and paging."""

    requests: list[StoredQueryRequest] = field(default_factory=list)
    identifiers: list[list[str]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    offset: int = 0
    applied: list[tuple[str, str]] = field(default_factory=list)
    matches_nothing: bool = False
    registered: tuple[str | None, str | None] = (None, None)
    """The DTM range [from, to) of `date` on DocumentReference: when the registry took it."""


class _Params:
    """The search parameters of one request by name, each occurrence kept as it came."""

    def __init__(self, pairs: list[tuple[str, str]], known: frozenset[str], strict: bool) -> None:
        self.by_name: dict[str, list[str]] = {}
        self.applied: list[tuple[str, str]] = []
        for name, value in pairs:
            if name in CONTROL_PARAMETERS:
                continue
            if name == "patient:identifier":
                name = "patient.identifier"
            if name not in known:
                if strict or ":" in name:
                    raise _rejected(f"search parameter {name!r} is not supported", name)
                continue
            self.by_name.setdefault(name, []).append(value)
            self.applied.append((name, value))

    def occurrences(self, name: str) -> list[list[str]]:
        """Each occurrence of the parameter as its comma-separated alternatives."""
        return [_split(value, name) for value in self.by_name.get(name, [])]

    def single(self, name: str) -> str | None:
        occurrences = self.occurrences(name)
        if not occurrences:
            return None
        if len(occurrences) > 1 or len(occurrences[0]) > 1:
            raise _rejected(f"search parameter {name} takes a single value", name)
        return occurrences[0][0]


def parse_document_reference_search(
    pairs: list[tuple[str, str]], *, max_count: int, strict: bool = False
) -> Search:
    """Read ITI-67 parameters into a FindDocuments (or FindDocumentsByReferenceId) request."""
    params = _Params(pairs, DOCUMENT_PARAMETERS, strict)
    search = _search(pairs, params, max_count)
    slots: dict[str, list[list[str]]] = {
        "$XDSDocumentEntryPatientId": [[_quoted(_patient_id(params))]],
    }

    statuses = _statuses(params, DOCUMENT_STATUSES)
    search.matches_nothing |= not statuses
    slots["$XDSDocumentEntryStatus"] = [[_list(statuses or list(DOCUMENT_STATUSES.values()))]]

    for name, (parameter, multi_valued) in DOCUMENT_CODES.items():
        clauses = [[_code(token, name) for token in o] for o in params.occurrences(name)]
        if not clauses:
            continue
        if multi_valued:
            slots[parameter] = [[_list(clause)] for clause in clauses]
            continue
        kept = [c for c in clauses[0] if all(c in clause for clause in clauses[1:])]
        search.matches_nothing |= not kept
        slots[parameter] = [[_list(kept or clauses[0])]]

    _time_slots(slots, params, "creation", "$XDSDocumentEntryCreationTime")
    search.registered = _range(params, "date")
    _period_slots(slots, params)
    authors = _author_patterns(params, "author")
    if authors:
        slots["$XDSDocumentEntryAuthorPerson"] = [[_list(authors)]]

    query_id = FIND_DOCUMENTS
    related = params.occurrences("related")
    if related:
        query_id = FIND_DOCUMENTS_BY_REFERENCE_ID
        slots["$XDSDocumentEntryReferenceIdList"] = [
            [_list([_reference_id(value) for value in clause])] for clause in related
        ]
    search.requests.append(StoredQueryRequest(query_id, slots, return_type=LEAF_CLASS))
    return search


def parse_list_search(
    pairs: list[tuple[str, str]], *, max_count: int, strict: bool = False
) -> Search:
    """Read ITI-66 parameters into FindSubmissionSets and/or FindFolders requests."""
    params = _Params(pairs, LIST_PARAMETERS, strict)
    search = _search(pairs, params, max_count)
    patient_id = _quoted(_patient_id(params))
    kept_statuses = _statuses(params, LIST_STATUSES)
    search.matches_nothing |= not kept_statuses
    statuses = _list(kept_statuses or list(LIST_STATUSES.values())[:1])

    occurrences = params.occurrences("code")
    if not occurrences:
        raise _rejected("search parameter code (submissionset or folder) is required", "code")
    kinds = [_list_kind(token) for token in occurrences[0]]
    kinds = [k for k in kinds if all(k in map(_list_kind, o) for o in occurrences[1:])]
    search.matches_nothing |= not any(kinds)
    designations = [
        [_code(token, "designationType") for token in occurrence]
        for occurrence in params.occurrences("designationType")
    ]

    if "submissionset" in kinds:
        slots = {
            "$XDSSubmissionSetPatientId": [[patient_id]],
            "$XDSSubmissionSetStatus": [[statuses]],
        }
        _time_slots(slots, params, "date", "$XDSSubmissionSetSubmissionTime")
        if designations:
            kept = [c for c in designations[0] if all(c in d for d in designations[1:])]
            search.matches_nothing |= not kept
            slots["$XDSSubmissionSetContentType"] = [[_list(kept or designations[0])]]
        source_ids = [_source_id(token) for o in params.occurrences("sourceId") for token in o]
        if source_ids:
            slots["$XDSSubmissionSetSourceId"] = [[_list(source_ids)]]
        authors = _author_patterns(params, "source")
        if len(authors) > 2:
            raise _rejected("source.given and source.family take one name here", "source.family")
        if authors:
            # FindSubmissionSets takes one pattern: the name followed by further components.
            slots["$XDSSubmissionSetAuthorPerson"] = [[_quoted(authors[0])]]
        search.requests.append(StoredQueryRequest(FIND_SUBMISSION_SETS, slots, OBJECT_REF))

    if "folder" in kinds:
        slots = {"$XDSFolderPatientId": [[patient_id]], "$XDSFolderStatus": [[statuses]]}
        _time_slots(slots, params, "date", "$XDSFolderLastUpdateTime")
        if designations:
            slots["$XDSFolderCodeList"] = [[_list(clause)] for clause in designations]
        search.requests.append(StoredQueryRequest(FIND_FOLDERS, slots, OBJECT_REF))
    return search


def run_search(
    store: RegistryStore, search: Search, *, max_results: int
) -> list[DocumentEntry | SubmissionSet | Folder]:
    """Run the search's stored queries and keep what its identifiers name, in entryUUID order."""
    if search.matches_nothing:
        return []
    found: list[DocumentEntry | SubmissionSet | Folder] = []
    for request in search.requests:
        try:
            result: QueryResult = run_stored_query(store, request, max_results=max_results)
        except XdsError as error:
            issues = [
                FhirIssue(i.code, i.message, issue_type=_ISSUE_TYPES.get(i.code, "invalid"))
                for i in error.issues
            ]
            raise SearchRejected(issues) from None
        found += [*result.document_entries, *result.submission_sets, *result.folders]
    for alternatives in search.identifiers:
        found = [o for o in found if o.entry_uuid in alternatives or o.unique_id in alternatives]
    start, end = (dtm_key(bound) for bound in search.registered)
    if start or end:
        times = registration_times(store, [o.entry_uuid for o in found])
        found = [o for o in found if _within(dtm_key(times.get(o.entry_uuid)), start, end)]
    return found


def registration_times(store: RegistryStore, entry_uuids: list[str]) -> dict[str, str]:
    """When each DocumentEntry was registered: the submissionTime of the SubmissionSet whose
    HasMember (SubmissionSetStatus Original) brought it, which MHD renders as
    DocumentReference.date."""
    if not entry_uuids:
        return {}
    memberships = store.find_associations(
        AssociationQuery(
            target_objects=entry_uuids, association_types=[AssociationType.HAS_MEMBER.value]
        ),
        len(entry_uuids) * 10,
    )
    return submission_times(store, memberships)


def submission_times(store: RegistryStore, memberships: list[Association]) -> dict[str, str]:
    """The submissionTime of each HasMember target's original SubmissionSet, by target."""
    originals = {
        m.target_object: m.source_object
        for m in memberships
        if m.association_type == AssociationType.HAS_MEMBER
        and m.submission_set_status == "Original"
    }
    sets = store.submission_sets_by_uuid(list(dict.fromkeys(originals.values())))
    times = {s.entry_uuid: s.submission_time for s in sets}
    return {entry: times[source] for entry, source in originals.items() if source in times}


def _within(key: str | None, start: str | None, end: str | None) -> bool:
    if key is None:
        return False
    return (start is None or key >= start) and (end is None or key < end)


def _search(pairs: list[tuple[str, str]], params: _Params, max_count: int) -> Search:
    search = Search(applied=params.applied)
    values = dict(pairs)
    search.count = min(_number(values.get("_count"), "_count", DEFAULT_COUNT), max_count)
    search.offset = _number(values.get("_offset"), "_offset", 0)
    if "_format" in values:
        search.applied.append(("_format", values["_format"]))
    for name in ("identifier", "_id"):
        for occurrence in params.occurrences(name):
            search.identifiers.append([_identifier(token, name) for token in occurrence])
    return search


def _number(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit():
        raise _rejected(f"{name} must be a whole number, not {text!r}", name)
    return int(text)


def _patient_id(params: _Params) -> str:
    if params.by_name.get("patient") and not params.by_name.get("patient.identifier"):
        reference = params.single("patient") or ""
        found = patient_from_reference(reference)
        if found is None:
            raise _rejected(
                f"patient {reference!r} is not a Patient/<assigning authority OID>-<id> reference"
                " as DocumentReference.subject gives it; or search by"
                " patient.identifier=urn:oid:<assigning authority>|<id>",
                "patient",
            )
        oid, value = found
        return f"{escape(value)}^^^&{oid}&ISO"
    token = params.single("patient.identifier")
    if token is None:
        raise _rejected("search parameter patient.identifier (or patient) is required", "patient")
    system, value = _token(token)
    if not system or not value:
        raise _rejected("patient.identifier must be system|value", "patient.identifier")
    return f"{escape(value)}^^^{assigning_authority(system)}"


def _statuses(params: _Params, codes: dict[str, str]) -> list[str]:
    occurrences = params.occurrences("status")
    if not occurrences:
        raise _rejected("search parameter status is required (current, superseded)", "status")
    kept = [_token(t)[1] for t in occurrences[0]]
    kept = [c for c in kept if all(c in [_token(t)[1] for t in o] for o in occurrences[1:])]
    return list(dict.fromkeys(codes[c] for c in kept if c in codes))


def _time_slots(
    slots: dict[str, list[list[str]]], params: _Params, name: str, parameter: str
) -> None:
    start, end = _range(params, name)
    if start:
        slots[f"{parameter}From"] = [[start]]
    if end:
        slots[f"{parameter}To"] = [[end]]


def _period_slots(slots: dict[str, list[list[str]]], params: _Params) -> None:
    # The period searched overlaps the time of service: it stops at or after the range's start
    # and starts before the range's end.
    start, end = _range(params, "period")
    if start:
        slots["$XDSDocumentEntryServiceStopTimeFrom"] = [[start]]
    if end:
        slots["$XDSDocumentEntryServiceStartTimeTo"] = [[end]]


def _range(params: _Params, name: str) -> tuple[str | None, str | None]:
    """The DTM range [start, end) all occurrences of a date parameter allow."""
    start: str | None = None
    end: str | None = None
    for occurrence in params.occurrences(name):
        if len(occurrence) > 1:
            raise _rejected(f"{name} takes one date per occurrence; repeat it to AND", name)
        prefix, low, high = _date(occurrence[0], name)
        lower = {"ge": low, "gt": high, "eq": low}.get(prefix)
        upper = {"lt": low, "le": high, "eq": high}.get(prefix)
        if lower and (start is None or lower.ljust(14, "0") > start.ljust(14, "0")):
            start = lower
        if upper and (end is None or upper.ljust(14, "0") < end.ljust(14, "0")):
            end = upper
    return start, end


def _date(text: str, name: str) -> tuple[str, str, str]:
    """A date search value's prefix and the DTM range [low, high) its precision covers."""
    found = _PREFIX.fullmatch(text)
    prefix, value = (found.group(1) or "eq", found.group(2)) if found else ("eq", text)
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise _rejected(f"{name} prefix {prefix!r} is not supported; use eq, ge, gt, le, lt", name)
    if not _FHIR_DATE.fullmatch(value):
        raise _rejected(f"{name} value {value!r} is not a FHIR date or dateTime", name)
    try:
        low = dtm(value) or ""
    except ValueError:
        raise _rejected(f"{name} value {value!r} is not a valid date", name) from None
    if "T" in value and not _SECONDS.search(value):
        low = low[:12]
    try:
        datetime.strptime(dtm_key(low) or "", "%Y%m%d%H%M%S")
    except ValueError:
        raise _rejected(f"{name} value {value!r} is not a valid date", name) from None
    return prefix, low, _next(low)


def _next(low: str) -> str:
    """The first DTM after the period `low` names, at the same precision."""
    year = int(low[:4])
    if len(low) == 4:
        return f"{year + 1:04d}"
    month = int(low[4:6])
    if len(low) == 6:
        return f"{year + month // 12:04d}{month % 12 + 1:02d}"
    day = int(low[6:8])
    if len(low) == 8:
        day += 1
        if day > monthrange(year, month)[1]:
            return _next(low[:6]) + "01"
        return f"{low[:6]}{day:02d}"
    step = {10: timedelta(hours=1), 12: timedelta(minutes=1), 14: timedelta(seconds=1)}[len(low)]
    moment = datetime.strptime(low.ljust(14, "0"), "%Y%m%d%H%M%S") + step
    return moment.strftime("%Y%m%d%H%M%S")[: len(low)]


def _author_patterns(params: _Params, prefix: str) -> list[str]:
    """authorPerson LIKE patterns matching whole XCN name components (ITI-66 name translation).

    Each name is two alternatives: components follow it, or it ends the XCN.
    """
    family = params.occurrences(f"{prefix}.family")
    given = params.occurrences(f"{prefix}.given")
    if not family and not given:
        return []
    if len(family) > 1 or len(given) > 1:
        raise _rejected(f"{prefix}.given and {prefix}.family may not repeat", f"{prefix}.family")
    families = [escape(f) for f in family[0]] if family else ["%"]
    givens = [escape(g) for g in given[0]] if given else [None]
    patterns = []
    for family_name, given_name in product(families, givens):
        name = f"%^{family_name}" if given_name is None else f"%^{family_name}^{given_name}"
        patterns += [f"{name}^%", name]
    return patterns


def _list_kind(token: str) -> str:
    system, code = _token(token)
    return code if system in (None, LIST_TYPES) and code in ("submissionset", "folder") else ""


def _code(token: str, name: str) -> str:
    system, code = _token(token)
    if not system or not code:
        raise _rejected(f"{name} must be system|code, as XDS codes carry a codingScheme", name)
    return f"{code}^^{coding_scheme(system)}"


def _identifier(token: str, name: str) -> str:
    system, value = _token(token)
    if name == "_id":
        return URN_UUID + value.lower()
    if value.lower().startswith(URN_UUID):
        return value.lower()
    return unique_id(system, value)


def _reference_id(token: str) -> str:
    """A referenceIdList CXi: given whole (`id^^^&oid&ISO^type`) or as system|value."""
    system, value = _token(token)
    if system is None and "^" in value:
        return value
    return f"{escape(value)}^^^{assigning_authority(system)}"


def _source_id(token: str) -> str:
    # A simple string in FindSubmissionSets: the system is ignored (ITI-66 token translation).
    _, value = _token(token)
    return unique_id(None, value)


def _token(token: str) -> tuple[str | None, str]:
    """Split a token `system|code` (FHIR escapes `\\|`); `|code` and `code` have no system."""
    parts = re.split(r"(?<!\\)\|", token, maxsplit=1)
    if len(parts) == 1:
        return None, _unescape(parts[0])
    return (_unescape(parts[0]) or None), _unescape(parts[1])


def _split(value: str, name: str) -> list[str]:
    items = [item for item in _ESCAPED_SPLIT.split(value) if item]
    if not items:
        raise _rejected(f"search parameter {name} has no value", name)
    return items


def _unescape(text: str) -> str:
    return re.sub(r"\\([,|$\\])", r"\1", text)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    return "(" + ",".join(_quoted(v) for v in values) + ")"


def _rejected(message: str, name: str, status: int = 400) -> SearchRejected:
    issue = FhirIssue(ErrorCode.REGISTRY_ERROR, message, name, issue_type="invalid")
    return SearchRejected([issue], status)
