"""The ebRIM 3.0 codec: registry objects, queries, responses and the hardened XML parser."""

from __future__ import annotations

import uuid
from copy import deepcopy

import pytest
from lxml import etree

from registry.ebrim import (
    ResponseStatus,
    XmlRejected,
    adhoc_query_response,
    association_from_rim,
    association_to_rim,
    document_entry_from_rim,
    document_entry_to_rim,
    folder_to_rim,
    object_ref,
    parse_adhoc_query_request,
    parse_registry_object_list,
    parse_submit_objects_request,
    parse_xml,
    registry_object_list,
    registry_object_list_xml,
    registry_package_from_rim,
    registry_response,
    status_for,
    submission_set_to_rim,
)
from registry.ebrim.retrieve import parse_retrieve_document_set_request
from registry.errors import ErrorCode, Issue, Severity, XdsError
from registry.metadata import (
    Association,
    AssociationType,
    Author,
    AvailabilityStatus,
    Code,
    DocumentEntry,
    DocumentEntryType,
    Folder,
    SubmissionSet,
)
from registry.store import QueryResult

NS = {
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
}
HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"


def full_document_entry() -> DocumentEntry:
    return DocumentEntry(
        entry_uuid="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001",
        unique_id="2.25.4242",
        patient_id=PATIENT,
        mime_type="application/pdf",
        hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        size=1234,
        repository_unique_id="1.3.6.1.4.1.21367.13.70.200.1",
        home_community_id=HOME,
        availability_status=AvailabilityStatus.DEPRECATED,
        object_type=DocumentEntryType.ON_DEMAND,
        class_code=Code("A00-1", "2.16.578.1.12.4.1.1.9602", "Epikriser og sammenfatninger"),
        type_code=Code("A01-2", "2.16.578.1.12.4.1.1.9602", "Epikrise"),
        format_code=Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3"),
        healthcare_facility_type_code=Code("86.211", "2.16.578.1.12.4.1.1.1303", "Sykehus"),
        practice_setting_code=Code("1", "2.16.578.1.12.4.1.1.8451", "Allmennmedisin"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25"), Code("NORN_DUO", "9603")],
        event_code_list=[Code("T-D4909", "SNM3", "Kidney"), Code("E1", "urn:example")],
        language_code="nb-NO",
        creation_time="20240131120000",
        service_start_time="202401301000",
        service_stop_time="202401311100",
        title="Epikrise",
        comments="Utskrivning",
        authors=[
            Author(
                person="^Lege^Kari^^^",
                institutions=["Test sykehus^^^^^^^^^1.2.3.4.5"],
                roles=["LE"],
                specialties=["Indremedisin"],
                telecommunications=["^^Internet^kari@example.org"],
            ),
            Author(institutions=["Avdeling B"]),
        ],
        legal_authenticator="^Overlege^Ola^^^",
        source_patient_id="L-1^^^&1.2.3&ISO",
        source_patient_info=["PID-3|L-1^^^&1.2.3&ISO", "PID-7|19700101"],
        reference_id_list=["ref-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"],
        uri="https://example.org/doc",
        logical_id="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0000",
        version="2",
        extra_slots={"urn:example:one": ["a", "b"], "urn:example:two": ["c"]},
    )


def full_submission_set() -> SubmissionSet:
    return SubmissionSet(
        entry_uuid="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0002",
        unique_id="2.25.4243",
        source_id="1.2.3.4",
        patient_id=PATIENT,
        submission_time="20240131120500",
        content_type_code=Code("34133-9", "2.16.840.1.113883.6.1", "Summary"),
        authors=[Author(person="^Lege^Kari^^^", roles=["LE"])],
        intended_recipients=["Some Hospital^^^^^^^^^1.2.3.9|^Doe^John^^^"],
        title="Innsending",
        comments="Kommentar",
        availability_status=AvailabilityStatus.APPROVED,
        home_community_id=HOME,
        extra_slots={"urn:ihe:iti:xds:2015:designationType": ["x"]},
    )


def full_folder() -> Folder:
    return Folder(
        entry_uuid="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0003",
        unique_id="2.25.4244",
        patient_id=PATIENT,
        code_list=[Code("F1", "urn:example", "Folder code"), Code("F2", "urn:example")],
        last_update_time="20240131120500",
        title="Mappe",
        comments="Folder comments",
        home_community_id=HOME,
        extra_slots={"urn:example:slot": ["v"]},
    )


def full_association() -> Association:
    return Association(
        entry_uuid="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0004",
        association_type=AssociationType.HAS_MEMBER,
        source_object="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0002",
        target_object="urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001",
        submission_set_status="Original",
        home_community_id=HOME,
        extra_slots={"PreviousVersion": ["1"]},
    )


def reparse(element: etree._Element) -> etree._Element:
    return parse_xml(etree.tostring(element))


def scheme_codes(element: etree._Element, scheme: str) -> list[str]:
    path = f"rim:Classification[@classificationScheme='{scheme}']/@nodeRepresentation"
    return element.xpath(path, namespaces=NS)


def slot(element: etree._Element, name: str) -> list[str]:
    return element.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=NS)


def test_document_entry_round_trips_losslessly():
    entry = full_document_entry()

    assert document_entry_from_rim(reparse(document_entry_to_rim(entry))) == entry


def test_submission_set_round_trips_losslessly():
    submission_set = full_submission_set()

    assert registry_package_from_rim(reparse(submission_set_to_rim(submission_set))) == (
        submission_set
    )


def test_folder_round_trips_losslessly():
    folder = full_folder()

    assert registry_package_from_rim(reparse(folder_to_rim(folder))) == folder


def test_association_round_trips_losslessly():
    association = full_association()

    assert association_from_rim(reparse(association_to_rim(association))) == association


def test_limited_metadata_is_a_classification_node_and_round_trips():
    entry = DocumentEntry("urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0008", "2.25.2", PATIENT, "a/b")
    entry.limited_metadata = True
    submission_set, folder = full_submission_set(), full_folder()
    submission_set.limited_metadata = folder.limited_metadata = True

    element = reparse(document_entry_to_rim(entry))

    nodes = element.xpath("rim:Classification/@classificationNode", namespaces=NS)
    assert nodes == ["urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"]
    assert document_entry_from_rim(element) == entry
    for package in (submission_set, folder):
        to_rim = submission_set_to_rim if package is submission_set else folder_to_rim
        assert registry_package_from_rim(reparse(to_rim(package))) == package


def test_minimal_document_entry_round_trips_without_inventing_attributes():
    entry = DocumentEntry("urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0009", "2.25.1", PATIENT, "a/b")

    assert document_entry_from_rim(reparse(document_entry_to_rim(entry))) == entry


@pytest.mark.parametrize(
    ("attribute", "scheme"),
    [
        ("class_code", "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"),
        ("type_code", "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"),
        ("format_code", "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"),
        ("healthcare_facility_type_code", "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"),
        ("practice_setting_code", "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"),
    ],
)
def test_document_entry_code_uses_its_classification_scheme(attribute, scheme):
    entry = full_document_entry()

    element = document_entry_to_rim(entry)

    assert scheme_codes(element, scheme) == [getattr(entry, attribute).code]


def test_document_entry_code_lists_use_their_classification_schemes():
    element = document_entry_to_rim(full_document_entry())

    assert scheme_codes(element, "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f") == [
        "N",
        "NORN_DUO",
    ]
    assert scheme_codes(element, "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4") == [
        "T-D4909",
        "E1",
    ]


def test_code_carries_coding_scheme_slot_and_display_name():
    element = document_entry_to_rim(full_document_entry())

    (classification,) = element.xpath(
        "rim:Classification[@classificationScheme='urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a']",
        namespaces=NS,
    )
    assert slot(classification, "codingScheme") == ["2.16.578.1.12.4.1.1.9602"]
    assert classification.xpath("rim:Name/rim:LocalizedString/@value", namespaces=NS) == [
        "Epikriser og sammenfatninger"
    ]


def test_document_entry_author_slots():
    element = document_entry_to_rim(full_document_entry())

    first, _ = element.xpath(
        "rim:Classification[@classificationScheme='urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d']",
        namespaces=NS,
    )
    assert first.get("nodeRepresentation") == ""
    assert slot(first, "authorPerson") == ["^Lege^Kari^^^"]
    assert slot(first, "authorInstitution") == ["Test sykehus^^^^^^^^^1.2.3.4.5"]
    assert slot(first, "authorRole") == ["LE"]
    assert slot(first, "authorSpecialty") == ["Indremedisin"]
    assert slot(first, "authorTelecommunication") == ["^^Internet^kari@example.org"]


def test_document_entry_external_identifiers_have_scheme_and_name():
    element = document_entry_to_rim(full_document_entry())

    identifiers = {
        identifier.get("identificationScheme"): (
            identifier.get("value"),
            identifier.xpath("rim:Name/rim:LocalizedString/@value", namespaces=NS)[0],
        )
        for identifier in element.findall("rim:ExternalIdentifier", NS)
    }
    assert identifiers == {
        "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427": (PATIENT, "XDSDocumentEntry.patientId"),
        "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab": ("2.25.4242", "XDSDocumentEntry.uniqueId"),
    }


def test_document_entry_attributes_and_slots():
    element = document_entry_to_rim(full_document_entry())

    assert element.get("home") == HOME
    assert element.get("mimeType") == "application/pdf"
    assert element.get("objectType") == DocumentEntryType.ON_DEMAND
    assert element.get("status") == AvailabilityStatus.DEPRECATED
    assert slot(element, "hash") == ["da39a3ee5e6b4b0d3255bfef95601890afd80709"]
    assert slot(element, "size") == ["1234"]
    assert slot(element, "repositoryUniqueId") == ["1.3.6.1.4.1.21367.13.70.200.1"]
    assert slot(element, "urn:ihe:iti:xds:2013:referenceIdList") == [
        "ref-1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"
    ]


def test_every_id_on_a_returned_object_is_a_urn_uuid():
    entry = full_document_entry()
    entry.entry_uuid = "5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001"

    element = document_entry_to_rim(entry)

    ids = element.xpath("descendant-or-self::*/@id")
    assert ids and all(value.startswith("urn:uuid:") for value in ids)
    assert element.get("id") == "urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001"


def test_child_ids_are_name_based_uuids_of_the_object_scheme_and_position():
    # The ids of earlier releases: a gateway that cached a Classification id still finds it.
    entry = full_document_entry()
    entry.entry_uuid = "urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001"
    namespace = uuid.UUID("0b6f6c0e-5e0b-4c1e-9d2a-7c3f1f1e2a10")

    element = document_entry_to_rim(entry)

    classifications = element.findall("rim:Classification", NS)
    identifiers = element.findall("rim:ExternalIdentifier", NS)
    assert len(classifications) >= 8 and len(identifiers) == 2
    for position, classification in enumerate(classifications):
        name = f"{entry.entry_uuid}|{classification.get('classificationScheme')}|{position}"
        assert classification.get("id") == uuid.uuid5(namespace, name).urn
    for identifier in identifiers:
        name = f"{entry.entry_uuid}|{identifier.get('identificationScheme')}"
        assert identifier.get("id") == uuid.uuid5(namespace, name).urn


# Every character that XML escapes somewhere, line breaks, an empty value and non-ASCII text.
AWKWARD = "a&b <c> \"d\" 'e' f\ng\rh\ti ]]> æøå \u2028"


def test_written_text_is_what_lxml_writes_of_it():
    entry = full_document_entry()
    entry.title, entry.comments = AWKWARD, ""
    entry.extra_slots = {"urn:example:awkward": [AWKWARD, ""]}
    entry.event_code_list = [Code(AWKWARD, AWKWARD, AWKWARD)]
    entry.authors = [Author(person=AWKWARD)]
    association = full_association()
    association.extra_slots = {"urn:example:awkward": [AWKWARD]}
    result = QueryResult(
        document_entries=[entry],
        submission_sets=[full_submission_set()],
        folders=[full_folder()],
        associations=[association],
    )

    for object_refs in (False, True):
        text = registry_object_list_xml(result, home=HOME, object_refs=object_refs, declare=True)

        element = registry_object_list(result, home=HOME, object_refs=object_refs)
        assert etree.tostring(element, encoding="unicode") == text
    values = document_entry_to_rim(entry).findall(
        "rim:Slot[@name='urn:example:awkward']/rim:ValueList/rim:Value", NS
    )
    assert [value.text or "" for value in values] == [AWKWARD, ""]
    assert (
        document_entry_to_rim(entry).find("rim:Name/rim:LocalizedString", NS).get("value")
        == AWKWARD
    )


def test_text_without_declaration_fits_inside_a_query_response():
    result = QueryResult(document_entries=[full_document_entry()])
    response = adhoc_query_response(ResponseStatus.SUCCESS, result, home=HOME)

    text = registry_object_list_xml(result, home=HOME, declare=False)

    assert text.startswith("<rim:RegistryObjectList>")
    assert etree.tostring(response, encoding="unicode").endswith(
        f"{text}</query:AdhocQueryResponse>"
    )


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1f", "\ufffe"])
def test_characters_xml_does_not_allow_are_refused_not_written(character):
    entry = full_document_entry()
    entry.title = f"before{character}after"

    with pytest.raises(ValueError):
        registry_object_list_xml(QueryResult(document_entries=[entry]), declare=True)


def test_serialization_is_deterministic():
    entry = full_document_entry()

    assert etree.tostring(document_entry_to_rim(entry)) == etree.tostring(
        document_entry_to_rim(entry)
    )


def test_submission_set_is_classified_by_its_node():
    element = submission_set_to_rim(full_submission_set())

    assert element.xpath("rim:Classification/@classificationNode", namespaces=NS) == [
        "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
    ]
    schemes = element.xpath("rim:ExternalIdentifier/@identificationScheme", namespaces=NS)
    assert set(schemes) == {
        "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
        "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
        "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    }


def test_folder_is_classified_by_its_node():
    element = folder_to_rim(full_folder())

    assert element.xpath("rim:Classification/@classificationNode", namespaces=NS) == [
        "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
    ]
    assert scheme_codes(element, "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5") == ["F1", "F2"]


def test_association_carries_submission_set_status():
    element = association_to_rim(full_association())

    assert element.get("associationType") == AssociationType.HAS_MEMBER
    assert slot(element, "SubmissionSetStatus") == ["Original"]


def test_object_ref_has_home():
    element = object_ref("urn:uuid:5d2e2a8e-8c6b-4c1e-9d55-0b0a7a5b0001", home=HOME)

    assert element.tag == f"{{{NS['rim']}}}ObjectRef"
    assert element.get("home") == HOME


def test_registry_object_list_round_trips_every_kind():
    result = QueryResult(
        document_entries=[full_document_entry()],
        submission_sets=[full_submission_set()],
        folders=[full_folder()],
        associations=[full_association()],
    )
    response = adhoc_query_response(ResponseStatus.SUCCESS, result)

    parsed = parse_registry_object_list(response.find("rim:RegistryObjectList", NS))

    assert parsed == result


def test_submission_set_classified_outside_the_package_is_recognized():
    submission_set = submission_set_to_rim(full_submission_set())
    for classification in submission_set.xpath(
        "rim:Classification[@classificationNode]", namespaces=NS
    ):
        submission_set.remove(classification)
    request = etree.Element(
        "{urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0}SubmitObjectsRequest", nsmap=NS
    )
    object_list = etree.SubElement(request, f"{{{NS['rim']}}}RegistryObjectList")
    object_list.append(submission_set)
    etree.SubElement(
        object_list,
        f"{{{NS['rim']}}}Classification",
        classifiedObject=submission_set.get("id"),
        classificationNode="urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd",
    )

    submission = parse_submit_objects_request(reparse(request))

    assert submission.submission_set == full_submission_set()


def test_missing_required_attributes_are_named():
    element = document_entry_to_rim(full_document_entry())
    for identifier in element.findall("rim:ExternalIdentifier", NS):
        element.remove(identifier)

    with pytest.raises(XdsError) as caught:
        document_entry_from_rim(element)

    assert {(i.code, i.attribute) for i in caught.value.issues} == {
        (ErrorCode.REGISTRY_METADATA_ERROR, "uniqueId"),
        (ErrorCode.REGISTRY_METADATA_ERROR, "patientId"),
    }


def test_size_that_is_not_a_number_is_a_metadata_error():
    element = document_entry_to_rim(full_document_entry())
    element.xpath("rim:Slot[@name='size']/rim:ValueList/rim:Value", namespaces=NS)[0].text = "x"

    with pytest.raises(XdsError) as caught:
        document_entry_from_rim(element)

    assert caught.value.issues[0].attribute == "size"


def _repeated(element: etree._Element, xpath: str) -> None:
    """Give the child of `element` at `xpath` once more, as a second sibling."""
    (child,) = element.xpath(xpath, namespaces=NS)
    again = deepcopy(child)
    if again.get("id"):
        again.set("id", again.get("id") + "-again")
    child.addnext(again)


@pytest.mark.parametrize(
    ("attribute", "scheme"),
    [
        ("classCode", "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"),
        ("typeCode", "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"),
        ("formatCode", "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"),
        ("healthcareFacilityTypeCode", "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"),
        ("practiceSettingCode", "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"),
    ],
)
def test_single_valued_code_given_twice_is_a_metadata_error_not_dropped(attribute, scheme):
    entry = full_document_entry()
    element = document_entry_to_rim(entry)
    _repeated(element, f"rim:Classification[@classificationScheme='{scheme}']")

    with pytest.raises(XdsError) as caught:
        document_entry_from_rim(element)

    assert [(i.code, i.object_id, i.attribute) for i in caught.value.issues] == [
        (ErrorCode.REGISTRY_METADATA_ERROR, entry.entry_uuid, attribute)
    ]


def test_single_valued_slot_with_two_values_is_a_metadata_error_not_dropped():
    element = document_entry_to_rim(full_document_entry())
    _repeated(element, "rim:Slot[@name='creationTime']/rim:ValueList/rim:Value")

    with pytest.raises(XdsError) as caught:
        document_entry_from_rim(element)

    assert [(i.code, i.attribute) for i in caught.value.issues] == [
        (ErrorCode.REGISTRY_METADATA_ERROR, "creationTime")
    ]


@pytest.mark.parametrize(
    ("child", "attribute"),
    [
        (
            "rim:ExternalIdentifier[@identificationScheme="
            "'urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8']",
            "uniqueId",
        ),
        (
            "rim:Classification[@classificationScheme="
            "'urn:uuid:aa543740-bdda-424e-8c96-df4873be8500']",
            "contentTypeCode",
        ),
        ("rim:Slot[@name='submissionTime']/rim:ValueList/rim:Value", "submissionTime"),
    ],
)
def test_submission_set_attribute_given_twice_is_a_metadata_error_not_dropped(child, attribute):
    element = submission_set_to_rim(full_submission_set())
    _repeated(element, child)

    with pytest.raises(XdsError) as caught:
        registry_package_from_rim(element)

    assert [(i.code, i.attribute) for i in caught.value.issues] == [
        (ErrorCode.REGISTRY_METADATA_ERROR, attribute)
    ]


def test_every_problem_of_an_object_is_reported_at_once():
    element = document_entry_to_rim(full_document_entry())
    _repeated(
        element,
        "rim:Classification[@classificationScheme='urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a']",
    )
    del element.attrib["mimeType"]

    with pytest.raises(XdsError) as caught:
        document_entry_from_rim(element)

    assert {i.attribute for i in caught.value.issues} == {"mimeType", "classCode"}


# --- Responses ---------------------------------------------------------------------------------


def test_status_success_without_errors():
    warning = Issue(ErrorCode.EXTRA_METADATA_NOT_SAVED, "x", severity=Severity.WARNING)

    assert status_for([warning], has_results=True) == ResponseStatus.SUCCESS


def test_status_partial_success_with_errors_and_results():
    assert status_for([Issue(ErrorCode.REGISTRY_ERROR, "x")], has_results=True) == (
        "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    )


def test_status_failure_with_errors_and_no_results():
    assert status_for([Issue(ErrorCode.REGISTRY_ERROR, "x")], has_results=False) == (
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    )


def test_registry_error_list_renders_each_issue():
    issue = Issue(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, "no such document", "2.25.1", "uniqueId")

    response = registry_response(ResponseStatus.FAILURE, [issue])

    (error,) = response.findall("rs:RegistryErrorList/rs:RegistryError", NS)
    assert error.attrib == {
        "errorCode": "XDSDocumentUniqueIdError",
        "codeContext": "no such document",
        "location": "2.25.1 uniqueId",
        "severity": "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error",
    }


def test_adhoc_query_response_puts_errors_before_objects():
    issue = Issue(ErrorCode.TOO_MANY_RESULTS, "narrow it")

    response = adhoc_query_response(ResponseStatus.FAILURE, issues=[issue])

    assert [etree.QName(child).localname for child in response] == [
        "RegistryErrorList",
        "RegistryObjectList",
    ]


def test_adhoc_query_response_object_refs_carry_home():
    result = QueryResult(document_entries=[full_document_entry()])

    response = adhoc_query_response(
        ResponseStatus.SUCCESS, result, return_type="ObjectRef", home="urn:oid:9.9"
    )

    (ref,) = response.findall("rim:RegistryObjectList/rim:ObjectRef", NS)
    assert ref.attrib == {"id": result.document_entries[0].entry_uuid, "home": "urn:oid:9.9"}


def test_adhoc_query_response_home_overrides_the_objects_own():
    result = QueryResult(document_entries=[full_document_entry()])

    response = adhoc_query_response(ResponseStatus.SUCCESS, result, home="urn:oid:9.9")

    assert response.xpath("//rim:ExtrinsicObject/@home", namespaces=NS) == ["urn:oid:9.9"]


# --- AdhocQueryRequest -------------------------------------------------------------------------


def adhoc_request(query: str, option: str = '<query:ResponseOption returnType="LeafClass"/>'):
    return parse_xml(
        (
            f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}" xmlns:rim="{NS["rim"]}">'
            f"{option}{query}</query:AdhocQueryRequest>"
        ).encode()
    )


FIND = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


def test_adhoc_query_request_reads_id_slots_and_options():
    element = adhoc_request(
        f'<rim:AdhocQuery id=" {FIND} " home="urn:oid:1.2.3">'
        '<rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList>'
        "<rim:Value>'p^^^&amp;1.2&amp;ISO'</rim:Value></rim:ValueList></rim:Slot>"
        '<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList>'
        "<rim:Value>('a')</rim:Value><rim:Value>('b','c')</rim:Value>"
        "</rim:ValueList></rim:Slot></rim:AdhocQuery>",
        '<query:ResponseOption returnType="ObjectRef" returnComposedObjects="true"/>',
    )

    request = parse_adhoc_query_request(element)

    assert request.query_id == FIND
    assert request.slots == {
        "$XDSDocumentEntryPatientId": [["'p^^^&1.2&ISO'"]],
        "$XDSDocumentEntryStatus": [["('a')", "('b','c')"]],
    }
    assert request.return_type == "ObjectRef"
    assert request.return_composed_objects is True
    assert request.home_community_id == "urn:oid:1.2.3"


def test_adhoc_query_request_keeps_slots_of_the_same_name_apart():
    element = adhoc_request(
        f'<rim:AdhocQuery id="{FIND}">'
        '<rim:Slot name="$XDSDocumentEntryEventCodeList"><rim:ValueList>'
        "<rim:Value>('a^^s')</rim:Value><rim:Value>('b^^s')</rim:Value>"
        "</rim:ValueList></rim:Slot>"
        '<rim:Slot name="$XDSDocumentEntryStatus"><rim:ValueList>'
        "<rim:Value>('x')</rim:Value></rim:ValueList></rim:Slot>"
        '<rim:Slot name="$XDSDocumentEntryEventCodeList"><rim:ValueList>'
        "<rim:Value>('c^^s')</rim:Value></rim:ValueList></rim:Slot>"
        '<rim:Slot name="$XDSDocumentEntryEventCodeList"><rim:ValueList/></rim:Slot>'
        "</rim:AdhocQuery>"
    )

    assert parse_adhoc_query_request(element).slots == {
        "$XDSDocumentEntryEventCodeList": [["('a^^s')", "('b^^s')"], ["('c^^s')"], []],
        "$XDSDocumentEntryStatus": [["('x')"]],
    }


def test_adhoc_query_request_without_query_is_a_registry_error():
    with pytest.raises(XdsError) as caught:
        parse_adhoc_query_request(adhoc_request(""))

    assert caught.value.issues[0].code == ErrorCode.REGISTRY_ERROR


def test_adhoc_query_request_with_unsupported_return_type_is_a_registry_error():
    element = adhoc_request(
        f'<rim:AdhocQuery id="{FIND}"/>', '<query:ResponseOption returnType="RegistryObject"/>'
    )

    with pytest.raises(XdsError):
        parse_adhoc_query_request(element)


def test_retrieve_request_reads_each_document_request():
    element = parse_xml(
        b'<RetrieveDocumentSetRequest xmlns="urn:ihe:iti:xds-b:2007">'
        b"<DocumentRequest><HomeCommunityId> urn:oid:1.2 </HomeCommunityId>"
        b"<RepositoryUniqueId>1.2.1</RepositoryUniqueId><DocumentUniqueId>2.25.1</DocumentUniqueId>"
        b"</DocumentRequest><DocumentRequest><RepositoryUniqueId>1.2.1</RepositoryUniqueId>"
        b"<DocumentUniqueId>2.25.2</DocumentUniqueId></DocumentRequest>"
        b"</RetrieveDocumentSetRequest>"
    )

    first, second = parse_retrieve_document_set_request(element)

    assert (first.home_community_id, first.document_unique_id) == ("urn:oid:1.2", "2.25.1")
    assert second.home_community_id is None


# --- Hardened parser ---------------------------------------------------------------------------


def test_doctype_with_external_entity_is_rejected(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    data = f'<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]><a>&x;</a>'.encode()

    with pytest.raises(XmlRejected, match="DOCTYPE"):
        parse_xml(data)


def test_billion_laughs_is_rejected():
    entities = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    data = f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY l0 "ha">{entities}]><a>&l9;</a>'

    with pytest.raises(XmlRejected, match="DOCTYPE"):
        parse_xml(data.encode())


def test_doctype_after_comments_and_declaration_is_rejected():
    data = b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- c --><?pi x?><!doctype a><a/>'

    with pytest.raises(XmlRejected):
        parse_xml(data)


def test_malformed_xml_is_rejected():
    with pytest.raises(XmlRejected, match="well-formed"):
        parse_xml(b"<a><b></a>")


SOAP12_ENV = b"http://www.w3.org/2003/05/soap-envelope"


def soap_document(header: bytes, body: bytes) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="' + SOAP12_ENV + b'">'
        b"<s:Header>" + header + b"</s:Header><s:Body>" + body + b"</s:Body></s:Envelope>"
    )


def test_bytes_that_are_not_utf8_in_a_soap_header_are_replaced():
    root = parse_xml(soap_document(b'<a b="x\xd8">GR\xd8NN</a>', b"<q/>"))

    (a,) = root.iter("a")
    assert a.text == "GR\ufffdNN"
    assert a.get("b") == "x\ufffd"


def test_bytes_that_are_not_utf8_in_a_soap_body_are_rejected():
    with pytest.raises(XmlRejected, match="SOAP Body"):
        parse_xml(soap_document(b"<a>ok</a>", b"<title>Ph\xe6sical</title>"))


def test_bytes_that_are_not_utf8_outside_soap_are_rejected():
    with pytest.raises(XmlRejected, match="not UTF-8"):
        parse_xml(b'<?xml version="1.0" encoding="UTF-8"?><a>GR\xd8NN</a>')


def test_bytes_that_are_not_utf8_in_markup_are_rejected():
    with pytest.raises(XmlRejected, match="markup"):
        parse_xml(soap_document(b"<a\xd8/>", b"<q/>"))


def test_declared_latin1_is_decoded_as_latin1():
    root = parse_xml(b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xd8</a>')

    assert root.text == "Ø"


def test_document_entry_without_object_type_reads_as_missing():
    element = document_entry_to_rim(full_document_entry())
    del element.attrib["objectType"]

    # Left empty for validation to report as a missing required attribute, never defaulted.
    assert document_entry_from_rim(reparse(element)).object_type == ""


@pytest.mark.parametrize("to_rim", [submission_set_to_rim, folder_to_rim])
def test_registry_package_classified_as_neither_is_a_metadata_error(to_rim):
    package = to_rim(full_submission_set() if to_rim is submission_set_to_rim else full_folder())
    for classification in package.findall("rim:Classification[@classificationNode]", NS):
        package.remove(classification)

    with pytest.raises(XdsError) as caught:
        registry_package_from_rim(reparse(package))

    (issue,) = caught.value.issues
    assert (issue.code, issue.object_id, issue.attribute) == (
        ErrorCode.REGISTRY_METADATA_ERROR,
        package.get("id"),
        "classificationNode",
    )
