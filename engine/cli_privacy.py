"""The ``offerloop erase`` command: erase one customer (GDPR article 17).

Two ways to reach the data:

* ``--url`` (with an admin key in ``--api-key`` or ``OFFERLOOP_API_KEY``): call the
  running service's ``eraseCustomer`` mutation. This is the only way when the service
  keeps its stores in memory.
* ``REDIS_URL`` set and no ``--url``: erase in Redis directly (profile, pending
  decisions, audit records, consent) and, when ``KAFKA_BOOTSTRAP_SERVERS`` is set,
  publish the tombstones.

Register it in engine/cli.py with ``app.command()(erase)``.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any, Optional

import typer

from engine.errors import ConfigError, InvalidInputError

__all__ = ["erase", "erase_via_api", "erase_via_stores"]

logger = logging.getLogger(__name__)

_MUTATION = (
    "mutation($u: ID!) { eraseCustomer(userId: $u) { customerId profileDeleted decisionsDeleted "
    "auditRecordsDeleted consentDeleted tombstoneTopics erasedAt } }"
)


def erase_via_api(url: str, api_key: str, customer: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
    """Call ``eraseCustomer`` on the service at ``url`` and return the receipt.

    Raises:
        InvalidInputError: the service rejected the key or the request (its message is kept).
        ConfigError: the service did not respond, or its response was not JSON.
    """
    import httpx

    endpoint = url.rstrip("/")
    endpoint = endpoint if endpoint.endswith("/graphql") else f"{endpoint}/graphql"
    try:
        response = httpx.post(
            endpoint,
            json={"query": _MUTATION, "variables": {"u": customer}},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as err:
        raise ConfigError(f"the service at {endpoint} did not respond ({type(err).__name__}); check --url") from err
    try:
        body = response.json()
    except ValueError as err:
        raise ConfigError(f"the service at {endpoint} returned HTTP {response.status_code} without JSON; check --url") from err
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        raise InvalidInputError(f"eraseCustomer failed (HTTP {response.status_code}): {errors[0].get('message')}")
    return dict(body["data"]["eraseCustomer"])


def erase_via_stores(customer: str) -> dict[str, Any]:
    """Erase ``customer`` in the Redis stores named by the environment, with tombstones when Kafka is set.

    Raises:
        ConfigError: ``REDIS_URL`` is not set.
        StoreError, BusError: Redis or Kafka failed; run the command again.
    """
    from engine.audit_store import audit_store_from_settings
    from engine.consent import consent_registry_from_settings
    from engine.config.loader import load_reward_config
    from engine.erasure import erase_customer
    from engine.privacy import pseudonymize
    from engine.runtime import build_bus, build_stores
    from engine.settings import ServiceSettings

    settings = ServiceSettings()
    if settings.redis_url is None:
        raise ConfigError(
            "REDIS_URL is not set, so the data lives inside the running service's memory; "
            "pass --url and an admin --api-key to erase through its API, or set REDIS_URL"
        )
    rewards = load_reward_config(settings.rewards_path)
    stores = build_stores(settings)
    bus = build_bus(settings.kafka_bootstrap_servers) if settings.kafka_bootstrap_servers else None
    try:
        report = erase_customer(
            pseudonymize(customer),
            profiles=stores.profiles,
            decisions=stores.decisions,
            audit=audit_store_from_settings(settings, attribution_window_s=rewards.max_window.total_seconds()),
            consent=consent_registry_from_settings(settings),
            bus=bus,
        )
    finally:
        if bus is not None:
            bus.close()
    return {
        "customerId": report.customer_id,
        "profileDeleted": report.profile_deleted,
        "decisionsDeleted": report.decisions_deleted,
        "auditRecordsDeleted": report.audit_records_deleted,
        "consentDeleted": report.consent_deleted,
        "tombstoneTopics": list(report.tombstone_topics),
        "erasedAt": report.erased_at,
    }


def erase(
    customer: Annotated[str, typer.Option("--customer", help="The bank's customer id; pseudonymised before use.")],
    url: Annotated[
        Optional[str], typer.Option(help="Service URL, e.g. http://127.0.0.1:8000; erase through its API.")
    ] = None,
    api_key: Annotated[
        Optional[str], typer.Option(envvar="OFFERLOOP_API_KEY", help="Admin API key for --url.", show_default=False)
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Erase a customer: profile, pending decisions, audit records, consent; tombstones to keyed topics."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if url is not None:
        if not api_key:
            raise ConfigError("--url needs an admin API key: pass --api-key or set OFFERLOOP_API_KEY")
        receipt = erase_via_api(url, api_key, customer)
    else:
        receipt = erase_via_stores(customer)
    typer.echo(
        f"erased customer (pseudonym {receipt['customerId']}): profile deleted {receipt['profileDeleted']}, "
        f"{receipt['decisionsDeleted']} pending decisions, {receipt['auditRecordsDeleted']} audit records, "
        f"consent record deleted {receipt['consentDeleted']}, tombstones on {len(receipt['tombstoneTopics'])} topics"
    )
