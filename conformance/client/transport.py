"""HTTP for the client commands: TLS options, and transport failures as one-line errors."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

# Exit codes of the client commands; argparse exits with 2 for a bad command line.
EXIT_OK = 0
EXIT_REPORTED_ERRORS = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3


class ClientError(Exception):
    """A failure the client reports in one line, with the exit code it ends with."""

    def __init__(self, message: str, exit_code: int = EXIT_TRANSPORT) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class TlsOptions:
    """Client certificate and trust for https targets."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    insecure: bool = False

    def context(self) -> ssl.SSLContext:
        """Return the SSL context: the given CAs (or the system's), and the client certificate."""
        if self.key and not self.cert:
            raise ClientError("--key needs --cert", EXIT_USAGE)
        for path in (self.cert, self.key, self.ca):
            if path is not None and not path.is_file():
                raise ClientError(f"cannot read {path}: no such file", EXIT_USAGE)
        try:
            context = ssl.create_default_context(cafile=self.ca)
            if self.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.cert:
                context.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            raise ClientError(
                f"cannot load the TLS certificate or key: {exc}", EXIT_USAGE
            ) from None
        return context


def open_client(tls: TlsOptions, timeout: float) -> httpx.Client:
    """Return an HTTP client that follows no redirects and keeps no cookies between commands."""
    return httpx.Client(verify=tls.context(), timeout=timeout, follow_redirects=False)


@contextmanager
def talking_to(url: str) -> Iterator[None]:
    """Turn httpx failures while exchanging with `url` into a ClientError saying what happened."""
    try:
        yield
    except httpx.TimeoutException:
        raise ClientError(f"{url}: timed out") from None
    except httpx.UnsupportedProtocol:
        raise ClientError(f"{url}: not an http or https URL", EXIT_USAGE) from None
    except httpx.InvalidURL as exc:
        raise ClientError(f"{url}: invalid URL: {exc}", EXIT_USAGE) from None
    except httpx.TransportError as exc:
        tls = _tls_cause(exc)
        if tls is not None:
            raise ClientError(f"{url}: TLS failure: {_reason(tls)}") from None
        if isinstance(exc, httpx.ConnectError):
            raise ClientError(f"{url}: cannot connect: {_reason(exc)}") from None
        hint = ""
        if url.lower().startswith("https:") and isinstance(exc, _CUT_OFF):
            # With TLS 1.3 the server's verdict on the client certificate comes after the
            # handshake, so a refused or missing certificate shows as a dropped connection.
            hint = " (a TLS server does this when it gets no client certificate it accepts: --cert)"
        raise ClientError(f"{url}: the connection failed: {_reason(exc)}{hint}") from None
    except httpx.HTTPError as exc:
        raise ClientError(f"{url}: {_reason(exc)}") from None


_CUT_OFF = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        detail = getattr(exc, "verify_message", None)
        return f"{exc.reason} ({detail})" if detail else str(exc.reason)
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
