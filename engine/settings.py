"""Service settings, read from the environment (or a .env-style file) with pydantic-settings.

With nothing set, ``offerloop serve`` runs the embedded default: a local Ray instance, the
bundled Kafka-compatible broker and in-memory stores. ``KAFKA_BOOTSTRAP_SERVERS``,
``REDIS_URL`` and ``RAY_ADDRESS`` point the same code at real infrastructure.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings", "get_settings"]


class ServiceSettings(BaseSettings):
    """Addresses of the service's infrastructure and the sizes of its deployments."""

    model_config = SettingsConfigDict(env_prefix="OFFERLOOP_", extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "OFFERLOOP_KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers; unset starts the bundled broker.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "OFFERLOOP_REDIS_URL"),
        description="Redis URL for profiles, pending decisions and snapshots; unset keeps them in memory.",
    )
    ray_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RAY_ADDRESS", "OFFERLOOP_RAY_ADDRESS"),
        description="Ray cluster address; unset starts a local Ray instance.",
    )
    policy: str = Field(default="lints", description="Policy name (configs/policies/NAME.yaml) or YAML path.")
    catalog_path: Path | None = Field(default=None, description="Offer catalog YAML; configs/offers.yaml by default.")
    rewards_path: Path | None = Field(default=None, description="Reward config YAML; configs/rewards.yaml by default.")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP ingress listens on.")
    http_port: int = Field(default=8000, ge=1, le=65535)
    broker_port: int = Field(default=19092, ge=1, le=65535, description="Port of the bundled broker.")
    policy_replicas: int = Field(default=1, ge=1, le=64, description="Replicas of the policy deployment.")
    ingress_replicas: int = Field(default=1, ge=1, le=64, description="Replicas of the GraphQL ingress.")
    max_ongoing_requests: int = Field(default=64, ge=1, le=10_000, description="Concurrent requests per replica.")
    policy_placement: Literal["ingress", "deployment"] = Field(
        default="ingress",
        description="Where the policy decides: in each ingress replica (no hop between replicas), "
        "or in a Policy deployment of policy_replicas replicas.",
    )
    cache_customers: int = Field(
        default=50_000,
        ge=0,
        le=10_000_000,
        description="Customers per replica whose insights are kept until their profile changes or their day turns; 0 disables.",
    )
    snapshot_poll_s: float = Field(default=0.1, gt=0, le=60, description="How often replicas look for a new snapshot.")
    redis_key_prefix: str = Field(default="ol:", description="Prefix of every Redis key the service writes.")
    consumer_group_prefix: str = Field(default="offerloop", description="Prefix of Kafka consumer group ids.")
    default_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    shadow_policy: str | None = Field(
        default=None,
        description="Policy name or YAML path that decides on every request without being shown (shadow mode).",
    )
    traffic_split: str | None = Field(
        default=None,
        description="Policies and weights, e.g. 'lints=0.9,ppo=0.1'; customers are routed by a stable hash.",
    )
    high_throughput: bool = Field(
        default=True,
        description="Start Ray with Serve's throughput-optimised mode (HAProxy in front of replicas).",
    )
    # Privacy and access control. Secrets (API keys, the pseudonym key) are read from the
    # environment or a file and never echoed; see docs/privacy.md.
    mode: Literal["development", "production"] = Field(
        default="production", description="production turns GraphQL introspection off unless graphql_introspection is set."
    )
    api_keys: str | None = Field(
        default=None,
        description="JSON list of API keys: [{name, key or key_sha256, scopes, rate_per_s, burst}]; "
        "unset with no api_keys_file makes `offerloop serve` generate an admin key.",
    )
    api_keys_file: Path | None = Field(default=None, description="YAML or JSON file with the same list as api_keys.")
    rate_per_s: float = Field(default=50.0, gt=0, le=100_000, description="Default requests per second per API key.")
    rate_burst: int = Field(default=100, ge=1, le=1_000_000, description="Default burst size (bucket capacity) per API key.")
    graphql_introspection: bool | None = Field(
        default=None, description="Allow __schema/__type queries; unset means on in development, off in production."
    )
    graphql_max_depth: int = Field(default=8, ge=1, le=64, description="Deepest field nesting a query may have.")
    graphql_max_cost: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Highest query cost: each field costs 1, times 10 under each list field (the audit query costs about 400).",
    )
    audit_retention_days: float = Field(
        default=400.0, gt=0, le=3650, description="Days decision audit records are kept; must exceed the attribution window."
    )
    consent_default_marketing: bool = Field(
        default=True, description="Marketing consent of customers without a consent record (False for opt-in regimes)."
    )
    consent_default_personalisation: bool = Field(
        default=True, description="Personalisation consent of customers without a consent record."
    )

    @property
    def introspection_enabled(self) -> bool:
        """Whether GraphQL introspection is allowed: the explicit setting, else on in development only."""
        if self.graphql_introspection is not None:
            return self.graphql_introspection
        return self.mode == "development"

    @property
    def embedded_stores(self) -> bool:
        """True when profiles, decisions and snapshots live in memory inside one replica."""
        return self.redis_url is None


@lru_cache(maxsize=1)
def get_settings() -> ServiceSettings:
    """Return the process-wide settings (read once)."""
    return ServiceSettings()
