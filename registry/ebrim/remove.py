"""lcm:RemoveObjectsRequest as ITI-62 Delete Document Set uses it (ITI TF-2b 3.62.4.1.2)."""

from __future__ import annotations

from lxml import etree

from registry.ebrim.xml import QUERY, RIM, qname
from registry.errors import ErrorCode, Issue, XdsError

# ebRS 3.0 default, and the only scope ITI-62 allows.
DELETE_ALL = "urn:oasis:names:tc:ebxml-regrep:DeletionScopeType:DeleteAll"


def parse_remove_objects_request(element: etree._Element) -> list[str]:
    """Return the ids of the rim:ObjectRefs to remove, in request order.

    Raises XdsError(XDSRegistryError) when the request names no object, selects them with an
    AdhocQuery, or asks for a deletionScope other than DeleteAll: ITI-62 allows none of those.
    """
    problems: list[str] = []
    if element.find(qname(RIM, "AdhocQuery")) is not None or (
        element.find(qname(QUERY, "AdhocQuery")) is not None
    ):
        problems.append("Delete Document Set names its objects in an ObjectRefList, not a query")
    if element.get("deletionScope", DELETE_ALL) != DELETE_ALL:
        problems.append(f"deletionScope {element.get('deletionScope')} is not DeleteAll")

    refs = [
        ref.get("id", "")
        for ref in element.iterfind(f"{qname(RIM, 'ObjectRefList')}/{qname(RIM, 'ObjectRef')}")
    ]
    if not refs:
        problems.append("the ObjectRefList names no object to remove")
    if any(not ref for ref in refs):
        problems.append("an ObjectRef has no id")
    if problems:
        raise XdsError([Issue(ErrorCode.REGISTRY_ERROR, problem) for problem in problems])
    return refs
