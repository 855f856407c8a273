"""Access-control settings of one ingress: API keys (hashed), rate limits and query limits.

:class:`ApiSecurityConfig` is plain data that travels from the process that starts the
service to each ingress replica. It contains key hashes only, never a usable key.
:func:`security_config_from_settings` builds it from ``OFFERLOOP_*`` settings (see
engine/settings.py), adding any generated key.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from api.auth import ApiKeyConfig, KeyRing, load_api_keys_file, parse_api_keys
from api.graphql_http import DEFAULT_MAX_COST, DEFAULT_MAX_DEPTH
from engine.settings import ServiceSettings

__all__ = ["ApiSecurityConfig", "security_config_from_settings"]


class ApiSecurityConfig(BaseModel):
    """Settings an ingress needs to authenticate, rate-limit and bound requests.

    Attributes:
        keys: configured keys with hashes only.
        introspection: allow GraphQL ``__schema``/``__type`` queries and /openapi.json.
        max_depth: deepest query nesting.
        max_cost: highest query cost (api/query_limits.py).
        rate_per_s: requests per second of keys without their own rate.
        burst: bucket capacity of keys without their own burst.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[ApiKeyConfig, ...] = ()
    introspection: bool = False
    max_depth: int = Field(default=DEFAULT_MAX_DEPTH, ge=1, le=64)
    max_cost: int = Field(default=DEFAULT_MAX_COST, ge=1, le=1_000_000)
    rate_per_s: float = Field(default=50.0, gt=0, le=100_000)
    burst: int = Field(default=100, ge=1, le=1_000_000)

    def key_ring(self) -> KeyRing:
        """Return the key ring of these keys with the default rate limits."""
        return KeyRing(self.keys, default_rate_per_s=self.rate_per_s, default_burst=self.burst)


def configured_keys(settings: ServiceSettings) -> list[ApiKeyConfig]:
    """Return the keys from ``OFFERLOOP_API_KEYS`` and ``OFFERLOOP_API_KEYS_FILE``, hashed.

    Raises:
        ConfigError: a source is unreadable or an entry is invalid.
    """
    keys: list[ApiKeyConfig] = []
    if settings.api_keys:
        keys.extend(parse_api_keys(settings.api_keys))
    if settings.api_keys_file is not None:
        keys.extend(load_api_keys_file(settings.api_keys_file))
    return [key.hashed() for key in keys]


def security_config_from_settings(
    settings: ServiceSettings, *, extra_keys: Sequence[ApiKeyConfig] = ()
) -> ApiSecurityConfig:
    """Build the ingress security config from settings plus ``extra_keys`` (a generated admin key).

    Raises:
        ConfigError: a key source is invalid, or two keys share a name or secret.
    """
    config = ApiSecurityConfig(
        keys=tuple(configured_keys(settings)) + tuple(key.hashed() for key in extra_keys),
        introspection=settings.introspection_enabled,
        max_depth=settings.graphql_max_depth,
        max_cost=settings.graphql_max_cost,
        rate_per_s=settings.rate_per_s,
        burst=settings.rate_burst,
    )
    config.key_ring()  # raises ConfigError on duplicate names or secrets, before any replica starts
    return config
