"""FHIR's two wire formats at the MHD edge: which one a request sends and wants, and XML to JSON.

FHIR R4 http.html#mime-type: a body is `application/fhir+json` or `application/fhir+xml`; the
answer follows `_format`, else the Accept header, else the format of the request. XML is read
with the hardened parser of the ebRIM layer (no DTD, no entities, no network), bounded in depth,
then handed to fhir.resources, whose JSON form goes through the same checks as a JSON body.
"""

from __future__ import annotations

import json
from enum import StrEnum

from fhir.resources.R4B import get_fhir_model_class
from lxml import etree
from pydantic import ValidationError

from mhd.bundle import fhir_path
from mhd.outcome import BundleRejected, FhirIssue
from registry.ebrim.xml import XmlRejected, parse_xml
from registry.errors import ErrorCode

FHIR_NAMESPACE = "http://hl7.org/fhir"

# FHIR XML spends one element per value and one per complex type: twice the JSON nesting, and
# then some for narrative XHTML.
MAX_XML_DEPTH = 160


class FhirFormat(StrEnum):
    """The two FHIR wire formats this recipient speaks."""

    JSON = "application/fhir+json"
    XML = "application/fhir+xml"


# Media types (and `_format` shorthands) of each format (FHIR R4 http.html#mime-type).
_FORMATS: dict[str, FhirFormat] = {
    "application/fhir+json": FhirFormat.JSON,
    "application/json+fhir": FhirFormat.JSON,
    "application/json": FhirFormat.JSON,
    "json": FhirFormat.JSON,
    "application/fhir+xml": FhirFormat.XML,
    "application/xml+fhir": FhirFormat.XML,
    "application/xml": FhirFormat.XML,
    "text/xml": FhirFormat.XML,
    "xml": FhirFormat.XML,
}


def format_of(media_type: str | None) -> FhirFormat | None:
    """The FHIR format a media type (parameters allowed) names, or None."""
    if not media_type:
        return None
    return _FORMATS.get(media_type.split(";")[0].strip().lower())


def request_format(content_type: str | None) -> FhirFormat:
    """The format of a request body; BundleRejected 415 for a media type FHIR does not use."""
    if not content_type:
        return FhirFormat.JSON
    found = format_of(content_type)
    if found is None:
        media_type = content_type.split(";")[0].strip().lower()
        message = (
            f"Content-Type {media_type!r} is not supported;"
            " send application/fhir+json or application/fhir+xml"
        )
        issue = FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, issue_type="not-supported")
        raise BundleRejected([issue], status=415)
    return found


def response_format(
    requested: FhirFormat, format_parameter: str | None, accept: str | None
) -> FhirFormat:
    """The answer's format: `_format`, else the first FHIR type in Accept, else the request's.

    Raises BundleRejected 406 for a `_format` that is neither (FHIR R4 http.html#mime-type).
    """
    if format_parameter is not None:
        if found := format_of(format_parameter):
            return found
        message = f"_format {format_parameter!r} is not json or xml"
        issue = FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, issue_type="not-supported")
        raise BundleRejected([issue], status=406)
    for media_range in (accept or "").split(","):
        if found := format_of(media_range):
            return found
    return requested


def xml_to_json(body: bytes) -> bytes:
    """Read a FHIR XML resource and give it back as FHIR JSON; BundleRejected if it cannot be."""
    try:
        root = parse_xml(body)
    except XmlRejected as error:
        raise BundleRejected([_structure(f"the body is not acceptable XML: {error}")]) from None
    if _depth(root) > MAX_XML_DEPTH:
        raise BundleRejected([_structure(f"the XML nests deeper than {MAX_XML_DEPTH} levels")])

    namespace, _, name = root.tag.rpartition("}")
    if namespace != "{" + FHIR_NAMESPACE:
        message = f"the root element must be a FHIR resource in {FHIR_NAMESPACE}, not {root.tag}"
        raise BundleRejected([_structure(message)])
    try:
        model = get_fhir_model_class(name)
    except (KeyError, ValueError):
        raise BundleRejected([_structure(f"{name!r} is not a FHIR R4 resource")]) from None
    try:
        resource = model.model_validate_xml(etree.tostring(root))
    except ValidationError as error:
        raise BundleRejected(
            _structure(e["msg"], _path(name, e["loc"])) for e in error.errors()
        ) from None
    except KeyError as error:
        message = f"the XML is not a FHIR {name}: {error} is not an element where it stands"
        raise BundleRejected([_structure(message)]) from None
    except (ValueError, TypeError, AttributeError, IndexError, etree.LxmlError) as error:
        raise BundleRejected([_structure(f"the XML is not a FHIR {name}: {error}")]) from None
    return resource.model_dump_json(exclude_none=True).encode("utf-8")


def render(resource: dict, wanted: FhirFormat) -> bytes:
    """Serialise a FHIR resource given as JSON-shaped data in the format wanted."""
    if wanted == FhirFormat.JSON:
        return json.dumps(resource, ensure_ascii=False).encode("utf-8")
    model = get_fhir_model_class(resource["resourceType"])
    return model.model_validate(resource).model_dump_xml()


def _depth(root: etree._Element) -> int:
    deepest, pending = 0, [(root, 1)]
    while pending:
        element, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_XML_DEPTH:
            return deepest
        pending.extend((child, depth + 1) for child in element)
    return deepest


def _path(resource_type: str, loc: tuple) -> str:
    return fhir_path(loc).replace("Bundle", resource_type, 1)


def _structure(message: str, expression: str = "Bundle") -> FhirIssue:
    return FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, expression, issue_type="structure")
