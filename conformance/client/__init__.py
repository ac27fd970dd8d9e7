"""A client that talks to any XCA responding gateway and MHD Document Recipient, as real
initiating gateways and document sources do: ITI-38, ITI-39 and ITI-65."""

from conformance.client.mhd import SubmitAnswer, provide_document_bundle
from conformance.client.transport import ClientError, TlsOptions, open_client
from conformance.client.xca import (
    FindDocuments,
    QueryAnswer,
    RetrieveAnswer,
    cross_gateway_query,
    cross_gateway_retrieve,
)

__all__ = [
    "ClientError",
    "FindDocuments",
    "QueryAnswer",
    "RetrieveAnswer",
    "SubmitAnswer",
    "TlsOptions",
    "cross_gateway_query",
    "cross_gateway_retrieve",
    "open_client",
    "provide_document_bundle",
]
