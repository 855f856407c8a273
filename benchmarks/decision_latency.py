"""Benchmark: in-process decision latency and learner throughput.

Decision: a live profile with 90 days of synthetic history -> features -> eligibility and
contact policy over 20 candidate offers -> LinTS slate of 3 -> reasons -> decision record.
Timed twice. Without a signal cache, a decision recomputes the date-dependent insight
signals (a bill due tomorrow) unless the customer's latest event fell on the same local
day; that is the customer's first decision of the day. With the service's signal cache
(engine/derived_cache.py) warm, as for a customer decided earlier the same day with no
new event since, the signals are reused.
Learner: reward records applied through the online learner (feature encoding, duplicate
check, model update, a snapshot every ``snapshot.every_updates`` rewards), and the raw
learner update alone. The shipped LinTS uses the funnel model, so each reward carries
feedback types: an accept with its click, a click, a reject or an impression alone, in
shares like those of the simulator.

    python benchmarks/decision_latency.py [--rounds 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import numpy as np

from engine.config import load_catalog, load_policy_config, load_reward_config
from engine.config.offers import OfferCatalog
from engine.decisions import DecisionEngine
from engine.derived_cache import DerivedValueCache
from engine.features import FeatureEncoder, compute_features
from engine.learner import OnlineLearner
from engine.loop import DecisionLoop
from engine.profile import CustomerProfile
from engine.rewards import Reward
from engine.snapshot_store import SnapshotHolder
from envs.bank import SyntheticBank
from policies.offer_features import offer_feature_vector
from policies.registry import make_learner


def open_catalog(size: int) -> OfferCatalog:
    """The shipped catalog with every rule opened, so all ``size`` offers are candidates."""
    catalog = load_catalog()
    offers = [offer.model_copy(update={"eligibility": "true"}) for offer in catalog.offers[:size]]
    return OfferCatalog(version=catalog.version, offers=tuple(offers))


FEEDBACK_OF: dict[int, tuple[str, ...]] = {
    0: ("impression", "click", "accept"),
    1: ("impression", "click"),
    2: ("impression", "reject"),
    3: ("impression",),
}


def trained_profiles_and_learner(catalog: OfferCatalog, customers: int) -> tuple[list[CustomerProfile], object, object]:
    config = load_policy_config("lints")
    rewards = load_reward_config()
    encoder = FeatureEncoder.from_names(config.features)
    learner = make_learner(
        config, dim=encoder.dim, offer_features={o.id: offer_feature_vector(o) for o in catalog.offers}, seed=0
    )
    loop = DecisionLoop(catalog=catalog, policy_config=config, reward_config=rewards, learner=learner, seed=0)
    bank = SyntheticBank(catalog, rewards, n_customers=customers, seed=0)
    now = None
    for _ in range(customers * 3):
        arrival = bank.next_arrival()
        now = arrival.ts
        loop.ingest_many(bank.events_until(arrival.customer_id, now))
        decision = loop.decide(arrival.customer_id, now, slate_size=3)
        loop.feedback_many(bank.respond(arrival.customer_id, decision.record.decision_id, [v.shown.offer_id for v in decision.offers], now))
    loop.tick(now + timedelta(days=30))
    loop.learner.publish()
    profiles = [loop.profiles.get(customer_id) for customer_id in bank.customer_ids]
    return [p for p in profiles if p is not None], loop, now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5000, help="decisions and updates to time")
    parser.add_argument("--customers", type=int, default=300, help="synthetic customers used to train and decide")
    args = parser.parse_args()

    catalog = open_catalog(20)
    profiles, loop, now = trained_profiles_and_learner(catalog, args.customers)
    for profile in profiles:
        profile.offers.clear()  # no contact-policy exclusions: all 20 offers are candidates
    blobs = [profile.to_bytes() for profile in profiles]

    def make_engine(signal_cache: DerivedValueCache | None) -> DecisionEngine:
        return DecisionEngine(
            catalog=catalog,
            policy_config=load_policy_config("lints"),
            reward_config=load_reward_config(),
            snapshots=SnapshotHolder(loop.holder.current),
            seed=1,
            signal_cache=signal_cache,
        )

    def time_decisions(engine: DecisionEngine) -> tuple[list[float], list[int]]:
        """Time ``args.rounds`` decisions, each on a fresh copy of a stored profile."""
        copies = [CustomerProfile.from_bytes(blob) for blob in blobs for _ in range(max(1, args.rounds // len(blobs) + 1))]
        times, candidates = [], []
        for index in range(args.rounds):
            profile = copies[index]
            started = time.perf_counter()
            decision = engine.decide(profile, customer_id=profile.customer_id, now=now, slate_size=3)
            times.append(time.perf_counter() - started)
            candidates.append(len(decision.record.candidates))
        return times, candidates

    decide_times, candidates = time_decisions(make_engine(None))

    # The service's engine: one decision per customer fills the signal cache, then the
    # timed decisions are each customer's later ones on the same day.
    cached_engine = make_engine(DerivedValueCache(len(blobs)))
    for blob in blobs:
        profile = CustomerProfile.from_bytes(blob)
        cached_engine.decide(profile, customer_id=profile.customer_id, now=now, slate_size=3)
    cached_times, _ = time_decisions(cached_engine)
    load_times = []
    for index in range(min(args.rounds, 2000)):
        started = time.perf_counter()
        CustomerProfile.from_bytes(blobs[index % len(blobs)])
        load_times.append(time.perf_counter() - started)
    feature_times = []
    for index in range(min(args.rounds, 2000)):
        profile = CustomerProfile.from_bytes(blobs[index % len(blobs)])
        started = time.perf_counter()
        compute_features(profile, now)
        feature_times.append(time.perf_counter() - started)

    config = load_policy_config("lints")
    encoder = FeatureEncoder.from_names(config.features)
    learner = make_learner(config, dim=encoder.dim, offer_features={o.id: offer_feature_vector(o) for o in catalog.offers})
    online = OnlineLearner(learner, encoder, snapshot_config=config.snapshot)
    rng = np.random.default_rng(0)
    contexts = [compute_features(CustomerProfile.from_bytes(blobs[i % len(blobs)]), now) for i in range(200)]
    # Accept (with its click), click, reject, nothing: shares like those of the simulator.
    kinds = rng.choice(4, size=args.rounds * 4, p=[0.06, 0.10, 0.20, 0.64])
    rewards = [
        Reward(
            reward_id=f"d{i}:o",
            decision_id=f"d{i}",
            offer_id=catalog.offers[i % len(catalog.offers)].id,
            customer_id="c",
            policy_id="lints",
            policy_version=1,
            context=contexts[i % len(contexts)],
            position=1,
            propensity=0.3,
            reward=float(kinds[i] == 0),
            feedback=FEEDBACK_OF[kinds[i]],
            settled_by="window",
            decided_at=0.0,
            settled_at=0.0,
        )
        for i in range(args.rounds * 4)
    ]
    started = time.perf_counter()
    for reward in rewards:
        online.learn(reward)
        online.maybe_publish()
    online_rate = len(rewards) / (time.perf_counter() - started)
    vectors = [encoder.encode(c) for c in contexts]
    started = time.perf_counter()
    for i, reward in enumerate(rewards):
        learner.update_with_feedback(reward.offer_id, vectors[i % len(vectors)], reward.reward, reward.feedback)
    raw_rate = len(rewards) / (time.perf_counter() - started)

    def us(values: list[float], q: float = 0.5) -> float:
        return float(np.quantile(values, q) * 1e6)

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    print(f"decisions timed: {args.rounds}, candidates per decision: median {statistics.median(candidates):.0f}, slate 3, policy lints")
    print(
        f"decision, no signal cache (insight signals + features + eligibility + slate + reasons + record): "
        f"median {us(decide_times):.0f} us, p99 {us(decide_times, 0.99):.0f} us  "
        f"(target <= 250 us median: {verdict(us(decide_times) <= 250)})"
    )
    print(
        f"decision, signal cache warm (the same customer again that day): "
        f"median {us(cached_times):.0f} us, p99 {us(cached_times, 0.99):.0f} us  "
        f"(target <= 250 us median: {verdict(us(cached_times) <= 250)})"
    )
    print(f"  of which compute_features: median {us(feature_times):.0f} us")
    print(f"profile load from bytes (msgpack, {statistics.median(len(b) for b in blobs) / 1024:.1f} KiB median): median {us(load_times):.0f} us")
    print(
        f"learner through OnlineLearner.learn (encode + dedup + update + snapshots): {online_rate:,.0f} rewards/s  "
        f"(target >= 20,000: {verdict(online_rate >= 20_000)})"
    )
    print(f"learner update alone (model {config.model}): {raw_rate:,.0f} updates/s")


if __name__ == "__main__":
    main()
