"""The registry store on SQL: SQLite embedded by default, PostgreSQL (psycopg 3) in production."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    case,
    create_engine,
    event,
    exists,
    false,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from registry import lifecycle
from registry.dtm import dtm_key
from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import (
    Association,
    AssociationType,
    Author,
    Code,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)
from registry.migrations import upgrade_engine
from registry.store import (
    AssociationQuery,
    DocumentEntryQuery,
    FolderQuery,
    LifecyclePlan,
    ObjectKind,
    RegistryStore,
    StatusChange,
    StoredObject,
    SubmissionSetQuery,
)
from registry.tables import (
    association,
    document_author,
    document_code,
    document_entry,
    document_reference_id,
    folder,
    folder_code,
    submission_set,
    submission_set_author,
)

T = TypeVar("T")

EVENT = "event"
CONFIDENTIALITY = "confidentiality"

_OBJECT_TABLES = (
    (ObjectKind.DOCUMENT_ENTRY, document_entry),
    (ObjectKind.SUBMISSION_SET, submission_set),
    (ObjectKind.FOLDER, folder),
    (ObjectKind.ASSOCIATION, association),
)
_KIND_OF = {table.name: kind for kind, table in _OBJECT_TABLES}

# Bound parameters per statement stay well under SQLite's and PostgreSQL's limits.
_CHUNK = 500
_SQLITE_BUSY_TIMEOUT_S = 30
# Connections kept open: more than the requests usually in flight, so that a busy service reuses
# them instead of opening and closing overflow connections (a new PostgreSQL connection costs
# milliseconds); at most as many as the worker threads that handle requests (40).
_POOL_SIZE = 10
_POOL_OVERFLOW = 30


def normalize_url(url: str) -> str:
    """Return `url` with PostgreSQL URLs pointed at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_registry_engine(url: str) -> Engine:
    """Return an engine for `url`, set up for many threads; creates a SQLite file's folder."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            parsed, pool_pre_ping=True, pool_size=_POOL_SIZE, max_overflow=_POOL_OVERFLOW
        )

    database = parsed.database or ""
    if database in ("", ":memory:"):
        # One shared connection: an in-memory database exists only inside it.
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            connect_args={"check_same_thread": False, "timeout": _SQLITE_BUSY_TIMEOUT_S},
            pool_size=_POOL_SIZE,
            max_overflow=_POOL_OVERFLOW,
        )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by _on_begin below, not by the sqlite3 module's guesswork.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock up front; a deferred BEGIN that upgrades to writing
        # later fails at once with "database is locked" instead of waiting its turn.
        write = connection.get_execution_options().get("xcads_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class SqlRegistryStore(RegistryStore):
    """Registry objects in SQL tables; the schema is migrated to the newest on construction."""

    def __init__(self, url: str) -> None:
        self._engine = create_registry_engine(url)
        upgrade_engine(self._engine)
        # SQLite has one writer at a time, and a writer that finds the lock taken polls for it
        # with growing sleeps (up to 100 ms). Threads of this process queue here instead and get
        # the lock the moment it is free; BEGIN IMMEDIATE still guards against other processes.
        self._write_lock: AbstractContextManager[Any] = (
            threading.Lock() if self._engine.dialect.name == "sqlite" else nullcontext()
        )

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for maintenance and tests."""
        return self._engine

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def register(
        self,
        submission: Submission,
        before_commit: Callable[[], None],
        plan: LifecyclePlan | None = None,
    ) -> None:
        """Store a whole submission in one transaction; see `RegistryStore.register`."""
        issues = _duplicates_in_message(submission)
        if issues:
            raise XdsError(issues)
        if plan is None:
            plan = lifecycle.plan(submission, self)

        try:
            with self._write() as connection:
                issues = _conflicts_with_registry(connection, submission, plan)
                if issues:
                    raise XdsError(issues)
                _insert(connection, submission, plan.associations)
                for change in plan.status_changes:
                    _change_status(connection, change)
                _touch_folders(connection, submission, plan.associations)
                before_commit()
        except IntegrityError as exc:
            # Another transaction stored the same uniqueId (or the same new version) after our
            # check; name it if we can.
            with self._read() as connection:
                issues = _conflicts_with_registry(connection, submission, plan)
            raise XdsError(issues or _race_issue(submission, plan)) from exc

    def document_entry_versions(self, logical_ids: list[str]) -> list[DocumentEntry]:
        """Return every version of the DocumentEntries with these logicalIDs, any status."""
        found: list[DocumentEntry] = []
        with self._read() as connection:
            for chunk in _chunks(list(dict.fromkeys(logical_ids))):
                statement = (
                    select(document_entry.c.metadata)
                    .where(document_entry.c.logical_id.in_(chunk))
                    .order_by(document_entry.c.logical_id, document_entry.c.entry_uuid)
                )
                found += [from_json(DocumentEntry, text) for text in connection.scalars(statement)]
        return found

    def remove_objects(self, entry_uuids: list[str]) -> None:
        """Delete these registry objects in one transaction, all or none; see the interface."""
        requested = list(dict.fromkeys(entry_uuids))
        with self._write() as connection:
            stored = _stored_kinds(connection, requested)
            references = _associations_referring_to(connection, requested)
            # What the removed Associations link must stay in a SubmissionSet.
            links = [i for i, kind in stored.items() if kind == ObjectKind.ASSOCIATION]
            linked = _ends(_associations_named(connection, links)) - set(requested)
            around = _associations_referring_to(connection, sorted(linked))
            kinds = _stored_kinds(connection, sorted(_ends(around)))
            issues = lifecycle.removal_issues(requested, set(stored), references, around, kinds)
            if issues:
                raise XdsError(issues)
            # Codes, authors and reference ids go with their object (ON DELETE CASCADE).
            for _, table in _OBJECT_TABLES:
                for chunk in _chunks(requested):
                    connection.execute(table.delete().where(table.c.entry_uuid.in_(chunk)))

    def document_entries_by_unique_id(self, unique_ids: list[str]) -> list[DocumentEntry]:
        """Return the DocumentEntries with these uniqueIds, any status, in the order asked."""
        return self._objects_by(document_entry, DocumentEntry, "unique_id", unique_ids)

    def document_entries_by_uuid(self, entry_uuids: list[str]) -> list[DocumentEntry]:
        """Return the DocumentEntries with these entryUUIDs, any status, in the order asked."""
        return self._objects_by(document_entry, DocumentEntry, "entry_uuid", entry_uuids)

    def stored_objects(self, entry_uuids: list[str]) -> list[StoredObject]:
        """Return the registry objects of any kind with these entryUUIDs, any status."""
        # One round trip per chunk: each table is a branch of one UNION ALL.
        found: list[StoredObject] = []
        with self._read() as connection:
            for chunk in _chunks(list(dict.fromkeys(entry_uuids))):
                branches = [
                    select(
                        literal(table.name),
                        table.c.entry_uuid,
                        table.c.patient_id if "patient_id" in table.c else null(),
                        table.c.availability_status,
                    ).where(table.c.entry_uuid.in_(chunk))
                    for _, table in _OBJECT_TABLES
                ]
                for table_name, entry_uuid, patient_id, status in connection.execute(
                    union_all(*branches)
                ):
                    found.append(StoredObject(entry_uuid, _KIND_OF[table_name], patient_id, status))
        return found

    def find_document_entries(self, query: DocumentEntryQuery, limit: int) -> list[DocumentEntry]:
        """Return at most `limit` DocumentEntries matching `query`, ordered by entryUUID."""
        criteria = _document_entry_criteria(query)
        return self._find(document_entry, DocumentEntry, criteria, limit, within=query.entry_uuids)

    def submission_sets_by_uuid(self, entry_uuids: list[str]) -> list[SubmissionSet]:
        """Return the SubmissionSets with these entryUUIDs, any status, in the order asked."""
        return self._objects_by(submission_set, SubmissionSet, "entry_uuid", entry_uuids)

    def submission_sets_by_unique_id(self, unique_ids: list[str]) -> list[SubmissionSet]:
        """Return the SubmissionSets with these uniqueIds, any status, in the order asked."""
        return self._objects_by(submission_set, SubmissionSet, "unique_id", unique_ids)

    def find_submission_sets(self, query: SubmissionSetQuery, limit: int) -> list[SubmissionSet]:
        """Return at most `limit` SubmissionSets matching `query`, ordered by entryUUID."""
        return self._find(submission_set, SubmissionSet, _submission_set_criteria(query), limit)

    def folders_by_uuid(self, entry_uuids: list[str]) -> list[Folder]:
        """Return the Folders with these entryUUIDs, any status, in the order asked."""
        return self._objects_by(folder, Folder, "entry_uuid", entry_uuids)

    def folders_by_unique_id(self, unique_ids: list[str]) -> list[Folder]:
        """Return the Folders with these uniqueIds, any status, in the order asked."""
        return self._objects_by(folder, Folder, "unique_id", unique_ids)

    def find_folders(self, query: FolderQuery, limit: int) -> list[Folder]:
        """Return at most `limit` Folders matching `query`, ordered by entryUUID."""
        return self._find(folder, Folder, _folder_criteria(query), limit)

    def find_associations(self, query: AssociationQuery, limit: int) -> list[Association]:
        """Return at most `limit` Associations matching `query`, ordered by entryUUID."""
        a = association.c
        criteria: list[ColumnElement[bool]] = []
        if query.association_types is not None:
            criteria.append(a.association_type.in_(query.association_types))
        if query.availability_statuses is not None:
            criteria.append(a.availability_status.in_(query.availability_statuses))

        ends = [
            (objects, end)
            for objects, end in (
                (query.objects, _EITHER_END),
                (query.source_objects, "source_object"),
                (query.target_objects, "target_object"),
            )
            if objects is not None
        ]
        if not ends:
            raise ValueError("an AssociationQuery names the objects of one end at least")

        # The first end given selects rows through an index, chunk by chunk; the others are
        # checked here, so the database may cut at `limit` only when there are none.
        (driving, driving_end), others = ends[0], [(set(o), end) for o, end in ends[1:]]
        found: dict[str, Association] = {}
        with self._read() as connection:
            for chunk in _chunks(list(dict.fromkeys(driving))):
                statement = (
                    select(a.metadata)
                    .where(*criteria, _association_end_in(driving_end, chunk))
                    .order_by(a.entry_uuid)
                )
                if not others:
                    statement = statement.limit(limit)
                for text in connection.scalars(statement):
                    link = from_json(Association, text)
                    if all(_has_end(link, objects, end) for objects, end in others):
                        found[link.entry_uuid] = link
        return [found[key] for key in sorted(found)[:limit]]

    def _find(
        self,
        table: Table,
        cls: type[T],
        criteria: list[ColumnElement[bool]],
        limit: int,
        *,
        within: list[str] | None = None,
    ) -> list[T]:
        """At most `limit` objects meeting `criteria` (and in `within`, if given), by entryUUID."""
        if within is None:
            groups = [criteria]
        else:
            chunks = _chunks(list(dict.fromkeys(within)))
            groups = [[*criteria, table.c.entry_uuid.in_(chunk)] for chunk in chunks]

        rows: list[tuple[str, str]] = []
        with self._read() as connection:
            for group in groups:
                statement = (
                    select(table.c.entry_uuid, table.c.metadata)
                    .where(*group)
                    .order_by(table.c.entry_uuid)
                    .limit(limit)
                )
                rows += [(key, text) for key, text in connection.execute(statement)]
        rows.sort()
        return [from_json(cls, text) for _, text in rows[:limit]]

    def _objects_by(self, table: Table, cls: type[T], key: str, keys: list[str]) -> list[T]:
        """The objects whose column `key` holds one of `keys`, in the order of `keys`."""
        # A uniqueId may name several objects: the versions of one document (ITI-57).
        found: dict[str, list[T]] = {}
        with self._read() as connection:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                statement = (
                    select(table.c[key], table.c.metadata)
                    .where(table.c[key].in_(chunk))
                    .order_by(table.c.entry_uuid)
                )
                for value, text in connection.execute(statement):
                    found.setdefault(value, []).append(from_json(cls, text))
        return [obj for k in dict.fromkeys(keys) for obj in found.get(k, [])]

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self._engine.connect() as connection:
            connection.execution_options(xcads_write=True)
            with connection.begin():
                yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as connection, connection.begin():
            yield connection

    def registered_unique_ids(self, unique_ids: list[str]) -> set[str]:
        """Return those of these uniqueIds that some DocumentEntry has, any status or repository."""
        found: set[str] = set()
        column = document_entry.c.unique_id
        with self._read() as connection:
            for chunk in _chunks(list(dict.fromkeys(unique_ids))):
                found.update(connection.scalars(select(column).where(column.in_(chunk))))
        return found

    def document_unique_ids(
        self, repository_unique_id: str, *, after: str | None = None, limit: int = 1000
    ) -> list[str]:
        """Return the next `limit` uniqueIds above `after` of DocumentEntries in a repository."""
        c = document_entry.c
        criteria = [c.repository_unique_id == repository_unique_id]
        if after is not None:
            criteria.append(c.unique_id > after)
        statement = (
            select(c.unique_id).where(*criteria).group_by(c.unique_id).order_by(c.unique_id)
        ).limit(limit)
        with self._read() as connection:
            return list(connection.scalars(statement))


def _document_entry_criteria(query: DocumentEntryQuery) -> list[ColumnElement[bool]]:
    c = document_entry.c
    criteria: list[ColumnElement[bool]] = []
    if query.patient_id is not None:
        criteria.append(c.patient_id == query.patient_id)
    if query.availability_statuses is not None:
        criteria.append(c.availability_status.in_(query.availability_statuses))
    if query.object_types is not None:
        criteria.append(c.object_type.in_(query.object_types))

    for codes, code_column, scheme_column in (
        (query.class_codes, c.class_code, c.class_code_scheme),
        (query.type_codes, c.type_code, c.type_code_scheme),
        (query.practice_setting_codes, c.practice_setting_code, c.practice_setting_code_scheme),
        (
            query.healthcare_facility_type_codes,
            c.healthcare_facility_type_code,
            c.healthcare_facility_type_code_scheme,
        ),
        (query.format_codes, c.format_code, c.format_code_scheme),
    ):
        if codes is not None:
            criteria.append(_any_code(codes, code_column, scheme_column))

    for kind, groups in (
        (EVENT, query.event_codes),
        (CONFIDENTIALITY, query.confidentiality_codes),
    ):
        for codes in groups:
            d = document_code.c
            matches = _any_code(codes, d.code, d.scheme)
            criteria.append(exists().where(d.entry_uuid == c.entry_uuid, d.kind == kind, matches))

    for reference_ids in query.reference_ids:
        r = document_reference_id.c
        matches = r.reference_id.in_(reference_ids)
        criteria.append(exists().where(r.entry_uuid == c.entry_uuid, matches))

    for column, low, high in (
        (c.creation_time, query.creation_time_from, query.creation_time_to),
        (c.service_start_time, query.service_start_time_from, query.service_start_time_to),
        (c.service_stop_time, query.service_stop_time_from, query.service_stop_time_to),
    ):
        criteria += _time_range(column, low, high)

    if query.author_persons is not None:
        criteria.append(_author_matches(document_author, c.entry_uuid, query.author_persons))

    return criteria


def _submission_set_criteria(query: SubmissionSetQuery) -> list[ColumnElement[bool]]:
    c = submission_set.c
    criteria: list[ColumnElement[bool]] = [
        c.patient_id == query.patient_id,
        c.availability_status.in_(query.availability_statuses),
        *_time_range(c.submission_time, query.submission_time_from, query.submission_time_to),
    ]
    if query.source_ids is not None:
        criteria.append(c.source_id.in_(query.source_ids))
    if query.content_type_codes is not None:
        codes = query.content_type_codes
        criteria.append(_any_code(codes, c.content_type_code, c.content_type_code_scheme))
    if query.author_person is not None:
        criteria.append(_author_matches(submission_set_author, c.entry_uuid, [query.author_person]))
    return criteria


def _folder_criteria(query: FolderQuery) -> list[ColumnElement[bool]]:
    c = folder.c
    criteria: list[ColumnElement[bool]] = [
        c.patient_id == query.patient_id,
        c.availability_status.in_(query.availability_statuses),
        *_time_range(c.last_update_time, query.last_update_time_from, query.last_update_time_to),
    ]
    for codes in query.codes:
        f = folder_code.c
        matches = _any_code(codes, f.code, f.scheme)
        criteria.append(exists().where(f.entry_uuid == c.entry_uuid, matches))
    return criteria


def _time_range(column: Any, low: str | None, high: str | None) -> list[ColumnElement[bool]]:
    criteria = []
    if low is not None:
        criteria.append(column >= _required_dtm_key(low))
    if high is not None:
        criteria.append(column < _required_dtm_key(high))
    return criteria


def _author_matches(table: Table, owner: Any, patterns: list[str]) -> ColumnElement[bool]:
    a = table.c
    likes = [a.person.like(_author_pattern(p), escape="\\") for p in patterns]
    return exists().where(a.entry_uuid == owner, _any_of(likes))


_EITHER_END = "either"


def _association_end_in(end: str, objects: list[str]) -> ColumnElement[bool]:
    a = association.c
    if end == _EITHER_END:
        return or_(a.source_object.in_(objects), a.target_object.in_(objects))
    return a[end].in_(objects)


def _has_end(link: Association, objects: set[str], end: str) -> bool:
    if end == _EITHER_END:
        return link.source_object in objects or link.target_object in objects
    return getattr(link, end) in objects


def _any_code(codes: list[Code], code_column: Any, scheme_column: Any) -> ColumnElement[bool]:
    # One IN list per coding scheme keeps the expression shallow however many codes are asked.
    by_scheme: dict[str, list[str]] = {}
    for code in codes:
        by_scheme.setdefault(code.coding_scheme, []).append(code.code)
    return _any_of(
        [
            and_(scheme_column == scheme, code_column.in_(values))
            for scheme, values in by_scheme.items()
        ]
    )


# SQLite parses `a OR b OR ...` into a tree as deep as the list is long, and refuses trees deeper
# than 1000; grouping the alternatives bounds the depth for any number of them.
_OR_GROUP = 32


def _any_of(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    # The SQL compiler flattens nested ORs, so each group hides behind a CASE of its own.
    while len(clauses) > _OR_GROUP:
        clauses = [
            case((or_(*clauses[start : start + _OR_GROUP]), 1), else_=0) == 1
            for start in range(0, len(clauses), _OR_GROUP)
        ]
    return or_(false(), *clauses)


def _required_dtm_key(value: str) -> str:
    key = dtm_key(value)
    if key is None:
        raise ValueError(f"not a DTM: {value!r}")
    return key


def _author_pattern(pattern: str) -> str:
    # Author search ignores case: persons are stored lower-cased, so lower the pattern too. A
    # backslash is the escape character on both backends, so a literal one is doubled.
    return pattern.lower().replace("\\", "\\\\")


def _duplicates_in_message(submission: Submission) -> list[Issue]:
    issues: list[Issue] = []
    objects = _identified_objects(submission)

    unique_ids = Counter(unique_id for _, unique_id, _ in objects)
    reported: set[str] = set()
    for entry_uuid, unique_id, _ in objects:
        if unique_ids[unique_id] > 1 and unique_id not in reported:
            reported.add(unique_id)
            issues.append(
                Issue(
                    ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE,
                    f"uniqueId {unique_id} is used more than once in the submission",
                    entry_uuid,
                    "uniqueId",
                )
            )

    entry_uuids = Counter(submission.entry_uuids())
    for entry_uuid, count in entry_uuids.items():
        if count > 1:
            issues.append(
                Issue(
                    ErrorCode.REGISTRY_METADATA_ERROR,
                    f"entryUUID {entry_uuid} is used more than once in the submission",
                    entry_uuid,
                    "entryUUID",
                )
            )
    return issues


def _conflicts_with_registry(
    connection: Connection, submission: Submission, plan: LifecyclePlan
) -> list[Issue]:
    wanted: dict[str, dict[str, str]] = {}
    for entry_uuid, unique_id, table in _identified_objects(submission):
        # A new version shares its uniqueId with the versions before it.
        if entry_uuid not in plan.new_versions:
            wanted.setdefault(table.name, {})[unique_id] = entry_uuid
    entry_uuids = list(dict.fromkeys(submission.entry_uuids()))

    # One round trip for the usual submission: every lookup is a branch of one UNION ALL.
    lookups = [
        select(literal("unique_id"), literal(table.name), table.c.unique_id).where(
            table.c.unique_id.in_(chunk)
        )
        for table in (document_entry, submission_set, folder)
        for chunk in _chunks(list(wanted.get(table.name, {})))
    ]
    lookups += [
        select(literal("entry_uuid"), literal(table.name), table.c.entry_uuid).where(
            table.c.entry_uuid.in_(chunk)
        )
        for table in (document_entry, submission_set, folder, association)
        for chunk in _chunks(entry_uuids)
    ]
    if not lookups:
        return []
    found = connection.execute(union_all(*lookups)).all()

    issues = [
        Issue(
            ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
            f"uniqueId {value} is already in the registry",
            wanted[table_name][value],
            "uniqueId",
        )
        for kind, table_name, value in found
        if kind == "unique_id"
    ]
    issues += [
        Issue(
            ErrorCode.REGISTRY_METADATA_ERROR,
            f"entryUUID {value} is already in the registry",
            value,
            "entryUUID",
        )
        for kind, _, value in found
        if kind == "entry_uuid"
    ]
    return issues


def _race_issue(submission: Submission, plan: LifecyclePlan) -> Issue:
    if plan.new_versions:
        return Issue(
            ErrorCode.METADATA_VERSION_ERROR,
            "another update of the same document was stored concurrently",
            next(iter(plan.new_versions)),
            "PreviousVersion",
        )
    return Issue(
        ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
        "a uniqueId or entryUUID of the submission was stored concurrently",
        submission.submission_set.entry_uuid,
        "uniqueId",
    )


def _touch_folders(connection: Connection, submission: Submission, made: list[Association]) -> None:
    """Set lastUpdateTime of each stored Folder that gains a DocumentEntry (ITI TF-3 4.2.3.4.3)."""
    entries = {e.entry_uuid for e in submission.document_entries}
    new_folders = {f.entry_uuid for f in submission.folders}
    gaining = {
        link.source_object
        for link in [*submission.associations, *made]
        if link.association_type == AssociationType.HAS_MEMBER
        and link.target_object in entries
        and link.source_object not in new_folders
    }
    if not gaining:
        return
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    for chunk in _chunks(sorted(gaining)):
        rows = connection.execute(
            select(folder.c.entry_uuid, folder.c.metadata).where(folder.c.entry_uuid.in_(chunk))
        ).all()
        for entry_uuid, text in rows:
            data = json.loads(text)
            data["last_update_time"] = now
            connection.execute(
                update(folder)
                .where(folder.c.entry_uuid == entry_uuid)
                .values(last_update_time=dtm_key(now), metadata=_dumps(data))
            )


def _change_status(connection: Connection, change: StatusChange) -> None:
    """Compare-and-set one object's status, in its column and in its stored metadata."""
    table = dict(_OBJECT_TABLES)[change.kind]
    key = table.c.entry_uuid == change.entry_uuid
    # The conditional update also locks the row, so a concurrent change waits and then misses.
    result = connection.execute(
        update(table)
        .where(key, table.c.availability_status == change.original_status)
        .values(availability_status=change.new_status)
    )
    if result.rowcount != 1:
        raise XdsError(change.conflict)

    data = json.loads(connection.scalar(select(table.c.metadata).where(key)))
    data["availability_status"] = change.new_status
    connection.execute(update(table).where(key).values(metadata=_dumps(data)))


def _stored_kinds(connection: Connection, entry_uuids: list[str]) -> dict[str, ObjectKind]:
    stored: dict[str, ObjectKind] = {}
    for kind, table in _OBJECT_TABLES:
        for chunk in _chunks(entry_uuids):
            statement = select(table.c.entry_uuid).where(table.c.entry_uuid.in_(chunk))
            stored.update((entry_uuid, kind) for entry_uuid in connection.scalars(statement))
    return stored


def _associations_named(connection: Connection, entry_uuids: list[str]) -> list[Association]:
    found: list[Association] = []
    for chunk in _chunks(entry_uuids):
        statement = select(association.c.metadata).where(association.c.entry_uuid.in_(chunk))
        found += [from_json(Association, text) for text in connection.scalars(statement)]
    return found


def _ends(links: Iterable[Association]) -> set[str]:
    return {end for link in links for end in (link.source_object, link.target_object)}


def _associations_referring_to(connection: Connection, entry_uuids: list[str]) -> list[Association]:
    found: dict[str, Association] = {}
    for chunk in _chunks(entry_uuids):
        statement = select(association.c.metadata).where(_association_end_in(_EITHER_END, chunk))
        for text in connection.scalars(statement):
            link = from_json(Association, text)
            found[link.entry_uuid] = link
    return list(found.values())


def _identified_objects(submission: Submission) -> list[tuple[str, str, Table]]:
    """Every object that has a uniqueId, as (entryUUID, uniqueId, table)."""
    objects = [
        (submission.submission_set.entry_uuid, submission.submission_set.unique_id, submission_set)
    ]
    objects += [(e.entry_uuid, e.unique_id, document_entry) for e in submission.document_entries]
    objects += [(f.entry_uuid, f.unique_id, folder) for f in submission.folders]
    return objects


def _insert(connection: Connection, submission: Submission, made: list[Association]) -> None:
    for table, table_rows in submission_rows(submission, made):
        if table_rows:
            connection.execute(table.insert(), table_rows)


def submission_rows(
    submission: Submission, made: list[Association] | None = None
) -> list[tuple[Table, list[dict[str, Any]]]]:
    """The rows `register` writes for `submission` (and the registry's own `made` Associations).

    Tables come parents first, in the order rows must be written; a bulk loader that writes these
    rows itself gets exactly what registering would have stored.
    """
    entries = submission.document_entries
    sets = [submission.submission_set]
    links = [*submission.associations, *(made or [])]
    return [
        (document_entry, [_document_entry_row(e) for e in entries]),
        (document_code, [row for e in entries for row in _document_code_rows(e)]),
        (document_author, [row for e in entries for row in _author_rows(e.entry_uuid, e.authors)]),
        (document_reference_id, [row for e in entries for row in _reference_id_rows(e)]),
        (submission_set, [_submission_set_row(s) for s in sets]),
        (
            submission_set_author,
            [row for s in sets for row in _author_rows(s.entry_uuid, s.authors)],
        ),
        (folder, [_folder_row(f) for f in submission.folders]),
        (folder_code, [row for f in submission.folders for row in _folder_code_rows(f)]),
        (association, [_association_row(a) for a in links]),
    ]


def _code_values(name: str, code: Code | None) -> dict[str, str | None]:
    return {
        name: code.code if code else None,
        f"{name}_scheme": code.coding_scheme if code else None,
    }


def _document_entry_row(entry: DocumentEntry) -> dict[str, Any]:
    return {
        "entry_uuid": entry.entry_uuid,
        "unique_id": entry.unique_id,
        "patient_id": entry.patient_id,
        "availability_status": str(entry.availability_status),
        "object_type": str(entry.object_type),
        **_code_values("class_code", entry.class_code),
        **_code_values("type_code", entry.type_code),
        **_code_values("format_code", entry.format_code),
        **_code_values("healthcare_facility_type_code", entry.healthcare_facility_type_code),
        **_code_values("practice_setting_code", entry.practice_setting_code),
        "creation_time": dtm_key(entry.creation_time),
        "service_start_time": dtm_key(entry.service_start_time),
        "service_stop_time": dtm_key(entry.service_stop_time),
        "repository_unique_id": entry.repository_unique_id,
        "logical_id": entry.logical_id or entry.entry_uuid,
        "version": entry.version or lifecycle.FIRST_VERSION,
        "metadata": to_json(entry),
    }


def _document_code_rows(entry: DocumentEntry) -> list[dict[str, str]]:
    keys = {(EVENT, c.code, c.coding_scheme) for c in entry.event_code_list}
    keys |= {(CONFIDENTIALITY, c.code, c.coding_scheme) for c in entry.confidentiality_codes}
    return [
        {"entry_uuid": entry.entry_uuid, "kind": kind, "code": code, "scheme": scheme}
        for kind, code, scheme in sorted(keys)
    ]


def _reference_id_rows(entry: DocumentEntry) -> list[dict[str, str]]:
    return [
        {"entry_uuid": entry.entry_uuid, "reference_id": reference_id}
        for reference_id in sorted(set(entry.reference_id_list))
    ]


def _author_rows(entry_uuid: str, authors: list[Author]) -> list[dict[str, str]]:
    persons = {a.person.lower() for a in authors if a.person}
    return [{"entry_uuid": entry_uuid, "person": person} for person in sorted(persons)]


def _submission_set_row(submission_set_: SubmissionSet) -> dict[str, Any]:
    return {
        "entry_uuid": submission_set_.entry_uuid,
        "unique_id": submission_set_.unique_id,
        "patient_id": submission_set_.patient_id,
        "source_id": submission_set_.source_id,
        "submission_time": dtm_key(submission_set_.submission_time),
        **_code_values("content_type_code", submission_set_.content_type_code),
        "availability_status": str(submission_set_.availability_status),
        "metadata": to_json(submission_set_),
    }


def _folder_row(folder_: Folder) -> dict[str, Any]:
    return {
        "entry_uuid": folder_.entry_uuid,
        "unique_id": folder_.unique_id,
        "patient_id": folder_.patient_id,
        "last_update_time": dtm_key(folder_.last_update_time),
        "availability_status": str(folder_.availability_status),
        "metadata": to_json(folder_),
    }


def _folder_code_rows(folder_: Folder) -> list[dict[str, str]]:
    keys = {(c.code, c.coding_scheme) for c in folder_.code_list}
    return [
        {"entry_uuid": folder_.entry_uuid, "code": code, "scheme": scheme}
        for code, scheme in sorted(keys)
    ]


def _association_row(association_: Association) -> dict[str, Any]:
    return {
        "entry_uuid": association_.entry_uuid,
        "association_type": str(association_.association_type),
        "source_object": association_.source_object,
        "target_object": association_.target_object,
        "availability_status": str(association_.availability_status),
        "metadata": to_json(association_),
    }


def to_json(obj: Any) -> str:
    """Serialize a metadata dataclass, nested codes and authors included."""
    return _dumps(_plain(obj))


def _plain(value: Any) -> Any:
    """What `dataclasses.asdict` makes of `value`, without its deep copy of every leaf.

    The copy is most of the cost of writing an entry, and the result is only serialized.
    """
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    names = _field_names(type(value))
    if names is None:
        return value
    return {name: _plain(getattr(value, name)) for name in names}


@cache
def _field_names(cls: type) -> tuple[str, ...] | None:
    return tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def from_json(cls: type[T], text: str) -> T:
    """Rebuild a metadata dataclass from `to_json` output; unknown keys are ignored."""
    return _adapter(cls).validate_json(text)


@cache
def _adapter(cls: type[T]) -> TypeAdapter[T]:
    # pydantic-core reads the JSON straight into the dataclasses, in a third of the time that
    # json.loads and rebuilding the nested Codes and Authors took, a query's largest part.
    return TypeAdapter(cls)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
