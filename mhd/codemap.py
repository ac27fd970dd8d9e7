"""Code mapping for ITI-65: local code systems translated to national ones before validation.

A code map is read from files (`XCADS_CODE_MAP`): FHIR R4 ConceptMap JSON, or the YAML form of
README.md. Each group maps one source code system to one target system. A coding of a bundle
whose system is a source system of the map is replaced by its target; a source code without a
usable target is an unmapped local code and fails the submission. Codings in any other system
(the national ones) pass untouched.

ConceptMap equivalences: `equivalent`, `equal`, `wider`, `subsumes` and `relatedto` translate
(the national code means the local one or more); `narrower`, `specializes` and `inexact` would
claim more than the sender said, and `unmatched` and `disjoint` say there is no target, so these
are not used and leave the code unmapped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from fhir.resources.R4B.conceptmap import ConceptMap
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from mhd.bundle import Entry, ProvideBundle
from mhd.datatypes import coding_scheme
from mhd.outcome import FhirIssue
from registry.errors import ErrorCode
from registry.validation.norway import value_sets

log = logging.getLogger("xcads.mhd")

DESIGNATION_TYPE = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
URN_OID = "urn:oid:"

TRANSLATING_EQUIVALENCES = frozenset({"equivalent", "equal", "wider", "subsumes", "relatedto"})

# Where a DocumentReference carries XDS codes (MHD 3:4.5.1.1): typeCode, classCode,
# confidentialityCode, formatCode, healthcareFacilityTypeCode, practiceSettingCode,
# eventCodeList. Lists carry contentTypeCode (SubmissionSet) or codeList (Folder) in
# designationType; PractitionerRoles carry authorRole and authorSpecialty.
DOCUMENT_REFERENCE_CODES = (
    "type",
    "category",
    "securityLabel",
    "content.format",
    "context.facilityType",
    "context.practiceSetting",
    "context.event",
)
PRACTITIONER_ROLE_CODES = ("code", "specialty")


class CodeMapError(ValueError):
    """A code map file cannot be used; the message names the file and the place at fault."""


@dataclass(frozen=True)
class Target:
    """The national coding a local code translates to."""

    system: str
    code: str
    display: str | None = None


@dataclass
class SourceSystem:
    """Everything the map says about one local code system."""

    system: str
    codes: dict[str, Target] = field(default_factory=dict)
    # Codes the map names without a usable target; they stay unmapped.
    untranslatable: set[str] = field(default_factory=set)
    # For codes the map does not name: None fails them, "provided" keeps them, a Target is used.
    unmapped: Target | Literal["provided"] | None = None
    origin: str = ""


@dataclass(frozen=True)
class Translation:
    """One coding the map translated, and where it was in the bundle."""

    entry_index: int
    expression: str
    source_system: str
    source_code: str
    target: Target

    def describe(self) -> str:
        """The translation as `system|code -> system|code (display)`, for an outcome."""
        to = f"{self.target.system}|{self.target.code}"
        if self.target.display:
            to += f" ({self.target.display})"
        return f"translated {self.source_system}|{self.source_code} -> {to}"


@dataclass
class TranslationResult:
    """What translating one bundle did: the codings translated and the unmapped ones."""

    translations: list[Translation] = field(default_factory=list)
    issues: list[FhirIssue] = field(default_factory=list)


@dataclass
class CodeMap:
    """Local code systems and their translations, from one or more mapping files."""

    systems: dict[str, SourceSystem] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.systems)

    @property
    def code_count(self) -> int:
        """How many local codes have a target."""
        return sum(len(source.codes) for source in self.systems.values())

    def translate(self, bundle: ProvideBundle) -> TranslationResult:
        """Replace, in place, every coding of a local system the map knows by its target."""
        result = TranslationResult()
        if not self.systems:
            return result
        for entry_index, expression, coding in coded_elements(bundle):
            source = self.systems.get(normalize_system(coding.system or ""))
            if source is None or not coding.code:
                continue
            target = self._target(source, coding.code)
            if target == "provided":
                continue
            if target is None:
                message = (
                    f"code {coding.code!r} of system {coding.system} is a local code with no"
                    " translation to a national code system in the code map"
                )
                result.issues.append(
                    FhirIssue(
                        ErrorCode.REGISTRY_METADATA_ERROR,
                        message,
                        expression,
                        issue_type="code-invalid",
                    )
                )
                continue
            result.translations.append(
                Translation(entry_index, expression, coding.system, coding.code, target)
            )
            coding.system, coding.code, coding.display = target.system, target.code, target.display
            coding.version = None
        return result

    @staticmethod
    def _target(source: SourceSystem, code: str) -> Target | Literal["provided"] | None:
        if code in source.codes:
            return source.codes[code]
        if code in source.untranslatable:
            return None
        return source.unmapped

    def add(self, source_system: str, origin: str) -> SourceSystem:
        """Return the entry of a source system, made on first use."""
        key = normalize_system(source_system)
        if key not in self.systems:
            self.systems[key] = SourceSystem(source_system, origin=origin)
        return self.systems[key]


def normalize_system(system: str) -> str:
    """A code system URI as compared: `urn:oid:` in lower case, the rest as given."""
    if system.lower().startswith(URN_OID):
        return URN_OID + system[len(URN_OID) :]
    return system


# Where the codes of a bundle are


def coded_elements(bundle: ProvideBundle) -> Iterator[tuple[int, str, Any]]:
    """Yield (entry index, FHIRPath, Coding) for every coding that becomes an XDS code."""
    for entry in bundle.entries:
        resource, at = entry.resource, entry.path
        kind = entry.resource_type
        if kind == "DocumentReference":
            for path in DOCUMENT_REFERENCE_CODES:
                yield from _codings_at(entry, resource, path, at)
        elif kind == "List":
            for position, extension in enumerate(resource.extension or []):
                if extension.url == DESIGNATION_TYPE and extension.valueCodeableConcept:
                    where = f"{at}.extension[{position}].valueCodeableConcept"
                    yield from _codings_of(entry, extension.valueCodeableConcept, where)
        elif kind == "PractitionerRole":
            for path in PRACTITIONER_ROLE_CODES:
                yield from _codings_at(entry, resource, path, at)
        for position, contained in enumerate(getattr(resource, "contained", None) or []):
            if contained.get_resource_type() == "PractitionerRole":
                for path in PRACTITIONER_ROLE_CODES:
                    yield from _codings_at(entry, contained, path, f"{at}.contained[{position}]")


def _codings_at(entry: Entry, resource: Any, path: str, at: str) -> Iterator[tuple[int, str, Any]]:
    """Follow a dotted path through elements and lists down to Codings or CodeableConcepts."""
    values: list[tuple[str, Any]] = [(at, resource)]
    for name in path.split("."):
        found = []
        for where, value in values:
            child = getattr(value, name, None)
            if isinstance(child, list):
                found += [(f"{where}.{name}[{i}]", item) for i, item in enumerate(child)]
            elif child is not None:
                found.append((f"{where}.{name}", child))
        values = found
    for where, value in values:
        yield from _codings_of(entry, value, where)


def _codings_of(entry: Entry, value: Any, at: str) -> Iterator[tuple[int, str, Any]]:
    if value.get_resource_type() == "Coding":
        yield entry.index, at, value
        return
    for position, coding in enumerate(value.coding or []):
        yield entry.index, f"{at}.coding[{position}]", coding


# Reading mapping files


def load_code_maps(paths: Sequence[Path], *, profile: str = "ihe") -> CodeMap:
    """Read every mapping file into one CodeMap; raise CodeMapError naming what is wrong.

    Under the `norway` profile a target in a national code list the registry knows must be one
    of its codes, so that a mistyped target stops the start rather than every submission.
    """
    code_map = CodeMap()
    for path in paths:
        content = _read(path)
        if isinstance(content, dict) and content.get("resourceType") == "ConceptMap":
            _add_concept_map(code_map, content, path)
        elif path.suffix.lower() == ".json":
            found = content.get("resourceType") if isinstance(content, dict) else None
            raise CodeMapError(f"{path}: expected a FHIR ConceptMap, found {found!r}")
        else:
            _add_yaml_map(code_map, content, path)
    if profile == "norway":
        _check_national_targets(code_map)
    if paths:
        log.info(
            "codemap.loaded files=%d systems=%d codes=%d",
            len(paths),
            len(code_map.systems),
            code_map.code_count,
        )
    return code_map


def _check_national_targets(code_map: CodeMap) -> None:
    known: dict[str, set[str]] = {}
    for value_set in value_sets().values():
        for scheme, codes in value_set.codes.items():
            if codes is not None:
                known.setdefault(scheme, set()).update(codes)
    for source in code_map.systems.values():
        targets = list(source.codes.items())
        if isinstance(source.unmapped, Target):
            targets.append(("(unmapped)", source.unmapped))
        for code, target in targets:
            scheme = coding_scheme(target.system)
            if scheme in known and target.code not in known[scheme]:
                message = (
                    f"{source.system}|{code} -> {target.system}|{target.code}: {target.code!r}"
                    f" is not a code of {scheme} (XCADS_PROFILE=norway)"
                )
                raise CodeMapError(f"{source.origin}: {message}")


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CodeMapError(f"{path}: cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise CodeMapError(f"{path}: is not UTF-8 text") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise CodeMapError(f"{path}: is not JSON: {error}") from None
    except yaml.YAMLError as error:
        raise CodeMapError(f"{path}: is not YAML: {' '.join(str(error).split())}") from None
    raise CodeMapError(f"{path}: a code map is a .json ConceptMap or a .yaml/.yml file")


def _add_concept_map(code_map: CodeMap, content: dict, path: Path) -> None:
    try:
        concept_map = ConceptMap.model_validate(content)
    except ValidationError as error:
        raise CodeMapError(_validation_message(path, "ConceptMap", error)) from None
    for g, group in enumerate(concept_map.group or []):
        at = f"ConceptMap.group[{g}]"
        if not group.source:
            raise CodeMapError(f"{path}: {at}.source: the source code system is required")
        source = code_map.add(group.source, f"{path} {at}")
        for e, element in enumerate(group.element or []):
            where = f"{at}.element[{e}]"
            if not element.code:
                raise CodeMapError(f"{path}: {where}.code: the source code is required")
            for t, target in enumerate(element.target or []):
                if target.dependsOn or target.product:
                    message = "dependsOn and product (conditional mappings) are not supported"
                    raise CodeMapError(f"{path}: {where}.target[{t}]: {message}")
            usable = [t for t in element.target or [] if t.equivalence in TRANSLATING_EQUIVALENCES]
            if len(usable) > 1:
                message = f"{len(usable)} targets translate {element.code!r}; keep one"
                raise CodeMapError(f"{path}: {where}.target: {message}")
            if not usable:
                _untranslatable(source, element.code, f"{path} {where}")
                continue
            if not group.target:
                raise CodeMapError(f"{path}: {at}.target: the target code system is required")
            if not usable[0].code:
                raise CodeMapError(f"{path}: {where}.target: the target code is required")
            target = Target(group.target, usable[0].code, usable[0].display)
            _put(source, element.code, target, f"{path} {where}")
        if group.unmapped is not None:
            unmapped = _concept_map_unmapped(group, path, f"{at}.unmapped")
            _set_unmapped(source, unmapped, f"{path} {at}.unmapped")


def _concept_map_unmapped(group: Any, path: Path, at: str) -> Target | Literal["provided"]:
    mode = group.unmapped.mode
    if mode == "provided":
        return "provided"
    if mode == "fixed" and group.unmapped.code and group.target:
        return Target(group.target, group.unmapped.code, group.unmapped.display)
    if mode == "fixed":
        raise CodeMapError(f"{path}: {at}: mode fixed needs a code and the group's target system")
    raise CodeMapError(f"{path}: {at}.mode: {mode!r} is not supported (use provided or fixed)")


_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _YamlTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: _Text
    display: _Text | None = None


class _YamlGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: _Text
    target: _Text
    codes: dict[str, _Text | _YamlTarget]
    unmapped: Literal["error", "provided"] | _YamlTarget = "error"

    @field_validator("codes", mode="before")
    @classmethod
    def _codes_are_text(cls, value: object) -> object:
        # YAML reads 86.909 as a number and drops the zeros of 1.10; codes must be quoted.
        if isinstance(value, dict):
            for code, target in value.items():
                for item in (code, target):
                    if isinstance(item, int | float | bool):
                        raise ValueError(f"{item!r} is read as a number; quote codes in YAML")
        return value


class _YamlMap(BaseModel):
    model_config = ConfigDict(extra="forbid")

    groups: list[_YamlGroup] = Field(min_length=1)


def _add_yaml_map(code_map: CodeMap, content: Any, path: Path) -> None:
    try:
        parsed = _YamlMap.model_validate(content)
    except ValidationError as error:
        raise CodeMapError(_validation_message(path, "", error)) from None
    for g, group in enumerate(parsed.groups):
        at = f"groups[{g}]"
        source = code_map.add(group.source, f"{path} {at}")
        for code, value in group.codes.items():
            if not code.strip():
                raise CodeMapError(f"{path}: {at}.codes: a source code is empty")
            target = value if isinstance(value, _YamlTarget) else _YamlTarget(code=value)
            mapped = Target(group.target, target.code, target.display)
            _put(source, code, mapped, f"{path} {at}.codes.{code}")
        if group.unmapped == "provided":
            _set_unmapped(source, "provided", f"{path} {at}.unmapped")
        elif isinstance(group.unmapped, _YamlTarget):
            fixed = Target(group.target, group.unmapped.code, group.unmapped.display)
            _set_unmapped(source, fixed, f"{path} {at}.unmapped")


def _put(source: SourceSystem, code: str, target: Target, origin: str) -> None:
    known = source.codes.get(code)
    same = known is not None and (known.system, known.code) == (target.system, target.code)
    if (known is not None and not same) or code in source.untranslatable:
        message = f"{source.system}|{code} is mapped differently elsewhere ({source.origin})"
        raise CodeMapError(f"{origin}: {message}")
    if known is None or not known.display:
        source.codes[code] = target


def _untranslatable(source: SourceSystem, code: str, origin: str) -> None:
    if code in source.codes:
        message = f"{source.system}|{code} has a target elsewhere ({source.origin})"
        raise CodeMapError(f"{origin}: {message}")
    source.untranslatable.add(code)


def _set_unmapped(
    source: SourceSystem, unmapped: Target | Literal["provided"], origin: str
) -> None:
    if source.unmapped is not None and source.unmapped != unmapped:
        message = f"unmapped codes of {source.system} are handled differently elsewhere"
        raise CodeMapError(f"{origin}: {message} ({source.origin})")
    source.unmapped = unmapped


# How pydantic names the member of a union in an error's location; not part of the file's path.
_UNION_TAGS = ("_Yaml", "literal[", "constrained-str")


def _validation_message(path: Path, root: str, error: ValidationError) -> str:
    problems = []
    for problem in error.errors()[:5]:
        where = root
        for part in problem["loc"]:
            if isinstance(part, str) and part.startswith(_UNION_TAGS):
                continue
            where += f"[{part}]" if isinstance(part, int) else f".{part}"
        where = where.lstrip(".") or "(top level)"
        problems.append(f"{where}: {problem['msg']}")
    return f"{path}: " + "; ".join(problems)


# Saying what was translated


def translation_issue(translation: Translation) -> dict:
    """Render one translation as an OperationOutcome issue of severity information."""
    return {
        "severity": "information",
        "code": "informational",
        "details": {"text": "code translated by the code map"},
        "diagnostics": translation.describe(),
        "expression": [translation.expression],
    }


def translation_outcomes(translations: Sequence[Translation]) -> dict[int, dict]:
    """One OperationOutcome per bundle entry index listing the codes translated in that entry."""
    outcomes: dict[int, dict] = {}
    for translation in translations:
        outcome = outcomes.setdefault(
            translation.entry_index, {"resourceType": "OperationOutcome", "issue": []}
        )
        outcome["issue"].append(translation_issue(translation))
    return outcomes
