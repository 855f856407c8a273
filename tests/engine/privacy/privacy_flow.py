"""The real flow with known raw values: replay, profile worker, dashboard, feedback, rewards.

The privacy tests run this flow on the in-memory bus and stores and on Kafka plus Redis,
then look for the raw values everywhere the engine writes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from api.auth import ApiKeyConfig
from api.http_app import LocalServiceClient, create_app
from api.security import ApiSecurityConfig
from api.service import DashboardService
from engine.audit_store import AuditStore
from engine.bus import ALL_TOPICS, TOPIC_DEAD_LETTER, BusMessage, EventBus
from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.consent import ConsentRegistry
from engine.decision_store import DecisionStore
from engine.features import FeatureEncoder
from engine.loop import default_categorizer
from engine.profile_store import ProfileStore
from engine.replay import replay_file
from engine.rewards import RewardJoiner
from engine.snapshot_store import InMemorySnapshotStore
from engine.workers import FeedbackWorker, ProfileWorker
from policies import make_learner

RAW_ID = "CUST-4471-RAWID"
RAW_NAME = "Marta Kowalczyk"
RAW_ACCOUNT = "NL91ABNA0417164300"
RAW_LAT, RAW_LON = 52.37403, 4.88969
# Every fragment that would give a raw value away, matched case-insensitively.
FORBIDDEN: tuple[str, ...] = (
    RAW_ID,
    "4471-rawid",
    "kowalczyk",
    RAW_ACCOUNT,
    "0417164300",
    "52.374",
    "4.8896",
)
ADMIN_KEY = "admin-key-for-privacy-tests-0001"


def leaks(text: str) -> list[str]:
    """Return the forbidden fragments found in ``text``."""
    folded = text.casefold()
    return [fragment for fragment in FORBIDDEN if fragment.casefold() in folded]


def raw_events(now: datetime) -> list[dict[str, Any]]:
    """Return the customer's raw events over the last three days, one of them invalid."""
    day = timedelta(days=1)
    ts = [(now - day * n).isoformat() for n in (3, 2, 1)]
    return [
        {"type": "balance_snapshot", "event_id": "e-bal", "customer_id": RAW_ID, "ts": ts[0], "balance": "2400.00",
         "currency": "EUR", "account_id": RAW_ACCOUNT},
        {"type": "transaction", "event_id": "e-tx", "customer_id": RAW_ID, "ts": ts[1], "amount": "-120.00",
         "currency": "EUR", "description": f"SEPA transfer to {RAW_NAME} {RAW_ACCOUNT}", "merchant": RAW_NAME,
         "account_id": RAW_ACCOUNT},
        {"type": "login", "event_id": "e-login", "customer_id": RAW_ID, "ts": ts[2], "channel": "web"},
        {"type": "geo_ping", "event_id": "e-geo", "customer_id": RAW_ID, "ts": ts[2], "lat": RAW_LAT, "lon": RAW_LON,
         "country": "NL"},
        # Invalid (no currency): the profile worker dead-letters it, with its sanitised payload.
        {"type": "transaction", "event_id": "e-bad", "customer_id": RAW_ID, "ts": ts[2], "amount": "-5.00",
         "description": f"card payment {RAW_NAME}", "account_id": RAW_ACCOUNT},
    ]  # fmt: skip


def write_events(path: Path, events: Iterable[dict[str, Any]]) -> Path:
    """Write ``events`` as JSON lines."""
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")
    return path


def build_service(
    *,
    profiles: ProfileStore,
    decisions: DecisionStore,
    audit: AuditStore,
    consent: ConsentRegistry,
    bus: EventBus,
) -> DashboardService:
    """Return a DashboardService over the given stores with the default catalog and a fresh LinTS policy."""
    catalog = load_catalog()
    policy = load_policy_config("lints")
    snapshot = make_learner(policy, dim=FeatureEncoder.from_names(policy.features).dim).snapshot()
    return DashboardService(
        catalog=catalog,
        policy_config=policy,
        reward_config=load_reward_config(),
        profiles=profiles,
        decisions=decisions,
        snapshots=InMemorySnapshotStore(),
        bus=bus,
        initial_snapshot=snapshot,
        seed=7,
        consent=consent,
        audit=audit,
    )


def security() -> ApiSecurityConfig:
    """An ingress config with one admin key (ADMIN_KEY)."""
    return ApiSecurityConfig(keys=(ApiKeyConfig(name="privacy-admin", key=ADMIN_KEY, scopes=("admin",)).hashed(),))


def call_app(app: Any, requests: list[tuple[str, str, dict[str, Any] | None]]) -> list[httpx.Response]:
    """Send ``(method, path, json)`` requests to an ASGI app with the admin key; return the responses."""

    async def send() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            responses = []
            for method, path, body in requests:
                responses.append(await client.request(method, path, json=body, headers={"X-API-Key": ADMIN_KEY}))
            return responses

    return asyncio.run(send())


@dataclass
class FlowResult:
    """What the flow produced: the decision id and the texts to scan."""

    decision_id: str
    customer_id: str
    metrics_text: str
    graphql_bodies: list[str]


def run_flow(
    tmp_path: Path,
    *,
    bus: EventBus,
    service: DashboardService,
    consent: ConsentRegistry,
    poll_timeout_s: float,
) -> FlowResult:
    """Replay the raw events, apply them, decide through the API, accept an offer and settle its reward."""
    now = datetime.now(timezone.utc)
    replay_file(write_events(tmp_path / "raw.jsonl", raw_events(now)), bus)
    profile_worker = ProfileWorker(
        bus, service.profiles, default_categorizer, consent=consent, dropped_customers=consent.is_erased,
        group_id=f"privacy-profiles-{time.monotonic_ns()}",
    )  # fmt: skip
    run_until(lambda: profile_worker.step(timeout_s=0.5), lambda: profile_worker.stats.messages >= 5, poll_timeout_s)
    profile_worker.close()

    app = create_app(LocalServiceClient(service), security=security())
    dashboard_query = '{ personalizedDashboard(userId: "%s", channel: web) { decisionId offers { id reason } } }' % RAW_ID
    (dashboard,) = call_app(app, [("POST", "/graphql", {"query": dashboard_query})])
    payload = dashboard.json()["data"]["personalizedDashboard"]
    decision_id = payload["decisionId"]
    offer_id = payload["offers"][0]["id"]
    feedback_query = 'mutation { recordFeedback(decisionId: "%s", offerId: "%s", type: accept) { accepted } }' % (
        decision_id,
        offer_id,
    )
    audit_query = '{ decision(decisionId: "%s") { customerId features { name value } offers { reason } } }' % decision_id
    feedback, audit, metrics = call_app(
        app, [("POST", "/graphql", {"query": feedback_query}), ("POST", "/graphql", {"query": audit_query}), ("GET", "/metrics", None)]
    )

    joiner = RewardJoiner(service.reward_config, service.decisions, {o.id: o.business_value for o in service.catalog.offers})
    feedback_worker = FeedbackWorker(bus, joiner, service.profiles, group_id=f"privacy-feedback-{time.monotonic_ns()}")
    run_until(lambda: feedback_worker.step(timeout_s=0.5), lambda: feedback_worker.stats.applied >= 1, poll_timeout_s)
    feedback_worker.close()
    bus.flush()
    return FlowResult(
        decision_id=decision_id,
        customer_id=audit.json()["data"]["decision"]["customerId"],
        metrics_text=metrics.text,
        graphql_bodies=[dashboard.text, feedback.text, audit.text],
    )


def run_until(step: Callable[[], object], done: Callable[[], bool], timeout_s: float) -> None:
    """Call ``step`` until ``done()`` or the timeout; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"the stream step did not finish within {timeout_s} s")
        step()


def message_texts(messages: Iterable[BusMessage]) -> list[str]:
    """Return key and value of each message as text, with dead-letter payloads decoded."""
    texts = []
    for message in messages:
        value = message.value.decode("utf-8", "replace")
        texts.append((message.key or b"").decode("utf-8", "replace") + " " + value)
        if message.topic == TOPIC_DEAD_LETTER and value:
            texts.append(base64.b64decode(json.loads(value)["payload_base64"]).decode("utf-8", "replace"))
    return texts


def read_all_topics(bus: EventBus, *, expected: int, timeout_s: float) -> list[BusMessage]:
    """Read every topic from the beginning with a new consumer group until ``expected`` messages arrived."""
    consumer = bus.consumer(list(ALL_TOPICS), group_id=f"privacy-scan-{time.monotonic_ns()}")
    messages: list[BusMessage] = []
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    try:
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_s=0.5)
            messages.extend(batch)
            if len(messages) >= expected:
                if batch:
                    quiet_since = time.monotonic()
                elif quiet_since is not None and time.monotonic() - quiet_since > 1.0:
                    break
    finally:
        consumer.close()
    return messages
