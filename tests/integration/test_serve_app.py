"""The Ray Serve application end to end over HTTP, with Kafka and Redis in the path."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from engine.bus import TOPIC_CUSTOMER_EVENTS
from engine.io.broker import pick_free_port
from engine.privacy import pseudonymize
from engine.runtime import build_bus
from engine.settings import ServiceSettings

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.ray]

DASHBOARD = """
query Dashboard($user: ID!, $channel: Channel) {
  personalizedDashboard(userId: $user, channel: $channel) {
    decisionId policyVersion coldStart
    offers { id title actionUrl score reason decisionId }
    insights { category prediction reason }
  }
}
"""
FEEDBACK = """
mutation Feedback($decision: ID!, $offer: ID!, $type: FeedbackType!) {
  recordFeedback(decisionId: $decision, offerId: $offer, type: $type) { accepted eventId }
}
"""


# Serve keeps the HTTP options of its first start in a Ray session, so both placements
# share one port.
HTTP_PORT = pick_free_port()


@pytest.fixture(scope="module", params=["ingress", "deployment"])
def service(request, ray_session, kafka_bootstrap_servers, redis_client):
    """The service with two replicas deciding: two ingress replicas, or one ingress and two policy replicas."""
    from api.runner import start_service

    prefix = f"ol-serve-{uuid.uuid4().hex[:8]}:"
    kwargs = redis_client.connection_pool.connection_kwargs
    settings = ServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        redis_url=f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 15)}",
        redis_key_prefix=prefix,
        consumer_group_prefix=f"serve-{uuid.uuid4().hex[:8]}",
        http_port=HTTP_PORT,
        policy_placement=request.param,
        policy_replicas=2,
        ingress_replicas=2 if request.param == "ingress" else 1,
        high_throughput=False,
        snapshot_poll_s=0.1,
        rate_per_s=10_000.0,
        rate_burst=10_000,
    )
    running = start_service(settings)
    HEADERS["Authorization"] = f"Bearer {running.admin_key}"
    yield running
    running.stop()
    for key in redis_client.scan_iter(match=f"{prefix}*", count=1000):
        redis_client.delete(key)


HEADERS: dict[str, str] = {}


def graphql(client: httpx.Client, url: str, query: str, **variables) -> dict:
    response = client.post(url, json={"query": query, "variables": variables}, headers=HEADERS, timeout=10)
    return response.json()


def test_requests_without_key_rejected(service):
    with httpx.Client() as client:
        response = client.post(service.graphql_url, json={"query": DASHBOARD, "variables": {"user": "x"}}, timeout=10)
    assert response.status_code == 401
    assert "Traceback" not in response.text


def test_dashboard_feedback_and_health(service):
    with httpx.Client() as client:
        body = graphql(client, service.graphql_url, DASHBOARD, user="serve-alice", channel="web")
        assert "errors" not in body, body
        dashboard = body["data"]["personalizedDashboard"]
        assert dashboard["coldStart"] is True
        assert 1 <= len(dashboard["offers"]) <= 3
        assert all(offer["reason"] and offer["decisionId"] == dashboard["decisionId"] for offer in dashboard["offers"])

        wearable = graphql(client, service.graphql_url, DASHBOARD, user="serve-alice", channel="wearable")
        assert len(wearable["data"]["personalizedDashboard"]["offers"]) == 1

        receipt = graphql(
            client, service.graphql_url, FEEDBACK, decision=dashboard["decisionId"], offer=dashboard["offers"][0]["id"], type="click"
        )
        assert receipt["data"]["recordFeedback"]["accepted"] is True

        unknown = graphql(client, service.graphql_url, FEEDBACK, decision="no-such-decision", offer="x", type="click")
        assert unknown["data"]["recordFeedback"] is None
        assert "not found" in unknown["errors"][0]["message"]
        assert "Traceback" not in json.dumps(unknown)

        bad_channel = graphql(client, service.graphql_url, DASHBOARD, user="u", channel="tv")
        assert "Channel" in bad_channel["errors"][0]["message"]

        health = client.get(f"{service.url}/healthz", headers=HEADERS).json()
        assert health["status"] == "ok"
        metrics = client.get(f"{service.url}/metrics", headers=HEADERS).text
        assert "offerloop_decisions_total" in metrics
        assert "offerloop_request_seconds_bucket" in metrics
        assert "offerloop_snapshot_version" in metrics


def test_kafka_events_change_dashboard_through_serve(service):
    user = f"serve-{uuid.uuid4().hex[:8]}"
    customer = pseudonymize(user)
    bus = build_bus(service.bootstrap_servers)
    now = datetime.now(timezone.utc)
    for index, (amount, text) in enumerate([("-11.99", "SPOTIFY"), ("-40.00", "LIDL")]):
        event = {
            "type": "transaction",
            "event_id": f"{user}-{index}",
            "customer_id": customer,
            "ts": (now - timedelta(days=index + 1)).isoformat(),
            "amount": amount,
            "currency": "EUR",
            "description": text,
        }
        bus.publish(TOPIC_CUSTOMER_EVENTS, json.dumps(event).encode(), key=customer.encode())
    bus.flush()
    bus.close()
    with httpx.Client() as client:
        deadline = time.monotonic() + 40
        while True:
            dashboard = graphql(client, service.graphql_url, DASHBOARD, user=user, channel="mobile")["data"]["personalizedDashboard"]
            if not dashboard["coldStart"]:
                break
            assert time.monotonic() < deadline, "the profile never reached the dashboard"
            time.sleep(0.3)
        assert any(insight["category"] == "subscriptions" for insight in dashboard["insights"])


def test_snapshot_hot_swap_fails_no_request(service):
    failures: list[str] = []
    versions: set[int] = set()
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client() as client:
            while not stop.is_set():
                try:
                    body = graphql(client, service.graphql_url, DASHBOARD, user=f"load-{uuid.uuid4().hex[:6]}")
                    if "errors" in body:
                        failures.append(json.dumps(body["errors"])[:200])
                    else:
                        versions.add(body["data"]["personalizedDashboard"]["policyVersion"])
                except httpx.HTTPError as err:
                    failures.append(repr(err))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    with httpx.Client() as client:
        for _ in range(12):
            body = graphql(client, service.graphql_url, DASHBOARD, user=f"fb-{uuid.uuid4().hex[:6]}")
            dashboard = body["data"]["personalizedDashboard"]
            graphql(client, service.graphql_url, FEEDBACK, decision=dashboard["decisionId"], offer=dashboard["offers"][0]["id"], type="accept")
            time.sleep(0.5)
    deadline = time.monotonic() + 30
    while len(versions) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(versions) >= 2, f"served versions {versions}"
