"""The Norwegian profile: national patient identifiers and the Volven/HL7 value sets.

The code lists under `codes/norway/` are the project's collected copies of the Volven and HL7
lists NHN's profile of XDS metadata binds (see each file's `sources` and `verification`). Where a
list is marked incomplete or its binding unverified, the rule is narrowed rather than guessed:
format codes are checked only inside the Norwegian `urn:no:` namespace, event codes only for
their code system, author roles only when they claim Volven 9060.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from registry.errors import Issue
from registry.metadata import Code, DocumentEntry
from registry.validation import formats
from registry.validation.catalogue import Rule
from registry.validation.rules import Context

FODSELSNUMMER = "2.16.578.1.12.4.1.4.1"
D_NUMMER = "2.16.578.1.12.4.1.4.2"
FELLES_HJELPENUMMER = "2.16.578.1.12.4.1.4.3"
DUF_NUMMER = "2.16.578.1.12.4.1.4.5"
PERSON_IDENTIFIERS = (FODSELSNUMMER, D_NUMMER, FELLES_HJELPENUMMER, DUF_NUMMER)

VOLVEN = "2.16.578.1.12.4.1.1."
DOCUMENT_TYPE = VOLVEN + "9602"
HEALTH_PERSONNEL_CATEGORY = VOLVEN + "9060"
HL7_CONFIDENTIALITY = "2.16.840.1.113883.5.25"
NORWEGIAN_FORMAT_CODES = "urn:no:"

_WEIGHTS_1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_WEIGHTS_2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
# Synthetic test identities add 40 (NAV, Dolly) or 80 (Skatteetaten's Tenor) to the month.
_SYNTHETIC_MONTH_OFFSETS = (40, 80)
_D_NUMMER_DAY_OFFSET = 40


@dataclass(frozen=True)
class ValueSet:
    """The codes an attribute may take: per codingScheme, its codes (None: any code)."""

    attribute: str
    codes: dict[str, frozenset[str] | None]

    def problem(self, code: Code) -> str | None:
        """Say why `code` is outside this value set, or None."""
        scheme = _bare_oid(code.coding_scheme)
        if scheme not in self.codes:
            allowed = ", ".join(sorted(self.codes))
            return f"{self.attribute} codingScheme {scheme} is not one of {allowed}"
        allowed_codes = self.codes[scheme]
        if allowed_codes is not None and code.code not in allowed_codes:
            return f"{self.attribute} {code.code} is not a code of {scheme}"
        return None


def norway_rules(context: Context) -> list[Issue]:
    """Every rule of the Norwegian profile."""
    return patient_id_rules(context) + value_set_rules(context)


def patient_id_rules(context: Context) -> list[Issue]:
    """The patient is a Norwegian person: fødselsnummer, D-nummer, FH-nummer or DUF-nummer."""
    submission_set = context.submission.submission_set
    patient_id = submission_set.patient_id
    if not patient_id or formats.cx_problem(patient_id):
        return []

    where = (submission_set.entry_uuid, "patientId")
    authority = formats.assigning_authority_of(patient_id)
    if authority not in PERSON_IDENTIFIERS:
        message = f"assigning authority {authority} is not a Norwegian person identifier"
        return [Rule.NORWAY_PATIENT_ID_AUTHORITY.issue(message, *where)]

    number = formats.id_of(patient_id)
    problem = person_identifier_problem(authority, number)
    if problem is not None:
        return [Rule.NORWAY_PATIENT_ID_MALFORMED.issue(problem, *where)]
    if is_synthetic(authority, number) and not context.options.accept_synthetic_ids:
        message = "synthetic test identities are not accepted by this registry"
        return [Rule.NORWAY_SYNTHETIC_PATIENT_ID.issue(message, *where)]
    return []


def person_identifier_problem(authority: str, number: str) -> str | None:
    """Say what is wrong with a national person identifier under `authority`, or None.

    Fødselsnummer and D-nummer: a date of birth DDMMYY, three individual digits and two mod-11
    check digits; a D-nummer adds 4 to the first digit, a synthetic one 40 or 80 to the month.
    The date must exist in the century the individual digits give (29 February included).
    FH-nummer: 11 digits, the first 8 or 9, and the same two check digits. DUF: 12 digits.
    """
    if authority == DUF_NUMMER:
        return None if _digits(number, 12) else "a DUF-nummer is 12 digits"
    if not _digits(number, 11):
        return "a Norwegian person identifier is 11 digits"
    if authority == FELLES_HJELPENUMMER:
        if number[0] not in "89":
            return "an FH-nummer starts with 8 or 9"
        return None if has_valid_check_digits(number) else "the check digits are wrong"

    day, month = int(number[0:2]), int(number[2:4])
    if authority == D_NUMMER:
        if day <= _D_NUMMER_DAY_OFFSET:
            return "a D-nummer adds 4 to the first digit of the day"
        day -= _D_NUMMER_DAY_OFFSET
    month = _real_month(month)
    year = _birth_year(int(number[4:6]), int(number[6:9]))
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return f"{number[:6]} is not a date of birth"
    if not has_valid_check_digits(number):
        return "the check digits are wrong"
    return None


def has_valid_check_digits(number: str) -> bool:
    """True when the two last digits of an 11-digit number are its mod-11 check digits."""
    digits = [int(c) for c in number]
    first = _check_digit(digits[:9], _WEIGHTS_1)
    second = _check_digit(digits[:10], _WEIGHTS_2)
    return first == digits[9] and second == digits[10]


def is_synthetic(authority: str, number: str) -> bool:
    """True for a synthetic test fødselsnummer or D-nummer (month + 40 or + 80)."""
    if authority not in (FODSELSNUMMER, D_NUMMER):
        return False
    return int(number[2:4]) > 12


def value_set_rules(context: Context) -> list[Issue]:
    """Each coded attribute takes its codes from the value set the profile binds."""
    sets = value_sets()
    issues: list[Issue] = []
    for entry in context.submission.document_entries:
        coded: list[tuple[str, Iterable[Code | None]]] = [
            ("classCode", [entry.class_code]),
            ("typeCode", [entry.type_code]),
            ("confidentialityCode", entry.confidentiality_codes),
            ("healthcareFacilityTypeCode", [entry.healthcare_facility_type_code]),
            ("practiceSettingCode", [entry.practice_setting_code]),
            ("eventCodeList", entry.event_code_list),
        ]
        for attribute, codes in coded:
            for code in codes:
                if code is not None and (problem := sets[attribute].problem(code)):
                    issues.append(
                        Rule.NORWAY_CODE_NOT_IN_VALUE_SET.issue(
                            problem, entry.entry_uuid, attribute
                        )
                    )
        issues += _format_code(entry) + _type_of_class(entry) + _author_roles(entry)
    return issues


@cache
def value_sets() -> dict[str, ValueSet]:
    """The value set of each coded DocumentEntry attribute, read from the packaged lists."""
    document_types = _codes("9602-dokumenttype.json")
    classes = frozenset(c["code"] for c in document_types if c.get("xds_use") == "classCode")
    types = frozenset(c["code"] for c in document_types if c.get("xds_use") == "typeCode")
    event_systems = {_bare_oid(c["code"]): None for c in _codes("eventcode-systems.json")}
    return {
        "classCode": ValueSet("classCode", {DOCUMENT_TYPE: classes}),
        "typeCode": ValueSet("typeCode", {DOCUMENT_TYPE: types}),
        "confidentialityCode": _value_set(
            "confidentialityCode", "9603-sperring-og-nekting.json", "hl7-v3-confidentiality.json"
        ),
        "healthcareFacilityTypeCode": _value_set(
            "healthcareFacilityTypeCode",
            "1303-helseinstitusjonstype-sn.json",
            "1305-helseinstitusjonstype-sn2007.json",
        ),
        "practiceSettingCode": _value_set(
            "practiceSettingCode",
            "8651-practice-setting-8651.json",
            "8653-practice-setting-8653.json",
            "8654-klinisk-medisinsk-service.json",
            "8655-helsehjelpsomrade.json",
            "8663-tjenestetyper-kommunal.json",
        ),
        "eventCodeList": ValueSet("eventCodeList", event_systems),
        "authorRole": _value_set("authorRole", "9060-kategori-helsepersonell.json"),
    }


@cache
def norwegian_format_codes() -> frozenset[str]:
    """The format codes of the Norwegian `urn:no:` namespace."""
    codes = (c["code"] for c in _codes("formatcodes-no.json"))
    return frozenset(c for c in codes if c.startswith(NORWEGIAN_FORMAT_CODES))


def _format_code(entry: DocumentEntry) -> list[Issue]:
    code = entry.format_code
    if code is None or not code.code.startswith(NORWEGIAN_FORMAT_CODES):
        return []
    if code.code in norwegian_format_codes():
        return []
    message = f"formatCode {code.code} is not a Norwegian format code"
    return [Rule.NORWAY_CODE_NOT_IN_VALUE_SET.issue(message, entry.entry_uuid, "formatCode")]


def _type_of_class(entry: DocumentEntry) -> list[Issue]:
    class_code, type_code = entry.class_code, entry.type_code
    if class_code is None or type_code is None:
        return []
    if {_bare_oid(class_code.coding_scheme), _bare_oid(type_code.coding_scheme)} != {DOCUMENT_TYPE}:
        return []
    parent = _parents().get(type_code.code)
    classes = value_sets()["classCode"].codes[DOCUMENT_TYPE] or frozenset()
    # A classCode outside 9602 is reported on its own; its types cannot be judged against it.
    if parent is None or parent == class_code.code or class_code.code not in classes:
        return []
    message = f"typeCode {type_code.code} belongs to class {parent}, not {class_code.code}"
    return [Rule.NORWAY_TYPE_CODE_NOT_OF_CLASS.issue(message, entry.entry_uuid, "typeCode")]


def _author_roles(entry: DocumentEntry) -> list[Issue]:
    allowed = value_sets()["authorRole"]
    issues = []
    for author in entry.authors:
        for role in author.roles:
            code, scheme = _coded_string(role)
            if scheme != HEALTH_PERSONNEL_CATEGORY:
                continue
            if problem := allowed.problem(Code(code, scheme)):
                issues.append(
                    Rule.NORWAY_CODE_NOT_IN_VALUE_SET.issue(problem, entry.entry_uuid, "authorRole")
                )
    return issues


@cache
def _parents() -> dict[str, str]:
    return {c["code"]: c["parent"] for c in _codes("9602-dokumenttype.json") if c.get("parent")}


def _value_set(attribute: str, *names: str) -> ValueSet:
    codes: dict[str, frozenset[str] | None] = {}
    for name in names:
        data = _load(name)
        codes[_bare_oid(data["system"])] = frozenset(c["code"] for c in data["codes"])
    return ValueSet(attribute, codes)


def _codes(name: str) -> list[dict]:
    return _load(name)["codes"]


@cache
def _load(name: str) -> dict:
    text = files("registry.validation").joinpath("codes", "norway", name).read_text("utf-8")
    return json.loads(text)


def _coded_string(value: str) -> tuple[str, str | None]:
    """Split an authorRole/authorSpecialty `code^^^&OID&ISO` into code and OID."""
    components = value.split("^")
    if len(components) >= 4:
        parts = components[3].split("&")
        if len(parts) == 3:
            return components[0], parts[1]
    return components[0], None


def _bare_oid(value: str) -> str:
    value = value.strip()
    return value[len("urn:oid:") :] if value.lower().startswith("urn:oid:") else value


def _digits(value: str, length: int) -> bool:
    return len(value) == length and value.isascii() and value.isdigit()


def _birth_year(year: int, individual: int) -> int:
    """The four-digit year of birth, from the two-digit year and the individual digits.

    Skatteetaten's series: 000-499 are born 1900-1999, 500-749 with a year from 54 in the 1800s,
    900-999 with a year from 40 in the 1900s, 500-999 with a year below 40 in the 2000s.
    """
    if individual <= 499 or (individual >= 900 and year >= 40):
        return 1900 + year
    if individual <= 749 and year >= 54:
        return 1800 + year
    if year <= 39:
        return 2000 + year
    # No series gives this pair a century; 2000 is a leap year, so only the day and month count.
    return 2000 + year


def _real_month(month: int) -> int:
    for offset in _SYNTHETIC_MONTH_OFFSETS:
        if offset < month <= offset + 12:
            return month - offset
    return month


def _check_digit(digits: list[int], weights: tuple[int, ...]) -> int:
    remainder = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if remainder == 0 else 11 - remainder
