"""The Document Repository endpoint: ITI-41, ITI-43 and ITI-86 over SOAP 1.2, plain and MTOM."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging

from registry_support import submit_objects_request
from repository_support import (
    FAILURE,
    PARTIAL_SUCCESS,
    PROVIDE,
    REMOVE,
    SUCCESS,
    assert_schema_valid,
    document_requests,
    mtom,
    post,
    provide_envelope,
    provide_request,
    read_reply,
    remove_request,
    retrieve_request,
)
from soap_messages import envelope
from validation_samples import CONTENT, document_entry, submission

from gateway.mtom import Part

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
REPOSITORY = "1.3.6.1.4.1.21367.13.70.200.1"
OTHER_REPOSITORY = "1.2.1.1.1"


def entry_for(data: bytes, **attributes):
    """A valid DocumentEntry stating the hash and size of `data`."""
    stated = {"hash": hashlib.sha1(data).hexdigest(), "size": len(data)}
    return document_entry(**{**stated, **attributes})


def provide(client, the_submission, documents, *, inline=False):
    message, content_type = provide_request(
        submit_objects_request(the_submission), documents, inline=inline
    )
    return read_reply(post(client, message, content_type))


def provided(client, *contents: bytes):
    """Provide one document per content in one submission; return the entries."""
    entries = [entry_for(data) for data in contents]
    reply = provide(
        client,
        submission(*entries),
        [(e.entry_uuid, data) for e, data in zip(entries, contents, strict=True)],
    )
    assert reply.status == SUCCESS, reply.errors
    return entries


def stored_bytes(app, unique_id: str) -> bytes | None:
    if not app.state.documents.exists(unique_id):
        return None
    return b"".join(app.state.documents.open(unique_id))


# --- ITI-41 Provide and Register Document Set-b ------------------------------------------------


def test_provide_and_register_as_mtom_stores_bytes_and_registers_metadata(app, client):
    entry = entry_for(CONTENT)

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert reply.status == SUCCESS
    assert reply.errors == []
    assert reply.action == "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    assert stored_bytes(app, entry.unique_id) == CONTENT
    (stored,) = app.state.registry.document_entries_by_unique_id([entry.unique_id])
    assert (stored.hash, stored.size) == (hashlib.sha1(CONTENT).hexdigest(), len(CONTENT))
    assert stored.repository_unique_id == REPOSITORY


def test_provide_and_register_sent_as_mtom_is_answered_as_mtom(client):
    entry = entry_for(CONTENT)
    message, content_type = provide_request(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, CONTENT)]
    )

    reply = post(client, message, content_type)

    assert reply.headers["content-type"].startswith("multipart/related")


def test_provide_and_register_with_inline_base64_documents(app, client):
    entry = entry_for(CONTENT)

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)], inline=True)

    assert reply.status == SUCCESS
    assert stored_bytes(app, entry.unique_id) == CONTENT


def inline_with_text(the_submission, document_id: str, text: str) -> bytes:
    """An ITI-41 with one inline Document whose element text is `text`."""
    message, _ = provide_envelope(
        submit_objects_request(the_submission), [(document_id, b"")], inline=True
    )
    opening = f'<xds:Document id="{document_id}">'.encode()
    return message.replace(
        opening + b"</xds:Document>", opening + text.encode() + b"</xds:Document>"
    )


def test_inline_content_outside_the_base64_alphabet_is_a_repository_error(app, client):
    # Stated as the empty document: b64decode alone dropped "!!!@@@" and registered no bytes.
    entry = entry_for(b"")

    reply = read_reply(
        post(client, inline_with_text(submission(entry), entry.entry_uuid, "!!!@@@"))
    )

    assert reply.status == FAILURE
    assert [code for code, _ in reply.errors] == ["XDSRepositoryError"]
    assert app.state.registry.document_entries_by_unique_id([entry.unique_id]) == []
    assert stored_bytes(app, entry.unique_id) is None


def test_inline_base64_broken_over_lines_is_read(app, client):
    entry = entry_for(CONTENT)
    encoded = base64.b64encode(CONTENT).decode()
    text = "\n".join(encoded[i : i + 8] for i in range(0, len(encoded), 8))

    reply = read_reply(post(client, inline_with_text(submission(entry), entry.entry_uuid, text)))

    assert reply.status == SUCCESS
    assert stored_bytes(app, entry.unique_id) == CONTENT


def test_document_id_names_a_symbolic_extrinsic_object_id(app, client):
    entry = entry_for(CONTENT, entry_uuid="Document01")
    the_submission = submission(entry)
    the_submission = dataclasses.replace(
        the_submission,
        submission_set=dataclasses.replace(the_submission.submission_set, entry_uuid="SubSet01"),
        associations=[
            dataclasses.replace(link, source_object="SubSet01")
            for link in the_submission.associations
        ],
    )

    reply = provide(client, the_submission, [("Document01", CONTENT)])

    assert reply.status == SUCCESS, reply.errors
    (stored,) = app.state.registry.document_entries_by_unique_id([entry.unique_id])
    assert stored.entry_uuid.startswith("urn:uuid:")
    assert stored_bytes(app, entry.unique_id) == CONTENT


def test_several_documents_in_one_submission(app, client):
    first, second = provided(client, b"first", b"second")

    assert stored_bytes(app, first.unique_id) == b"first"
    assert stored_bytes(app, second.unique_id) == b"second"


def test_extrinsic_object_without_document_is_missing_document(app, client):
    with_bytes, without = entry_for(b"a"), entry_for(b"b")

    reply = provide(client, submission(with_bytes, without), [(with_bytes.entry_uuid, b"a")])

    assert reply.status == FAILURE
    assert ("XDSMissingDocument", without.entry_uuid) in reply.errors
    assert stored_bytes(app, with_bytes.unique_id) is None


def test_document_without_extrinsic_object_is_missing_document_metadata(app, client):
    entry = entry_for(CONTENT)

    reply = provide(
        client, submission(entry), [(entry.entry_uuid, CONTENT), ("Document99", b"stray")]
    )

    assert reply.status == FAILURE
    assert ("XDSMissingDocumentMetadata", "Document99") in reply.errors
    assert app.state.registry.document_entries_by_unique_id([entry.unique_id]) == []


def test_stated_hash_that_does_not_match_is_a_repository_metadata_error(app, client):
    entry = entry_for(CONTENT, hash="e543712c0e10501972de13a5bfcbe826c49feb69")

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert reply.status == FAILURE
    assert reply.errors == [("XDSRepositoryMetadataError", f"{entry.entry_uuid} hash")]
    assert stored_bytes(app, entry.unique_id) is None


def test_stated_size_that_does_not_match_is_a_repository_metadata_error(client):
    entry = entry_for(CONTENT, size=len(CONTENT) + 1)

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert reply.status == FAILURE
    assert reply.errors == [("XDSRepositoryMetadataError", f"{entry.entry_uuid} size")]


def test_stated_hash_in_upper_case_is_accepted(client):
    entry = entry_for(CONTENT, hash=hashlib.sha1(CONTENT).hexdigest().upper())

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert reply.status == SUCCESS, reply.errors


def test_two_entries_with_one_unique_id_are_a_repository_duplicate(app, client):
    first = entry_for(b"a")
    second = entry_for(b"b", unique_id=first.unique_id)

    reply = provide(
        client, submission(first, second), [(first.entry_uuid, b"a"), (second.entry_uuid, b"b")]
    )

    assert reply.status == FAILURE
    codes = {code for code, _ in reply.errors}
    assert codes == {"XDSRepositoryDuplicateUniqueIdInMessage"}
    assert stored_bytes(app, first.unique_id) is None


def test_two_documents_with_one_id_are_a_repository_duplicate(client):
    entry = entry_for(CONTENT)

    reply = provide(
        client, submission(entry), [(entry.entry_uuid, CONTENT), (entry.entry_uuid, CONTENT)]
    )

    assert reply.status == FAILURE
    assert reply.errors == [("XDSRepositoryDuplicateUniqueIdInMessage", entry.entry_uuid)]


def test_registry_errors_pass_through_and_nothing_is_stored(app, client):
    entry = entry_for(CONTENT, class_code=None)

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert reply.status == FAILURE
    assert ("XDSRegistryMetadataError", f"{entry.entry_uuid} classCode") in reply.errors
    assert stored_bytes(app, entry.unique_id) is None


def test_resubmitting_a_registered_unique_id_with_other_bytes_fails(app, client):
    (entry,) = provided(client, b"original")
    again = entry_for(b"other", unique_id=entry.unique_id)

    reply = provide(client, submission(again), [(again.entry_uuid, b"other")])

    assert reply.status == FAILURE
    assert {code for code, _ in reply.errors} & {
        "XDSNonIdenticalHash",
        "XDSDuplicateUniqueIdInRegistry",
    }
    assert stored_bytes(app, entry.unique_id) == b"original"


def test_xop_include_naming_no_part_is_a_sender_fault(client):
    entry = entry_for(CONTENT)
    message, _ = provide_envelope(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, CONTENT)]
    )
    body, content_type = mtom(message, {})

    reply = post(client, body, content_type)

    assert reply.status_code == 400
    assert b"names no part" in reply.content


def test_content_ids_without_brackets_url_encoded_and_no_start(app, client):
    entry = entry_for(CONTENT)
    message, parts = provide_envelope(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, CONTENT)]
    )
    (href,) = parts
    message = message.replace(href.encode(), href.replace("@", "%40").encode())
    body, content_type = mtom(message, parts, start=False, brackets=False)

    reply = read_reply(post(client, body, content_type))

    assert reply.status == SUCCESS, reply.errors
    assert stored_bytes(app, entry.unique_id) == CONTENT


def test_action_only_in_the_content_type(app, client):
    entry = entry_for(CONTENT)
    message, parts = provide_envelope(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, CONTENT)]
    )
    message = message.replace(f'<a:Action s:mustUnderstand="1">{PROVIDE}</a:Action>'.encode(), b"")
    body, content_type = mtom(message, parts, action=PROVIDE)

    reply = read_reply(post(client, body, content_type))

    assert reply.status == SUCCESS, reply.errors


def test_documents_are_taken_from_their_mime_part_without_a_base64_copy(app, client, monkeypatch):
    entry = entry_for(CONTENT)
    seen = {}

    import gateway.repository_service as service

    real = service.provide_and_register

    def spy(the_submission, contents, **kwargs):
        seen.update({key: (type(content), b"".join(content)) for key, content in contents.items()})
        return real(the_submission, contents, **kwargs)

    monkeypatch.setattr(service, "provide_and_register", spy)

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert reply.status == SUCCESS
    assert seen == {entry.entry_uuid: (Part, CONTENT)}


def test_provide_response_is_schema_valid(client):
    entry = entry_for(CONTENT, class_code=None)

    reply = provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    assert_schema_valid(reply.body)


def test_provide_is_logged_without_patient_data(client, caplog):
    entry = entry_for(CONTENT)

    with caplog.at_level(logging.INFO, logger="xcads"):
        provide(client, submission(entry), [(entry.entry_uuid, CONTENT)])

    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("iti41.")]
    assert f"documents=1 bytes={len(CONTENT)} status=SUCCESS" in line
    assert "13116900216" not in caplog.text


# --- ITI-43 Retrieve Document Set --------------------------------------------------------------


def test_retrieve_returns_the_document_as_mtom_without_home_community_id(client):
    (entry,) = provided(client, b"%PDF-1.7 bytes")

    reply = read_reply(post(client, retrieve_request([(REPOSITORY, entry.unique_id)])))

    assert reply.status == SUCCESS
    assert reply.action == "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
    assert reply.documents == {entry.unique_id: ("application/pdf", b"%PDF-1.7 bytes")}
    assert reply.body.find(".//xds:HomeCommunityId", {"xds": "urn:ihe:iti:xds-b:2007"}) is None
    assert_schema_valid(reply.body)


def test_retrieve_ignores_a_home_community_id(client):
    (entry,) = provided(client, b"x")

    reply = read_reply(
        post(client, retrieve_request([(REPOSITORY, entry.unique_id)], home="urn:oid:9.9"))
    )

    assert reply.status == SUCCESS


def test_retrieve_of_an_unknown_document_is_a_unique_id_error(client):
    reply = read_reply(post(client, retrieve_request([(REPOSITORY, "2.25.404")])))

    assert reply.status == FAILURE
    assert reply.errors == [("XDSDocumentUniqueIdError", "2.25.404")]
    assert reply.documents == {}
    assert_schema_valid(reply.body)


def test_retrieve_from_another_repository_is_unknown_repository(client):
    (entry,) = provided(client, b"x")

    reply = read_reply(post(client, retrieve_request([(OTHER_REPOSITORY, entry.unique_id)])))

    assert reply.status == FAILURE
    assert reply.errors == [("XDSUnknownRepositoryId", entry.unique_id)]


def test_retrieve_of_some_unknown_documents_is_partial_success(client):
    (entry,) = provided(client, b"found")

    reply = read_reply(
        post(client, retrieve_request([(REPOSITORY, entry.unique_id), (REPOSITORY, "bad")]))
    )

    assert reply.status == PARTIAL_SUCCESS
    assert reply.errors == [("XDSDocumentUniqueIdError", "bad")]
    assert list(reply.documents) == [entry.unique_id]


# --- ITI-86 Remove Documents -------------------------------------------------------------------


def test_remove_documents_deletes_the_bytes_and_keeps_the_metadata(app, client):
    entry, kept = provided(client, b"remove me", b"keep me")

    reply = read_reply(post(client, remove_request([(REPOSITORY, entry.unique_id)])))

    assert reply.status == SUCCESS
    assert reply.action == "urn:ihe:iti:2017:RemoveDocumentsResponse"
    assert stored_bytes(app, entry.unique_id) is None
    assert stored_bytes(app, kept.unique_id) == b"keep me"
    assert len(app.state.registry.document_entries_by_unique_id([entry.unique_id])) == 1
    assert_schema_valid(reply.body)


def test_removed_document_cannot_be_retrieved(client):
    (entry,) = provided(client, b"gone")
    post(client, remove_request([(REPOSITORY, entry.unique_id)]))

    reply = read_reply(post(client, retrieve_request([(REPOSITORY, entry.unique_id)])))

    assert reply.errors == [("XDSDocumentUniqueIdError", entry.unique_id)]


def test_remove_of_an_unknown_document_is_a_unique_id_error(client):
    reply = read_reply(post(client, remove_request([(REPOSITORY, "1.2.3.4456")])))

    assert reply.status == FAILURE
    assert reply.errors == [("XDSDocumentUniqueIdError", "1.2.3.4456")]


def test_remove_from_another_repository_is_unknown_repository_and_keeps_bytes(app, client):
    (entry,) = provided(client, b"stays")

    reply = read_reply(post(client, remove_request([(OTHER_REPOSITORY, entry.unique_id)])))

    assert reply.status == FAILURE
    assert reply.errors == [("XDSUnknownRepositoryId", entry.unique_id)]
    assert stored_bytes(app, entry.unique_id) == b"stays"


def test_remove_of_some_unknown_documents_is_partial_success(app, client):
    (entry,) = provided(client, b"x")

    reply = read_reply(
        post(client, remove_request([(REPOSITORY, entry.unique_id), (REPOSITORY, "2.25.404")]))
    )

    assert reply.status == PARTIAL_SUCCESS
    assert reply.errors == [("XDSDocumentUniqueIdError", "2.25.404")]
    assert stored_bytes(app, entry.unique_id) is None


def test_remove_body_must_be_a_remove_documents_request(client):
    body = document_requests("RetrieveDocumentSetRequest", [(REPOSITORY, "1")])

    reply = post(client, envelope(REMOVE, body).encode())

    assert reply.status_code == 400
    assert b"RemoveDocumentsRequest" in reply.content
