from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from engine.config import load_catalog, load_policy_config, load_reward_config
from engine.config.offers import OfferCatalog, OfferSpec
from engine.eligibility import CompiledCatalog
from engine.events import OfferFeedbackEvent, new_id
from engine.features import FeatureEncoder, compute_features
from engine.insights.state import refresh_insight_signals
from engine.loop import DecisionLoop
from envs.bank import SyntheticBank
from policies.offer_features import offer_feature_vector
from policies.registry import make_learner


def make_loop(policy: str, catalog: OfferCatalog, seed: int = 0) -> DecisionLoop:
    config = load_policy_config(policy)
    encoder = FeatureEncoder.from_names(config.features)
    learner = make_learner(config, dim=encoder.dim, offer_features={o.id: offer_feature_vector(o) for o in catalog.offers})
    return DecisionLoop(catalog=catalog, policy_config=config, reward_config=load_reward_config(), learner=learner, seed=seed)


@pytest.mark.parametrize("policy", ["lints", "linucb", "epsilon-greedy", "random", "static"])
def test_exploration_never_shows_ineligible_offer(policy):
    catalog = load_catalog()
    compiled = CompiledCatalog(catalog)
    loop = make_loop(policy, catalog)
    bank = SyntheticBank(catalog, load_reward_config(), n_customers=60, seed=4)
    shown = 0
    for _ in range(250):
        arrival = bank.next_arrival()
        loop.ingest_many(bank.events_until(arrival.customer_id, arrival.ts))
        profile = loop.profiles.get(arrival.customer_id)
        refresh_insight_signals(profile, arrival.ts)
        features = compute_features(profile, arrival.ts)
        allowed = {offer.id for offer in compiled.filter(features, profile.offers, arrival.ts).eligible}
        decision = loop.decide(arrival.customer_id, arrival.ts, slate_size=3)
        record = decision.record
        for item in record.shown:
            assert item.offer_id in allowed, f"{item.offer_id} shown but ineligible: {record.ineligible.get(item.offer_id)}"
            assert 0.0 < item.propensity <= 1.0
        shown += len(record.shown)
        probabilities = [candidate.probability for candidate in record.candidates]
        if probabilities:
            assert all(0.0 <= p <= 1.0 for p in probabilities)
            assert sum(probabilities) == pytest.approx(1.0)
            assert {c.offer_id for c in record.candidates} == allowed
            assert 0.0 < record.slate_propensity <= 1.0
            assert record.slate_propensity == pytest.approx(np.prod([s.propensity for s in record.shown]))
        loop.feedback_many(bank.respond(arrival.customer_id, record.decision_id, [s.offer_id for s in record.shown], arrival.ts))
    assert shown > 180


def test_contact_policy_caps_impressions():
    catalog = load_catalog()
    loop = make_loop("static", catalog)
    now = datetime(2025, 6, 2, 9, tzinfo=timezone.utc)
    counts: dict[str, int] = {}
    for step in range(10):
        decision = loop.decide("c1", now + timedelta(hours=step), slate_size=3)
        for item in decision.record.shown:
            counts[item.offer_id] = counts.get(item.offer_id, 0) + 1
            loop.feedback(
                OfferFeedbackEvent(
                    event_id=new_id(), customer_id="c1", ts=now + timedelta(hours=step, minutes=1),
                    decision_id=decision.record.decision_id, offer_id=item.offer_id, feedback="impression",
                )
            )
    limits = {offer.id: offer.contact.max_impressions for offer in catalog.offers}
    transactional = {offer.id for offer in catalog.offers if offer.transactional}
    for offer_id, count in counts.items():
        if offer_id in transactional:
            continue  # service messages are exempt from contact limits
        assert count <= limits[offer_id], f"{offer_id} shown {count} times, limit {limits[offer_id]}"
    assert len(counts) > 3


def test_rejected_offer_enters_cooldown():
    catalog = load_catalog()
    loop = make_loop("static", catalog)
    now = datetime(2025, 6, 2, 9, tzinfo=timezone.utc)
    first = loop.decide("c2", now, slate_size=1)
    offer = first.record.shown[0].offer_id
    loop.feedback(
        OfferFeedbackEvent(event_id=new_id(), customer_id="c2", ts=now + timedelta(minutes=1),
                           decision_id=first.record.decision_id, offer_id=offer, feedback="reject")
    )
    later = loop.decide("c2", now + timedelta(days=1), slate_size=3)
    assert offer not in [item.offer_id for item in later.record.shown]
    assert later.record.ineligible[offer] == "cooldown after reject"


def tiny_catalog() -> OfferCatalog:
    offers = [
        OfferSpec(id=f"offer-{name}", title=f"Offer {name}", actionUrl=f"app://offers/{name}", category="savings", business_value=1.0)
        for name in ("a", "b", "c", "d")
    ]
    return OfferCatalog(offers=tuple(offers))


@pytest.mark.parametrize("policy", ["lints", "linucb"])
def test_loop_converges_to_known_best_offer(policy):
    catalog = tiny_catalog()
    loop = make_loop(policy, catalog, seed=3)
    rng = np.random.default_rng(11)
    accept = {"offer-a": 0.05, "offer-b": 0.05, "offer-c": 0.4, "offer-d": 0.05}
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    picks = []
    for step in range(1500):
        now += timedelta(minutes=10)
        customer = f"c{step % 50}"
        decision = loop.decide(customer, now, slate_size=1)
        offer = decision.record.shown[0].offer_id
        picks.append(offer)
        kind = "accept" if rng.random() < accept[offer] else "reject"
        loop.feedback(
            OfferFeedbackEvent(event_id=new_id(), customer_id=customer, ts=now + timedelta(seconds=5),
                               decision_id=decision.record.decision_id, offer_id=offer, feedback=kind)
        )
        loop.tick(now)
        # Contact limits do not matter here: this test is about learning.
        loop.profiles.update(customer, lambda profile: profile.offers.clear())
    share = picks[-300:].count("offer-c") / 300
    assert share >= 0.85, f"{policy} picked the best offer {share:.0%} of the last 300 decisions"


def test_decision_records_built_without_validation_pass_validation():
    """The decision path skips pydantic validation; every record it builds must still validate."""
    from engine.events import DecisionRecord, ShownOffer

    catalog = load_catalog()
    loop = make_loop("lints", catalog)
    bank = SyntheticBank(catalog, load_reward_config(), n_customers=20, seed=2)
    for _ in range(30):
        arrival = bank.next_arrival()
        loop.ingest_many(bank.events_until(arrival.customer_id, arrival.ts))
        record = loop.decide(arrival.customer_id, arrival.ts, slate_size=3).record
        assert set(vars(record)) == set(DecisionRecord.model_fields)
        for item in record.shown:
            assert set(vars(item)) == set(ShownOffer.model_fields)
            assert ShownOffer.model_validate(item.model_dump()) == item
        validated = DecisionRecord.model_validate_json(record.json_bytes())
        assert validated == record
        assert validated.json_bytes() == record.json_bytes()
