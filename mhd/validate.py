"""`POST /fhir/Bundle/$validate`: an ITI-65 bundle checked as it would be stored, storing nothing.

The answer is a FHIR Parameters resource (FHIR R4 operations: more than one output parameter):

- `return`: the OperationOutcome. Errors as ITI-65 reports them (XDS code in `details.coding`,
  FHIRPath in `expression`), one `information` issue per code the code map translated, and when
  there is no error a closing `information` issue saying the bundle would be accepted.
- `submitObjectsRequest`: when the bundle could be mapped to XDS, the metadata as an ebRIM 3.0
  lcm:SubmitObjectsRequest (ITI-42), in `valueAttachment` (contentType application/xml, base64
  `data`): the XDS objects the registry would have validated and registered, with hash, size and
  repositoryUniqueId filled in.

The input is the Bundle itself or a Parameters resource with the Bundle in part `resource` (and
optionally `mode` `create`, the only mode an ITI-65 bundle has). The registry is read (for
uniqueIds already registered) but nothing is written, neither metadata nor bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

from lxml import etree

from gateway.config import Settings
from mhd.bundle import UTF8_BOM
from mhd.codemap import CodeMap, Translation, translation_issue
from mhd.mapping import MappedSubmission
from mhd.outcome import BundleRejected, FhirIssue, operation_outcome
from mhd.recipient import prepare_submission
from registry.ebrim import submit_objects_request
from registry.errors import ErrorCode, Severity
from registry.metadata import Submission
from registry.store import RegistryStore
from registry.validation import Transaction, ValidationOptions, validate_submission

SUBMIT_OBJECTS_REQUEST = "submitObjectsRequest"


@dataclass
class ValidationResult:
    """What $validate found: the issues, the codes translated, and the XDS metadata if any."""

    issues: list[FhirIssue] = field(default_factory=list)
    translations: list[Translation] = field(default_factory=list)
    submission: Submission | None = None

    @property
    def valid(self) -> bool:
        """True when nothing of severity error was found."""
        return not any(issue.severity == Severity.ERROR for issue in self.issues)


def validate_bundle(
    body: bytes,
    *,
    settings: Settings,
    registry: RegistryStore,
    code_map: CodeMap | None = None,
) -> ValidationResult:
    """Run ITI-65's reading, code mapping, mapping and registry validation; store nothing.

    Raises BundleRejected only when the request carries no bundle to validate.
    """
    bundle = bundle_of(body)
    try:
        prepared = prepare_submission(bundle, settings=settings, code_map=code_map)
    except BundleRejected as rejected:
        return ValidationResult(issues=rejected.issues)

    mapped = prepared.mapped
    describe_documents(mapped, settings.repository_unique_id)
    options = ValidationOptions.from_settings(settings, Transaction.PROVIDE_DOCUMENT_BUNDLE)
    issues = validate_submission(mapped.submission, options=options, registry_store=registry)
    return ValidationResult(
        issues=[mapped.locator.locate(issue) for issue in issues],
        translations=prepared.translations,
        submission=mapped.submission,
    )


def bundle_of(body: bytes) -> bytes:
    """The Bundle of a $validate body: the body itself, or a Parameters' part `resource`."""
    text = body[len(UTF8_BOM) :] if body.startswith(UTF8_BOM) else body
    try:
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return body
    if not isinstance(raw, dict) or raw.get("resourceType") != "Parameters":
        return body

    resources = []
    for position, part in enumerate(raw.get("parameter") or []):
        name = part.get("name") if isinstance(part, dict) else None
        where = f"Parameters.parameter[{position}]"
        if name == "resource":
            resources.append(part.get("resource"))
        elif name == "mode" and part.get("valueCode") != "create":
            message = f"mode {part.get('valueCode')!r} is not supported; an ITI-65 bundle creates"
            raise BundleRejected([_parameter_issue(message, f"{where}.valueCode")])
        elif name not in ("mode", "profile"):
            message = f"parameter {name!r} is not a parameter of $validate"
            raise BundleRejected([_parameter_issue(message, f"{where}.name")])
    if len(resources) != 1 or not isinstance(resources[0], dict):
        message = "Parameters must carry the Bundle in exactly one part named 'resource'"
        raise BundleRejected([_parameter_issue(message, "Parameters.parameter")])
    return json.dumps(resources[0], ensure_ascii=False).encode("utf-8")


def describe_documents(mapped: MappedSubmission, repository_unique_id: str) -> None:
    """Fill in hash, size and repositoryUniqueId as Provide and Register would."""
    for entry in mapped.submission.document_entries:
        data = mapped.contents.get(entry.entry_uuid, b"")
        entry.hash = hashlib.sha1(data, usedforsecurity=False).hexdigest()
        entry.size = len(data)
        entry.repository_unique_id = repository_unique_id


def validation_parameters(result: ValidationResult) -> dict:
    """Render the $validate answer: Parameters with `return` and `submitObjectsRequest`."""
    outcome = operation_outcome(result.issues)
    outcome["issue"] += [translation_issue(t) for t in result.translations]
    if result.valid:
        outcome["issue"].append(
            {
                "severity": "information",
                "code": "informational",
                "details": {"text": "valid"},
                "diagnostics": "the bundle would be accepted by ITI-65; nothing was stored",
            }
        )
    parameters: list[dict] = [{"name": "return", "resource": outcome}]
    if result.submission is not None:
        request = submit_objects_request(result.submission)
        xml = etree.tostring(request, xml_declaration=True, encoding="UTF-8")
        parameters.append(
            {
                "name": SUBMIT_OBJECTS_REQUEST,
                "valueAttachment": {
                    "contentType": "application/xml",
                    "data": base64.b64encode(xml).decode("ascii"),
                    "title": "ebRIM 3.0 lcm:SubmitObjectsRequest (ITI-42)",
                },
            }
        )
    return {"resourceType": "Parameters", "parameter": parameters}


def _parameter_issue(message: str, expression: str) -> FhirIssue:
    return FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, expression, issue_type="invalid")
