from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from engine.errors import InvalidInputError, UnknownOfferError
from engine.events import OfferFeedbackEvent, parse_event
from envs.bank import SyntheticBank


def _arrivals(bank: SyntheticBank, count: int) -> list:
    return [bank.next_arrival() for _ in range(count)]


def test_bank_arrivals_are_ordered_and_after_start(make_bank: Callable[..., SyntheticBank]) -> None:
    bank = make_bank()
    arrivals = _arrivals(bank, 2000)
    stamps = [arrival.ts for arrival in arrivals]
    assert stamps == sorted(stamps)
    assert stamps[0] >= bank.start
    assert {arrival.channel for arrival in arrivals} <= {"web", "mobile", "wearable"}
    assert len({arrival.customer_id for arrival in arrivals}) > 150


def test_bank_arrival_rate_follows_engagement(make_bank: Callable[..., SyntheticBank]) -> None:
    bank = make_bank(n_customers=300)
    counts = dict.fromkeys(bank.customer_ids, 0)
    arrival = bank.next_arrival()
    while arrival.ts < bank.start + timedelta(days=14):
        counts[arrival.customer_id] += 1
        arrival = bank.next_arrival()
    rates = np.array([bank.customer(customer_id).logins_per_day for customer_id in bank.customer_ids])
    observed = np.array([counts[customer_id] / 14 for customer_id in bank.customer_ids])
    assert np.corrcoef(rates, observed)[0, 1] > 0.8


def test_bank_same_seed_same_everything(make_bank: Callable[..., SyntheticBank]) -> None:
    first, second = make_bank(seed=3), make_bank(seed=3)
    for _ in range(300):
        a, b = first.next_arrival(), second.next_arrival()
        assert a == b
        events_a = first.events_until(a.customer_id, a.ts)
        events_b = second.events_until(b.customer_id, b.ts)
        assert events_a == events_b
        slate = ["cashback-card", "savings-goal", "travel-insurance"]
        assert first.respond(a.customer_id, "d1", slate, a.ts) == second.respond(b.customer_id, "d1", slate, b.ts)


def test_bank_other_seed_differs(make_bank: Callable[..., SyntheticBank]) -> None:
    first, second = make_bank(seed=3), make_bank(seed=4)
    assert _arrivals(first, 20) != _arrivals(second, 20)


def test_bank_events_independent_of_call_order(make_bank: Callable[..., SyntheticBank]) -> None:
    first, second = make_bank(seed=5), make_bank(seed=5)
    until = first.start + timedelta(days=3)
    ids = first.customer_ids[:30]
    forward = {customer_id: first.events_until(customer_id, until) for customer_id in ids}
    backward = {customer_id: second.events_until(customer_id, until) for customer_id in reversed(ids)}
    assert forward == backward


def test_bank_first_call_returns_warmup_history(make_bank: Callable[..., SyntheticBank]) -> None:
    bank = make_bank(warmup_days=45)
    customer_id = bank.customer_ids[0]
    events = bank.events_until(customer_id, bank.start)
    assert events[0].ts >= bank.start - timedelta(days=45)
    assert events[0].ts < bank.start - timedelta(days=35)
    assert events[-1].ts <= bank.start
    assert bank.events_until(customer_id, bank.start) == []
    later = bank.events_until(customer_id, bank.start + timedelta(days=7))
    assert later and later[0].ts > bank.start


def test_bank_events_until_rejects_going_back(make_bank: Callable[..., SyntheticBank]) -> None:
    bank = make_bank()
    customer_id = bank.customer_ids[0]
    bank.events_until(customer_id, bank.start)
    with pytest.raises(InvalidInputError, match="time only moves forward"):
        bank.events_until(customer_id, bank.start - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda bank: bank.events_until("cust-99999", bank.start), InvalidInputError, "is not in this bank"),
        (lambda bank: bank.events_until(bank.customer_ids[0], datetime(2025, 1, 1)), InvalidInputError, "timezone-aware"),
        (lambda bank: bank.respond(bank.customer_ids[0], "d", ["no-such-offer"], bank.start), UnknownOfferError, "not in the catalog"),
        (lambda bank: bank.respond(bank.customer_ids[0], "d", ["savings-goal"] * 2, bank.start), InvalidInputError, "more than once"),
        (lambda bank: bank.respond(bank.customer_ids[0], "", ["savings-goal"], bank.start), InvalidInputError, "decision_id"),
        (lambda bank: bank.oracle_slate(bank.customer_ids[0], ["savings-goal"], 0, None), InvalidInputError, "k must be"),
        (lambda bank: bank.expected_reward(bank.customer_ids[0], "savngs-goal"), UnknownOfferError, "Did you mean savings-goal"),
    ],
)
def test_bank_rejects_invalid_input(make_bank, call, error: type[Exception], message: str) -> None:
    bank = make_bank(n_customers=5)
    with pytest.raises(error, match=message):
        call(bank)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_customers": 0}, {"seed": -1}, {"warmup_days": -2}, {"start": datetime(2025, 1, 1)}],
)
def test_bank_rejects_bad_settings(make_bank, kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        make_bank(**kwargs)


def test_bank_feedback_inside_attribution_windows(make_bank, reward_config) -> None:
    bank = make_bank()
    slate = ["cashback-card", "overdraft-buffer", "travel-insurance"]
    seen_ids: set[str] = set()
    kinds: set[str] = set()
    for index in range(400):
        arrival = bank.next_arrival()
        feedback = bank.respond(arrival.customer_id, f"dec-{index}", slate, arrival.ts)
        impressions = [event.offer_id for event in feedback if event.feedback == "impression"]
        assert sorted(impressions) == sorted(slate)
        assert [event.ts for event in feedback] == sorted(event.ts for event in feedback)
        for event in feedback:
            assert isinstance(event, OfferFeedbackEvent)
            assert parse_event(event.model_dump(mode="json")) == event
            delay = event.ts - arrival.ts
            assert timedelta(0) < delay < reward_config.attribution_window[event.feedback]
            assert event.decision_id == f"dec-{index}"
            assert event.customer_id == arrival.customer_id
            assert event.event_id not in seen_ids
            seen_ids.add(event.event_id)
            kinds.add(event.feedback)
    assert kinds == {"impression", "click", "accept", "reject", "dismiss"}


def test_bank_draws_ignore_decision_id(make_bank) -> None:
    first, second = make_bank(seed=9), make_bank(seed=9)
    slate = ["index-fund", "savings-goal"]
    for index in range(200):
        a, b = first.next_arrival(), second.next_arrival()
        answer_a = first.respond(a.customer_id, f"policy-a-{index}", slate, a.ts)
        answer_b = second.respond(b.customer_id, f"policy-b-{index}", slate, b.ts)
        assert [(e.offer_id, e.feedback, e.ts) for e in answer_a] == [(e.offer_id, e.feedback, e.ts) for e in answer_b]


def test_bank_realised_reward_matches_expected(make_bank) -> None:
    bank = make_bank(n_customers=3000, seed=2)
    slate = ["cashback-card", "savings-goal", "travel-insurance"]
    realised, expected = [], []
    for customer_id in bank.customer_ids:
        expected.append(bank.expected_slate_reward(customer_id, slate, bank.start))
        feedback = bank.respond(customer_id, f"d-{customer_id}", slate, bank.start)
        realised.append(sum(bank.feedback_reward(feedback).values()))
    standard_error = np.std(realised) / np.sqrt(len(realised))
    assert abs(np.mean(realised) - np.mean(expected)) < 4 * standard_error


def test_bank_fatigue_lowers_expected_reward(make_bank) -> None:
    bank = make_bank(n_customers=20)
    customer_id = bank.customer_ids[0]
    fresh = bank.expected_reward(customer_id, "savings-goal", 1, bank.start)
    for hour in range(3):
        ts = bank.start + timedelta(hours=hour)
        bank.respond(customer_id, f"d{hour}", ["savings-goal"], ts)
    tired = bank.expected_reward(customer_id, "savings-goal", 1, bank.start + timedelta(hours=5))
    rested = bank.expected_reward(customer_id, "savings-goal", 1, bank.start + timedelta(days=8))
    assert tired < fresh
    assert rested >= tired
    assert bank.expected_reward(customer_id, "savings-goal") == pytest.approx(fresh)


def test_bank_oracle_slate_ranks_by_expected_reward(make_bank, catalog) -> None:
    bank = make_bank(n_customers=50)
    ids = list(catalog.ids)
    for customer_id in bank.customer_ids:
        slate = bank.oracle_slate(customer_id, ids, 3, None)
        values = [bank.expected_reward(customer_id, offer_id) for offer_id in slate]
        best_other = max(bank.expected_reward(customer_id, offer_id) for offer_id in ids if offer_id not in slate)
        assert len(slate) == 3
        assert values == sorted(values, reverse=True)
        assert values[-1] >= best_other
    assert bank.oracle_slate(bank.customer_ids[0], ["savings-goal"], 3, None) == ["savings-goal"]


def test_bank_oracle_beats_random_slates(make_bank, catalog) -> None:
    bank = make_bank(n_customers=500, seed=11)
    rng = np.random.default_rng(0)
    ids = list(catalog.ids)
    oracle, uniform = [], []
    for _ in range(3000):
        arrival = bank.next_arrival()
        eligible = [offer_id for offer_id in ids if rng.random() < 0.8] or ids
        best = bank.oracle_slate(arrival.customer_id, eligible, 3, arrival.ts)
        shown = list(rng.choice(eligible, size=min(3, len(eligible)), replace=False))
        oracle.append(bank.expected_slate_reward(arrival.customer_id, best, arrival.ts))
        uniform.append(bank.expected_slate_reward(arrival.customer_id, shown, arrival.ts))
    assert np.mean(oracle) >= 1.5 * np.mean(uniform)


def test_bank_repr_names_size_and_seed(make_bank) -> None:
    text = repr(make_bank(n_customers=12, seed=4))
    assert "n_customers=12" in text
    assert "seed=4" in text


def test_bank_accepts_non_utc_timestamps(make_bank) -> None:
    bank = make_bank(n_customers=5)
    customer_id = bank.customer_ids[0]
    berlin = timezone(timedelta(hours=1))
    events = bank.events_until(customer_id, bank.start.astimezone(berlin))
    assert events and events[-1].ts <= bank.start
