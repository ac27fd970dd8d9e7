"""Norwegian rules on an ITI-65 bundle: the OIDs it names for this instance must be this instance's.

With XCADS_PROFILE=norway a bundle must not claim to come from, or be kept by, someone else:

- the SubmissionSet's `ihe-sourceId` is one of `Settings.source_ids` or, when none are configured,
  the home community OID or an OID under it;
- every `ihe-homeCommunityId` extension (NHN puts one on the attachment) names
  `Settings.home_community_id`;
- every extension naming a repositoryUniqueId names `Settings.repository_unique_id`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.config import Settings
from mhd.bundle import ProvideBundle
from mhd.outcome import FhirIssue
from registry.errors import ErrorCode
from registry.metadata import SubmissionSet

HOME_COMMUNITY_ID = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-homeCommunityId"
REPOSITORY_UNIQUE_ID_SUFFIX = "repositoryuniqueid"
NORWAY = "norway"


def instance_id_issues(
    bundle: ProvideBundle, submission_set: SubmissionSet, settings: Settings
) -> list[FhirIssue]:
    """Every OID of the bundle that should name this instance and does not; [] outside Norway."""
    if settings.profile != NORWAY:
        return []
    issues = _source_id_issues(bundle, submission_set.source_id, settings)
    home = _bare(settings.home_community_id)
    for entry in bundle.entries:
        data = entry.resource.model_dump(mode="json", exclude_none=True)
        for path, url, value in _extensions(data, entry.path):
            if url == HOME_COMMUNITY_ID and _bare(value) != home:
                message = f"homeCommunityId {value!r} is not this community ({home})"
                issues.append(FhirIssue(ErrorCode.UNKNOWN_COMMUNITY, message, path))
            elif url.lower().endswith(REPOSITORY_UNIQUE_ID_SUFFIX) and (
                _bare(value) != settings.repository_unique_id
            ):
                message = (
                    f"repositoryUniqueId {value!r} is not this repository"
                    f" ({settings.repository_unique_id})"
                )
                issues.append(FhirIssue(ErrorCode.UNKNOWN_REPOSITORY_ID, message, path))
    return issues


def allowed_source_ids(settings: Settings) -> tuple[str, ...]:
    """The sourceIds this instance accepts: those configured, else its home community OID."""
    return tuple(settings.source_ids) or (_bare(settings.home_community_id),)


def _source_id_issues(bundle: ProvideBundle, source_id: str, settings: Settings) -> list[FhirIssue]:
    if not source_id:
        return []
    allowed = allowed_source_ids(settings)
    configured = bool(settings.source_ids)
    if source_id in allowed or (
        not configured and any(source_id.startswith(oid + ".") for oid in allowed)
    ):
        return []
    where = next(
        (
            f"{bundle.submission_set.path}.extension[{position}].valueIdentifier"
            for position, extension in enumerate(bundle.submission_set.resource.extension or [])
            if extension.url.endswith("/ihe-sourceId")
        ),
        f"{bundle.submission_set.path}.extension",
    )
    scope = "XCADS_SOURCE_IDS" if configured else "the home community OID or an OID under it"
    message = f"sourceId {source_id} is not a source this instance accepts ({scope})"
    return [FhirIssue(ErrorCode.REGISTRY_METADATA_ERROR, message, where)]


def _extensions(data: Any, path: str) -> Iterator[tuple[str, str, str]]:
    """Each (FHIRPath of the value, url, value) of the extensions anywhere in `data`."""
    if isinstance(data, list):
        for position, item in enumerate(data):
            yield from _extensions(item, f"{path}[{position}]")
        return
    if not isinstance(data, dict):
        return
    url = data.get("url")
    for key, value in data.items():
        if key.startswith("value") and isinstance(url, str) and isinstance(value, str):
            yield f"{path}.{key}", url, value
        elif key.startswith("value") and isinstance(url, str) and isinstance(value, dict):
            if isinstance(value.get("value"), str):
                yield f"{path}.{key}.value", url, value["value"]
        elif isinstance(value, (dict, list)):
            yield from _extensions(value, f"{path}.{key}")


def _bare(oid: str) -> str:
    oid = oid.strip()
    return oid[len("urn:oid:") :] if oid.lower().startswith("urn:oid:") else oid
