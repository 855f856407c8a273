"""The latent traits that drive responses must show in the engine's features."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from engine.features import compute_features
from engine.profile import CustomerProfile
from envs.bank import SyntheticBank
from envs.population import TRAIT_NAMES

SNAPSHOT_DAYS = (0, 7, 14, 21, 28)


@pytest.fixture(scope="module")
def observed(catalog, reward_config) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Latent traits of 300 customers and their features averaged over five weekly snapshots."""
    bank = SyntheticBank(catalog, reward_config, n_customers=300, seed=13)
    latent = []
    rows: list[dict[str, float]] = []
    for customer_id in bank.customer_ids:
        profile = CustomerProfile(customer_id)
        snapshots = []
        for day in SNAPSHOT_DAYS:
            now = bank.start + timedelta(days=day)
            for event in bank.events_until(customer_id, now):
                result = profile.apply(event)
                assert result.applied, (event.event_id, result.reason)
            snapshots.append(compute_features(profile, now))
        rows.append({name: float(np.mean([s[name] for s in snapshots])) for name in snapshots[0]})
        latent.append(bank.latent(customer_id))
    features = {name: np.array([row[name] for row in rows]) for name in rows[0]}
    return np.array(latent), features


def _correlation(observed, trait: str, feature: str) -> float:
    latent, features = observed
    return float(np.corrcoef(latent[:, TRAIT_NAMES.index(trait)], features[feature])[0, 1])


@pytest.mark.parametrize(
    ("trait", "feature", "minimum"),
    [
        ("income", "income_30d", 0.6),
        ("income_stability", "has_salary", 0.3),
        ("travel", "spend_30d_travel", 0.4),
        ("travel", "travelling", 0.15),
        ("savings", "balance", 0.4),
        ("credit_appetite", "repayment_velocity", 0.4),
        ("overdraft", "overdraft_days_90d", 0.6),
        ("engagement", "logins_30d", 0.7),
        ("household", "spend_30d_groceries", 0.35),
        ("weekend_spending", "weekend_spend_ratio", 0.15),
        ("income", "income_90d", 0.7),
        ("travel", "spend_90d_travel", 0.5),
        ("travel", "abroad_share", 0.3),
        ("engagement", "logins_90d", 0.7),
        ("household", "spend_90d_utilities", 0.7),
    ],
)
def test_feature_correlates_with_trait(observed, trait: str, feature: str, minimum: float) -> None:
    assert _correlation(observed, trait, feature) > minimum


@pytest.mark.parametrize(
    ("trait", "feature", "maximum"),
    [("overdraft", "balance", -0.2), ("engagement", "days_since_login", -0.3)],
)
def test_feature_anticorrelates_with_trait(observed, trait: str, feature: str, maximum: float) -> None:
    assert _correlation(observed, trait, feature) < maximum


def test_feature_travellers_travel_more(observed) -> None:
    latent, features = observed
    travel = latent[:, TRAIT_NAMES.index("travel")]
    top = travel > np.quantile(travel, 0.75)
    bottom = travel < np.quantile(travel, 0.25)
    assert features["spend_30d_travel"][top].mean() > 3 * features["spend_30d_travel"][bottom].mean()
    assert features["travelling"][top].mean() > 2 * features["travelling"][bottom].mean()
    assert features["travelling"][top].mean() > 0.05


def test_feature_90_day_travel_spend_beats_30_day(observed) -> None:
    """Trips are a few a year, so a 90-day window contains a traveller's spend more often than a 30-day one."""
    assert _correlation(observed, "travel", "spend_90d_travel") > _correlation(observed, "travel", "spend_30d_travel")


def test_feature_traits_linearly_recoverable(observed) -> None:
    latent, features = observed
    design = np.column_stack([features[name] for name in sorted(features)] + [np.ones(len(latent))])
    design = (design - design.mean(axis=0)) / np.where(design.std(axis=0) > 0, design.std(axis=0), 1.0)
    for index, trait in enumerate(TRAIT_NAMES):
        target = latent[:, index]
        coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = target - design @ coefficients
        r_squared = 1.0 - residual.var() / target.var()
        assert r_squared > 0.2, (trait, r_squared)
