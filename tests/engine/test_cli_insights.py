"""The statement commands: `offerloop import` through the event bus and `offerloop insights` offline."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from engine.bus import TOPIC_CUSTOMER_EVENTS, InMemoryEventBus
from engine.cli_insights import import_command, import_statement, insights_command, statement_insights
from engine.errors import InvalidInputError, StatementError
from engine.features import compute_features
from engine.insights.keys import SIGNALS
from engine.loop import default_categorizer
from engine.privacy import pseudonymize
from engine.profile_store import InMemoryProfileStore
from engine.workers import ProfileWorker

STATEMENTS = Path(__file__).resolve().parents[1] / "data" / "statements"
FILES = sorted(
    path for path in STATEMENTS.rglob("*") if path.is_file() and path.parent.name in {"ofx", "camt053", "mt940", "csv"}
)
CUSTOMER = "bank-customer-4711"


def cli() -> typer.Typer:
    """The two commands registered as engine.cli registers them."""
    app = typer.Typer(add_completion=False)
    app.command("import")(import_command)
    app.command("insights")(insights_command)
    return app


def drain(worker: ProfileWorker) -> None:
    while worker.step(timeout_s=0.0):
        pass


@pytest.mark.parametrize("path", FILES, ids=[f"{path.parent.name}/{path.name}" for path in FILES])
def test_insights_command_for_every_statement(path: Path) -> None:
    result = CliRunner().invoke(cli(), ["insights", str(path), "--json"])

    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["transactions"] > 0
    assert set(data["signals"]) == set(SIGNALS)
    for insight in data["insights"]:
        assert set(insight) == {"category", "prediction", "value", "unit", "confidence", "reason"}
        assert insight["reason"].endswith(".")


def test_insights_command_prints_text() -> None:
    path = STATEMENTS / "csv" / "bank2ynab-bunq.csv"

    result = CliRunner().invoke(cli(), ["insights", str(path), "--tz", "Europe/Amsterdam", "--now", "2018-12-20"])

    assert result.exit_code == 0, result.output
    assert "as of 2018-12-20T00:00:00+01:00 (Europe/Amsterdam)" in result.output
    assert "- subscriptions:" in result.output


def test_insights_command_rejects_bad_options() -> None:
    path = STATEMENTS / "csv" / "bank2ynab-bunq.csv"

    bad_zone = CliRunner().invoke(cli(), ["insights", str(path), "--tz", "Nowhere/Special"])
    bad_now = CliRunner().invoke(cli(), ["insights", str(path), "--now", "yesterday"])

    assert isinstance(bad_zone.exception, InvalidInputError)
    assert "'Nowhere/Special' is not a known IANA time zone" in str(bad_zone.exception)
    assert isinstance(bad_now.exception, InvalidInputError)
    assert "--now must be an ISO 8601 date" in str(bad_now.exception)


def test_statement_insights_default_to_the_day_after() -> None:
    result = statement_insights(STATEMENTS / "mt940" / "jejik-ing.sta")

    assert result.as_of.isoformat() == "2010-07-24T12:00:00+00:00"
    assert result.currency == "EUR"


def test_import_is_idempotent_through_the_bus() -> None:
    bus = InMemoryEventBus()
    profiles = InMemoryProfileStore()
    worker = ProfileWorker(bus, profiles, default_categorizer)
    # Four days of May 2011; statements spanning more than the profile's 90 days count
    # their oldest entries as stale on a re-import instead, which changes a counter.
    path = STATEMENTS / "mt940" / "jejik-abnamro.sta"

    first = import_statement(path, customer=CUSTOMER, bus=bus)
    drain(worker)
    customer_id = pseudonymize(CUSTOMER)
    after_first = profiles.get(customer_id)
    assert after_first is not None
    assert worker.stats.applied == first.published == first.transactions + first.balances

    second = import_statement(path, customer=CUSTOMER, bus=bus)
    drain(worker)

    assert second.published == first.published
    assert worker.stats.duplicates == second.published
    assert worker.stats.applied == first.published
    assert profiles.get(customer_id).to_bytes() == after_first.to_bytes()


def test_reimport_of_a_long_statement_changes_no_insight() -> None:
    bus = InMemoryEventBus()
    profiles = InMemoryProfileStore()
    worker = ProfileWorker(bus, profiles, default_categorizer)
    path = STATEMENTS / "mt940" / "jejik-rabobank.sta"  # 15 months

    first = import_statement(path, customer=CUSTOMER, bus=bus)
    drain(worker)
    before = profiles.get(pseudonymize(CUSTOMER))
    import_statement(path, customer=CUSTOMER, bus=bus)
    drain(worker)
    after = profiles.get(pseudonymize(CUSTOMER))

    assert worker.stats.applied == first.published
    assert after.extra == before.extra
    assert after.windows == before.windows
    assert after.days == before.days


def test_import_publishes_pseudonymised_keys_only() -> None:
    bus = InMemoryEventBus()

    summary = import_statement(STATEMENTS / "csv" / "bank2ynab-bunq.csv", customer=CUSTOMER, bus=bus)
    messages = bus.messages(TOPIC_CUSTOMER_EVENTS)

    assert len(messages) == summary.published == 7
    assert {message.key for message in messages} == {pseudonymize(CUSTOMER).encode()}
    assert all(CUSTOMER.encode() not in message.value for message in messages)
    stamps = [json.loads(message.value)["ts"] for message in messages]
    assert stamps == sorted(stamps)


def test_imported_profile_gets_insight_signals() -> None:
    bus = InMemoryEventBus()
    profiles = InMemoryProfileStore()
    worker = ProfileWorker(bus, profiles, default_categorizer)

    import_statement(STATEMENTS / "csv" / "csv2ofx-ingesp.csv", customer=CUSTOMER, bus=bus)
    drain(worker)
    profile = profiles.get(pseudonymize(CUSTOMER))

    assert profile is not None and profile.last_event is not None
    features = compute_features(profile, datetime.fromtimestamp(profile.last_event + 86400, timezone.utc))
    assert set(SIGNALS) <= set(features)
    assert features["segment_id"] >= 1


def test_import_rejects_empty_customer_and_bad_files(tmp_path: Path) -> None:
    bus = InMemoryEventBus()
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")

    with pytest.raises(InvalidInputError, match="customer must be a non-empty customer id"):
        import_statement(STATEMENTS / "csv" / "bank2ynab-bunq.csv", customer=" ", bus=bus)
    with pytest.raises(StatementError, match="empty"):
        import_statement(empty, customer=CUSTOMER, bus=bus)
    assert bus.messages(TOPIC_CUSTOMER_EVENTS) == []


@pytest.mark.kafka
def test_import_command_publishes_to_kafka(kafka_bootstrap_servers: str) -> None:
    from engine.runtime import build_bus

    customer = f"kafka-customer-{uuid.uuid4().hex[:8]}"
    path = STATEMENTS / "mt940" / "jejik-abnamro.sta"

    result = CliRunner().invoke(cli(), ["import", str(path), "--customer", customer, "--bootstrap-servers", kafka_bootstrap_servers])

    assert result.exit_code == 0, result.output
    assert "published 10 transactions and 2 balances" in result.output
    bus = build_bus(kafka_bootstrap_servers)
    try:
        consumer = bus.consumer([TOPIC_CUSTOMER_EVENTS], group_id=f"cli-insights-{uuid.uuid4().hex}")
        key = pseudonymize(customer).encode()
        received = []
        deadline = time.monotonic() + 20
        while len(received) < 12 and time.monotonic() < deadline:
            received += [message for message in consumer.poll(timeout_s=0.5) if message.key == key]
        consumer.close()
    finally:
        bus.close()
    assert len(received) == 12
