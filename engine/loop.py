"""The decision loop in one process: profiles, decisions, reward join and learning.

:class:`DecisionLoop` wires the pieces over any store implementations. The simulator and
the statement dashboard drive it; the service's stream workers (engine.workers) use the
same decision engine, reward joiner, learner and stores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.decision_store import DecisionStore, InMemoryDecisionStore
from engine.decisions import Decision, DecisionEngine
from engine.events import OfferFeedbackEvent, TransactionEvent
from engine.features import FeatureEncoder
from engine.learner import OnlineLearner
from engine.profile import ApplyResult, CustomerProfile
from engine.profile_store import InMemoryProfileStore, ProfileStore
from engine.rewards import JoinOutcome, Reward, RewardJoiner
from engine.snapshot_store import SnapshotHolder, SnapshotStore
from policies.base import BanditLearner, PolicySnapshot

__all__ = ["DecisionLoop", "LoopCounters", "default_categorizer"]

logger = logging.getLogger(__name__)

Categorizer = Callable[[TransactionEvent], str]


def default_categorizer(event: TransactionEvent) -> str:
    """Categorise with engine.categorize unless the event already carries a category."""
    if event.category:
        return event.category
    from engine.categorize import categorize

    return categorize(event.description, merchant=event.merchant, mcc=event.mcc, amount=event.amount)


@dataclass
class LoopCounters:
    """Counts of what the loop processed."""

    events_applied: int = 0
    events_duplicate: int = 0
    events_stale: int = 0
    decisions: int = 0
    rewards: int = 0
    reward_sum: float = 0.0
    by_offer: dict[str, float] = field(default_factory=dict)


class DecisionLoop:
    """Profiles in, decisions out, feedback back in, policy updated.

    Args:
        catalog, policy_config, reward_config: typed configs.
        learner: the policy's learner (policies.registry.make_learner).
        profiles, decisions: stores; in-memory by default.
        snapshot_store: where snapshots are published for other processes, if any.
        categorizer: maps a transaction to a category; engine.categorize by default.
        seed: seed of the decision engine's random generator.
        snapshot_override: a fixed snapshot to decide with instead of the learner's.
        clock: seconds clock that times snapshot publication; a simulation passes its
            simulated clock so that runs with one seed are identical.
    """

    def __init__(
        self,
        *,
        catalog: OfferCatalog,
        policy_config: PolicyConfig,
        reward_config: RewardConfig,
        learner: BanditLearner,
        profiles: ProfileStore | None = None,
        decisions: DecisionStore | None = None,
        snapshot_store: SnapshotStore | None = None,
        categorizer: Categorizer = default_categorizer,
        seed: int | None = None,
        snapshot_override: PolicySnapshot | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.catalog = catalog
        self.profiles = profiles if profiles is not None else InMemoryProfileStore()
        self.decision_store = decisions if decisions is not None else InMemoryDecisionStore()
        self.categorizer = categorizer
        first = snapshot_override if snapshot_override is not None else learner.snapshot()
        self.holder: SnapshotHolder[PolicySnapshot] = SnapshotHolder(first)
        self.engine = DecisionEngine(
            catalog=catalog,
            policy_config=policy_config,
            reward_config=reward_config,
            snapshots=self.holder,
            seed=seed,
        )
        self.joiner = RewardJoiner(reward_config, self.decision_store, {o.id: o.business_value for o in catalog.offers})
        self.learner = OnlineLearner(
            learner,
            FeatureEncoder.from_names(policy_config.features),
            snapshot_config=policy_config.snapshot,
            holder=None if snapshot_override is not None else self.holder,
            store=snapshot_store,
            **({"clock": clock} if clock is not None else {}),
        )
        self.counters = LoopCounters()

    # ------------------------------------------------------------ customer events
    def ingest(self, event: Any) -> ApplyResult:
        """Apply a customer event (or offer feedback) to the customer's profile."""
        category = self.categorizer(event) if isinstance(event, TransactionEvent) else None
        result = self.profiles.update(event.customer_id, lambda profile: profile.apply(event, category=category))
        self._count(result)
        return result

    def ingest_many(self, events: Sequence[Any]) -> list[ApplyResult]:
        """Apply events in order, with one store update per run of events of the same customer.

        Each run rebuilds the customer's insight signals once, after its last event.
        """
        results: list[ApplyResult] = []
        start = 0
        while start < len(events):
            customer_id = events[start].customer_id
            stop = start
            while stop < len(events) and events[stop].customer_id == customer_id:
                stop += 1
            batch = events[start:stop]
            categories = [self.categorizer(e) if isinstance(e, TransactionEvent) else None for e in batch]

            def apply_all(profile: CustomerProfile) -> list[ApplyResult]:
                results = [
                    profile.apply(event, category=category, refresh_insights=False)
                    for event, category in zip(batch, categories)
                ]
                profile.refresh_insights()
                return results

            for result in self.profiles.update(customer_id, apply_all):
                self._count(result)
                results.append(result)
            start = stop
        return results

    def _count(self, result: ApplyResult) -> None:
        if result.applied:
            self.counters.events_applied += 1
        elif result.reason == "duplicate":
            self.counters.events_duplicate += 1
        else:
            self.counters.events_stale += 1

    # ------------------------------------------------------------------ decisions
    def decide(self, customer_id: str, now: datetime, *, channel: str = "mobile", slate_size: int | None = None) -> Decision:
        """Decide for one customer from the stored profile and register the decision for joining."""
        profile: CustomerProfile | None = self.profiles.get(customer_id)
        decision = self.engine.decide(profile, customer_id=customer_id, now=now, channel=channel, slate_size=slate_size)
        self.joiner.register(decision.record)
        self.counters.decisions += 1
        return decision

    # ------------------------------------------------------------------- feedback
    def feedback(self, event: OfferFeedbackEvent) -> JoinOutcome:
        """Join feedback, update offer-fatigue counters and learn from any settled reward."""
        outcome = self.joiner.on_feedback(event)
        if outcome.status in ("joined", "late", "after_settled"):
            self.ingest(event)
        for reward in outcome.rewards:
            self._learn(reward)
        return outcome

    def feedback_many(self, events: Sequence[OfferFeedbackEvent]) -> list[JoinOutcome]:
        """Join a customer's feedback events, then update their fatigue counters in one store update."""
        outcomes = [self.joiner.on_feedback(event) for event in events]
        counted = [event for event, outcome in zip(events, outcomes) if outcome.status in ("joined", "late", "after_settled")]
        if counted:
            self.ingest_many(counted)
        for outcome in outcomes:
            for reward in outcome.rewards:
                self._learn(reward)
        return outcomes

    def tick(self, now: datetime) -> list[Reward]:
        """Close decisions whose windows ended, learn from their rewards, publish when due."""
        rewards = self.joiner.close_due(now)
        for reward in rewards:
            self._learn(reward)
        self.learner.maybe_publish()
        return rewards

    def _learn(self, reward: Reward) -> None:
        if self.learner.learn(reward):
            self.counters.rewards += 1
            self.counters.reward_sum += reward.reward
            self.counters.by_offer[reward.offer_id] = self.counters.by_offer.get(reward.offer_id, 0.0) + reward.reward
