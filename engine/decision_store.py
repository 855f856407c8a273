"""Pending decisions awaiting their rewards: interface and in-memory implementation.

A pending decision holds the decision record and the feedback joined to it so far. It is
*open* until its longest attribution window ends, then *closed*: its remaining rewards
are emitted and it is kept for ``retention`` more so that late or duplicate feedback is
recognised as such rather than as feedback for an unknown decision.

Each store also indexes decision ids by pseudonymised customer id, so that erasure
(engine/erasure.py) finds and deletes every pending decision of one customer.
"""

from __future__ import annotations

import heapq
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.events import DecisionRecord

__all__ = ["PendingDecision", "DecisionStore", "InMemoryDecisionStore"]

T = TypeVar("T")


@dataclass
class PendingDecision:
    """A decision record plus its join state.

    Attributes:
        record: the decision as it was made.
        expires_at: epoch seconds when the longest attribution window closes.
        feedback: offer id to the counted feedback, as [type, epoch seconds, event id] lists.
        settled: offer id to the reward already emitted for it.
        seen_events: ids of every feedback event applied (counted or not), for duplicates.
        closed: True once the window has closed and the remaining rewards were emitted.
    """

    record: DecisionRecord
    expires_at: float
    feedback: dict[str, list[list[Any]]] = field(default_factory=dict)
    settled: dict[str, float] = field(default_factory=dict)
    seen_events: list[str] = field(default_factory=list)
    closed: bool = False

    @property
    def decision_id(self) -> str:
        return self.record.decision_id

    def to_bytes(self) -> bytes:
        """Serialise to JSON bytes."""
        state = {
            "expires_at": self.expires_at,
            "feedback": self.feedback,
            "settled": self.settled,
            "seen_events": self.seen_events,
            "closed": self.closed,
        }
        # The record's own cached serialisation is spliced in rather than encoded again.
        rest = json.dumps(state, separators=(",", ":")).encode()
        return b'{"record":' + self.record.json_bytes() + b"," + rest[1:]

    @classmethod
    def from_bytes(cls, data: bytes) -> "PendingDecision":
        """Restore a pending decision written by :meth:`to_bytes`."""
        state = json.loads(data)
        return cls(
            record=DecisionRecord.model_validate(state["record"]),
            expires_at=state["expires_at"],
            feedback=state["feedback"],
            settled=state["settled"],
            seen_events=state["seen_events"],
            closed=state["closed"],
        )


class DecisionStore(ABC):
    """Pending decisions keyed by decision id, with an index by window close time."""

    @abstractmethod
    def put(self, pending: PendingDecision, *, retention_s: float) -> None:
        """Store a new pending decision; it is deleted ``retention_s`` after ``expires_at``."""

    def put_many(self, pendings: Sequence[PendingDecision], *, retention_s: float) -> None:
        """Store several new pending decisions, as :meth:`put` each; Redis does it in one round trip."""
        for pending in pendings:
            self.put(pending, retention_s=retention_s)

    @abstractmethod
    def get(self, decision_id: str) -> PendingDecision | None:
        """Return a private copy, or None when the decision is unknown or past retention."""

    @abstractmethod
    def update(self, decision_id: str, function: Callable[[PendingDecision], T]) -> T | None:
        """Atomically apply ``function`` and store the result; None when the decision is unknown."""

    @abstractmethod
    def due(self, now: float, *, limit: int = 1000, lease_s: float = 60.0) -> list[str]:
        """Claim open decisions whose window closed at or before ``now`` (epoch seconds).

        A claimed decision is not returned again for ``lease_s`` seconds, so two workers
        do not close it twice; if the claimer crashes before storing the decision with
        ``closed=True`` (through :meth:`update`), another call returns it after the lease.
        Storing ``closed=True`` removes the decision from the open index.
        """

    @abstractmethod
    def delete(self, decision_id: str) -> bool:
        """Remove a decision; return whether it existed."""

    @abstractmethod
    def count(self) -> int:
        """Return the number of stored decisions, open and closed."""

    @abstractmethod
    def decision_ids_for(self, customer_id: str) -> list[str]:
        """Return the ids of the stored decisions of one customer, in no particular order."""

    @abstractmethod
    def delete_customer(self, customer_id: str) -> int:
        """Remove every decision of one customer and its index entry; return how many existed."""


class InMemoryDecisionStore(DecisionStore):
    """Pending decisions as objects in a dict, plus heaps of window close and deletion times.

    ``update`` mutates the stored object in place under the lock and restores the join
    state if the function raises; ``get`` returns a private copy.
    """

    def __init__(self) -> None:
        self._data: dict[str, PendingDecision] = {}
        self._delete_at: dict[str, float] = {}
        self._delete_heap: list[tuple[float, str]] = []
        self._open: list[tuple[float, str]] = []
        self._closed: set[str] = set()
        self._by_customer: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def put(self, pending: PendingDecision, *, retention_s: float) -> None:
        with self._lock:
            self._data[pending.decision_id] = PendingDecision.from_bytes(pending.to_bytes())
            self._by_customer.setdefault(pending.record.customer_id, set()).add(pending.decision_id)
            self._delete_at[pending.decision_id] = pending.expires_at + retention_s
            heapq.heappush(self._delete_heap, (pending.expires_at + retention_s, pending.decision_id))
            if not pending.closed:
                heapq.heappush(self._open, (pending.expires_at, pending.decision_id))

    def get(self, decision_id: str) -> PendingDecision | None:
        with self._lock:
            pending = self._data.get(decision_id)
            return PendingDecision.from_bytes(pending.to_bytes()) if pending is not None else None

    def update(self, decision_id: str, function: Callable[[PendingDecision], T]) -> T | None:
        with self._lock:
            pending = self._data.get(decision_id)
            if pending is None:
                return None
            # Only the join state is mutable (the record is frozen), so a cheap copy of it
            # is enough to roll back when the function raises, as the Redis store would.
            backup = (
                {offer: [list(entry) for entry in entries] for offer, entries in pending.feedback.items()},
                dict(pending.settled),
                list(pending.seen_events),
                pending.closed,
            )
            try:
                result = function(pending)
            except BaseException:
                pending.feedback, pending.settled, pending.seen_events, pending.closed = backup
                raise
            if pending.closed:
                self._closed.add(decision_id)
            return result

    def due(self, now: float, *, limit: int = 1000, lease_s: float = 60.0) -> list[str]:
        with self._lock:
            ready = []
            while self._open and self._open[0][0] <= now and len(ready) < limit:
                _, decision_id = heapq.heappop(self._open)
                if decision_id in self._data and decision_id not in self._closed:
                    ready.append(decision_id)
            for decision_id in ready:
                heapq.heappush(self._open, (now + lease_s, decision_id))
            # Decisions still waiting to be closed survive the prune, so their rewards are not lost.
            self._prune(now, keep=set(ready))
            return ready

    def _prune(self, now: float, keep: set[str]) -> None:
        postponed = []
        while self._delete_heap and self._delete_heap[0][0] <= now:
            when, key = heapq.heappop(self._delete_heap)
            if key in keep:
                postponed.append((when + 1.0, key))
                continue
            if self._delete_at.get(key) == when:
                self._forget(key)
        for item in postponed:
            self._delete_at[item[1]] = item[0]
            heapq.heappush(self._delete_heap, item)

    def _forget(self, decision_id: str) -> bool:
        """Drop one decision and its index entries; the caller holds the lock."""
        self._delete_at.pop(decision_id, None)
        self._closed.discard(decision_id)
        pending = self._data.pop(decision_id, None)
        if pending is None:
            return False
        customer_id = pending.record.customer_id
        ids = self._by_customer.get(customer_id)
        if ids is not None:
            ids.discard(decision_id)
            if not ids:
                del self._by_customer[customer_id]
        return True

    def delete(self, decision_id: str) -> bool:
        with self._lock:
            return self._forget(decision_id)

    def count(self) -> int:
        return len(self._data)

    def decision_ids_for(self, customer_id: str) -> list[str]:
        with self._lock:
            return list(self._by_customer.get(customer_id, ()))

    def delete_customer(self, customer_id: str) -> int:
        with self._lock:
            ids = list(self._by_customer.get(customer_id, ()))
            deleted = sum(self._forget(decision_id) for decision_id in ids)
            self._by_customer.pop(customer_id, None)
            return deleted
