"""The value formats of XDS metadata (ITI TF-3 4.2.3.1): each a predicate on one string value.

A predicate returns None when the value is well formed and otherwise says what is wrong, so the
rules can put that reason into the message.
"""

from __future__ import annotations

import calendar
import re
import uuid

OID_MAX_LENGTH = 64
DOCUMENT_UNIQUE_ID_MAX_BYTES = 128
UNIQUE_ID_EXTENSION_MAX_LENGTH = 16
# DocumentEntry.size is a byte count; a signed 64-bit integer holds any document a store can keep.
SIZE_MAX = 2**63 - 1

_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_DTM = re.compile(r"\d{4}(\d{2}){0,5}")
_SHA1 = re.compile(r"[0-9a-fA-F]{40}")
# RFC 5646 in outline: a 2-3 letter language (or i-/x- tags), then subtags of 1-8 alphanumerics.
_LANGUAGE = re.compile(r"([A-Za-z]{2,3}|[iIxX])(-[A-Za-z0-9]{1,8})*")
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}=(\"[^\"]*\"|[^;\s]+))*")
_DTM_LIMITS = ((4, 6, 1, 12), (6, 8, 1, 31), (8, 10, 0, 23), (10, 12, 0, 59), (12, 14, 0, 59))
# An HL7 v2 DTM as PID-7 carries it: seconds may have a fraction, and a time zone offset may follow.
_HL7_DTM = re.compile(r"(\d{4}(?:\d{2}){0,5})(\.\d{1,4})?([+-]\d{4})?")
_SOURCE_PATIENT_INFO = re.compile(r"PID-([1-9][0-9]?)\|(.*)", re.DOTALL)


def oid_problem(value: str, *, max_length: int | None = OID_MAX_LENGTH) -> str | None:
    """An ISO OID of digits and dots, no leading zeros, at most 64 characters (ITI TF-3
    4.2.3.1.7) unless `max_length` says otherwise."""
    if not _OID.fullmatch(value):
        return f"{value!r} is not an OID"
    if max_length is not None and len(value) > max_length:
        return f"OID {value!r} is longer than {max_length} characters"
    return None


def any_length_oid_problem(value: str) -> str | None:
    """An OID of any length."""
    return oid_problem(value, max_length=None)


def entry_uuid_problem(value: str) -> str | None:
    """A `urn:uuid:` UUID, or a symbolic id (any other text) that the registry will replace."""
    if not value.strip():
        return "entryUUID is empty"
    if value.lower().startswith("urn:uuid:"):
        try:
            uuid.UUID(value[len("urn:uuid:") :])
        except ValueError:
            return f"{value!r} is not a UUID"
    return None


def is_symbolic_id(value: str) -> bool:
    """True for an entryUUID that is a symbol local to the submission, not a `urn:uuid:`."""
    return not value.lower().startswith("urn:uuid:")


def document_unique_id_problem(
    value: str, *, oid_max_length: int | None = OID_MAX_LENGTH
) -> str | None:
    """At most 128 bytes; in `oid^extension` form an OID of 64 and an extension of 16 at most.

    ITI TF-3 4.2.3.2.26 leaves the form to the document format; `urn:uuid:` ids, as MHD senders
    use, are therefore accepted.
    """
    if not value.strip() or value != value.strip() or any(c.isspace() for c in value):
        return f"{value!r} is empty or holds white space"
    if len(value.encode()) > DOCUMENT_UNIQUE_ID_MAX_BYTES:
        return f"uniqueId is longer than {DOCUMENT_UNIQUE_ID_MAX_BYTES} bytes"
    if "^" in value:
        root, _, extension = value.partition("^")
        if problem := oid_problem(root, max_length=oid_max_length):
            return f"the root of {value!r}: {problem}"
        if not extension or "^" in extension:
            return f"{value!r} is not oid^extension"
        if len(extension) > UNIQUE_ID_EXTENSION_MAX_LENGTH:
            return f"the extension of {value!r} is longer than {UNIQUE_ID_EXTENSION_MAX_LENGTH}"
    return None


def assigning_authority_problem(value: str) -> str | None:
    """An HL7 HD `[namespace]&OID&ISO`."""
    parts = value.split("&")
    if len(parts) != 3 or parts[2] != "ISO":
        return f"assigning authority {value!r} is not &OID&ISO"
    return oid_problem(parts[1])


def cx_problem(value: str) -> str | None:
    """A patientId: an HL7 CX of CX.1 and CX.4 `&OID&ISO` and no other component."""
    components = value.split("^")
    if not components[0]:
        return f"{value!r} has no id (CX.1)"
    if len(components) < 4 or not components[3]:
        return f"{value!r} has no assigning authority (CX.4)"
    if problem := assigning_authority_problem(components[3]):
        return problem
    if any(components[1:3] + components[4:]):
        return f"{value!r} has components other than CX.1 and CX.4"
    return None


def source_cx_problem(value: str) -> str | None:
    """A sourcePatientId: an HL7 CX with an id (CX.1) and any assigning authority (CX.4).

    The source's local identifier need not be under an OID: MHD maps any FHIR identifier system
    into it (`&http://example.org/mrn&URI`).
    """
    components = value.split("^")
    if not components[0]:
        return f"{value!r} has no id (CX.1)"
    authority = components[3].split("&") if len(components) > 3 else []
    if len(authority) != 3 or not authority[1] or not authority[2]:
        return f"{value!r} has no assigning authority &id&type (CX.4)"
    return None


def assigning_authority_of(cx: str) -> str | None:
    """The OID of a CX's assigning authority, or None."""
    components = cx.split("^")
    if len(components) < 4:
        return None
    parts = components[3].split("&")
    return parts[1] if len(parts) == 3 else None


def id_of(cx: str) -> str:
    """The id (CX.1) of a CX."""
    return cx.split("^", 1)[0]


def dtm_problem(value: str) -> str | None:
    """A UTC DTM YYYY[MM[DD[hh[mm[ss]]]]] naming a real instant; no time zone, no fraction."""
    if not _DTM.fullmatch(value):
        return f"{value!r} is not YYYY[MM[DD[hh[mm[ss]]]]]"
    return _dtm_range_problem(value)


def _dtm_range_problem(digits: str) -> str | None:
    for start, end, low, high in _DTM_LIMITS:
        if len(digits) >= end and not low <= int(digits[start:end]) <= high:
            return f"{digits!r} has a field out of range"
    if len(digits) >= 8:
        year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
        if day > calendar.monthrange(year, month)[1]:
            return f"{digits[:8]!r} is not a date: {year:04d}-{month:02d} has no day {day}"
    return None


def hash_problem(value: str) -> str | None:
    """A SHA-1 digest as 40 hexadecimal digits (ITI TF-3 4.2.3.2.11)."""
    return None if _SHA1.fullmatch(value) else f"{value!r} is not 40 hexadecimal digits"


def language_problem(value: str) -> str | None:
    """A language tag of RFC 5646 (ITI TF-3 4.2.3.2.14), in outline."""
    return None if _LANGUAGE.fullmatch(value) else f"{value!r} is not a language tag"


def mime_type_problem(value: str) -> str | None:
    """A MIME type `type/subtype`, parameters allowed (RFC 6838)."""
    return None if _MIME_TYPE.fullmatch(value) else f"{value!r} is not type/subtype"


def xcn_problem(value: str) -> str | None:
    """An XCN with an id (XCN.1) or a name (XCN.2/3); XCN.9, if given, is `&OID&ISO`."""
    components = value.split("^")
    if not components[0] and not any(components[1:3]):
        return f"{value!r} has neither an id (XCN.1) nor a name (XCN.2, XCN.3)"
    if len(components) > 8 and components[8]:
        return assigning_authority_problem(components[8])
    return None


def xon_problem(value: str) -> str | None:
    """An XON with a name (XON.1); an XON.10 that is not an OID needs XON.6 `&OID&ISO`."""
    components = value.split("^")
    if not components[0]:
        return f"{value!r} has no organization name (XON.1)"
    identifier = components[9] if len(components) > 9 else ""
    if identifier and oid_problem(identifier):
        authority = components[5] if len(components) > 5 else ""
        if not authority:
            return f"{value!r} has an identifier (XON.10) without an assigning authority (XON.6)"
        return assigning_authority_problem(authority)
    return None


def xtn_problem(value: str) -> str | None:
    """An XTN: an Internet address in XTN.4, or a number in XTN.1, XTN.5-7 or XTN.12."""
    components = value.split("^") + [""] * 12
    if components[2] in ("Internet", "X.400"):
        return None if components[3] else f"{value!r} is {components[2]} without XTN.4"
    if any(components[i] for i in (0, 4, 5, 6, 11)):
        return None
    return f"{value!r} has neither an address nor a number"


def source_patient_info_problem(value: str) -> str | None:
    """One sourcePatientInfo value: `PID-n|field` (ITI TF-3 4.2.3.2.24).

    The fields with a type the registry can check are checked: PID-3 holds CX identifiers, each
    with an id (CX.1); PID-7, the date of birth, is an HL7 DTM on a real date.
    """
    match = _SOURCE_PATIENT_INFO.fullmatch(value)
    if match is None:
        return f"{value!r} is not PID-n|value"
    field, content = int(match.group(1)), match.group(2)
    if field == 3:
        for identifier in content.split("~"):
            if not identifier.split("^", 1)[0]:
                return f"PID-3 {identifier!r} has no id (CX.1)"
    if field == 7 and content:
        hl7_dtm = _HL7_DTM.fullmatch(content)
        if hl7_dtm is None or (hl7_dtm.group(2) and len(hl7_dtm.group(1)) < 14):
            return f"PID-7 {content!r} is not an HL7 DTM"
        if problem := _dtm_range_problem(hl7_dtm.group(1)):
            return f"PID-7 {problem}"
    return None
