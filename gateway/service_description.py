"""What each SOAP endpoint tells about itself: its WSDL 1.1 at `GET <endpoint>?wsdl`, and the
schemas the WSDL imports at `GET /schemas/<name>`.

The WSDLs are templates in `wsdl/` (names and actions of ITI TF-2x Appendix V); the address is
the URL the request came to, so a WSDL read through a proxy names the proxy's address as far as
the server is told it (uvicorn `--proxy-headers`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.schema import SCHEMAS

WSDL_TEMPLATES = Path(__file__).parent / "wsdl"
XML_MEDIA_TYPE = "text/xml; charset=UTF-8"

router = APIRouter()


@functools.cache
def _template(name: str) -> Template:
    return Template((WSDL_TEMPLATES / name).read_text(encoding="utf-8"))


def wsdl_response(request: Request, template: str) -> Response:
    """Answer `GET <endpoint>?wsdl` with the endpoint's WSDL; any other GET is 405."""
    if not any(key.lower() == "wsdl" for key in request.query_params):
        return Response(
            "this endpoint takes SOAP 1.2 requests by POST; GET ?wsdl describes it\n",
            status_code=405,
            headers={"Allow": "POST"},
            media_type="text/plain",
        )
    address = str(request.url.replace(query=""))
    schemas = str(request.url_for("schema_document", name="x")).removesuffix("x")
    wsdl = _template(template).substitute(
        address=escape(address, {'"': "&quot;"}), schemas=escape(schemas, {'"': "&quot;"})
    )
    return Response(wsdl, media_type=XML_MEDIA_TYPE)


@router.get("/schemas/{name}", include_in_schema=False)
def schema_document(name: str) -> Response:
    """Serve one of the shipped XML schemas the WSDLs import."""
    shipped = {path.name: path for path in SCHEMAS.glob("*.xsd")}
    if name not in shipped:
        return Response(f"no schema named {name}\n", status_code=404, media_type="text/plain")
    return Response(shipped[name].read_bytes(), media_type=XML_MEDIA_TYPE)
