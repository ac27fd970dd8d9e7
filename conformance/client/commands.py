"""The client subcommands of `xcads`: query (ITI-38), retrieve (ITI-39) and submit (ITI-65)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from conformance.client.mhd import SubmitAnswer, provide_document_bundle
from conformance.client.soap import load_assertion
from conformance.client.transport import (
    EXIT_OK,
    EXIT_REPORTED_ERRORS,
    EXIT_USAGE,
    ClientError,
    TlsOptions,
    open_client,
)
from conformance.client.xca import (
    NORWEGIAN_PERSON_ID,
    FindDocuments,
    QueryAnswer,
    RegistryError,
    RetrieveAnswer,
    coded_value,
    cross_gateway_query,
    cross_gateway_retrieve,
    patient_cx,
    severity_name,
    status_urn,
)
from registry.ebrim.retrieve import DocumentRequest
from registry.metadata import Code, DocumentEntry

# Where a bare host URL is completed to, as xcads serves them.
XCA_PATH = "/XCA/services/RespondingGatewayService"
FHIR_PATH = "/fhir"
TITLE_WIDTH = 40
# The shell's convention for a command ended by SIGINT.
EXIT_INTERRUPTED = 130


def add_client_commands(commands: argparse._SubParsersAction) -> None:
    """Add the query, retrieve and submit subcommands to the `xcads` parser."""
    transport = argparse.ArgumentParser(add_help=False)
    tls = transport.add_argument_group("TLS and timeouts")
    tls.add_argument("--cert", type=Path, help="client certificate (PEM), for mutual TLS")
    tls.add_argument("--key", type=Path, help="private key of --cert (PEM), if not in that file")
    tls.add_argument(
        "--ca", type=Path, help="CA certificates (PEM) to trust instead of the system's"
    )
    tls.add_argument(
        "--insecure", action="store_true", help="do not verify the server's certificate"
    )
    tls.add_argument("--timeout", type=float, default=60.0, help="seconds per network step (60)")
    soap = argparse.ArgumentParser(add_help=False, parents=[transport])
    soap.add_argument(
        "--saml",
        type=Path,
        help="file with a SAML 2.0 assertion to send in a wsse:Security header",
    )

    query = commands.add_parser(
        "query", parents=[soap], help="ITI-38 FindDocuments at an XCA responding gateway"
    )
    query.add_argument("--gateway", required=True, help=f"endpoint URL (bare host: +{XCA_PATH})")
    query.add_argument("--patient", required=True, help="patient id: CX id^^^&oid&ISO, or id")
    query.add_argument(
        "--patient-authority",
        default=NORWEGIAN_PERSON_ID,
        help=f"assigning authority OID of a bare --patient id ({NORWEGIAN_PERSON_ID})",
    )
    query.add_argument(
        "--status",
        action="append",
        help="availabilityStatus, e.g. Approved or Deprecated; repeatable (default Approved)",
    )
    query.add_argument(
        "--class",
        dest="class_codes",
        action="append",
        default=[],
        help="classCode as code^^codingScheme; repeatable (any of them matches)",
    )
    query.add_argument("--community", help="homeCommunityId to put on the AdhocQuery (home)")
    returns = query.add_mutually_exclusive_group()
    returns.add_argument(
        "--leafclass",
        dest="return_type",
        action="store_const",
        const="LeafClass",
        help="full metadata (the default)",
    )
    returns.add_argument(
        "--objectref",
        dest="return_type",
        action="store_const",
        const="ObjectRef",
        help="object references only",
    )
    query.add_argument("--xml", action="store_true", help="print the raw response envelope")
    query.set_defaults(run=run_query, return_type="LeafClass")

    retrieve = commands.add_parser(
        "retrieve", parents=[soap], help="ITI-39 retrieve from an XCA responding gateway"
    )
    retrieve.add_argument("--gateway", required=True, help=f"endpoint URL (bare host: +{XCA_PATH})")
    retrieve.add_argument(
        "--document",
        dest="documents",
        action="append",
        required=True,
        help="DocumentUniqueId; repeatable",
    )
    retrieve.add_argument("--repository", required=True, help="RepositoryUniqueId")
    retrieve.add_argument("--community", help="HomeCommunityId (urn:oid:…), required by ITI-39")
    retrieve.add_argument(
        "--out",
        type=Path,
        help="file for one document, folder for several (default: the current folder)",
    )
    retrieve.set_defaults(run=run_retrieve)

    submit = commands.add_parser(
        "submit", parents=[transport], help="ITI-65: post a FHIR transaction Bundle"
    )
    submit.add_argument("bundle", type=Path, help="Bundle file (FHIR JSON or XML)")
    submit.add_argument("--to", required=True, help=f"FHIR base URL (bare host: +{FHIR_PATH})")
    submit.set_defaults(run=run_submit)


def endpoint(url: str, default_path: str) -> str:
    """Return the URL, with `default_path` added when it names no path."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientError(f"{url!r} is not an http(s) URL", EXIT_USAGE)
    return url.rstrip("/") + default_path if parts.path in ("", "/") else url


def run_query(args: argparse.Namespace) -> int:
    """Run `xcads query`."""
    return _reporting(args, _query)


def run_retrieve(args: argparse.Namespace) -> int:
    """Run `xcads retrieve`."""
    return _reporting(args, _retrieve)


def run_submit(args: argparse.Namespace) -> int:
    """Run `xcads submit`."""
    return _reporting(args, _submit)


def _reporting(args: argparse.Namespace, command) -> int:
    # httpx logs every request at INFO; the command prints its own account of the exchange.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        return command(args)
    except ClientError as error:
        print(f"xcads {args.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"xcads {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _tls(args: argparse.Namespace) -> TlsOptions:
    return TlsOptions(cert=args.cert, key=args.key, ca=args.ca, insecure=args.insecure)


def _query(args: argparse.Namespace) -> int:
    url = endpoint(args.gateway, XCA_PATH)
    query = FindDocuments(
        patient_id=patient_cx(args.patient, args.patient_authority),
        statuses=[status_urn(status) for status in args.status or ["Approved"]],
        class_codes=[coded_value(code) for code in args.class_codes],
        return_type=args.return_type,
        home_community_id=args.community,
    )
    assertion = load_assertion(args.saml) if args.saml else None
    with open_client(_tls(args), args.timeout) as client:
        answer = cross_gateway_query(client, url, query, assertion)

    if args.xml:
        sys.stdout.write(answer.xml.decode("utf-8", errors="replace").rstrip() + "\n")
    else:
        print_query_answer(answer, sys.stdout)
    print_registry_errors(answer.errors, sys.stderr)
    for problem in answer.unreadable:
        print(f"unreadable DocumentEntry {problem}", file=sys.stderr)
    failed = any(e.is_error for e in answer.errors) or answer.unreadable
    return EXIT_REPORTED_ERRORS if failed or answer.status.endswith(":Failure") else EXIT_OK


def print_query_answer(answer: QueryAnswer, out: TextIO) -> None:
    """Print the DocumentEntries as a table (or the ObjectRefs), then the status."""
    if answer.object_refs:
        rows = [("entryUUID", "home")] + [(ref, home or "-") for ref, home in answer.object_refs]
        print_table(rows, out)
    if answer.entries:
        header = ("uniqueId", "title", "class / type", "date", "author", "size", "repository")
        print_table([header, *(entry_row(entry) for entry in answer.entries)], out)
    count = len(answer.entries) or len(answer.object_refs)
    status = answer.status.rsplit(":", 1)[-1] or "(none)"
    homes = sorted({e.home_community_id for e in answer.entries if e.home_community_id})
    source = f" from {', '.join(homes)}" if homes else ""
    print(f"{count} document(s){source}; status {status}", file=out)


def entry_row(entry: DocumentEntry) -> tuple[str, ...]:
    """Return the table row of one DocumentEntry."""
    title = entry.title or "-"
    if len(title) > TITLE_WIDTH:
        title = title[: TITLE_WIDTH - 1] + "…"
    kinds = f"{_code(entry.class_code)} / {_code(entry.type_code)}"
    return (
        entry.unique_id,
        title,
        kinds,
        _dtm(entry.creation_time),
        _author(entry),
        "-" if entry.size is None else str(entry.size),
        entry.repository_unique_id or "-",
    )


def _code(code: Code | None) -> str:
    if code is None:
        return "-"
    return code.display_name or code.code


def _dtm(value: str | None) -> str:
    if not value:
        return "-"
    parts = [value[0:4], value[4:6], value[6:8]]
    date = "-".join(part for part in parts if part)
    time = ":".join(part for part in (value[8:10], value[10:12]) if part)
    return f"{date} {time}".strip()


def _author(entry: DocumentEntry) -> str:
    names = []
    for author in entry.authors:
        if author.person:
            fields = author.person.split("^")
            name = " ".join(f for f in (fields[2:3] + fields[1:2]) if f) or fields[0]
            names.append(name)
        elif author.institutions:
            names.append(author.institutions[0].split("^")[0])
    if not names:
        return "-"
    return names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")


def print_table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    """Print rows as left-aligned columns, the first row as a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        line = "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True))
        print(line.rstrip(), file=out)
        if number == 0:
            print("  ".join("-" * width for width in widths), file=out)


def print_registry_errors(errors: list[RegistryError], out: TextIO) -> None:
    """Print each RegistryError on one line."""
    for error in errors:
        where = f" at {error.location}" if error.location else ""
        context = " ".join(error.context.split())
        print(f"{severity_name(error.severity)} {error.code}{where}: {context}", file=out)


def _retrieve(args: argparse.Namespace) -> int:
    url = endpoint(args.gateway, XCA_PATH)
    requests = [
        DocumentRequest(
            repository_unique_id=args.repository,
            document_unique_id=unique_id,
            home_community_id=args.community,
        )
        for unique_id in args.documents
    ]
    if args.out is not None and len(requests) > 1 and args.out.is_file():
        raise ClientError(f"--out {args.out} must be a folder for several documents", EXIT_USAGE)
    assertion = load_assertion(args.saml) if args.saml else None
    with open_client(_tls(args), args.timeout) as client:
        answer = cross_gateway_retrieve(client, url, requests, args.out, assertion)

    print_retrieve_answer(answer, sys.stdout)
    print_registry_errors(answer.errors, sys.stderr)
    failed = any(e.is_error for e in answer.errors) or answer.status.endswith(":Failure")
    return EXIT_REPORTED_ERRORS if failed else EXIT_OK


def print_retrieve_answer(answer: RetrieveAnswer, out: TextIO) -> None:
    """Print each saved document: uniqueId, mimeType, size, SHA-1 and file."""
    if answer.documents:
        header = ("uniqueId", "mimeType", "size", "sha1", "file")
        rows = [
            (d.unique_id, d.mime_type or "-", str(d.size), d.sha1, str(d.path))
            for d in answer.documents
        ]
        print_table([header, *rows], out)
    status = answer.status.rsplit(":", 1)[-1] or "(none)"
    print(f"{len(answer.documents)} document(s) saved; status {status}", file=out)


def _submit(args: argparse.Namespace) -> int:
    url = endpoint(args.to, FHIR_PATH)
    with open_client(_tls(args), args.timeout) as client:
        answer = provide_document_bundle(client, url, args.bundle)
    print_submit_answer(answer, sys.stdout)
    return EXIT_OK if answer.succeeded else EXIT_REPORTED_ERRORS


def print_submit_answer(answer: SubmitAnswer, out: TextIO) -> None:
    """Print the entries' status and location, then any OperationOutcome issues."""
    verdict = "accepted" if answer.succeeded else "refused"
    print(f"HTTP {answer.http_status}: {verdict}, {len(answer.entries)} entries", file=out)
    if answer.entries:
        rows = [("status", "location")] + [(e.status, e.location or "-") for e in answer.entries]
        print_table(rows, out)
    if answer.issues:
        rows = [("severity", "code", "XDS code", "expression", "diagnostics")]
        rows += [
            (
                issue.severity,
                issue.code,
                ", ".join(issue.xds_codes) or "-",
                ", ".join(issue.expression) or "-",
                " ".join(issue.diagnostics.split()) or "-",
            )
            for issue in answer.issues
        ]
        print_table(rows, out)
