"""Produce decision logs (:mod:`engine.ope_logs`) by running the decision loop on the synthetic bank.

The loop is the one :func:`engine.simulate.simulate_policy` runs: one
:class:`engine.loop.DecisionLoop` against a seeded :class:`envs.bank.SyntheticBank`. This
module also keeps every decision with its feedback, rewards, the customer's segment, the
offer history features and the simulator's true expected rewards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tqdm import tqdm

from engine.config.loader import load_policy_config
from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.features import FeatureEncoder
from engine.loop import DecisionLoop
from engine.ope_logs import LoggedDecision
from envs.bank import SyntheticBank
from envs.journey import HISTORY_FEATURE_NAMES, offer_history_features
from policies.base import PolicySnapshot
from policies.offer_features import offer_feature_vector
from policies.registry import make_learner

__all__ = ["simulate_decision_logs"]

logger = logging.getLogger(__name__)


def simulate_decision_logs(
    policy: str | PolicyConfig,
    *,
    catalog: OfferCatalog,
    reward_config: RewardConfig,
    decisions: int,
    seed: int = 0,
    customers: int = 500,
    slate_size: int = 1,
    snapshot: PolicySnapshot | None = None,
    with_oracle: bool = True,
    progress: bool = False,
) -> list[LoggedDecision]:
    """Run ``decisions`` decisions of the logging policy and return them as logged decisions.

    The policy learns online as in production; each logged propensity is exact for the
    snapshot that made the decision. Feedback is joined when it arrives, and decisions
    still open at the end are closed after their longest attribution window.

    Args:
        policy: logging policy name (``configs/policies/<name>.yaml``) or config.
        catalog, reward_config: typed configs of the bank and the engine.
        decisions: number of decisions, at least 1.
        seed: seed of the bank and of the decision engine.
        customers: population size.
        slate_size: offers per decision.
        snapshot: decide with this fixed snapshot instead of a learning policy.
        with_oracle: also store each candidate's true expected reward at position 1
            (about 1 ms per decision).
        progress: show a tqdm bar.
    """
    config = policy if isinstance(policy, PolicyConfig) else load_policy_config(policy)
    bank = SyntheticBank(catalog, reward_config, n_customers=customers, seed=seed)
    encoder = FeatureEncoder.from_names(config.features)
    learner = make_learner(
        config, dim=encoder.dim, offer_features={offer.id: offer_feature_vector(offer) for offer in catalog.offers}, seed=seed
    )
    loop = DecisionLoop(
        catalog=catalog, policy_config=config, reward_config=reward_config, learner=learner, seed=seed,
        snapshot_override=snapshot,
    )
    categories = {offer.id: offer.category for offer in catalog.offers}
    pending: dict[str, dict[str, object]] = {}
    order: list[str] = []
    for _ in tqdm(range(decisions), desc=f"log {config.id}", disable=not progress, mininterval=0.5):
        arrival = bank.next_arrival()
        now = arrival.ts
        loop.ingest_many(bank.events_until(arrival.customer_id, now))
        stored = loop.profiles.get(arrival.customer_id)
        history = offer_history_features(stored.offers if stored is not None else {}, now.timestamp(), categories)
        decision = loop.decide(arrival.customer_id, now, slate_size=slate_size)
        record = decision.record
        oracle = None
        if with_oracle and record.candidates:
            oracle = {c.offer_id: bank.expected_reward(arrival.customer_id, c.offer_id, 1, now) for c in record.candidates}
        slate = [item.shown.offer_id for item in decision.offers]
        feedback = bank.respond(arrival.customer_id, record.decision_id, slate, now)
        delays: dict[str, list[tuple[str, float]]] = {}
        for event in feedback:
            delays.setdefault(event.offer_id, []).append((event.feedback, (event.ts - now).total_seconds()))
        pending[record.decision_id] = {
            "decision": record,
            "feedback": {offer_id: tuple(items) for offer_id, items in delays.items()},
            "rewards": {},
            "segment": bank.customer(arrival.customer_id).segment,
            "offer_history": dict(zip(HISTORY_FEATURE_NAMES, history.tolist())),
            "oracle_rewards": oracle,
        }
        order.append(record.decision_id)
        for outcome in loop.feedback_many(feedback):
            _collect(pending, outcome.rewards)
        _collect(pending, loop.tick(now))
    if order:
        last = pending[order[-1]]["decision"]
        _collect(pending, loop.tick(last.ts + reward_config.max_window * 2))  # type: ignore[attr-defined]
    logger.info("decision_logs_simulated", extra={"policy": config.id, "decisions": decisions, "seed": seed})
    return [LoggedDecision(**pending[decision_id]) for decision_id in order]  # type: ignore[arg-type]


def _collect(pending: dict[str, dict[str, object]], rewards: Sequence[object]) -> None:
    for reward in rewards:
        entry = pending.get(reward.decision_id)  # type: ignore[attr-defined]
        if entry is not None:
            entry["rewards"][reward.offer_id] = reward.reward  # type: ignore[index, attr-defined]
