"""The FastAPI application: one process serving the MHD, XCA, registry, repository and health
endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from gateway.config import TEST_HOME_COMMUNITY_ID, TEST_REPOSITORY_UNIQUE_ID, Settings
from gateway.limits import BodySizeLimit
from gateway.metrics import CountedDocumentStore
from gateway.metrics import router as metrics_router
from gateway.observe import ObserveRequests
from gateway.outbox import Outbox
from gateway.readiness import router as readiness_router
from gateway.registry_service import router as registry_router
from gateway.repository_service import router as repository_router
from gateway.service_description import router as schemas_router
from gateway.xca import router as xca_router
from mhd.codemap import load_code_maps
from mhd.responder import router as mhd_responder_router
from mhd.routes import router as mhd_router
from registry.sql import SqlRegistryStore
from repository.factory import open_document_store
from repository.repair import PeriodicRepair, repair
from repository.s3 import S3Connection
from repository.store import DocumentStore

log = logging.getLogger("xcads.gateway")

# Each endpoint's name and path, announced at start-up.
ENDPOINTS = (
    ("ITI-65 Provide Document Bundle", "/fhir"),
    ("ITI-65 validation without storing", "/fhir/Bundle/$validate"),
    ("ITI-67 Find Document References", "/fhir/DocumentReference"),
    ("ITI-66 Find Document Lists", "/fhir/List"),
    ("ITI-68 Retrieve Document", "/mhd/documents/{uniqueId}"),
    ("FHIR CapabilityStatement", "/fhir/metadata"),
    ("ITI-38/ITI-39 XCA Responding Gateway", "/XCA/services/RespondingGatewayService"),
    ("ITI-18/ITI-42 Document Registry", "/Registry/services/RegistryService"),
    ("ITI-41/ITI-43/ITI-86 Document Repository", "/Repository/services/RepositoryService"),
    ("health", "/health"),
    ("readiness", "/ready"),
    ("metrics", "/metrics"),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app and open its registry and document stores."""
    settings = settings or Settings()
    code_map = load_code_maps(settings.code_map, profile=settings.profile)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = SqlRegistryStore(settings.resolved_database_url)
    documents = open_documents(settings)
    periodic_repair = _periodic_repair(settings, registry, documents)
    outbox = Outbox(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if periodic_repair:
            periodic_repair.start()
        yield
        # Asynchronous answers still owed are sent, or recorded as failed, before stores close.
        await outbox.close()
        if periodic_repair:
            periodic_repair.stop()
        registry.close()

    app = FastAPI(title="xcads", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        read_timeout=settings.body_read_timeout_seconds,
    )
    # Added last, so outermost: it sees every answer, the limits' 413 and 408 included.
    app.add_middleware(ObserveRequests)
    app.state.settings = settings
    app.state.registry = registry
    app.state.documents = CountedDocumentStore(documents)
    app.state.code_map = code_map
    app.state.outbox = outbox
    app.state.periodic_repair = periodic_repair
    app.include_router(mhd_router)
    app.include_router(mhd_responder_router)
    app.include_router(xca_router)
    app.include_router(registry_router)
    app.include_router(repository_router)
    app.include_router(schemas_router)
    app.include_router(readiness_router)
    app.include_router(metrics_router)

    @app.get("/health")
    def health() -> JSONResponse:
        """Answer 200 once the service is up."""
        return JSONResponse({"status": "ok"})

    if settings.home_community_id == TEST_HOME_COMMUNITY_ID or (
        settings.repository_unique_id == TEST_REPOSITORY_UNIQUE_ID
    ):
        log.warning(
            "config.test_oids home_community_id=%s repository_unique_id=%s",
            settings.home_community_id,
            settings.repository_unique_id,
        )
    return app


def open_documents(settings: Settings) -> DocumentStore:
    """Open the document store that XCADS_REPOSITORY_URL (and XCADS_S3_*) name."""
    s3 = None
    if settings.s3_endpoint:
        secret = settings.s3_secret_key
        s3 = S3Connection(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key,
            secret_key=secret.get_secret_value() if secret else None,
            region=settings.s3_region,
            secure=settings.s3_secure,
            ca_bundle=settings.s3_ca_bundle,
        )
    return open_document_store(settings.resolved_repository_url, s3=s3)


def _periodic_repair(
    settings: Settings, registry: SqlRegistryStore, documents: DocumentStore
) -> PeriodicRepair | None:
    if settings.repair_interval_seconds <= 0:
        return None
    return PeriodicRepair(
        settings.repair_interval_seconds,
        lambda: repair(
            registry,
            documents,
            settings.repository_unique_id,
            fix=True,
            stale_after=timedelta(minutes=settings.repair_stale_minutes),
        ),
    )
