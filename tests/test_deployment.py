"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

`docker compose config` runs only where the Docker client with its compose plugin is installed;
it needs no engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from gateway.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
RELEASE_TAG = re.compile(r":RELEASE\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z$")


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_runs_xcads_postgresql_15_and_minio(services):
    assert {"xcads", "postgres", "minio"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:15")


def test_minio_and_its_client_are_pinned_to_a_release(services):
    assert RELEASE_TAG.search(services["minio"]["image"])
    assert RELEASE_TAG.search(services["minio-bucket"]["image"])


def test_xcads_listens_on_8080_after_its_database_and_bucket(services):
    xcads = services["xcads"]
    assert "8080:8080" in xcads["ports"]
    assert xcads["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert xcads["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"


def test_xcads_stores_metadata_in_postgresql_and_documents_in_the_made_bucket(services):
    env = services["xcads"]["environment"]
    assert env["XCADS_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["XCADS_DATABASE_URL"]
    bucket = urlparse(env["XCADS_REPOSITORY_URL"]).netloc
    assert urlparse(env["XCADS_REPOSITORY_URL"]).scheme == "s3"
    assert f"mc mb --ignore-existing store/{bucket}" in services["minio-bucket"]["command"][0]
    assert env["XCADS_S3_ENDPOINT"] == "http://minio:9000"
    assert env["XCADS_S3_ACCESS_KEY"] and env["XCADS_S3_SECRET_KEY"]


def test_every_xcads_variable_in_compose_is_a_setting(services):
    known = {f"XCADS_{name.upper()}" for name in Settings.model_fields}
    assert set(services["xcads"]["environment"]) <= known


def test_volumes_keep_the_data(services):
    assert any("/var/lib/postgresql/data" in volume for volume in services["postgres"]["volumes"])
    assert any(volume.endswith(":/data") for volume in services["minio"]["volumes"])


def test_image_runs_migrate_then_serve_as_a_user_with_a_health_check():
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    user = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*/health", dockerfile, re.MULTILINE | re.DOTALL)
    assert "xcads migrate && exec xcads serve --host 0.0.0.0 --port 8080" in dockerfile


def test_docker_compose_config_accepts_the_file():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client")
    plugin = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
    if plugin.returncode != 0:
        pytest.skip("the docker client has no compose plugin")

    checked = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert checked.returncode == 0, checked.stderr


def test_a_second_replica_shares_the_database_and_bucket_on_its_own_port(services):
    xcads, replica = services["xcads"], services["xcads-replica"]
    assert replica["environment"] == xcads["environment"]
    assert replica["image"] == xcads["image"]
    assert replica["ports"] == ["8081:8080"]
    assert replica["profiles"] == ["replicas"]
    assert replica["volumes"] != xcads["volumes"]


def test_compose_waits_longer_than_the_shutdown_grace_and_logs_json(services):
    for name in ("xcads", "xcads-replica"):
        service = services[name]
        grace = float(service["environment"]["XCADS_SHUTDOWN_GRACE_SECONDS"])
        assert float(service["stop_grace_period"].removesuffix("s")) > grace
        assert service["environment"]["XCADS_LOG_FORMAT"] == "json"


def test_image_stops_on_sigterm_within_dockers_default_wait():
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"^STOPSIGNAL SIGTERM$", dockerfile, re.MULTILINE)
    grace = re.search(r"^ENV XCADS_SHUTDOWN_GRACE_SECONDS=(\S+)$", dockerfile, re.MULTILINE)
    assert grace and float(grace.group(1)) < 10
    assert "exec xcads serve" in dockerfile
