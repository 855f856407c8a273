"""Transaction categories used by features, insights and reasons."""

from __future__ import annotations

__all__ = ["SPEND_CATEGORIES", "INCOME_CATEGORIES", "CATEGORIES", "FEATURE_SPEND_CATEGORIES"]

SPEND_CATEGORIES: tuple[str, ...] = (
    "groceries",
    "dining",
    "transport",
    "utilities",
    "subscriptions",
    "shopping",
    "travel",
    "entertainment",
    "health",
    "cash",
    "rent",
    "fees",
    "loan_repayment",
    "transfers_out",
    "other",
)
INCOME_CATEGORIES: tuple[str, ...] = ("salary", "transfers_in", "refund", "other_income")
CATEGORIES: tuple[str, ...] = SPEND_CATEGORIES + INCOME_CATEGORIES
# The credit category that pays back earlier spend instead of adding income.
REFUND_CATEGORY = "refund"

# Spend categories that get their own 30-day feature; the rest count only in the totals.
FEATURE_SPEND_CATEGORIES: tuple[str, ...] = (
    "groceries",
    "dining",
    "transport",
    "utilities",
    "subscriptions",
    "shopping",
    "travel",
    "entertainment",
    "cash",
)
