"""Replays the public sample messages in ../shared through the ebRIM codec and the XCA endpoint.

The samples live next to the repository, not in it. Without them these tests fail, unless
XCADS_NO_SHARED=1 says they are knowingly absent.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from gateway.app import create_app
from gateway.config import Settings
from gateway.mtom import parse_multipart, resolve_xop, root_xml
from gateway.soap import read_envelope
from registry.ebrim import (
    ResponseStatus,
    adhoc_query_response,
    document_entry_from_rim,
    document_entry_to_rim,
    parse_adhoc_query_request,
    parse_registry_object_list,
    parse_submit_objects_request,
    parse_xml,
    registry_object_list,
)
from registry.errors import ErrorCode, Issue
from registry.metadata import (
    Association,
    AssociationType,
    Author,
    Code,
    DocumentEntry,
    Submission,
    SubmissionSet,
)
from registry.store import QueryResult

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SAMPLES = SHARED / "samples"
SCHEMAS = SHARED / "schemas"

if os.environ.get("XCADS_NO_SHARED") == "1" and not SHARED.is_dir():
    pytest.skip(
        "XCADS_NO_SHARED=1: the shared samples are knowingly absent", allow_module_level=True
    )

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
    "xds": "urn:ihe:iti:xds-b:2007",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
SOAP = "application/soap+xml; charset=utf-8"
URL = "/XCA/services/RespondingGatewayService"

# The NHN capture's addressing: its HomeCommunityId, RepositoryUniqueId and document uniqueId.
NHN_HOME = "urn:oid:2.16.578.1.12.4.5.100.1"
NHN_REPOSITORY = "2.16.578.1.12.4.5.100.1.2"
NHN_DOCUMENT = "4955f740-0be2-49f3-9e67-039f0a00ad6c"
NHN_QUERY_PATIENT = "16923453613^^^&2.16.578.1.12.4.1.4.1&ISO"
NHN_RETRIEVE_CONTENT_TYPE = (
    'multipart/related; boundary="MIMEBoundary_cab1d70f258a850f06f926ab5645aaa9111f017d951cfe8d";'
    ' type="application/xop+xml"; start="<0.dab1d70f258a850f06f926ab5645aaa9111f017d951cfe8d'
    '@apache.org>"; start-info="application/soap+xml";'
    ' action="urn:ihe:iti:2007:CrossGatewayRetrieve"'
)


def sample(path: str) -> bytes:
    file = SAMPLES / path
    if not file.is_file():
        pytest.fail(f"{file} is missing; set XCADS_NO_SHARED=1 if ../shared is knowingly absent")
    return file.read_bytes()


def schema(name: str) -> etree.XMLSchema:
    file = SCHEMAS / name
    if not file.is_file():
        pytest.fail(f"{file} is missing; set XCADS_NO_SHARED=1 if ../shared is knowingly absent")
    return etree.XMLSchema(etree.parse(str(file)))


def assert_valid(xsd: etree.XMLSchema, element: etree._Element) -> None:
    document = etree.fromstring(etree.tostring(element))
    assert xsd.validate(document), xsd.error_log


@pytest.fixture(scope="module")
def query_xsd() -> etree.XMLSchema:
    return schema("query.xsd")


@pytest.fixture(scope="module")
def repository_xsd() -> etree.XMLSchema:
    return schema("XDS.b_DocumentRepository.xsd")


@pytest.fixture
def app(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data",
        home_community_id=NHN_HOME,
        repository_unique_id=NHN_REPOSITORY,
    )
    app = create_app(settings)
    yield app
    app.state.registry.close()


def store(app, data: bytes, unique_id: str, patient_id: str) -> DocumentEntry:
    entry = DocumentEntry(
        entry_uuid=uuid.uuid4().urn,
        unique_id=unique_id,
        patient_id=patient_id,
        mime_type="text/xml",
        hash=hashlib.sha1(data).hexdigest(),
        size=len(data),
        repository_unique_id=NHN_REPOSITORY,
        creation_time="20250829094156",
        class_code=Code("A00-1", "2.16.578.1.12.4.1.1.9602", "Epikriser og sammenfatninger"),
        type_code=Code("A01-2", "2.16.578.1.12.4.1.1.9602", "Epikrise"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        authors=[Author(person="^Lege^Kari^^^", institutions=["Sykehus^^^^^^^^^1.2.3"])],
        title="Epikrise",
    )
    submission_set = SubmissionSet(
        entry_uuid=uuid.uuid4().urn,
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id="1.2.3",
        patient_id=patient_id,
        submission_time="20250829094200",
    )
    association = Association(
        entry_uuid=uuid.uuid4().urn,
        association_type=AssociationType.HAS_MEMBER,
        source_object=submission_set.entry_uuid,
        target_object=entry.entry_uuid,
        submission_set_status="Original",
    )
    staged = app.state.documents.stage([data])
    app.state.registry.register(
        Submission(submission_set, [entry], associations=[association]),
        before_commit=lambda: app.state.documents.promote(staged, unique_id),
    )
    return entry


def body_of(reply) -> etree._Element:
    content_type = reply.headers["content-type"]
    if content_type.startswith("multipart/related"):
        package = parse_multipart(reply.content, content_type)
        root = parse_xml(root_xml(package))
        resolve_xop(root, package.parts)
    else:
        root = etree.fromstring(reply.content)
    return root.find("env:Body/*", NS)


# --- ebRIM codec on published metadata ---------------------------------------------------------


def test_ipf_submit_objects_request_is_read():
    submission = parse_submit_objects_request(
        parse_xml(sample("ipf/SubmitObjectsRequest_ebrs30.xml"))
    )

    (entry,) = submission.document_entries
    assert entry.unique_id == "1.3.6.1.4.1.21367.2005.3.9999.32"
    assert entry.patient_id == "SELF-5^^^&1.3.6.1.4.1.21367.2005.3.7&ISO"
    assert entry.class_code == Code(
        "History and Physical", "Connect-a-thon classCodes", "History and Physical"
    )
    assert entry.type_code.code == "34108-1"
    assert entry.authors[0].institutions == ["Cleveland Clinic", "Parma Community"]
    assert entry.authors[0].specialties == ["Orthopedic"]
    assert len(entry.source_patient_info) == 5
    assert submission.submission_set.source_id == "3670984664"
    assert submission.submission_set.content_type_code.code == "History and Physical"
    assert [a.association_type for a in submission.associations] == [
        AssociationType.HAS_MEMBER,
        AssociationType.IS_SNAPSHOT_OF,
    ]
    assert submission.associations[0].submission_set_status == "Original"


def test_ipf_document_entry_survives_our_serialization():
    submission = parse_submit_objects_request(
        parse_xml(sample("ipf/SubmitObjectsRequest_ebrs30.xml"))
    )
    entry = submission.document_entries[0]

    again = document_entry_from_rim(parse_xml(etree.tostring(document_entry_to_rim(entry))))

    assert again == entry


def test_nist_provide_and_register_metadata_is_read():
    envelope = read_envelope(parse_xml(sample("nist/soap-pnr.xml")))
    request = envelope.body.find("lcm:SubmitObjectsRequest", NS)

    submission = parse_submit_objects_request(request)

    assert submission.document_entries
    assert all(entry.unique_id and entry.patient_id for entry in submission.document_entries)
    assert submission.submission_set.unique_id


@pytest.mark.parametrize("path", ["nist/sq-resp-lc.xml", "nist/soap-xcq-resp.xml"])
def test_nist_query_responses_round_trip_through_the_model(path, query_xsd):
    root = parse_xml(sample(path))
    (object_list,) = root.iter(f"{{{NS['rim']}}}RegistryObjectList")
    result = parse_registry_object_list(object_list)

    again = parse_registry_object_list(parse_xml(etree.tostring(registry_object_list(result))))

    assert again == result
    assert result.document_entries
    assert_valid(query_xsd, adhoc_query_response(ResponseStatus.SUCCESS, result))


# --- ebRIM codec: parse, model, serialize says what the sample says ---------------------------
#
# Compared object by object: attributes, every Slot with its values, Name and Description,
# VersionInfo, Classifications by scheme, node, code, codingScheme and name, ExternalIdentifiers
# by scheme, value and name. What may differ, because it carries nothing:
# - the ids of Classification and ExternalIdentifier elements, and whether the Classification
#   marking a RegistryPackage as SubmissionSet or Folder sits inside the package or beside it;
# - whitespace around values and within scheme UUIDs, and the order of sibling elements;
# - ebRIM 3.0 defaults written or left out: status (Approved, what a registered object has),
#   objectType of a RegistryPackage or Association, isOpaque="false", home="", a Name or
#   Description without LocalizedString, LocalizedString charset UTF-8 and xml:lang en-US (in
#   any case), nodeRepresentation "" on an author Classification;
# - authorSpeciality, the spelling of early XDS.b samples, read as authorSpecialty.

_REGISTRY_OBJECTS = ("ExtrinsicObject", "RegistryPackage", "Association", "ObjectRef")
_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
_OBJECT_TYPES = {
    "RegistryPackage": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage",
    "Association": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association",
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

Strings = tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class RimObject:
    """What one registry object of a RegistryObjectList says, with the allowed differences gone."""

    kind: str
    attributes: tuple[tuple[str, str], ...]
    slots: tuple[tuple[str, tuple[str, ...]], ...]
    name: Strings
    description: Strings
    version: str | None
    classifications: tuple[tuple, ...]
    external_identifiers: tuple[tuple, ...]


def rim_objects(object_list: etree._Element) -> dict[str, RimObject]:
    """Every registry object of `object_list` by id."""
    beside: dict[str, list[etree._Element]] = {}
    for classification in object_list.findall("rim:Classification", NS):
        beside.setdefault(classification.get("classifiedObject", ""), []).append(classification)
    return {
        child.get("id", ""): _rim_object(child, beside.get(child.get("id", ""), []))
        for child in object_list
        if isinstance(child.tag, str) and etree.QName(child).localname in _REGISTRY_OBJECTS
    }


def _rim_object(element: etree._Element, beside: list[etree._Element]) -> RimObject:
    kind = etree.QName(element).localname
    attributes = {
        name: value
        for name, value in element.attrib.items()
        if name != "id" and value and (name, value) != ("isOpaque", "false")
    }
    attributes.setdefault("status", _APPROVED)
    if kind in _OBJECT_TYPES:
        attributes.setdefault("objectType", _OBJECT_TYPES[kind])
    version = element.find("rim:VersionInfo", NS)
    classifications = [*element.findall("rim:Classification", NS), *beside]
    return RimObject(
        kind=kind,
        attributes=tuple(sorted(attributes.items())),
        slots=_slots_of(element),
        name=_strings(element, "Name"),
        description=_strings(element, "Description"),
        version=None if version is None else version.get("versionName"),
        classifications=tuple(sorted(map(_classification, classifications), key=repr)),
        external_identifiers=tuple(
            sorted(
                (
                    _scheme(identifier.get("identificationScheme")),
                    identifier.get("value"),
                    _strings(identifier, "Name"),
                )
                for identifier in element.findall("rim:ExternalIdentifier", NS)
            )
        ),
    )


def _classification(element: etree._Element) -> tuple:
    return (
        _scheme(element.get("classificationScheme")),
        element.get("classificationNode"),
        element.get("nodeRepresentation") or "",
        _slots_of(element),
        _strings(element, "Name"),
        _strings(element, "Description"),
    )


def _slots_of(element: etree._Element) -> tuple[tuple[str, tuple[str, ...]], ...]:
    slots: dict[str, list[str]] = {}
    for slot in element.findall("rim:Slot", NS):
        name = slot.get("name", "")
        name = "authorSpecialty" if name == "authorSpeciality" else name
        values = [
            (value.text or "").strip() for value in slot.iterfind("rim:ValueList/rim:Value", NS)
        ]
        slots.setdefault(name, []).extend(values)
    return tuple(sorted((name, tuple(values)) for name, values in slots.items()))


def _strings(element: etree._Element, tag: str) -> Strings:
    holder = element.find(f"rim:{tag}", NS)
    if holder is None:
        return ()
    return tuple(
        (
            string.get("value", ""),
            (string.get(_XML_LANG) or "en-US").lower(),
            (string.get("charset") or "UTF-8").upper(),
        )
        for string in holder.findall("rim:LocalizedString", NS)
    )


def _scheme(value: str | None) -> str:
    return "".join((value or "").split())


def assert_says_the_same(original: etree._Element, again: etree._Element) -> None:
    """`again` holds the registry objects of `original`, each saying the same."""
    before, after = rim_objects(original), rim_objects(again)
    assert sorted(after) == sorted(before)
    for object_id, rim_object in before.items():
        assert after[object_id] == rim_object, object_id


def submission_object_list(request: etree._Element) -> etree._Element:
    """The RegistryObjectList the codec writes for the SubmitObjectsRequest it reads."""
    submission = parse_submit_objects_request(request)
    return registry_object_list(
        QueryResult(
            document_entries=submission.document_entries,
            submission_sets=[submission.submission_set],
            folders=submission.folders,
            associations=submission.associations,
        )
    )


def test_ipf_submit_objects_request_says_the_same_after_parse_and_serialize():
    request = parse_xml(sample("ipf/SubmitObjectsRequest_ebrs30.xml"))

    again = submission_object_list(request)

    assert_says_the_same(request.find("rim:RegistryObjectList", NS), again)


def test_nist_provide_and_register_metadata_says_the_same_after_parse_and_serialize():
    envelope = read_envelope(parse_xml(sample("nist/soap-pnr.xml")))
    request = envelope.body.find(".//lcm:SubmitObjectsRequest", NS)

    again = submission_object_list(request)

    assert_says_the_same(request.find("rim:RegistryObjectList", NS), again)


def test_nist_leaf_class_response_says_the_same_after_parse_and_serialize():
    (object_list,) = parse_xml(sample("nist/sq-resp-lc.xml")).iter(
        f"{{{NS['rim']}}}RegistryObjectList"
    )

    again = registry_object_list(parse_registry_object_list(object_list))

    assert_says_the_same(object_list, again)


def test_the_comparison_notices_a_classification_lost():
    (object_list,) = parse_xml(sample("nist/sq-resp-lc.xml")).iter(
        f"{{{NS['rim']}}}RegistryObjectList"
    )
    again = registry_object_list(parse_registry_object_list(object_list))
    event_code = again.find("rim:ExtrinsicObject/rim:Classification", NS)
    event_code.getparent().remove(event_code)

    with pytest.raises(AssertionError):
        assert_says_the_same(object_list, again)


def test_ipf_iti18_request_is_read():
    request = parse_adhoc_query_request(parse_xml(sample("ipf/iti18request.xml")))

    assert request.query_id == "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    assert request.return_type == "LeafClass"
    assert set(request.slots) == {
        "$XDSDocumentEntryPatientId",
        "$XDSDocumentEntryStatus",
        "$XDSDocumentEntryCreationTimeFrom",
        "$XDSDocumentEntryCreationTimeTo",
    }
    assert request.slots["$XDSDocumentEntryCreationTimeTo"] == [["20221016161616"]]


def test_nist_mtom_capture_is_read_with_its_document():
    raw = sample("nist/http-mtom-pnr.txt")
    head, _, body = raw.partition(b"\n\n")
    (content_type,) = [
        line.split(":", 1)[1]
        for line in head.decode().splitlines()
        if line.lower().startswith("content-type:")
    ]

    package = parse_multipart(body, content_type)
    root = parse_xml(root_xml(package))
    resolve_xop(root, package.parts)

    request = read_envelope(root, action=package.action)
    assert request.action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    (document,) = request.body.findall("xds:Document", NS)
    assert document.text and not len(document)


def test_failure_and_leaf_class_responses_are_schema_valid(query_xsd):
    failure = adhoc_query_response(
        ResponseStatus.FAILURE,
        issues=[Issue(ErrorCode.TOO_MANY_RESULTS, "narrow it", "q", "slot")],
    )
    result = QueryResult(
        document_entries=[
            DocumentEntry(
                "urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001",
                "2.25.1",
                NHN_QUERY_PATIENT,
                "text/xml",
                hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
                size=0,
                class_code=Code("A00-1", "2.16.578.1.12.4.1.1.9602", "Epikriser"),
                authors=[Author(person="^Lege^Kari^^^")],
                title="t",
                comments="c",
                version="1",
                logical_id="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001",
            )
        ]
    )

    assert_valid(query_xsd, failure)
    assert_valid(query_xsd, adhoc_query_response(ResponseStatus.SUCCESS, result, home=NHN_HOME))
    refs = adhoc_query_response(ResponseStatus.SUCCESS, result, return_type="ObjectRef")
    assert_valid(query_xsd, refs)


# --- The XCA endpoint on captured traffic ------------------------------------------------------


def test_nhn_find_documents_with_saml_is_answered(app, client, query_xsd):
    entry = store(app, b"<doc/>", f"2.25.{uuid.uuid4().int}", NHN_QUERY_PATIENT)

    reply = client.post(
        URL, content=sample("nhn/iti38-finddocuments-with-saml.xml"), headers={"Content-Type": SOAP}
    )

    assert reply.status_code == 200
    response = body_of(reply)
    assert response.get("status") == ResponseStatus.SUCCESS
    (extrinsic,) = response.iterfind(".//rim:ExtrinsicObject", NS)
    assert extrinsic.get("id") == entry.entry_uuid
    assert extrinsic.get("home") == NHN_HOME
    assert_valid(query_xsd, response)


def test_nhn_retrieve_capture_with_latin1_saml_is_answered(app, client, repository_xsd):
    store(app, b"<ClinicalDocument/>", NHN_DOCUMENT, "05825075846^^^&2.16.578.1.12.4.1.4.1&ISO")

    reply = client.post(
        URL,
        content=sample("nhn/iti39-retrieve-mtom-from-gateway.txt"),
        headers={"Content-Type": NHN_RETRIEVE_CONTENT_TYPE},
    )

    assert reply.status_code == 200, reply.text
    response = body_of(reply)
    assert response.find("rs:RegistryResponse", NS).get("status") == ResponseStatus.SUCCESS
    (document,) = response.iterfind("xds:DocumentResponse", NS)
    assert document.findtext("xds:DocumentUniqueId", namespaces=NS) == NHN_DOCUMENT
    assert_valid(repository_xsd, response)


def test_nist_cross_gateway_query_is_answered(client, query_xsd):
    reply = client.post(
        URL, content=sample("nist/soap-xcq-req.xml"), headers={"Content-Type": SOAP}
    )

    response = body_of(reply)
    assert response.get("status") == ResponseStatus.SUCCESS
    assert_valid(query_xsd, response)


def test_nist_cross_gateway_retrieve_for_another_community_fails_per_document(
    client, repository_xsd
):
    reply = client.post(
        URL, content=sample("nist/soap-xcr-req.xml"), headers={"Content-Type": SOAP}
    )

    response = body_of(reply)
    assert response.find("rs:RegistryResponse", NS).get("status") == ResponseStatus.FAILURE
    assert response.xpath(".//rs:RegistryError/@errorCode", namespaces=NS) == [
        "XDSUnknownCommunity",
        "XDSUnknownCommunity",
    ]
    assert_valid(repository_xsd, response)


def test_nist_retrieve_response_shape_is_schema_valid(repository_xsd):
    envelope = read_envelope(parse_xml(sample("nist/soap-xret-resp.xml")))

    assert_valid(repository_xsd, envelope.body)
