"""Statement commands of the ``offerloop`` CLI: ``import`` publishes a statement to the event
bus, ``insights`` prints a statement's insights without a server.

The core functions (:func:`import_statement`, :func:`statement_insights`) take typed
arguments and return records; the ``*_command`` functions are their typer front ends,
registered in ``engine.cli``.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from engine.bus import TOPIC_CUSTOMER_EVENTS, EventBus
from engine.errors import InvalidInputError
from engine.events import TransactionEvent, event_to_json
from engine.insights import Insight, dashboard_insights
from engine.insights.calendar import zone
from engine.statements import CsvMapping

__all__ = [
    "DEFAULT_BOOTSTRAP_SERVERS",
    "ImportSummary",
    "StatementInsights",
    "import_statement",
    "statement_insights",
    "import_command",
    "insights_command",
]

logger = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:19092"
# The offline insights command has no customer; its profile gets this id.
STATEMENT_CUSTOMER = "statement-customer"


@dataclass(frozen=True)
class ImportSummary:
    """Counts of the events one ``import`` published.

    Attributes:
        format: the statement format read.
        transactions: transaction events published.
        balances: balance snapshot events published.
        errors: (line, reason) of entries that could not be imported.
        topic: the topic published to.
    """

    format: str
    transactions: int
    balances: int
    errors: tuple[tuple[int | None, str], ...]
    topic: str

    @property
    def published(self) -> int:
        """Events published in all."""
        return self.transactions + self.balances


@dataclass(frozen=True)
class StatementInsights:
    """The insights of one statement file.

    Attributes:
        format: the statement format read.
        as_of: the time the insights are computed for.
        currency: currency of the amounts.
        time_zone: IANA name of the zone local days are counted in.
        insights: the dashboard insights, most urgent first.
        signals: the insight signals that eligibility rules read.
        transactions: transactions imported.
        errors: (line, reason) of entries that could not be imported.
    """

    format: str
    as_of: datetime
    currency: str
    time_zone: str
    insights: list[Insight]
    signals: dict[str, float]
    transactions: int
    errors: tuple[tuple[int | None, str], ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "format": self.format,
            "as_of": self.as_of.isoformat(),
            "currency": self.currency,
            "time_zone": self.time_zone,
            "transactions": self.transactions,
            "errors": [{"line": line, "reason": reason} for line, reason in self.errors],
            "signals": self.signals,
            "insights": [insight.to_dict() for insight in self.insights],
        }


def import_statement(
    path: str | Path,
    *,
    customer: str,
    bus: EventBus,
    csv_mapping: CsvMapping | str | Path | None = None,
    topic: str = TOPIC_CUSTOMER_EVENTS,
) -> ImportSummary:
    """Publish a statement's transactions and balances to ``topic``, keyed by the pseudonymised customer.

    Importing the same file again publishes the same event ids, which profiles apply
    once (they remember event ids for 90 days of history), so nothing counts twice.
    Events are published in time order and the bus is flushed before returning.

    Args:
        path: OFX/QFX, camt.053, MT940 or CSV file.
        customer: the bank's customer id; it is pseudonymised before it leaves this
            function and never logged.
        bus: the event bus (Kafka from engine.runtime.build_bus, or in memory).
        csv_mapping: column mapping for CSV files with an unknown header.
        topic: topic to publish to.

    Raises:
        StatementError: the file cannot be read as a statement.
        InvalidInputError: the customer id is empty.
    """
    from engine.privacy import pseudonymize
    from engine.statements import read_statement

    if not customer or not customer.strip():
        raise InvalidInputError("customer must be a non-empty customer id; pass --customer ID")
    customer_id = pseudonymize(customer)
    imported = read_statement(path, customer_id=customer_id, csv_mapping=csv_mapping)
    events = sorted([*imported.transactions, *imported.balances], key=lambda event: event.ts)
    key = customer_id.encode()
    for event in events:
        bus.publish(topic, event_to_json(event), key=key)
    bus.flush()
    summary = ImportSummary(
        format=imported.format,
        transactions=len(imported.transactions),
        balances=len(imported.balances),
        errors=tuple((error.line, error.reason) for error in imported.errors),
        topic=topic,
    )
    logger.info(
        "statement_published",
        extra={
            "format": summary.format,
            "transactions": summary.transactions,
            "balances": summary.balances,
            "errors": len(summary.errors),
            "topic": topic,
        },
    )
    return summary


def statement_insights(
    path: str | Path,
    *,
    now: datetime | None = None,
    time_zone: str = "UTC",
    csv_mapping: CsvMapping | str | Path | None = None,
) -> StatementInsights:
    """Build a profile from one statement file and return its dashboard insights.

    Args:
        path: OFX/QFX, camt.053, MT940 or CSV file.
        now: the time to compute insights for (aware); by default noon of the day after
            the latest transaction, in ``time_zone``.
        time_zone: IANA name of the customer's time zone.
        csv_mapping: column mapping for CSV files with an unknown header.

    Raises:
        StatementError: the file cannot be read as a statement.
        InvalidInputError: unknown time zone or naive ``now``.
    """
    from engine.features import compute_features
    from engine.insights.keys import SIGNALS
    from engine.insights.state import set_insight_time_zone
    from engine.profile import CustomerProfile
    from engine.statements import read_statement

    tz = zone(time_zone)
    if now is not None and (now.tzinfo is None or now.utcoffset() is None):
        raise InvalidInputError(f"now must carry a time zone; got {now.isoformat()}. Add an offset such as +00:00")
    imported = read_statement(path, customer_id=STATEMENT_CUSTOMER, csv_mapping=csv_mapping)
    profile = CustomerProfile(STATEMENT_CUSTOMER)
    set_insight_time_zone(profile, time_zone)
    events = sorted([*imported.transactions, *imported.balances], key=lambda event: event.ts)
    for event in events:
        profile.apply(event, category=event.category if isinstance(event, TransactionEvent) else None)
    if now is None:
        latest = events[-1].ts.astimezone(tz).date() if events else datetime.now(tz).date()
        now = datetime.combine(latest + timedelta(days=1), time(12, 0), tzinfo=tz)
    features = compute_features(profile, now)
    currency = profile.currency or "EUR"
    insights = dashboard_insights(profile, features, now, currency, tz=tz)
    return StatementInsights(
        format=imported.format,
        as_of=now,
        currency=currency,
        time_zone=time_zone,
        insights=insights,
        signals={name: float(features.get(name, 0.0)) for name in SIGNALS},
        transactions=len(imported.transactions),
        errors=tuple((error.line, error.reason) for error in imported.errors),
    )


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _load_mapping(path: Path | None) -> CsvMapping | None:
    if path is None:
        return None
    from engine.config.loader import load_yaml_model

    return load_yaml_model(path, CsvMapping)


def _parse_now(value: str | None, time_zone: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise InvalidInputError(
            f"--now must be an ISO 8601 date or date-time such as 2025-03-14 or 2025-03-14T09:30; got {value!r}"
        ) from err
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone(time_zone))


def import_command(
    file: Annotated[Path, typer.Argument(help="Statement file: OFX/QFX, camt.053, MT940 or CSV.")],
    customer: Annotated[str, typer.Option("--customer", help="The bank's customer id; pseudonymised before publishing.")],
    bootstrap_servers: Annotated[
        Optional[str],
        typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help=f"Kafka bootstrap servers (default {DEFAULT_BOOTSTRAP_SERVERS})."),
    ] = None,
    csv_mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping for CSV files with an unknown header.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Publish a statement's transactions to the customer-events topic; a re-import adds nothing twice."""
    from engine.runtime import build_bus

    _setup_logging(verbose)
    servers = bootstrap_servers or DEFAULT_BOOTSTRAP_SERVERS
    mapping = _load_mapping(csv_mapping)
    bus = build_bus(servers)
    try:
        summary = import_statement(file, customer=customer, bus=bus, csv_mapping=mapping)
    finally:
        bus.close()
    typer.echo(
        f"published {summary.transactions} transactions and {summary.balances} balances from {file} "
        f"({summary.format}) to {summary.topic} at {servers}; {len(summary.errors)} entries could not be imported"
    )
    for line, reason in summary.errors:
        typer.echo(f"  line {line}: {reason}")


def insights_command(
    file: Annotated[Path, typer.Argument(help="Statement file: OFX/QFX, camt.053, MT940 or CSV.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the insights as one JSON object.")] = False,
    tz: Annotated[str, typer.Option("--tz", help="The customer's IANA time zone, e.g. Europe/Amsterdam.")] = "UTC",
    now: Annotated[
        Optional[str],
        typer.Option(help="Compute the insights for this ISO date or date-time (default: the day after the last transaction)."),
    ] = None,
    csv_mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping for CSV files with an unknown header.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Print the insights of one statement file, computed locally without a server."""
    _setup_logging(verbose)
    result = statement_insights(file, now=_parse_now(now, tz), time_zone=tz, csv_mapping=_load_mapping(csv_mapping))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    typer.echo(
        f"{file}: {result.format}, {result.transactions} transactions, insights as of "
        f"{result.as_of.isoformat()} ({result.time_zone})"
    )
    for line, reason in result.errors:
        typer.echo(f"  line {line} not imported: {reason}")
    if not result.insights:
        typer.echo("No insights: the statement has too little history for any of them.")
    for insight in result.insights:
        typer.echo(f"- {insight.category}: {insight.prediction} (confidence {insight.confidence:.0%})")
        typer.echo(f"  {insight.reason}")
