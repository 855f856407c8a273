"""Serving an RLlib checkpoint through the dashboard service: traffic split, shadow mode, main policy."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
import yaml

from api.serve_app import _initial_snapshot, build_routing, parse_traffic_split
from api.service import DashboardService
from engine.bus import TOPIC_DECISIONS, InMemoryEventBus
from engine.config import load_catalog, load_policy_config, load_reward_config
from engine.decision_store import InMemoryDecisionStore
from engine.errors import InvalidInputError
from engine.events import parse_decision
from engine.profile_store import InMemoryProfileStore
from engine.settings import ServiceSettings
from engine.snapshot_store import InMemorySnapshotStore
from engine.stream import StreamProcessors

NOW = datetime(2026, 6, 1, 9, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def ppo_policy_path(ppo_run, tmp_path_factory):
    path = tmp_path_factory.mktemp("policies") / "ppo.yaml"
    path.write_text(yaml.safe_dump({"id": "ppo", "algorithm": "rllib", "checkpoint": ppo_run.checkpoint}))
    return str(path)


def make_service(settings: ServiceSettings, bus: InMemoryEventBus) -> DashboardService:
    configs = SimpleNamespace(catalog=load_catalog(), policy=load_policy_config("lints"), rewards=load_reward_config())
    stores = SimpleNamespace(profiles=InMemoryProfileStore(), decisions=InMemoryDecisionStore(), snapshots=InMemorySnapshotStore())
    serving = _initial_snapshot(configs, stores)
    shadow, split = build_routing(settings, configs, serving)
    return DashboardService(
        catalog=configs.catalog,
        policy_config=configs.policy,
        reward_config=configs.rewards,
        profiles=stores.profiles,
        decisions=stores.decisions,
        snapshots=stores.snapshots,
        bus=bus,
        initial_snapshot=serving,
        seed=0,
        shadow=shadow,
        split=split,
    )


def test_traffic_split_routes_customers_to_rllib(ppo_policy_path):
    bus = InMemoryEventBus()
    service = make_service(ServiceSettings(traffic_split=f"lints=0.5,{ppo_policy_path}=0.5"), bus)
    policies = {}
    for index in range(40):
        user = f"user-{index}"
        first = service.dashboard(user, "web", now=NOW)
        again = service.dashboard(user, "web", now=NOW)
        assert first["policy_id"] == again["policy_id"], "a customer keeps the same arm"
        policies[user] = first["policy_id"]
        assert first["offers"]
    assert set(policies.values()) == {"lints", "ppo"}
    assert service.writer.flush()
    records = [parse_decision(message.value) for message in bus.messages(TOPIC_DECISIONS)]
    for record in records:
        assert 0.0 < record.slate_propensity <= 1.0
        assert all(0.0 < shown.propensity <= 1.0 for shown in record.shown)
        assert {shown.offer_id for shown in record.shown} <= set(record.eligible)


def test_shadow_policy_logged_not_served(ppo_policy_path):
    bus = InMemoryEventBus()
    service = make_service(ServiceSettings(shadow_policy=ppo_policy_path), bus)
    dashboard = service.dashboard("shadow-user", "mobile", now=NOW)
    assert dashboard["policy_id"] == "lints"
    assert service.writer.flush()
    messages = bus.messages(TOPIC_DECISIONS)
    assert len(messages) == 2
    shadow = [m for m in messages if ("shadow", b"1") in m.headers]
    assert len(shadow) == 1
    record = parse_decision(shadow[0].value)
    assert record.policy_id == "ppo"
    assert record.decision_id == f"{dashboard['decision_id']}-shadow"
    assert service.decisions.get(record.decision_id) is None, "shadow decisions are never joined to feedback"
    assert service.decisions.get(dashboard["decision_id"]) is not None
    assert service.counters.shadow_decisions == 1


def test_rllib_main_policy_has_no_online_learner(ppo_policy_path):
    configs = SimpleNamespace(
        catalog=load_catalog(), policy=load_policy_config(ppo_policy_path), rewards=load_reward_config()
    )
    stores = SimpleNamespace(profiles=InMemoryProfileStore(), decisions=InMemoryDecisionStore(), snapshots=InMemorySnapshotStore())
    streams = StreamProcessors(configs, stores, InMemoryEventBus())
    assert streams.learner is None
    assert len(streams._workers()) == 2
    streams.publish_initial_snapshot()
    assert "learner" in streams.stats()
    snapshot = _initial_snapshot(configs, stores)
    assert snapshot.policy_id == "ppo"


@pytest.mark.parametrize("text", ["lints", "lints=x", "=0.5", "lints=-1"])
def test_traffic_split_text_errors(text):
    with pytest.raises(InvalidInputError, match="policy=weight"):
        parse_traffic_split(text)
