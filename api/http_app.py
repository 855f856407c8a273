"""FastAPI application: GraphQL endpoint, health, Prometheus metrics and a trivial ping.

The app takes a service client with async ``dashboard``, ``record_feedback``,
``health`` and ``stats`` methods. In the Ray Serve app the client forwards to the policy
deployment; in tests it wraps an in-process :class:`~api.service.DashboardService`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.graphql_http import DocumentCache, execute_graphql
from api.metrics import ApiMetrics
from api.schema import schema
from api.service import DashboardService

__all__ = ["ServiceClient", "LocalServiceClient", "create_app"]

logger = logging.getLogger(__name__)


class ServiceClient(Protocol):
    async def dashboard(self, user_id: str, channel: str) -> dict[str, Any]: ...

    async def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]: ...

    async def health(self) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...


class LocalServiceClient:
    """Calls a DashboardService in this process."""

    def __init__(self, service: DashboardService, extra_stats: Any = None) -> None:
        self.service = service
        self.extra_stats = extra_stats

    async def dashboard(self, user_id: str, channel: str) -> dict[str, Any]:
        return self.service.dashboard(user_id, channel)

    async def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]:
        return self.service.record_feedback(decision_id, offer_id, feedback_type)

    async def health(self) -> dict[str, Any]:
        return self.service.health()

    async def stats(self) -> dict[str, Any]:
        counters = self.service.counters
        stats: dict[str, Any] = {
            "service": {
                "dashboards": counters.dashboards,
                "cold_starts": counters.cold_starts,
                "feedback": counters.feedback,
                "snapshot_version": self.service.snapshot_version,
                "policy": self.service.holder.current.policy_id,
            }
        }
        if self.extra_stats is not None:
            stats.update(self.extra_stats())
        return stats


def create_app(client: ServiceClient) -> FastAPI:
    """Build the HTTP app around ``client``."""
    app = FastAPI(title="offerloop", version="0.1.0", docs_url=None, redoc_url=None)
    cache = DocumentCache(schema.graphql_schema)
    latest_stats: dict[str, Any] = {}
    metrics = ApiMetrics(lambda: latest_stats)

    @app.post("/graphql")
    async def graphql_endpoint(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"errors": [{"message": "request body is not valid JSON"}]}, status_code=400)
        response = await execute_graphql(cache, body, {"service": client})
        operation = "mutation" if isinstance(body, dict) and "mutation" in str(body.get("query", ""))[:50] else "query"
        metrics.latency.labels(operation).observe(time.perf_counter() - started)
        status = 200 if response.get("data") is not None or "errors" not in response else 400
        return JSONResponse(response, status_code=status)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        try:
            details = await asyncio.wait_for(client.health(), timeout=2.0)
        except Exception as err:  # noqa: BLE001 - health must report, not raise.
            logger.warning("health check failed: %r", err)
            return JSONResponse({"status": "unavailable", "error": type(err).__name__}, status_code=503)
        return JSONResponse(details)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        try:
            latest_stats.clear()
            latest_stats.update(await asyncio.wait_for(client.stats(), timeout=2.0))
        except Exception as err:  # noqa: BLE001 - serve the ingress's own metrics anyway.
            logger.warning("stats collection failed: %r", err)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/ping")
    async def ping() -> PlainTextResponse:
        return PlainTextResponse("pong")

    return app
