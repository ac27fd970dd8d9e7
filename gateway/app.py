"""The FastAPI application: one process serving the MHD, XCA, registry and health endpoints."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from gateway.config import TEST_HOME_COMMUNITY_ID, TEST_REPOSITORY_UNIQUE_ID, Settings
from gateway.limits import BodySizeLimit
from gateway.registry_service import router as registry_router
from gateway.xca import router as xca_router
from mhd.routes import router as mhd_router
from registry.sql import SqlRegistryStore
from repository.factory import open_document_store

log = logging.getLogger("xcads.gateway")

# Each endpoint's name and path, announced at start-up.
ENDPOINTS = (
    ("ITI-65 Provide Document Bundle", "/fhir"),
    ("ITI-38/ITI-39 XCA Responding Gateway", "/XCA/services/RespondingGatewayService"),
    ("ITI-18/ITI-42 Document Registry", "/Registry/services/RegistryService"),
    ("health", "/health"),
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app and open its registry and document stores."""
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    registry = SqlRegistryStore(settings.resolved_database_url)
    documents = open_document_store(settings.resolved_repository_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        registry.close()

    app = FastAPI(title="xcads", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.state.settings = settings
    app.state.registry = registry
    app.state.documents = documents
    app.include_router(mhd_router)
    app.include_router(xca_router)
    app.include_router(registry_router)

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
