"""Eligibility and contact policy: which offers may be shown to a customer right now.

Filtering happens before any policy scores, so exploration can only choose among offers
that passed; an ineligible offer is never shown, whatever the policy draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.config.offers import OfferCatalog, OfferSpec
from engine.features import FEATURE_NAMES
from engine.rules import CompiledRule, compile_rule

__all__ = ["RULE_FEATURE_NAMES", "EligibilityResult", "CompiledCatalog"]

# Names a rule may read: profile features plus the insight signals that insights attach
# to the profile (they read as 0 until an insight sets them).
INSIGHT_SIGNALS: tuple[str, ...] = (
    "overdraft_risk_14d",
    "days_to_overdraft",
    "subscription_due_tomorrow",
    "income_stable_3m",
    "segment_id",
    "life_event_score",
    "life_event_move",
    "life_event_new_job",
    "life_event_new_child",
)
RULE_FEATURE_NAMES: frozenset[str] = frozenset(FEATURE_NAMES) | frozenset(INSIGHT_SIGNALS)


@dataclass(frozen=True)
class EligibilityResult:
    """Offers that may be shown, in catalog order, and why each other offer may not."""

    eligible: tuple[OfferSpec, ...]
    ineligible: dict[str, str]


class CompiledCatalog:
    """A catalog with its eligibility rules compiled once."""

    def __init__(self, catalog: OfferCatalog) -> None:
        self.catalog = catalog
        self.rules: dict[str, CompiledRule] = {
            offer.id: compile_rule(offer.eligibility, RULE_FEATURE_NAMES) for offer in catalog.offers
        }
        self.by_id: dict[str, OfferSpec] = {offer.id: offer for offer in catalog.offers}

    def filter(
        self,
        features: Mapping[str, float],
        offer_history: Mapping[str, Mapping[str, Any]],
        now: datetime,
    ) -> EligibilityResult:
        """Split the catalog into eligible offers and excluded ones with a reason each.

        Args:
            features: the customer's feature values (see engine.features).
            offer_history: the profile's per-offer contact record (``imp`` impression
                times, ``rej`` and ``acc`` latest reject and accept times, epoch seconds).
            now: decision time.
        """
        stamp = now.timestamp()
        eligible = []
        ineligible: dict[str, str] = {}
        for offer in self.catalog.offers:
            reason = self._exclusion(offer, features, offer_history.get(offer.id), now, stamp)
            if reason is None:
                eligible.append(offer)
            else:
                ineligible[offer.id] = reason
        return EligibilityResult(tuple(eligible), ineligible)

    def _exclusion(
        self,
        offer: OfferSpec,
        features: Mapping[str, float],
        history: Mapping[str, Any] | None,
        now: datetime,
        stamp: float,
    ) -> str | None:
        # Most offers have no validity dates, so the date check is skipped for them.
        if (offer.valid_from is not None or offer.valid_until is not None) and not offer.is_valid_at(now):
            return "outside validity dates"
        if not self.rules[offer.id](features):
            return f"rule not met: {offer.eligibility}"
        if history is None or offer.transactional:
            return None
        contact = offer.contact
        window_start = stamp - contact.window.total_seconds()
        recent = sum(1 for seen_at in history.get("imp", ()) if seen_at >= window_start)
        if recent >= contact.max_impressions:
            return f"contact limit: {recent} impressions within {contact.window}"
        rejected = history.get("rej")
        if rejected is not None and stamp - rejected < contact.cooldown_after_reject.total_seconds():
            return "cooldown after reject"
        accepted = history.get("acc")
        if accepted is not None and stamp - accepted < contact.cooldown_after_accept.total_seconds():
            return "cooldown after accept"
        return None
