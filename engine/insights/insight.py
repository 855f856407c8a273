"""The :class:`Insight` record shown on the dashboard, and the insight category ids."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "Insight",
    "OVERDRAFT_RISK",
    "SUBSCRIPTION_DUE",
    "SPEND_PREDICTION",
    "SPEND_REST_OF_MONTH",
    "INCOME",
    "SAVINGS_GOAL",
    "CREDIT_LIMIT_REVIEW",
    "WEEKEND_SPENDING",
    "SUBSCRIPTIONS",
    "LIFE_EVENT",
    "SEGMENT",
    "CATEGORY_ORDER",
]

OVERDRAFT_RISK = "overdraft_risk"
SUBSCRIPTION_DUE = "subscription_due"
SPEND_PREDICTION = "spend_prediction"
SPEND_REST_OF_MONTH = "spend_rest_of_month"
INCOME = "income"
SAVINGS_GOAL = "savings_goal"
CREDIT_LIMIT_REVIEW = "credit_limit_review"
WEEKEND_SPENDING = "weekend_spending"
SUBSCRIPTIONS = "subscriptions"
LIFE_EVENT = "life_event"
SEGMENT = "segment"
# Dashboard order: most urgent first.
CATEGORY_ORDER: tuple[str, ...] = (
    OVERDRAFT_RISK,
    SUBSCRIPTION_DUE,
    SPEND_PREDICTION,
    SPEND_REST_OF_MONTH,
    INCOME,
    SAVINGS_GOAL,
    CREDIT_LIMIT_REVIEW,
    WEEKEND_SPENDING,
    SUBSCRIPTIONS,
    LIFE_EVENT,
    SEGMENT,
)


@dataclass(frozen=True)
class Insight:
    """One insight for the dashboard.

    Attributes:
        category: what the insight is about, one of :data:`CATEGORY_ORDER`.
        prediction: the predicted value as text: an amount with its unit, a ratio, a
            name, or an ISO date.
        value: the number behind ``prediction`` (None when it is only a name or date).
        unit: unit of ``value``: a currency code, "days", "ratio", "segment" or "".
        confidence: in [0, 1]; how likely the prediction is to hold.
        reason: one plain-language sentence or two that explain it to the customer.
    """

    category: str
    prediction: str
    value: float | None
    unit: str
    confidence: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return asdict(self)
