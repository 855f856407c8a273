"""Build a customer's dashboard (offers with reasons, first insights) from statement files.

This is the offline path through the same decision loop the service runs: statements
become transaction events, events build the live profile, and the policy decides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.features import FeatureEncoder
from engine.insights import dashboard_insights
from engine.profile import CustomerProfile
from engine.loop import DecisionLoop
from engine.privacy import pseudonymize
from engine.statements import CsvMapping, read_statement
from policies.offer_features import offer_features_of
from policies.registry import load_snapshot, make_learner

__all__ = ["FileImport", "DashboardResult", "build_dashboard"]

logger = logging.getLogger(__name__)


@dataclass
class FileImport:
    """What one statement file contributed."""

    path: str
    format: str
    source_count: int
    imported: int
    duplicates: int
    errors: list[dict[str, Any]]


@dataclass
class DashboardResult:
    """The dashboard of one customer."""

    customer: str
    as_of: str
    currency: str
    files: list[FileImport]
    offers: list[dict[str, Any]]
    spend_by_category: dict[str, float]
    insights: list[dict[str, Any]]
    decision_id: str | None
    policy: str
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "as_of": self.as_of,
            "currency": self.currency,
            "files": [vars(item) for item in self.files],
            "offers": self.offers,
            "insights": {"spend_by_category_90d": self.spend_by_category, "items": self.insights},
            "decision_id": self.decision_id,
            "policy": self.policy,
        }


def _spend_by_category(profile: CustomerProfile) -> dict[str, float]:
    """Return net spend by category over the profile's 90 days up to its latest event, largest first.

    Net means purchases less refunds, each transaction counted once even when two
    statements overlap. A category whose refunds reach its purchases is left out.
    """
    totals = {name: round(value, 2) for name, value in profile.windows[90]["c"].items()}
    return dict(sorted(((name, value) for name, value in totals.items() if value > 0), key=lambda item: -item[1]))


def build_dashboard(
    statements: Sequence[str | Path],
    *,
    customer: str = "statement-customer",
    policy: str = "lints",
    snapshot_path: str | Path | None = None,
    csv_mapping: CsvMapping | None = None,
    now: datetime | None = None,
    seed: int = 0,
) -> DashboardResult:
    """Import the statements, build the profile and decide the customer's offers.

    Args:
        statements: statement files (OFX/QFX, camt.053, MT940, CSV).
        customer: the customer's id; it is pseudonymised before use.
        policy: policy name or YAML path.
        snapshot_path: a saved policy snapshot to decide with; a fresh policy otherwise.
        csv_mapping: column mapping for CSV files whose header is not recognised.
        now: decision time; by default the day after the latest transaction.
        seed: seed of the decision's random draws.
    """
    catalog = load_catalog()
    reward_config = load_reward_config()
    policy_config = load_policy_config(policy)
    encoder = FeatureEncoder.from_names(policy_config.features)
    learner = make_learner(
        policy_config,
        dim=encoder.dim,
        offer_features=offer_features_of(catalog.offers),
        seed=seed,
    )
    override = load_snapshot(Path(snapshot_path).read_bytes()) if snapshot_path else None
    loop = DecisionLoop(
        catalog=catalog,
        policy_config=policy_config,
        reward_config=reward_config,
        learner=learner,
        seed=seed,
        snapshot_override=override,
    )
    customer_id = pseudonymize(customer)
    imports = [
        (path, read_statement(path, customer_id=customer_id, csv_mapping=csv_mapping)) for path in statements
    ]
    # Events go in time order across all files, so that older statements are applied
    # before the profile's clock moves past them.
    tagged = [
        (event.ts, index, event)
        for index, (_, result) in enumerate(imports)
        for event in [*result.transactions, *result.balances]
    ]
    tagged.sort(key=lambda item: (item[0], item[1]))
    imported = [0] * len(imports)
    duplicates = [0] * len(imports)
    latest: datetime | None = None
    for ts, index, event in tagged:
        outcome = loop.ingest(event)
        if event.type == "transaction":
            if outcome.applied:
                imported[index] += 1
            elif outcome.reason == "duplicate":
                duplicates[index] += 1
        latest = ts if latest is None or ts > latest else latest
    files = [
        FileImport(
            path=str(path),
            format=result.format,
            source_count=result.source_count,
            imported=imported[index],
            duplicates=duplicates[index],
            errors=[{"line": error.line, "reason": error.reason} for error in result.errors],
        )
        for index, (path, result) in enumerate(imports)
    ]
    as_of = now or ((latest + timedelta(days=1)) if latest is not None else datetime.now(timezone.utc))
    decision = loop.decide(customer_id, as_of, channel="web", slate_size=policy_config.slate_size)
    offers = [
        {
            "id": view.offer.id,
            "title": view.offer.title,
            "actionUrl": view.offer.action_url,
            "category": view.offer.category,
            "position": view.shown.position,
            "score": round(view.shown.score, 6),
            "propensity": round(view.shown.propensity, 6),
            "reason": view.shown.reason,
            "decisionId": decision.record.decision_id,
        }
        for view in decision.offers
    ]
    profile = loop.profiles.get(customer_id) or CustomerProfile(customer_id)
    spend = _spend_by_category(profile)
    currency = profile.currency or "EUR"
    # The same insights as `offerloop insights` and the GraphQL API, from the live profile.
    insights = [
        {
            "category": item.category,
            "prediction": item.prediction,
            "confidence": item.confidence,
            "reason": item.reason,
        }
        for item in dashboard_insights(profile, decision.features, as_of, currency)
    ]
    return DashboardResult(
        customer=customer_id,
        as_of=as_of.isoformat(),
        currency=currency,
        files=files,
        offers=offers,
        spend_by_category=spend,
        insights=insights,
        decision_id=decision.record.decision_id,
        policy=policy_config.id,
    )
