from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from engine.categories import CATEGORIES
from engine.events import BalanceSnapshotEvent, GeoPingEvent, LoginEvent, TransactionEvent, parse_event
from envs.bank import SyntheticBank
from envs.transactions import SAVINGS_ACCOUNT


@pytest.fixture(scope="module")
def history(catalog, reward_config) -> tuple[SyntheticBank, dict[str, list]]:
    """300 customers' 60-day warm-up plus 30 days after the start."""
    bank = SyntheticBank(catalog, reward_config, n_customers=300, seed=21)
    until = bank.start + timedelta(days=30)
    return bank, {customer_id: bank.events_until(customer_id, until) for customer_id in bank.customer_ids}


def _local(event: TransactionEvent, traits) -> datetime:
    return event.ts + timedelta(hours=traits.home.utc_offset_hours)


def _transactions(events: list) -> list[TransactionEvent]:
    return [event for event in events if isinstance(event, TransactionEvent)]


def test_stream_events_validate_through_parse_event(history) -> None:
    _, streams = history
    for events in list(streams.values())[:60]:
        for event in events:
            parsed = parse_event(event.model_dump(mode="json"))
            assert parsed == event


def test_stream_events_are_well_formed(history) -> None:
    bank, streams = history
    seen_ids: set[str] = set()
    for customer_id, events in streams.items():
        stamps = [event.ts for event in events]
        assert stamps == sorted(stamps), customer_id
        assert stamps[0] >= bank.origin, customer_id
        for event in events:
            assert event.customer_id == customer_id
            assert event.ts.tzinfo is not None and event.ts.utcoffset() == timedelta(0)
            assert event.event_id not in seen_ids, event.event_id
            seen_ids.add(event.event_id)
            if isinstance(event, TransactionEvent):
                assert isinstance(event.amount, Decimal)
                assert event.amount == event.amount.quantize(Decimal("0.01"))
                assert event.amount != 0
                assert event.currency == "EUR"
                assert event.category in CATEGORIES, event.category
                assert event.merchant and event.description


def test_stream_balance_after_is_running_balance(history) -> None:
    _, streams = history
    for events in list(streams.values())[:50]:
        transactions = _transactions(events)
        for before, after in zip(transactions, transactions[1:]):
            assert after.balance_after == before.balance_after + after.amount


def test_stream_contains_every_event_type(history) -> None:
    _, streams = history
    kinds = {type(event) for events in streams.values() for event in events}
    assert kinds == {TransactionEvent, LoginEvent, GeoPingEvent, BalanceSnapshotEvent}


def test_stream_has_salary_rent_subscriptions_groceries(history) -> None:
    bank, streams = history
    checked = 0
    without_groceries = []
    for customer_id, events in streams.items():
        traits = bank.customer(customer_id)
        transactions = _transactions(events)
        categories = [event.category for event in transactions]
        if "groceries" not in categories:
            without_groceries.append((customer_id, round(traits.budgets["groceries"])))
        if traits.pay_cadence == "monthly":
            salaries = [event for event in transactions if event.category == "salary" and "SALARY" in event.description]
            assert 2 <= len(salaries) <= 4, (customer_id, len(salaries))
            assert all(event.merchant == traits.employer for event in salaries)
        if traits.rent > 0:
            # 90 days from 2 November hold two or three monthly standing orders.
            rents = [event for event in transactions if event.category == "rent"]
            assert len(rents) in (2, 3), (customer_id, len(rents))
            assert all(event.amount == -Decimal(round(traits.rent * 100)).scaleb(-2) for event in rents)
            assert all(_local(event, traits).weekday() < 5 for event in rents)
            assert all(26 <= (b.ts - a.ts).days <= 35 for a, b in zip(rents, rents[1:]))
        for subscription in traits.subscriptions:
            charges = [event for event in transactions if event.merchant == subscription.merchant]
            assert len(charges) in (2, 3), (customer_id, subscription.merchant)
            for charge in charges:
                assert charge.category == "subscriptions"
                assert _local(charge, traits).day == subscription.day
                assert abs(float(-charge.amount) - subscription.amount) <= 0.05 * subscription.amount
        checked += 1
    assert checked == 300
    # A low earner who travels often keeps a small budget at home: a few weeks without a
    # grocery payment happen, but rarely, and only with a budget of a few shops a month.
    assert len(without_groceries) <= 3, without_groceries
    assert all(budget < 100 for _, budget in without_groceries), without_groceries


def test_stream_savers_pay_standing_order_to_savings(history) -> None:
    bank, streams = history
    savers = 0
    for customer_id, events in streams.items():
        traits = bank.customer(customer_id)
        orders = [event for event in _transactions(events) if event.merchant == SAVINGS_ACCOUNT]
        if traits.savings_transfer == 0:
            assert orders == [], customer_id
            continue
        savers += 1
        # 90 days hold two or three monthly standing orders, booked on business days.
        assert len(orders) in (2, 3), (customer_id, len(orders))
        assert all(event.category == "transfers_out" for event in orders)
        assert all(event.amount == -Decimal(round(traits.savings_transfer * 100)).scaleb(-2) for event in orders)
        assert all(_local(event, traits).weekday() < 5 for event in orders)
        assert traits.savings_transfer <= traits.savings_rate * (traits.monthly_income + traits.family_support) + 5.0
    assert savers > 100


def test_stream_pension_and_freelance_income(history) -> None:
    bank, streams = history
    cadences = set()
    for customer_id, events in streams.items():
        traits = bank.customer(customer_id)
        income = [event for event in _transactions(events) if event.amount > 0 and event.category != "refund"]
        if traits.pay_cadence == "pension":
            assert {event.category for event in income} == {"other_income"}, customer_id
            cadences.add("pension")
        if traits.pay_cadence == "irregular":
            invoices = [event for event in income if event.description.startswith("INVOICE")]
            assert all(event.category == "transfers_in" for event in invoices)
            cadences.add("irregular")
    assert cadences == {"pension", "irregular"}


def _weekend_share(events: list) -> float:
    spend = {"weekend": 0.0, "weekday": 0.0}
    for event in _transactions(events):
        if event.category in ("dining", "entertainment", "shopping"):
            local = event.ts + timedelta(hours=1)
            spend["weekend" if local.weekday() >= 5 else "weekday"] += float(-event.amount)
    total = spend["weekend"] + spend["weekday"]
    return spend["weekend"] / total if total else 0.0


def test_stream_weekend_spenders_skew_to_weekends(history) -> None:
    bank, streams = history
    skews = np.array([bank.customer(customer_id).weekend_skew for customer_id in streams])
    high = [customer_id for customer_id in streams if bank.customer(customer_id).weekend_skew > np.quantile(skews, 0.75)]
    low = [customer_id for customer_id in streams if bank.customer(customer_id).weekend_skew < np.quantile(skews, 0.25)]
    high_share = np.mean([_weekend_share(streams[customer_id]) for customer_id in high])
    low_share = np.mean([_weekend_share(streams[customer_id]) for customer_id in low])
    assert high_share > 0.5
    assert low_share < 0.4
    assert high_share > low_share + 0.15


def test_stream_overdraft_prone_go_negative(history) -> None:
    bank, streams = history

    def negative_share(customer_id: str) -> float:
        transactions = _transactions(streams[customer_id])
        return float(np.mean([event.balance_after < 0 for event in transactions]))

    prone = [c for c in streams if bank.customer(c).overdraft_tendency > 0.6]
    safe = [c for c in streams if bank.customer(c).overdraft_tendency < 0.15]
    assert len(prone) >= 10
    assert len(safe) >= 10
    assert np.mean([negative_share(c) > 0 for c in prone]) > 0.7
    assert np.mean([negative_share(c) > 0 for c in safe]) < 0.2
    fees = [e for c in prone for e in _transactions(streams[c]) if e.description.startswith("OVERDRAFT INTEREST")]
    assert fees and all(event.category == "fees" for event in fees)


def test_stream_travellers_spend_and_ping_abroad(history) -> None:
    bank, streams = history
    abroad_pings = 0
    for customer_id, events in streams.items():
        traits = bank.customer(customer_id)
        foreign = [e for e in events if isinstance(e, GeoPingEvent) and e.country != traits.home.country]
        if foreign:
            abroad_pings += 1
            travel = [e for e in _transactions(events) if e.category == "travel"]
            assert travel, customer_id
    assert abroad_pings >= 20


def test_stream_card_spend_respects_overdraft_limit(history) -> None:
    bank, streams = history
    for customer_id, events in streams.items():
        limit = Decimal(round(bank.customer(customer_id).overdraft_limit * 100)).scaleb(-2)
        for event in _transactions(events):
            if event.mcc == "6011" or event.description.startswith("CARD PAYMENT"):
                assert event.balance_after >= -limit, (customer_id, event)


def test_stream_logins_match_arrivals(make_bank: Callable[..., SyntheticBank]) -> None:
    bank = make_bank(n_customers=40)
    for _ in range(100):
        arrival = bank.next_arrival()
        events = bank.events_until(arrival.customer_id, arrival.ts)
        assert isinstance(events[-1], LoginEvent)
        assert events[-1].ts == arrival.ts
        assert events[-1].channel == arrival.channel
