"""Dead-letter records: a message that could not be processed, with the reason."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timezone

from engine.bus import TOPIC_DEAD_LETTER, BusMessage, EventBus

__all__ = ["dead_letter", "read_dead_letter"]

logger = logging.getLogger(__name__)


def dead_letter(bus: EventBus, message: BusMessage, reason: str, *, worker: str) -> None:
    """Publish ``message`` to the dead-letter topic with ``reason``; the original bytes are kept in base64."""
    record = {
        "reason": reason,
        "worker": worker,
        "source_topic": message.topic,
        "source_partition": message.partition,
        "source_offset": message.offset,
        "failed_at": datetime.now(timezone.utc).isoformat(),
        "payload_base64": base64.b64encode(message.value).decode(),
    }
    bus.publish(TOPIC_DEAD_LETTER, json.dumps(record).encode(), key=message.key)
    # The reason can quote field values, so only the location is logged.
    logger.warning(
        "dead_lettered message from %s[%d]@%d by %s", message.topic, message.partition, message.offset, worker
    )


def read_dead_letter(value: bytes) -> dict[str, object]:
    """Decode a dead-letter record, adding the original payload as ``payload`` (bytes)."""
    record = json.loads(value)
    record["payload"] = base64.b64decode(record["payload_base64"])
    return record
