"""Writes decisions off the request path: pending decisions, audit records and the decision log.

A dashboard request hands its decision to :class:`DecisionWriter` and returns. A
background thread takes whatever has queued up, stores the batch in the decision store
and the audit store with one round trip each, then publishes each record to the
decisions topic. Under load the batches grow, so the cost per decision falls as traffic
rises.

Ordering and durability:

* A batch is retried until the stores accept it; nothing is dropped. Storing is
  idempotent (same keys, same values), so a retry after a partial failure is safe.
* The queue is bounded. When the stores stay down long enough to fill it, ``submit``
  waits, then raises :class:`~engine.errors.StoreError`, so requests fail loudly instead
  of losing decisions.
* Feedback recorded through the same service waits for its decision to be written
  (:meth:`DecisionWriter.wait_for`). Feedback that reaches Kafka from elsewhere within the
  few milliseconds before the batch is stored is counted as an unknown decision by the
  reward joiner, as any feedback for a decision it cannot find.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from engine.audit_store import AuditStore
from engine.bus import TOPIC_DECISIONS, EventBus
from engine.decision_store import DecisionStore, PendingDecision
from engine.errors import InvalidInputError, StoreError

__all__ = ["DecisionWriter", "WriterStats"]

logger = logging.getLogger(__name__)


@dataclass
class WriterStats:
    """Counters exported as metrics."""

    written: int = 0
    batches: int = 0
    retries: int = 0


class DecisionWriter:
    """Stores and publishes decisions in batches on one background thread.

    Args:
        decisions: the pending-decision store the reward join reads.
        audit: the audit record store.
        bus: the bus for the decisions topic; None publishes nothing.
        retention_s: how long a pending decision is kept after its window closes.
        max_batch: decisions written per round trip at most.
        max_queued: decisions waiting to be written at most; ``submit`` waits beyond it.
        retry_s: first pause after a failed write; it doubles up to ``max_retry_s``.
    """

    def __init__(
        self,
        decisions: DecisionStore,
        audit: AuditStore,
        bus: EventBus | None,
        *,
        retention_s: float,
        max_batch: int = 64,
        max_queued: int = 10_000,
        retry_s: float = 0.05,
        max_retry_s: float = 2.0,
    ) -> None:
        if max_batch < 1 or max_queued < 1:
            raise InvalidInputError(f"max_batch and max_queued must be at least 1; got {max_batch} and {max_queued}")
        self.decisions = decisions
        self.audit = audit
        self.bus = bus
        self.retention_s = retention_s
        self.max_batch = max_batch
        self.max_queued = max_queued
        self.retry_s = retry_s
        self.max_retry_s = max_retry_s
        self.stats = WriterStats()
        self._queue: collections.deque[PendingDecision] = collections.deque()
        # Decision ids submitted and not yet stored (queued or in the batch being written).
        self._unwritten: set[str] = set()
        self._condition = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> DecisionWriter:
        """Start the background thread; return self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
            self._thread.start()
        return self

    @property
    def backlog(self) -> int:
        """Decisions submitted and not yet stored."""
        with self._condition:
            return len(self._unwritten)

    def submit(self, pending: PendingDecision, *, timeout_s: float = 5.0) -> None:
        """Queue one decision for writing.

        Raises:
            StoreError: the queue stayed full for ``timeout_s`` (the stores are failing),
                or the writer is stopped.
        """
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while len(self._queue) >= self.max_queued and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreError(
                        f"{len(self._queue)} decisions are waiting to be stored; the decision or audit store "
                        "is not accepting writes (see the log), so this decision was not made"
                    )
                self._condition.wait(remaining)
            if self._stopping or self._thread is None:
                raise StoreError("the decision writer is not running; start the service before deciding")
            self._queue.append(pending)
            self._unwritten.add(pending.decision_id)
            self._condition.notify_all()

    def wait_for(self, decision_id: str, *, timeout_s: float = 5.0) -> bool:
        """Wait until a submitted decision is stored; True at once for ids never submitted here."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while decision_id in self._unwritten:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def flush(self, *, timeout_s: float = 5.0) -> bool:
        """Wait until everything submitted so far is stored and published; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._condition:
            while self._unwritten:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def stop(self, *, timeout_s: float = 5.0) -> None:
        """Write what is queued (for up to ``timeout_s``), then end the thread."""
        self.flush(timeout_s=timeout_s)
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._unwritten:
            logger.error("decision writer stopped with %d decisions not stored", len(self._unwritten))

    # ------------------------------------------------------------------ thread
    def _take_batch(self) -> list[PendingDecision] | None:
        with self._condition:
            while not self._queue and not self._stopping:
                self._condition.wait()
            if not self._queue:
                return None
            count = min(self.max_batch, len(self._queue))
            batch = [self._queue.popleft() for _ in range(count)]
            self._condition.notify_all()  # room in the queue for waiting submitters
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            self._write(batch)
            with self._condition:
                self._unwritten.difference_update(pending.decision_id for pending in batch)
                self.stats.written += len(batch)
                self.stats.batches += 1
                self._condition.notify_all()

    def _write(self, batch: Sequence[PendingDecision]) -> None:
        """Store, then publish, retrying each stage until it succeeds or the writer stops."""
        pause = self.retry_s
        stored = False
        published = 0  # records already handed to the bus, so a retry does not repeat them
        while True:
            try:
                if not stored:
                    self.decisions.put_many(batch, retention_s=self.retention_s)
                    self.audit.put_many([pending.record for pending in batch])
                    stored = True
                if self.bus is not None:
                    while published < len(batch):
                        record = batch[published].record
                        self.bus.publish(TOPIC_DECISIONS, record.json_bytes(), key=record.customer_id.encode())
                        published += 1
                return
            except Exception as err:  # noqa: BLE001 - retried below; the thread must not die.
                self.stats.retries += 1
                stage = "publish" if stored else "store"
                logger.warning("decision writer could not %s %d decisions (%r); retrying in %.2f s", stage, len(batch), err, pause)
                with self._condition:
                    if self._stopping:
                        logger.error("decision writer stopping; %d decisions were not %sd", len(batch), stage)
                        return
                    self._condition.wait(pause)
                pause = min(self.max_retry_s, pause * 2)
