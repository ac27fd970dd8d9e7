"""What the client command tests share: servers in a thread, a throwaway PKI, a SAML assertion."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner

from gateway.cli import main

SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
ASSERTION_ID = "_5e1f7a2c-client-test"


def xcads(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """Run an `xcads` command in this process; return its exit code, stdout and stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def retrieve_argv(
    url: str, documents: list[str], repository: str, community: str | None, out: Path | None
) -> list[str]:
    """Return the arguments of `xcads retrieve` for these documents."""
    argv = ["retrieve", "--gateway", url, "--repository", repository]
    argv += ["--community", community] if community else []
    argv += ["--out", str(out)] if out else []
    for document in documents:
        argv += ["--document", document]
    return argv


@dataclass
class Captured:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    """What the capture app answers: status, headers and body chunks, after `delay` seconds."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Callable[[], Iterator[bytes]] = lambda: iter([b""])
    delay: float = 0.0


class CaptureApp:
    """An ASGI app that records each request and answers with the Reply it is given."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.reply = Reply()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Captured(scope["path"], headers, bytes(body)))

        reply = self.reply
        if reply.delay:
            await asyncio.sleep(reply.delay)
        raw_headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        for chunk in reply.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@contextmanager
def serving(app: Callable[..., Awaitable[None]], **ssl_options) -> Iterator[str]:
    """Run an ASGI app under uvicorn on a real socket in a thread; yield its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **ssl_options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    scheme = "https" if ssl_options.get("ssl_certfile") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def closed_port() -> int:
    """Return a port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Pki:
    """PEM files of a throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
    *,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate: x509.Certificate, key: rsa.RSAPrivateKey | None) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def make_pki(folder: Path) -> Pki:
    """Make a CA, a server and a client certificate signed by it, and an unrelated CA."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, other_key = _key(), _key()
    ca = _certificate("xcads test CA", ca_key)
    server_key, client_key = _key(), _key()
    server = _certificate("127.0.0.1", server_key, (ca, ca_key), server=True)
    client = _certificate("initiating gateway", client_key, (ca, ca_key))
    _write(folder / "ca.pem", ca, None)
    _write(folder / "other-ca.pem", _certificate("another CA", other_key), None)
    _write(folder / "server.pem", server, server_key)
    _write(folder / "client.pem", client, client_key)
    return Pki(
        ca=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        other_ca=folder / "other-ca.pem",
    )


def tls_server_options(pki: Pki) -> dict:
    """uvicorn options for TLS that requires a client certificate issued by the test CA."""
    return {
        "ssl_certfile": str(pki.server_cert),
        "ssl_keyfile": str(pki.server_key),
        "ssl_ca_certs": str(pki.ca),
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }


def signed_assertion(folder: Path) -> tuple[Path, bytes]:
    """Write a SAML 2.0 assertion signed as identity providers sign them; return it and the
    signing certificate (PEM)."""
    key = _key()
    certificate = _certificate("test identity provider", key)
    assertion = etree.fromstring(
        f'<saml:Assertion xmlns:saml="{SAML2}" ID="{ASSERTION_ID}" Version="2.0"'
        ' IssueInstant="2026-01-01T00:00:00Z"><saml:Issuer>idp.test</saml:Issuer>'
        "<saml:Subject><saml:NameID>tester</saml:NameID></saml:Subject>"
        "<saml:AttributeStatement><saml:Attribute"
        ' Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse">'
        "<saml:AttributeValue>TREAT</saml:AttributeValue></saml:Attribute>"
        "</saml:AttributeStatement></saml:Assertion>"
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    signed = XMLSigner(c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        assertion, key=key_pem, cert=cert_pem, reference_uri=f"#{ASSERTION_ID}"
    )
    path = folder / "assertion.xml"
    path.write_bytes(etree.tostring(signed))
    return path, cert_pem
