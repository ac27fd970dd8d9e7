"""Helpers for the code map and $validate tests: the example bundle with the EPR's local codes."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
YAML_MAP = EXAMPLES / "code-map.yaml"
CONCEPT_MAP = EXAMPLES / "code-map.conceptmap.json"

LOCAL_TYPES = "http://epj.example.no/fhir/CodeSystem/dokumenttype"
LOCAL_CLASSES = "http://epj.example.no/fhir/CodeSystem/dokumentklasse"
LOCAL_UNITS = "http://epj.example.no/fhir/CodeSystem/avdeling"
VOLVEN_9602 = "2.16.578.1.12.4.1.1.9602"
VOLVEN_8651 = "2.16.578.1.12.4.1.1.8651"

SUBMISSION_SET = 0
DOCUMENT = 3
DOCUMENT_PATH = f"Bundle.entry[{DOCUMENT}].resource"


def example_bundle() -> dict:
    """The README's ITI-65 example bundle, all national codes."""
    return json.loads((EXAMPLES / "iti65-provide-bundle.json").read_text(encoding="utf-8-sig"))


def local_bundle(
    type_code: str | None = "EPI",
    class_code: str | None = "SAMMENFATNING",
    unit: str | None = "OVERV",
) -> dict:
    """The example bundle as the EPR sends it: local document type, class and unit (None keeps
    the national code)."""
    bundle = example_bundle()
    document = bundle["entry"][DOCUMENT]["resource"]
    if type_code is not None:
        document["type"] = {"coding": [{"system": LOCAL_TYPES, "code": type_code}]}
    if class_code is not None:
        document["category"] = [{"coding": [{"system": LOCAL_CLASSES, "code": class_code}]}]
    if unit is not None:
        local = {"system": LOCAL_UNITS, "code": unit, "display": "Overvåkning"}
        document["context"]["practiceSetting"] = {"coding": [local]}
    return bundle


def document_unique_id(bundle: dict) -> str:
    """The uniqueId the bundle's DocumentReference becomes."""
    value = bundle["entry"][DOCUMENT]["resource"]["masterIdentifier"]["value"]
    return value.removeprefix("urn:oid:").removeprefix("urn:uuid:")
