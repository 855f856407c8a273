"""Insights computed from live profile features at request time, in O(1).

These are the dashboard's first insights, read from features alone. Each has a category,
a prediction (a value with a unit, or a date), a confidence and a reason sentence.
:func:`engine.insights.dashboard_insights` supersedes them with insights that also read
the profile's insight state (recurring payments, spend model, balance forecast).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from engine.features import WEEKDAY_NAMES
from engine.insights.insight import Insight

__all__ = ["Insight", "live_insights"]


def live_insights(features: Mapping[str, float], now: datetime, currency: str = "EUR") -> list[Insight]:
    """Return the insights that the features support, most urgent first."""
    insights: list[Insight] = []
    weekday = WEEKDAY_NAMES[now.weekday()]
    weekday_total = features.get(f"spend_56d_{weekday}", 0.0)
    if weekday_total > 0:
        expected = weekday_total / 8.0  # 56 days contain eight of each weekday.
        insights.append(
            Insight(
                category="spend_prediction",
                prediction=f"{expected:,.2f} {currency}",
                value=round(expected, 2),
                unit=currency,
                confidence=0.6,
                reason=f"On {now.strftime('%A')}s over the last eight weeks you spent {expected:,.2f} {currency} on average.",
            )
        )
    balance = features.get("balance", 0.0)
    spend_per_day = features.get("spend_30d", 0.0) / 30.0
    if spend_per_day > 0 and 0 <= balance < spend_per_day * 14:
        days = balance / spend_per_day
        when = (now + timedelta(days=days)).date()
        insights.append(
            Insight(
                category="overdraft_risk",
                prediction=when.isoformat(),
                value=round(days, 1),
                unit="days",
                confidence=0.5,
                reason=f"At your usual {spend_per_day:,.2f} {currency} a day your balance of {balance:,.2f} {currency} lasts until about {when:%A %d %B}.",
            )
        )
    subscriptions = features.get("spend_30d_subscriptions", 0.0)
    if subscriptions > 0:
        insights.append(
            Insight(
                category="subscriptions",
                prediction=f"{subscriptions:,.2f} {currency}",
                value=round(subscriptions, 2),
                unit=f"{currency}/month",
                confidence=0.7,
                reason=f"Subscriptions took {subscriptions:,.2f} {currency} from your account in the last 30 days.",
            )
        )
    if features.get("weekend_spend_ratio", 1.0) >= 1.5 and features.get("spend_30d", 0.0) > 0:
        ratio = features["weekend_spend_ratio"]
        insights.append(
            Insight(
                category="weekend_spending",
                prediction=f"{ratio:.1f}x",
                value=round(ratio, 2),
                unit="ratio",
                confidence=0.6,
                reason=f"You spend {ratio:.1f} times as much on a weekend day as on a weekday.",
            )
        )
    return insights
