"""XDS to FHIR: DocumentEntry as DocumentReference, SubmissionSet and Folder as List (MHD 3:4.5).

The inverse of `mhd.mapping`, rendered as plain dicts: the ITI-66/67 answers are built per request
and a FHIR model per resource would cost more than the query itself. Each XDS value form (DTM, CX,
XCN, XON, XTN, CXi) is read back into the FHIR datatype `mhd.datatypes` made it from.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote

from mhd.datatypes import CODE_SYSTEM_OIDS, PID_8, URI_SYSTEM, URN_OID, URN_UUID
from mhd.mapping import DESIGNATION_TYPE, INTENDED_RECIPIENT, SOURCE_ID
from registry.dtm import dtm_key
from registry.metadata import (
    AssociationType,
    Author,
    AvailabilityStatus,
    Code,
    DocumentEntry,
    Folder,
    SubmissionSet,
)

PROFILE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/"
DOCUMENT_REFERENCE_PROFILE = PROFILE + "IHE.MHD.Comprehensive.DocumentReference"
SUBMISSION_SET_PROFILE = PROFILE + "IHE.MHD.Comprehensive.SubmissionSet"
FOLDER_PROFILE = PROFILE + "IHE.MHD.Folder"
LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
HOME_COMMUNITY_ID = PROFILE + "ihe-HomeCommunityId"

# availabilityStatus and FHIR status (ITI-67 Table 2:3.67.4.1.3.1-2, ITI-66 Table 2:3.66.4.1.3.1-3).
DOCUMENT_STATUS = {
    AvailabilityStatus.APPROVED.value: "current",
    AvailabilityStatus.DEPRECATED.value: "superseded",
}
# List.status has no `superseded`; a Deprecated SubmissionSet or Folder is `retired`.
LIST_STATUS = {
    AvailabilityStatus.APPROVED.value: "current",
    AvailabilityStatus.DEPRECATED.value: "retired",
}

# Association types and DocumentReference.relatesTo.code (ConceptMap AssociationTypeVsRelatesTo).
RELATES_TO = {
    AssociationType.REPLACE.value: "replaces",
    AssociationType.TRANSFORM.value: "transforms",
    AssociationType.TRANSFORM_AND_REPLACE.value: "replaces",
    AssociationType.APPEND.value: "appends",
    AssociationType.SIGNS.value: "signs",
    AssociationType.IS_SNAPSHOT_OF.value: "transforms",
}

_SYSTEM_OF_OID = {oid: system for system, oid in reversed(CODE_SYSTEM_OIDS.items())}
_GENDER = {code: gender for gender, code in PID_8.items()}
_OID = re.compile(r"[0-2](\.(0|[1-9]\d*))+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# The value renderers below are pure and see the same codes and people over and over; their
# results are shared between resources, so nothing may change a dict they return.
_cached = lru_cache(maxsize=8192)
_HL7_ESCAPES = (("\\F\\", "|"), ("\\S\\", "^"), ("\\T\\", "&"), ("\\R\\", "~"), ("\\E\\", "\\"))


@dataclass
class Links:
    """What rendering needs beyond the objects: URLs and the Associations found for them."""

    home_community_id: str
    """This community's id as an `urn:oid:`, for the ihe-HomeCommunityId extension."""
    document_url: str
    """The ITI-68 URL a document's uniqueId, percent-encoded, is appended to."""
    relations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    registered: dict[str, str] = field(default_factory=dict)
    """The submissionTime each DocumentEntry was registered at, by entryUUID."""


def resource_id(entry_uuid: str) -> str:
    """The FHIR id of a registry object: its entryUUID without `urn:uuid:`."""
    return entry_uuid[len(URN_UUID) :] if entry_uuid.lower().startswith(URN_UUID) else entry_uuid


def document_reference(entry: DocumentEntry, links: Links) -> dict:
    """Render a DocumentEntry as an MHD Comprehensive DocumentReference."""
    contained = _Contained()
    resource: dict = {
        "resourceType": "DocumentReference",
        "id": resource_id(entry.entry_uuid),
        "meta": {"profile": [DOCUMENT_REFERENCE_PROFILE]},
        "extension": [{"url": HOME_COMMUNITY_ID, "valueOid": links.home_community_id}],
        "masterIdentifier": unique_id_identifier(entry.unique_id),
        "identifier": [
            {"use": "official", "system": URI_SYSTEM, "value": entry.entry_uuid},
            {"use": "usual", **unique_id_identifier(entry.unique_id)},
        ],
        "status": DOCUMENT_STATUS.get(entry.availability_status, "entered-in-error"),
    }
    if entry.type_code:
        resource["type"] = codeable_concept(entry.type_code)
    if entry.class_code:
        resource["category"] = [codeable_concept(entry.class_code)]
    resource["subject"] = patient_reference(entry.patient_id)
    registered = links.registered.get(entry.entry_uuid)
    if registered:
        resource["date"] = fhir_date_time(dtm_key(registered) or registered)
    authors = [contained.author(author) for author in entry.authors]
    if any(authors):
        resource["author"] = [a for a in authors if a]
    if entry.legal_authenticator:
        resource["authenticator"] = contained.add(practitioner(entry.legal_authenticator))
    if entry.comments:
        resource["description"] = entry.comments
    if entry.confidentiality_codes:
        resource["securityLabel"] = [codeable_concept(c) for c in entry.confidentiality_codes]
    resource["content"] = [_content(entry, links)]
    context = _context(entry, contained)
    if context:
        resource["context"] = context
    relations = links.relations.get(entry.entry_uuid)
    if relations:
        resource["relatesTo"] = [
            {"code": code, "target": {"reference": f"DocumentReference/{resource_id(target)}"}}
            for code, target in relations
        ]
    if contained.resources:
        resource["contained"] = contained.resources
    return resource


def submission_set_list(submission_set: SubmissionSet, links: Links) -> dict:
    """Render a SubmissionSet as an MHD SubmissionSet List."""
    contained = _Contained()
    extensions: list[dict] = [
        {"url": HOME_COMMUNITY_ID, "valueOid": links.home_community_id},
        {"url": SOURCE_ID, "valueIdentifier": unique_id_identifier(submission_set.source_id)},
    ]
    if submission_set.content_type_code:
        extensions.append(
            {
                "url": DESIGNATION_TYPE,
                "valueCodeableConcept": codeable_concept(submission_set.content_type_code),
            }
        )
    for recipient in submission_set.intended_recipients:
        reference = contained.add(_recipient(recipient))
        if reference:
            extensions.append({"url": INTENDED_RECIPIENT, "valueReference": reference})
    resource = _list(submission_set, "submissionset", SUBMISSION_SET_PROFILE, links)
    resource["extension"] = extensions
    resource["date"] = fhir_date_time(submission_set.submission_time)
    source = next((contained.author(a) for a in submission_set.authors), None)
    if source:
        resource["source"] = source
    if contained.resources:
        resource["contained"] = contained.resources
    return resource


def folder_list(folder: Folder, links: Links) -> dict:
    """Render a Folder as an MHD Folder List."""
    resource = _list(folder, "folder", FOLDER_PROFILE, links)
    resource["extension"] = [
        {"url": HOME_COMMUNITY_ID, "valueOid": links.home_community_id},
        *(
            {"url": DESIGNATION_TYPE, "valueCodeableConcept": codeable_concept(code)}
            for code in folder.code_list
        ),
    ]
    if folder.last_update_time:
        resource["date"] = fhir_date_time(folder.last_update_time)
    return resource


def _list(container: SubmissionSet | Folder, code: str, profile: str, links: Links) -> dict:
    resource: dict = {
        "resourceType": "List",
        "id": resource_id(container.entry_uuid),
        "meta": {"profile": [profile]},
        "identifier": [
            {"use": "usual", **unique_id_identifier(container.unique_id)},
            {"use": "official", "system": URI_SYSTEM, "value": container.entry_uuid},
        ],
        "status": LIST_STATUS.get(container.availability_status, "entered-in-error"),
        "mode": "working",
        "code": {"coding": [{"system": LIST_TYPES, "code": code}]},
        "subject": patient_reference(container.patient_id),
    }
    if container.title:
        resource["title"] = container.title
    if container.comments:
        resource["note"] = [{"text": container.comments}]
    members = links.members.get(container.entry_uuid, [])
    if members:
        resource["entry"] = [{"item": {"reference": member}} for member in members]
    return resource


def _content(entry: DocumentEntry, links: Links) -> dict:
    attachment: dict = {"contentType": entry.mime_type}
    if entry.language_code:
        attachment["language"] = entry.language_code
    attachment["url"] = entry.uri or links.document_url + quote(entry.unique_id, safe="")
    if entry.size is not None:
        attachment["size"] = entry.size
    if entry.hash:
        attachment["hash"] = base64.b64encode(bytes.fromhex(entry.hash)).decode("ascii")
    if entry.title:
        attachment["title"] = entry.title
    if entry.creation_time:
        attachment["creation"] = fhir_date_time(entry.creation_time)
    content: dict = {"attachment": attachment}
    if entry.format_code:
        content["format"] = coding(entry.format_code)
    return content


def _context(entry: DocumentEntry, contained: _Contained) -> dict:
    context: dict = {}
    if entry.event_code_list:
        context["event"] = [codeable_concept(c) for c in entry.event_code_list]
    period = {
        key: fhir_date_time(value)
        for key, value in (("start", entry.service_start_time), ("end", entry.service_stop_time))
        if value
    }
    if period:
        context["period"] = period
    if entry.healthcare_facility_type_code:
        context["facilityType"] = codeable_concept(entry.healthcare_facility_type_code)
    if entry.practice_setting_code:
        context["practiceSetting"] = codeable_concept(entry.practice_setting_code)
    if entry.source_patient_id or entry.source_patient_info:
        context["sourcePatientInfo"] = contained.add(_source_patient(entry))
    if entry.reference_id_list:
        context["related"] = [{"identifier": cxi_identifier(r)} for r in entry.reference_id_list]
    return context


class _Contained:
    """The contained resources of one resource, numbered as they are added."""

    def __init__(self) -> None:
        self.resources: list[dict] = []

    def add(self, resource: dict | None) -> dict | None:
        if not resource:
            return None
        kind = resource["resourceType"]
        local_id = f"{kind[0].lower()}{len(self.resources) + 1}"
        self.resources.append({"resourceType": kind, "id": local_id, **resource})
        return {"reference": f"#{local_id}"}

    def author(self, author: Author) -> dict | None:
        """A reference to the contained Practitioner, Organization or PractitionerRole."""
        person = practitioner(author.person) if author.person else None
        organizations = [organization(xon) for xon in author.institutions]
        telecom = [t for t in (contact_point(x) for x in author.telecommunications) if t]
        if person and not organizations and not author.roles and not author.specialties:
            if telecom:
                person = {**person, "telecom": telecom}
            return self.add(person)
        if not person and organizations and not author.roles and not author.specialties:
            if telecom:
                return self.add({**organizations[0], "telecom": telecom})
            return self.add(organizations[0])
        role: dict = {"resourceType": "PractitionerRole"}
        if person:
            role["practitioner"] = self.add(person)
        if organizations:
            role["organization"] = self.add(organizations[0])
        if author.roles:
            role["code"] = [coded_string(r) for r in author.roles]
        if author.specialties:
            role["specialty"] = [coded_string(s) for s in author.specialties]
        if telecom:
            role["telecom"] = telecom
        return self.add(role) if len(role) > 1 else None


def _source_patient(entry: DocumentEntry) -> dict:
    patient: dict = {"resourceType": "Patient"}
    identifiers = [cx_identifier(entry.source_patient_id)] if entry.source_patient_id else []
    names = []
    for line in entry.source_patient_info:
        field_name, _, value = line.partition("|")
        if field_name == "PID-3":
            identifier = cx_identifier(value)
            if identifier not in identifiers:
                identifiers.append(identifier)
        elif field_name == "PID-5":
            names.append(human_name(value.split("^")))
        elif field_name == "PID-7" and len(value) >= 8:
            patient["birthDate"] = fhir_date_time(value[:8])
        elif field_name == "PID-8" and value in _GENDER:
            patient["gender"] = _GENDER[value]
    if identifiers:
        patient["identifier"] = identifiers
    if names:
        patient["name"] = [n for n in names if n]
    return patient


def _recipient(recipient: str) -> dict | None:
    """An intendedRecipient `XON|XCN|XTN` as an Organization or Practitioner."""
    parts = recipient.split("|")
    xon, xcn = parts[0], (parts[1] if len(parts) > 1 else "")
    telecom = [t for t in (contact_point(x) for x in parts[2:]) if t]
    resource = practitioner(xcn) if xcn else organization(xon) if xon else None
    if resource is None and telecom:
        resource = {"resourceType": "Practitioner"}
    if resource is not None and telecom:
        resource = {**resource, "telecom": telecom}
    return resource


# --- XDS value forms to FHIR datatypes ---------------------------------------------------------


def unescape(value: str) -> str:
    """Undo HL7 v2 escapes of one component value."""
    for escaped, char in _HL7_ESCAPES:
        value = value.replace(escaped, char)
    return value


@_cached
def system_of(coding_scheme: str) -> str:
    """The FHIR code system URI of an XDS codingScheme."""
    if coding_scheme in _SYSTEM_OF_OID:
        return _SYSTEM_OF_OID[coding_scheme]
    if _OID.fullmatch(coding_scheme):
        return URN_OID + coding_scheme
    return coding_scheme


@_cached
def coding(code: Code) -> dict:
    """A Coding for an XDS code."""
    rendered = {"system": system_of(code.coding_scheme), "code": code.code}
    if code.display_name:
        rendered["display"] = code.display_name
    return rendered


@_cached
def codeable_concept(code: Code) -> dict:
    """A CodeableConcept holding one XDS code."""
    return {"coding": [coding(code)]}


@_cached
def coded_string(value: str) -> dict:
    """A CodeableConcept for an authorRole or authorSpecialty (`code^^^&oid&ISO` or text)."""
    parts = value.split("^")
    authority = parts[3].split("&") if len(parts) > 3 else []
    if len(authority) > 1 and authority[1]:
        return {"coding": [{"system": system_of(authority[1]), "code": unescape(parts[0])}]}
    return {"text": unescape(value)}


@_cached
def unique_id_identifier(unique_id: str) -> dict:
    """The Identifier of a uniqueId (ITI TF-2 Appendix E.3): OIDs and UUIDs as URNs."""
    if _OID.fullmatch(unique_id):
        return {"system": URI_SYSTEM, "value": URN_OID + unique_id}
    if _UUID.fullmatch(unique_id):
        return {"system": URI_SYSTEM, "value": URN_UUID + unique_id.lower()}
    root, separator, extension = unique_id.partition("^")
    if separator and _OID.fullmatch(root):
        return {"system": URN_OID + root, "value": extension}
    return {"value": unique_id}


def _authority_system(hd: str) -> str | None:
    parts = hd.split("&")
    if len(parts) >= 2 and parts[1]:
        universal = unescape(parts[1])
        is_iso = len(parts) < 3 or parts[2] in ("", "ISO")
        return URN_OID + universal if is_iso and _OID.fullmatch(universal) else universal
    return None


# A Patient id made of the patient id's assigning authority OID and its value, both of FHIR id
# characters: `Patient/2.16.578.1.12.4.1.4.1-13116900216`.
_PATIENT_ID = re.compile(r"([0-2](?:\.(?:0|[1-9][0-9]*))+)-([A-Za-z0-9.]+)")


def patient_reference(patient_id: str) -> dict:
    """A subject Reference: the patient's identifier, and a `Patient/<oid>-<value>` reference
    that the `patient` search parameter takes back, where the CX fits a FHIR id."""
    identifier = cx_identifier(patient_id)
    system = identifier.get("system", "")
    reference = f"{system[len(URN_OID) :]}-{identifier['value']}"
    if system.startswith(URN_OID) and len(reference) <= 64 and _PATIENT_ID.fullmatch(reference):
        return {"reference": f"Patient/{reference}", "identifier": identifier}
    return {"identifier": identifier}


def patient_from_reference(reference: str) -> tuple[str, str] | None:
    """The (OID, value) of a `Patient/<oid>-<value>` reference (or its bare id, or a URL ending in
    it); None if it is no such reference."""
    patient_id = reference.rstrip("/").rsplit("/", 1)[-1]
    found = _PATIENT_ID.fullmatch(patient_id)
    return (found.group(1), found.group(2)) if found else None


@_cached
def cx_identifier(value: str) -> dict:
    """The Identifier of a CX `id^^^&oid&ISO`."""
    parts = value.split("^")
    identifier: dict = {}
    system = _authority_system(parts[3]) if len(parts) > 3 else None
    if system:
        identifier["system"] = system
    identifier["value"] = unescape(parts[0])
    return identifier


@_cached
def cxi_identifier(value: str) -> dict:
    """The Identifier of a referenceIdList CXi `id^^^&oid&ISO^type`, its type as text."""
    identifier = cx_identifier(value)
    parts = value.split("^")
    if len(parts) > 4 and parts[4]:
        identifier = {"type": {"text": unescape(parts[4])}, **identifier}
    return identifier


def human_name(parts: list[str]) -> dict:
    """A HumanName from XPN/XCN name components: family, given, further given, suffix, prefix."""
    name: dict = {}
    if len(parts) > 0 and parts[0]:
        name["family"] = unescape(parts[0])
    given = [unescape(p) for p in parts[1:3] if p]
    given = [g for part in given for g in part.split(" ") if g]
    if given:
        name["given"] = given
    if len(parts) > 4 and parts[4]:
        name["prefix"] = [unescape(parts[4])]
    if len(parts) > 3 and parts[3]:
        name["suffix"] = [unescape(parts[3])]
    return name


@_cached
def practitioner(xcn: str) -> dict | None:
    """A Practitioner from an XCN `id^family^given^further^suffix^prefix^^^&oid&ISO`."""
    parts = xcn.split("^")
    resource: dict = {"resourceType": "Practitioner"}
    if parts[0]:
        identifier: dict = {}
        system = _authority_system(parts[8]) if len(parts) > 8 else None
        if system:
            identifier["system"] = system
        identifier["value"] = unescape(parts[0])
        resource["identifier"] = [identifier]
    name = human_name(parts[1:6])
    if name:
        resource["name"] = [name]
    return resource if len(resource) > 1 else None


@_cached
def organization(xon: str) -> dict:
    """An Organization from an XON `name^^^^^&oid&ISO^^^^id`."""
    parts = xon.split("^")
    resource: dict = {"resourceType": "Organization"}
    identifier_value = parts[9] if len(parts) > 9 else ""
    system = _authority_system(parts[5]) if len(parts) > 5 else None
    if identifier_value:
        identifier = {"system": system, "value": unescape(identifier_value)} if system else None
        if identifier is None and _OID.fullmatch(identifier_value):
            identifier = {"system": URI_SYSTEM, "value": URN_OID + identifier_value}
        resource["identifier"] = [identifier or {"value": unescape(identifier_value)}]
    if parts[0]:
        resource["name"] = unescape(parts[0])
    return resource


@_cached
def contact_point(xtn: str) -> dict | None:
    """A ContactPoint from an XTN: e-mail (`^^Internet^a@b`) or phone (`^PRN^PH^...^+47...`)."""
    parts = xtn.split("^")
    if len(parts) > 3 and parts[2] == "Internet" and parts[3]:
        return {"system": "email", "value": unescape(parts[3])}
    if len(parts) > 11 and parts[11]:
        return {"system": "phone", "value": unescape(parts[11])}
    if parts[0]:
        return {"system": "phone", "value": unescape(parts[0])}
    return None


@_cached
def fhir_date_time(value: str) -> str:
    """A FHIR date or dateTime for an HL7 DTM (UTC); hour precision gets whole minutes."""
    digits = value[:14]
    if len(digits) <= 8:
        return "-".join(p for p in (digits[:4], digits[4:6], digits[6:8]) if p)
    padded = digits.ljust(14, "0")
    return (
        f"{padded[:4]}-{padded[4:6]}-{padded[6:8]}T{padded[8:10]}:{padded[10:12]}:{padded[12:14]}Z"
    )
