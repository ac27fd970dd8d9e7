"""FHIR to XDS: the mapping of MHD 3:4.5 (DocumentReference, SubmissionSet List) for ITI-65.

Required elements are those of the IHE.MHD.Comprehensive profiles, except where the Document
Recipient is allowed to be robust (ITI-65 2:3.65.4.1.3): attachment.language and
context.sourcePatientInfo may be absent, as they are in Norwegian submissions.
"""

from __future__ import annotations

import uuid
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
    Submission,
    SubmissionSet,
)

MHD_EXTENSION = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
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


def map_submission(bundle: ProvideBundle) -> MappedSubmission:
    """Map a bundle to a Submission; raise BundleRejected listing every element at fault."""
    mapper = _Mapper(bundle)
    mapped = mapper.run()
    if mapper.issues:
        raise BundleRejected(mapper.issues)
    return mapped


class _Mapper:
    """Maps one bundle, collecting every problem instead of stopping at the first."""

    def __init__(self, bundle: ProvideBundle) -> None:
        self.bundle = bundle
        self.issues: list[FhirIssue] = []
        self.locator = Locator()

    def run(self) -> MappedSubmission:
        submission_set = self._submission_set(self.bundle.submission_set)
        mapped = MappedSubmission(Submission(submission_set), locator=self.locator)

        for entry in self.bundle.document_references:
            document_entry = self._document_entry(entry, mapped)
            mapped.submission.document_entries.append(document_entry)
            mapped.submission.associations.append(
                Association(
                    entry_uuid=new_uuid(),
                    association_type=AssociationType.HAS_MEMBER,
                    source_object=submission_set.entry_uuid,
                    target_object=document_entry.entry_uuid,
                    submission_set_status="Original",
                )
            )

        mapped.locations = [self._location(entry, mapped) for entry in self.bundle.entries]
        return mapped

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
            type_code=self._code(doc.type, f"{at}.type", required=True),
            class_code=self._first_code(doc.category, f"{at}.category", required=True),
            confidentiality_codes=self._codes(doc.securityLabel, f"{at}.securityLabel", True),
            comments=doc.description,
            authors=self._authors(doc.author, entry, f"{at}.author"),
            legal_authenticator=self._legal_authenticator(doc.authenticator, entry),
        )
        if master is not None and not master.value:
            self._missing("masterIdentifier.value", f"{at}.masterIdentifier.value")
        for position, relation in enumerate(doc.relatesTo or []):
            message = (
                f"relatesTo {relation.code!r} (replace, transform, append, signs) is not supported;"
                " nothing was stored rather than store the document without its association"
            )
            self._invalid(message, f"{at}.relatesTo[{position}]")

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
        document_entry.format_code = self._code(content.format, f"{at}.format", required=True)
        attachment = content.attachment

        document_entry.mime_type = self._required(
            attachment.contentType, "attachment.contentType", f"{at}.attachment.contentType"
        )
        document_entry.creation_time = dtm(
            self._required(attachment.creation, "attachment.creation", f"{at}.attachment.creation")
        )
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
            self._missing("context (facilityType, practiceSetting)", at)
            return
        document_entry.healthcare_facility_type_code = self._code(
            context.facilityType, f"{at}.facilityType", required=True
        )
        document_entry.practice_setting_code = self._code(
            context.practiceSetting, f"{at}.practiceSetting", required=True
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
        entry_uuid = self._entry_uuid(entry, ss.identifier, SUBMISSION_SET_PATHS)

        usual = next(
            (i for i, ident in enumerate(ss.identifier or []) if ident.use == "usual"), None
        )
        if usual is None:
            self._missing("identifier with use 'usual' (uniqueId)", f"{at}.identifier")
        else:
            self.locator.add_exact(entry_uuid, "uniqueId", f"{at}.identifier[{usual}]")
        if ss.status != "current":
            self._invalid(f"status must be 'current', not {ss.status!r}", f"{at}.status")

        source_id = self._extension(entry, entry_uuid, SOURCE_ID, "sourceId", "valueIdentifier")
        designation = self._extension(
            entry, entry_uuid, DESIGNATION_TYPE, "contentTypeCode", "valueCodeableConcept"
        )
        submission_time = self._required(ss.date, "date", f"{at}.date")
        usual_identifier = ss.identifier[usual] if usual is not None else None

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
        )

    def _extension(
        self, entry: Entry, object_id: str, url: str, attribute: str, value_field: str
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
        elif entry.full_url and entry.full_url.lower().startswith(URN_UUID):
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
        message = f"{name} is required by the MHD Comprehensive Metadata profile"
        self.issues.append(
            FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, at, issue_type="required")
        )

    def _invalid(self, message: str, at: str) -> None:
        self.issues.append(FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, at))

    def _location(self, entry: Entry, mapped: MappedSubmission) -> str:
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


@dataclass(frozen=True)
class _Identifier:
    system: str | None
    value: str


def new_uuid() -> str:
    """Return a fresh `urn:uuid:` for an object the sender gave no entryUUID."""
    return URN_UUID + str(uuid.uuid4())


def _bare(urn: str) -> str:
    return urn[len(URN_UUID) :] if urn.startswith(URN_UUID) else urn
