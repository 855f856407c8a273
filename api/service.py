"""The dashboard service: what the GraphQL API calls, independent of Ray and HTTP.

One instance lives in each policy replica. It decides from the current snapshot, which a
background thread refreshes from the snapshot store, stores the pending decision for the
reward join and the audit record, and publishes the decision record and feedback to Kafka.

Privacy duties live here too: decisions follow the customer's consent
(engine/consent.py), ``set_consent`` records consent, ``erase_customer`` erases a
customer (engine/erasure.py), and ``decision`` returns a decision's audit record. User
ids are pseudonymised on entry and never stored or logged raw.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from engine.audit_store import AuditStore, InMemoryAuditStore, check_retention
from engine.bus import TOPIC_CUSTOMER_EVENTS, TOPIC_DECISIONS, TOPIC_FEEDBACK, EventBus
from engine.config.offers import OfferCatalog
from engine.config.policy import PolicyConfig
from engine.config.rewards import RewardConfig
from engine.consent import ConsentRegistry, ConsentState, InMemoryConsentRegistry
from engine.decision_store import DecisionStore, PendingDecision
from engine.decision_writer import DecisionWriter
from engine.decisions import DecisionEngine
from engine.derived_cache import DerivedValueCache
from engine.erasure import CustomerEraser, erase_customer
from engine.errors import InvalidInputError
from engine.events import CHANNELS, FEEDBACK_TYPES, ConsentEvent, DecisionRecord, OfferFeedbackEvent, event_to_json, new_id
from engine.insights import Insight, dashboard_insights
from engine.insights.state import signal_day
from engine.io.customer_reads import read_customer
from engine.profile import CustomerProfile, day_of
from engine.privacy import pseudonymize
from engine.profile_store import ProfileStore
from engine.snapshot_store import SnapshotHolder, SnapshotStore
from policies.base import PolicySnapshot
from policies.registry import load_snapshot
from policies.routing import TrafficSplit

__all__ = ["DecisionNotFoundError", "ServiceCounters", "DashboardService", "audit_view"]

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
    non_personalised: int = 0
    service_only: int = 0
    consent_changes: int = 0
    erasures: int = 0
    shadow_decisions: int = 0
    shadow_failures: int = 0


def _check_user_id(user_id: str) -> None:
    if not isinstance(user_id, str) or not user_id or len(user_id) > 200:
        raise InvalidInputError("userId must be a non-empty string of at most 200 characters")


class DashboardService:
    """Decides dashboards and records feedback for one replica.

    Args:
        catalog, policy_config, reward_config: typed configs.
        profiles, decisions, snapshots: the stores.
        bus: event bus for decisions, feedback, consent events and tombstones; None
            disables publishing.
        initial_snapshot: the snapshot to decide with until a newer one is published.
        currency: currency of customers whose profile has none.
        seed: seed of the decision engine's generator.
        consent: consent and erasure registry; an in-memory one with both consents
            granted by default when None.
        audit: audit record store; in memory with 400 days' retention when None.
        extra_erasers: caches keyed by customer id that erasure must also clear.
        shadow: a policy that decides on every request without being shown; its
            decision record goes to the decisions topic with the header ``shadow=1``
            and is never joined to feedback.
        split: routes each customer to one of several policies by a stable hash of the
            pseudonymised id; the arm whose policy id is the serving policy's follows
            the hot-swapped snapshot.
        cache_customers: customers whose insights and insight signals are kept in
            memory until their profile changes or their local day turns; 0 turns the
            caches off.

    The service starts a writer thread that stores and publishes decisions off the
    request path (engine/decision_writer.py); :meth:`stop` writes what is queued and ends it.
    """

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
        consent: ConsentRegistry | None = None,
        audit: AuditStore | None = None,
        extra_erasers: tuple[CustomerEraser, ...] = (),
        shadow: PolicySnapshot | None = None,
        split: TrafficSplit | None = None,
        cache_customers: int = 50_000,
    ) -> None:
        self.shadow = shadow
        self.split = split
        self.catalog = catalog
        self.policy_config = policy_config
        self.reward_config = reward_config
        self.profiles = profiles
        self.decisions = decisions
        self.snapshots = snapshots
        self.bus = bus
        self.currency = currency
        self.holder: SnapshotHolder[PolicySnapshot] = SnapshotHolder(initial_snapshot)
        self.signal_cache: DerivedValueCache[dict[str, float]] | None = None
        self.insight_cache: DerivedValueCache[list[Insight]] | None = None
        if cache_customers > 0:
            self.signal_cache = DerivedValueCache(cache_customers)
            self.insight_cache = DerivedValueCache(cache_customers)
            extra_erasers = (*extra_erasers, self.signal_cache.forget, self.insight_cache.forget)
        self.engine = DecisionEngine(
            catalog=catalog,
            policy_config=policy_config,
            reward_config=reward_config,
            snapshots=self.holder,
            seed=seed,
            signal_cache=self.signal_cache,
        )
        self.consent = consent if consent is not None else InMemoryConsentRegistry()
        self.audit = audit if audit is not None else InMemoryAuditStore()
        check_retention(self.audit.retention_s, attribution_window_s=reward_config.max_window.total_seconds())
        self.extra_erasers = extra_erasers
        self.counters = ServiceCounters()
        self._engine_lock = threading.Lock()
        self._retention_s = reward_config.max_window.total_seconds()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None
        self.writer = DecisionWriter(decisions, self.audit, bus, retention_s=self._retention_s).start()

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
        """Stop the refresher thread and write the decisions still queued."""
        self._stop.set()
        self.writer.stop()

    # ------------------------------------------------------ routing and shadow
    def _route(self, customer_id: str) -> PolicySnapshot | None:
        """Return the traffic split's snapshot for the customer, or None for the serving one."""
        if self.split is None:
            return None
        snapshot = self.split.route(customer_id)
        if snapshot.policy_id == self.holder.current.policy_id:
            return None
        return snapshot

    def _decide_shadow(
        self,
        profile: Any,
        customer_id: str,
        now: datetime,
        channel: str,
        marketing: bool,
        serving_decision_id: str,
    ) -> None:
        assert self.shadow is not None
        try:
            with self._engine_lock:
                shadow = self.engine.decide(
                    profile,
                    customer_id=customer_id,
                    now=now,
                    channel=channel,
                    marketing=marketing,
                    snapshot=self.shadow,
                    decision_id=f"{serving_decision_id}-shadow",
                )
        except Exception as err:  # noqa: BLE001 - a failing shadow must never fail the dashboard.
            self.counters.shadow_failures += 1
            logger.warning("shadow decision failed (policy %s): %r", self.shadow.policy_id, err)
            return
        self.counters.shadow_decisions += 1
        if self.bus is not None:
            self.bus.publish(
                TOPIC_DECISIONS, event_to_json(shadow.record), key=customer_id.encode(), headers=[("shadow", b"1")]
            )

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
        _check_user_id(user_id)
        if channel not in CHANNELS:
            raise InvalidInputError(f"channel must be one of {', '.join(CHANNELS)}; got {channel!r}")
        now = now or datetime.now(timezone.utc)
        customer_id = pseudonymize(user_id)
        consent, profile = read_customer(self.profiles, self.consent, customer_id)
        if profile is None:
            self.counters.cold_starts += 1
        if not consent.personalisation:
            self.counters.non_personalised += 1
        if not consent.marketing:
            self.counters.service_only += 1
        routed = self._route(customer_id)
        shadow_profile = profile.copy() if self.shadow is not None and profile is not None else None
        with self._engine_lock:
            decision = self.engine.decide(
                profile,
                customer_id=customer_id,
                now=now,
                channel=channel,
                marketing=consent.marketing,
                personalised=consent.personalisation,
                snapshot=routed,
            )
        record = decision.record
        if self.shadow is not None and consent.personalisation:
            self._decide_shadow(shadow_profile, customer_id, now, channel, consent.marketing, record.decision_id)
        expires_at = now.timestamp() + self.reward_config.max_window.total_seconds()
        self.writer.submit(PendingDecision(record=record, expires_at=expires_at))
        self.counters.dashboards += 1
        currency = (profile.currency if profile is not None else None) or self.currency
        insights = self._insights(profile, customer_id, decision.features, now, currency)
        # Keys are the schema's Python field names; GraphQL renders them in camelCase.
        return {
            "decision_id": record.decision_id,
            "policy_id": record.policy_id,
            "policy_version": record.policy_version,
            "cold_start": profile is None,
            "personalised": record.personalised,
            "marketing": record.marketing,
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
                for insight in insights
            ],
        }

    def _insights(
        self, profile: CustomerProfile | None, customer_id: str, features: Any, now: datetime, currency: str
    ) -> list[Insight]:
        """Return the dashboard insights, from the cache while the profile and the local day hold."""
        if profile is None:
            return dashboard_insights(CustomerProfile(customer_id), features, now, currency)
        if self.insight_cache is None:
            return dashboard_insights(profile, features, now, currency)
        return self.insight_cache.get_or_compute(
            profile, (signal_day(profile, now), day_of(now), currency), lambda: dashboard_insights(profile, features, now, currency)
        )

    # --------------------------------------------------------------- feedback
    def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]:
        """Validate feedback against the stored decision and publish it to the offer-feedback topic.

        Raises:
            InvalidInputError: unknown feedback type or an offer that was not shown.
            DecisionNotFoundError: the decision id is unknown or past retention.
        """
        if feedback_type not in FEEDBACK_TYPES:
            raise InvalidInputError(f"type must be one of {', '.join(FEEDBACK_TYPES)}; got {feedback_type!r}")
        self.writer.wait_for(decision_id)
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

    # ---------------------------------------------------------------- privacy
    def set_consent(self, user_id: str, marketing: bool | None, personalisation: bool | None) -> dict[str, Any]:
        """Record a consent change now and publish it as a consent event.

        Raises:
            InvalidInputError: an invalid user id, neither field set, or an erased customer.
        """
        _check_user_id(user_id)
        customer_id = pseudonymize(user_id)
        now = datetime.now(timezone.utc)
        state = self.consent.set(customer_id, marketing=marketing, personalisation=personalisation, at=now.timestamp())
        if self.bus is not None:
            event = ConsentEvent(
                event_id=new_id(), customer_id=customer_id, ts=now, marketing=marketing, personalisation=personalisation
            )
            self.bus.publish(TOPIC_CUSTOMER_EVENTS, event_to_json(event), key=customer_id.encode())
        self.counters.consent_changes += 1
        return _consent_dict(state)

    def erase_customer(self, user_id: str) -> dict[str, Any]:
        """Erase one customer (see engine/erasure.py) and return what was removed.

        Raises:
            InvalidInputError: an invalid user id.
            StoreError, BusError: a store or the bus failed; retry, every step is idempotent.
        """
        _check_user_id(user_id)
        self.writer.flush()  # decisions still queued must not be stored after the erasure
        report = erase_customer(
            pseudonymize(user_id),
            profiles=self.profiles,
            decisions=self.decisions,
            audit=self.audit,
            consent=self.consent,
            bus=self.bus,
            extra_erasers=self.extra_erasers,
        )
        self.counters.erasures += 1
        return {
            "customer_id": report.customer_id,
            "profile_deleted": report.profile_deleted,
            "decisions_deleted": report.decisions_deleted,
            "audit_records_deleted": report.audit_records_deleted,
            "consent_deleted": report.consent_deleted,
            "tombstone_topics": list(report.tombstone_topics),
            "erased_at": report.erased_at,
        }

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """Return the audit view of one decision, or None when unknown or past retention.

        Reads the audit store, then the pending-decision store for decisions made before
        the audit store existed.
        """
        if not isinstance(decision_id, str) or not decision_id or len(decision_id) > 200:
            raise InvalidInputError("decisionId must be a non-empty string of at most 200 characters")
        self.writer.wait_for(decision_id)
        record = self.audit.get(decision_id)
        if record is None:
            pending = self.decisions.get(decision_id)
            record = pending.record if pending is not None else None
        return audit_view(record) if record is not None else None

    def health(self) -> dict[str, Any]:
        """Return liveness details for /healthz."""
        return {
            "status": "ok",
            "policy": self.holder.current.policy_id,
            "snapshot_version": self.snapshot_version,
            "time": time.time(),
        }


def _consent_dict(state: ConsentState) -> dict[str, Any]:
    return {
        "marketing": state.marketing,
        "personalisation": state.personalisation,
        "updated_at": state.updated_at,
        "erased": state.erased,
    }


def audit_view(record: DecisionRecord) -> dict[str, Any]:
    """Return the GraphQL ``DecisionAudit`` fields of a decision record (Python field names)."""
    return {
        "decision_id": record.decision_id,
        "customer_id": record.customer_id,
        "decided_at": record.ts.isoformat(),
        "channel": record.channel,
        "policy_id": record.policy_id,
        "policy_version": record.policy_version,
        "algorithm": record.algorithm,
        "personalised": record.personalised,
        "marketing": record.marketing,
        "features": [{"name": name, "value": value} for name, value in record.context.items()],
        "offers": [
            {
                "offer_id": shown.offer_id,
                "position": shown.position,
                "propensity": shown.propensity,
                "score": shown.score,
                "reason": shown.reason,
                "reason_features": list(shown.reason_features),
                "contributions": [
                    {"feature": feature, "weight": weight}
                    for feature, weight in sorted(shown.contributions.items(), key=lambda item: -abs(item[1]))
                ],
            }
            for shown in record.shown
        ],
        "eligible": list(record.eligible),
        "ineligible": [{"offer_id": offer_id, "rule": rule} for offer_id, rule in sorted(record.ineligible.items())],
    }
