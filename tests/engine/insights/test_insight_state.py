"""The incremental insight state kept in profile.extra: updates, bounds, serialisation, time zones."""

from __future__ import annotations

import copy
from datetime import date, datetime, timedelta, timezone

import msgpack
import pytest
from insight_builders import at, balance, build_profile, daily_spend, month_dates, payments, tx

from engine.config import load_catalog, load_reward_config
from engine.errors import InvalidInputError
from engine.events import LoginEvent, TransactionEvent
from engine.insights.config import load_insights_config
from engine.insights.keys import (
    FEATURES_KEY,
    KEY_DAYS,
    KEY_LAST_DAY,
    KEY_PENDING,
    KEY_RECURRING,
    KEY_SERIES,
    KEY_TABLE,
    SIGNALS,
    STATE_KEY,
)
from engine.insights.calendar import date_day
from engine.insights.state import (
    insight_state,
    refresh_insight_signals,
    set_insight_time_zone,
    update_insight_state,
)
from engine.profile import CustomerProfile
from envs.bank import SyntheticBank

CONFIG = load_insights_config()
START = date(2025, 1, 6)  # a Monday


def subscription_history() -> list:
    return payments("netflix", month_dates(START, 3, 14), -13.99, merchant="NETFLIX.COM", category="subscriptions")


def test_transactions_build_series_days_and_signals() -> None:
    events = subscription_history() + daily_spend("shop", START, 70, [10, 10, 10, 10, 20, 40, 0])
    profile = build_profile(events)
    state = insight_state(profile)

    assert state is not None
    recurring = [state[KEY_SERIES][series_id] for series_id in state[KEY_RECURRING]]
    assert [entry["m"] for entry in recurring] == ["NETFLIX.COM"]
    assert state[KEY_TABLE][1] >= CONFIG.spend.min_days
    assert set(SIGNALS) <= set(profile.extra[FEATURES_KEY])


def test_other_events_do_not_touch_the_state() -> None:
    profile = CustomerProfile("c1")
    login = LoginEvent(event_id="l1", customer_id="c1", ts=at(START))

    update_insight_state(profile, login, None)
    profile.apply(login)

    assert STATE_KEY not in profile.extra


def test_duplicate_event_is_counted_once() -> None:
    event = tx("once", at(START, 9), -25.0, merchant="BAKERY", category="dining")
    profile = build_profile([event])
    before = copy.deepcopy(profile.extra)

    assert profile.apply(event, category="dining").reason == "duplicate"
    assert profile.extra == before
    assert insight_state(profile)[KEY_DAYS][date_day(START)] == [2500, 0]


def test_state_survives_msgpack_round_trip() -> None:
    profile = build_profile(subscription_history() + daily_spend("shop", START, 40, [5, 5, 5, 5, 5, 9, 1]))

    restored = CustomerProfile.from_bytes(profile.to_bytes())

    assert restored.extra == profile.extra
    # Plain types only: msgpack packs the state without a default hook.
    msgpack.packb(profile.extra[STATE_KEY], use_bin_type=True)


def test_state_stays_bounded_with_many_payees() -> None:
    events = [
        tx(f"p{index}", at(START + timedelta(days=index // 5), 10 + index % 5), -(5.0 + index % 17), merchant=f"SHOP {index}", category="shopping")
        for index in range(600)
    ]
    events += subscription_history()
    profile = build_profile(events)
    state = insight_state(profile)

    assert len(state[KEY_SERIES]) <= CONFIG.state.max_series
    assert len(state[KEY_DAYS]) <= CONFIG.state.local_days
    assert any(state[KEY_SERIES][series_id]["m"] == "NETFLIX.COM" for series_id in state[KEY_RECURRING])
    assert len(msgpack.packb(state, use_bin_type=True)) < 12_000


def test_local_day_follows_the_state_time_zone() -> None:
    late_evening = datetime(2025, 3, 3, 23, 30, tzinfo=timezone.utc)  # 00:30 on 4 March in Amsterdam
    utc_profile = build_profile([tx("t", late_evening, -12.0, merchant="BAR", category="dining")])
    local_profile = build_profile([tx("t", late_evening, -12.0, merchant="BAR", category="dining")], time_zone="Europe/Amsterdam")

    assert list(insight_state(utc_profile)[KEY_DAYS]) == [date_day(date(2025, 3, 3))]
    assert list(insight_state(local_profile)[KEY_DAYS]) == [date_day(date(2025, 3, 4))]


def test_changing_time_zone_drops_day_totals_only() -> None:
    profile = build_profile(subscription_history() + daily_spend("shop", START, 30, [5] * 7))

    set_insight_time_zone(profile, "Asia/Tokyo")
    state = insight_state(profile)

    assert state[KEY_DAYS] == {}
    assert KEY_LAST_DAY not in state
    assert state[KEY_RECURRING]


def test_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="'Mars/Olympus' is not a known IANA time zone"):
        set_insight_time_zone(CustomerProfile("c1"), "Mars/Olympus")


def test_late_event_updates_a_completed_day() -> None:
    events = daily_spend("shop", START, 20, [10] * 7)
    profile = build_profile(events)
    day = date_day(START + timedelta(days=3))
    before = insight_state(profile)[KEY_DAYS][day][0]
    late = tx("late", at(START + timedelta(days=3), 20), -90.0, merchant="LATE SHOP", category="shopping")

    profile.apply(late, category="shopping")

    assert insight_state(profile)[KEY_DAYS][day][0] == before + 9000


def test_overdraft_signal_follows_balance_events() -> None:
    rent_days = month_dates(START, 3, 1)
    events = payments("rent", rent_days, -900.0, merchant="CITY HOUSING", category="rent")
    events.append(balance("b1", at(date(2025, 3, 20)), 2000.0))
    profile = build_profile(events)
    assert profile.extra[FEATURES_KEY]["overdraft_risk_14d"] == 0.0

    profile.apply(balance("b2", at(date(2025, 3, 22)), 150.0))

    features = profile.extra[FEATURES_KEY]
    assert features["overdraft_risk_14d"] == 1.0
    # Rent of 900 is due on 1 April 2025, ten days after 22 March.
    assert features["days_to_overdraft"] == 10.0


def test_refresh_signals_keeps_state() -> None:
    profile = build_profile(subscription_history())
    state_before = copy.deepcopy(insight_state(profile))

    signals = refresh_insight_signals(profile, at(date(2025, 4, 13), 9))

    assert signals["subscription_due_tomorrow"] == 1.0
    assert insight_state(profile) == state_before
    assert refresh_insight_signals(profile, at(date(2025, 4, 20), 9))["subscription_due_tomorrow"] == 0.0


@pytest.mark.parametrize("batch_days", [1, 5, 40])
def test_deferred_refresh_matches_refresh_per_event(batch_days: int) -> None:
    """Batches applied with refresh_insights=False, then refreshed once, leave the same profile as eager updates."""
    bank = SyntheticBank(load_catalog(), load_reward_config(), n_customers=12, seed=21, warmup_days=0)
    for customer_id in bank.customer_ids:
        eager = CustomerProfile(customer_id)
        deferred = CustomerProfile(customer_id)
        for stop in range(batch_days, 120 + 1, batch_days):
            batch = bank.events_until(customer_id, bank.start + timedelta(days=stop))
            for event in batch:
                category = event.category if isinstance(event, TransactionEvent) else None
                eager.apply(event, category=category)
                deferred.apply(event, category=category, refresh_insights=False)
            deferred.refresh_insights()
            assert deferred.extra == eager.extra, (customer_id, stop)


def test_deferred_refresh_leaves_pending_work_marked() -> None:
    profile = CustomerProfile("c1")
    for event in subscription_history():
        profile.apply(event, category=event.category, refresh_insights=False)
    assert insight_state(profile)[KEY_PENDING] != 0
    assert KEY_TABLE not in insight_state(profile)

    profile.refresh_insights()

    assert KEY_PENDING not in insight_state(profile)
    assert profile.extra == build_profile(subscription_history()).extra


def test_same_day_signals_are_reused() -> None:
    """refresh_insight_signals skips the work on the last event's local day; a full recomputation agrees."""
    bank = SyntheticBank(load_catalog(), load_reward_config(), n_customers=10, seed=5, warmup_days=0)
    checked = 0
    for customer_id in bank.customer_ids:
        profile = CustomerProfile(customer_id)
        for stop in range(3, 90, 3):
            for event in bank.events_until(customer_id, bank.start + timedelta(days=stop)):
                profile.apply(event, category=event.category if isinstance(event, TransactionEvent) else None)
            state = insight_state(profile)
            if state is None or profile.last_event is None:
                continue
            now = datetime.fromtimestamp(profile.last_event, timezone.utc) + timedelta(minutes=1)
            if date_day(now.date()) != state[KEY_LAST_DAY]:
                continue  # the minute after crosses midnight
            reused = refresh_insight_signals(copy.deepcopy(profile), now)
            full_profile = copy.deepcopy(profile)
            insight_state(full_profile)[KEY_PENDING] = [0, None]  # forces the full recomputation
            assert refresh_insight_signals(full_profile, now) == reused, (customer_id, stop)
            checked += 1
    assert checked > 100
