"""Fixtures for the simulator tests: a small catalog and reward config built in code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import pytest

from engine.config.offers import OfferCatalog, OfferSpec
from engine.config.rewards import RewardConfig
from envs.bank import SyntheticBank

START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _offer(offer_id: str, category: str, business_value: float) -> OfferSpec:
    return OfferSpec(
        id=offer_id,
        title=f"Offer {offer_id}",
        actionUrl=f"app://offers/{offer_id}",
        category=category,
        business_value=business_value,
    )


@pytest.fixture(scope="session")
def catalog() -> OfferCatalog:
    """Nine offers: one per category, travel and card variants, and one with no known keyword."""
    return OfferCatalog(
        offers=(
            _offer("travel-insurance", "insurance", 1.5),
            _offer("fx-travel-card", "credit", 2.0),
            _offer("cashback-card", "credit", 3.0),
            _offer("overdraft-buffer", "liquidity", 1.0),
            _offer("savings-goal", "savings", 1.0),
            _offer("index-fund", "investment", 3.0),
            _offer("budgeting-lesson", "education", 0.4),
            _offer("card-alerts", "service", 0.2),
            _offer("mystery-perk", "service", 1.0),
        )
    )


@pytest.fixture(scope="session")
def reward_config() -> RewardConfig:
    """The shipped reward settings: accept 1, click 0.1, small penalties, max-combined, value-weighted."""
    return RewardConfig(
        weights={"impression": 0.0, "click": 0.1, "accept": 1.0, "reject": -0.05, "dismiss": -0.02},
        attribution_window={"impression": "1h", "click": "24h", "accept": "7d", "reject": "24h", "dismiss": "24h"},
        combine="max",
        business_value_weighting=True,
    )


@pytest.fixture()
def make_bank(catalog: OfferCatalog, reward_config: RewardConfig) -> Callable[..., SyntheticBank]:
    """Return a factory of banks over the test catalog; keyword arguments go to SyntheticBank."""

    def build(**kwargs: object) -> SyntheticBank:
        options: dict[str, object] = {"n_customers": 200, "seed": 7, "start": START, "warmup_days": 60}
        options.update(kwargs)
        return SyntheticBank(catalog, reward_config, **options)  # type: ignore[arg-type]

    return build
