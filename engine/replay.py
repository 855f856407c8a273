"""Publish a file of events to a topic, sanitising each event on the way.

Each event passes :func:`engine.privacy.sanitize_event_payload`: customer and account ids
are pseudonymised, geo-ping locations coarsened, and transaction free text is replaced by
its category before anything leaves this machine.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine.bus import EventBus
from engine.errors import InvalidInputError
from engine.privacy import sanitize_event_payload

__all__ = ["replay_file"]

logger = logging.getLogger(__name__)


def replay_file(path: str | Path, bus: EventBus, *, topic: str = "customer-events") -> dict[str, int]:
    """Publish each event of ``path`` (JSON lines or a JSON array) to ``topic``.

    Lines that are JSON objects with a ``customer_id`` are sanitised (see the module
    docstring) and keyed by the pseudonymised id. Other lines are published unchanged, so
    that the consumers dead-letter them with a reason; the count of such lines is returned
    as ``unparseable``.

    Raises:
        InvalidInputError: the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"event file {path} not found; pass a JSON-lines file of events")
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            lines = [json.dumps(item) for item in json.loads(stripped)]
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{path} starts with '[' but is not a valid JSON array: {err}") from err
    else:
        lines = [line for line in text.splitlines() if line.strip()]
    published = 0
    unparseable = 0
    for line in lines:
        key = None
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("customer_id"), str) and payload["customer_id"]:
            payload = sanitize_event_payload(payload)
            key = payload["customer_id"].encode()
            value = json.dumps(payload).encode()
        else:
            unparseable += 1
            value = line.encode()
        bus.publish(topic, value, key=key)
        published += 1
    bus.flush()
    logger.info("replayed %d events from %s to %s", published, path.name, topic)
    return {"published": published, "unparseable": unparseable}
