"""API keys with scopes: configuration, hashing and request authentication.

Clients send their key in one of two headers::

    Authorization: Bearer <key>
    X-API-Key: <key>

Scopes:

* ``dashboard:read``: the ``personalizedDashboard`` query.
* ``feedback:write``: the ``recordFeedback`` mutation.
* ``admin``: everything, including ``eraseCustomer``, ``setConsent`` and ``decision``.

Keys come from ``OFFERLOOP_API_KEYS`` (a JSON list) or the YAML/JSON file named by
``OFFERLOOP_API_KEYS_FILE``. Each entry gives the key itself (``key``) or its SHA-256
in hex (``key_sha256``), so that a key file need not contain usable secrets. The
service keeps only the hashes in memory. With no key configured,
:func:`generate_admin_key` makes a random admin key for the session (see api/runner.py).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.errors import ConfigError, InvalidInputError
from engine.events import format_validation_error

__all__ = [
    "SCOPES",
    "Scope",
    "ApiKeyConfig",
    "Principal",
    "KeyRing",
    "AuthenticationError",
    "PermissionDeniedError",
    "hash_key",
    "generate_admin_key",
    "parse_api_keys",
    "load_api_keys_file",
    "key_from_headers",
    "MISSING_KEY_MESSAGE",
]

# The error a request without a usable key gets, from the key ring and from the resolvers.
MISSING_KEY_MESSAGE = (
    "missing API key; send it as 'Authorization: Bearer <key>' (the word Bearer included) or 'X-API-Key: <key>'"
)

Scope = Literal["dashboard:read", "feedback:write", "admin"]
SCOPES: tuple[str, ...] = ("dashboard:read", "feedback:write", "admin")
ADMIN_SCOPE = "admin"
# 32 random bytes, URL-safe base64: 43 characters, as hard to guess as the HMAC key.
_GENERATED_KEY_BYTES = 32


class AuthenticationError(InvalidInputError):
    """Raised when a request carries no API key or one that is not configured."""


class PermissionDeniedError(InvalidInputError):
    """Raised when an API key lacks the scope an operation requires."""


def hash_key(key: str) -> str:
    """Return the SHA-256 of ``key`` in hex, the form in which keys are stored."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyConfig(BaseModel):
    """One API key: a name for logs and metrics, its secret (or hash), scopes and rate limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Shown in logs and metrics, never the key.")
    key: str | None = Field(default=None, min_length=16, repr=False, description="The secret itself.")
    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key in hex.")
    scopes: tuple[Scope, ...] = Field(min_length=1)
    rate_per_s: float | None = Field(default=None, gt=0, le=100_000, description="Requests per second; None takes the service default.")
    burst: int | None = Field(default=None, ge=1, le=1_000_000, description="Bucket capacity; None takes the service default.")

    @field_validator("scopes")
    @classmethod
    def _distinct(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(scopes))

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKeyConfig:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError(
                f"API key {self.name!r} must give exactly one of 'key' (the secret, at least 16 characters) "
                "or 'key_sha256' (its SHA-256 in hex)"
            )
        return self

    @property
    def digest(self) -> str:
        """SHA-256 of the key in hex."""
        return self.key_sha256 if self.key_sha256 is not None else hash_key(self.key or "")

    def hashed(self) -> ApiKeyConfig:
        """Return a copy that keeps only the hash, safe to pass to other processes."""
        return ApiKeyConfig(
            name=self.name, key_sha256=self.digest, scopes=self.scopes, rate_per_s=self.rate_per_s, burst=self.burst
        )


@dataclass(frozen=True)
class Principal:
    """The caller of one request, as identified by its API key."""

    name: str
    scopes: frozenset[str]
    rate_per_s: float
    burst: int

    def allows(self, scope: str) -> bool:
        """Return whether this caller may use operations that need ``scope`` (admin may use all)."""
        return ADMIN_SCOPE in self.scopes or scope in self.scopes

    def require(self, scope: str, operation: str) -> None:
        """Raise PermissionDeniedError unless this caller has ``scope``."""
        if not self.allows(scope):
            raise PermissionDeniedError(
                f"API key {self.name!r} lacks scope {scope!r}, which {operation} requires; it has "
                f"{', '.join(sorted(self.scopes))}. Use a key with that scope"
            )


class KeyRing:
    """Looks up API keys by hash.

    Args:
        keys: the configured keys.
        default_rate_per_s: requests per second of keys without their own rate.
        default_burst: bucket capacity of keys without their own burst.

    Raises:
        ConfigError: two keys share a name or a secret.
    """

    def __init__(self, keys: Sequence[ApiKeyConfig], *, default_rate_per_s: float, default_burst: int) -> None:
        self._by_digest: dict[str, Principal] = {}
        names: set[str] = set()
        for key in keys:
            if key.name in names:
                raise ConfigError(f"API key name {key.name!r} is configured twice; give each key its own name")
            if key.digest in self._by_digest:
                raise ConfigError(f"API keys {self._by_digest[key.digest].name!r} and {key.name!r} have the same secret")
            names.add(key.name)
            self._by_digest[key.digest] = Principal(
                name=key.name,
                scopes=frozenset(key.scopes),
                rate_per_s=key.rate_per_s if key.rate_per_s is not None else default_rate_per_s,
                burst=key.burst if key.burst is not None else default_burst,
            )

    def __len__(self) -> int:
        return len(self._by_digest)

    def __repr__(self) -> str:
        return f"KeyRing({len(self)} keys: {', '.join(sorted(p.name for p in self._by_digest.values()))})"

    def authenticate(self, key: str | None) -> Principal:
        """Return the principal of ``key``.

        Raises:
            AuthenticationError: no key, or a key that is not configured.
        """
        if not key:
            raise AuthenticationError(MISSING_KEY_MESSAGE)
        # Lookup by SHA-256: timing can only depend on the hash of the caller's own input,
        # which reveals nothing about the stored keys.
        principal = self._by_digest.get(hash_key(key))
        if principal is None:
            raise AuthenticationError("API key not recognised; check the key or ask an administrator for one")
        return principal


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """Return the API key of a request from ``Authorization: Bearer`` or ``X-API-Key``, else None.

    ``headers`` must look names up case-insensitively, as Starlette's ``Headers`` does.
    """
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def generate_admin_key(name: str = "generated-admin") -> tuple[str, ApiKeyConfig]:
    """Return a new random key and its admin entry (hash only)."""
    key = secrets.token_urlsafe(_GENERATED_KEY_BYTES)
    return key, ApiKeyConfig(name=name, key_sha256=hash_key(key), scopes=(ADMIN_SCOPE,))


def _validate_entries(raw: Any, source: str) -> list[ApiKeyConfig]:
    if not isinstance(raw, list):
        raise ConfigError(
            f"{source} must be a list of API key entries ({{name, key or key_sha256, scopes}}); got {type(raw).__name__}"
        )
    keys = []
    for index, entry in enumerate(raw):
        try:
            keys.append(ApiKeyConfig.model_validate(entry))
        except ValidationError as err:
            # format_validation_error quotes input values; a rejected secret must not be echoed.
            safe = [item for item in err.errors() if item["loc"] and item["loc"][0] == "key"]
            detail = "key: must be a string of at least 16 characters" if safe else format_validation_error(err)
            raise ConfigError(f"{source}[{index}] is not a valid API key entry: {detail}") from None
    return keys


def parse_api_keys(text: str, *, source: str = "OFFERLOOP_API_KEYS") -> list[ApiKeyConfig]:
    """Parse a JSON list of API key entries.

    Raises:
        ConfigError: the text is not JSON or an entry is invalid; the message never
            contains a secret.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{source} is not valid JSON ({err.msg} at position {err.pos}); give a JSON list") from None
    return _validate_entries(raw, source)


def load_api_keys_file(path: str | Path) -> list[ApiKeyConfig]:
    """Read a YAML or JSON file with a list of API key entries (top level a list, or ``{keys: [...]}``).

    Raises:
        ConfigError: the file is missing, unreadable or invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"API key file {path} not found; set OFFERLOOP_API_KEYS_FILE to an existing file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"API key file {path} is not valid YAML or JSON: {getattr(err, 'problem', err)}") from None
    if isinstance(raw, dict) and "keys" in raw:
        raw = raw["keys"]
    return _validate_entries(raw, str(path))
