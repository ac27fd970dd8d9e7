"""The XDS metadata model to and from ebRIM 3.0 registry objects (ITI TF-3 4.2.3, 4.2.5)."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar
from xml.sax.saxutils import escape

from lxml import etree

from registry.ebrim import vocabulary as v
from registry.ebrim.xml import LCM, RIM, local_name, qname, text_of
from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import (
    Association,
    Author,
    Code,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)
from registry.store import QueryResult
from registry.validation.catalogue import Rule

T = TypeVar("T")

# Seeds the ids of Classifications and ExternalIdentifiers so a given object always serializes
# to the same bytes.
_ID_NAMESPACE = uuid.UUID("0b6f6c0e-5e0b-4c1e-9d2a-7c3f1f1e2a10")
_ID_NAMESPACE_BYTES = _ID_NAMESPACE.bytes

# The single-valued codes of a DocumentEntry: model attribute, ITI TF-3 name, scheme.
_DOCUMENT_CODES = (
    ("class_code", "classCode", v.DOC_CLASS_CODE),
    ("type_code", "typeCode", v.DOC_TYPE_CODE),
    ("format_code", "formatCode", v.DOC_FORMAT_CODE),
    (
        "healthcare_facility_type_code",
        "healthcareFacilityTypeCode",
        v.DOC_HEALTHCARE_FACILITY_TYPE_CODE,
    ),
    ("practice_setting_code", "practiceSettingCode", v.DOC_PRACTICE_SETTING_CODE),
)
_DOCUMENT_SLOTS = (
    ("creationTime", "creation_time"),
    ("languageCode", "language_code"),
    ("legalAuthenticator", "legal_authenticator"),
    ("repositoryUniqueId", "repository_unique_id"),
    ("serviceStartTime", "service_start_time"),
    ("serviceStopTime", "service_stop_time"),
    ("sourcePatientId", "source_patient_id"),
    ("URI", "uri"),
)
_DOCUMENT_SLOT_NAMES = {
    *(name for name, _ in _DOCUMENT_SLOTS),
    "hash",
    "size",
    "sourcePatientInfo",
    v.REFERENCE_ID_LIST,
}
_AUTHOR_SLOT_NAMES = {
    v.AUTHOR_PERSON,
    v.AUTHOR_INSTITUTION,
    v.AUTHOR_ROLE,
    v.AUTHOR_SPECIALTY,
    v.AUTHOR_SPECIALTY_OLD,
    v.AUTHOR_TELECOMMUNICATION,
}


def as_urn_uuid(value: str) -> str:
    """Return a bare UUID in `urn:uuid:` form; anything else unchanged."""
    try:
        return uuid.UUID(value).urn if not value.startswith("urn:") else value
    except ValueError:
        return value


def document_entry_to_rim(entry: DocumentEntry, *, home: str | None = None) -> etree._Element:
    """Serialize a DocumentEntry as a rim:ExtrinsicObject."""
    return _element(_document_entry(entry, home))


def submission_set_to_rim(
    submission_set: SubmissionSet, *, home: str | None = None
) -> etree._Element:
    """Serialize a SubmissionSet as a classified rim:RegistryPackage."""
    return _element(_submission_set(submission_set, home))


def folder_to_rim(folder: Folder, *, home: str | None = None) -> etree._Element:
    """Serialize a Folder as a classified rim:RegistryPackage."""
    return _element(_folder(folder, home))


def association_to_rim(association: Association, *, home: str | None = None) -> etree._Element:
    """Serialize an Association as a rim:Association."""
    return _element(_association(association, home))


def object_ref(object_id: str, *, home: str | None = None) -> etree._Element:
    """Return a rim:ObjectRef to a registry object."""
    return _element(_object_ref(object_id, home))


def registry_object_list(
    result: QueryResult, *, home: str | None = None, object_refs: bool = False
) -> etree._Element:
    """Return a rim:RegistryObjectList with every object of a result, as LeafClass or ObjectRef."""
    text = registry_object_list_xml(result, home=home, object_refs=object_refs, declare=True)
    return etree.fromstring(text.encode(), _WRITTEN)


def registry_object_list_xml(
    result: QueryResult, *, home: str | None = None, object_refs: bool = False, declare: bool
) -> str:
    """The rim:RegistryObjectList of `registry_object_list` as text; without its xmlns:rim
    declaration unless `declare`, for a place where the prefix rim is already declared."""
    objects: list[tuple[DocumentEntry | SubmissionSet | Folder | Association, _Writer]] = [
        *((entry, _document_entry) for entry in result.document_entries),
        *((submission_set, _submission_set) for submission_set in result.submission_sets),
        *((folder, _folder) for folder in result.folders),
        *((association, _association) for association in result.associations),
    ]
    written = _RimObject("RegistryObjectList", {})
    for item, write in objects:
        if object_refs:
            written.children.append(
                _object_ref(item.entry_uuid, home or item.home_community_id).xml()
            )
        else:
            written.children.append(write(item, home).xml())
    return written.xml(declare=declare)


def _document_entry(entry: DocumentEntry, home: str | None) -> _RimObject:
    rim = _registry_object(
        "ExtrinsicObject",
        entry.entry_uuid,
        status=entry.availability_status,
        object_type=entry.object_type,
        lid=entry.logical_id,
        home=home or entry.home_community_id,
        more={"mimeType": entry.mime_type},
    )
    slots: list[tuple[str, list[str]]] = [
        (name, [getattr(entry, attribute)])
        for name, attribute in _DOCUMENT_SLOTS
        if getattr(entry, attribute) is not None
    ]
    if entry.hash is not None:
        slots.append(("hash", [entry.hash]))
    if entry.size is not None:
        slots.append(("size", [str(entry.size)]))
    if entry.source_patient_info:
        slots.append(("sourcePatientInfo", entry.source_patient_info))
    if entry.reference_id_list:
        slots.append((v.REFERENCE_ID_LIST, entry.reference_id_list))
    rim.slots([*slots, *entry.extra_slots.items()])
    rim.name_description(entry.title, entry.comments, entry.version)

    for author in entry.authors:
        rim.author(v.DOC_AUTHOR, author)
    for attribute, _, scheme in _DOCUMENT_CODES:
        if (code := getattr(entry, attribute)) is not None:
            rim.code(scheme, code)
    for code in entry.confidentiality_codes:
        rim.code(v.DOC_CONFIDENTIALITY_CODE, code)
    for code in entry.event_code_list:
        rim.code(v.DOC_EVENT_CODE_LIST, code)

    if entry.limited_metadata:
        rim.node_classification(v.DOC_LIMITED_METADATA)

    rim.external_identifier(v.DOC_PATIENT_ID, entry.patient_id)
    rim.external_identifier(v.DOC_UNIQUE_ID, entry.unique_id)
    return rim


def _submission_set(submission_set: SubmissionSet, home: str | None) -> _RimObject:
    rim = _registry_object(
        "RegistryPackage",
        submission_set.entry_uuid,
        status=submission_set.availability_status,
        object_type=v.OBJECT_TYPE_REGISTRY_PACKAGE,
        home=home or submission_set.home_community_id,
    )
    slots = [("submissionTime", [submission_set.submission_time])]
    if submission_set.intended_recipients:
        slots.append(("intendedRecipient", submission_set.intended_recipients))
    rim.slots([*slots, *submission_set.extra_slots.items()])
    rim.name_description(submission_set.title, submission_set.comments)

    for author in submission_set.authors:
        rim.author(v.SS_AUTHOR, author)
    if submission_set.content_type_code is not None:
        rim.code(v.SS_CONTENT_TYPE_CODE, submission_set.content_type_code)
    rim.node_classification(v.SUBMISSION_SET_NODE)
    if submission_set.limited_metadata:
        rim.node_classification(v.SS_LIMITED_METADATA)

    rim.external_identifier(v.SS_UNIQUE_ID, submission_set.unique_id)
    rim.external_identifier(v.SS_SOURCE_ID, submission_set.source_id)
    rim.external_identifier(v.SS_PATIENT_ID, submission_set.patient_id)
    return rim


def _folder(folder: Folder, home: str | None) -> _RimObject:
    rim = _registry_object(
        "RegistryPackage",
        folder.entry_uuid,
        status=folder.availability_status,
        object_type=v.OBJECT_TYPE_REGISTRY_PACKAGE,
        home=home or folder.home_community_id,
    )
    slots = []
    if folder.last_update_time is not None:
        slots.append(("lastUpdateTime", [folder.last_update_time]))
    rim.slots([*slots, *folder.extra_slots.items()])
    rim.name_description(folder.title, folder.comments)

    for code in folder.code_list:
        rim.code(v.FOLDER_CODE_LIST, code)
    rim.node_classification(v.FOLDER_NODE)
    if folder.limited_metadata:
        rim.node_classification(v.FOLDER_LIMITED_METADATA)

    rim.external_identifier(v.FOLDER_PATIENT_ID, folder.patient_id)
    rim.external_identifier(v.FOLDER_UNIQUE_ID, folder.unique_id)
    return rim


def _association(association: Association, home: str | None) -> _RimObject:
    rim = _registry_object(
        "Association",
        association.entry_uuid,
        status=association.availability_status,
        object_type=v.OBJECT_TYPE_ASSOCIATION,
        home=home or association.home_community_id,
        more={
            "associationType": association.association_type,
            "sourceObject": as_urn_uuid(association.source_object),
            "targetObject": as_urn_uuid(association.target_object),
        },
    )
    slots = []
    if association.submission_set_status is not None:
        slots.append(("SubmissionSetStatus", [association.submission_set_status]))
    rim.slots([*slots, *association.extra_slots.items()])
    return rim


def _object_ref(object_id: str, home: str | None) -> _RimObject:
    attributes = {"id": as_urn_uuid(object_id)}
    if home:
        attributes["home"] = home
    return _RimObject("ObjectRef", attributes)


def parse_registry_object_list(element: etree._Element) -> QueryResult:
    """Read the registry objects of a rim:RegistryObjectList (or any element holding them).

    Raises XdsError(XDSRegistryMetadataError) naming each object that lacks a required attribute.
    """
    result = QueryResult()
    issues: list[Issue] = []
    package_nodes = _package_nodes(element)

    for child in element:
        if not isinstance(child.tag, str) or etree.QName(child).namespace != RIM:
            continue
        name = local_name(child)
        try:
            if name == "ExtrinsicObject":
                result.document_entries.append(document_entry_from_rim(child))
            elif name == "RegistryPackage":
                node = package_nodes.get(child.get("id", ""))
                package = registry_package_from_rim(child, node=node)
                if isinstance(package, SubmissionSet):
                    result.submission_sets.append(package)
                else:
                    result.folders.append(package)
            elif name == "Association":
                result.associations.append(association_from_rim(child))
        except XdsError as error:
            issues.extend(error.issues)

    if issues:
        raise XdsError(issues)
    return result


def submit_objects_request(submission: Submission) -> etree._Element:
    """Return the lcm:SubmitObjectsRequest (ITI-42) carrying every object of a submission."""
    request = etree.Element(qname(LCM, "SubmitObjectsRequest"), nsmap={"lcm": LCM, "rim": RIM})
    objects = etree.SubElement(request, qname(RIM, "RegistryObjectList"))
    objects.append(submission_set_to_rim(submission.submission_set))
    objects.extend(document_entry_to_rim(entry) for entry in submission.document_entries)
    objects.extend(folder_to_rim(folder) for folder in submission.folders)
    objects.extend(association_to_rim(link) for link in submission.associations)
    return request


def parse_submit_objects_request(element: etree._Element) -> Submission:
    """Read an lcm:SubmitObjectsRequest (ITI-41/42) into one Submission."""
    object_list = element.find(qname(RIM, "RegistryObjectList"))
    if object_list is None:
        raise XdsError(Issue(ErrorCode.REGISTRY_METADATA_ERROR, "no RegistryObjectList"))
    result = parse_registry_object_list(object_list)

    if len(result.submission_sets) != 1:
        message = f"expected one SubmissionSet, found {len(result.submission_sets)}"
        raise XdsError(Issue(ErrorCode.REGISTRY_METADATA_ERROR, message))
    return Submission(
        submission_set=result.submission_sets[0],
        document_entries=result.document_entries,
        folders=result.folders,
        associations=result.associations,
    )


def document_entry_from_rim(element: etree._Element) -> DocumentEntry:
    """Read a rim:ExtrinsicObject into a DocumentEntry.

    Raises XdsError(XDSRegistryMetadataError) naming every required attribute missing and every
    single-valued attribute given more than once.
    """
    object_id = element.get("id", "")
    reading = _Reading(object_id)
    slots = _slots(element)
    identifiers = _external_identifiers(element)
    classifications = _classifications(element)
    required = {
        "uniqueId": reading.one("uniqueId", identifiers.get(v.DOC_UNIQUE_ID)),
        "patientId": reading.one("patientId", identifiers.get(v.DOC_PATIENT_ID)),
        "mimeType": element.get("mimeType"),
    }
    reading.require(required)

    entry = DocumentEntry(
        entry_uuid=object_id,
        unique_id=required["uniqueId"] or "",
        patient_id=required["patientId"] or "",
        mime_type=required["mimeType"] or "",
    )
    _read_common(entry, element)
    # Left empty when absent: objectType is required (ITI TF-3 Table 4.3.1-3), not defaulted.
    entry.object_type = element.get("objectType", "")
    entry.logical_id = element.get("lid")
    entry.version = _version(element)

    for name, attribute in _DOCUMENT_SLOTS:
        if name in slots:
            setattr(entry, attribute, reading.one(name, slots[name]))
    entry.hash = reading.one("hash", slots.get("hash"))
    entry.size = reading.integer("size", reading.one("size", slots.get("size")))
    entry.source_patient_info = slots.get("sourcePatientInfo", [])
    entry.reference_id_list = slots.get(v.REFERENCE_ID_LIST, [])
    entry.extra_slots = {k: vs for k, vs in slots.items() if k not in _DOCUMENT_SLOT_NAMES}

    for attribute, name, scheme in _DOCUMENT_CODES:
        codes = [_code(c, reading) for c in classifications.get(scheme, [])]
        setattr(entry, attribute, reading.one(name, codes))
    entry.confidentiality_codes = [
        _code(c, reading) for c in classifications.get(v.DOC_CONFIDENTIALITY_CODE, [])
    ]
    entry.event_code_list = [
        _code(c, reading) for c in classifications.get(v.DOC_EVENT_CODE_LIST, [])
    ]
    entry.authors = [_author(c, reading) for c in classifications.get(v.DOC_AUTHOR, [])]
    entry.limited_metadata = v.DOC_LIMITED_METADATA in _nodes(element)
    reading.done()
    return entry


def registry_package_from_rim(
    element: etree._Element, *, node: str | None = None
) -> SubmissionSet | Folder:
    """Read a rim:RegistryPackage into a SubmissionSet or a Folder.

    `node` is the classificationNode given by a sibling Classification, as ITI-41 submissions
    often carry it outside the package. Raises XdsError (XDSRegistryMetadataError) for a package
    classified as neither.
    """
    identifiers = _external_identifiers(element)
    classifications = _classifications(element)
    nodes = _nodes(element) | {node}
    if v.FOLDER_NODE in nodes:
        return _folder_from_rim(element, identifiers, classifications)
    if v.SUBMISSION_SET_NODE in nodes:
        return _submission_set_from_rim(element, identifiers, classifications)
    # Guessing the kind from the identifiers would register what the sender never classified.
    message = (
        f"the RegistryPackage is classified neither as a SubmissionSet ({v.SUBMISSION_SET_NODE}) "
        f"nor as a Folder ({v.FOLDER_NODE})"
    )
    object_id = element.get("id", "")
    issue = Rule.REGISTRY_PACKAGE_UNCLASSIFIED.issue(message, object_id, "classificationNode")
    raise XdsError(issue)


def association_from_rim(element: etree._Element) -> Association:
    """Read a rim:Association into an Association."""
    reading = _Reading(element.get("id", ""))
    required = {
        "associationType": element.get("associationType"),
        "sourceObject": element.get("sourceObject"),
        "targetObject": element.get("targetObject"),
    }
    reading.require(required)
    slots = _slots(element)

    association = Association(
        entry_uuid=reading.object_id,
        association_type=required["associationType"] or "",
        source_object=required["sourceObject"] or "",
        target_object=required["targetObject"] or "",
        submission_set_status=reading.one(
            "SubmissionSetStatus", slots.pop("SubmissionSetStatus", None)
        ),
    )
    _read_common(association, element)
    association.extra_slots = slots
    reading.done()
    return association


def _submission_set_from_rim(
    element: etree._Element,
    identifiers: dict[str, str],
    classifications: dict[str, list[etree._Element]],
) -> SubmissionSet:
    reading = _Reading(element.get("id", ""))
    slots = _slots(element)
    required = {
        "uniqueId": reading.one("uniqueId", identifiers.get(v.SS_UNIQUE_ID)),
        "sourceId": reading.one("sourceId", identifiers.get(v.SS_SOURCE_ID)),
        "patientId": reading.one("patientId", identifiers.get(v.SS_PATIENT_ID)),
        "submissionTime": reading.one("submissionTime", slots.pop("submissionTime", None)),
    }
    reading.require(required)

    submission_set = SubmissionSet(
        entry_uuid=reading.object_id,
        unique_id=required["uniqueId"] or "",
        source_id=required["sourceId"] or "",
        patient_id=required["patientId"] or "",
        submission_time=required["submissionTime"] or "",
        intended_recipients=slots.pop("intendedRecipient", []),
    )
    _read_common(submission_set, element)
    codes = [_code(c, reading) for c in classifications.get(v.SS_CONTENT_TYPE_CODE, [])]
    submission_set.content_type_code = reading.one("contentTypeCode", codes)
    submission_set.authors = [_author(c, reading) for c in classifications.get(v.SS_AUTHOR, [])]
    submission_set.extra_slots = slots
    submission_set.limited_metadata = v.SS_LIMITED_METADATA in _nodes(element)
    reading.done()
    return submission_set


def _folder_from_rim(
    element: etree._Element,
    identifiers: dict[str, str],
    classifications: dict[str, list[etree._Element]],
) -> Folder:
    reading = _Reading(element.get("id", ""))
    slots = _slots(element)
    required = {
        "uniqueId": reading.one("uniqueId", identifiers.get(v.FOLDER_UNIQUE_ID)),
        "patientId": reading.one("patientId", identifiers.get(v.FOLDER_PATIENT_ID)),
    }
    reading.require(required)

    folder = Folder(
        entry_uuid=reading.object_id,
        unique_id=required["uniqueId"] or "",
        patient_id=required["patientId"] or "",
        last_update_time=reading.one("lastUpdateTime", slots.pop("lastUpdateTime", None)),
        code_list=[_code(c, reading) for c in classifications.get(v.FOLDER_CODE_LIST, [])],
    )
    _read_common(folder, element)
    folder.extra_slots = slots
    folder.limited_metadata = v.FOLDER_LIMITED_METADATA in _nodes(element)
    reading.done()
    return folder


def _registry_object(
    tag: str,
    object_id: str,
    *,
    status: str,
    object_type: str,
    lid: str | None = None,
    home: str | None = None,
    more: dict[str, str] | None = None,
) -> _RimObject:
    attributes = {"id": as_urn_uuid(object_id)}
    if lid is not None:
        attributes["lid"] = as_urn_uuid(lid)
    attributes["status"] = status
    attributes["objectType"] = object_type
    if home:
        attributes["home"] = home
    return _RimObject(tag, attributes | (more or {}))


class _RimObject:
    """A registry object being written as text, byte for byte as lxml serializes it.

    Written as text because building it element by element with lxml was most of an ITI-38
    query's time; `_element` parses the text where an element is wanted, so that lxml still
    checks every object written. Its Classifications are counted to number their ids.
    """

    __slots__ = ("attributes", "children", "classifications", "escaped_id", "object_id", "tag")

    def __init__(self, tag: str, attributes: dict[str, str]) -> None:
        self.tag = tag
        self.attributes = attributes
        self.object_id = attributes.get("id", "")
        self.escaped_id = _attribute(self.object_id)
        self.children: list[str] = []
        self.classifications = 0

    def xml(self, *, declare: bool = False) -> str:
        """The object as text; with its xmlns:rim declaration if `declare`."""
        namespace = f' xmlns:rim="{RIM}"' if declare else ""
        return _rim_element(self.tag, self.attributes, "".join(self.children), namespace)

    def slots(self, slots: Iterable[tuple[str, list[str]]]) -> None:
        """Add a Slot for each name and its values."""
        self.children.append(_slots_xml(slots))

    def name_description(
        self, title: str | None, comments: str | None, version: str | None = None
    ) -> None:
        """Add the Name, Description and VersionInfo given."""
        if title is not None:
            self.children.append(_localized_xml("Name", title))
        if comments is not None:
            self.children.append(_localized_xml("Description", comments))
        if version is not None:
            self.children.append(_rim_element("VersionInfo", {"versionName": version}))

    def classification(self, scheme: str, node_representation: str, children: str) -> None:
        """Add a Classification by `scheme`; its id is stable for this object and position."""
        # Written out rather than through _rim_element: an ExtrinsicObject has ten or so.
        child_id = _child_id(self.object_id, scheme, str(self.classifications))
        self.classifications += 1
        start = (
            f'<rim:Classification id="{child_id}" objectType="{v.OBJECT_TYPE_CLASSIFICATION}" '
            f'classificationScheme="{_attribute(scheme)}" '
            f'classifiedObject="{self.escaped_id}" '
            f'nodeRepresentation="{_attribute(node_representation)}"'
        )
        if children:
            self.children.append(f"{start}>{children}</rim:Classification>")
        else:
            self.children.append(f"{start}/>")

    def node_classification(self, node: str) -> None:
        """Classify the object as `node` (SubmissionSet, Folder, or limitedMetadata)."""
        attributes = {
            "id": _child_id(self.object_id, node),
            "objectType": v.OBJECT_TYPE_CLASSIFICATION,
            "classifiedObject": self.object_id,
            "classificationNode": node,
        }
        self.classifications += 1
        self.children.append(_rim_element("Classification", attributes))

    def code(self, scheme: str, code: Code) -> None:
        """Add a coded attribute: a Classification with its codingScheme and display name."""
        children = _slots_xml([("codingScheme", [code.coding_scheme])])
        if code.display_name:
            children += _localized_xml("Name", code.display_name)
        self.classification(scheme, code.code, children)

    def author(self, scheme: str, author: Author) -> None:
        """Add an author: a Classification with a Slot for each of its attributes given."""
        slots = [
            (v.AUTHOR_PERSON, [author.person] if author.person is not None else []),
            (v.AUTHOR_INSTITUTION, author.institutions),
            (v.AUTHOR_ROLE, author.roles),
            (v.AUTHOR_SPECIALTY, author.specialties),
            (v.AUTHOR_TELECOMMUNICATION, author.telecommunications),
        ]
        given = [(name, values) for name, values in slots if values]
        self.classification(scheme, "", _slots_xml(given))

    def external_identifier(self, scheme: str, value: str) -> None:
        """Add an ExternalIdentifier by `scheme` with its conventional name."""
        attributes = {
            "id": _child_id(self.object_id, scheme),
            "objectType": v.OBJECT_TYPE_EXTERNAL_IDENTIFIER,
            "registryObject": self.object_id,
            "identificationScheme": scheme,
            "value": value,
        }
        name = _localized_xml("Name", v.EXTERNAL_IDENTIFIER_NAMES[scheme])
        self.children.append(_rim_element("ExternalIdentifier", attributes, name))


_Writer = Callable[[T, "str | None"], _RimObject]

# Parses what _RimObject wrote: text of our own, but lxml still refuses anything not well-formed.
_WRITTEN = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)

# Characters XML 1.0 does not allow: lxml refuses to write them, and so does _RimObject.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# Those, and the characters escaped in text or attribute values; most values have none.
_SPECIAL = re.compile('[&<>"\n\r\t\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')
# Beyond &, < and >, what lxml writes as character references, so the bytes match its output.
_TEXT_ENTITIES = {"\r": "&#13;"}
_ATTRIBUTE_ENTITIES = {**_TEXT_ENTITIES, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}


def _element(rim: _RimObject) -> etree._Element:
    return etree.fromstring(rim.xml(declare=True).encode(), _WRITTEN)


def _rim_element(
    tag: str, attributes: dict[str, str], children: str = "", namespace: str = ""
) -> str:
    written = "".join(f' {name}="{_attribute(value)}"' for name, value in attributes.items())
    if children:
        return f"<rim:{tag}{namespace}{written}>{children}</rim:{tag}>"
    return f"<rim:{tag}{namespace}{written}/>"


def _slots_xml(slots: Iterable[tuple[str, list[str]]]) -> str:
    # Written out rather than through _rim_element: a response holds hundreds of Slots.
    written = []
    for name, values in slots:
        value_list = "".join(
            f"<rim:Value>{_text(value)}</rim:Value>" if value else "<rim:Value/>"
            for value in values
        )
        value_list = (
            f"<rim:ValueList>{value_list}</rim:ValueList>" if values else "<rim:ValueList/>"
        )
        written.append(f'<rim:Slot name="{_attribute(name)}">{value_list}</rim:Slot>')
    return "".join(written)


def _localized_xml(tag: str, value: str) -> str:
    return f'<rim:{tag}><rim:LocalizedString value="{_attribute(value)}"/></rim:{tag}>'


def _text(value: str) -> str:
    return _escaped(value, _TEXT_ENTITIES)


def _attribute(value: str) -> str:
    return _escaped(value, _ATTRIBUTE_ENTITIES)


def _escaped(value: str, entities: dict[str, str]) -> str:
    if _SPECIAL.search(value) is None:
        return value
    if _NOT_XML.search(value):
        raise ValueError(
            "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control "
            "characters"
        )
    return escape(value, entities)


def _child_id(object_id: str, *parts: str) -> str:
    """`uuid.uuid5(_ID_NAMESPACE, "|".join((object_id, *parts))).urn`, computed directly.

    RFC 4122 4.3: the SHA-1 of namespace and name, with version 5 and the RFC 4122 variant set.
    Without the UUID objects this takes a third of the time, and a response has many such ids.
    """
    name = "|".join((object_id, *parts)).encode()
    digest = hashlib.sha1(_ID_NAMESPACE_BYTES + name, usedforsecurity=False).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 0x3]
    return (
        f"urn:uuid:{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-"
        f"{digest[20:32]}"
    )


def _slots(element: etree._Element) -> dict[str, list[str]]:
    slots: dict[str, list[str]] = {}
    for slot in element.findall(qname(RIM, "Slot")):
        values = [text_of(value) for value in slot.iterfind(f"{qname(RIM, 'ValueList')}/*")]
        slots.setdefault(slot.get("name", ""), []).extend(values)
    return slots


def _localized(element: etree._Element, tag: str) -> str | None:
    holder = element.find(qname(RIM, tag))
    if holder is None:
        return None
    string = holder.find(qname(RIM, "LocalizedString"))
    return None if string is None else string.get("value", "")


def _version(element: etree._Element) -> str | None:
    info = element.find(qname(RIM, "VersionInfo"))
    return None if info is None else info.get("versionName")


def _read_common(item: DocumentEntry | SubmissionSet | Folder | Association, element) -> None:
    item.availability_status = element.get("status") or item.availability_status
    item.home_community_id = element.get("home") or None
    if not isinstance(item, Association):
        item.title = _localized(element, "Name")
        item.comments = _localized(element, "Description")


def _scheme(value: str | None) -> str:
    # Some published samples break scheme UUIDs with spaces; the UUID itself is unambiguous.
    return "".join((value or "").split())


def _classifications(element: etree._Element) -> dict[str, list[etree._Element]]:
    found: dict[str, list[etree._Element]] = {}
    for classification in element.findall(qname(RIM, "Classification")):
        scheme = _scheme(classification.get("classificationScheme"))
        if scheme:
            found.setdefault(scheme, []).append(classification)
    return found


def _external_identifiers(element: etree._Element) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for identifier in element.findall(qname(RIM, "ExternalIdentifier")):
        scheme = _scheme(identifier.get("identificationScheme"))
        found.setdefault(scheme, []).append(identifier.get("value", ""))
    return found


def _nodes(element: etree._Element) -> set[str | None]:
    return {c.get("classificationNode") for c in element.findall(qname(RIM, "Classification"))}


def _package_nodes(element: etree._Element) -> dict[str, str]:
    nodes = {}
    for classification in element.findall(qname(RIM, "Classification")):
        node = classification.get("classificationNode")
        if node and node not in v.LIMITED_METADATA_NODES:
            nodes[classification.get("classifiedObject", "")] = node
    return nodes


def _code(classification: etree._Element, reading: _Reading) -> Code:
    return Code(
        code=classification.get("nodeRepresentation", ""),
        coding_scheme=reading.one("codingScheme", _slots(classification).get("codingScheme")) or "",
        display_name=_localized(classification, "Name") or "",
    )


def _author(classification: etree._Element, reading: _Reading) -> Author:
    slots = _slots(classification)
    return Author(
        person=reading.one(v.AUTHOR_PERSON, slots.get(v.AUTHOR_PERSON)),
        institutions=slots.get(v.AUTHOR_INSTITUTION, []),
        roles=slots.get(v.AUTHOR_ROLE, []),
        specialties=slots.get(v.AUTHOR_SPECIALTY, []) + slots.get(v.AUTHOR_SPECIALTY_OLD, []),
        telecommunications=slots.get(v.AUTHOR_TELECOMMUNICATION, []),
    )


class _Reading:
    """What is wrong with one registry object being read, reported together when it is done.

    A single-valued attribute given twice is reported, never cut to its first value: the codec
    keeps what it cannot represent from being dropped unseen.
    """

    def __init__(self, object_id: str) -> None:
        self.object_id = object_id
        self.issues: list[Issue] = []

    def one(self, attribute: str, values: list[T] | None) -> T | None:
        """The value of a single-valued attribute; more than one value is an issue."""
        if not values:
            return None
        if len(values) > 1:
            message = f"{attribute} is given {len(values)} times; it takes one value"
            self.issues.append(Rule.ATTRIBUTE_REPEATED.issue(message, self.object_id, attribute))
        return values[0]

    def integer(self, attribute: str, value: str | None) -> int | None:
        """`value` as an integer; anything else is an issue."""
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            message = f"{attribute} is not an integer"
            self.issues.append(
                Issue(ErrorCode.REGISTRY_METADATA_ERROR, message, self.object_id, attribute)
            )
            return None

    def require(self, values: dict[str, str | None]) -> None:
        """Each of `values` missing or empty is an issue."""
        self.issues += [
            Rule.REQUIRED_ATTRIBUTE_MISSING.issue(f"{name} is missing", self.object_id, name)
            for name, value in values.items()
            if not value
        ]

    def done(self) -> None:
        """Raise XdsError with every issue found, if any."""
        if self.issues:
            raise XdsError(self.issues)
