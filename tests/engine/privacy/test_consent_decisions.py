"""Consent changes what a decision may use and show; consent events reach the registry."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.bus import TOPIC_CUSTOMER_EVENTS, TOPIC_DEAD_LETTER, InMemoryEventBus
from engine.config.loader import load_catalog, load_policy_config, load_reward_config
from engine.consent import InMemoryConsentRegistry
from engine.decisions import NON_PERSONALISED_POLICY_ID, DecisionEngine, is_service_offer
from engine.events import ConsentEvent, LoginEvent, TransactionEvent, event_to_json
from engine.features import FeatureEncoder
from engine.loop import default_categorizer
from engine.profile import CustomerProfile
from engine.profile_store import InMemoryProfileStore
from engine.snapshot_store import SnapshotHolder
from engine.workers import ProfileWorker
from policies import make_learner

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def make_engine() -> DecisionEngine:
    # Little exploration, so that the offers trained below are the ones shown.
    lints = load_policy_config("lints")
    policy = lints.model_copy(update={"exploration": lints.exploration.model_copy(update={"posterior_scale": 0.01})})
    learner = make_learner(policy, dim=FeatureEncoder.from_names(policy.features).dim)
    rng_context = FeatureEncoder.from_names(policy.features)
    # A few rewards give the linear model weights, so that personalised reasons have lifts.
    for offer in ("travel-insurance", "budgeting-course", "savings-goal-round-ups"):
        for scale in (0.5, 1.0, 2.0):
            features = {"spend_90d_travel": 1200.0 * scale, "balance": 2000.0 * scale, "logins_90d": 15 * scale}
            learner.update_one(offer, rng_context.encode(features), 0.5 * scale)
    return DecisionEngine(
        catalog=load_catalog(),
        policy_config=policy,
        reward_config=load_reward_config(),
        snapshots=SnapshotHolder(learner.snapshot()),
        seed=3,
    )


def active_profile(customer_id: str) -> CustomerProfile:
    """Return a profile with a month of salary, spending and logins."""
    profile = CustomerProfile(customer_id)
    for day in range(30):
        ts = NOW - timedelta(days=30 - day)
        profile.apply(LoginEvent(event_id=f"{customer_id}-l{day}", customer_id=customer_id, ts=ts))
        profile.apply(
            TransactionEvent(event_id=f"{customer_id}-t{day}", customer_id=customer_id, ts=ts, amount=Decimal("-35.00"),
                             currency="EUR", category="travel" if day % 3 else "groceries")  # fmt: skip
        )
    profile.apply(
        TransactionEvent(event_id=f"{customer_id}-salary", customer_id=customer_id, ts=NOW - timedelta(days=5),
                         amount=Decimal("3200.00"), currency="EUR", category="salary")  # fmt: skip
    )
    return profile


def test_without_marketing_consent_only_service_offers_are_shown() -> None:
    engine = make_engine()
    catalog = {offer.id: offer for offer in engine.catalog.offers}

    decision = engine.decide(active_profile("c1"), customer_id="c1", now=NOW, channel="web", marketing=False)

    record = decision.record
    assert record.marketing is False
    assert all(is_service_offer(catalog[offer_id]) for offer_id in record.eligible)
    assert all(is_service_offer(catalog[shown.offer_id]) for shown in record.shown)
    assert "no marketing consent" in record.ineligible.values()
    marketing_ids = {offer.id for offer in engine.catalog.offers if not is_service_offer(offer)}
    assert marketing_ids & set(record.ineligible)


def test_with_marketing_consent_marketing_offers_are_candidates() -> None:
    decision = make_engine().decide(active_profile("c1"), customer_id="c1", now=NOW, channel="web")

    assert decision.record.marketing is True
    assert "no marketing consent" not in decision.record.ineligible.values()
    assert len(decision.record.shown) == 3


def test_without_personalisation_consent_no_feature_is_used() -> None:
    engine = make_engine()
    profile = active_profile("c2")

    record = engine.decide(profile, customer_id="c2", now=NOW, channel="web", personalised=False).record

    assert record.personalised is False
    assert record.context == {}
    assert record.policy_id == NON_PERSONALISED_POLICY_ID
    assert record.algorithm == "static"
    assert all(shown.contributions == {} for shown in record.shown)
    assert all(shown.reason_features == () for shown in record.shown)
    assert all(shown.reason.startswith("Suggested because") for shown in record.shown)


def test_non_personalised_ranking_ignores_the_profile() -> None:
    engine = make_engine()
    first = engine.decide(active_profile("c3"), customer_id="c3", now=NOW, channel="web", personalised=False).record
    second = engine.decide(active_profile("c4"), customer_id="c4", now=NOW, channel="web", personalised=False).record

    assert [(c.offer_id, c.value, c.probability) for c in first.candidates] == [
        (c.offer_id, c.value, c.probability) for c in second.candidates
    ]


def test_personalised_record_keeps_audit_fields() -> None:
    engine = make_engine()

    record = engine.decide(active_profile("c5"), customer_id="c5", now=NOW, channel="web").record

    assert record.algorithm == "lints"
    assert record.policy_version == engine.snapshots.current.version
    assert record.context["spend_90d_travel"] > 0
    assert set(record.eligible) | set(record.ineligible) == {offer.id for offer in engine.catalog.offers}
    assert any(shown.contributions for shown in record.shown)
    for shown in record.shown:
        for feature in shown.reason_features:
            assert shown.contributions.get(feature, 0.0) > 0.0, (feature, shown.contributions)


def consent_message(customer_id: str, ts: datetime, **flags: bool) -> bytes:
    return event_to_json(ConsentEvent(event_id=f"consent-{ts.timestamp()}", customer_id=customer_id, ts=ts, **flags))


def test_profile_worker_records_consent_events_in_order() -> None:
    bus = InMemoryEventBus()
    consent = InMemoryConsentRegistry()
    profiles = InMemoryProfileStore()
    worker = ProfileWorker(bus, profiles, default_categorizer, consent=consent)
    bus.publish(TOPIC_CUSTOMER_EVENTS, consent_message("c1", NOW, marketing=False), key=b"c1")
    bus.publish(TOPIC_CUSTOMER_EVENTS, consent_message("c1", NOW - timedelta(hours=1), marketing=True), key=b"c1")
    bus.publish(TOPIC_CUSTOMER_EVENTS, consent_message("c1", NOW + timedelta(hours=1), personalisation=False), key=b"c1")

    worker.step(timeout_s=0.0)

    state = consent.get("c1")
    assert (state.marketing, state.personalisation) == (False, False)
    assert worker.stats.applied == 3
    assert profiles.get("c1") is None


def test_profile_worker_without_registry_dead_letters_consent() -> None:
    bus = InMemoryEventBus()
    worker = ProfileWorker(bus, InMemoryProfileStore(), default_categorizer)
    bus.publish(TOPIC_CUSTOMER_EVENTS, consent_message("c1", NOW, marketing=False), key=b"c1")

    worker.step(timeout_s=0.0)

    (letter,) = bus.messages(TOPIC_DEAD_LETTER)
    assert "consent events need a consent registry" in json.loads(letter.value)["reason"]


def test_consent_event_needs_no_fields_to_parse() -> None:
    event = ConsentEvent(event_id="e", customer_id="c", ts=NOW)

    assert (event.marketing, event.personalisation) == (None, None)


@pytest.mark.parametrize("flags", [{"marketing": "yes"}, {"personalisation": 3}])
def test_consent_event_rejects_non_boolean(flags: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ConsentEvent(event_id="e", customer_id="c", ts=NOW, **flags)  # type: ignore[arg-type]
