"""An in-process service, app and synchronous client for the API tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from api.auth import ApiKeyConfig
from api.http_app import LocalServiceClient, create_app
from api.rate_limit import RateLimiter
from api.security import ApiSecurityConfig
from api.service import DashboardService
from engine.bus import InMemoryEventBus
from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.decision_store import InMemoryDecisionStore
from engine.features import FeatureEncoder
from engine.profile_store import InMemoryProfileStore
from engine.snapshot_store import InMemorySnapshotStore
from policies import make_learner

KEYS = {
    "admin": "admin-secret-key-000000000001",
    "reader": "reader-secret-key-00000000002",
    "writer": "writer-secret-key-00000000003",
    "limited": "limited-secret-key-0000000004",
}
SCOPES = {"admin": ("admin",), "reader": ("dashboard:read",), "writer": ("feedback:write",), "limited": ("dashboard:read",)}
DASHBOARD = '{ personalizedDashboard(userId: "u-1", channel: web) { decisionId personalised marketing offers { id reason } } }'


class ManualClock:
    """A monotonic clock that moves only when a test sets it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_service(bus: InMemoryEventBus | None = None) -> DashboardService:
    policy = load_policy_config("lints")
    snapshot = make_learner(policy, dim=FeatureEncoder.from_names(policy.features).dim).snapshot()
    return DashboardService(
        catalog=load_catalog(),
        policy_config=policy,
        reward_config=load_reward_config(),
        profiles=InMemoryProfileStore(),
        decisions=InMemoryDecisionStore(),
        snapshots=InMemorySnapshotStore(),
        bus=bus if bus is not None else InMemoryEventBus(),
        initial_snapshot=snapshot,
        seed=11,
    )


def make_security(**changes: Any) -> ApiSecurityConfig:
    keys = tuple(
        ApiKeyConfig(
            name=name, key=key, scopes=SCOPES[name], rate_per_s=1.0 if name == "limited" else None,
            burst=2 if name == "limited" else None,
        ).hashed()
        for name, key in KEYS.items()
    )  # fmt: skip
    return ApiSecurityConfig(keys=keys, **changes)


@dataclass
class ApiClient:
    """Sends requests to an ASGI app in this process, one event loop per request."""

    app: FastAPI
    clock: ManualClock = field(default_factory=ManualClock)

    def request(self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                return await client.request(method, path, json=json, headers=headers or {})

        return asyncio.run(send())

    def graphql(self, query: str, *, key: str | None = "admin", variables: dict[str, Any] | None = None,
                header: str = "bearer") -> httpx.Response:  # fmt: skip
        headers = {}
        if key is not None:
            secret = KEYS.get(key, key)
            headers = {"Authorization": f"Bearer {secret}"} if header == "bearer" else {"X-API-Key": secret}
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return self.request("POST", "/graphql", json=body, headers=headers)


def make_client(
    service: Any | None = None, *, security: ApiSecurityConfig | None = None, wrap: Callable[[Any], Any] | None = None
) -> ApiClient:
    clock = ManualClock()
    client = LocalServiceClient(service if service is not None else make_service())
    app = create_app(wrap(client) if wrap else client, security=security or make_security(), rate_limiter=RateLimiter(clock))
    return ApiClient(app, clock)
