"""The dashboard service: what the GraphQL API calls, independent of Ray and HTTP.

One instance lives in each policy replica. It decides from the current snapshot, which a
background thread refreshes from the snapshot store, stores the pending decision for the
reward join, and publishes the decision record and feedback to Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from engine.bus import TOPIC_DECISIONS, TOPIC_FEEDBACK, EventBus
from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.decision_store import DecisionStore, PendingDecision
from engine.decisions import DecisionEngine
from engine.errors import InvalidInputError
from engine.events import CHANNELS, FEEDBACK_TYPES, OfferFeedbackEvent, event_to_json, new_id
from engine.insights.live import live_insights
from engine.privacy import pseudonymize
from engine.profile_store import ProfileStore
from engine.snapshot_store import SnapshotHolder, SnapshotStore
from policies.base import PolicySnapshot
from policies.registry import load_snapshot

__all__ = ["DecisionNotFoundError", "ServiceCounters", "DashboardService"]

logger = logging.getLogger(__name__)


class DecisionNotFoundError(InvalidInputError):
    """Raised when feedback names a decision id that is unknown or past retention."""


@dataclass
class ServiceCounters:
    """Counters exported as metrics."""

    dashboards: int = 0
    cold_starts: int = 0
    feedback: int = 0
    snapshot_swaps: int = 0


class DashboardService:
    """Decides dashboards and records feedback for one replica."""

    def __init__(
        self,
        *,
        catalog: OfferCatalog,
        policy_config: PolicyConfig,
        reward_config: RewardConfig,
        profiles: ProfileStore,
        decisions: DecisionStore,
        snapshots: SnapshotStore,
        bus: EventBus | None,
        initial_snapshot: PolicySnapshot,
        currency: str = "EUR",
        seed: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.policy_config = policy_config
        self.reward_config = reward_config
        self.profiles = profiles
        self.decisions = decisions
        self.snapshots = snapshots
        self.bus = bus
        self.currency = currency
        self.holder: SnapshotHolder[PolicySnapshot] = SnapshotHolder(initial_snapshot)
        self.engine = DecisionEngine(
            catalog=catalog, policy_config=policy_config, reward_config=reward_config, snapshots=self.holder, seed=seed
        )
        self.counters = ServiceCounters()
        self._engine_lock = threading.Lock()
        self._retention_s = reward_config.max_window.total_seconds()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    # -------------------------------------------------------------- snapshots
    @property
    def snapshot_version(self) -> int:
        return int(self.holder.current.version)

    def refresh_snapshot(self) -> bool:
        """Load the latest published snapshot if it is newer; return whether it swapped."""
        policy_id = self.holder.current.policy_id
        latest = self.snapshots.latest_version(policy_id)
        if latest is None or latest <= self.holder.current.version:
            return False
        loaded = self.snapshots.load(policy_id, latest)
        if loaded is None:
            return False
        self.holder.swap(load_snapshot(loaded[1]))
        self.counters.snapshot_swaps += 1
        logger.info("snapshot_swapped policy=%s version=%d", policy_id, loaded[0])
        return True

    def start_refresher(self, interval_s: float) -> None:
        """Poll the snapshot store every ``interval_s`` seconds in a daemon thread."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh_snapshot()
                except Exception:  # noqa: BLE001 - keep serving the current snapshot.
                    logger.exception("snapshot refresh failed; serving version %d", self.snapshot_version)

        self._refresher = threading.Thread(target=loop, name="snapshot-refresher", daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        """Stop the refresher thread."""
        self._stop.set()

    # -------------------------------------------------------------- dashboard
    def dashboard(self, user_id: str, channel: str = "mobile", *, now: datetime | None = None) -> dict[str, Any]:
        """Decide the dashboard of one customer.

        Args:
            user_id: the app's customer id; pseudonymised here, never stored raw.
            channel: web, mobile or wearable; changes only the number of offers.
            now: decision time; the current time by default.

        Raises:
            InvalidInputError: an empty user id or an unknown channel.
        """
        if not user_id or len(user_id) > 200:
            raise InvalidInputError("userId must be a non-empty string of at most 200 characters")
        if channel not in CHANNELS:
            raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}; got {channel!r}")
        now = now or datetime.now(timezone.utc)
        customer_id = pseudonymize(user_id)
        profile = self.profiles.get(customer_id)
        if profile is None:
            self.counters.cold_starts += 1
        with self._engine_lock:
            decision = self.engine.decide(profile, customer_id=customer_id, now=now, channel=channel)
        record = decision.record
        expires_at = now.timestamp() + self.reward_config.max_window.total_seconds()
        self.decisions.put(PendingDecision(record=record, expires_at=expires_at), retention_s=self._retention_s)
        if self.bus is not None:
            self.bus.publish(TOPIC_DECISIONS, event_to_json(record), key=customer_id.encode())
        self.counters.dashboards += 1
        currency = (profile.currency if profile is not None else None) or self.currency
        # Keys are the schema's Python field names; GraphQL renders them in camelCase.
        return {
            "decision_id": record.decision_id,
            "policy_id": record.policy_id,
            "policy_version": record.policy_version,
            "cold_start": profile is None,
            "offers": [
                {
                    "id": view.offer.id,
                    "title": view.offer.title,
                    "action_url": view.offer.action_url,
                    "category": view.offer.category,
                    "score": view.shown.score,
                    "position": view.shown.position,
                    "reason": view.shown.reason,
                    "decision_id": record.decision_id,
                }
                for view in decision.offers
            ],
            "insights": [
                {
                    "category": insight.category,
                    "prediction": insight.prediction,
                    "confidence": insight.confidence,
                    "reason": insight.reason,
                }
                for insight in live_insights(decision.features, now, currency)
            ],
        }

    # --------------------------------------------------------------- feedback
    def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]:
        """Validate feedback against the stored decision and publish it to the offer-feedback topic.

        Raises:
            InvalidInputError: unknown feedback type or an offer that was not shown.
            DecisionNotFoundError: the decision id is unknown or past retention.
        """
        if feedback_type not in FEEDBACK_TYPES:
            raise InvalidInputError(f"type must be one of {', '.join(FEEDBACK_TYPES)}; got {feedback_type!r}")
        pending = self.decisions.get(decision_id)
        if pending is None:
            raise DecisionNotFoundError(
                f"decision {decision_id!r} not found; it is unknown or older than the attribution window"
            )
        if pending.record.shown_offer(offer_id) is None:
            shown = ", ".join(offer.offer_id for offer in pending.record.shown) or "none"
            raise InvalidInputError(f"offer {offer_id!r} was not shown in decision {decision_id}; shown: {shown}")
        event = OfferFeedbackEvent(
            event_id=new_id(),
            customer_id=pending.record.customer_id,
            ts=datetime.now(timezone.utc),
            decision_id=decision_id,
            offer_id=offer_id,
            feedback=feedback_type,  # type: ignore[arg-type]
        )
        if self.bus is None:
            raise InvalidInputError("this service has no event bus; feedback cannot be recorded")
        self.bus.publish(TOPIC_FEEDBACK, event_to_json(event), key=event.customer_id.encode())
        self.counters.feedback += 1
        return {"accepted": True, "event_id": event.event_id, "received_at": event.ts.isoformat()}

    def health(self) -> dict[str, Any]:
        """Return liveness details for /healthz."""
        return {
            "status": "ok",
            "policy": self.holder.current.policy_id,
            "snapshot_version": self.snapshot_version,
            "time": time.time(),
        }
