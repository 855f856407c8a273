"""FastAPI application: GraphQL endpoint, health, Prometheus metrics and a trivial ping.

The app takes a service client with async ``dashboard``, ``record_feedback``,
``set_consent``, ``erase_customer``, ``decision``, ``health`` and ``stats`` methods. In
the Ray Serve app the client forwards to the policy deployment; in tests it wraps an
in-process :class:`~api.service.DashboardService`.

``POST /graphql`` needs an API key (``Authorization: Bearer <key>`` or ``X-API-Key``,
see api/auth.py): a missing or unknown key gets HTTP 401, a key over its rate limit HTTP
429 with ``Retry-After``. Each operation then checks its scope (api/schema.py).
``/healthz``, ``/metrics`` and ``/ping`` need no key, because they carry no customer
data. No response contains a stack trace: unexpected errors become a generic message
with a reference that the server log repeats.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import AuthenticationError, key_from_headers
from api.graphql_http import DocumentCache, error_body, execute_graphql
from api.metrics import ApiMetrics
from api.rate_limit import RateLimiter
from api.schema import schema
from api.security import ApiSecurityConfig
from api.service import DashboardService

__all__ = ["ServiceClient", "LocalServiceClient", "create_app"]

logger = logging.getLogger(__name__)


class ServiceClient(Protocol):
    async def dashboard(self, user_id: str, channel: str) -> dict[str, Any]: ...

    async def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]: ...

    async def set_consent(self, user_id: str, marketing: bool | None, personalisation: bool | None) -> dict[str, Any]: ...

    async def erase_customer(self, user_id: str) -> dict[str, Any]: ...

    async def decision(self, decision_id: str) -> dict[str, Any] | None: ...

    async def health(self) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]: ...


def service_stats(service: DashboardService) -> dict[str, Any]:
    """Return the counters of one DashboardService in the shape api/metrics.py reads."""
    counters = service.counters
    return {
        "service": {
            "dashboards": counters.dashboards,
            "cold_starts": counters.cold_starts,
            "feedback": counters.feedback,
            "snapshot_version": service.snapshot_version,
            "policy": service.holder.current.policy_id,
            "non_personalised": counters.non_personalised,
            "service_only": counters.service_only,
            "consent_changes": counters.consent_changes,
            "erasures": counters.erasures,
        },
        "caches": {
            name: {"hit": cache.hits, "miss": cache.misses}
            for name, cache in (("insights", service.insight_cache), ("insight_signals", service.signal_cache))
            if cache is not None
        },
        "decision_writer": {
            "written": service.writer.stats.written,
            "batches": service.writer.stats.batches,
            "retries": service.writer.stats.retries,
            "backlog": service.writer.backlog,
        },
    }


class LocalServiceClient:
    """Calls a DashboardService in this process."""

    def __init__(self, service: DashboardService, extra_stats: Any = None) -> None:
        self.service = service
        self.extra_stats = extra_stats

    async def dashboard(self, user_id: str, channel: str) -> dict[str, Any]:
        return self.service.dashboard(user_id, channel)

    async def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]:
        return self.service.record_feedback(decision_id, offer_id, feedback_type)

    async def set_consent(self, user_id: str, marketing: bool | None, personalisation: bool | None) -> dict[str, Any]:
        return self.service.set_consent(user_id, marketing, personalisation)

    async def erase_customer(self, user_id: str) -> dict[str, Any]:
        return self.service.erase_customer(user_id)

    async def decision(self, decision_id: str) -> dict[str, Any] | None:
        return self.service.decision(decision_id)

    async def health(self) -> dict[str, Any]:
        return self.service.health()

    async def stats(self) -> dict[str, Any]:
        stats = service_stats(self.service)
        if self.extra_stats is not None:
            stats.update(self.extra_stats())
        return stats


# HTTP status of a GraphQL response without data, by the first error's code.
_STATUS_BY_CODE = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "INTERNAL_SERVER_ERROR": 500}


def _status_of(response: dict[str, Any]) -> int:
    """Return 200 when the response has data (partial or not) or no errors, else a status from the error code."""
    if response.get("data") is not None or "errors" not in response:
        return 200
    code = response["errors"][0].get("extensions", {}).get("code")
    return _STATUS_BY_CODE.get(code, 400)


def create_app(client: ServiceClient, *, security: ApiSecurityConfig, rate_limiter: RateLimiter | None = None) -> FastAPI:
    """Build the HTTP app around ``client``.

    Args:
        client: the service client.
        security: API keys (hashed), introspection and query limits.
        rate_limiter: the per-key token buckets; a new one by default (tests inject a clock).
    """
    app = FastAPI(
        title="offerloop",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if security.introspection else None,
    )
    cache = DocumentCache(
        schema.graphql_schema,
        max_depth=security.max_depth,
        max_cost=security.max_cost,
        introspection=security.introspection,
    )
    keys = security.key_ring()
    limiter = rate_limiter if rate_limiter is not None else RateLimiter()
    latest_stats: dict[str, Any] = {}
    metrics = ApiMetrics(lambda: latest_stats)
    if not len(keys):
        logger.warning("api_without_keys: no API key is configured, so every GraphQL request is rejected")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, err: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        logger.error("request failed (reference %s): %r", reference, err, exc_info=err)
        body = error_body(f"internal error; quote reference {reference} when reporting it", "INTERNAL_SERVER_ERROR")
        return JSONResponse(body, status_code=500)

    @app.post("/graphql")
    async def graphql_endpoint(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            principal = keys.authenticate(key_from_headers(request.headers))
        except AuthenticationError as err:
            metrics.rejections.labels("unauthenticated").inc()
            return JSONResponse(
                error_body(str(err), "UNAUTHENTICATED"), status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
        wait_s = limiter.check(principal.name, rate_per_s=principal.rate_per_s, burst=principal.burst)
        if wait_s:
            metrics.rejections.labels("rate_limited").inc()
            message = (
                f"rate limit of {principal.rate_per_s:g} requests/s (burst {principal.burst}) for API key "
                f"{principal.name!r} exceeded; retry after {wait_s} s"
            )
            return JSONResponse(error_body(message, "RATE_LIMITED"), status_code=429, headers={"Retry-After": str(wait_s)})
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(error_body("request body is not valid JSON", "BAD_REQUEST"), status_code=400)
        response = await execute_graphql(cache, body, {"service": client, "principal": principal})
        operation = "mutation" if isinstance(body, dict) and "mutation" in str(body.get("query", ""))[:50] else "query"
        metrics.latency.labels(operation).observe(time.perf_counter() - started)
        return JSONResponse(response, status_code=_status_of(response))

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
