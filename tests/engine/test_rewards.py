from datetime import datetime, timedelta, timezone

import pytest

from engine.config import load_reward_config
from engine.decision_store import InMemoryDecisionStore
from engine.events import DecisionRecord, OfferFeedbackEvent, ShownOffer
from engine.rewards import RewardJoiner, combine_feedback

T0 = datetime(2025, 5, 1, 9, tzinfo=timezone.utc)
VALUES = {"a": 2.0, "b": 1.0, "c": 0.5}


def decision(decision_id="d1", shown=("a", "b")):
    return DecisionRecord(
        decision_id=decision_id,
        customer_id="c1",
        ts=T0,
        policy_id="lints",
        policy_version=3,
        context={"balance": 100.0},
        candidates=(),
        shown=tuple(
            ShownOffer(offer_id=offer, position=i + 1, propensity=0.5, score=0.1, reason="r") for i, offer in enumerate(shown)
        ),
        slate_propensity=0.25,
    )


def feedback(event_id, offer, kind, minutes, decision_id="d1"):
    return OfferFeedbackEvent(
        event_id=event_id, customer_id="c1", ts=T0 + timedelta(minutes=minutes), decision_id=decision_id, offer_id=offer, feedback=kind
    )


@pytest.fixture
def joiner():
    joiner = RewardJoiner(load_reward_config(), InMemoryDecisionStore(), VALUES)
    joiner.register(decision())
    return joiner


def test_terminal_feedback_settles_with_business_value(joiner):
    joiner.on_feedback(feedback("e1", "a", "impression", 1))
    joiner.on_feedback(feedback("e2", "a", "click", 2))
    outcome = joiner.on_feedback(feedback("e3", "a", "accept", 3))
    assert outcome.status == "joined"
    (reward,) = outcome.rewards
    assert reward.reward == pytest.approx(1.0 * 2.0)
    assert reward.feedback == ("impression", "click", "accept")
    assert reward.propensity == 0.5
    assert reward.settled_by == "terminal"


def test_window_close_emits_default_and_combined(joiner):
    joiner.on_feedback(feedback("e1", "a", "click", 5))
    rewards = joiner.close_due(T0 + timedelta(days=30))
    by_offer = {reward.offer_id: reward for reward in rewards}
    assert by_offer["a"].reward == pytest.approx(0.1 * 2.0)
    assert by_offer["b"].reward == pytest.approx(load_reward_config().default_reward)
    assert all(reward.settled_by == "window" for reward in rewards)
    assert joiner.close_due(T0 + timedelta(days=31)) == []


def test_duplicate_feedback_is_not_counted_twice(joiner):
    first = joiner.on_feedback(feedback("e1", "a", "accept", 1))
    again = joiner.on_feedback(feedback("e1", "a", "accept", 1))
    assert again.status == "duplicate"
    assert again.rewards[0].reward_id == first.rewards[0].reward_id
    assert again.rewards[0].reward == first.rewards[0].reward
    assert joiner.stats.duplicate == 1
    assert joiner.stats.rewards_terminal == 1


def test_late_unknown_not_shown_after_settled(joiner):
    window = load_reward_config().attribution_window["click"]
    late = joiner.on_feedback(feedback("e1", "a", "click", window.total_seconds() / 60 + 1))
    assert late.status == "late"
    assert joiner.on_feedback(feedback("e2", "a", "click", 1, decision_id="nope")).status == "unknown_decision"
    assert joiner.on_feedback(feedback("e3", "c", "click", 1)).status == "not_shown"
    joiner.on_feedback(feedback("e4", "b", "reject", 1))
    assert joiner.on_feedback(feedback("e5", "b", "accept", 2)).status == "after_settled"
    stats = joiner.stats_dict()
    assert stats["late"] == 1
    assert stats["unknown_decision"] == 1
    assert stats["not_shown"] == 1
    assert stats["after_settled"] == 1


def test_feedback_after_close_is_late(joiner):
    joiner.close_due(T0 + timedelta(days=8))
    assert joiner.on_feedback(feedback("e1", "a", "accept", 5)).status == "late"


@pytest.mark.parametrize(("combine", "expected"), [("max", 1.0), ("sum", 1.1), ("last", -0.05)])
def test_combine_rules(combine, expected):
    config = load_reward_config().model_copy(update={"combine": combine})
    types = ["click", "accept", "reject"] if combine != "sum" else ["click", "accept"]
    assert combine_feedback(types, config) == pytest.approx(expected)
    assert combine_feedback([], config) == config.default_reward
