"""FHIR to XDS: the mapping of MHD 3:4.5 (DocumentReference, SubmissionSet List) for ITI-65.

Required elements are those of the IHE.MHD.Comprehensive profiles (or Minimal, as declared).
attachment.language and context.sourcePatientInfo are required by the registry's rules (ITI TF-3
Table 4.3.1-3, column XDS DS) rather than here, because the Norwegian profile relaxes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mhd.bundle import Entry, ProvideBundle
from mhd.datatypes import (
    ENCOUNTER_ID_TYPE,
    PID_8,
    URN_OID,
    URN_UUID,
    coded_string,
    coding_scheme,
    cx,
    cxi,
    dtm,
    escape,
    oid_identifier,
    unique_id,
    xcn,
    xon,
    xtn,
)
from mhd.outcome import (
    DOCUMENT_ENTRY_PATHS,
    FOLDER_PATHS,
    SUBMISSION_SET_PATHS,
    BundleRejected,
    FhirIssue,
    Locator,
)
from registry.errors import ErrorCode
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

MHD_EXTENSION = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
MHD_PROFILE = MHD_EXTENSION + "IHE.MHD."
COMPREHENSIVE = "Comprehensive"
MINIMAL = "Minimal"

# relatesTo.code to XDS Association (MHD ConceptMap AssociationTypeVsRelatesTo).
RELATES_TO = {
    "replaces": AssociationType.REPLACE,
    "transforms": AssociationType.TRANSFORM,
    "appends": AssociationType.APPEND,
    "signs": AssociationType.SIGNS,
}
SOURCE_ID = MHD_EXTENSION + "ihe-sourceId"
DESIGNATION_TYPE = MHD_EXTENSION + "ihe-designationType"
INTENDED_RECIPIENT = MHD_EXTENSION + "ihe-intendedRecipient"
AUTHOR_ORG = MHD_EXTENSION + "ihe-authorOrg"


@dataclass
class MappedSubmission:
    """The XDS side of an ITI-65 bundle, with its documents and the way back to FHIRPaths."""

    submission: Submission
    contents: dict[str, bytes] = field(default_factory=dict)
    expected: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    locator: Locator = field(default_factory=Locator)
    locations: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)


def map_submission(
    bundle: ProvideBundle, registered: Callable[[list[str]], set[str]] | None = None
) -> MappedSubmission:
    """Map a bundle to a Submission; raise BundleRejected listing every element at fault.

    `registered` tells which of some entryUUIDs the registry holds already. A `urn:uuid:` fullUrl
    is the entryUUID unless it is one of those: FHIR makes a transaction's fullUrls temporary
    (http.html#trules), so a sender may use the same ones in every bundle it sends.
    """
    full_urls = [
        entry.full_url.lower()
        for entry in bundle.entries
        if entry.full_url and entry.full_url.lower().startswith(URN_UUID)
    ]
    mapper = _Mapper(bundle, registered(full_urls) if registered and full_urls else set())
    mapped = mapper.run()
    if mapper.issues:
        raise BundleRejected(mapper.issues)
    return mapped


class _Mapper:
    """Maps one bundle, collecting every problem instead of stopping at the first."""

    def __init__(self, bundle: ProvideBundle, taken_full_urls: set[str]) -> None:
        self.bundle = bundle
        self.taken_full_urls = taken_full_urls
        self.issues: list[FhirIssue] = []
        self.locator = Locator()
        self.option = COMPREHENSIVE
        self.entry_uuids: dict[int, str] = {}

    def run(self) -> MappedSubmission:
        self.option = metadata_option(self.bundle.submission_set, self.bundle)
        submission_set = self._submission_set(self.bundle.submission_set)
        mapped = MappedSubmission(Submission(submission_set), locator=self.locator)

        for entry in self.bundle.document_references:
            self.option = metadata_option(entry, self.bundle)
            document_entry = self._document_entry(entry, mapped)
            self.entry_uuids[entry.index] = document_entry.entry_uuid
            mapped.submission.document_entries.append(document_entry)
            mapped.submission.associations.append(
                self._has_member(submission_set.entry_uuid, document_entry.entry_uuid, "Original")
            )

        for entry in self.bundle.folders:
            self.option = metadata_option(entry, self.bundle)
            self._folder(entry, mapped)
        for entry in self.bundle.document_references:
            self._relationships(entry, mapped)
        self._superseded(mapped)

        mapped.locations = [self._location(entry, mapped) for entry in self.bundle.entries]
        mapped.statuses = [_status(entry) for entry in self.bundle.entries]
        return mapped

    def _has_member(self, source: str, target: str, status: str | None = None) -> Association:
        return Association(
            entry_uuid=new_uuid(),
            association_type=AssociationType.HAS_MEMBER,
            source_object=source,
            target_object=target,
            submission_set_status=status,
        )

    @property
    def comprehensive(self) -> bool:
        """True while mapping a resource that declares (or defaults to) Comprehensive metadata."""
        return self.option == COMPREHENSIVE

    # Folder (MHD 3:4.5.3): a new Folder (POST) or more members for an existing one (PUT)

    def _folder(self, entry: Entry, mapped: MappedSubmission) -> None:
        folder_list, at = entry.resource, entry.path
        submission = mapped.submission
        if entry.method == "PUT":
            folder_uuid = self._existing_folder_uuid(entry)
        else:
            folder = self._new_folder(entry)
            folder_uuid = folder.entry_uuid
            submission.folders.append(folder)
            submission.associations.append(
                self._has_member(submission.submission_set.entry_uuid, folder_uuid)
            )
        self.entry_uuids[entry.index] = folder_uuid

        for position, item in enumerate(folder_list.entry or []):
            reference = item.item.reference if item.item else None
            target = self.bundle.entry_for(reference)
            where = f"{at}.entry[{position}].item"
            if target is not None and target.resource_type == "DocumentReference":
                membership = self._has_member(folder_uuid, self.entry_uuids[target.index])
                self.locator.add_object(membership.entry_uuid, where, {})
                submission.associations += [
                    membership,
                    self._has_member(submission.submission_set.entry_uuid, membership.entry_uuid),
                ]
            elif entry.method == "POST" or target is not None:
                message = (
                    f"Folder member {reference!r} is not a DocumentReference of this Bundle;"
                    " a Provide Document Bundle adds only the documents it carries to a Folder"
                )
                self.issues.append(FhirIssue(ErrorCode.UNRESOLVED_REFERENCE, message, where))

    def _new_folder(self, entry: Entry) -> Folder:
        folder_list, at = entry.resource, entry.path
        entry_uuid, usual = self._list_identity(entry, FOLDER_PATHS)
        code_list = [
            code
            for position, extension in enumerate(folder_list.extension or [])
            if extension.url == DESIGNATION_TYPE
            and (
                code := self._code(
                    extension.valueCodeableConcept,
                    f"{at}.extension[{position}].valueCodeableConcept",
                    required=True,
                )
            )
        ]
        if not code_list and self.comprehensive:
            self._missing("extension ihe-designationType (codeList)", f"{at}.extension")
        return Folder(
            entry_uuid=entry_uuid,
            unique_id=unique_id(usual.system, usual.value or "") if usual else "",
            patient_id=self._patient_id(folder_list.subject, entry, f"{at}.subject") or "",
            code_list=code_list,
            title=self._required(folder_list.title, "title", f"{at}.title"),
            comments="\n".join(note.text for note in folder_list.note or [] if note.text) or None,
            limited_metadata=not self.comprehensive,
        )

    def _existing_folder_uuid(self, entry: Entry) -> str:
        """The entryUUID of the Folder a PUT updates: its official identifier, else its id."""
        official = [
            identifier.value.lower()
            for identifier in entry.resource.identifier or []
            if identifier.use == "official"
            and (identifier.value or "").lower().startswith(URN_UUID)
        ]
        url = entry.request_url or ""
        if official:
            folder_uuid = official[0]
        elif url.startswith("List/") and _is_uuid(url.removeprefix("List/")):
            folder_uuid = URN_UUID + url.removeprefix("List/").lower()
        else:
            message = f"request.url {url!r} must name the Folder as List/<its entryUUID's uuid>"
            self._invalid(message, f"Bundle.entry[{entry.index}].request.url")
            folder_uuid = new_uuid()
        self.locator.add_object(folder_uuid, entry.path, FOLDER_PATHS)
        return folder_uuid

    # relatesTo (MHD 3:4.5.1.1, ConceptMap AssociationTypeVsRelatesTo)

    def _relationships(self, entry: Entry, mapped: MappedSubmission) -> None:
        source = self.entry_uuids[entry.index]
        for position, relation in enumerate(entry.resource.relatesTo or []):
            at = f"{entry.path}.relatesTo[{position}]"
            association_type = RELATES_TO.get(relation.code)
            if association_type is None:
                self._invalid(f"relatesTo code {relation.code!r} has no XDS Association", at)
                continue
            target = self._relates_to_target(relation.target, f"{at}.target")
            if target is None:
                continue
            link = Association(new_uuid(), association_type, source, target)
            self.locator.add_object(
                link.entry_uuid, at, {"targetObject": "target", "sourceObject": "code"}
            )
            mapped.submission.associations.append(link)
            if association_type == AssociationType.REPLACE:
                mapped.replaced.add(target)

    def _relates_to_target(self, target: Any, at: str) -> str | None:
        """The entryUUID a relatesTo.target names: a DocumentReference of the bundle, else by id."""
        reference = target.reference if target else None
        in_bundle = self.bundle.entry_for(reference)
        if in_bundle is not None and in_bundle.index in self.entry_uuids:
            return self.entry_uuids[in_bundle.index]
        identifier = target.identifier if target else None
        if identifier is not None and (identifier.value or "").lower().startswith(URN_UUID):
            return identifier.value.lower()
        bare = (reference or "").removeprefix("DocumentReference/").removeprefix(URN_UUID)
        if reference and _is_uuid(bare) and not reference.startswith("#"):
            return URN_UUID + bare.lower()
        message = (
            f"relatesTo.target {reference!r} does not name a DocumentReference by its id"
            " (the entryUUID of a registered document)"
        )
        self.issues.append(FhirIssue(ErrorCode.UNRESOLVED_REFERENCE, message, at))
        return None

    def _superseded(self, mapped: MappedSubmission) -> None:
        """Check each PATCH: a `superseded` status for a DocumentReference this bundle replaces."""
        for entry in self.bundle.patches:
            where = f"Bundle.entry[{entry.index}]"
            url = entry.request_url or ""
            bare = url.removeprefix("DocumentReference/")
            if not url.startswith("DocumentReference/") or URN_UUID + bare.lower() not in (
                mapped.replaced
            ):
                message = (
                    f"PATCH {url!r} must name a DocumentReference that a relatesTo 'replaces'"
                    " of this Bundle replaces"
                )
                self._invalid(message, f"{where}.request.url")
            if not _is_superseded_patch(entry.resource):
                message = (
                    "the PATCH Parameters may only replace DocumentReference.status with"
                    " 'superseded' (IHE.MHD.Patch.Parameters)"
                )
                self._invalid(message, f"{entry.path}.parameter")

    # DocumentEntry (MHD 3:4.5.1.1)

    def _document_entry(self, entry: Entry, mapped: MappedSubmission) -> DocumentEntry:
        doc, at = entry.resource, entry.path
        entry_uuid = self._entry_uuid(entry, doc.identifier, DOCUMENT_ENTRY_PATHS)

        master = self._required(doc.masterIdentifier, "masterIdentifier", f"{at}.masterIdentifier")
        if doc.status != "current":
            self._invalid(f"status must be 'current', not {doc.status!r}", f"{at}.status")

        document_entry = DocumentEntry(
            entry_uuid=entry_uuid,
            unique_id=unique_id(master.system, master.value) if master and master.value else "",
            patient_id=self._patient_id(doc.subject, entry, f"{at}.subject") or "",
            mime_type="",
            type_code=self._code(doc.type, f"{at}.type", required=self.comprehensive),
            class_code=self._first_code(doc.category, f"{at}.category", self.comprehensive),
            confidentiality_codes=self._codes(
                doc.securityLabel, f"{at}.securityLabel", self.comprehensive
            ),
            limited_metadata=not self.comprehensive,
            comments=doc.description,
            authors=self._authors(doc.author, entry, f"{at}.author"),
            legal_authenticator=self._legal_authenticator(doc.authenticator, entry),
        )
        if master is not None and not master.value:
            self._missing("masterIdentifier.value", f"{at}.masterIdentifier.value")

        self._map_content(entry, document_entry, mapped)
        self._map_context(entry, document_entry)
        return document_entry

    def _map_content(
        self, entry: Entry, document_entry: DocumentEntry, mapped: MappedSubmission
    ) -> None:
        contents, at = entry.resource.content or [], entry.path
        if len(contents) != 1:
            self._invalid(
                f"exactly one content is required, found {len(contents)}", f"{at}.content"
            )
            return
        content, at = contents[0], f"{at}.content[0]"
        document_entry.format_code = self._code(
            content.format, f"{at}.format", required=self.comprehensive
        )
        attachment = content.attachment

        document_entry.mime_type = self._required(
            attachment.contentType, "attachment.contentType", f"{at}.attachment.contentType"
        )
        creation = attachment.creation
        if self.comprehensive:
            self._required(creation, "attachment.creation", f"{at}.attachment.creation")
        document_entry.creation_time = dtm(creation)
        document_entry.language_code = attachment.language
        document_entry.title = attachment.title

        data = self._binary_data(attachment.url, f"{at}.attachment.url")
        if data is not None:
            mapped.contents[document_entry.entry_uuid] = data
        stated_hash = self._stated_hash(attachment.hash, f"{at}.attachment.hash")
        mapped.expected[document_entry.entry_uuid] = (stated_hash, attachment.size)

    def _binary_data(self, url: str | None, at: str) -> bytes | None:
        target = self.bundle.entry_for(url)
        if target is None or target.resource_type != "Binary":
            message = f"attachment.url {url!r} does not point at a Binary entry of the Bundle"
            self.issues.append(FhirIssue(ErrorCode.MISSING_DOCUMENT, message, at))
            return None
        if target.resource.data is None:
            message = "the Binary has no data; documents must travel inside the Bundle"
            self.issues.append(
                FhirIssue(ErrorCode.MISSING_DOCUMENT, message, f"{target.path}.data")
            )
            return None
        return target.resource.data

    def _stated_hash(self, stated: bytes | None, at: str) -> str | None:
        if stated is None:
            return None
        if len(stated) == 20:
            return stated.hex()
        # Some senders, the MHD IG examples among them, base64-encode the hex digest instead.
        text = stated.decode("ascii", errors="replace").lower()
        if len(text) == 40 and all(c in "0123456789abcdef" for c in text):
            return text
        self._invalid("hash must be the base64 of a 20-byte SHA-1 digest", at)
        return None

    def _map_context(self, entry: Entry, document_entry: DocumentEntry) -> None:
        context, at = entry.resource.context, f"{entry.path}.context"
        if context is None:
            if self.comprehensive:
                self._missing("context (facilityType, practiceSetting)", at)
            return
        document_entry.healthcare_facility_type_code = self._code(
            context.facilityType, f"{at}.facilityType", required=self.comprehensive
        )
        document_entry.practice_setting_code = self._code(
            context.practiceSetting, f"{at}.practiceSetting", required=self.comprehensive
        )
        document_entry.event_code_list = self._codes(context.event, f"{at}.event", False)
        if context.period is not None:
            document_entry.service_start_time = dtm(context.period.start)
            document_entry.service_stop_time = dtm(context.period.end)
        document_entry.reference_id_list = self._reference_ids(context)
        if context.sourcePatientInfo is not None:
            self._map_source_patient(entry, document_entry, context.sourcePatientInfo)

    def _map_source_patient(
        self, entry: Entry, document_entry: DocumentEntry, reference: Any
    ) -> None:
        at = f"{entry.path}.context.sourcePatientInfo"
        patient = self.bundle.resolve(reference.reference, entry)
        if patient is None or patient.get_resource_type() != "Patient":
            message = f"sourcePatientInfo {reference.reference!r} does not resolve to a Patient"
            self.issues.append(FhirIssue(ErrorCode.UNRESOLVED_REFERENCE, message, at))
            return
        identifiers = [i for i in patient.identifier or [] if i.value]
        preferred = oid_identifier(identifiers) or (identifiers[0] if identifiers else None)
        document_entry.source_patient_id = cx(preferred) if preferred else None

        lines = [f"PID-3|{cx(i)}" for i in identifiers]
        for name in patient.name or []:
            # A null in given is legal FHIR JSON when _given carries an extension for it.
            given = [escape(g) for g in name.given or [] if g is not None]
            first, second = (given[0] if given else ""), " ".join(given[1:])
            lines.append(f"PID-5|{escape(name.family or '')}^{first}^{second}^^")
        if patient.birthDate:
            lines.append(f"PID-7|{dtm(patient.birthDate)}")
        if patient.gender in PID_8:
            lines.append(f"PID-8|{PID_8[patient.gender]}")
        document_entry.source_patient_info = lines

    def _reference_ids(self, context: Any) -> list[str]:
        references = [
            cxi(related.identifier, None) for related in context.related or [] if related.identifier
        ]
        references += [
            cxi(encounter.identifier, ENCOUNTER_ID_TYPE)
            for encounter in context.encounter or []
            if encounter.identifier
        ]
        return [r for r in references if r]

    def _legal_authenticator(self, reference: Any, holder: Entry) -> str | None:
        resource = self.bundle.resolve(reference.reference, holder) if reference else None
        if resource is None:
            return None
        if resource.get_resource_type() == "PractitionerRole" and resource.practitioner:
            resource = self.bundle.resolve(resource.practitioner.reference, holder)
        if resource is None or resource.get_resource_type() != "Practitioner":
            return None
        return xcn(resource)

    # SubmissionSet (MHD 3:4.5.2)

    def _submission_set(self, entry: Entry) -> SubmissionSet:
        ss, at = entry.resource, entry.path
        entry_uuid, usual_identifier = self._list_identity(entry, SUBMISSION_SET_PATHS)

        source_id = self._extension(entry, entry_uuid, SOURCE_ID, "sourceId", "valueIdentifier")
        designation = self._extension(
            entry,
            entry_uuid,
            DESIGNATION_TYPE,
            "contentTypeCode",
            "valueCodeableConcept",
            required=self.comprehensive,
        )
        submission_time = self._required(ss.date, "date", f"{at}.date")

        return SubmissionSet(
            entry_uuid=entry_uuid,
            unique_id=unique_id(usual_identifier.system, usual_identifier.value or "")
            if usual_identifier
            else "",
            source_id=unique_id(None, source_id.value or "") if source_id else "",
            patient_id=self._patient_id(ss.subject, entry, f"{at}.subject") or "",
            submission_time=dtm(submission_time) or "",
            content_type_code=self._code(designation, self._extension_path(entry, DESIGNATION_TYPE))
            if designation
            else None,
            authors=self._submission_set_authors(entry),
            intended_recipients=self._intended_recipients(entry),
            title=ss.title,
            comments="\n".join(note.text for note in ss.note or [] if note.text) or None,
            limited_metadata=not self.comprehensive,
        )

    def _list_identity(self, entry: Entry, paths: dict[str, str]) -> tuple[str, Any]:
        """A SubmissionSet or Folder List's entryUUID and uniqueId identifier; it is current."""
        entry_uuid = self._entry_uuid(entry, entry.resource.identifier, paths)
        usual = self._usual_identifier(entry, entry_uuid)
        if entry.resource.status != "current":
            message = f"status must be 'current', not {entry.resource.status!r}"
            self._invalid(message, f"{entry.path}.status")
        return entry_uuid, usual

    def _usual_identifier(self, entry: Entry, entry_uuid: str) -> Any:
        """The List's identifier with use `usual` (its uniqueId), reported when missing."""
        for position, identifier in enumerate(entry.resource.identifier or []):
            if identifier.use == "usual":
                at = f"{entry.path}.identifier[{position}]"
                self.locator.add_exact(entry_uuid, "uniqueId", at)
                return identifier
        self._missing("identifier with use 'usual' (uniqueId)", f"{entry.path}.identifier")
        return None

    def _extension(
        self,
        entry: Entry,
        object_id: str,
        url: str,
        attribute: str,
        value_field: str,
        required: bool = True,
    ) -> Any:
        """Return the value of the extension `url`, reporting it as `attribute` when missing."""
        name = url.rsplit("/", 1)[-1]
        for position, extension in enumerate(entry.resource.extension or []):
            if extension.url == url:
                at = f"{entry.path}.extension[{position}]"
                self.locator.add_exact(object_id, attribute, at)
                value = getattr(extension, value_field)
                if value is None:
                    self._missing(f"{name} {value_field}", f"{at}.{value_field}")
                return value
        if required:
            self._missing(f"extension {name} ({attribute})", f"{entry.path}.extension")
        return None

    def _extension_path(self, entry: Entry, url: str) -> str:
        for position, extension in enumerate(entry.resource.extension or []):
            if extension.url == url:
                return f"{entry.path}.extension[{position}].valueCodeableConcept"
        return f"{entry.path}.extension"

    def _submission_set_authors(self, entry: Entry) -> list[Author]:
        source, at = entry.resource.source, f"{entry.path}.source"
        if source is None:
            return []
        author = self._author_of(source, entry, at) if source.reference else Author()
        for position, extension in enumerate(source.extension or []):
            if extension.url == AUTHOR_ORG and extension.valueReference is not None:
                org_at = f"{at}.extension[{position}].valueReference"
                reference = extension.valueReference
                organization = self._resolve_as("Organization", reference, entry, org_at)
                if organization is not None:
                    author = author or Author()
                    author.institutions.append(xon(organization))
        if author is None or author == Author():
            return []
        return [author]

    def _intended_recipients(self, entry: Entry) -> list[str]:
        recipients = []
        for position, extension in enumerate(entry.resource.extension or []):
            if extension.url != INTENDED_RECIPIENT or extension.valueReference is None:
                continue
            at = f"{entry.path}.extension[{position}].valueReference"
            recipient = self._author_of(extension.valueReference, entry, at)
            if recipient is None:
                continue
            parts = [
                recipient.institutions[0] if recipient.institutions else "",
                recipient.person or "",
                recipient.telecommunications[0] if recipient.telecommunications else "",
            ]
            recipients.append("|".join(parts).rstrip("|"))
        return [r for r in recipients if r]

    # Shared pieces

    def _authors(self, references: list[Any] | None, holder: Entry, at: str) -> list[Author]:
        authors = []
        for position, reference in enumerate(references or []):
            author = self._author_of(reference, holder, f"{at}[{position}]")
            if author is not None:
                authors.append(author)
        return authors

    def _author_of(self, reference: Any, holder: Entry, at: str) -> Author | None:
        resource = self._resolve(reference, holder, at)
        if resource is None:
            return None
        kind = resource.get_resource_type()
        telecom = [t for t in (xtn(c) for c in getattr(resource, "telecom", None) or []) if t]
        if kind in ("Practitioner", "Patient", "RelatedPerson"):
            return Author(person=xcn(resource), telecommunications=telecom)
        if kind == "Organization":
            return Author(institutions=[xon(resource)], telecommunications=telecom)
        if kind == "PractitionerRole":
            return self._practitioner_role(resource, holder, at, telecom)
        self._invalid(f"an author cannot be a {kind}", at)
        return None

    def _practitioner_role(self, role: Any, holder: Entry, at: str, telecom: list[str]) -> Author:
        author = Author(telecommunications=telecom)
        if role.practitioner is not None:
            where = f"{at}.practitioner"
            practitioner = self._resolve_as("Practitioner", role.practitioner, holder, where)
            if practitioner is not None:
                author.person = xcn(practitioner)
                author.telecommunications += [
                    t for t in (xtn(c) for c in practitioner.telecom or []) if t
                ]
        if role.organization is not None:
            where = f"{at}.organization"
            organization = self._resolve_as("Organization", role.organization, holder, where)
            if organization is not None:
                author.institutions.append(xon(organization))
        author.roles = [r for r in (coded_string(c) for c in role.code or []) if r]
        author.specialties = [s for s in (coded_string(c) for c in role.specialty or []) if s]
        return author

    def _resolve(self, reference: Any, holder: Entry, at: str) -> Any:
        resource = self.bundle.resolve(reference.reference, holder)
        if resource is None:
            message = f"reference {reference.reference!r} is neither contained nor in the Bundle"
            self.issues.append(FhirIssue(ErrorCode.UNRESOLVED_REFERENCE, message, at))
        return resource

    def _resolve_as(self, kind: str, reference: Any, holder: Entry, at: str) -> Any:
        resource = self._resolve(reference, holder, at)
        if resource is not None and (found := resource.get_resource_type()) != kind:
            self._invalid(f"the reference must name a resource of type {kind}, not {found}", at)
            return None
        return resource

    def _patient_id(self, subject: Any, holder: Entry, at: str) -> str | None:
        if subject is None:
            self._missing("subject", at)
            return None
        identifier = subject.identifier
        if identifier is None:
            identifier = self._patient_identifier(subject.reference, holder, at)
        if identifier is None:
            return None
        if not identifier.value or not (identifier.system or "").lower().startswith(URN_OID):
            message = "the patient identifier must have a value and an urn:oid: system"
            self.issues.append(FhirIssue(ErrorCode.UNKNOWN_PATIENT_ID, message, at))
            return None
        return cx(identifier)

    def _patient_identifier(self, reference: str | None, holder: Entry, at: str) -> Any:
        if reference and reference.startswith("Patient?identifier="):
            system, _, value = reference.removeprefix("Patient?identifier=").rpartition("|")
            return _Identifier(system=system or None, value=value)
        patient = self.bundle.resolve(reference, holder)
        if patient is None:
            message = (
                f"subject {reference!r} is neither in the Bundle nor a reference by identifier;"
                " this recipient keeps no Patient resources to resolve it"
            )
            self.issues.append(FhirIssue(ErrorCode.UNKNOWN_PATIENT_ID, message, at))
            return None
        if patient.get_resource_type() != "Patient":
            self._invalid(f"subject must be a Patient, not {patient.get_resource_type()}", at)
            return None
        identifier = oid_identifier(patient.identifier)
        if identifier is None:
            message = "the subject Patient has no identifier with an urn:oid: system"
            self.issues.append(FhirIssue(ErrorCode.UNKNOWN_PATIENT_ID, message, at))
        return identifier

    def _entry_uuid(
        self, entry: Entry, identifiers: list[Any] | None, paths: dict[str, str]
    ) -> str:
        """Take entryUUID from identifier use=official, else the fullUrl, else make one up."""
        entry_uuid, at = new_uuid(), f"Bundle.entry[{entry.index}].fullUrl"
        official = [
            (position, identifier.value.lower())
            for position, identifier in enumerate(identifiers or [])
            if identifier.use == "official"
            and (identifier.value or "").lower().startswith(URN_UUID)
        ]
        if official:
            position, entry_uuid = official[0]
            at = f"{entry.path}.identifier[{position}]"
        elif (
            entry.full_url
            and entry.full_url.lower().startswith(URN_UUID)
            and entry.full_url.lower() not in self.taken_full_urls
        ):
            entry_uuid = entry.full_url.lower()

        self.locator.add_object(entry_uuid, entry.path, paths)
        self.locator.add_exact(entry_uuid, "entryUUID", at)
        return entry_uuid

    def _code(self, concept: Any, at: str, required: bool = False) -> Code | None:
        """Map a CodeableConcept (its first coding with a code) or a Coding to an XDS Code."""
        if concept is None:
            if required:
                self._missing(at.rsplit(".", 1)[-1], at)
            return None
        if concept.get_resource_type() == "Coding":
            codings, coding_at = [concept], [at]
        else:
            codings = concept.coding or []
            coding_at = [f"{at}.coding[{position}]" for position in range(len(codings))]
        for coding, where in zip(codings, coding_at, strict=True):
            if coding.code and not coding.system:
                self._invalid("a coding needs a system (the XDS codingScheme)", where)
                return None
            if coding.code:
                return Code(coding.code, coding_scheme(coding.system), coding.display or "")
        self._invalid("a coding with system and code is required", at)
        return None

    def _first_code(self, concepts: list[Any] | None, at: str, required: bool) -> Code | None:
        if not concepts:
            if required:
                self._missing(at.rsplit(".", 1)[-1], at)
            return None
        return self._code(concepts[0], f"{at}[0]", required)

    def _codes(self, concepts: list[Any] | None, at: str, required: bool) -> list[Code]:
        if not concepts and required:
            self._missing(at.rsplit(".", 1)[-1], at)
        codes = [self._code(c, f"{at}[{i}]") for i, c in enumerate(concepts or [])]
        return [c for c in codes if c is not None]

    def _required(self, value: Any, name: str, at: str) -> Any:
        if value is None or value == "":
            self._missing(name, at)
        return value

    def _missing(self, name: str, at: str) -> None:
        message = f"{name} is required by the MHD {self.option} Metadata profile"
        self.issues.append(
            FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, at, issue_type="required")
        )

    def _invalid(self, message: str, at: str) -> None:
        self.issues.append(FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, at))

    def _location(self, entry: Entry, mapped: MappedSubmission) -> str:
        if entry.method in ("PUT", "PATCH"):
            return entry.request_url or ""
        if entry.index in self.entry_uuids:
            return f"{entry.resource_type}/{_bare(self.entry_uuids[entry.index])}"
        if entry is self.bundle.submission_set:
            return "List/" + _bare(mapped.submission.submission_set.entry_uuid)
        if entry in self.bundle.document_references:
            position = self.bundle.document_references.index(entry)
            return "DocumentReference/" + _bare(
                mapped.submission.document_entries[position].entry_uuid
            )
        if entry.full_url and entry.full_url.lower().startswith(URN_UUID):
            return f"{entry.resource_type}/{_bare(entry.full_url.lower())}"
        return f"{entry.resource_type}/{entry.resource.id or _bare(new_uuid())}"


def metadata_option(entry: Entry, bundle: ProvideBundle) -> str:
    """Comprehensive or Minimal, as the resource's meta.profile declares, else as the Bundle's.

    MHD 4.2.x declares the option by profile; a resource without one takes the Bundle's, and a
    Bundle without one is held to Comprehensive, the stricter.
    """
    for profiles in (_profiles(entry.resource), bundle.profiles):
        for profile in profiles:
            if profile.startswith(MHD_PROFILE + MINIMAL + "."):
                return MINIMAL
            if profile.startswith(MHD_PROFILE + COMPREHENSIVE + "."):
                return COMPREHENSIVE
    return COMPREHENSIVE


def _profiles(resource: Any) -> list[str]:
    return list(resource.meta.profile or []) if resource.meta else []


def _status(entry: Entry) -> str:
    return "200 OK" if entry.method in ("PUT", "PATCH") else "201 Created"


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def _is_superseded_patch(parameters: Any) -> bool:
    """True for IHE.MHD.Patch.Parameters: one replace of DocumentReference.status by superseded."""
    operations = parameters.parameter or []
    if len(operations) != 1 or operations[0].name != "operation":
        return False
    parts = {part.name: part for part in operations[0].part or []}
    path, kind, value = parts.get("path"), parts.get("type"), parts.get("value")
    return (
        set(parts) == {"path", "type", "value"}
        and path.valueString == "DocumentReference.status"
        and kind.valueCode == "replace"
        and (value.valueCode or value.valueString) == "superseded"
    )


@dataclass(frozen=True)
class _Identifier:
    system: str | None
    value: str


def new_uuid() -> str:
    """Return a fresh `urn:uuid:` for an object the sender gave no entryUUID."""
    return URN_UUID + str(uuid.uuid4())


def _bare(urn: str) -> str:
    return urn[len(URN_UUID) :] if urn.startswith(URN_UUID) else urn
