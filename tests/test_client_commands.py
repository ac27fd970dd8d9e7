"""`xcads submit`, `xcads query` and `xcads retrieve` against a real `xcads serve` process."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundles import Document, encode, provide_bundle
from client_support import retrieve_argv, xcads
from lxml import etree
from servers import HOME, PERSON_ID_AUTHORITY, REPOSITORY, Server
from soap_messages import NS

from gateway.cli import main

EXAMPLE = Path(__file__).parent.parent / "examples" / "iti65-provide-bundle.json"
EXAMPLE_UNIQUE_ID = "2.25.258472819235412983746512398745123987"
EXAMPLE_PATIENT = "13116900216"
VOLVEN_9602 = "2.16.578.1.12.4.1.1.9602"


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    yield running
    running.stop()


def gateway(server: Server) -> str:
    return server.base + "/XCA/services/RespondingGatewayService"


def example_bytes() -> bytes:
    bundle = json.loads(EXAMPLE.read_bytes())
    binary = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary"
    )
    return base64.b64decode(binary["data"])


def submit_documents(server: Server, tmp_path: Path, documents: list[Document]) -> str:
    """Submit a bundle of documents for a new patient with `xcads submit`; return the patient."""
    patient = str(uuid.uuid4().int)[:11]
    path = tmp_path / f"bundle-{patient}.json"
    path.write_bytes(encode(provide_bundle(patient, documents)))
    assert main(["submit", str(path), "--to", server.base + "/fhir"]) == 0
    return patient


def test_submitted_example_is_found_by_query_and_saved_by_retrieve(server, tmp_path, capsys):
    code, out, _ = xcads(capsys, "submit", str(EXAMPLE), "--to", server.base + "/fhir")
    assert code == 0, out
    assert "HTTP 200: accepted, 4 entries" in out
    assert out.count("201 Created") == 4
    assert "DocumentReference/" in out

    code, out, err = xcads(
        capsys, "query", "--gateway", gateway(server), "--patient", EXAMPLE_PATIENT
    )
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith(EXAMPLE_UNIQUE_ID))
    for column in ("Epikrise", "Epikriser og sammenfatninger", "OLA LEGE", REPOSITORY):
        assert column in row
    assert f"  {len(example_bytes())}  " in row
    assert f"1 document(s) from {HOME}; status Success" in out

    target = tmp_path / "epikrise.txt"
    argv = retrieve_argv(gateway(server), [EXAMPLE_UNIQUE_ID], REPOSITORY, HOME, target)
    code, out, err = xcads(capsys, *argv)
    assert code == 0, err
    assert target.read_bytes() == example_bytes()
    row = next(line for line in out.splitlines() if line.startswith(EXAMPLE_UNIQUE_ID))
    assert "text/plain" in row
    assert hashlib.sha1(example_bytes()).hexdigest() in row
    assert str(target) in row
    assert not list(tmp_path.glob("*.part"))


def test_bare_host_urls_reach_the_default_endpoints(server, capsys):
    assert xcads(capsys, "submit", str(EXAMPLE), "--to", server.base)[0] == 0
    code, out, _ = xcads(capsys, "query", "--gateway", server.base, "--patient", EXAMPLE_PATIENT)
    assert code == 0
    assert EXAMPLE_UNIQUE_ID in out


def test_patient_as_cx_and_as_id_with_authority_find_the_same_documents(server, tmp_path, capsys):
    document = Document(b"cx or id")
    patient = submit_documents(server, tmp_path, [document])
    capsys.readouterr()

    query = ["query", "--gateway", gateway(server), "--patient"]
    cx = f"{patient}^^^&{PERSON_ID_AUTHORITY}&ISO"
    _, by_cx, _ = xcads(capsys, *query, cx)
    _, by_id, _ = xcads(
        capsys, *query, patient, "--patient-authority", f"urn:oid:{PERSON_ID_AUTHORITY}"
    )
    assert document.unique_id in by_cx
    assert by_cx == by_id

    _, other, _ = xcads(capsys, *query, patient, "--patient-authority", "1.2.3.4.5")
    assert document.unique_id not in other
    assert "0 document(s)" in other


def test_class_code_narrows_find_documents(server, tmp_path, capsys):
    document = Document(b"class code")
    patient = submit_documents(server, tmp_path, [document])
    capsys.readouterr()
    query = ["query", "--gateway", gateway(server), "--patient", patient]

    _, found, _ = xcads(capsys, *query, "--class", f"A00-1^^{VOLVEN_9602}")
    _, either, _ = xcads(
        capsys, *query, "--class", f"X99^^{VOLVEN_9602}", "--class", f"A00-1^^{VOLVEN_9602}"
    )
    _, other, _ = xcads(capsys, *query, "--class", f"X99^^{VOLVEN_9602}")
    assert document.unique_id in found
    assert document.unique_id in either
    assert document.unique_id not in other


def test_status_option_replaces_the_approved_default(server, tmp_path, capsys):
    document = Document(b"status")
    patient = submit_documents(server, tmp_path, [document])
    capsys.readouterr()
    query = ["query", "--gateway", gateway(server), "--patient", patient]

    _, deprecated, _ = xcads(capsys, *query, "--status", "Deprecated")
    _, both, _ = xcads(capsys, *query, "--status", "Deprecated", "--status", "Approved")
    assert document.unique_id not in deprecated
    assert document.unique_id in both


def test_objectref_lists_entry_uuids_with_their_community(server, tmp_path, capsys):
    patient = submit_documents(server, tmp_path, [Document(b"one"), Document(b"two")])
    capsys.readouterr()

    code, out, _ = xcads(
        capsys, "query", "--gateway", gateway(server), "--patient", patient, "--objectref"
    )
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("urn:uuid:")]
    assert len(rows) == 2
    assert all(row.split()[1] == HOME for row in rows)
    assert "2 document(s)" in out


def test_xml_prints_the_raw_response_envelope(server, tmp_path, capsys):
    document = Document(b"raw")
    patient = submit_documents(server, tmp_path, [document])
    capsys.readouterr()

    code, out, _ = xcads(
        capsys, "query", "--gateway", gateway(server), "--patient", patient, "--xml"
    )
    assert code == 0
    root = etree.fromstring(out.encode())
    unique_ids = root.xpath(
        "//rim:ExternalIdentifier[@identificationScheme="
        "'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']/@value",
        namespaces=NS,
    )
    assert unique_ids == [document.unique_id]


def test_registry_error_in_a_query_answer_is_printed_with_non_zero_exit(server, capsys):
    code, out, err = xcads(
        capsys,
        "query",
        "--gateway",
        gateway(server),
        "--patient",
        EXAMPLE_PATIENT,
        "--community",
        "urn:oid:1.2.3.999",
    )
    assert code == 1
    assert "XDSUnknownCommunity" in err
    assert err.startswith("Error ")
    assert "status Failure" in out


def test_several_documents_are_saved_into_a_folder(server, tmp_path, capsys):
    documents = [Document(b"first", "text/plain"), Document(b"<p>second</p>", "text/html")]
    submit_documents(server, tmp_path, documents)
    capsys.readouterr()
    folder = tmp_path / "retrieved"

    unique_ids = [document.unique_id for document in documents]
    argv = retrieve_argv(gateway(server), unique_ids, REPOSITORY, HOME, folder)
    code, out, err = xcads(capsys, *argv)

    assert code == 0, err
    assert (folder / f"{documents[0].unique_id}.txt").read_bytes() == b"first"
    assert (folder / f"{documents[1].unique_id}.html").read_bytes() == b"<p>second</p>"
    assert "2 document(s) saved; status Success" in out


def test_unknown_document_is_a_partial_success_with_non_zero_exit(server, tmp_path, capsys):
    document = Document(b"known")
    submit_documents(server, tmp_path, [document])
    capsys.readouterr()

    argv = retrieve_argv(
        gateway(server), [document.unique_id, "2.25.1"], REPOSITORY, HOME, tmp_path / "out"
    )
    code, out, err = xcads(capsys, *argv)
    assert code == 1
    assert (tmp_path / "out" / f"{document.unique_id}.txt").read_bytes() == b"known"
    assert "status PartialSuccess" in out
    assert "XDSDocumentUniqueIdError at 2.25.1" in err


def test_retrieve_without_community_gets_the_gateways_error(server, capsys, tmp_path):
    argv = retrieve_argv(
        gateway(server), [EXAMPLE_UNIQUE_ID], REPOSITORY, None, tmp_path / "nothing.txt"
    )
    code, out, err = xcads(capsys, *argv)
    assert code == 1
    assert "XDSMissingHomeCommunityId" in err
    assert "0 document(s) saved; status Failure" in out
    assert not (tmp_path / "nothing.txt").exists()


def test_refused_submission_prints_the_operation_outcome_issues(server, capsys):
    assert xcads(capsys, "submit", str(EXAMPLE), "--to", server.base + "/fhir")[0] == 0

    code, out, _ = xcads(capsys, "submit", str(EXAMPLE), "--to", server.base + "/fhir")
    assert code == 1
    assert "HTTP 400: refused" in out
    row = next(line for line in out.splitlines() if "XDSDuplicateUniqueIdInRegistry" in line)
    assert row.startswith("error")
    assert "Bundle.entry[" in row
