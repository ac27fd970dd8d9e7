"""Helpers for the production tests: ITI-41 requests of one document, and metric values."""

from __future__ import annotations

import dataclasses
import hashlib

from prometheus_client.parser import text_string_to_metric_families
from registry_support import submit_objects_request
from repository_support import provide_request
from validation_samples import PATIENT, document_entry, submission

from registry.metadata import DocumentEntry


def provide_one(
    data: bytes, *, patient: str = PATIENT, unique_id: str | None = None
) -> tuple[bytes, str, DocumentEntry]:
    """An ITI-41 MTOM request of one document of `patient`; its body, Content-Type and entry."""
    entry = document_entry(
        unique_id, hash=hashlib.sha1(data).hexdigest(), size=len(data), mime_type="text/plain"
    )
    entry = dataclasses.replace(entry, patient_id=patient, source_patient_id=patient)
    body, content_type = provide_request(
        submit_objects_request(submission(entry, patient_id=patient)), [(entry.entry_uuid, data)]
    )
    return body, content_type, entry


def metric(exposition: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with `labels` in a Prometheus text exposition; 0 if absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0
