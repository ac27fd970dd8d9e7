"""The Norwegian profile: national person identifiers and the bound value sets."""

from __future__ import annotations

from importlib.resources import files

import pytest
from validation_samples import document_entry, submission

from registry.errors import ErrorCode
from registry.metadata import Author, Code
from registry.validation import Profile, ValidationOptions, validate_submission
from registry.validation.norway import (
    D_NUMMER,
    DUF_NUMMER,
    FELLES_HJELPENUMMER,
    FODSELSNUMMER,
    has_valid_check_digits,
    value_sets,
)

NORWAY = ValidationOptions(profile=Profile.NORWAY)
NORWAY_TEST = ValidationOptions(profile=Profile.NORWAY, accept_synthetic_ids=True)
META = ErrorCode.REGISTRY_METADATA_ERROR
UNKNOWN = ErrorCode.UNKNOWN_PATIENT_ID
VOLVEN = "2.16.578.1.12.4.1.1."


def cx(number: str, authority: str) -> str:
    return f"{number}^^^&{authority}&ISO"


def patient_issues(store, number: str, authority: str, options=NORWAY) -> list[tuple[str, str]]:
    patient = cx(number, authority)
    entry = document_entry(patient_id=patient, source_patient_id=patient)
    issues = validate_submission(
        submission(entry, patient_id=patient), options=options, registry_store=store
    )
    return [(issue.code, issue.attribute) for issue in issues]


def code_issues(store, **attributes) -> list[tuple[str, str]]:
    entry = document_entry(**attributes)
    issues = validate_submission(submission(entry), options=NORWAY, registry_store=store)
    return [(issue.code, issue.attribute) for issue in issues]


# Patient identifiers


@pytest.mark.parametrize("number", ["13116900216", "31129956715", "01010012356"])
def test_fodselsnummer_with_valid_check_digits_is_accepted(registry_store, number):
    assert patient_issues(registry_store, number, FODSELSNUMMER) == []


@pytest.mark.parametrize("number", ["13116900217", "31129956705", "01017000001"])
def test_fodselsnummer_with_wrong_check_digits_is_metadata_error(registry_store, number):
    assert patient_issues(registry_store, number, FODSELSNUMMER) == [(META, "patientId")]


@pytest.mark.parametrize("number", ["1311690021", "1311690021x", "32016900216", "13136900216"])
def test_fodselsnummer_needs_eleven_digits_and_a_date(registry_store, number):
    assert patient_issues(registry_store, number, FODSELSNUMMER) == [(META, "patientId")]


def test_d_nummer_adds_four_to_the_first_digit(registry_store):
    assert patient_issues(registry_store, "41010012501", D_NUMMER) == []
    assert patient_issues(registry_store, "13116900216", D_NUMMER) == [(META, "patientId")]
    assert patient_issues(registry_store, "41010012501", FODSELSNUMMER) == [(META, "patientId")]


@pytest.mark.parametrize("number", ["01910012440", "01510012387"])
def test_synthetic_numbers_are_accepted_only_when_configured(registry_store, number):
    assert patient_issues(registry_store, number, FODSELSNUMMER) == [(UNKNOWN, "patientId")]
    assert patient_issues(registry_store, number, FODSELSNUMMER, NORWAY_TEST) == []


def test_synthetic_numbers_need_valid_check_digits_too(registry_store):
    assert patient_issues(registry_store, "01910012441", FODSELSNUMMER, NORWAY_TEST) == [
        (META, "patientId")
    ]


def test_patient_outside_the_norwegian_person_identifiers_is_unknown_patient_id(registry_store):
    assert patient_issues(registry_store, "974589095", "2.16.578.1.12.4.1.4.101") == [
        (UNKNOWN, "patientId")
    ]


def test_fh_nummer_starts_with_8_or_9(registry_store):
    assert patient_issues(registry_store, "81234567802", FELLES_HJELPENUMMER) == []
    assert patient_issues(registry_store, "91234567883", FELLES_HJELPENUMMER) == []
    assert patient_issues(registry_store, "71234567890", FELLES_HJELPENUMMER) == [
        (META, "patientId")
    ]


def test_fh_nummer_needs_valid_check_digits(registry_store):
    assert patient_issues(registry_store, "81234567890", FELLES_HJELPENUMMER) == [
        (META, "patientId")
    ]


@pytest.mark.parametrize(
    ("number", "authority"),
    [
        ("30028010091", FODSELSNUMMER),  # 30 February 1980
        ("31048010000", FODSELSNUMMER),  # 31 April 1980
        ("29020012380", FODSELSNUMMER),  # 29 February 1900: individual digits 123 say 1900
        ("70028010085", D_NUMMER),  # 30 February 1980, day + 40
    ],
)
def test_person_identifier_needs_a_real_date_of_birth(registry_store, number, authority):
    assert patient_issues(registry_store, number, authority) == [(META, "patientId")]


@pytest.mark.parametrize("number", ["29020052331", "29020412354"])
def test_fodselsnummer_on_29_february_of_a_leap_year_is_accepted(registry_store, number):
    # Individual digits 523 with year 00 say 2000; 123 with year 04 say 1904.
    assert patient_issues(registry_store, number, FODSELSNUMMER) == []


@pytest.mark.parametrize("number", ["30428010074", "30828010057"])
def test_synthetic_numbers_need_a_real_date_too(registry_store, number):
    assert patient_issues(registry_store, number, FODSELSNUMMER, NORWAY_TEST) == [
        (META, "patientId")
    ]


def test_duf_nummer_is_twelve_digits(registry_store):
    assert patient_issues(registry_store, "200012345678", DUF_NUMMER) == []
    assert patient_issues(registry_store, "20001234567", DUF_NUMMER) == [(META, "patientId")]


def test_ihe_profile_takes_any_assigning_authority(registry_store):
    options = ValidationOptions()
    assert (
        patient_issues(registry_store, "IHERED-994", "1.3.6.1.4.1.21367.13.20.1000", options) == []
    )


def test_check_digits_follow_mod_11():
    assert has_valid_check_digits("31129956715")
    assert not has_valid_check_digits("31129956716")


# Value sets


@pytest.mark.parametrize(
    ("attribute", "field", "code"),
    [
        ("classCode", "class_code", Code("A03-2", VOLVEN + "9602")),
        ("classCode", "class_code", Code("A00-1", "2.16.840.1.113883.6.1")),
        ("typeCode", "type_code", Code("A00-1", VOLVEN + "9602")),
        ("typeCode", "type_code", Code("34133-9", "2.16.840.1.113883.6.1")),
        (
            "healthcareFacilityTypeCode",
            "healthcare_facility_type_code",
            Code("99.999", VOLVEN + "1303"),
        ),
        ("practiceSettingCode", "practice_setting_code", Code("ALL", VOLVEN + "8451")),
        ("practiceSettingCode", "practice_setting_code", Code("A99", VOLVEN + "8651")),
    ],
)
def test_code_outside_its_value_set_is_metadata_error(registry_store, attribute, field, code):
    assert code_issues(registry_store, **{field: code}) == [(META, attribute)]


@pytest.mark.parametrize(
    "code",
    [
        Code("N", "2.16.840.1.113883.5.25"),
        Code("R", "urn:oid:2.16.840.1.113883.5.25"),
        Code("NORS", VOLVEN + "9603"),
        Code("NORN_FFL", VOLVEN + "9603"),
    ],
)
def test_confidentiality_from_9603_or_hl7_is_accepted(registry_store, code):
    assert code_issues(registry_store, confidentiality_codes=[code]) == []


def test_confidentiality_outside_9603_and_hl7_is_metadata_error(registry_store):
    codes = [Code("N", "2.16.840.1.113883.5.25"), Code("SECRET", VOLVEN + "9603")]
    assert code_issues(registry_store, confidentiality_codes=codes) == [
        (META, "confidentialityCode")
    ]


def test_facility_type_from_1305_is_accepted(registry_store):
    code = Code("86.210", VOLVEN + "1305", "Allmennlegetjenester")
    assert code_issues(registry_store, healthcare_facility_type_code=code) == []


@pytest.mark.parametrize("system", ["8653", "8654", "8655", "8663"])
def test_practice_setting_from_each_bound_list_is_accepted(registry_store, system):
    code = next(iter(sorted(value_sets()["practiceSettingCode"].codes[VOLVEN + system])))
    assert code_issues(registry_store, practice_setting_code=Code(code, VOLVEN + system)) == []


def test_event_code_from_a_listed_system_is_accepted_and_others_are_not(registry_store):
    assert code_issues(registry_store, event_code_list=[Code("JAA10", VOLVEN + "7210")]) == []
    assert code_issues(registry_store, event_code_list=[Code("T-D4909", "SNM3")]) == [
        (META, "eventCodeList")
    ]


def test_norwegian_format_code_must_be_listed(registry_store):
    listed = Code("urn:no:ehelse:document:pdf", "FormatCodes")
    unlisted = Code("urn:no:ehelse:document:video", "FormatCodes")
    ihe = Code("urn:hl7-org:sdwg:ccda-nonXMLBody:2.1", "1.3.6.1.4.1.19376.1.2.3")
    assert code_issues(registry_store, format_code=listed) == []
    assert code_issues(registry_store, format_code=ihe) == []
    assert code_issues(registry_store, format_code=unlisted) == [(META, "formatCode")]


def test_type_code_belongs_to_its_class_code(registry_store):
    assert code_issues(registry_store, type_code=Code("D08-2", VOLVEN + "9602")) == [
        (ErrorCode.REGISTRY_METADATA_ERROR, "typeCode")
    ]


def test_author_role_claiming_volven_9060_must_be_a_9060_code(registry_store):
    author = Author(person="^Lege^Lise", roles=["XY^^^&2.16.578.1.12.4.1.1.9060&ISO"])
    assert code_issues(registry_store, authors=[author]) == [(META, "authorRole")]
    free_text = Author(person="^Lege^Lise", roles=["Overlege"])
    assert code_issues(registry_store, authors=[free_text]) == []


def test_value_set_error_names_attribute_code_and_scheme(registry_store):
    entry = document_entry(class_code=Code("Q00-1", VOLVEN + "9602"))
    (issue,) = validate_submission(submission(entry), options=NORWAY, registry_store=registry_store)
    assert (issue.object_id, issue.attribute) == (entry.entry_uuid, "classCode")
    assert "Q00-1" in issue.message
    assert VOLVEN + "9602" in issue.message


def test_ihe_profile_does_not_bind_norwegian_value_sets(registry_store):
    entry = document_entry(class_code=Code("34133-9", "2.16.840.1.113883.6.1"))
    assert validate_submission(submission(entry), registry_store=registry_store) == []


def test_code_lists_ship_inside_the_package():
    folder = files("registry.validation").joinpath("codes", "norway")
    names = {item.name for item in folder.iterdir()}
    assert {"9602-dokumenttype.json", "9603-sperring-og-nekting.json"} <= names
    assert len(value_sets()["classCode"].codes[VOLVEN + "9602"]) > 5
