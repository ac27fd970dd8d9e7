"""The ebRIM 3.0 / ebRS 3.0 wire format of XDS metadata, queries and responses."""

from registry.ebrim.objects import (
    as_urn_uuid,
    association_from_rim,
    association_to_rim,
    document_entry_from_rim,
    document_entry_to_rim,
    folder_to_rim,
    object_ref,
    parse_registry_object_list,
    parse_submit_objects_request,
    registry_object_list,
    registry_object_list_xml,
    registry_package_from_rim,
    submission_set_to_rim,
    submit_objects_request,
)
from registry.ebrim.query import (
    adhoc_query_response,
    adhoc_query_response_xml,
    parse_adhoc_query_request,
)
from registry.ebrim.response import (
    ResponseStatus,
    parse_registry_errors,
    registry_error_list,
    registry_response,
    status_for,
)
from registry.ebrim.xml import XmlRejected, parse_xml

__all__ = [
    "ResponseStatus",
    "XmlRejected",
    "adhoc_query_response",
    "adhoc_query_response_xml",
    "as_urn_uuid",
    "association_from_rim",
    "association_to_rim",
    "document_entry_from_rim",
    "document_entry_to_rim",
    "folder_to_rim",
    "object_ref",
    "parse_adhoc_query_request",
    "parse_registry_errors",
    "parse_registry_object_list",
    "parse_submit_objects_request",
    "parse_xml",
    "registry_error_list",
    "registry_object_list",
    "registry_object_list_xml",
    "registry_package_from_rim",
    "registry_response",
    "status_for",
    "submission_set_to_rim",
    "submit_objects_request",
]
