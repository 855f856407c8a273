"""Reading what a decision needs about one customer: consent and profile.

When both live in Redis on the same client, one pipelined round trip reads them;
otherwise each store is asked in turn. The decision path calls this once per request.
"""

from __future__ import annotations

from engine.consent import ConsentRegistry, ConsentState, RedisConsentRegistry
from engine.errors import StoreError
from engine.profile import CustomerProfile
from engine.profile_store import ProfileStore

__all__ = ["read_customer", "shares_round_trip"]


def shares_round_trip(profiles: ProfileStore, consent: ConsentRegistry) -> bool:
    """Check whether the profile store and the consent registry can be read in one Redis round trip."""
    from engine.io.redis_stores import RedisProfileStore

    return (
        isinstance(profiles, RedisProfileStore)
        and isinstance(consent, RedisConsentRegistry)
        and profiles.client is consent.client
    )


def read_customer(
    profiles: ProfileStore, consent: ConsentRegistry, customer_id: str
) -> tuple[ConsentState, CustomerProfile | None]:
    """Return the customer's consent state and live profile (None for an unknown customer).

    Raises:
        StoreError: Redis failed, or a stored profile could not be decoded.
    """
    if not shares_round_trip(profiles, consent):
        return consent.get(customer_id), profiles.get(customer_id)
    from redis.exceptions import RedisError

    from engine.io.redis_stores import RedisProfileStore

    assert isinstance(profiles, RedisProfileStore) and isinstance(consent, RedisConsentRegistry)
    try:
        with profiles.client.pipeline(transaction=False) as pipe:
            consent.queue_get(pipe, customer_id)
            profiles.queue_get(pipe, customer_id)
            replies = pipe.execute()
    except RedisError as err:
        # The message never names a key, because keys hold customer ids.
        raise StoreError(
            f"Redis read of consent and profile failed: {type(err).__name__}: {err}; "
            "check that Redis is reachable at REDIS_URL"
        ) from err
    return consent.decode_replies(replies[:2]), profiles.decode_reply(replies[2])
