"""ebRS response status and RegistryErrorList, shared by every XDS/XCA response."""

from __future__ import annotations

from enum import StrEnum

from lxml import etree

from registry.ebrim.xml import RS, qname
from registry.errors import Issue, Severity, errors_in


class ResponseStatus(StrEnum):
    """The status of a RegistryResponse (ebRS 3.0; PartialSuccess from ITI TF-3 4.2.4.2)."""

    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


def status_for(issues: list[Issue], *, has_results: bool) -> ResponseStatus:
    """Success without errors; PartialSuccess with errors and some results; else Failure."""
    if not errors_in(issues):
        return ResponseStatus.SUCCESS
    return ResponseStatus.PARTIAL_SUCCESS if has_results else ResponseStatus.FAILURE


def registry_error_list(issues: list[Issue]) -> etree._Element:
    """Return an rs:RegistryErrorList with one rs:RegistryError per issue."""
    element = etree.Element(qname(RS, "RegistryErrorList"), nsmap={"rs": RS})
    highest = Severity.ERROR if errors_in(issues) else Severity.WARNING
    element.set("highestSeverity", highest)
    for issue in issues:
        error = etree.SubElement(element, qname(RS, "RegistryError"))
        error.set("errorCode", issue.code)
        error.set("codeContext", issue.message)
        if issue.location:
            error.set("location", issue.location)
        error.set("severity", issue.severity)
    return element


def registry_response(status: ResponseStatus, issues: list[Issue]) -> etree._Element:
    """Return an rs:RegistryResponse with its status and, if any, its errors."""
    element = etree.Element(qname(RS, "RegistryResponse"), nsmap={"rs": RS})
    element.set("status", status)
    if issues:
        element.append(registry_error_list(issues))
    return element


def parse_registry_errors(element: etree._Element) -> list[tuple[str, str, str, str]]:
    """Return (errorCode, codeContext, location, severity) of each RegistryError under element."""
    return [
        (
            error.get("errorCode", ""),
            error.get("codeContext", ""),
            error.get("location", ""),
            error.get("severity", Severity.ERROR),
        )
        for error in element.iter(qname(RS, "RegistryError"))
    ]
