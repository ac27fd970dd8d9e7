"""FHIR datatypes to the value forms XDS metadata carries: DTM, CX, XCN, XON, XTN, codes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

# FHIR's system for identifiers that are URNs themselves (urn:oid:, urn:uuid:); ITI TF-2 E.3.
URI_SYSTEM = "urn:ietf:rfc:3986"
URN_OID = "urn:oid:"
URN_UUID = "urn:uuid:"

# FHIR code system URIs whose XDS codingScheme is a registered OID; other URIs are kept as given.
CODE_SYSTEM_OIDS = {
    "http://loinc.org": "2.16.840.1.113883.6.1",
    "http://snomed.info/sct": "2.16.840.1.113883.6.96",
    "http://terminology.hl7.org/CodeSystem/v3-Confidentiality": "2.16.840.1.113883.5.25",
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": "2.16.840.1.113883.5.4",
    "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode": "1.3.6.1.4.1.19376.1.2.3",
    "http://ihe.net/fhir/ValueSet/IHE.FormatCode.codesystem": "1.3.6.1.4.1.19376.1.2.3",
}

# referenceIdList type when the FHIR identifier names none (ITI TF-3 4.2.3.1.7, CXi.5).
DEFAULT_REFERENCE_ID_TYPE = "urn:ihe:iti:xds:2013:uniqueId"
ENCOUNTER_ID_TYPE = "urn:ihe:iti:xds:2015:encounterId"

# HL7 v2 Table 0001 administrative sex for FHIR's AdministrativeGender.
PID_8 = {"male": "M", "female": "F", "other": "O", "unknown": "U"}


def dtm(value: Any) -> str | None:
    """Turn a FHIR date, dateTime or instant into an HL7 DTM in UTC, keeping its precision."""
    if value is None:
        return None
    if isinstance(value, str) and "T" in value:
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y%m%d%H%M%S")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value).replace("-", "")


def coding_scheme(system: str) -> str:
    """Return the XDS codingScheme for a FHIR code system URI."""
    if system.lower().startswith(URN_OID):
        return system[len(URN_OID) :]
    return CODE_SYSTEM_OIDS.get(system, system)


def unique_id(system: str | None, value: str) -> str:
    """Map a FHIR Identifier to an XDS uniqueId (ITI TF-2 Appendix E.3).

    `urn:oid:1.2.3` becomes `1.2.3` and `urn:uuid:X` becomes `X` (the RFC 3986 forms of an OID or
    UUID uniqueId; NHN's gateway retrieves such documents by the bare UUID); a value under an
    `urn:oid:` system becomes `oid^value`; any other value is kept as sent.
    """
    if system and system.lower().startswith(URN_OID):
        return f"{system[len(URN_OID) :]}^{value}"
    for prefix in (URN_OID, URN_UUID):
        if value.lower().startswith(prefix):
            return value[len(prefix) :]
    return value


def escape(value: str) -> str:
    """Escape HL7 v2 delimiters in one component value."""
    for char, escaped in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\")):
        value = value.replace(char, escaped)
    return value.replace("~", "\\R\\")


def assigning_authority(system: str | None) -> str:
    """Return the HD subcomponents `&id&type` for an identifier system; ISO for OIDs."""
    if not system or system == URI_SYSTEM:
        return ""
    if system.lower().startswith(URN_OID):
        return f"&{system[len(URN_OID) :]}&ISO"
    return f"&{escape(system)}&URI"


def cx(identifier: Any) -> str:
    """Render a FHIR Identifier as an HL7 CX `id^^^&oid&ISO`."""
    return f"{escape(identifier.value)}^^^{assigning_authority(identifier.system)}"


def oid_identifier(identifiers: list[Any] | None) -> Any:
    """Return the first identifier whose system is an `urn:oid:`, preferring use=official."""
    candidates = [
        i for i in identifiers or [] if i.value and (i.system or "").lower().startswith(URN_OID)
    ]
    candidates.sort(key=lambda i: i.use != "official")
    return candidates[0] if candidates else None


def xcn(resource: Any) -> str | None:
    """Render a Practitioner (or Patient, RelatedPerson) as an XCN; None if it has no name or id."""
    identifier = oid_identifier(getattr(resource, "identifier", None))
    name = (resource.name or [None])[0] if getattr(resource, "name", None) else None
    family = escape(name.family or "") if name else ""
    given = [escape(g) for g in (name.given or []) if g is not None] if name else []
    first, second = (given[0] if given else ""), " ".join(given[1:])
    if identifier is None:
        person = f"^{family}^{first}^{second}".rstrip("^")
        return person or None
    aa = assigning_authority(identifier.system)
    return f"{escape(identifier.value)}^{family}^{first}^{second}^^^^^{aa}"


def xon(organization: Any) -> str:
    """Render an Organization as an XON `name^^^^^&oid&ISO^^^^id`."""
    name = escape(organization.name or "")
    identifier = oid_identifier(organization.identifier)
    if identifier is None:
        return name
    aa = assigning_authority(identifier.system)
    return f"{name}^^^^^{aa}^^^^{escape(identifier.value)}"


def xtn(contact: Any) -> str | None:
    """Render a ContactPoint as an XTN; e-mail and phone only."""
    if not contact.value:
        return None
    if contact.system == "email":
        return f"^^Internet^{escape(contact.value)}"
    if contact.system == "phone":
        return f"^PRN^PH^^^^^^^^^{escape(contact.value)}"
    return None


def coded_string(concept: Any) -> str | None:
    """Render a CodeableConcept as the `code^^^&oid&ISO` form of authorRole/authorSpecialty."""
    coding = next((c for c in concept.coding or [] if c.code), None)
    if coding is None:
        return escape(concept.text) if concept.text else None
    scheme = coding_scheme(coding.system) if coding.system else ""
    if scheme and scheme[0].isdigit():
        return f"{escape(coding.code)}^^^&{scheme}&ISO"
    return escape(coding.code)


def cxi(identifier: Any, type_code: str | None) -> str | None:
    """Render an Identifier as a referenceIdList CXi `id^^^&oid&ISO^type`."""
    if not identifier.value:
        return None
    if type_code is None:
        codings = identifier.type.coding if identifier.type and identifier.type.coding else []
        type_code = next((c.code for c in codings if c.code), DEFAULT_REFERENCE_ID_TYPE)
    return f"{cx(identifier)}^{escape(type_code)}"
