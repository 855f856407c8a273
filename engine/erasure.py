"""Erase one customer (GDPR article 17): stores, audit records, consent, and keyed topics.

Order of work, and why:

1. Delete the consent record and mark the customer erased in the consent registry, so
   that the profile worker drops events for them from now on instead of rebuilding
   the profile.
2. Delete the profile, the pending decisions (found through the stores' per-customer
   index), the audit records, and whatever the caller registers in ``extra_erasers``
   (for example a feature cache).
3. Publish a tombstone (key = pseudonymised id, value null) to every customer-keyed
   topic and flush. On compacted topics the broker then drops the customer's earlier
   records; on topics with time-based retention they age out with ``retention.ms``.
4. Delete the profile once more, because a worker that read an event before step 1 may
   have written it back in between.

Policy parameters are aggregates over many customers and are not changed. The
differentially private propensity model (policies/dp_propensity.py) bounds what any one
customer's records can change in it by its epsilon.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.audit_store import AuditStore
from engine.bus import CUSTOMER_KEYED_TOPICS, EventBus
from engine.consent import ConsentRegistry
from engine.decision_store import DecisionStore
from engine.errors import InvalidInputError
from engine.profile_store import ProfileStore

__all__ = ["ErasureReport", "erase_customer"]

logger = logging.getLogger(__name__)

CustomerEraser = Callable[[str], int]
"""Deletes one customer's entries from a cache or side store; returns how many it removed."""


@dataclass(frozen=True)
class ErasureReport:
    """Summary of one erasure: what it removed.

    Attributes:
        customer_id: the pseudonymised id that was erased.
        profile_deleted: a profile existed and was deleted.
        decisions_deleted: pending decisions deleted.
        audit_records_deleted: audit records deleted.
        consent_deleted: a consent record existed and was deleted.
        extra_deleted: entries removed by the extra erasers, in their order.
        tombstone_topics: topics a tombstone was published to; empty without a bus.
        erased_at: epoch seconds of the erasure.
    """

    customer_id: str
    profile_deleted: bool
    decisions_deleted: int
    audit_records_deleted: int
    consent_deleted: bool
    extra_deleted: tuple[int, ...]
    tombstone_topics: tuple[str, ...]
    erased_at: float


def erase_customer(
    customer_id: str,
    *,
    profiles: ProfileStore,
    decisions: DecisionStore,
    audit: AuditStore,
    consent: ConsentRegistry,
    bus: EventBus | None,
    topics: Sequence[str] = CUSTOMER_KEYED_TOPICS,
    extra_erasers: Sequence[CustomerEraser] = (),
    clock: Callable[[], float] = time.time,
) -> ErasureReport:
    """Erase everything the engine keeps about one pseudonymised customer.

    Erasing the same customer again is harmless: it finds nothing and publishes the
    tombstones again.

    Args:
        customer_id: the pseudonymised id (engine.privacy.pseudonymize of the bank's id).
        profiles, decisions, audit, consent: the stores to erase from.
        bus: where to publish tombstones; None skips them (no bus configured).
        topics: customer-keyed topics to tombstone.
        extra_erasers: further caches keyed by customer id.
        clock: epoch seconds now.

    Raises:
        InvalidInputError: ``customer_id`` is empty.
        StoreError, BusError: a store or the bus failed; the erasure is incomplete and
            must be retried (every step is idempotent).
    """
    if not isinstance(customer_id, str) or not customer_id:
        raise InvalidInputError(f"customer_id must be the non-empty pseudonymised id; got {customer_id!r}")
    erased_at = clock()
    consent_deleted = consent.forget(customer_id)
    # mark_erased deletes a consent record written since the line above as well.
    consent.mark_erased(customer_id, at=erased_at)
    profile_deleted = profiles.delete(customer_id)
    decisions_deleted = decisions.delete_customer(customer_id)
    audit_deleted = audit.delete_customer(customer_id)
    extra = tuple(int(eraser(customer_id)) for eraser in extra_erasers)
    published: list[str] = []
    if bus is not None:
        key = customer_id.encode()
        for topic in topics:
            bus.publish(topic, None, key=key)
            published.append(topic)
        bus.flush()
    profile_deleted = profiles.delete(customer_id) or profile_deleted
    report = ErasureReport(
        customer_id=customer_id,
        profile_deleted=profile_deleted,
        decisions_deleted=decisions_deleted,
        audit_records_deleted=audit_deleted,
        consent_deleted=consent_deleted,
        extra_deleted=extra,
        tombstone_topics=tuple(published),
        erased_at=erased_at,
    )
    # Counts only: the pseudonym is personal data too, so it stays out of the log.
    logger.info(
        "customer_erased profile=%s decisions=%d audit_records=%d tombstones=%d",
        profile_deleted,
        decisions_deleted,
        audit_deleted,
        len(published),
        extra={
            "profile_deleted": profile_deleted,
            "decisions_deleted": decisions_deleted,
            "audit_records_deleted": audit_deleted,
            "tombstones": len(published),
        },
    )
    return report
