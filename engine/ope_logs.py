"""Decision logs for off-policy evaluation: format, reading, writing, rescoring and array conversion.

Format: JSON lines, one :class:`LoggedDecision` per line::

    {"log_version": 1,
     "decision": { ...DecisionRecord as engine.events serialises it... },
     "feedback": {"<offer id>": [["impression", 1.2], ["click", 40.5]], ...},
     "rewards": {"<offer id>": 0.1, ...},
     "segment": "family",
     "offer_history": {"credit_impressions_30d": 0.23, ...} or null,
     "oracle_rewards": {"<offer id>": 0.031, ...} or null}

* ``decision``: the record the engine logged: the context (feature values by name),
  every eligible candidate with its probability of being placed first (the logging
  policy's ``action_dist``) and the shown offers with their propensities.
* ``feedback``: for each shown offer, the feedback types with their delay in seconds
  after the decision, in time order. It lists every event the app reported, also those
  outside an attribution window, so that another reward config can be applied
  (:func:`rescore_rewards`).
* ``rewards``: each shown offer's reward as the reward joiner settled it.
* ``segment``: optional label that groups evaluation reports (the simulator writes the
  customer's segment; a bank may write a CRM segment).
* ``offer_history``: optional offer-history features (:data:`envs.journey.HISTORY_FEATURE_NAMES`)
  at decision time, which journey policies read besides the context.
* ``oracle_rewards``: simulator only; each candidate's true expected reward at position 1.

Evaluation uses each decision's first position: the action is the offer at position 1,
its ``pscore`` is that offer's propensity and its reward is that offer's reward. In the
simulator an offer's response does not depend on the other offers of the slate, so this
is the value of a policy's top choice. Decisions whose first offer is mandatory (chosen
by rule, not by the policy) or that showed nothing are left out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.config.offers import OfferCatalog
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.events import DecisionRecord, FeedbackType, format_validation_error
from engine.features import FeatureEncoder
from engine.rewards import combine_feedback

__all__ = [
    "LOG_VERSION",
    "LoggedDecision",
    "LoggedBanditFeedback",
    "read_decision_logs",
    "write_decision_logs",
    "rescore_rewards",
    "to_bandit_feedback",
]

logger = logging.getLogger(__name__)

LOG_VERSION = 1


class LoggedDecision(BaseModel):
    """One line of a decision log: a decision and the feedback joined to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log_version: int = Field(default=LOG_VERSION, ge=1, le=LOG_VERSION)
    decision: DecisionRecord
    feedback: dict[str, tuple[tuple[FeedbackType, float], ...]] = Field(default_factory=dict)
    rewards: dict[str, float] = Field(default_factory=dict)
    segment: str | None = None
    offer_history: dict[str, float] | None = None
    oracle_rewards: dict[str, float] | None = None


def write_decision_logs(path: str | Path, logs: Iterable[LoggedDecision]) -> Path:
    """Write ``logs`` as JSON lines to ``path`` (parent folders are created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as handle:
        for entry in logs:
            handle.write(entry.model_dump_json() + "\n")
    return target


def read_decision_logs(path: str | Path) -> list[LoggedDecision]:
    """Read a JSON-lines decision log.

    Raises:
        InvalidInputError: the file is missing, or a line is not JSON or not a logged
            decision (the message gives the line number and the invalid fields).
    """
    source = Path(path)
    if not source.is_file():
        raise InvalidInputError(f"decision log {str(source)!r} not found; write one with engine.ope_logs.write_decision_logs")
    logs = []
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                logs.append(LoggedDecision.model_validate_json(line))
            except ValidationError as err:
                raise InvalidInputError(f"{source}: line {number} is not a logged decision: {format_validation_error(err)}") from err
    return logs


def rescore_rewards(
    feedback: Mapping[str, Sequence[tuple[str, float]]],
    offer_ids: Sequence[str],
    config: RewardConfig,
    business_values: Mapping[str, float],
) -> dict[str, float]:
    """Settle each offer's reward from its feedback under ``config``, as the reward joiner would.

    Events later than their type's attribution window are ignored; the first counted
    terminal event settles the reward; with no counted event the reward is
    ``config.default_reward``. The value is multiplied by the offer's business value when
    ``config.business_value_weighting`` is on.

    Args:
        feedback: offer id to ``(type, seconds after the decision)`` pairs in time order.
        offer_ids: the shown offers to settle.
        config: the reward config to apply.
        business_values: offer id to business value (1 when missing).
    """
    windows = {name: window.total_seconds() for name, window in config.attribution_window.items()}
    rewards = {}
    for offer_id in offer_ids:
        counted: list[str] = []
        for kind, delay in feedback.get(offer_id, ()):
            if delay > windows[kind]:
                continue
            counted.append(kind)
            if kind in config.terminal:
                break
        value = combine_feedback(counted, config)
        if config.business_value_weighting:
            value *= business_values.get(offer_id, 1.0)
        rewards[offer_id] = value
    return rewards


@dataclass(frozen=True, eq=False)
class LoggedBanditFeedback:
    """First-position bandit feedback extracted from decision logs, as arrays over catalog offers.

    Attributes:
        offer_ids: the action space, catalog order.
        context: shape (n, d); encoded decision contexts (bias last).
        action: shape (n,), int; catalog index of the offer shown first.
        pscore: shape (n,); its logged propensity.
        reward: shape (n,); its reward.
        candidate_mask: shape (n, n_offers), bool; eligible candidates of each decision.
        logging_dist: shape (n, n_offers); logging policy's first-position probabilities.
        segments: length n; segment label, ``"all"`` when the log has none.
        timestamps: shape (n,); decision times (POSIX seconds).
        shown_rewards: per decision, the ``(catalog index, reward, feedback types)`` of every
            shown offer; the types let a funnel model learn from clicks and rejects.
        history: shape (n, n_history) or None; offer history features when every line has them.
        oracle: shape (n, n_offers) or None; true expected rewards when every line has them.
        skipped: decisions left out (nothing shown, or a mandatory offer first).
    """

    offer_ids: tuple[str, ...]
    context: np.ndarray
    action: np.ndarray
    pscore: np.ndarray
    reward: np.ndarray
    candidate_mask: np.ndarray
    logging_dist: np.ndarray
    segments: tuple[str, ...]
    timestamps: np.ndarray
    shown_rewards: tuple[tuple[tuple[int, float, tuple[str, ...]], ...], ...]
    history: np.ndarray | None
    oracle: np.ndarray | None
    skipped: int

    @property
    def n_events(self) -> int:
        """Number of decisions kept."""
        return len(self.action)

    def subset(self, rows: np.ndarray) -> LoggedBanditFeedback:
        """Return the events at ``rows`` (indices or a bool mask)."""
        index = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
        return LoggedBanditFeedback(
            offer_ids=self.offer_ids,
            context=self.context[index],
            action=self.action[index],
            pscore=self.pscore[index],
            reward=self.reward[index],
            candidate_mask=self.candidate_mask[index],
            logging_dist=self.logging_dist[index],
            segments=tuple(self.segments[i] for i in index),
            timestamps=self.timestamps[index],
            shown_rewards=tuple(self.shown_rewards[i] for i in index),
            history=self.history[index] if self.history is not None else None,
            oracle=self.oracle[index] if self.oracle is not None else None,
            skipped=0,
        )


def to_bandit_feedback(
    logs: Sequence[LoggedDecision],
    catalog: OfferCatalog,
    encoder: FeatureEncoder,
    *,
    reward_config: RewardConfig | None = None,
    history_names: Sequence[str] | None = None,
) -> LoggedBanditFeedback:
    """Convert decision logs to first-position arrays over the catalog's offers.

    Args:
        logs: logged decisions, in any order (they are sorted by decision time).
        catalog: the action space; a logged offer missing from it raises.
        encoder: encodes each decision's context; every feature it needs must be logged.
        reward_config: when given, rewards are rescored from the feedback under this
            config (:func:`rescore_rewards`); otherwise the logged rewards are used.
        history_names: order of the offer history features; default
            :data:`envs.journey.HISTORY_FEATURE_NAMES`.

    Raises:
        InvalidInputError: no usable decision, a logged offer outside the catalog, or a
            context without a feature the encoder needs.
    """
    from envs.journey import HISTORY_FEATURE_NAMES

    names = tuple(history_names) if history_names is not None else HISTORY_FEATURE_NAMES
    index_of = {offer_id: index for index, offer_id in enumerate(catalog.ids)}
    values = {offer.id: offer.business_value for offer in catalog.offers}
    n_offers = len(index_of)
    ordered = sorted(logs, key=lambda entry: entry.decision.ts)
    rows: dict[str, list] = {key: [] for key in ("context", "action", "pscore", "reward", "mask", "dist", "segment", "ts", "shown_rewards", "history", "oracle")}
    skipped = 0
    for entry in ordered:
        record = entry.decision
        first = record.shown[0] if record.shown else None
        if first is None or not record.candidates or first.offer_id not in {c.offer_id for c in record.candidates}:
            skipped += 1
            continue
        missing = [name for name in encoder.raw_names if name not in record.context]
        if missing:
            raise InvalidInputError(
                f"decision {record.decision_id} lacks context feature(s) {missing}; the evaluated policy needs "
                f"{list(encoder.raw_names)}. Evaluate with a policy whose features the logging policy recorded"
            )
        unknown = [offer.offer_id for offer in (*record.candidates, *record.shown) if offer.offer_id not in index_of]
        if unknown:
            raise InvalidInputError(
                f"decision {record.decision_id} names offer(s) {sorted(set(unknown))} that are not in the catalog; "
                "pass the catalog the logs were written with (--catalog)"
            )
        rewards = dict(entry.rewards)
        if reward_config is not None:
            rewards = rescore_rewards(entry.feedback, [offer.offer_id for offer in record.shown], reward_config, values)
        mask = np.zeros(n_offers, dtype=bool)
        dist = np.zeros(n_offers)
        for candidate in record.candidates:
            mask[index_of[candidate.offer_id]] = True
            dist[index_of[candidate.offer_id]] = candidate.probability
        rows["context"].append(encoder.encode(record.context))
        rows["action"].append(index_of[first.offer_id])
        rows["pscore"].append(first.propensity)
        rows["reward"].append(float(rewards.get(first.offer_id, np.nan)))
        rows["mask"].append(mask)
        rows["dist"].append(dist)
        rows["segment"].append(entry.segment or "all")
        rows["ts"].append(record.ts.timestamp())
        rows["shown_rewards"].append(
            tuple(
                (
                    index_of[offer.offer_id],
                    float(rewards.get(offer.offer_id, 0.0)),
                    tuple(kind for kind, _ in entry.feedback.get(offer.offer_id, ())),
                )
                for offer in record.shown
            )
        )
        rows["history"].append([entry.offer_history.get(name, 0.0) for name in names] if entry.offer_history is not None else None)
        rows["oracle"].append(
            [entry.oracle_rewards.get(offer_id, np.nan) for offer_id in catalog.ids] if entry.oracle_rewards is not None else None
        )
    if not rows["action"]:
        raise InvalidInputError(
            f"the logs contain no decision with a policy-chosen first offer ({len(logs)} lines, {skipped} skipped)"
        )
    if np.isnan(np.asarray(rows["reward"])).any():
        raise InvalidInputError("some logged decisions have no reward for their first offer; join feedback before evaluating")
    has_history = all(item is not None for item in rows["history"])
    has_oracle = all(item is not None for item in rows["oracle"])
    if skipped:
        logger.info("decisions_skipped", extra={"skipped": skipped, "kept": len(rows["action"])})
    return LoggedBanditFeedback(
        offer_ids=catalog.ids,
        context=np.asarray(rows["context"]),
        action=np.asarray(rows["action"], dtype=np.int64),
        pscore=np.asarray(rows["pscore"], dtype=np.float64),
        reward=np.asarray(rows["reward"], dtype=np.float64),
        candidate_mask=np.asarray(rows["mask"]),
        logging_dist=np.asarray(rows["dist"]),
        segments=tuple(rows["segment"]),
        timestamps=np.asarray(rows["ts"]),
        shown_rewards=tuple(rows["shown_rewards"]),
        history=np.asarray(rows["history"], dtype=np.float64) if has_history else None,
        oracle=np.asarray(rows["oracle"], dtype=np.float64) if has_oracle else None,
        skipped=skipped,
    )
