"""The main job through a real `xcads serve` process whose documents live in S3 (SeaweedFS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bundles import Document, provide_bundle, sha1_base64
from lxml import etree
from s3_server import BUCKET
from servers import HOME, REPOSITORY, SOAP, Server
from soap_messages import NS, retrieve, split_multipart
from test_end_to_end import patient, query, submit

from repository.naming import object_name


@pytest.fixture
def server(tmp_path, seaweedfs, s3_url) -> Iterator[Server]:
    running = Server(tmp_path / "data", environment=seaweedfs.environment(s3_url))
    yield running
    running.stop()


def test_document_submitted_to_an_s3_repository_is_found_and_retrieved(server, seaweedfs, s3_url):
    patient_id = patient()
    data = "Epikrise for KARI TESTESEN – øæå".encode() * 5000
    document = Document(data, stated_hash=sha1_base64(data), stated_size=len(data))

    response = submit(server, provide_bundle(patient_id, [document]))

    assert response.status_code == 200, response.text
    prefix = s3_url.removeprefix(f"s3://{BUCKET}/")
    names = [
        item.object_name
        for item in seaweedfs.client().list_objects(BUCKET, prefix=prefix, recursive=True)
    ]
    assert names == [f"{prefix}/objects/{object_name(document.unique_id)}"]
    assert not (server.data_dir / "documents").exists()

    (extrinsic,) = query(server, patient_id).xpath("//rim:ExtrinsicObject", namespaces=NS)
    assert extrinsic.get("home") == HOME

    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=retrieve([(HOME, REPOSITORY, document.unique_id)]),
        headers={"Content-Type": SOAP},
    )
    assert reply.status_code == 200
    parts = split_multipart(reply.headers["content-type"], reply.content)
    root = etree.fromstring(parts[0].data)
    href = root.xpath("//xds:DocumentResponse/xds:Document/xop:Include/@href", namespaces=NS)[0]
    (document_part,) = [part for part in parts if f"cid:{part.content_id}" == href]
    assert document_part.data == data
