"""The service's stream processing on the real broker and Redis: profiles, feedback, dead letters, restarts."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from api.service import DashboardService
from engine.bus import TOPIC_CUSTOMER_EVENTS, TOPIC_DEAD_LETTER, TOPIC_FEEDBACK, TOPIC_REWARDS
from engine.deadletter import read_dead_letter
from engine.features import FeatureEncoder
from engine.learner import OnlineLearner
from engine.privacy import pseudonymize
from engine.rewards import Reward
from engine.runtime import checkpoint_name, restore_learner
from engine.stream import StreamProcessors
from engine.workers import LearnerWorker
from policies.registry import load_snapshot

pytestmark = [pytest.mark.kafka, pytest.mark.redis]


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def make_service(infra) -> DashboardService:
    loaded = infra.stores.snapshots.load(infra.configs.policy.id)
    assert loaded is not None
    return DashboardService(
        catalog=infra.configs.catalog,
        policy_config=infra.configs.policy,
        reward_config=infra.configs.rewards,
        profiles=infra.stores.profiles,
        decisions=infra.stores.decisions,
        snapshots=infra.stores.snapshots,
        bus=infra.bus,
        initial_snapshot=load_snapshot(loaded[1]),
        seed=0,
    )


def transaction(customer_id: str, event_id: str, days_ago: float, amount: str, description: str) -> bytes:
    ts = datetime.now(timezone.utc) - timedelta(days=days_ago)
    return json.dumps(
        {
            "type": "transaction",
            "event_id": event_id,
            "customer_id": customer_id,
            "ts": ts.isoformat(),
            "amount": amount,
            "currency": "EUR",
            "description": description,
        }
    ).encode()


@pytest.fixture
def streams(infra):
    processors = StreamProcessors(infra.configs, infra.stores, infra.bus, group_prefix="workers")
    processors.publish_initial_snapshot()
    processors.start()
    yield processors
    processors.stop()


def test_transactions_on_kafka_change_dashboard(infra, streams):
    service = make_service(infra)
    user = f"user-{uuid.uuid4().hex[:8]}"
    before = service.dashboard(user, "web")
    assert before["cold_start"] is True
    assert not any(insight["category"] == "subscriptions" for insight in before["insights"])

    customer = pseudonymize(user)
    for index, (days, amount, text) in enumerate([(1, "-15.99", "NETFLIX.COM"), (2, "-62.10", "ALBERT HEIJN"), (20, "2500", "SALARY ACME")]):
        infra.bus.publish(TOPIC_CUSTOMER_EVENTS, transaction(customer, f"{user}-{index}", days, amount, text), key=customer.encode())
    infra.bus.flush()

    after = wait_for(lambda: (d := service.dashboard(user, "web")) and not d["cold_start"] and d, what="profile from Kafka")
    subscriptions = [insight for insight in after["insights"] if insight["category"] == "subscriptions"]
    assert subscriptions
    assert "15.99" in subscriptions[0]["prediction"]
    profile = infra.stores.profiles.get(customer)
    assert profile is not None
    assert len(profile.seen) == 3


def test_feedback_on_kafka_updates_snapshot(infra, streams):
    service = make_service(infra)
    policy = infra.configs.policy.id
    start_version = infra.stores.snapshots.latest_version(policy)
    dashboard = service.dashboard(f"user-{uuid.uuid4().hex[:8]}", "web")
    offer = dashboard["offers"][0]["id"]
    receipt = service.record_feedback(dashboard["decision_id"], offer, "accept")
    assert receipt["accepted"] is True

    wait_for(lambda: infra.stores.snapshots.latest_version(policy) > start_version, what="a new snapshot")
    assert wait_for(service.refresh_snapshot, what="the replica to swap the snapshot")
    assert service.snapshot_version > start_version
    assert streams.learner.stats.applied >= 1
    assert streams.joiner.stats.rewards_terminal == 1
    count, total = streams.learner.rewards_by_offer[offer]
    assert count == 1
    business_value = next(o.business_value for o in infra.configs.catalog.offers if o.id == offer)
    assert total == pytest.approx(infra.configs.rewards.weights["accept"] * business_value)


def test_malformed_events_go_to_dead_letter(infra, streams):
    marker = uuid.uuid4().hex
    infra.bus.publish(TOPIC_CUSTOMER_EVENTS, f"not json {marker}".encode())
    bad_amount = json.loads(transaction("c-" + marker, marker, 1, "0", "x"))
    bad_amount["amount"] = "twelve"
    infra.bus.publish(TOPIC_CUSTOMER_EVENTS, json.dumps(bad_amount).encode())
    infra.bus.publish(TOPIC_FEEDBACK, json.dumps({"type": "offer_feedback", "event_id": marker}).encode())
    infra.bus.flush()

    consumer = infra.bus.consumer([TOPIC_DEAD_LETTER], group_id=f"dlq-{marker}")
    found: dict[str, dict] = {}

    def collect() -> bool:
        for message in consumer.poll(timeout_s=0.5):
            record = read_dead_letter(message.value)
            if marker.encode() in record["payload"]:
                found[record["source_topic"] + ":" + record["payload"][:8].decode(errors="replace")] = record
        return len(found) >= 3

    wait_for(collect, what="three dead letters")
    consumer.close()
    reasons = sorted(record["reason"] for record in found.values())
    assert any("not valid JSON" in reason for reason in reasons)
    assert any("amount" in reason and "twelve" in reason for reason in reasons)
    assert any("offer_feedback" in reason and "decision_id" in reason for reason in reasons)
    assert streams.profile_worker.stats.dead_lettered >= 2
    # The workers keep going after dead letters.
    customer = "c-" + uuid.uuid4().hex
    infra.bus.publish(TOPIC_CUSTOMER_EVENTS, transaction(customer, uuid.uuid4().hex, 1, "-5", "COFFEE"), key=customer.encode())
    infra.bus.flush()
    wait_for(lambda: infra.stores.profiles.get(customer) is not None, what="the next valid event")


def _rewards(count: int, contexts: list[dict[str, float]], offers: list[str], seed: int) -> list[Reward]:
    rng = np.random.default_rng(seed)
    return [
        Reward(
            reward_id=f"d{index}:{offers[index % len(offers)]}",
            decision_id=f"d{index}",
            offer_id=offers[index % len(offers)],
            customer_id="c",
            policy_id="lints",
            policy_version=1,
            context=contexts[index % len(contexts)],
            position=1,
            propensity=0.5,
            reward=float(rng.choice([0.0, 0.1, 1.0, -0.05])),
            feedback=(),
            settled_by="window",
            decided_at=time.time(),
            settled_at=time.time(),
        )
        for index in range(count)
    ]


def test_learner_restart_loses_nothing_counts_nothing_twice(infra):
    configs = infra.configs
    offers = [offer.id for offer in configs.catalog.offers[:5]]
    contexts = [{"balance": float(v), "spend_30d": float(3 * v), "has_salary": float(v % 2)} for v in range(1, 40)]
    rewards = _rewards(300, contexts, offers, seed=3)
    for reward in rewards:
        infra.bus.publish(TOPIC_REWARDS, reward.to_json(), key=b"c")
    infra.bus.flush()
    encoder = FeatureEncoder.from_names(configs.policy.features)
    snapshot_config = configs.policy.snapshot.model_copy(update={"every_updates": 50, "every_seconds": 3600})

    def new_worker(every_updates: int = 50) -> LearnerWorker:
        learner, applied = restore_learner(configs, infra.stores.snapshots)
        config = snapshot_config.model_copy(update={"every_updates": every_updates})
        online = OnlineLearner(learner, encoder, snapshot_config=config, store=infra.stores.snapshots)
        online.applied_ids.update(applied)
        return LearnerWorker(infra.bus, online, checkpoint_name=checkpoint_name(configs.policy.id), group_id="learner")

    first = new_worker()
    wait_for(lambda: first.step(timeout_s=0.5, max_records=70) or first.learner.stats.applied >= 70, what="first batch")
    while first.learner.stats.applied < 170:
        first.step(timeout_s=0.5, max_records=40)
    # Crash: the worker dies without committing what it applied after its last checkpoint.
    applied_before_crash = first.learner.stats.applied
    assert applied_before_crash % snapshot_config.every_updates != 0
    first.consumer.close()

    # Restart 1: resumes from the last commit (150); rewards 150-169 were never stored, so
    # they are applied again, once.
    second = new_worker(every_updates=10_000)
    assert len(second.learner.applied_ids) == (applied_before_crash // 50) * 50
    while second.learner.stats.applied < 80:
        second.step(timeout_s=0.5, max_records=40)
    # Crash 2: the checkpoint is stored but the process dies before committing offsets.
    snapshot = second.learner.publish()
    infra.stores.snapshots.save_checkpoint(checkpoint_name(configs.policy.id), second.learner.checkpoint(snapshot, {}))
    stored = len(second.learner.applied_ids)
    second.consumer.close()

    # Restart 2: messages since the last commit come again; those in the checkpoint are skipped.
    third = new_worker()
    assert len(third.learner.applied_ids) == stored
    wait_for(
        lambda: third.step(timeout_s=0.5) >= 0 and len(third.learner.applied_ids) >= len(rewards),
        timeout_s=60,
        what="all rewards after the second restart",
    )
    third.checkpoint_and_commit()
    assert third.learner.stats.skipped_duplicate == stored - (applied_before_crash // 50) * 50
    assert len(third.learner.applied_ids) == len(rewards)
    assert third.learner.learner.n_updates == len(rewards)

    reference, _ = restore_learner(configs.__class__(configs.catalog, configs.policy, configs.rewards), _EmptySnapshots())
    for reward in rewards:
        reference.update_one(reward.offer_id, encoder.encode(reward.context), reward.reward)
    context = encoder.encode(contexts[0])
    assert np.allclose(
        third.learner.learner.snapshot().expected_rewards(context, offers),
        reference.snapshot().expected_rewards(context, offers),
    )
    third.close()


class _EmptySnapshots:
    def load_checkpoint(self, name):
        return None

    def load(self, policy_id, version=None):
        return None
