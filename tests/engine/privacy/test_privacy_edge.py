"""Tests of pseudonymisation, location coarsening and event sanitising at the edge."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import pytest

from engine.bus import InMemoryEventBus
from engine.errors import InvalidInputError
from engine.events import GeoPingEvent, parse_event
from engine.privacy import coarsen_location, pseudonymize, pseudonymize_account, sanitize_event_payload
from engine.replay import replay_file

KEY = b"test-key-for-privacy-edge"
TS = "2026-03-02T09:30:00+00:00"


def test_coarsen_location_snaps_to_grid() -> None:
    assert coarsen_location(52.37403, 4.88969) == (52.4, 4.9)
    assert coarsen_location(-33.86785, 151.20732) == (-33.9, 151.2)


def test_coarsen_location_is_idempotent() -> None:
    once = coarsen_location(40.41678, -3.70379)

    assert coarsen_location(*once) == once


def test_coarsen_location_stays_in_range() -> None:
    assert coarsen_location(89.99, 179.99) == (90.0, 180.0)
    assert coarsen_location(-90.0, -180.0) == (-90.0, -180.0)


@pytest.mark.parametrize(
    ("lat", "lon", "grid", "message"),
    [
        (91.0, 0.0, 0.1, r"lat must be a finite number of degrees in \[-90, 90\]; got 91.0"),
        (0.0, float("nan"), 0.1, r"lon must be a finite number of degrees in \[-180, 180\]; got nan"),
        (0.0, 0.0, 0.0, r"grid_deg must be a number in \(0, 10\] degrees; got 0.0"),
    ],
)
def test_coarsen_location_rejects_invalid_input(lat: float, lon: float, grid: float, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        coarsen_location(lat, lon, grid_deg=grid)


def test_geo_ping_event_coarsens_on_validation() -> None:
    event = GeoPingEvent(event_id="g1", customer_id="c1", ts=datetime(2026, 3, 2, tzinfo=timezone.utc), lat=52.37403, lon=4.88969)

    assert (event.lat, event.lon) == (52.4, 4.9)


def test_geo_ping_event_rejects_out_of_range_latitude() -> None:
    with pytest.raises(Exception, match="lat"):
        parse_event({"type": "geo_ping", "event_id": "g1", "customer_id": "c1", "ts": TS, "lat": 123.0, "lon": 4.0})


def test_pseudonymize_account_ignores_spaces_and_case() -> None:
    spaced = pseudonymize_account("NL91 ABNA 0417 1643 00", KEY)

    assert spaced == pseudonymize_account("nl91abna0417164300", KEY)
    assert spaced.startswith("acct-")
    assert len(spaced) == 21
    assert pseudonymize_account(spaced, KEY) == spaced


def test_sanitize_transaction_drops_free_text_and_keeps_category() -> None:
    """A person's name never survives; the merchant becomes a keyed pseudonym instead."""
    raw = {
        "type": "transaction",
        "event_id": "t1",
        "customer_id": "CUST-0042",
        "ts": TS,
        "amount": "-12.50",
        "currency": "EUR",
        "description": "Transfer to Marta Kowalczyk NL91ABNA0417164300",
        "merchant": "Marta Kowalczyk",
        "category": "groceries",
        "account_id": "NL91ABNA0417164300",
    }
    before = copy.deepcopy(raw)

    clean = sanitize_event_payload(raw, key=KEY)

    assert raw == before
    assert clean["customer_id"] == pseudonymize("CUST-0042", KEY)
    assert clean["account_id"] == pseudonymize_account("NL91ABNA0417164300", KEY)
    assert clean["category"] == "groceries"
    assert "description" not in clean
    assert clean["merchant"].startswith("merchant-")
    assert clean["merchant"] == sanitize_event_payload(raw, key=KEY)["merchant"]
    assert "Kowalczyk" not in json.dumps(clean)
    assert "Marta" not in json.dumps(clean)


def test_sanitize_keeps_known_brand_merchant() -> None:
    raw = {
        "type": "transaction",
        "event_id": "t2",
        "customer_id": "CUST-0042",
        "ts": TS,
        "amount": "-12.99",
        "currency": "EUR",
        "description": "NETFLIX.COM 14087249160 NL",
    }
    clean = sanitize_event_payload(raw, key=KEY)
    assert clean["merchant"] == "Netflix"
    assert clean["category"] == "subscriptions"
    assert "description" not in clean


def test_sanitize_transaction_categorises_when_source_has_no_category() -> None:
    raw = {"type": "transaction", "event_id": "t2", "customer_id": "c", "ts": TS, "amount": "-7.99",
           "currency": "EUR", "description": "NETFLIX.COM 14087249160, NL"}  # fmt: skip

    clean = sanitize_event_payload(raw, key=KEY)

    assert clean["category"] == "subscriptions"
    assert parse_event(clean).category == "subscriptions"


def test_sanitize_geo_ping_coarsens_and_drops_bad_coordinates() -> None:
    good = sanitize_event_payload(
        {"type": "geo_ping", "event_id": "g", "customer_id": "c", "ts": TS, "lat": 52.37403, "lon": 4.88969}, key=KEY
    )
    bad = sanitize_event_payload(
        {"type": "geo_ping", "event_id": "g", "customer_id": "c", "ts": TS, "lat": "52.37403x", "lon": 4.88969}, key=KEY
    )

    assert (good["lat"], good["lon"]) == (52.4, 4.9)
    assert (bad["lat"], bad["lon"]) == (None, None)


def test_sanitize_rejects_missing_customer_id() -> None:
    with pytest.raises(InvalidInputError, match=r"event customer_id must be a non-empty string .*; got None"):
        sanitize_event_payload({"type": "login", "event_id": "l"}, key=KEY)


def test_replay_file_coarsens_geo_pings(tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    event = {"type": "geo_ping", "event_id": "g1", "customer_id": "RAW-77", "ts": TS, "lat": 48.85837, "lon": 2.29448}
    path.write_text(json.dumps(event) + "\n", encoding="utf-8")
    bus = InMemoryEventBus()

    counts = replay_file(path, bus)

    (message,) = bus.messages("customer-events")
    published = json.loads(message.value)
    assert counts == {"published": 1, "unparseable": 0}
    assert (published["lat"], published["lon"]) == (48.9, 2.3)
    assert published["customer_id"] != "RAW-77"
    assert b"48.858" not in message.value
    assert b"RAW-77" not in message.value
