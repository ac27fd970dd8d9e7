"""ITI-65 code mapping: local codes translated to national ones before validation, one test per
rule; mapping files that cannot be used stop the start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from codemap_support import (
    CONCEPT_MAP,
    DOCUMENT,
    DOCUMENT_PATH,
    LOCAL_CLASSES,
    LOCAL_TYPES,
    LOCAL_UNITS,
    SUBMISSION_SET,
    VOLVEN_8651,
    VOLVEN_9602,
    YAML_MAP,
    document_unique_id,
    example_bundle,
    local_bundle,
)
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from mhd_support import encode, issues, post, stored_files
from servers import Server

from gateway.app import create_app
from gateway.config import Settings
from mhd.codemap import CodeMapError, load_code_maps
from registry.metadata import Code


def service(tmp_path: Path, *maps: Path, **settings) -> TestClient:
    return TestClient(
        create_app(Settings(data_dir=tmp_path / "data", code_map=list(maps), **settings)),
        raise_server_exceptions=False,
    )


def submit(tmp_path: Path, bundle: dict, *maps: Path):
    """POST the bundle to a service with these code maps; the response and the stored entry."""
    with service(tmp_path, *maps) as client:
        response = post(client, bundle)
        assert response.status_code == 200, response.text
        return response, stored_entry(client, bundle)


def stored_entry(client: TestClient, bundle: dict):
    (entry,) = client.app.state.registry.document_entries_by_unique_id([document_unique_id(bundle)])
    return entry


def write(tmp_path: Path, name: str, content: str | dict) -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content)
    path.write_text(text, encoding="utf-8")
    return path


def concept_map(*groups: dict) -> dict:
    return {"resourceType": "ConceptMap", "status": "active", "group": list(groups)}


# Translation


def test_yaml_map_translates_local_type_class_and_practice_setting(tmp_path):
    bundle = local_bundle()
    _, entry = submit(tmp_path, bundle, YAML_MAP)

    assert entry.type_code == Code("A03-2", VOLVEN_9602, "Epikrise")
    assert entry.class_code == Code("A00-1", VOLVEN_9602, "Epikriser og sammenfatninger")
    assert entry.practice_setting_code == Code("A04", VOLVEN_8651, "Overvåkningsenhet")


def test_concept_map_translates_with_equivalence_wider(tmp_path):
    bundle = local_bundle(type_code="POLI-NOTAT")
    _, entry = submit(tmp_path, bundle, CONCEPT_MAP)

    assert entry.type_code == Code("A03-2", VOLVEN_9602, "Epikrise")
    assert entry.class_code == Code("A00-1", VOLVEN_9602, "Epikriser og sammenfatninger")


def test_yaml_target_without_display_gives_the_code_alone(tmp_path):
    bundle = local_bundle(type_code="POLI-NOTAT")
    with service(tmp_path, YAML_MAP) as client:
        assert post(client, bundle).status_code == 200
        entry = stored_entry(client, bundle)

    assert (entry.type_code.code, entry.type_code.coding_scheme) == ("A03-2", VOLVEN_9602)
    assert entry.type_code.display_name in ("", None)


def test_several_files_from_the_environment_are_one_map(tmp_path, monkeypatch):
    units = write(
        tmp_path,
        "units.yaml",
        f"groups:\n  - source: {LOCAL_UNITS}\n    target: urn:oid:{VOLVEN_8651}\n"
        "    codes:\n      OVERV: A02\n",
    )
    monkeypatch.setenv("XCADS_CODE_MAP", f"{CONCEPT_MAP}, {units}")
    bundle = local_bundle()
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        response = post(client, bundle)
        entry = stored_entry(client, bundle)

    assert response.status_code == 200, response.text
    assert entry.type_code.code == "A03-2"
    assert entry.practice_setting_code == Code("A02", VOLVEN_8651, "")


def test_submission_set_designation_type_is_translated(tmp_path):
    bundle = local_bundle()
    extension = bundle["entry"][SUBMISSION_SET]["resource"]["extension"][0]
    extension["valueCodeableConcept"] = {"coding": [{"system": LOCAL_TYPES, "code": "KRISEPLAN"}]}
    with service(tmp_path, YAML_MAP) as client:
        response = post(client, bundle)
        location = response.json()["entry"][SUBMISSION_SET]["response"]["location"]
        (submission_set,) = client.app.state.registry.submission_sets_by_uuid(
            ["urn:uuid:" + location.removeprefix("List/")]
        )

    assert submission_set.content_type_code == Code("A01-2", VOLVEN_9602, "Kriseplan")


def test_author_specialty_of_a_contained_practitioner_role_is_translated(tmp_path):
    specialties = write(
        tmp_path,
        "specialties.yaml",
        "groups:\n  - source: http://epj.example.no/fhir/CodeSystem/spesialitet\n"
        "    target: urn:oid:2.16.578.1.12.4.1.1.7426\n"
        "    codes:\n      ALLM: {code: '1', display: Allmennmedisin}\n",
    )
    bundle = example_bundle()
    document = bundle["entry"][DOCUMENT]["resource"]
    local = {"system": "http://epj.example.no/fhir/CodeSystem/spesialitet", "code": "ALLM"}
    document["contained"].append(
        {
            "resourceType": "PractitionerRole",
            "id": "role",
            "practitioner": {"reference": "#author"},
            "specialty": [{"coding": [local]}],
        }
    )
    document["author"] = [{"reference": "#role"}]
    response, entry = submit(tmp_path, bundle, specialties)

    assert entry.authors[0].specialties == ["1^^^&2.16.578.1.12.4.1.1.7426&ISO"]
    (issue,) = response.json()["entry"][DOCUMENT]["response"]["outcome"]["issue"]
    assert issue["expression"] == [f"{DOCUMENT_PATH}.contained[2].specialty[0].coding[0]"]


def test_translation_comes_before_norwegian_validation(tmp_path):
    norway = {"profile": "norway", "accept_synthetic_ids": True}
    with service(tmp_path / "without", **norway) as client:
        refused = post(client, local_bundle())
    with service(tmp_path / "with", YAML_MAP, **norway) as client:
        accepted = post(client, local_bundle())

    assert refused.status_code == 400
    assert ("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.type") in issues(refused)
    assert accepted.status_code == 200, accepted.text


# What the response says


def test_response_names_each_translated_code_in_the_entry_outcome(tmp_path):
    with service(tmp_path, YAML_MAP) as client:
        response = post(client, local_bundle())

    answer = response.json()
    Bundle.model_validate(answer)
    outcomes = {i: e["response"].get("outcome") for i, e in enumerate(answer["entry"])}
    assert [i for i, outcome in outcomes.items() if outcome] == [DOCUMENT]
    translated = {
        issue["expression"][0]: issue["diagnostics"] for issue in outcomes[DOCUMENT]["issue"]
    }
    assert {issue["severity"] for issue in outcomes[DOCUMENT]["issue"]} == {"information"}
    assert translated == {
        f"{DOCUMENT_PATH}.type.coding[0]": f"translated {LOCAL_TYPES}|EPI -> "
        f"urn:oid:{VOLVEN_9602}|A03-2 (Epikrise)",
        f"{DOCUMENT_PATH}.category[0].coding[0]": f"translated {LOCAL_CLASSES}|SAMMENFATNING -> "
        f"urn:oid:{VOLVEN_9602}|A00-1 (Epikriser og sammenfatninger)",
        f"{DOCUMENT_PATH}.context.practiceSetting.coding[0]": f"translated {LOCAL_UNITS}|OVERV"
        f" -> urn:oid:{VOLVEN_8651}|A04 (Overvåkningsenhet)",
    }


def test_national_codes_pass_untouched_and_nothing_is_reported(tmp_path):
    bundle = example_bundle()
    response, entry = submit(tmp_path, bundle, YAML_MAP, CONCEPT_MAP)

    assert all("outcome" not in e["response"] for e in response.json()["entry"])
    assert entry.type_code == Code("A03-2", VOLVEN_9602, "Epikrise")
    assert entry.healthcare_facility_type_code == Code(
        "86.101", "2.16.578.1.12.4.1.1.1303", "Somatisk sykehus"
    )


# Unmapped local codes


def test_unmapped_local_code_fails_naming_code_and_system(tmp_path):
    bundle = local_bundle(type_code="UKJENT-TYPE")
    with service(tmp_path, YAML_MAP) as client:
        response = post(client, bundle)
        registered = client.app.state.registry.document_entries_by_unique_id(
            [document_unique_id(bundle)]
        )

    assert response.status_code == 400
    assert issues(response) == [("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.type.coding[0]")]
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "'UKJENT-TYPE'" in diagnostics
    assert LOCAL_TYPES in diagnostics
    assert registered == []
    assert stored_files(tmp_path / "data") == []


def test_concept_map_code_marked_unmatched_is_unmapped(tmp_path):
    with service(tmp_path, CONCEPT_MAP) as client:
        response = post(client, local_bundle(type_code="INTERNT"))

    assert response.status_code == 400
    assert issues(response) == [("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.type.coding[0]")]


def test_unmapped_codes_are_reported_with_the_other_errors(tmp_path):
    bundle = local_bundle(type_code="UKJENT-TYPE")
    del bundle["entry"][DOCUMENT]["resource"]["content"][0]["format"]
    with service(tmp_path, YAML_MAP) as client:
        response = post(client, bundle)

    assert sorted(issues(response)) == [
        ("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.content[0].format"),
        ("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.type.coding[0]"),
    ]


def test_unmapped_mode_provided_keeps_codes_the_map_does_not_name(tmp_path):
    path = write(
        tmp_path,
        "provided.json",
        concept_map(
            {
                "source": LOCAL_TYPES,
                "target": f"urn:oid:{VOLVEN_9602}",
                "element": [{"code": "EPI", "target": [{"code": "A03-2", "equivalence": "equal"}]}],
                "unmapped": {"mode": "provided"},
            }
        ),
    )
    bundle = local_bundle(type_code="EGEN-TYPE", class_code=None, unit=None)
    _, entry = submit(tmp_path, bundle, path)

    assert (entry.type_code.code, entry.type_code.coding_scheme) == ("EGEN-TYPE", LOCAL_TYPES)


def test_unmapped_fixed_code_is_the_target_of_codes_the_map_does_not_name(tmp_path):
    path = write(
        tmp_path,
        "fixed.yaml",
        f"groups:\n  - source: {LOCAL_CLASSES}\n    target: urn:oid:{VOLVEN_9602}\n"
        "    codes: {}\n    unmapped: {code: A00-1, display: Epikriser og sammenfatninger}\n",
    )
    bundle = local_bundle(type_code=None, class_code="HVA-SOM-HELST", unit=None)
    _, entry = submit(tmp_path, bundle, path)

    assert entry.class_code == Code("A00-1", VOLVEN_9602, "Epikriser og sammenfatninger")


# Mapping files that cannot be used


BAD_MAPS = {
    "missing.yaml": None,
    "not-yaml.yaml": "groups: [",
    "number-code.yaml": "groups:\n  - source: a\n    target: b\n    codes:\n      X: 86.909\n",
    "no-target-system.yaml": "groups:\n  - source: a\n    codes: {X: Y}\n",
    "no-groups.yaml": "groups: []\n",
    "unknown-key.yaml": "groups:\n  - {source: a, target: b, codes: {X: Y}, colour: red}\n",
    "not-a-concept-map.json": {"resourceType": "ValueSet", "status": "active"},
    "no-equivalence.json": concept_map(
        {"source": "a", "target": "b", "element": [{"code": "X", "target": [{"code": "Y"}]}]}
    ),
    "ambiguous.json": concept_map(
        {
            "source": "a",
            "target": "b",
            "element": [
                {
                    "code": "X",
                    "target": [
                        {"code": "Y", "equivalence": "equivalent"},
                        {"code": "Z", "equivalence": "wider"},
                    ],
                }
            ],
        }
    ),
    "other-map.json": concept_map(
        {
            "source": "a",
            "target": "b",
            "element": [{"code": "X", "target": [{"code": "Y", "equivalence": "equal"}]}],
            "unmapped": {"mode": "other-map", "url": "http://x/y"},
        }
    ),
    "map.txt": "groups: []\n",
    "depends-on.json": concept_map(
        {
            "source": "a",
            "target": "b",
            "element": [
                {
                    "code": "X",
                    "target": [
                        {
                            "code": "Y",
                            "equivalence": "equal",
                            "dependsOn": [{"property": "http://x/p", "value": "1"}],
                        }
                    ],
                }
            ],
        }
    ),
}

BAD_MAP_MESSAGES = {
    "missing.yaml": "cannot be read",
    "not-yaml.yaml": "is not YAML",
    "number-code.yaml": "groups[0].codes: Value error, 86.909 is read as a number",
    "no-target-system.yaml": "groups[0].target: Field required",
    "no-groups.yaml": "groups: List should have at least 1 item",
    "unknown-key.yaml": "groups[0].colour: Extra inputs are not permitted",
    "not-a-concept-map.json": "expected a FHIR ConceptMap, found 'ValueSet'",
    "no-equivalence.json": "ConceptMap.group[0].element[0].target[0].equivalence",
    "ambiguous.json": "ConceptMap.group[0].element[0].target: 2 targets translate 'X'",
    "other-map.json": "ConceptMap.group[0].unmapped.mode: 'other-map' is not supported",
    "map.txt": "a code map is a .json ConceptMap or a .yaml/.yml file",
    "depends-on.json": "element[0].target[0]: dependsOn and product (conditional mappings) are",
}


@pytest.mark.parametrize("name", sorted(BAD_MAPS))
def test_unusable_mapping_file_stops_the_start_naming_file_and_place(tmp_path, name):
    path = tmp_path / name
    if BAD_MAPS[name] is not None:
        write(tmp_path, name, BAD_MAPS[name])

    with pytest.raises(CodeMapError) as raised:
        create_app(Settings(data_dir=tmp_path / "data", code_map=[path]))

    assert str(raised.value).startswith(f"{path}: ")
    assert BAD_MAP_MESSAGES[name] in str(raised.value)
    assert not (tmp_path / "data").exists()


def test_norway_profile_refuses_a_target_outside_the_national_code_list(tmp_path):
    typo = write(
        tmp_path,
        "typo.yaml",
        f"groups:\n  - source: {LOCAL_TYPES}\n    target: urn:oid:{VOLVEN_9602}\n"
        "    codes:\n      EPI: A03_2\n",
    )
    settings = Settings(data_dir=tmp_path / "data", code_map=[typo])

    with pytest.raises(CodeMapError) as raised:
        create_app(settings.model_copy(update={"profile": "norway"}))

    assert str(raised.value).startswith(f"{typo} groups[0]: ")
    assert f"'A03_2' is not a code of {VOLVEN_9602}" in str(raised.value)
    with TestClient(create_app(settings)) as client:
        assert client.app.state.code_map.code_count == 1
    load_code_maps([YAML_MAP, CONCEPT_MAP], profile="norway")


def test_files_that_map_one_code_differently_stop_the_start(tmp_path):
    other = write(
        tmp_path,
        "other.yaml",
        f"groups:\n  - source: {LOCAL_TYPES}\n    target: urn:oid:{VOLVEN_9602}\n"
        "    codes:\n      EPI: A04-2\n",
    )
    with pytest.raises(CodeMapError, match=r"other.yaml groups\[0\].codes.EPI: .*\|EPI is mapped"):
        load_code_maps([CONCEPT_MAP, other])


def test_serve_with_an_unusable_mapping_file_exits_with_the_reason(tmp_path):
    path = write(tmp_path, "broken.yaml", "groups:\n  - source: a\n    codes: {X: Y}\n")
    environment = {**os.environ, "XCADS_CODE_MAP": str(path)}
    command = [sys.executable, "-m", "gateway.cli", "serve", "--data-dir", str(tmp_path / "d")]

    finished = subprocess.run(
        [*command, "--port", "0"], env=environment, capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 2
    assert "config.invalid XCADS_CODE_MAP" in finished.stderr
    assert f"{path}: groups[0].target: Field required" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_served_instance_validates_then_stores_with_the_map_from_the_environment(tmp_path):
    bundle = local_bundle()
    running = Server(tmp_path / "data", environment={"XCADS_CODE_MAP": str(YAML_MAP)})
    try:
        headers = {"Content-Type": "application/fhir+json"}
        validated = running.http.post(
            running.endpoints["ITI-65 validation without storing"],
            content=encode(bundle),
            headers=headers,
        )
        stored = running.http.post("/fhir", content=encode(bundle), headers=headers)
    finally:
        running.stop()
    log = "".join(running.log) + running.process.stderr.read()

    assert validated.status_code == 200, validated.text
    assert validated.json()["resourceType"] == "Parameters"
    assert stored.status_code == 200, stored.text
    assert "outcome" in stored.json()["entry"][DOCUMENT]["response"]
    assert "codemap.loaded files=1 systems=3 codes=6" in log
    assert "iti65.validated valid=true" in log
    assert "translated=3" in log
    assert "TESTESEN" not in log
    assert "13116900216" not in log
