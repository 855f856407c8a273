"""The service's insight and signal caches never change what a dashboard says."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from api.service import DashboardService
from engine.bus import InMemoryEventBus
from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.decision_store import InMemoryDecisionStore
from engine.events import TransactionEvent
from engine.features import FeatureEncoder
from engine.privacy import pseudonymize
from engine.profile import CustomerProfile
from engine.profile_store import InMemoryProfileStore
from engine.snapshot_store import InMemorySnapshotStore
from envs.bank import SyntheticBank
from policies import make_learner


def make(cache_customers: int) -> DashboardService:
    policy = load_policy_config("lints")
    snapshot = make_learner(policy, dim=FeatureEncoder.from_names(policy.features).dim).snapshot()
    return DashboardService(
        catalog=load_catalog(),
        policy_config=policy,
        reward_config=load_reward_config(),
        profiles=InMemoryProfileStore(),
        decisions=InMemoryDecisionStore(),
        snapshots=InMemorySnapshotStore(),
        bus=InMemoryEventBus(),
        initial_snapshot=snapshot,
        seed=5,
        cache_customers=cache_customers,
    )


def test_cached_dashboards_equal_uncached_ones_as_profiles_and_days_change() -> None:
    bank = SyntheticBank(load_catalog(), load_reward_config(), n_customers=6, seed=3, warmup_days=40)
    cached, uncached = make(100), make(0)
    users = list(bank.customer_ids)
    for user in users:
        profile = CustomerProfile(pseudonymize(user))
        for event in bank.events_until(user, bank.start):
            profile.apply(event.model_copy(update={"customer_id": profile.customer_id}))
        cached.profiles.put(profile)
        uncached.profiles.put(profile)

    def both(user: str, now) -> list:  # type: ignore[no-untyped-def]
        first, second = cached.dashboard(user, "web", now=now), uncached.dashboard(user, "web", now=now)
        assert first["insights"] == second["insights"]
        assert [offer["id"] for offer in first["offers"]] == [offer["id"] for offer in second["offers"]]
        assert [offer["reason"] for offer in first["offers"]] == [offer["reason"] for offer in second["offers"]]
        return first["insights"]

    now = bank.start
    for user in users:
        both(user, now)
        before = both(user, now + timedelta(hours=1))
        if user == users[0]:
            before_first = before
    assert cached.insight_cache is not None and cached.insight_cache.hits >= len(users)
    hits = cached.insight_cache.hits

    # A new large purchase changes the profile: the next dashboard is computed afresh.
    for store in (cached.profiles, uncached.profiles):
        customer = pseudonymize(users[0])
        store.update(
            customer,
            lambda profile: profile.apply(
                TransactionEvent(
                    event_id="big-purchase",
                    customer_id=customer,
                    ts=now + timedelta(hours=2),
                    amount=Decimal("-2400.00"),
                    currency="EUR",
                    category="shopping",
                )
            ),
        )
    after = both(users[0], now + timedelta(hours=3))
    assert after != before_first, "the purchase changes the insights, so a stale cache would fail above"
    for user in users:
        both(user, now + timedelta(days=1))
    assert cached.insight_cache.hits == hits, "a changed profile and a new day are cache misses"
    assert uncached.insight_cache is None


def test_erasure_clears_the_caches() -> None:
    bank = SyntheticBank(load_catalog(), load_reward_config(), n_customers=1, seed=4, warmup_days=30)
    service = make(100)
    user = bank.customer_ids[0]
    profile = CustomerProfile(pseudonymize(user))
    for event in bank.events_until(user, bank.start):
        profile.apply(event.model_copy(update={"customer_id": profile.customer_id}))
    service.profiles.put(profile)
    service.dashboard(user, "web", now=bank.start)
    assert service.insight_cache is not None and service.signal_cache is not None
    assert (len(service.insight_cache), len(service.signal_cache)) == (1, 1)

    service.erase_customer(user)

    assert (len(service.insight_cache), len(service.signal_cache)) == (0, 0)
    assert service.profiles.get(pseudonymize(user)) is None
