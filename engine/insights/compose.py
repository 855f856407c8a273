"""Dashboard insights with reasons, composed from the insight state and the profile features.

Everything here reads the state that :mod:`engine.insights.state` keeps up to date, and
nothing is mutated. The work per request is O(number of recurring series * forecast
horizon) plus the days left in the month.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from engine.insights.calendar import day_date, local_day
from engine.insights.config import InsightsConfig
from engine.insights.forecast import forecast_balance
from engine.insights.income import IncomeAssessment, main_income
from engine.insights.insight import (
    CATEGORY_ORDER,
    CREDIT_LIMIT_REVIEW,
    INCOME,
    LIFE_EVENT,
    OVERDRAFT_RISK,
    SAVINGS_GOAL,
    SEGMENT,
    SPEND_PREDICTION,
    SPEND_REST_OF_MONTH,
    SUBSCRIPTION_DUE,
    SUBSCRIPTIONS,
    WEEKEND_SPENDING,
    Insight,
)
from engine.insights.keys import KEY_LIFE_EVENT, KEY_RECURRING, KEY_SEGMENT, KEY_SERIES, SIGNALS
from engine.insights.recurring import CADENCES, SERIES_CADENCE, SERIES_EXPECTED, SERIES_NAME, effective_status
from engine.insights.segments import cached_segment_model
from engine.insights.spend import predict_spend, scheduled_due

if TYPE_CHECKING:
    from engine.profile import CustomerProfile
    from engine.rules import CompiledRule

__all__ = ["compose_insights", "money"]

_LIFE_EVENT_TEXT = {
    "move": "Your rent payments changed to a new payee, which usually means a move.",
    "new_job": "Your salary now comes from a new employer.",
    "new_child": "Your household spending (groceries, health, shopping) rose sharply over the last month.",
}


def money(value: float, currency: str) -> str:
    """Format an amount as '1,234.56 EUR'."""
    return f"{value:,.2f} {currency}"


def _day_text(value: date) -> str:
    return f"{value:%A} {value.day} {value:%B}"


def compose_insights(
    profile: CustomerProfile,
    state: Mapping[str, Any] | None,
    features: Mapping[str, float],
    now: datetime,
    currency: str,
    *,
    tz: tzinfo,
    config: InsightsConfig,
) -> list[Insight]:
    """Return the customer's insights, most urgent first.

    Args:
        profile: the live profile; read only.
        state: the profile's insight state, None when it has none yet.
        features: feature values (engine.features.compute_features).
        now: request time (aware).
        currency: currency code for amounts.
        tz: the customer's time zone; "today" is the local date of ``now`` there.
        config: insight thresholds.
    """
    insights: list[Insight] = []
    if state is not None and state.get(KEY_SERIES) is not None:
        today = local_day(now, tz)
        income = main_income(state, today, config)
        insights += _overdraft(profile, state, today, currency, config)
        insights += _due_tomorrow(state, today, currency, config)
        insights += _spend(state, today, currency, config)
        insights += _income(income, currency, config)
        insights += _subscriptions(state, today, currency, config)
        insights += _life_event(state, today, config)
        insights += _segment(state, config)
        insights += _credit_limit(features, state, income, currency, config)
    else:
        insights += _credit_limit(features, None, None, currency, config)
    insights += _weekend(features, config)
    order = {category: index for index, category in enumerate(CATEGORY_ORDER)}
    insights.sort(key=lambda insight: order.get(insight.category, len(order)))
    return insights


def _overdraft(
    profile: CustomerProfile, state: Mapping[str, Any], today: int, currency: str, config: InsightsConfig
) -> list[Insight]:
    forecast = forecast_balance(state, profile.balance, today, config)
    if forecast is None or not forecast.risk.at_risk or forecast.overdraft_date is None:
        return []
    risk = forecast.risk
    when = forecast.overdraft_date
    index = int(risk.days_to_overdraft) - 1
    reason = (
        f"Your balance of {money(forecast.start_balance, currency)} is projected to fall to "
        f"{money(forecast.expected[index], currency)} by {_day_text(when)}"
    )
    if forecast.largest_debit is not None:
        payee, amount, due = forecast.largest_debit
        reason += f", after {payee} ({money(amount, currency)}) on {_day_text(due)}"
    reason += f". Moving {money(risk.suggested_transfer, currency)} from savings would keep you above zero."
    return [
        Insight(
            category=OVERDRAFT_RISK,
            prediction=when.isoformat(),
            value=risk.suggested_transfer,
            unit=currency,
            confidence=round(max(risk.probability, config.forecast.risk_probability), 2),
            reason=reason,
        )
    ]


def _due_tomorrow(state: Mapping[str, Any], today: int, currency: str, config: InsightsConfig) -> list[Insight]:
    insights = []
    series = state[KEY_SERIES]
    tomorrow = day_date(today + 1)
    for _, amount, confidence, series_id in scheduled_due(state, today, today + 1, today + 1, config.recurring.due_min_confidence):
        entry = series[series_id]
        insights.append(
            Insight(
                category=SUBSCRIPTION_DUE,
                prediction=tomorrow.isoformat(),
                value=amount,
                unit=currency,
                confidence=round(confidence, 2),
                reason=(
                    f"Your {entry[SERIES_CADENCE]} payment to {entry[SERIES_NAME]} of about {money(amount, currency)} "
                    f"is due tomorrow, {_day_text(tomorrow)}."
                ),
            )
        )
    return insights


def _spend(state: Mapping[str, Any], today: int, currency: str, config: InsightsConfig) -> list[Insight]:
    forecast = predict_spend(state, today, config)
    if forecast is None:
        return []

    # Confidence: the interval's coverage, scaled down while fewer than four weeks of
    # days support the weekday pattern.
    confidence = round(forecast.interval * min(1.0, forecast.basis_days / 28.0), 2)
    coverage = f"{forecast.interval:.0%}"

    usual = forecast.expected - forecast.scheduled_due
    weekday = f"{forecast.day:%A}s"
    if usual > 0:
        reason = f"On {weekday} you usually spend about {money(usual, currency)}"
    else:
        reason = f"On most {weekday} you spend nothing"
    if forecast.scheduled_due > 0:
        reason += f", and {money(forecast.scheduled_due, currency)} of recurring payments are due today"
    if forecast.high > forecast.low:
        reason += (
            f". {coverage} of days like today fall between {money(forecast.low, currency)} and "
            f"{money(forecast.high, currency)}."
        )
    else:
        reason += "."
    if forecast.spent_so_far > 0:
        reason += f" You have spent {money(forecast.spent_so_far, currency)} so far today."

    insights = [
        Insight(
            category=SPEND_PREDICTION,
            prediction=money(forecast.expected, currency),
            value=forecast.expected,
            unit=currency,
            confidence=confidence,
            reason=reason,
        )
    ]
    if forecast.rest_days > 0:
        insights.append(
            Insight(
                category=SPEND_REST_OF_MONTH,
                prediction=money(forecast.rest_of_month, currency),
                value=forecast.rest_of_month,
                unit=currency,
                confidence=confidence,
                reason=(
                    f"From tomorrow to the end of {forecast.day:%B} ({forecast.rest_days} days) your habits and "
                    f"recurring payments add up to about {money(forecast.rest_of_month, currency)} "
                    f"({coverage} range {money(forecast.rest_low, currency)} to {money(forecast.rest_high, currency)})."
                ),
            )
        )
    return insights


def _income(income: IncomeAssessment | None, currency: str, config: InsightsConfig) -> list[Insight]:
    if income is None:
        return []
    insights = [
        Insight(
            category=INCOME,
            prediction=income.next_date.isoformat(),
            value=income.typical_amount,
            unit=currency,
            confidence=round(income.confidence, 2),
            reason=(
                f"Your {income.cadence} income from {income.payer} of about {money(income.typical_amount, currency)} "
                f"is next expected on {_day_text(income.next_date)}."
            ),
        )
    ]
    if income.stable:
        goal = math.floor(income.typical_amount * config.insights.savings_share)
        months = config.income.stable_months
        insights.append(
            Insight(
                category=SAVINGS_GOAL,
                prediction=money(goal, currency),
                value=float(goal),
                unit=currency,
                confidence=round(income.confidence, 2),
                reason=(
                    f"Your income from {income.payer} has arrived in full every period for {months} months. "
                    f"Moving {money(goal, currency)} to savings on each payday would build "
                    f"{money(goal * 12 * CADENCES['monthly'].days / CADENCES[income.cadence].days, currency)} in a year."
                ),
            )
        )
    return insights


def _subscriptions(state: Mapping[str, Any], today: int, currency: str, config: InsightsConfig) -> list[Insight]:
    series = state[KEY_SERIES]
    monthly = 0.0
    count = 0
    lowest = 1.0
    for series_id in state.get(KEY_RECURRING, ()):
        if not series_id.startswith("o"):
            continue
        entry = series[series_id]
        confidence, _ = effective_status(entry, today)
        if confidence < config.recurring.min_confidence:
            continue
        count += 1
        lowest = min(lowest, confidence)
        monthly += entry[SERIES_EXPECTED] / 100.0 * CADENCES["monthly"].days / CADENCES[entry[SERIES_CADENCE]].days
    if count == 0:
        return []
    return [
        Insight(
            category=SUBSCRIPTIONS,
            prediction=money(monthly, currency),
            value=round(monthly, 2),
            unit=f"{currency}/month",
            confidence=round(lowest, 2),
            reason=f"You have {count} recurring payment{'s' if count != 1 else ''} adding up to about {money(monthly, currency)} a month.",
        )
    ]


def _life_event(state: Mapping[str, Any], today: int, config: InsightsConfig) -> list[Insight]:
    event = state.get(KEY_LIFE_EVENT)
    if event is None or today - event[2] > config.life_events.signal_days:
        return []
    name, score, detected = event
    return [
        Insight(
            category=LIFE_EVENT,
            prediction=name,
            value=float(score),
            unit="score",
            confidence=round(float(score), 2),
            reason=f"{_LIFE_EVENT_TEXT[name]} We noticed it on {_day_text(day_date(detected))}.",
        )
    ]


def _segment(state: Mapping[str, Any], config: InsightsConfig) -> list[Insight]:
    assigned = state.get(KEY_SEGMENT)
    if assigned is None:
        return []
    model = cached_segment_model(str(config.segments.resolved_model_path()))
    name = model.name_of(assigned[0]) if model is not None else None
    if name is None:
        return []
    description = model.descriptions[assigned[0] - 1] if model.descriptions else ""
    group = name.replace("_", " ")
    reason = f"Your transactions of the last months look most like those of the '{group}' group"
    reason += f": {description}." if description else "."
    return [
        Insight(
            category=SEGMENT,
            prediction=name,
            value=float(assigned[0]),
            unit="segment",
            # Nearest-centroid assignment has no calibrated probability, so the confidence is a flat 0.5.
            confidence=0.5,
            reason=reason,
        )
    ]


def _weekend(features: Mapping[str, float], config: InsightsConfig) -> list[Insight]:
    ratio = float(features.get("weekend_spend_ratio", 1.0))
    if ratio < config.insights.weekend_ratio_min or float(features.get("spend_30d", 0.0)) <= 0:
        return []
    return [
        Insight(
            category=WEEKEND_SPENDING,
            prediction=f"{ratio:.1f}x",
            value=round(ratio, 2),
            unit="ratio",
            confidence=0.6,
            reason=(
                f"Over the last eight weeks you spent {ratio:.1f} times as much on a weekend day as on a weekday. "
                "A weekend budget can keep that in check."
            ),
        )
    ]


@functools.lru_cache(maxsize=8)
def _risk_rule(source: str) -> CompiledRule:
    from engine.eligibility import RULE_FEATURE_NAMES
    from engine.rules import compile_rule

    return compile_rule(source, RULE_FEATURE_NAMES)


def _credit_limit(
    features: Mapping[str, float],
    state: Mapping[str, Any] | None,
    income: IncomeAssessment | None,
    currency: str,
    config: InsightsConfig,
) -> list[Insight]:
    review = config.credit_limit_review
    values = {name: float(features.get(name, 0.0)) for name in SIGNALS} | dict(features)
    if not _risk_rule(review.rule)(values):
        return []
    monthly_income = income.monthly_amount if income is not None else float(features.get("income_30d", 0.0))
    bound = min(review.max_increase, review.max_increase_share_of_income * monthly_income)
    increase = math.floor(bound / review.step) * review.step
    if increase <= 0:
        return []
    velocity = float(features.get("repayment_velocity", 0.0))
    return [
        Insight(
            category=CREDIT_LIMIT_REVIEW,
            prediction=money(increase, currency),
            value=float(increase),
            unit=currency,
            confidence=round(min(0.9, 0.5 + velocity / 2.0), 2),
            reason=(
                f"You repaid {velocity:.0%} of your card and loan spending over the last 90 days without going "
                f"overdrawn, so you may request a credit-limit review of up to {money(increase, currency)}."
            ),
        )
    ]
