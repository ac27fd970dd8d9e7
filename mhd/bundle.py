"""Read an ITI-65 Provide Document Bundle: JSON, FHIR R4 structure, and the role of each entry."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import BaseModel, ValidationError

from mhd.outcome import BundleRejected, FhirIssue
from registry.errors import ErrorCode

UTF8_BOM = b"\xef\xbb\xbf"
MHD_LIST_TYPES = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
MHD_PROFILE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/IHE.MHD."

# The Provide Document Bundle profiles of MHD 4.2.x, one per option; ITI-65 requires the Bundle
# to declare one in meta.profile (a `|version` suffix allowed, as canonicals carry).
PROVIDE_BUNDLE_PROFILES = frozenset(
    MHD_PROFILE + name
    for name in (
        "Comprehensive.ProvideBundle",
        "Minimal.ProvideBundle",
        "UnContained.Comprehensive.ProvideBundle",
    )
)

# The resources a Provide Document Bundle may carry: those it creates (authors may travel as
# entries when they are not contained, the UnContained References Option), and the Parameters of
# the PATCH that marks a replaced DocumentReference superseded.
ACCEPTED_TYPES = frozenset(
    {
        "List",
        "DocumentReference",
        "Binary",
        "Patient",
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Parameters",
    }
)

# Entries are created, except that an existing Folder may be updated to add documents (PUT,
# MHDprovideFolderActions) and a replaced DocumentReference marked superseded (PATCH with
# IHE.MHD.Patch.Parameters).
_METHODS: dict[str, frozenset[str]] = {
    resource_type: frozenset({"POST"}) for resource_type in ACCEPTED_TYPES
} | {"List": frozenset({"POST", "PUT"}), "Parameters": frozenset({"PATCH"})}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Characters that FHIR strings and XML 1.0 cannot carry; once stored they would break every ebRIM
# response that includes them.
_ILLEGAL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Deeper than any MHD resource nests; bounds the work of validating hostile input.
MAX_DEPTH = 64

# Enough to locate the faults without answering a hostile bundle with a huge outcome.
MAX_CHARACTER_ISSUES = 20


@dataclass
class Entry:
    """One entry of the request bundle: its position, fullUrl, resource and request method."""

    index: int
    full_url: str | None
    resource: Any
    method: str | None
    request_url: str | None = None

    @property
    def path(self) -> str:
        """The FHIRPath of this entry's resource."""
        return f"Bundle.entry[{self.index}].resource"

    @property
    def resource_type(self) -> str:
        """The resource's type name, e.g. `DocumentReference`."""
        return self.resource.get_resource_type()


@dataclass
class ProvideBundle:
    """A structurally valid ITI-65 request: its entries and which of them play which part."""

    entries: list[Entry]
    submission_set: Entry
    document_references: list[Entry]
    folders: list[Entry] = field(default_factory=list)
    patches: list[Entry] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Indexes keep reference resolution linear in the bundle size.
        self._by_full_url: dict[str, Entry] = {}
        self._by_type_and_id: dict[tuple[str, str], Entry] = {}
        for entry in self.entries:
            if entry.full_url:
                self._by_full_url.setdefault(entry.full_url, entry)
            if entry.resource.id:
                self._by_type_and_id.setdefault((entry.resource_type, entry.resource.id), entry)

    def entry_for(self, reference: str | None) -> Entry | None:
        """Find the entry a reference points at: by fullUrl, else by `Type/id`."""
        if not reference:
            return None
        if reference in self._by_full_url:
            return self._by_full_url[reference]
        resource_type, _, resource_id = reference.rpartition("/")
        resource_type = resource_type.rsplit("/", 1)[-1]
        if not resource_id:
            return None
        return self._by_type_and_id.get((resource_type, resource_id))

    def resolve(self, reference: str | None, holder: Entry) -> Any:
        """Return the resource a reference points at: contained in `holder`, or in the bundle."""
        if not reference:
            return None
        if reference.startswith("#"):
            for contained in holder.resource.contained or []:
                if contained.id == reference[1:]:
                    return contained
            return None
        entry = self.entry_for(reference)
        return entry.resource if entry else None


def parse_bundle(body: bytes) -> Bundle:
    """Parse a JSON body (a UTF-8 BOM allowed) into an R4 transaction Bundle, or raise."""
    if body.startswith(UTF8_BOM):
        body = body[len(UTF8_BOM) :]
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleRejected(
            [_structure(f"the body is not UTF-8 JSON: {error}", "Bundle")]
        ) from None
    except RecursionError:
        raise BundleRejected([_structure("the JSON is nested too deeply", "Bundle")]) from None
    if issues := _unrepresentable_values(raw):
        raise BundleRejected(issues)

    if not isinstance(raw, dict) or raw.get("resourceType") != "Bundle":
        found = raw.get("resourceType") if isinstance(raw, dict) else type(raw).__name__
        raise BundleRejected([_structure(f"expected a Bundle resource, got {found!r}", "Bundle")])
    if raw.get("type") != "transaction":
        message = f"an ITI-65 Bundle must be of type transaction, not {raw.get('type')!r}"
        raise BundleRejected([_structure(message, "Bundle.type")])

    try:
        bundle = Bundle.model_validate(raw)
    except ValidationError as error:
        raise BundleRejected(
            _structure(e["msg"], fhir_path(e["loc"])) for e in error.errors()
        ) from None
    except (TypeError, KeyError, AttributeError):
        # The FHIR models fail this way, not with a ValidationError, on a resourceType that is
        # no type's name or not a string, and on an object where a uri belongs.
        message = "the Bundle is not FHIR R4 JSON: a resourceType or a uri has a wrong value"
        raise BundleRejected([_structure(message, "Bundle")]) from None
    if issues := _mistyped_primitives(bundle, raw):
        raise BundleRejected(issues)
    return bundle


def _unrepresentable_values(raw: Any) -> list[FhirIssue]:
    """Find empty strings, characters FHIR and XML forbid, and nesting beyond MAX_DEPTH."""
    issues: list[FhirIssue] = []
    pending: list[tuple[str, int, Any]] = [("Bundle", 0, raw)]
    while pending and len(issues) < MAX_CHARACTER_ISSUES:
        path, depth, value = pending.pop()
        if depth > MAX_DEPTH:
            return [_structure(f"the JSON nests deeper than {MAX_DEPTH} levels", path)]
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((f"{path}.{key}", depth + 1, item))
                if found := _ILLEGAL_CHARACTER.search(key):
                    issues.append(_illegal_character(found.group(), f"{path}.{key}"))
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", depth + 1, item) for i, item in enumerate(value))
        elif isinstance(value, str) and (found := _ILLEGAL_CHARACTER.search(value)):
            issues.append(_illegal_character(found.group(), path))
        elif value == "":
            # FHIR JSON leaves an element out rather than send it empty; an empty Binary.data
            # would otherwise register a document of no bytes.
            issues.append(_structure("an empty string is not a FHIR value; leave it out", path))
    return issues


def _mistyped_primitives(bundle: Bundle, raw: dict[str, Any]) -> list[FhirIssue]:
    """Find primitives sent as the wrong JSON type, which the FHIR models quietly convert.

    FHIR JSON carries dates, times, codes and base64 as strings and only numbers and booleans
    bare; the models would read `"creation": 2026` as 1970-01-01T00:33:46Z and `"size": "12"` or
    `true` as a number.
    """
    issues: list[FhirIssue] = []
    pending: list[tuple[str, Any, Any]] = [("Bundle", bundle, raw)]
    while pending and len(issues) < MAX_CHARACTER_ISSUES:
        path, value, sent = pending.pop()
        if isinstance(value, BaseModel) and isinstance(sent, dict):
            names = _field_names(type(value))
            for key, item in sent.items():
                if (name := names.get(key)) is not None:
                    pending.append((f"{path}.{key}", getattr(value, name), item))
        elif isinstance(value, list) and isinstance(sent, list):
            pairs = enumerate(zip(value, sent, strict=False))
            pending.extend((f"{path}[{i}]", item, sent_item) for i, (item, sent_item) in pairs)
        elif (expected := _json_type(value)) and not _is_json_type(sent, expected):
            message = f"a FHIR {expected} is expected here, not the JSON {json.dumps(sent)[:40]}"
            issues.append(_structure(message, path))
    return issues


@functools.cache
def _field_names(model: type[BaseModel]) -> dict[str, str]:
    return {field.alias or name: name for name, field in model.model_fields.items()}


def _json_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str | bytes | date | time):
        return "string"
    return None


def _is_json_type(sent: Any, expected: str) -> bool:
    if expected == "boolean":
        return isinstance(sent, bool)
    if expected == "number":
        return isinstance(sent, int | float) and not isinstance(sent, bool)
    return isinstance(sent, str)


def _illegal_character(character: str, path: str) -> FhirIssue:
    message = f"the string contains U+{ord(character):04X}, which FHIR and XML do not allow"
    return _structure(message, path)


def fhir_path(loc: tuple[Any, ...]) -> str:
    """Turn a pydantic error location into a FHIRPath starting at `Bundle`."""
    path = "Bundle"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            path += "." + part.removesuffix("__ext")
    return path


def read_provide_bundle(bundle: Bundle) -> ProvideBundle:
    """Sort a transaction Bundle's entries into SubmissionSet, DocumentReferences and the rest."""
    profiles = list(bundle.meta.profile or []) if bundle.meta else []
    issues = _profile_issues(profiles)
    entries: list[Entry] = []
    for index, raw_entry in enumerate(bundle.entry or []):
        method = raw_entry.request.method if raw_entry.request else None
        url = raw_entry.request.url if raw_entry.request else None
        entry = Entry(index, raw_entry.fullUrl, raw_entry.resource, method, url)
        issues += _entry_issues(entry)
        if entry.resource is not None:
            entries.append(entry)

    submission_sets = [e for e in entries if _list_type(e) == "submissionset"]
    documents = [e for e in entries if e.resource_type == "DocumentReference"]
    folders = [e for e in entries if _list_type(e) == "folder"]
    patches = [e for e in entries if e.method == "PATCH"]
    issues += _role_issues(entries, submission_sets, documents)
    if issues or len(submission_sets) != 1:
        raise BundleRejected(issues)

    provide = ProvideBundle(entries, submission_sets[0], documents, folders, patches, profiles)
    issues += _membership_issues(provide)
    issues += _binary_issues(provide)
    if issues:
        raise BundleRejected(issues)
    return provide


def _profile_issues(profiles: list[str]) -> list[FhirIssue]:
    if any(profile.split("|", 1)[0] in PROVIDE_BUNDLE_PROFILES for profile in profiles):
        return []
    declared = ", ".join(profiles) if profiles else "none"
    message = (
        "Bundle.meta.profile must name an MHD Provide Document Bundle profile ("
        + ", ".join(sorted(PROVIDE_BUNDLE_PROFILES))
        + f"); declared: {declared}"
    )
    return [_invalid(message, "Bundle.meta.profile")]


def _entry_issues(entry: Entry) -> list[FhirIssue]:
    where = f"Bundle.entry[{entry.index}]"
    if entry.resource is None:
        return [_invalid("an entry without a resource cannot be created", where)]
    if entry.resource_type == "Bundle":
        message = "a FHIR Document Bundle as content is not supported (FHIRDocumentNotSupported)"
        return [_invalid(message, entry.path)]
    if entry.resource_type not in ACCEPTED_TYPES:
        message = f"a {entry.resource_type} is not accepted in a Provide Document Bundle"
        return [_invalid(message, entry.path)]
    if entry.method not in _METHODS[entry.resource_type]:
        allowed = " or ".join(sorted(_METHODS[entry.resource_type]))
        message = f"a {entry.resource_type} entry is sent with {allowed}, not {entry.method!r}"
        return [_invalid(message, f"{where}.request.method")]
    if entry.resource_type == "List" and _list_type(entry) is None:
        message = "a List must be an MHD SubmissionSet or Folder (code MHDlistTypes)"
        return [_invalid(message, f"{entry.path}.code")]
    if entry.method == "PUT" and _list_type(entry) != "folder":
        message = "only a Folder List may be updated (PUT) by a Provide Document Bundle"
        return [_invalid(message, f"{where}.request.method")]
    return []


def _list_type(entry: Entry) -> str | None:
    if entry.resource is None or entry.resource_type != "List":
        return None
    for coding in (entry.resource.code.coding or []) if entry.resource.code else []:
        if coding.system == MHD_LIST_TYPES and coding.code in ("submissionset", "folder"):
            return coding.code
    for profile in (entry.resource.meta.profile or []) if entry.resource.meta else []:
        if profile.startswith(MHD_PROFILE) and profile.endswith(".SubmissionSet"):
            return "submissionset"
        if profile.startswith(MHD_PROFILE) and profile.endswith(".Folder"):
            return "folder"
    return None


def _role_issues(
    entries: list[Entry], submission_sets: list[Entry], documents: list[Entry]
) -> list[FhirIssue]:
    if not submission_sets:
        return [_invalid("the Bundle has no SubmissionSet type List", "Bundle.entry")]
    issues = [
        _invalid("a Bundle carries exactly one SubmissionSet; this is another", extra.path)
        for extra in submission_sets[1:]
    ]
    if not documents:
        issues.append(_invalid("the Bundle has no DocumentReference", "Bundle.entry"))
    return issues


def _membership_issues(bundle: ProvideBundle) -> list[FhirIssue]:
    issues = []
    submission_set = bundle.submission_set
    members: set[int] = set()
    for position, item in enumerate(submission_set.resource.entry or []):
        reference = item.item.reference if item.item else None
        target = bundle.entry_for(reference)
        where = f"{submission_set.path}.entry[{position}].item"
        if target is None:
            message = f"SubmissionSet member {reference!r} is not an entry of the Bundle"
            issues.append(FhirIssue(ErrorCode.UNRESOLVED_REFERENCE, message, where))
        elif target.resource_type != "DocumentReference" and _list_type(target) != "folder":
            message = (
                "SubmissionSet members must be DocumentReferences or Folders,"
                f" not {target.resource_type}"
            )
            issues.append(_invalid(message, where))
        else:
            members.add(target.index)
    for document in bundle.document_references:
        if document.index not in members:
            message = "the DocumentReference is not listed in the SubmissionSet's List.entry"
            issues.append(_invalid(message, document.path))
    return issues


def _binary_issues(bundle: ProvideBundle) -> list[FhirIssue]:
    issues = []
    referenced: set[int] = set()
    for document in bundle.document_references:
        for position, content in enumerate(document.resource.content or []):
            url = content.attachment.url if content.attachment else None
            target = bundle.entry_for(url)
            if target is not None and target.resource_type == "Binary":
                referenced.add(target.index)
                continue
            message = f"attachment.url {url!r} does not point at a Binary entry of the Bundle"
            where = f"{document.path}.content[{position}].attachment.url"
            issues.append(FhirIssue(ErrorCode.MISSING_DOCUMENT, message, where))
    issues += [
        FhirIssue(
            ErrorCode.MISSING_DOCUMENT_METADATA,
            "the Binary is not the content of any DocumentReference",
            entry.path,
        )
        for entry in bundle.entries
        if entry.resource_type == "Binary" and entry.index not in referenced
    ]
    return issues


def _structure(message: str, expression: str) -> FhirIssue:
    return FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, expression, issue_type="structure")


def _invalid(message: str, expression: str) -> FhirIssue:
    return FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, expression)
