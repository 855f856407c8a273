"""Plain-language reasons built from the features that drove an offer's score.

For a linear policy the score of offer ``a`` for context ``x`` is ``theta_a . x``, so
``theta_a[j] * (x[j] - mean[j])`` is how much feature ``j`` lifted this customer's score
above an average customer's. The reason names the feature with the largest positive
lift, in the direction the customer differs from average ("because you spend more at
weekends than on weekdays"). When no feature lifts the score (cold start, random or
static policies), the reason falls back to a feature the offer's eligibility rule reads,
then to the offer's ``reason_hint``.

:func:`feature_contributions` turns the same lifts into the per-feature weights that the
decision record keeps for audit, so that the reason shown can be checked against them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.config.offers import OfferSpec

__all__ = [
    "REASON_TEMPLATES",
    "Reason",
    "explain_offer",
    "describe_feature",
    "feature_contributions",
    "feature_contributions_of_rows",
]

# feature -> (text when the customer's value is high, text when it is low); None = not a reason.
REASON_TEMPLATES: dict[str, tuple[str | None, str | None]] = {
    "spend_30d": ("you spent {money} in the last 30 days", "your spending was a modest {money} in the last 30 days"),
    "income_30d": ("{money} came into your account in the last 30 days", "your income in the last 30 days was low ({money})"),
    "balance": ("your balance is {money}", "your balance is low ({money})"),
    "spend_30d_groceries": ("you spent {money} on groceries in the last 30 days", "you spend little on groceries"),
    "spend_30d_dining": ("you spent {money} eating out in the last 30 days", "you rarely eat out"),
    "spend_30d_transport": ("you spent {money} on transport in the last 30 days", "you spend little on transport"),
    "spend_30d_utilities": ("your bills came to {money} in the last 30 days", None),
    "spend_30d_subscriptions": ("you pay {money} a month in subscriptions", "you have few subscriptions"),
    "spend_30d_shopping": ("you spent {money} shopping in the last 30 days", "you spend little on shopping"),
    "spend_30d_travel": ("you spent {money} on travel in the last 30 days", "you rarely spend on travel"),
    "spend_30d_entertainment": ("you spent {money} on entertainment in the last 30 days", None),
    "spend_30d_cash": ("you withdrew {money} in cash in the last 30 days", None),
    "spend_90d": ("you spent {money} in the last 90 days", "your spending was a modest {money} in the last 90 days"),
    "income_90d": ("{money} came into your account in the last 90 days", "your income in the last 90 days was low ({money})"),
    "spend_90d_groceries": ("you spent {money} on groceries in the last 90 days", "you spend little on groceries"),
    "spend_90d_dining": ("you spent {money} eating out in the last 90 days", "you rarely eat out"),
    "spend_90d_transport": ("you spent {money} on transport in the last 90 days", "you spend little on transport"),
    "spend_90d_utilities": ("your bills came to {money} in the last 90 days", None),
    "spend_90d_subscriptions": ("you paid {money} in subscriptions in the last 90 days", "you have few subscriptions"),
    "spend_90d_shopping": ("you spent {money} shopping in the last 90 days", "you spend little on shopping"),
    "spend_90d_travel": ("you spent {money} on travel in the last 90 days", "you rarely spend on travel"),
    "spend_90d_entertainment": ("you spent {money} on entertainment in the last 90 days", None),
    "spend_90d_cash": ("you withdrew {money} in cash in the last 90 days", None),
    "transfers_out_90d": (
        "you transferred {money} out of this account in the last 90 days",
        "you move little money to other accounts",
    ),
    "weekend_spend_ratio": ("you spend more at weekends than on weekdays", "you spend more on weekdays than at weekends"),
    "savings_rate_30d": ("you kept {percent} of your income last month", "you saved little of your income last month"),
    "savings_rate_90d": (
        "you kept {percent} of your income over the last three months",
        "you saved little of your income over the last three months",
    ),
    "abroad_share": ("you are often abroad", None),
    "repayment_velocity": ("you repay your credit quickly", "your credit repayments are slow"),
    "credit_utilisation": ("you use {percent} of your credit limit", "you use little of your credit limit"),
    "income_stability": ("your income arrives regularly", "your income varies from month to month"),
    "income_cadence_days": (None, None),
    "days_since_income": ("your last income arrived {days} days ago", "you were paid {days} days ago"),
    "days_since_login": ("you have not opened the app for {days} days", "you use the app often"),
    "days_since_transaction": (None, None),
    "tenure_days": ("you have banked with us for {days} days", "you are new to the bank"),
    "tx_count_30d": ("you made {count} payments in the last 30 days", None),
    "logins_30d": ("you opened the app {count} times in the last 30 days", None),
    "logins_90d": ("you opened the app {count} times in the last 90 days", None),
    "overdraft_days_90d": ("your account was overdrawn on {count} days in the last 90", "you have stayed out of your overdraft"),
    "credit_lines_90d": ("you repaid {count} loans, cards or instalment plans in the last 90 days", "you have little credit to repay"),
    "impressions_7d": (None, None),
    "rejects_30d": (None, None),
    "has_salary": ("your salary is paid into this account", "no regular salary is paid into this account"),
    "travelling": ("you are travelling abroad", None),
    "overdraft_risk_14d": ("your balance is forecast to go below zero within two weeks", None),
    "subscription_due_tomorrow": ("a subscription payment is due tomorrow", None),
    "income_stable_3m": ("your income has been stable for three months", None),
}
MIN_LIFT = 1e-3
# Contributions are rounded for the audit record: six decimals are far below any lift that
# can change a reason (MIN_LIFT) and keep records short.
_CONTRIBUTION_DECIMALS = 6


@dataclass(frozen=True)
class Reason:
    """A reason sentence and the features it is built from."""

    text: str
    features: tuple[str, ...]


def describe_feature(name: str, value: float, high: bool, currency: str) -> str | None:
    """Return the sentence for ``name`` at ``value``, or None when the feature makes no reason."""
    high_text, low_text = REASON_TEMPLATES.get(name, (None, None))
    template = high_text if high else low_text
    if template is None:
        return None
    # A template has at most one placeholder, so only that one is formatted.
    if "{money}" in template:
        return template.format(money=f"{abs(value):,.0f} {currency}")
    if "{percent}" in template:
        return template.format(percent=f"{max(value, 0.0) * 100:.0f}%")
    if "{days}" in template or "{count}" in template:
        whole = f"{value:.0f}"
        return template.format(days=whole, count=whole)
    return template


def explain_offer(
    offer: OfferSpec,
    *,
    feature_names: Sequence[str],
    features: Mapping[str, float],
    lifts: np.ndarray | None,
    deviations: np.ndarray | None,
    rule_features: Sequence[str] = (),
    currency: str = "EUR",
) -> Reason:
    """Build the reason for one shown offer.

    Args:
        offer: the offer.
        feature_names: names of the context entries, in context order (bias excluded).
        features: the customer's raw feature values.
        lifts: shape ``(len(feature_names),)`` or longer (a trailing bias entry is
            ignored); each feature's contribution to this offer's score relative to an
            average customer. None when the policy has no such decomposition.
        deviations: same shape; a positive entry means the customer is above the
            average on that feature, a negative one below it.
        rule_features: features the offer's eligibility rule reads, used as a fallback.
        currency: currency for money amounts.
    """
    if lifts is not None and deviations is not None:
        # Sorting the short list in Python costs less than numpy's argsort (2.2 against 3.2 us a reason).
        lift_list: list[float] = lifts[: len(feature_names)].tolist()
        order = sorted(range(len(lift_list)), key=lift_list.__getitem__, reverse=True)
        for index in order[:6]:
            if lift_list[index] <= MIN_LIFT:
                break
            name = feature_names[index]
            sentence = describe_feature(name, float(features.get(name, 0.0)), bool(deviations[index] > 0), currency)
            if sentence is not None:
                return Reason(f"Because {sentence}.", (name,))
    for name in sorted(rule_features):
        value = float(features.get(name, 0.0))
        if name in REASON_TEMPLATES and value != 0.0:
            sentence = describe_feature(name, value, True, currency)
            if sentence is not None:
                return Reason(f"Because {sentence}.", (name,))
    hint = offer.reason_hint or f"it fits customers like you in {offer.category}"
    return Reason(f"Suggested because {hint}.", ())


def feature_contributions(feature_names: Sequence[str], lifts: np.ndarray | None) -> dict[str, float]:
    """Return each feature's lift (see :func:`explain_offer`) by name, leaving out zeros.

    Args:
        feature_names: names of the context entries, in context order (bias excluded).
        lifts: shape ``(len(feature_names),)`` or longer (a trailing bias entry is
            ignored); None when the policy has no decomposition, which gives ``{}``.
    """
    if lifts is None:
        return {}
    return feature_contributions_of_rows(feature_names, np.asarray(lifts, dtype=float)[None, :])[0]


def feature_contributions_of_rows(feature_names: Sequence[str], lifts: np.ndarray) -> list[dict[str, float]]:
    """Return :func:`feature_contributions` for each row of ``lifts``, rounding them all at once.

    Args:
        feature_names: names of the context entries, in context order (bias excluded).
        lifts: shape ``(rows, len(feature_names))`` or wider (trailing columns are ignored).
    """
    rounded = np.round(lifts[:, : len(feature_names)], _CONTRIBUTION_DECIMALS).tolist()
    return [{name: value for name, value in zip(feature_names, row) if value != 0.0} for row in rounded]
