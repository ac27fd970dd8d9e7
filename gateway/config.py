"""Service configuration, read from XCADS_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The OIDs of NHN's public test instance, as they appear in the published sample traffic; any
# real deployment sets its own assigned OIDs.
TEST_HOME_COMMUNITY_ID = "urn:oid:2.16.578.1.12.4.5.100.1"
TEST_REPOSITORY_UNIQUE_ID = "2.16.578.1.12.4.5.100.1.2"


def strip_urn_oid(value: str) -> str:
    """Return an OID without its `urn:oid:` prefix."""
    return value[len("urn:oid:") :] if value.lower().startswith("urn:oid:") else value


class Settings(BaseSettings):
    """Everything an xcads instance is configured with; all optional on the embedded default."""

    model_config = SettingsConfigDict(env_prefix="XCADS_", extra="ignore")

    data_dir: Path = Path("xcads-data")
    home_community_id: str = TEST_HOME_COMMUNITY_ID
    repository_unique_id: str = TEST_REPOSITORY_UNIQUE_ID
    database_url: str | None = None
    repository_url: str | None = None
    # The S3 service of an s3://bucket/prefix repository URL: host:port, or http(s)://host:port
    # whose scheme overrides s3_secure; s3_ca_bundle is a PEM file of CAs to trust.
    s3_endpoint: str | None = None
    s3_region: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = True
    s3_ca_bundle: Path | None = None
    # A background `xcads repair --fix` every this many seconds (0: never). Bytes written within
    # the last repair_stale_minutes are left alone, as their submission may still be running.
    repair_interval_seconds: int = 0
    repair_stale_minutes: int = 60
    max_query_results: int = 1000
    # Bodies above this get 413; an ITI-65 bundle needs about 6x its size in memory while parsed.
    # MTOM documents stream to temporary files under <data_dir>/spool, so an ITI-41 of large
    # documents needs only this raised; the SOAP envelope itself is held to max_envelope_bytes.
    max_request_bytes: int = 100 * 1024 * 1024
    max_envelope_bytes: int = 32 * 1024 * 1024
    # XCA Asynchronous Web Services Exchange: a request whose wsa:ReplyTo is neither anonymous
    # nor none gets 202 and its answer is POSTed to that address later, but only to hosts listed
    # here (comma-separated; "*.example.org" and "host:port" patterns). Empty: no asynchronous
    # replies. Each delivery is tried 1 + async_retries times, waiting async_backoff_seconds
    # doubled each time between tries; async_max_pending bounds undelivered answers.
    async_allowed_reply_hosts: Annotated[list[str], NoDecode] = []
    async_retries: int = 5
    async_timeout_seconds: float = 30.0
    async_backoff_seconds: float = 1.0
    async_max_pending: int = 100
    async_shutdown_seconds: float = 10.0
    # Registry validation: "ihe" alone, or "norway" adding the national rules. Synthetic test
    # identities are refused unless switched on; patient_id_domains (comma-separated OIDs, empty
    # for any) are the assigning authorities whose patients this registry accepts.
    profile: Literal["ihe", "norway"] = "ihe"
    accept_synthetic_ids: bool = False
    patient_id_domains: Annotated[list[str], NoDecode] = []
    # ITI-65 code mapping: files (comma-separated) of FHIR ConceptMap JSON or xcads YAML that
    # translate local code systems to national ones before validation (mhd.codemap).
    code_map: Annotated[list[Path], NoDecode] = []
    # ITI-65 under the norway profile: the SubmissionSet sourceIds (comma-separated OIDs) this
    # instance accepts; empty accepts the home community OID and the OIDs under it.
    source_ids: Annotated[list[str], NoDecode] = []
    # Production: log lines as "text" or "json"; on SIGTERM requests under way get
    # shutdown_grace_seconds to finish; an idle kept-alive connection closes after
    # keep_alive_seconds; a request whose body stalls body_read_timeout_seconds between two
    # chunks gets 408; /ready waits ready_timeout_seconds for the database and document store.
    log_format: Literal["text", "json"] = "text"
    # Worker processes of `xcads serve` sharing its socket: one process runs Python on one core,
    # so a machine with more cores answers more requests with more workers.
    workers: int = Field(default=1, ge=1, le=64)
    # Stored queries run in at most query_threads threads per worker process at once (see
    # gateway/query_threads.py); other blocking work keeps the shared thread pool.
    query_threads: int = Field(default=2, ge=1, le=64)
    shutdown_grace_seconds: float = 30.0
    keep_alive_seconds: float = 5.0
    body_read_timeout_seconds: float = 60.0
    ready_timeout_seconds: float = 5.0

    @field_validator("patient_id_domains", "source_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [strip_urn_oid(v.strip()) for v in value.split(",") if v.strip()]
        return value

    @field_validator("code_map", mode="before")
    @classmethod
    def _paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(v.strip()) for v in value.split(",") if v.strip()]
        return value

    @field_validator("async_allowed_reply_hosts", mode="before")
    @classmethod
    def _host_patterns(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip().lower() for v in value.split(",") if v.strip()]
        return value

    @field_validator("home_community_id")
    @classmethod
    def _home_as_urn(cls, value: str) -> str:
        return "urn:oid:" + strip_urn_oid(value.strip())

    @field_validator("repository_unique_id")
    @classmethod
    def _repository_as_oid(cls, value: str) -> str:
        return strip_urn_oid(value.strip())

    @property
    def resolved_database_url(self) -> str:
        """The registry database URL; SQLite under data_dir when none is configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'registry.sqlite3').resolve()}"

    @property
    def spool_dir(self) -> Path:
        """Where MTOM parts and asynchronous answers wait in temporary files."""
        return self.data_dir / "spool"

    @property
    def failed_deliveries_path(self) -> Path:
        """The record of asynchronous answers that could not be delivered, one JSON per line."""
        return self.data_dir / "async-failed-deliveries.jsonl"

    @property
    def resolved_repository_url(self) -> str:
        """The document store URL; a folder under data_dir when none is configured."""
        if self.repository_url:
            return self.repository_url
        return (self.data_dir / "documents").resolve().as_uri()
