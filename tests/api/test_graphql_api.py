"""The GraphQL endpoint: keys, scopes, rate limits, limits, consent, audit, erasure, error hygiene."""

from __future__ import annotations

from typing import Any

import pytest

from api_testing import DASHBOARD, KEYS, ApiClient, make_client, make_security, make_service
from engine.bus import TOPIC_CUSTOMER_EVENTS, InMemoryEventBus
from engine.events import parse_event


@pytest.fixture
def client() -> ApiClient:
    return make_client()


def error_code(response: Any) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


def test_dashboard_with_bearer_key(client: ApiClient) -> None:
    response = client.graphql(DASHBOARD, key="reader")

    assert response.status_code == 200, response.text
    dashboard = response.json()["data"]["personalizedDashboard"]
    assert dashboard["personalised"] is True
    assert dashboard["marketing"] is True
    assert dashboard["offers"]


def test_dashboard_with_x_api_key_header(client: ApiClient) -> None:
    response = client.graphql(DASHBOARD, key="reader", header="x-api-key")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("key", "message"), [(None, "missing API key"), ("not-a-configured-key-123", "API key not recognised")])
def test_request_without_valid_key_is_unauthenticated(client: ApiClient, key: str | None, message: str) -> None:
    response = client.graphql(DASHBOARD, key=key)

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_code(response) == "UNAUTHENTICATED"
    assert message in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("key", "query", "scope"),
    [
        ("writer", DASHBOARD, "dashboard:read"),
        ("reader", 'mutation { recordFeedback(decisionId: "d", offerId: "o", type: click) { accepted } }', "feedback:write"),
        ("reader", 'mutation { eraseCustomer(userId: "u-1") { customerId } }', "admin"),
        ("reader", 'mutation { setConsent(userId: "u-1", marketing: false) { marketing } }', "admin"),
        ("writer", '{ decision(decisionId: "d") { decisionId } }', "admin"),
    ],
)
def test_operation_needs_its_scope(client: ApiClient, key: str, query: str, scope: str) -> None:
    response = client.graphql(query, key=key)

    assert response.status_code in (200, 403), response.text
    assert error_code(response) == "FORBIDDEN"
    assert f"lacks scope '{scope}'" in response.json()["errors"][0]["message"]


def test_feedback_key_records_feedback(client: ApiClient) -> None:
    dashboard = client.graphql(DASHBOARD, key="reader").json()["data"]["personalizedDashboard"]
    query = 'mutation { recordFeedback(decisionId: "%s", offerId: "%s", type: click) { accepted } }' % (
        dashboard["decisionId"],
        dashboard["offers"][0]["id"],
    )

    response = client.graphql(query, key="writer")

    assert response.json() == {"data": {"recordFeedback": {"accepted": True}}}, response.text


def test_rate_limit_rejects_burst_then_recovers(client: ApiClient) -> None:
    statuses = [client.graphql(DASHBOARD, key="limited").status_code for _ in range(3)]
    rejected = client.graphql(DASHBOARD, key="limited")
    client.clock.now += 1.0
    recovered = client.graphql(DASHBOARD, key="limited")

    assert statuses == [200, 200, 429]
    assert rejected.status_code == 429
    assert rejected.headers["retry-after"] == "1"
    assert error_code(rejected) == "RATE_LIMITED"
    assert recovered.status_code == 200, recovered.text
    assert client.graphql(DASHBOARD, key="reader").status_code == 200


def test_depth_limit_rejects_deep_query() -> None:
    client = make_client(security=make_security(max_depth=2))

    response = client.graphql(DASHBOARD, key="reader")

    assert response.status_code == 400, response.text
    assert error_code(response) == "GRAPHQL_VALIDATION_FAILED"
    assert "query depth 3 exceeds the maximum of 2" in response.json()["errors"][0]["message"]


def test_syntax_error_reports_parse_failure() -> None:
    client = make_client()

    response = client.graphql("{ personalizedDashboard(userId: ", key="reader")

    assert response.status_code == 400, response.text
    assert error_code(response) == "GRAPHQL_PARSE_FAILED"
    assert "Syntax Error" in response.json()["errors"][0]["message"]


def test_cost_limit_rejects_costly_query() -> None:
    client = make_client(security=make_security(max_cost=20))

    response = client.graphql(DASHBOARD, key="reader")

    assert response.status_code == 400, response.text
    assert "query cost 34 exceeds the maximum of 20" in response.json()["errors"][0]["message"]


def test_introspection_off_hides_schema_and_suggestions(client: ApiClient) -> None:
    schema_query = client.graphql("{ __schema { queryType { name } } }")
    typo = client.graphql('{ personalizedDashboard(userId: "u") { offerz } }')
    openapi = client.request("GET", "/openapi.json")

    assert "introspection has been disabled" in schema_query.json()["errors"][0]["message"]
    assert typo.json()["errors"][0]["message"] == "Cannot query field 'offerz' on type 'Dashboard'."
    assert openapi.status_code == 404


def test_introspection_on_allows_schema_queries() -> None:
    client = make_client(security=make_security(introspection=True))

    response = client.graphql("{ __schema { queryType { name } } }")
    typo = client.graphql('{ personalizedDashboard(userId: "u") { offerz } }')

    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    assert "Did you mean" in typo.json()["errors"][0]["message"]


class FailingClient:
    """A service client whose every call fails with an internal error."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def dashboard(self, user_id: str, channel: str) -> dict[str, Any]:
        raise RuntimeError("database password is hunter2 at /srv/secret/path.py line 42")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_internal_error_reveals_no_details() -> None:
    client = make_client(wrap=FailingClient)

    response = client.graphql(DASHBOARD, key="reader")

    body = response.text
    assert response.status_code == 500, body
    assert error_code(response) == "INTERNAL_SERVER_ERROR"
    assert "internal error; quote reference" in body
    for detail in ("hunter2", "RuntimeError", "Traceback", "/srv/secret"):
        assert detail not in body


def test_invalid_input_message_is_kept(client: ApiClient) -> None:
    response = client.graphql('{ personalizedDashboard(userId: "") { decisionId } }', key="reader")

    assert error_code(response) == "BAD_USER_INPUT"
    assert "userId must be a non-empty string" in response.json()["errors"][0]["message"]


def test_consent_mutation_changes_dashboard_and_publishes_event() -> None:
    bus = InMemoryEventBus()
    service = make_service(bus)
    client = make_client(service)

    consent = client.graphql('mutation { setConsent(userId: "u-1", marketing: false, personalisation: false) { marketing personalisation erased } }')
    dashboard = client.graphql(DASHBOARD, key="reader").json()["data"]["personalizedDashboard"]

    assert consent.json()["data"]["setConsent"] == {"marketing": False, "personalisation": False, "erased": False}
    assert dashboard["personalised"] is False
    assert dashboard["marketing"] is False
    catalog = {offer.id: offer for offer in service.catalog.offers}
    assert all(catalog[offer["id"]].transactional or catalog[offer["id"]].mandatory for offer in dashboard["offers"])
    (message,) = bus.messages(TOPIC_CUSTOMER_EVENTS)
    event = parse_event(message.value)
    assert (event.type, event.marketing, event.personalisation) == ("consent", False, False)
    assert b"u-1" not in message.value


def test_consent_mutation_needs_a_flag(client: ApiClient) -> None:
    response = client.graphql('mutation { setConsent(userId: "u-1") { marketing } }')

    assert error_code(response) == "BAD_USER_INPUT"
    assert "must set marketing, personalisation or both" in response.json()["errors"][0]["message"]


def test_decision_query_returns_audit_record(client: ApiClient) -> None:
    decision_id = client.graphql(DASHBOARD, key="reader").json()["data"]["personalizedDashboard"]["decisionId"]
    query = """query($id: ID!) { decision(decisionId: $id) {
        decisionId customerId policyId policyVersion algorithm personalised marketing
        features { name value } eligible ineligible { offerId rule }
        offers { offerId position propensity score reason reasonFeatures contributions { feature weight } } } }"""

    response = client.graphql(query, variables={"id": decision_id})

    audit = response.json()["data"]["decision"]
    assert response.status_code == 200, response.text
    assert audit["decisionId"] == decision_id
    assert audit["customerId"] != "u-1"
    assert len(audit["customerId"]) == 32
    assert (audit["policyId"], audit["algorithm"]) == ("lints", "lints")
    assert {feature["name"] for feature in audit["features"]} >= {"balance", "income_90d"}
    assert audit["eligible"]
    assert audit["offers"]
    assert all(offer["reason"] for offer in audit["offers"])
    assert {item["offerId"] for item in audit["ineligible"]}.isdisjoint(audit["eligible"])


def test_decision_query_returns_null_for_unknown_id(client: ApiClient) -> None:
    response = client.graphql('{ decision(decisionId: "no-such-decision") { decisionId } }')

    assert response.json() == {"data": {"decision": None}}


def test_erase_mutation_removes_customer(client: ApiClient) -> None:
    decision_id = client.graphql(DASHBOARD, key="reader").json()["data"]["personalizedDashboard"]["decisionId"]

    erased = client.graphql('mutation { eraseCustomer(userId: "u-1") { decisionsDeleted auditRecordsDeleted } }')
    audit = client.graphql('{ decision(decisionId: "%s") { decisionId } }' % decision_id)
    again = client.graphql('mutation { setConsent(userId: "u-1", marketing: true) { marketing } }')

    assert erased.json()["data"]["eraseCustomer"] == {"decisionsDeleted": 1, "auditRecordsDeleted": 1}
    assert audit.json() == {"data": {"decision": None}}
    assert "erased" in again.json()["errors"][0]["message"]


def test_metrics_count_rejections_and_privacy_events(client: ApiClient) -> None:
    client.graphql(DASHBOARD, key=None)
    client.graphql('mutation { setConsent(userId: "u-9", marketing: false) { marketing } }')
    client.graphql(DASHBOARD.replace("u-1", "u-9"), key="reader")

    text = client.request("GET", "/metrics").text

    assert 'offerloop_api_rejections_total{reason="unauthenticated"} 1.0' in text
    assert 'offerloop_privacy_events_total{kind="consent_changes"} 1.0' in text
    assert 'offerloop_privacy_events_total{kind="service_only"} 1.0' in text


def test_health_needs_no_key(client: ApiClient) -> None:
    assert client.request("GET", "/healthz").json()["status"] == "ok"
    assert KEYS["admin"] not in client.request("GET", "/metrics").text


def test_metrics_series_exist_before_traffic(client: ApiClient) -> None:
    # Another replica may have served every request so far; this one still exports its series.
    text = client.request("GET", "/metrics").text

    assert 'offerloop_request_seconds_bucket{le="0.001",operation="query"} 0.0' in text
    assert 'offerloop_request_seconds_count{operation="mutation"} 0.0' in text
    assert 'offerloop_api_rejections_total{reason="rate_limited"} 0.0' in text
