"""Incremental insight state: updated on every applied transaction and balance snapshot.

:func:`update_insight_state` is called by :meth:`engine.profile.CustomerProfile.apply`
after an event was applied (duplicates and stale events never reach it). It keeps in
``profile.extra["insights"]``:

* payment series per payee and amount level (:mod:`engine.insights.recurring`), at most
  ``state.max_series`` of them with ``state.max_occurrences`` payments each, and the ids
  of those that are recurring;
* spend and recurring spend per local day for the last ``state.local_days`` days, and
  the weekday table of the spend model (:mod:`engine.insights.spend`);
* the days of the latest income credits, the balance plan of the next days
  (:mod:`engine.insights.forecast`), the segment and the latest life event.

and writes the derived signals (:data:`engine.insights.keys.SIGNALS`) to
``profile.extra["features"]``, where :func:`engine.features.compute_features` picks
them up for eligibility rules and policies.

Cost per event: O(max_occurrences) for the payment's series and O(horizon) for the
overdraft signal, plus O(recurring series * horizon) for the plan when a recurring
series changes. The first event of a new local day also rebuilds the weekday table
(O(56 * 7)) and the plan, so that work is paid once per active day, and once a week the
segment and the life event. Measured on simulated customers (about 2.5 transactions a
day), this adds about 50 microseconds of CPU per event to the profile's 10
(benchmark in docs/insights.md). A batch of events can defer the table, the plan and
their signals to one :func:`refresh_insight_state` call at its end, which gives the same
state. A batch that spans many days, such as a customer's first history, then pays for
one rebuild instead of one per day.

Local days are counted in the state's time zone (UTC unless
:func:`set_insight_time_zone` set another), because events carry no time zone of the
customer.

Signals describe the state as of the latest event; :func:`refresh_insight_signals`
recomputes the date-dependent ones (due tomorrow, overdraft, stable income) for a later
request time without changing the state.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engine.categories import REFUND_CATEGORY
from engine.errors import InvalidInputError
from engine.events import BalanceSnapshotEvent, TransactionEvent
from engine.insights.calendar import local_day, zone
from engine.insights.config import InsightsConfig, load_insights_config
from engine.insights.forecast import cumulative_plan, first_risk_day
from engine.insights.income import main_income
from engine.insights.keys import (
    FEATURES_KEY,
    KEY_DAYS,
    KEY_FIRST_DAY,
    KEY_INCOME_DAYS,
    KEY_LAST_DAY,
    KEY_LIFE_EVENT,
    KEY_PENDING,
    KEY_PLAN,
    KEY_RECURRING,
    KEY_SEGMENT,
    KEY_SERIES,
    KEY_SLOW_CHECK,
    KEY_TABLE,
    KEY_TIME_ZONE,
    KEY_VERSION,
    LIFE_EVENTS,
    NO_OVERDRAFT_DAYS,
    PENDING_PLAN,
    PENDING_TABLE,
    SIGNAL_DAYS_TO_OVERDRAFT,
    SIGNAL_INCOME_STABLE,
    SIGNAL_LIFE_EVENT_SCORE,
    SIGNAL_OVERDRAFT_RISK,
    SIGNAL_SEGMENT,
    SIGNAL_SUBSCRIPTION_DUE_TOMORROW,
    SIGNALS,
    STATE_KEY,
    STATE_VERSION,
)
from engine.insights.life_events import detect_life_event
from engine.insights.recurring import (
    SERIES_CONFIDENCE,
    SERIES_DAYS,
    cancel_payment,
    observe_payment,
    payee_key,
    scheduled_prior,
)
from engine.insights.segments import UNKNOWN_SEGMENT, cached_segment_model, segment_vector
from engine.insights.spend import scheduled_due, weekday_table

if TYPE_CHECKING:
    from engine.profile import CustomerProfile

__all__ = [
    "SIGNAL_DEFAULTS",
    "new_insight_state",
    "insight_state",
    "state_time_zone",
    "set_insight_time_zone",
    "update_insight_state",
    "refresh_insight_state",
    "refresh_insight_signals",
    "signal_day",
    "write_signals",
]

logger = logging.getLogger(__name__)

# Income credits whose days are kept for the pay-cycle weight of the spend model.
MAX_INCOME_DAYS = 6
# Segments and life events move slowly, so they are recomputed at most this often (days).
SLOW_SIGNAL_DAYS = 7
NO_CHECK = -(10**9)
# When the series cap is exceeded, this share of the cap is freed at once, so that the
# scan for the least useful series is paid once per several new payees.
EVICTION_SHARE = 0.2
# A refund is matched to a payment of the same payee at most this many days before it.
# Card refunds for returned goods often take weeks.
REFUND_WINDOW_DAYS = 90
SIGNAL_DEFAULTS: dict[str, float] = {name: 0.0 for name in SIGNALS} | {SIGNAL_DAYS_TO_OVERDRAFT: NO_OVERDRAFT_DAYS}


def new_insight_state(time_zone: str = "UTC") -> dict[str, Any]:
    """Return an empty insight state counting local days in ``time_zone`` (an IANA name)."""
    return {
        KEY_VERSION: STATE_VERSION,
        KEY_TIME_ZONE: time_zone,
        KEY_SERIES: {},
        KEY_RECURRING: [],
        KEY_DAYS: {},
        KEY_INCOME_DAYS: [],
    }


def insight_state(profile: CustomerProfile) -> dict[str, Any] | None:
    """Return the profile's insight state, None when no transaction or balance was applied yet."""
    state = profile.extra.get(STATE_KEY)
    return state if isinstance(state, dict) and state.get(KEY_VERSION) == STATE_VERSION else None


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    return zone(name)


def state_time_zone(state: dict[str, Any]) -> tzinfo:
    """Return the time zone the state counts local days in."""
    return _zone(state[KEY_TIME_ZONE])


def set_insight_time_zone(profile: CustomerProfile, time_zone: ZoneInfo | str) -> None:
    """Count the profile's local days in ``time_zone`` from now on.

    Call it before the customer's first events. Changing the zone of a state that has
    days already drops the per-day spend, which was counted in the old zone, so spend
    predictions restart. Payment series are kept, with their days off by at most one.

    Raises:
        InvalidInputError: ``time_zone`` is not an IANA name or a ZoneInfo.
    """
    if isinstance(time_zone, ZoneInfo):
        name = time_zone.key
    elif isinstance(time_zone, str):
        zone(time_zone)
        name = time_zone
    else:
        raise InvalidInputError(
            f"time_zone must be a ZoneInfo or an IANA name such as 'Europe/Amsterdam'; got {type(time_zone).__name__}"
        )
    state = insight_state(profile)
    if state is None:
        profile.extra[STATE_KEY] = new_insight_state(name)
        return
    if state[KEY_TIME_ZONE] == name:
        return
    state[KEY_TIME_ZONE] = name
    state[KEY_DAYS] = {}
    for key in (KEY_FIRST_DAY, KEY_LAST_DAY, KEY_TABLE, KEY_PLAN):
        state.pop(key, None)


def update_insight_state(profile: CustomerProfile, event: Any, category: str | None, *, refresh: bool = True) -> None:
    """Fold one applied event into the profile's insight state and refresh the signals.

    Args:
        profile: the profile the event was just applied to; ``profile.balance`` is
            already updated.
        event: the applied event; only TransactionEvent and BalanceSnapshotEvent change
            anything, other events return at once.
        category: the category the profile used for a transaction, None to use the
            event's own.
        refresh: False folds the event but leaves the weekday table, the plan and the
            signals that depend on them for :func:`refresh_insight_state`, which then
            gives the same state as refreshing after every event. A batch of events
            thus pays for one rebuild instead of one per new local day.
    """
    if not isinstance(event, (TransactionEvent, BalanceSnapshotEvent)):
        return
    config = load_insights_config()
    state = insight_state(profile)
    if state is None:
        state = new_insight_state()
        profile.extra[STATE_KEY] = state
    day = local_day(event.ts, state_time_zone(state))
    rolled = _advance(state, day, config)
    pending, table_income_days = state.pop(KEY_PENDING, (0, None))
    table_changed = rolled
    plan_changed = rolled
    if isinstance(event, TransactionEvent):
        recurring_changed, completed_day_changed = _record_transaction(state, event, category, day, config)
        plan_changed = plan_changed or recurring_changed
        table_changed = table_changed or completed_day_changed
    if table_changed:
        pending |= PENDING_TABLE
        # A refresh after every event builds the table from the income days known now and
        # keeps it when a salary arrives later the same day, so a deferred refresh must too.
        table_income_days = list(state[KEY_INCOME_DAYS])
    if plan_changed:
        pending |= PENDING_PLAN

    today = state[KEY_LAST_DAY]
    features = profile.extra.setdefault(FEATURES_KEY, {})
    for name, value in SIGNAL_DEFAULTS.items():
        features.setdefault(name, value)
    # Segments and life events read neither the table nor the plan, so they are not deferred.
    if rolled and today - state.get(KEY_SLOW_CHECK, NO_CHECK) >= SLOW_SIGNAL_DAYS:
        state[KEY_SLOW_CHECK] = today
        _write_slow_signals(profile, state, today, config, features)
    elif rolled:
        _write_life_signals(state, today, config, features)
    # Kept even when nothing else is stale: the balance, and so the overdraft signal, may have changed.
    state[KEY_PENDING] = [pending, table_income_days]
    if refresh:
        refresh_insight_state(profile)


def refresh_insight_state(profile: CustomerProfile) -> None:
    """Rebuild what deferred updates left stale: the weekday table, the plan and their signals.

    Call it once after a batch of ``update_insight_state(..., refresh=False)`` calls
    (:meth:`engine.profile.CustomerProfile.apply` with ``refresh_insights=False``) and
    before the profile is read or stored. Does nothing for a profile without insight state.
    """
    state = insight_state(profile)
    if state is None or KEY_PENDING not in state:
        return
    pending, table_income_days = state.pop(KEY_PENDING)
    config = load_insights_config()
    today = state[KEY_LAST_DAY]
    features = profile.extra.setdefault(FEATURES_KEY, {})
    if pending & PENDING_TABLE:
        _refresh_table(state, today, table_income_days, config)
    if pending or KEY_PLAN not in state:
        due = _horizon_due(state, today, config)
        state[KEY_PLAN] = cumulative_plan(state, today, config, due)
        _write_schedule_signals(state, today, config, features, due)
    days_to_overdraft = first_risk_day(state[KEY_PLAN], profile.balance, config)
    features[SIGNAL_OVERDRAFT_RISK] = 1.0 if days_to_overdraft < NO_OVERDRAFT_DAYS else 0.0
    features[SIGNAL_DAYS_TO_OVERDRAFT] = days_to_overdraft


def refresh_insight_signals(profile: CustomerProfile, now: datetime) -> dict[str, float]:
    """Return the signals recomputed for request time ``now``, and write them to the profile's features.

    The state itself is not changed. Work is O(number of recurring series * horizon),
    plus a weekday-table rebuild (bounded by the kept local days) when the latest
    event is more than a week before ``now``. There is no work when the latest event fell
    on the same local day as ``now``, because that event already refreshed the signals.
    """
    features = profile.extra.setdefault(FEATURES_KEY, {})
    for name, value in SIGNAL_DEFAULTS.items():
        features.setdefault(name, value)
    state = insight_state(profile)
    if state is None or KEY_LAST_DAY not in state:
        return {name: float(features[name]) for name in SIGNALS}
    today = max(local_day(now, state_time_zone(state)), state[KEY_LAST_DAY])
    if today == state[KEY_LAST_DAY] and KEY_PENDING not in state:
        # The last event refreshed every signal for this day (update_insight_state) and
        # nothing has changed the state since, so the stored values are current.
        return {name: float(features[name]) for name in SIGNALS}
    config = load_insights_config()
    due = _horizon_due(state, today, config)
    _write_schedule_signals(state, today, config, features, due)
    days_to_overdraft = first_risk_day(cumulative_plan(state, today, config, due), profile.balance, config)
    features[SIGNAL_OVERDRAFT_RISK] = 1.0 if days_to_overdraft < NO_OVERDRAFT_DAYS else 0.0
    features[SIGNAL_DAYS_TO_OVERDRAFT] = days_to_overdraft
    _write_life_signals(state, today, config, features)
    return {name: float(features[name]) for name in SIGNALS}


def signal_day(profile: CustomerProfile, now: datetime) -> int:
    """Return the local day :func:`refresh_insight_signals` computes for at ``now``.

    Returns -1 when the profile has no insight state, whose signals do not depend on the day.
    """
    state = insight_state(profile)
    if state is None or KEY_LAST_DAY not in state:
        return -1
    return int(max(local_day(now, state_time_zone(state)), state[KEY_LAST_DAY]))


def write_signals(profile: CustomerProfile, signals: Mapping[str, float]) -> None:
    """Write signals returned by :func:`refresh_insight_signals` back into the profile's features."""
    profile.extra.setdefault(FEATURES_KEY, {}).update(signals)


# ------------------------------------------------------------------ event folding
def _advance(state: dict[str, Any], day: int, config: InsightsConfig) -> bool:
    """Move the latest local day forward; return True when ``day`` starts a new local day."""
    if KEY_LAST_DAY not in state:
        state[KEY_FIRST_DAY] = day
        state[KEY_LAST_DAY] = day
        return True
    if day < state[KEY_FIRST_DAY]:
        state[KEY_FIRST_DAY] = day
    if day <= state[KEY_LAST_DAY]:
        return False
    state[KEY_LAST_DAY] = day
    oldest = day - config.state.local_days + 1
    days = state[KEY_DAYS]
    for expired in [kept for kept in days if kept < oldest]:
        del days[expired]
    return True


def _record_transaction(
    state: dict[str, Any], event: TransactionEvent, category: str | None, day: int, config: InsightsConfig
) -> tuple[bool, bool]:
    """Add a transaction to its series and day; return (recurring series changed, a completed day changed)."""
    amount = float(event.amount)
    cents = int(round(abs(amount) * 100))
    if cents == 0:
        return False, False

    outgoing = amount < 0
    name = category or event.category or ("other" if outgoing else "other_income")
    key = payee_key(event.merchant, event.description)
    label = event.merchant or event.description
    recurring_changed = False

    if outgoing:
        is_recurring = False
        if key:
            prior = scheduled_prior(event.description or label, name, config.recurring)
            series_id = observe_payment(
                state[KEY_SERIES],
                key=key,
                name=label,
                day=day,
                cents=cents,
                category=name,
                prior=prior,
                outgoing=True,
                config=config.recurring,
                max_occurrences=config.state.max_occurrences,
            )
            recurring_changed, is_recurring = _index_series(state, series_id, config)
        if day > state[KEY_LAST_DAY] - config.state.local_days:
            totals = state[KEY_DAYS].setdefault(day, [0, 0])
            totals[0] += cents
            if is_recurring:
                totals[1] += cents
        return recurring_changed, day < state[KEY_LAST_DAY]

    if name == REFUND_CATEGORY:
        return _cancel_refunded(state, key, day, cents, config)

    if key and name in config.income.categories and cents >= config.income.min_amount * 100:
        series_id = observe_payment(
            state[KEY_SERIES],
            key=key,
            name=label,
            day=day,
            cents=cents,
            category=name,
            # A salary is paid on a schedule by nature; other credits must show a cadence.
            prior=1.0 if name == "salary" else 0.0,
            outgoing=False,
            config=config.recurring,
            max_occurrences=config.state.max_occurrences,
        )
        recurring_changed, is_recurring = _index_series(state, series_id, config)
        if name == "salary" or is_recurring:
            _add_income_day(state[KEY_INCOME_DAYS], day)
    return recurring_changed, False


def _cancel_refunded(
    state: dict[str, Any], key: str, day: int, cents: int, config: InsightsConfig
) -> tuple[bool, bool]:
    """Take a refund off the payment it pays back, and return (recurring series changed, a completed day changed).

    A refund that matches no payment of the payee within :data:`REFUND_WINDOW_DAYS`
    changes nothing: the purchase predates the state or went to another payee name.
    """
    if not key:
        return False, False
    found = cancel_payment(
        state[KEY_SERIES], key=key, day=day, cents=cents, within_days=REFUND_WINDOW_DAYS, config=config.recurring
    )
    if found is None:
        return False, False
    series_id, paid_day, removed = found
    recurring: list[str] = state[KEY_RECURRING]
    listed = series_id in recurring
    totals = state[KEY_DAYS].get(paid_day)
    if totals is not None:
        totals[0] = max(0, totals[0] - cents)
        if listed:
            totals[1] = max(0, totals[1] - cents)
    completed_day_changed = totals is not None and paid_day < state[KEY_LAST_DAY]
    if removed:
        if listed:
            recurring.remove(series_id)
        return listed, completed_day_changed
    changed, _ = _index_series(state, series_id, config)
    return changed or listed, completed_day_changed


def _index_series(state: dict[str, Any], series_id: str, config: InsightsConfig) -> tuple[bool, bool]:
    """Keep the recurring index and the series cap; return (index or recurring series changed, series is recurring)."""
    series = state[KEY_SERIES]
    recurring: list[str] = state[KEY_RECURRING]
    is_recurring = series[series_id][SERIES_CONFIDENCE] >= config.recurring.min_confidence
    listed = series_id in recurring
    if is_recurring and not listed:
        recurring.append(series_id)
    elif listed and not is_recurring:
        recurring.remove(series_id)
    if len(series) > config.state.max_series:
        _evict(state, keep=series_id, config=config)
    return is_recurring or listed, is_recurring


def _evict(state: dict[str, Any], *, keep: str, config: InsightsConfig) -> None:
    """Drop the least useful series: not recurring, then debits, then the lowest confidence, then the stalest."""
    series = state[KEY_SERIES]
    recurring: list[str] = state[KEY_RECURRING]
    listed = set(recurring)
    surplus = len(series) - config.state.max_series + max(1, int(config.state.max_series * EVICTION_SHARE))
    # Income series are few (credits above income.min_amount) and need a month between
    # payments, so they outrank everyday card payees.
    ranked = sorted(
        (series_id for series_id in series if series_id != keep),
        key=lambda series_id: (
            series_id in listed,
            series_id.startswith("i"),
            series[series_id][SERIES_CONFIDENCE],
            series[series_id][SERIES_DAYS][-1],
        ),
    )
    for victim in ranked[:surplus]:
        del series[victim]
        if victim in listed:
            recurring.remove(victim)


def _add_income_day(days: list[int], day: int) -> None:
    if day in days:
        return
    days.append(day)
    days.sort()
    del days[:-MAX_INCOME_DAYS]


# ------------------------------------------------------------------ derived values
def _refresh_table(state: dict[str, Any], today: int, income_days: list[int], config: InsightsConfig) -> None:
    table = weekday_table(
        state[KEY_DAYS],
        first_day=state[KEY_FIRST_DAY],
        until_day=today,
        start_day=today,
        income_days=income_days,
        config=config,
    )
    if table is None:
        state.pop(KEY_TABLE, None)
    else:
        state[KEY_TABLE] = [today, table[0], table[1]]


def _horizon_due(state: dict[str, Any], today: int, config: InsightsConfig) -> list[tuple[int, float, float, str]]:
    """Return the recurring debits due over the forecast horizon at either confidence threshold.

    The plan and the due-tomorrow signal share this one pass over the series; each keeps
    the entries at or above its own threshold.
    """
    lowest = min(config.recurring.min_confidence, config.recurring.due_min_confidence)
    return scheduled_due(state, today, today + 1, today + config.forecast.horizon_days, lowest)


def _write_schedule_signals(
    state: dict[str, Any],
    today: int,
    config: InsightsConfig,
    features: dict[str, Any],
    due: list[tuple[int, float, float, str]],
) -> None:
    threshold = config.recurring.due_min_confidence
    tomorrow = today + 1
    due_tomorrow = any(day == tomorrow and confidence >= threshold for day, _, confidence, _ in due)
    features[SIGNAL_SUBSCRIPTION_DUE_TOMORROW] = 1.0 if due_tomorrow else 0.0
    income = main_income(state, today, config)
    features[SIGNAL_INCOME_STABLE] = 1.0 if income is not None and income.stable else 0.0


def _write_slow_signals(
    profile: CustomerProfile, state: dict[str, Any], today: int, config: InsightsConfig, features: dict[str, Any]
) -> None:
    segments = config.segments
    if today - state[KEY_FIRST_DAY] >= segments.min_tenure_days:
        model = cached_segment_model(str(segments.resolved_model_path()))
        vector = segment_vector(profile, state) if model is not None else None
        if model is not None and vector is not None:
            state[KEY_SEGMENT] = [model.assign(vector), today]
    features[SIGNAL_SEGMENT] = float(state[KEY_SEGMENT][0]) if KEY_SEGMENT in state else float(UNKNOWN_SEGMENT)

    found = detect_life_event(profile, state, today, config)
    if found is not None:
        previous = state.get(KEY_LIFE_EVENT)
        expired = previous is None or today - previous[2] > config.life_events.signal_days
        if expired or found[1] >= previous[1] or found[0] == previous[0]:
            state[KEY_LIFE_EVENT] = [found[0], found[1], today if expired or found[0] != previous[0] else previous[2]]
    _write_life_signals(state, today, config, features)


def _write_life_signals(state: dict[str, Any], today: int, config: InsightsConfig, features: dict[str, Any]) -> None:
    event = state.get(KEY_LIFE_EVENT)
    active = event is not None and today - event[2] <= config.life_events.signal_days
    features[SIGNAL_LIFE_EVENT_SCORE] = float(event[1]) if active else 0.0
    for name, signal in LIFE_EVENTS.items():
        features[signal] = 1.0 if active and event[0] == name else 0.0
