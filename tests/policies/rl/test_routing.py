from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from engine.config.policy import PolicyConfig
from engine.errors import InvalidInputError
from policies.base import PolicySnapshot, SlateChoice
from policies.registry import make_snapshot
from policies.routing import ShadowDecision, ShadowPolicy, TrafficSplit

DIM = 4
OFFERS = ["card-a", "savings-b", "loan-c", "fund-d"]
CONTEXT = np.array([0.3, -0.2, 0.5, 1.0])


def _snapshot(policy_id: str, algorithm: str = "random") -> PolicySnapshot:
    return make_snapshot(PolicyConfig(id=policy_id, algorithm=algorithm), dim=DIM)


class FailingSnapshot(PolicySnapshot):
    """A shadow candidate whose every decision raises."""

    policy_id = "broken"
    algorithm = "random"
    version = 1

    def choose_slate(self, context, offer_ids, multipliers, k, rng) -> SlateChoice:
        raise RuntimeError("model file vanished")

    def expected_rewards(self, context: np.ndarray, offer_ids: Sequence[str]) -> np.ndarray:
        return np.zeros(len(offer_ids))

    def to_bytes(self) -> bytes:
        return b""


def test_shadow_returns_serving_choice() -> None:
    serving, shadow = _snapshot("serving"), _snapshot("candidate", "lints")
    alone = serving.choose_slate(CONTEXT, OFFERS, np.ones(4), 2, np.random.default_rng(5))
    seen: list[ShadowDecision] = []
    policy = ShadowPolicy(serving, shadow, on_shadow=seen.append, shadow_seed=1)
    choice = policy.choose_slate(CONTEXT, OFFERS, np.ones(4), 2, np.random.default_rng(5))
    assert choice.order == alone.order
    assert choice.propensities == alone.propensities
    assert len(seen) == 1
    assert seen[0].serving is choice
    assert seen[0].shadow is not None
    assert len(seen[0].shadow.order) == 2
    assert policy.policy_id == "serving"


def test_shadow_decide_uses_its_own_context() -> None:
    policy = ShadowPolicy(_snapshot("serving"), _snapshot("candidate", "lints"), shadow_seed=0)
    with pytest.raises(InvalidInputError, match=r"shape \(4,\)"):
        policy.decide(np.ones(3), OFFERS, np.ones(4), 1, np.random.default_rng(0))
    decision = policy.decide(CONTEXT, OFFERS, np.ones(4), 1, np.random.default_rng(0), shadow_context=CONTEXT * 2)
    assert decision.shadow is not None


def test_failing_shadow_never_breaks_serving(caplog) -> None:
    seen: list[ShadowDecision] = []
    policy = ShadowPolicy(_snapshot("serving"), FailingSnapshot(), on_shadow=seen.append)
    with caplog.at_level("WARNING", logger="policies.routing"):
        choice = policy.choose_slate(CONTEXT, OFFERS, np.ones(4), 1, np.random.default_rng(0))
    assert len(choice.order) == 1
    assert seen[0].shadow is None
    assert seen[0].shadow_error == "RuntimeError: model file vanished"
    assert policy.shadow_failures == 1
    assert "shadow_policy_failed" in caplog.text


def test_failing_hook_never_breaks_serving() -> None:
    def hook(decision: ShadowDecision) -> None:
        raise ValueError("log sink down")

    policy = ShadowPolicy(_snapshot("serving"), _snapshot("candidate"), on_shadow=hook)
    assert len(policy.choose_slate(CONTEXT, OFFERS, np.ones(4), 2, np.random.default_rng(0)).order) == 2


def test_shadow_rejects_non_snapshots() -> None:
    with pytest.raises(InvalidInputError, match="shadow must be a PolicySnapshot; got str"):
        ShadowPolicy(_snapshot("serving"), "lints")  # type: ignore[arg-type]


def test_split_is_stable_across_instances() -> None:
    arms = [(0.5, _snapshot("control")), (0.5, _snapshot("candidate"))]
    first, second = TrafficSplit(arms, seed=3), TrafficSplit(arms, seed=3)
    customers = [f"cust-{index:05d}" for index in range(500)]
    assert [first.arm_of(c) for c in customers] == [second.arm_of(c) for c in customers]
    assert [first.arm_of(c) for c in customers] == [first.arm_of(c) for c in customers]


def test_split_follows_weights() -> None:
    split = TrafficSplit([(0.8, _snapshot("control")), (0.2, _snapshot("candidate"))], seed=0)
    arms = np.array([split.arm_of(f"cust-{index:05d}") for index in range(10_000)])
    assert (arms == 1).mean() == pytest.approx(0.2, abs=0.015)
    assert split.shares == pytest.approx((0.8, 0.2))


def test_split_seed_changes_assignment() -> None:
    arms = [(1.0, _snapshot("control")), (1.0, _snapshot("candidate"))]
    customers = [f"cust-{index:05d}" for index in range(200)]
    one = [TrafficSplit(arms, seed=1).arm_of(c) for c in customers]
    two = [TrafficSplit(arms, seed=2).arm_of(c) for c in customers]
    assert one != two


def test_zero_weight_arm_gets_no_one() -> None:
    split = TrafficSplit([(1.0, _snapshot("control")), (0.0, _snapshot("paused")), (1.0, _snapshot("candidate"))])
    arms = {split.arm_of(f"cust-{index}") for index in range(3000)}
    assert arms == {0, 2}


def test_split_decides_with_routed_policy() -> None:
    split = TrafficSplit([(1.0, _snapshot("control")), (1.0, _snapshot("candidate", "lints"))], seed=0)
    routed = split.decide("cust-00042", CONTEXT, OFFERS, np.ones(4), 2, np.random.default_rng(0))
    assert routed.policy_id == split.route("cust-00042").policy_id
    assert routed.arm == split.arm_of("cust-00042")
    assert len(routed.choice.order) == 2


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ([], "at least one"),
        ([(-1.0, None)], r"arms\[0\] must be a \(weight, PolicySnapshot\) pair"),
        ([(0.0, "snapshot")], r"arms\[0\] must be a \(weight, PolicySnapshot\) pair"),
    ],
)
def test_split_rejects_invalid_arms(arms, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        TrafficSplit(arms)


def test_split_rejects_bad_weights() -> None:
    control = _snapshot("control")
    with pytest.raises(InvalidInputError, match=r"arms\[0\] weight must be finite and >= 0; got -1.0"):
        TrafficSplit([(-1.0, control)])
    with pytest.raises(InvalidInputError, match="positive sum"):
        TrafficSplit([(0.0, control)])
    with pytest.raises(InvalidInputError, match="customer_id must be a non-empty string"):
        TrafficSplit([(1.0, control)]).arm_of("")
