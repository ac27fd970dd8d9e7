"""Helpers for the registry endpoint tests: ITI-42 and ITI-18 requests, and reading replies."""

from __future__ import annotations

import httpx
from lxml import etree
from soap_messages import APPROVED, FIND_DOCUMENTS, NS, adhoc_query, envelope

from gateway.mtom import parse_multipart
from registry.ebrim import submit_objects_request as submit_objects_request_element
from registry.ebrim.xml import LCM
from registry.metadata import Submission

URL = "/Registry/services/RegistryService"
SOAP = "application/soap+xml; charset=utf-8"
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
NAMESPACES = {**NS, "lcm": LCM}


def submit_objects_request(submission: Submission) -> str:
    """The lcm:SubmitObjectsRequest of an ITI-42 request carrying `submission`."""
    return etree.tostring(submit_objects_request_element(submission), encoding="unicode")


def register(client, submission: Submission, url: str = URL) -> httpx.Response:
    """POST an ITI-42 request."""
    message = envelope(REGISTER, submit_objects_request(submission)).encode()
    return client.post(url, content=message, headers={"Content-Type": SOAP})


def stored_query(client, patient_id: str, *, home: str | None = None) -> httpx.Response:
    """POST an ITI-18 FindDocuments request for Approved documents of one patient."""
    xml_cx = patient_id.replace("&", "&amp;")
    slots = {
        "$XDSDocumentEntryPatientId": [f"'{xml_cx}'"],
        "$XDSDocumentEntryStatus": [f"('{APPROVED}')"],
    }
    body = adhoc_query(FIND_DOCUMENTS, slots)
    if home:
        body = body.replace('<AdhocQuery xmlns="', f'<AdhocQuery home="{home}" xmlns="', 1)
    message = envelope(STORED_QUERY, body).encode()
    return client.post(URL, content=message, headers={"Content-Type": SOAP})


def soap_root(reply: httpx.Response) -> etree._Element:
    """The reply's envelope, plain or MTOM."""
    content_type = reply.headers["content-type"]
    if content_type.startswith("multipart/related"):
        return etree.fromstring(parse_multipart(reply.content, content_type).root.data)
    return etree.fromstring(reply.content)


def body_of(reply: httpx.Response) -> etree._Element:
    """The first element of the reply's Body."""
    return soap_root(reply).find("s:Body", NAMESPACES)[0]


def errors(reply: httpx.Response) -> list[tuple[str, str]]:
    """(errorCode, location) of every RegistryError of the reply."""
    return [
        (error.get("errorCode"), error.get("location", ""))
        for error in body_of(reply).iterfind(".//rs:RegistryError", NAMESPACES)
    ]
