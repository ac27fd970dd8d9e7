"""ebRS AdhocQueryRequest and AdhocQueryResponse (ITI-18, ITI-38)."""

from __future__ import annotations

from lxml import etree

from registry.ebrim.objects import registry_object_list, registry_object_list_xml
from registry.ebrim.response import ResponseStatus, registry_error_list
from registry.ebrim.xml import QUERY, RIM, RS, qname, text_of
from registry.errors import ErrorCode, Issue, XdsError
from registry.store import QueryResult, StoredQueryRequest

RETURN_TYPES = ("LeafClass", "ObjectRef")


def parse_adhoc_query_request(element: etree._Element) -> StoredQueryRequest:
    """Read a query:AdhocQueryRequest; raise XdsError(XDSRegistryError) if it is not usable.

    Slots of the same name stay apart, one value list each, since ITI-18 ANDs them.
    """
    if element.tag != qname(QUERY, "AdhocQueryRequest"):
        raise _error(f"expected AdhocQueryRequest, found {etree.QName(element).localname}")
    query = element.find(qname(RIM, "AdhocQuery"))
    if query is None or not query.get("id"):
        raise _error("AdhocQuery with an id is required")

    option = element.find(qname(QUERY, "ResponseOption"))
    return_type = "ObjectRef" if option is None else option.get("returnType", "RegistryObject")
    if return_type not in RETURN_TYPES:
        raise _error(f"returnType {return_type} is not supported; use LeafClass or ObjectRef")
    composed = option is not None and option.get("returnComposedObjects") in ("true", "1")

    slots: dict[str, list[list[str]]] = {}
    for slot in query.findall(qname(RIM, "Slot")):
        values = [text_of(value) for value in slot.iterfind(f"{qname(RIM, 'ValueList')}/*")]
        slots.setdefault(slot.get("name", ""), []).append(values)

    return StoredQueryRequest(
        query_id=query.get("id", "").strip(),
        slots=slots,
        return_type=return_type,
        return_composed_objects=composed,
        home_community_id=query.get("home") or None,
    )


def adhoc_query_response(
    status: ResponseStatus,
    result: QueryResult | None = None,
    issues: list[Issue] | None = None,
    *,
    return_type: str = "LeafClass",
    home: str | None = None,
) -> etree._Element:
    """Return a query:AdhocQueryResponse; `home` is stamped on every returned object."""
    element = etree.Element(
        qname(QUERY, "AdhocQueryResponse"), nsmap={"query": QUERY, "rim": RIM, "rs": RS}
    )
    element.set("status", status)
    if issues:
        element.append(registry_error_list(issues))
    element.append(
        registry_object_list(
            result or QueryResult(), home=home, object_refs=return_type == "ObjectRef"
        )
    )
    return element


def adhoc_query_response_xml(
    status: ResponseStatus,
    result: QueryResult,
    *,
    return_type: str = "LeafClass",
    home: str | None = None,
) -> bytes:
    """The AdhocQueryResponse of `adhoc_query_response` without errors, as UTF-8 bytes: the same
    bytes lxml writes of it, without building it element by element (see `registry_object_list`)."""
    objects = registry_object_list_xml(
        result, home=home, object_refs=return_type == "ObjectRef", declare=False
    )
    return (
        f'<query:AdhocQueryResponse xmlns:query="{QUERY}" xmlns:rim="{RIM}" xmlns:rs="{RS}" '
        f'status="{status}">{objects}</query:AdhocQueryResponse>'
    ).encode()


def _error(message: str) -> XdsError:
    return XdsError(Issue(ErrorCode.REGISTRY_ERROR, message))
