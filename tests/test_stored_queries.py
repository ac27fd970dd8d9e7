"""FindDocuments, GetDocuments and the rules of every stored query (ITI TF-2a 3.18.4.1.2.3.7).

The other stored queries are in test_find_queries.py and test_get_queries.py.
"""

from __future__ import annotations

import pytest
from query_support import Slots, error_of, one, quoted, run
from registry_samples import (
    APPROVED,
    DEPRECATED,
    OTHER_PATIENT,
    PATIENT,
    document_entry,
    new_uuid,
    register,
    submission,
)

from registry import lifecycle
from registry.errors import ErrorCode, XdsError
from registry.metadata import Author, Code, DocumentEntryType
from registry.queries import (
    FIND_DOCUMENTS,
    GET_ALL,
    GET_DOCUMENTS,
    GET_SUBMISSION_SETS,
    run_stored_query,
)
from registry.query_params import parse_value
from registry.store import StoredQueryRequest

STABLE = DocumentEntryType.STABLE.value
ON_DEMAND = DocumentEntryType.ON_DEMAND.value

CODE_PARAMETERS = [
    ("$XDSDocumentEntryClassCode", "class_code"),
    ("$XDSDocumentEntryTypeCode", "type_code"),
    ("$XDSDocumentEntryPracticeSettingCode", "practice_setting_code"),
    ("$XDSDocumentEntryHealthcareFacilityTypeCode", "healthcare_facility_type_code"),
    ("$XDSDocumentEntryFormatCode", "format_code"),
]
TIME_PARAMETERS = [
    ("$XDSDocumentEntryCreationTime", "creation_time"),
    ("$XDSDocumentEntryServiceStartTime", "service_start_time"),
    ("$XDSDocumentEntryServiceStopTime", "service_stop_time"),
]


def find(store, max_results: int = 100, **slots: Slots) -> list[str]:
    """Run FindDocuments for PATIENT's approved entries plus `slots`; return sorted uniqueIds.

    A keyword names a parameter (the `$` may be left off); `[]` drops it.
    """
    params: dict[str, Slots] = {
        "$XDSDocumentEntryPatientId": [[f"'{PATIENT}'"]],
        "$XDSDocumentEntryStatus": [[quoted(APPROVED)]],
    }
    params.update({(k if k.startswith("$") else f"${k}"): v for k, v in slots.items()})
    request = StoredQueryRequest(FIND_DOCUMENTS, {k: v for k, v in params.items() if v})
    result = run_stored_query(store, request, max_results=max_results)
    return sorted(entry.unique_id for entry in result.document_entries)


def get(store, **slots: Slots) -> list[str]:
    """Run GetDocuments with `slots`, keyed as for `find`; return uniqueIds in response order."""
    request = StoredQueryRequest(GET_DOCUMENTS, {f"${k}": v for k, v in slots.items()})
    result = run_stored_query(store, request, max_results=100)
    return [entry.unique_id for entry in result.document_entries]


# --- FindDocuments: patient and status --------------------------------------------------------


def test_find_documents_returns_only_the_patients_entries(registry_store):
    register(registry_store, document_entry("a"), document_entry("b", patient_id=OTHER_PATIENT))

    assert find(registry_store) == ["a"]


@pytest.mark.parametrize("slots", [[], [[]]], ids=["no-slot", "slot-without-values"])
def test_find_documents_requires_patient_id(registry_store, slots):
    assert error_of(find, registry_store, XDSDocumentEntryPatientId=slots) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        "$XDSDocumentEntryPatientId",
    )


def test_find_documents_requires_status(registry_store):
    assert error_of(find, registry_store, XDSDocumentEntryStatus=[]) == (
        ErrorCode.STORED_QUERY_MISSING_PARAM,
        "$XDSDocumentEntryStatus",
    )


@pytest.mark.parametrize(
    "slots",
    [
        [[f"'{PATIENT}'", f"'{OTHER_PATIENT}'"]],
        [[quoted(PATIENT, OTHER_PATIENT)]],
        [[f"'{PATIENT}'"], [f"'{PATIENT}'"]],
    ],
    ids=["two-values", "list", "two-slots"],
)
def test_find_documents_takes_a_single_patient_id(registry_store, slots):
    assert error_of(find, registry_store, XDSDocumentEntryPatientId=slots) == (
        ErrorCode.STORED_QUERY_PARAM_NUMBER,
        "$XDSDocumentEntryPatientId",
    )


def test_find_documents_accepts_a_patient_id_as_a_one_item_list(registry_store):
    register(registry_store, document_entry("a"))

    assert find(registry_store, XDSDocumentEntryPatientId=[[quoted(PATIENT)]]) == ["a"]


def test_find_documents_selects_by_status(registry_store):
    register(
        registry_store,
        document_entry("approved"),
        document_entry("deprecated", availability_status=DEPRECATED),
    )

    assert find(registry_store) == ["approved"]
    assert find(registry_store, XDSDocumentEntryStatus=[[quoted(DEPRECATED)]]) == ["deprecated"]
    assert find(registry_store, XDSDocumentEntryStatus=[[quoted(APPROVED, DEPRECATED)]]) == [
        "approved",
        "deprecated",
    ]


def test_find_documents_unites_status_slots(registry_store):
    register(
        registry_store,
        document_entry("approved"),
        document_entry("deprecated", availability_status=DEPRECATED),
    )

    statuses = [[quoted(APPROVED)], [quoted(DEPRECATED)]]
    assert find(registry_store, XDSDocumentEntryStatus=statuses) == ["approved", "deprecated"]


def test_find_documents_ignores_status_values_it_does_not_understand(registry_store):
    register(registry_store, document_entry("a"))

    statuses = [[quoted("urn:example:StatusType:Unheard-of", APPROVED)]]
    assert find(registry_store, XDSDocumentEntryStatus=statuses) == ["a"]


# --- FindDocuments: single-valued codes -------------------------------------------------------


@pytest.mark.parametrize(("parameter", "attribute"), CODE_PARAMETERS)
def test_find_documents_selects_by_code_and_coding_scheme(registry_store, parameter, attribute):
    register(
        registry_store,
        document_entry("match", **{attribute: Code("X", "1.2.3")}),
        document_entry("other-scheme", **{attribute: Code("X", "9.9.9")}),
        document_entry("other-code", **{attribute: Code("Y", "1.2.3")}),
        document_entry("no-code"),
    )

    assert find(registry_store, **{parameter: [[quoted("X^^1.2.3")]]}) == ["match"]
    assert find(registry_store, **{parameter: [[quoted("Z^^1.2.3")]]}) == []


@pytest.mark.parametrize(("parameter", "attribute"), CODE_PARAMETERS)
def test_find_documents_ors_single_valued_codes_within_a_slot(registry_store, parameter, attribute):
    register(
        registry_store,
        document_entry("x", **{attribute: Code("X", "s")}),
        document_entry("y", **{attribute: Code("Y", "s")}),
        document_entry("z", **{attribute: Code("Z", "s")}),
    )

    assert find(registry_store, **{parameter: [[quoted("X^^s", "Y^^s")]]}) == ["x", "y"]
    assert find(registry_store, **{parameter: [[quoted("X^^s"), quoted("Z^^s")]]}) == ["x", "z"]


@pytest.mark.parametrize(("parameter", "attribute"), CODE_PARAMETERS)
def test_find_documents_unites_slots_of_single_valued_codes(registry_store, parameter, attribute):
    register(
        registry_store,
        document_entry("x", **{attribute: Code("X", "s")}),
        document_entry("y", **{attribute: Code("Y", "s")}),
        document_entry("z", **{attribute: Code("Z", "s")}),
    )

    assert find(registry_store, **{parameter: [[quoted("X^^s")], [quoted("Z^^s")]]}) == ["x", "z"]


def test_find_documents_rejects_a_code_without_coding_scheme(registry_store):
    assert error_of(find, registry_store, XDSDocumentEntryClassCode=[[quoted("X")]]) == (
        ErrorCode.REGISTRY_ERROR,
        "$XDSDocumentEntryClassCode",
    )


# --- FindDocuments: multi-valued codes, OR within a Slot and AND across Slots --------------------

MULTI_VALUED_CODE_PARAMETERS = pytest.mark.parametrize(
    ("parameter", "attribute"),
    [
        ("$XDSDocumentEntryEventCodeList", "event_code_list"),
        ("$XDSDocumentEntryConfidentialityCode", "confidentiality_codes"),
    ],
    ids=["event-code-list", "confidentiality-code"],
)


def _coded(unique_id: str, attribute: str, *codes: str):
    return document_entry(unique_id, **{attribute: [Code(code, "s") for code in codes]})


@MULTI_VALUED_CODE_PARAMETERS
def test_find_documents_ors_values_within_a_slot(registry_store, parameter, attribute):
    register(
        registry_store,
        _coded("a", attribute, "A"),
        _coded("b", attribute, "B"),
        _coded("a-b", attribute, "A", "B"),
        _coded("c", attribute, "C"),
        document_entry("none"),
    )

    one_slot = [[quoted("A^^s"), quoted("B^^s")]]
    assert find(registry_store, **{parameter: one_slot}) == ["a", "a-b", "b"]


@MULTI_VALUED_CODE_PARAMETERS
def test_find_documents_ors_items_within_a_value_list(registry_store, parameter, attribute):
    register(
        registry_store,
        _coded("a", attribute, "A"),
        _coded("b", attribute, "B"),
        _coded("a-b", attribute, "A", "B"),
        _coded("c", attribute, "C"),
        document_entry("none"),
    )

    one_value = [[quoted("A^^s", "B^^s")]]
    assert find(registry_store, **{parameter: one_value}) == ["a", "a-b", "b"]


@MULTI_VALUED_CODE_PARAMETERS
def test_find_documents_ands_slots_of_the_same_name(registry_store, parameter, attribute):
    register(
        registry_store,
        _coded("a-c", attribute, "A", "C"),
        _coded("b-c", attribute, "B", "C"),
        _coded("a-d", attribute, "A", "D"),
        _coded("a-b", attribute, "A", "B"),
        _coded("c", attribute, "C"),
    )

    a_or_b_and_c = [[quoted("A^^s"), quoted("B^^s")], [quoted("C^^s")]]
    assert find(registry_store, **{parameter: a_or_b_and_c}) == ["a-c", "b-c"]
    a_and_b = [[quoted("A^^s")], [quoted("B^^s")]]
    assert find(registry_store, **{parameter: a_and_b}) == ["a-b"]


@MULTI_VALUED_CODE_PARAMETERS
def test_find_documents_matches_multi_valued_codes_by_coding_scheme(
    registry_store, parameter, attribute
):
    register(registry_store, _coded("a", attribute, "A"), document_entry("none"))

    assert find(registry_store, **{parameter: [[quoted("A^^s")]]}) == ["a"]
    assert find(registry_store, **{parameter: [[quoted("A^^other")]]}) == []


# --- FindDocuments: times ---------------------------------------------------------------------


@pytest.mark.parametrize(("parameter", "attribute"), TIME_PARAMETERS)
def test_find_documents_time_from_is_inclusive_and_to_exclusive(
    registry_store, parameter, attribute
):
    register(
        registry_store,
        document_entry("before", **{attribute: "20041224095959"}),
        document_entry("at-from", **{attribute: "20041224100000"}),
        document_entry("at-to", **{attribute: "20041224110000"}),
        document_entry("no-time"),
    )

    bounds = {f"{parameter}From": [["20041224100000"]], f"{parameter}To": [["20041224110000"]]}
    assert find(registry_store, **bounds) == ["at-from"]
    assert find(registry_store, **{f"{parameter}From": [["20041224100000"]]}) == [
        "at-from",
        "at-to",
    ]
    assert find(registry_store, **{f"{parameter}To": [["20041224110000"]]}) == ["at-from", "before"]


@pytest.mark.parametrize(("parameter", "attribute"), TIME_PARAMETERS)
def test_find_documents_compares_times_of_any_precision(registry_store, parameter, attribute):
    register(
        registry_store,
        document_entry("2004-12-24", **{attribute: "20041224"}),
        document_entry("2004", **{attribute: "2004"}),
        document_entry("2005-01-01T00:00", **{attribute: "200501010000"}),
        document_entry("2003-12-31T23:59:59", **{attribute: "20031231235959"}),
    )
    time_from, time_to = f"{parameter}From", f"{parameter}To"

    assert find(registry_store, **{time_from: [["2004"]], time_to: [["2005"]]}) == [
        "2004",
        "2004-12-24",
    ]
    assert find(registry_store, **{time_from: [["200412"]]}) == ["2004-12-24", "2005-01-01T00:00"]
    assert find(registry_store, **{time_to: [["20041224"]]}) == ["2003-12-31T23:59:59", "2004"]
    assert find(registry_store, **{time_from: [["200412241030"]]}) == ["2005-01-01T00:00"]
    assert find(registry_store, **{time_from: [["'20050101'"]]}) == ["2005-01-01T00:00"]


@pytest.mark.parametrize(
    "value",
    ["2004122", "2004-12-24", "20041224+0100", "'noon'", "200413", "20040230", "2004122425"],
)
def test_find_documents_rejects_a_time_that_is_not_dtm(registry_store, value):
    assert error_of(find, registry_store, XDSDocumentEntryCreationTimeFrom=[[value]]) == (
        ErrorCode.REGISTRY_ERROR,
        "$XDSDocumentEntryCreationTimeFrom",
    )


@pytest.mark.parametrize(
    "slots", [[["2004", "2005"]], [["2004"], ["2005"]]], ids=["two-values", "two-slots"]
)
def test_find_documents_takes_a_single_time_bound(registry_store, slots):
    assert error_of(find, registry_store, XDSDocumentEntryServiceStopTimeTo=slots) == (
        ErrorCode.STORED_QUERY_PARAM_NUMBER,
        "$XDSDocumentEntryServiceStopTimeTo",
    )


# --- FindDocuments: author --------------------------------------------------------------------


def _authored(unique_id: str, *persons: str):
    return document_entry(unique_id, authors=[Author(person=p) for p in persons])


def test_find_documents_matches_author_person_with_percent_wildcard(registry_store):
    register(
        registry_store,
        _authored("smith", "^Smith^John^^^Dr"),
        _authored("smithson", "^Smithson^Ann"),
        _authored("jones", "^Jones^Tom"),
        _authored("co-author", "^Jones^Tom", "^Smith^Jane"),
        document_entry("no-author"),
    )

    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'%Smith^%'"]]) == [
        "co-author",
        "smith",
    ]
    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'%Smith%'"]]) == [
        "co-author",
        "smith",
        "smithson",
    ]
    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'^Smith^John^^^Dr'"]]) == ["smith"]
    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'Smith'"]]) == []


def test_find_documents_matches_author_person_with_underscore_wildcard(registry_store):
    register(
        registry_store,
        _authored("hansen", "^Hansen^Kari"),
        _authored("hanson", "^Hanson^Kari"),
        _authored("hannsen", "^Hannsen^Kari"),
    )

    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'^Hans_n^%'"]]) == [
        "hansen",
        "hanson",
    ]


def test_find_documents_matches_author_person_with_quote(registry_store):
    register(registry_store, _authored("obrien", "^O'Brien^Pat"), _authored("o-brien", "^OBrien"))

    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'%O''Brien%'"]]) == ["obrien"]


def test_find_documents_ors_author_person_values(registry_store):
    register(registry_store, _authored("a", "^Aas"), _authored("b", "^Berg"), _authored("c", "^Cy"))

    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'^Aas'", "'^Berg'"]]) == ["a", "b"]
    assert find(registry_store, XDSDocumentEntryAuthorPerson=[[quoted("^Aas", "^Cy")]]) == [
        "a",
        "c",
    ]


def test_find_documents_matches_author_person_regardless_of_case(registry_store):
    register(registry_store, _authored("ostby", "^Østby^Ærlig"))

    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'^østby%'"]]) == ["ostby"]
    assert find(registry_store, XDSDocumentEntryAuthorPerson=[["'%ÆRLIG'"]]) == ["ostby"]


# --- FindDocuments: objectType and everything else --------------------------------------------


def test_find_documents_returns_stable_entries_unless_asked_otherwise(registry_store):
    register(
        registry_store,
        document_entry("stable"),
        document_entry("on-demand", object_type=ON_DEMAND),
    )

    assert find(registry_store) == ["stable"]
    assert find(registry_store, XDSDocumentEntryType=[[quoted(ON_DEMAND)]]) == ["on-demand"]
    assert find(registry_store, XDSDocumentEntryType=[[quoted(STABLE, ON_DEMAND)]]) == [
        "on-demand",
        "stable",
    ]


def test_find_documents_ands_different_parameters(registry_store):
    register(
        registry_store,
        document_entry("both", class_code=Code("C", "s"), type_code=Code("T", "s")),
        document_entry("class-only", class_code=Code("C", "s"), type_code=Code("U", "s")),
    )

    found = find(
        registry_store,
        XDSDocumentEntryClassCode=[[quoted("C^^s")]],
        XDSDocumentEntryTypeCode=[[quoted("T^^s")]],
    )
    assert found == ["both"]


def test_find_documents_ignores_parameters_it_does_not_define(registry_store):
    register(registry_store, document_entry("a"))

    assert find(registry_store, XDSSubmissionSetSourceId=[["'1.2.3'"]], MetadataLevel=[["1"]]) == [
        "a"
    ]


@pytest.mark.parametrize("value", ["'unclosed", "('a', 'b'", "('a' 'b')", "plain", "'a' trailing"])
def test_find_documents_rejects_a_malformed_value(registry_store, value):
    assert error_of(find, registry_store, XDSDocumentEntryClassCode=[[value]]) == (
        ErrorCode.REGISTRY_ERROR,
        "$XDSDocumentEntryClassCode",
    )


def test_find_documents_fails_with_too_many_results(registry_store):
    register(registry_store, document_entry("a"), document_entry("b"), document_entry("c"))

    assert find(registry_store, max_results=3) == ["a", "b", "c"]
    assert error_of(find, registry_store, max_results=2)[0] == ErrorCode.TOO_MANY_RESULTS


# --- GetDocuments -----------------------------------------------------------------------------


def test_get_documents_by_entry_uuid_returns_any_status(registry_store):
    approved = document_entry("approved")
    deprecated = document_entry("deprecated", availability_status=DEPRECATED)
    register(registry_store, approved, document_entry("other"), deprecated)

    uuids = quoted(deprecated.entry_uuid, approved.entry_uuid, new_uuid())
    assert get(registry_store, XDSDocumentEntryEntryUUID=[[uuids]]) == ["deprecated", "approved"]


def test_get_documents_by_unique_id(registry_store):
    register(registry_store, document_entry("a"), document_entry("b"), document_entry("c"))

    assert get(registry_store, XDSDocumentEntryUniqueId=[[quoted("c"), quoted("a")]]) == ["c", "a"]
    assert get(registry_store, XDSDocumentEntryUniqueId=[[quoted("b")], [quoted("a")]]) == [
        "b",
        "a",
    ]


def test_get_documents_returns_stable_entries_unless_asked_otherwise(registry_store):
    register(registry_store, document_entry("stable"), document_entry("odd", object_type=ON_DEMAND))
    ids = [[quoted("stable", "odd")]]

    assert get(registry_store, XDSDocumentEntryUniqueId=ids) == ["stable"]
    types = [[quoted(ON_DEMAND)]]
    assert get(registry_store, XDSDocumentEntryUniqueId=ids, XDSDocumentEntryType=types) == ["odd"]


def test_get_documents_accepts_home_community_id(registry_store):
    register(registry_store, document_entry("a"))

    assert get(
        registry_store,
        XDSDocumentEntryUniqueId=[[quoted("a")]],
        homeCommunityId=[["'urn:oid:1.2'"]],
    ) == ["a"]


def test_get_documents_takes_entry_uuid_or_unique_id_not_both(registry_store):
    code, _ = error_of(
        get,
        registry_store,
        XDSDocumentEntryEntryUUID=[[quoted(new_uuid())]],
        XDSDocumentEntryUniqueId=[[quoted("a")]],
    )
    assert code == ErrorCode.STORED_QUERY_PARAM_NUMBER


def test_get_documents_requires_entry_uuid_or_unique_id(registry_store):
    code, _ = error_of(get, registry_store, homeCommunityId=[["'urn:oid:1.2'"]])
    assert code == ErrorCode.STORED_QUERY_MISSING_PARAM


def test_get_documents_takes_a_single_home_community_id(registry_store):
    assert error_of(
        get,
        registry_store,
        XDSDocumentEntryUniqueId=[[quoted("a")]],
        homeCommunityId=[["'urn:oid:1.2'", "'urn:oid:1.3'"]],
    ) == (ErrorCode.STORED_QUERY_PARAM_NUMBER, "$homeCommunityId")


def test_get_documents_by_logical_id_returns_every_version(registry_store):
    first = document_entry("doc")
    register(registry_store, first, document_entry("other"))
    update = submission(document_entry("doc", logical_id=first.entry_uuid))
    update.associations[0].extra_slots["PreviousVersion"] = ["1"]
    registry_store.register(update, lambda: None, lifecycle.plan_update(update, registry_store))

    found = run(registry_store, GET_DOCUMENTS, XDSDocumentEntryLogicalID=one(first.entry_uuid))
    assert sorted((e.version, e.availability_status) for e in found.document_entries) == [
        ("1", DEPRECATED),
        ("2", APPROVED),
    ]
    assert get(registry_store, XDSDocumentEntryLogicalID=one(new_uuid())) == []


def test_get_documents_takes_only_one_of_entry_uuid_unique_id_and_logical_id(registry_store):
    code, _ = error_of(
        get,
        registry_store,
        XDSDocumentEntryUniqueId=[[quoted("a")]],
        XDSDocumentEntryLogicalID=[[quoted(new_uuid())]],
    )
    assert code == ErrorCode.STORED_QUERY_PARAM_NUMBER


# --- Any query --------------------------------------------------------------------------------


def test_leaf_class_across_patients_is_result_not_single_patient(registry_store):
    mine, theirs = document_entry("a"), document_entry("b", patient_id=OTHER_PATIENT)
    register(registry_store, mine)
    register(registry_store, theirs)
    uuids = [[quoted(mine.entry_uuid, theirs.entry_uuid)]]

    code, _ = error_of(run, registry_store, GET_DOCUMENTS, XDSDocumentEntryEntryUUID=uuids)
    assert code == ErrorCode.RESULT_NOT_SINGLE_PATIENT


def test_object_refs_may_span_patients(registry_store):
    mine, theirs = document_entry("a"), document_entry("b", patient_id=OTHER_PATIENT)
    register(registry_store, mine)
    register(registry_store, theirs)
    uuids = [[quoted(mine.entry_uuid, theirs.entry_uuid)]]

    result = run(
        registry_store, GET_DOCUMENTS, return_type="ObjectRef", XDSDocumentEntryEntryUUID=uuids
    )
    assert len(result.document_entries) == 2


def test_leaf_class_of_one_patient_across_kinds_is_single_patient(registry_store):
    entry = document_entry("a")
    register(registry_store, entry)

    result = run(registry_store, GET_SUBMISSION_SETS, uuid=[[quoted(entry.entry_uuid)]])
    assert len(result.submission_sets) == 1


@pytest.mark.parametrize("level", ["1", "2", "'2'"])
def test_metadata_level_1_and_2_are_accepted(registry_store, level):
    register(registry_store, document_entry("a"))

    assert find(registry_store, MetadataLevel=[[level]]) == ["a"]


@pytest.mark.parametrize("level", ["3", "'x'"])
def test_other_metadata_levels_are_a_registry_error(registry_store, level):
    assert error_of(find, registry_store, MetadataLevel=[[level]]) == (
        ErrorCode.REGISTRY_ERROR,
        "$MetadataLevel",
    )


def test_metadata_level_takes_a_single_value(registry_store):
    assert error_of(find, registry_store, MetadataLevel=[["1", "2"]]) == (
        ErrorCode.STORED_QUERY_PARAM_NUMBER,
        "$MetadataLevel",
    )


def test_too_many_results_counts_objects_of_every_kind(registry_store):
    register(registry_store, document_entry("a"))
    statuses = [[quoted(APPROVED)]]
    slots = {
        "patientId": [[f"'{PATIENT}'"]],
        "XDSDocumentEntryStatus": statuses,
        "XDSSubmissionSetStatus": statuses,
        "XDSFolderStatus": statuses,
    }

    assert len(run(registry_store, GET_ALL, max_results=3, **slots)) == 3
    assert error_of(run, registry_store, GET_ALL, max_results=2, **slots)[0] == (
        ErrorCode.TOO_MANY_RESULTS
    )


def test_unknown_stored_query_is_an_error(registry_store):
    request = StoredQueryRequest("urn:uuid:00000000-0000-0000-0000-000000000000", {})

    with pytest.raises(XdsError) as error:
        run_stored_query(registry_store, request, max_results=10)

    assert error.value.issues[0].code == ErrorCode.UNKNOWN_STORED_QUERY


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("'a'", ["a"]),
        ("  'a b'  ", ["a b"]),
        ("'O''Brien'", ["O'Brien"]),
        ("''''", ["'"]),
        ("''", [""]),
        ("20041224", ["20041224"]),
        ("('a','b')", ["a", "b"]),
        ("( 'a' , 'it''s' ,3 )", ["a", "it's", "3"]),
        ("('a,b')", ["a,b"]),
        ("('a)')", ["a)"]),
    ],
)
def test_parameter_values_are_quoted_strings_numbers_or_lists(text, items):
    assert parse_value(text) == items


@pytest.mark.parametrize("text", ["", "()", "'a", "('a'", "('a',)", "a", "'a''", "('a') x"])
def test_malformed_parameter_values_are_rejected(text):
    with pytest.raises(ValueError):
        parse_value(text)


def test_find_documents_refuses_a_parameter_with_more_than_1000_values(registry_store):
    codes = ",".join(f"'c{i}^^1.2.3'" for i in range(1001))

    with pytest.raises(XdsError) as raised:
        find(registry_store, XDSDocumentEntryClassCode=[[f"({codes})"]])

    assert [(i.code, i.attribute) for i in raised.value.issues] == [
        (ErrorCode.REGISTRY_ERROR, "$XDSDocumentEntryClassCode")
    ]


def test_find_documents_refuses_a_parameter_repeated_in_more_than_50_slots(registry_store):
    with pytest.raises(XdsError) as raised:
        find(registry_store, XDSDocumentEntryEventCodeList=[["('c^^1.2.3')"]] * 51)

    assert [i.code for i in raised.value.issues] == [ErrorCode.REGISTRY_ERROR]


def test_find_documents_takes_1000_codes_and_1000_author_patterns(registry_store):
    register(registry_store, document_entry("2.25.1", class_code=Code("c999", "1.2.3")))
    codes = ",".join(f"'c{i}^^1.2.3'" for i in range(1000))
    authors = ",".join(f"'%person{i}%'" for i in range(999))

    assert find(registry_store, XDSDocumentEntryClassCode=[[f"({codes})"]]) == ["2.25.1"]
    assert find(registry_store, XDSDocumentEntryAuthorPerson=[[f"({authors})"]]) == []
