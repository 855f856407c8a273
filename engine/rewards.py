"""Join offer feedback to decisions and turn it into rewards.

Each shown offer of a decision gets exactly one reward. Feedback counts when it arrives
within its type's attribution window and before the offer's reward is settled. A
terminal type (by default accept, reject, dismiss) settles the reward at once; otherwise
the reward is settled when the decision's longest window closes, from the feedback
counted so far or, with none, the config's ``default_reward``.

Every outcome is counted in :class:`JoinStats`: joined, duplicate (an event id seen
before), late (outside its window or after the decision closed), unknown decision, not
shown (the offer was not in the slate) and after settled.

A duplicate of the event that settled an offer returns the same reward again, with the
same ``reward_id``. This lets a consumer that crashed after storing the join state but
before handing the reward on recover it; the learner ignores reward ids it has applied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from engine.config.rewards import RewardConfig
from engine.decision_store import DecisionStore, PendingDecision
from engine.events import DecisionRecord, OfferFeedbackEvent

__all__ = ["Reward", "JoinStats", "JoinOutcome", "RewardJoiner", "combine_feedback"]

logger = logging.getLogger(__name__)

JoinStatus = Literal["joined", "duplicate", "late", "unknown_decision", "not_shown", "after_settled"]


@dataclass(frozen=True)
class Reward:
    """The settled reward of one shown offer, with what the learner and evaluators need."""

    reward_id: str
    decision_id: str
    offer_id: str
    customer_id: str
    policy_id: str
    policy_version: int
    context: dict[str, float]
    position: int
    propensity: float
    reward: float
    feedback: tuple[str, ...]
    settled_by: Literal["terminal", "window"]
    decided_at: float
    settled_at: float

    def to_json(self) -> bytes:
        """Serialise to JSON bytes for the rewards topic."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "Reward":
        """Restore a reward written by :meth:`to_json`."""
        state = json.loads(data)
        state["feedback"] = tuple(state["feedback"])
        return cls(**state)


@dataclass
class JoinStats:
    """Counters of join outcomes since the joiner started."""

    decisions: int = 0
    joined: int = 0
    duplicate: int = 0
    late: int = 0
    unknown_decision: int = 0
    not_shown: int = 0
    after_settled: int = 0
    rewards_terminal: int = 0
    rewards_window: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class JoinOutcome:
    """Outcome of one feedback event: its join status and the rewards it settled (zero or one)."""

    status: JoinStatus
    rewards: tuple[Reward, ...] = field(default_factory=tuple)


def combine_feedback(types: list[str], config: RewardConfig) -> float:
    """Combine the weights of the counted feedback types by ``config.combine``.

    ``types`` is in arrival order; an empty list gives ``config.default_reward``.
    """
    if not types:
        return config.default_reward
    weights = [config.weights[name] for name in types]
    if config.combine == "sum":
        return float(sum(weights))
    if config.combine == "last":
        return float(weights[-1])
    return float(max(weights))


class RewardJoiner:
    """Joins feedback to pending decisions kept in a :class:`DecisionStore`."""

    def __init__(
        self,
        config: RewardConfig,
        store: DecisionStore,
        business_values: Mapping[str, float],
        *,
        retention: timedelta | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.business_values = dict(business_values)
        self.retention = retention if retention is not None else config.max_window
        self.stats = JoinStats()

    def register(self, record: DecisionRecord) -> None:
        """Store a new decision so that its feedback can be joined."""
        expires_at = record.ts.timestamp() + self.config.max_window.total_seconds()
        self.store.put(PendingDecision(record=record, expires_at=expires_at), retention_s=self.retention.total_seconds())
        self.stats.decisions += 1

    def _reward_value(self, offer_id: str, types: list[str]) -> float:
        value = combine_feedback(types, self.config)
        if self.config.business_value_weighting:
            value *= self.business_values.get(offer_id, 1.0)
        return value

    def _make_reward(
        self, pending: PendingDecision, offer_id: str, value: float, settled_by: Literal["terminal", "window"], at: float
    ) -> Reward:
        record = pending.record
        shown = record.shown_offer(offer_id)
        assert shown is not None  # callers only settle shown offers
        return Reward(
            reward_id=f"{record.decision_id}:{offer_id}",
            decision_id=record.decision_id,
            offer_id=offer_id,
            customer_id=record.customer_id,
            policy_id=record.policy_id,
            policy_version=record.policy_version,
            context=dict(record.context),
            position=shown.position,
            propensity=shown.propensity,
            reward=value,
            feedback=tuple(entry[0] for entry in pending.feedback.get(offer_id, [])),
            settled_by=settled_by,
            decided_at=record.ts.timestamp(),
            settled_at=at,
        )

    def on_feedback(self, event: OfferFeedbackEvent) -> JoinOutcome:
        """Join one feedback event; returns its status and any reward it settled."""
        stamp = event.ts.timestamp()

        def apply(pending: PendingDecision) -> JoinOutcome:
            record = pending.record
            if event.event_id in pending.seen_events:
                settled_by_this = any(
                    entry[2] == event.event_id and offer_id in pending.settled and entry[0] in self.config.terminal
                    for offer_id, entries in pending.feedback.items()
                    for entry in entries
                )
                if settled_by_this:
                    reward = self._make_reward(
                        pending, event.offer_id, pending.settled[event.offer_id], "terminal", stamp
                    )
                    return JoinOutcome("duplicate", (reward,))
                return JoinOutcome("duplicate")
            pending.seen_events.append(event.event_id)
            if record.shown_offer(event.offer_id) is None:
                return JoinOutcome("not_shown")
            window = self.config.attribution_window[event.feedback].total_seconds()
            if pending.closed or stamp - record.ts.timestamp() > window:
                return JoinOutcome("late")
            if event.offer_id in pending.settled:
                return JoinOutcome("after_settled")
            pending.feedback.setdefault(event.offer_id, []).append([event.feedback, stamp, event.event_id])
            if event.feedback in self.config.terminal:
                types = [entry[0] for entry in pending.feedback[event.offer_id]]
                value = self._reward_value(event.offer_id, types)
                pending.settled[event.offer_id] = value
                return JoinOutcome("joined", (self._make_reward(pending, event.offer_id, value, "terminal", stamp),))
            return JoinOutcome("joined")

        outcome = self.store.update(event.decision_id, apply)
        if outcome is None:
            outcome = JoinOutcome("unknown_decision")
        setattr(self.stats, outcome.status, getattr(self.stats, outcome.status) + 1)
        if outcome.status == "joined" and outcome.rewards:
            self.stats.rewards_terminal += 1
        if outcome.status not in ("joined", "duplicate"):
            logger.debug("feedback_not_counted", extra={"status": outcome.status, "decision_id": event.decision_id})
        return outcome

    def close_due(
        self,
        now: datetime,
        *,
        emit: Callable[[list[Reward]], None] | None = None,
        limit: int = 1000,
    ) -> list[Reward]:
        """Close decisions whose longest window has ended and settle their remaining offers.

        For each due decision the rewards are computed from a read, handed to ``emit``
        (which must make them durable, for example publish and flush), and only then is
        the decision stored as closed. A crash in between re-emits the same rewards, with
        the same ids, after the store's lease; the learner skips ids it has applied.
        """
        rewards: list[Reward] = []
        for decision_id in self.store.due(now.timestamp(), limit=limit):
            pending = self.store.get(decision_id)
            if pending is None or pending.closed:
                continue
            settled = self._window_rewards(pending)
            if emit is not None and settled:
                emit(settled)

            def close(stored: PendingDecision) -> None:
                stored.closed = True
                for reward in settled:
                    stored.settled.setdefault(reward.offer_id, reward.reward)

            self.store.update(decision_id, close)
            self.stats.rewards_window += len(settled)
            rewards.extend(settled)
        return rewards

    def _window_rewards(self, pending: PendingDecision) -> list[Reward]:
        settled = []
        for shown in pending.record.shown:
            if shown.offer_id in pending.settled:
                continue
            types = [entry[0] for entry in pending.feedback.get(shown.offer_id, [])]
            value = self._reward_value(shown.offer_id, types)
            settled.append(self._make_reward(pending, shown.offer_id, value, "window", pending.expires_at))
        return settled

    def stats_dict(self) -> dict[str, Any]:
        """Return the counters as a plain dict."""
        return self.stats.as_dict()
