"""The XDS metadata model to and from ebRIM 3.0 registry objects (ITI TF-3 4.2.3, 4.2.5)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import TypeVar

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
_ToRim = Callable[..., etree._Element]

# Seeds the ids of Classifications and ExternalIdentifiers so a given object always serializes
# to the same bytes.
_ID_NAMESPACE = uuid.UUID("0b6f6c0e-5e0b-4c1e-9d2a-7c3f1f1e2a10")

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
    element = _registry_object(
        "ExtrinsicObject",
        entry.entry_uuid,
        status=entry.availability_status,
        object_type=entry.object_type,
        lid=entry.logical_id,
        home=home or entry.home_community_id,
    )
    element.set("mimeType", entry.mime_type)

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
    _add_slots(element, [*slots, *entry.extra_slots.items()])
    _add_name_description(element, entry.title, entry.comments, entry.version)

    for author in entry.authors:
        _add_author(element, v.DOC_AUTHOR, author)
    for attribute, _, scheme in _DOCUMENT_CODES:
        if (code := getattr(entry, attribute)) is not None:
            _add_code(element, scheme, code)
    for code in entry.confidentiality_codes:
        _add_code(element, v.DOC_CONFIDENTIALITY_CODE, code)
    for code in entry.event_code_list:
        _add_code(element, v.DOC_EVENT_CODE_LIST, code)

    if entry.limited_metadata:
        _add_node_classification(element, v.DOC_LIMITED_METADATA)

    _add_external_identifier(element, v.DOC_PATIENT_ID, entry.patient_id)
    _add_external_identifier(element, v.DOC_UNIQUE_ID, entry.unique_id)
    return element


def submission_set_to_rim(
    submission_set: SubmissionSet, *, home: str | None = None
) -> etree._Element:
    """Serialize a SubmissionSet as a classified rim:RegistryPackage."""
    element = _registry_object(
        "RegistryPackage",
        submission_set.entry_uuid,
        status=submission_set.availability_status,
        object_type=v.OBJECT_TYPE_REGISTRY_PACKAGE,
        home=home or submission_set.home_community_id,
    )
    slots = [("submissionTime", [submission_set.submission_time])]
    if submission_set.intended_recipients:
        slots.append(("intendedRecipient", submission_set.intended_recipients))
    _add_slots(element, [*slots, *submission_set.extra_slots.items()])
    _add_name_description(element, submission_set.title, submission_set.comments)

    for author in submission_set.authors:
        _add_author(element, v.SS_AUTHOR, author)
    if submission_set.content_type_code is not None:
        _add_code(element, v.SS_CONTENT_TYPE_CODE, submission_set.content_type_code)
    _add_node_classification(element, v.SUBMISSION_SET_NODE)
    if submission_set.limited_metadata:
        _add_node_classification(element, v.SS_LIMITED_METADATA)

    _add_external_identifier(element, v.SS_UNIQUE_ID, submission_set.unique_id)
    _add_external_identifier(element, v.SS_SOURCE_ID, submission_set.source_id)
    _add_external_identifier(element, v.SS_PATIENT_ID, submission_set.patient_id)
    return element


def folder_to_rim(folder: Folder, *, home: str | None = None) -> etree._Element:
    """Serialize a Folder as a classified rim:RegistryPackage."""
    element = _registry_object(
        "RegistryPackage",
        folder.entry_uuid,
        status=folder.availability_status,
        object_type=v.OBJECT_TYPE_REGISTRY_PACKAGE,
        home=home or folder.home_community_id,
    )
    slots = []
    if folder.last_update_time is not None:
        slots.append(("lastUpdateTime", [folder.last_update_time]))
    _add_slots(element, [*slots, *folder.extra_slots.items()])
    _add_name_description(element, folder.title, folder.comments)

    for code in folder.code_list:
        _add_code(element, v.FOLDER_CODE_LIST, code)
    _add_node_classification(element, v.FOLDER_NODE)
    if folder.limited_metadata:
        _add_node_classification(element, v.FOLDER_LIMITED_METADATA)

    _add_external_identifier(element, v.FOLDER_PATIENT_ID, folder.patient_id)
    _add_external_identifier(element, v.FOLDER_UNIQUE_ID, folder.unique_id)
    return element


def association_to_rim(association: Association, *, home: str | None = None) -> etree._Element:
    """Serialize an Association as a rim:Association."""
    element = _registry_object(
        "Association",
        association.entry_uuid,
        status=association.availability_status,
        object_type=v.OBJECT_TYPE_ASSOCIATION,
        home=home or association.home_community_id,
    )
    element.set("associationType", association.association_type)
    element.set("sourceObject", as_urn_uuid(association.source_object))
    element.set("targetObject", as_urn_uuid(association.target_object))

    slots = []
    if association.submission_set_status is not None:
        slots.append(("SubmissionSetStatus", [association.submission_set_status]))
    _add_slots(element, [*slots, *association.extra_slots.items()])
    return element


def object_ref(object_id: str, *, home: str | None = None) -> etree._Element:
    """Return a rim:ObjectRef to a registry object."""
    element = etree.Element(qname(RIM, "ObjectRef"), nsmap={"rim": RIM})
    element.set("id", as_urn_uuid(object_id))
    if home:
        element.set("home", home)
    return element


def registry_object_list(
    result: QueryResult, *, home: str | None = None, object_refs: bool = False
) -> etree._Element:
    """Return a rim:RegistryObjectList with every object of a result, as LeafClass or ObjectRef."""
    element = etree.Element(qname(RIM, "RegistryObjectList"), nsmap={"rim": RIM})
    objects: list[tuple[DocumentEntry | SubmissionSet | Folder | Association, _ToRim]] = [
        *((entry, document_entry_to_rim) for entry in result.document_entries),
        *((submission_set, submission_set_to_rim) for submission_set in result.submission_sets),
        *((folder, folder_to_rim) for folder in result.folders),
        *((association, association_to_rim) for association in result.associations),
    ]
    for item, to_rim in objects:
        if object_refs:
            element.append(object_ref(item.entry_uuid, home=home or item.home_community_id))
        else:
            element.append(to_rim(item, home=home))
    return element


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
) -> etree._Element:
    element = etree.Element(qname(RIM, tag), nsmap={"rim": RIM})
    element.set("id", as_urn_uuid(object_id))
    if lid is not None:
        element.set("lid", as_urn_uuid(lid))
    element.set("status", status)
    element.set("objectType", object_type)
    if home:
        element.set("home", home)
    return element


def _add_slots(element: etree._Element, slots: Iterable[tuple[str, list[str]]]) -> None:
    for name, values in slots:
        slot = etree.SubElement(element, qname(RIM, "Slot"), name=name)
        value_list = etree.SubElement(slot, qname(RIM, "ValueList"))
        for value in values:
            etree.SubElement(value_list, qname(RIM, "Value")).text = value


def _add_name_description(
    element: etree._Element, title: str | None, comments: str | None, version: str | None = None
) -> None:
    if title is not None:
        name = etree.SubElement(element, qname(RIM, "Name"))
        etree.SubElement(name, qname(RIM, "LocalizedString"), value=title)
    if comments is not None:
        description = etree.SubElement(element, qname(RIM, "Description"))
        etree.SubElement(description, qname(RIM, "LocalizedString"), value=comments)
    if version is not None:
        etree.SubElement(element, qname(RIM, "VersionInfo"), versionName=version)


def _child_id(element: etree._Element, *parts: str) -> str:
    return uuid.uuid5(_ID_NAMESPACE, "|".join((element.get("id", ""), *parts))).urn


def _classification(
    element: etree._Element, scheme: str, node_representation: str
) -> etree._Element:
    count = len(element.findall(qname(RIM, "Classification")))
    classification = etree.SubElement(element, qname(RIM, "Classification"))
    classification.set("id", _child_id(element, scheme, str(count)))
    classification.set("objectType", v.OBJECT_TYPE_CLASSIFICATION)
    classification.set("classificationScheme", scheme)
    classification.set("classifiedObject", element.get("id", ""))
    classification.set("nodeRepresentation", node_representation)
    return classification


def _add_code(element: etree._Element, scheme: str, code: Code) -> None:
    classification = _classification(element, scheme, code.code)
    _add_slots(classification, [("codingScheme", [code.coding_scheme])])
    if code.display_name:
        name = etree.SubElement(classification, qname(RIM, "Name"))
        etree.SubElement(name, qname(RIM, "LocalizedString"), value=code.display_name)


def _add_author(element: etree._Element, scheme: str, author: Author) -> None:
    classification = _classification(element, scheme, "")
    slots = [
        (v.AUTHOR_PERSON, [author.person] if author.person is not None else []),
        (v.AUTHOR_INSTITUTION, author.institutions),
        (v.AUTHOR_ROLE, author.roles),
        (v.AUTHOR_SPECIALTY, author.specialties),
        (v.AUTHOR_TELECOMMUNICATION, author.telecommunications),
    ]
    _add_slots(classification, [(name, values) for name, values in slots if values])


def _add_node_classification(element: etree._Element, node: str) -> None:
    classification = etree.SubElement(element, qname(RIM, "Classification"))
    classification.set("id", _child_id(element, node))
    classification.set("objectType", v.OBJECT_TYPE_CLASSIFICATION)
    classification.set("classifiedObject", element.get("id", ""))
    classification.set("classificationNode", node)


def _add_external_identifier(element: etree._Element, scheme: str, value: str) -> None:
    identifier = etree.SubElement(element, qname(RIM, "ExternalIdentifier"))
    identifier.set("id", _child_id(element, scheme))
    identifier.set("objectType", v.OBJECT_TYPE_EXTERNAL_IDENTIFIER)
    identifier.set("registryObject", element.get("id", ""))
    identifier.set("identificationScheme", scheme)
    identifier.set("value", value)
    name = etree.SubElement(identifier, qname(RIM, "Name"))
    etree.SubElement(name, qname(RIM, "LocalizedString"), value=v.EXTERNAL_IDENTIFIER_NAMES[scheme])


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
