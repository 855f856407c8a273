"""Measure the Redis memory that one customer profile takes, and project it to 1 million customers.

The script builds synthetic profiles by applying about 90 days of transactions, logins,
balance snapshots, location pings and offer impressions to ``CustomerProfile``, writes
them through ``RedisProfileStore`` under a key prefix unique to the run, and reports:

- the serialised profile size (msgpack bytes) and which fields take the most of it;
- ``MEMORY USAGE`` of a sample of profile keys (key, value and allocator overhead);
- the growth of ``INFO memory`` ``used_memory`` per profile, which other clients of the
  same Redis server distort, so the two figures should roughly agree;
- the projection of both to 1 million customers.

It deletes its keys at the end, also when interrupted. Usage:

    python benchmarks/redis_memory.py --customers 2000 --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack
import numpy as np
import redis
from tqdm import tqdm

from engine.events import BalanceSnapshotEvent, GeoPingEvent, LoginEvent, OfferFeedbackEvent, TransactionEvent
from engine.io.redis_stores import RedisProfileStore, RedisSettings, connect_redis
from engine.profile import CustomerProfile

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
MILLION = 1_000_000
# Card spend: category, share of card transactions, median amount in EUR.
CARD_SPEND: tuple[tuple[str, float, float], ...] = (
    ("groceries", 0.32, 28.0),
    ("dining", 0.18, 17.0),
    ("transport", 0.16, 9.0),
    ("shopping", 0.13, 42.0),
    ("entertainment", 0.06, 25.0),
    ("health", 0.04, 22.0),
    ("cash", 0.04, 60.0),
    ("travel", 0.03, 180.0),
    ("other", 0.04, 30.0),
)
OFFER_IDS = ("cashback-groceries", "travel-card", "savings-boost", "personal-loan")
COUNTRIES = ("DE", "DE", "DE", "DE", "FR", "NL", "ES")


@dataclass
class Customer:
    """Stable traits of one synthetic customer."""

    customer_id: str
    card_rate: float
    login_rate: float
    salary: float
    rent: float
    subscriptions: tuple[tuple[int, float], ...]
    has_loan: bool


def make_customer(index: int, rng: np.random.Generator) -> Customer:
    subscription_days = rng.choice(np.arange(1, 29), size=int(rng.integers(1, 5)), replace=False)
    return Customer(
        customer_id=f"pseud-{index:06d}-{int(rng.integers(0, 2**40)):010x}",
        card_rate=float(rng.uniform(1.0, 4.0)),
        login_rate=float(rng.uniform(0.3, 2.5)),
        salary=float(rng.lognormal(np.log(3000), 0.35)),
        rent=float(rng.lognormal(np.log(900), 0.3)),
        subscriptions=tuple((int(day), float(rng.choice([4.99, 9.99, 12.99, 17.99]))) for day in subscription_days),
        has_loan=bool(rng.random() < 0.3),
    )


CARD_CATEGORIES = [category for category, _, _ in CARD_SPEND]
CARD_SHARES = np.array([share for _, share, _ in CARD_SPEND]) / sum(share for _, share, _ in CARD_SPEND)
CARD_LOG_MEDIANS = np.log([median for _, _, median in CARD_SPEND])


def transaction(event_id: str, customer: Customer, ts: datetime, amount: float, category: str) -> TransactionEvent:
    # model_construct skips validation: the values are well-formed and validation would
    # dominate the run time.
    return TransactionEvent.model_construct(
        event_id=event_id,
        customer_id=customer.customer_id,
        ts=ts,
        amount=Decimal(f"{amount:.2f}"),
        currency="EUR",
        category=category,
        balance_after=None,
    )


def day_events(customer: Customer, day: datetime, rng: np.random.Generator, counter: Iterator[int]) -> list[Any]:
    """Return one day of a customer's events, in time order.

    Event ids are the customer id plus a counter. The profile keeps only 64-bit hashes of
    event ids, so the id length does not change the measured sizes.
    """
    events: list[Any] = []
    seconds = iter(rng.integers(6 * 3600, 23 * 3600, size=64).tolist())

    def at() -> datetime:
        return day + timedelta(seconds=next(seconds))

    def next_id() -> str:
        return f"{customer.customer_id}-{next(counter)}"

    spend_count = min(int(rng.poisson(customer.card_rate)), 24)
    categories = rng.choice(len(CARD_SPEND), size=spend_count, p=CARD_SHARES)
    amounts = rng.lognormal(CARD_LOG_MEDIANS[categories], 0.6)
    for category, amount in zip(categories.tolist(), amounts.tolist()):
        events.append(transaction(next_id(), customer, at(), -amount, CARD_CATEGORIES[category]))
    if day.day == 25:
        events.append(transaction(next_id(), customer, at(), customer.salary, "salary"))
    if day.day == 1:
        events.append(transaction(next_id(), customer, at(), -customer.rent, "rent"))
    if day.day == 5:
        events.append(transaction(next_id(), customer, at(), -float(rng.uniform(60, 140)), "utilities"))
    if day.day == 15 and customer.has_loan:
        events.append(transaction(next_id(), customer, at(), -float(rng.uniform(150, 450)), "loan_repayment"))
    for subscription_day, price in customer.subscriptions:
        if day.day == subscription_day:
            events.append(transaction(next_id(), customer, at(), -price, "subscriptions"))
    for _ in range(min(int(rng.poisson(customer.login_rate)), 12)):
        events.append(LoginEvent.model_construct(event_id=next_id(), customer_id=customer.customer_id, ts=at()))
    draws = rng.random(4)
    if draws[0] < 0.5:
        events.append(
            BalanceSnapshotEvent.model_construct(
                event_id=next_id(),
                customer_id=customer.customer_id,
                ts=at(),
                balance=Decimal(f"{rng.normal(2500, 1800):.2f}"),
                currency="EUR",
                credit_limit=Decimal("1500"),
            )
        )
    if draws[1] < 0.3:
        events.append(
            GeoPingEvent.model_construct(
                event_id=next_id(),
                customer_id=customer.customer_id,
                ts=at(),
                lat=52.5,
                lon=13.4,
                country=COUNTRIES[int(draws[3] * len(COUNTRIES))],
            )
        )
    if draws[2] < 0.2:
        events.append(
            OfferFeedbackEvent.model_construct(
                event_id=next_id(),
                customer_id=customer.customer_id,
                ts=at(),
                decision_id=uuid.uuid4().hex,
                offer_id=OFFER_IDS[int(draws[3] * len(OFFER_IDS))],
                feedback="impression",
            )
        )
    events.sort(key=lambda event: event.ts)
    return events


def build_profile(index: int, days: int, rng: np.random.Generator) -> tuple[CustomerProfile, int]:
    """Return a profile after ``days`` days of events and the number of events applied."""
    customer = make_customer(index, rng)
    profile = CustomerProfile(customer.customer_id)
    counter = itertools.count()
    applied = 0
    for offset in range(days):
        for event in day_events(customer, START + timedelta(days=offset), rng, counter):
            applied += int(profile.apply(event).applied)
    return profile, applied


def field_sizes(profile: CustomerProfile) -> dict[str, int]:
    """Return msgpack bytes per top-level field of the serialised profile, largest first."""
    state = msgpack.unpackb(profile.to_bytes(), raw=False, strict_map_key=False)
    sizes = {name: len(msgpack.packb(value, use_bin_type=True)) for name, value in state.items()}
    buckets = state["d"].values()
    sizes["d (of which event-id hashes 'h')"] = sum(len(msgpack.packb(bucket["h"])) for bucket in buckets)
    sizes["d (of which category maps 'c')"] = sum(len(msgpack.packb(bucket["c"])) for bucket in buckets)
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def alternative_sizes(profile: CustomerProfile) -> dict[str, int]:
    """Return serialised sizes of the profile under encodings that engine/profile.py could adopt."""
    data = profile.to_bytes()
    state = msgpack.unpackb(data, raw=False, strict_map_key=False)
    without_seen = dict(state, seen=[])
    # 48-bit hashes packed into one binary string per day; zero bytes have the same size.
    packed_buckets = {day: dict(bucket, h=bytes(6 * len(bucket["h"]))) for day, bucket in state["d"].items()}
    packed = dict(without_seen, d=packed_buckets)
    return {
        "as stored": len(data),
        "without 'seen' (rebuilt from the buckets on load)": len(msgpack.packb(without_seen, use_bin_type=True)),
        "same, hashes as 6-byte values in one binary per day": len(msgpack.packb(packed, use_bin_type=True)),
        "as stored, zlib level 1": len(zlib.compress(data, 1)),
    }


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    deleted = 0
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 1000):
        deleted += int(client.delete(*keys[start : start + 1000]))
    return deleted


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure Redis memory per customer profile.")
    parser.add_argument("--customers", type=int, default=2000, help="profiles to write (default: 2000)")
    parser.add_argument("--days", type=int, default=90, help="days of history per profile (default: 90)")
    parser.add_argument("--sample", type=int, default=200, help="keys to measure with MEMORY USAGE (default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic customers (default: 0)")
    parser.add_argument(
        "--redis-url", default=None, help="Redis URL (default: REDIS_URL or redis://127.0.0.1:6379/0)"
    )
    arguments = parser.parse_args(argv)
    if arguments.customers < 1 or arguments.days < 1 or arguments.sample < 1:
        parser.error(
            f"--customers, --days and --sample must be at least 1; got {arguments.customers}, "
            f"{arguments.days} and {arguments.sample}"
        )
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    settings = RedisSettings() if arguments.redis_url is None else RedisSettings(url=arguments.redis_url)
    prefix = f"ol-bench-{uuid.uuid4().hex[:12]}:"
    client = connect_redis(settings)
    store = RedisProfileStore(client, key_prefix=prefix)
    rng = np.random.default_rng(arguments.seed)

    started = time.perf_counter()
    profiles: list[CustomerProfile] = []
    events_applied: list[int] = []
    for index in tqdm(range(arguments.customers), desc="building profiles", file=sys.stderr):
        profile, applied = build_profile(index, arguments.days, rng)
        profiles.append(profile)
        events_applied.append(applied)
    build_s = time.perf_counter() - started
    serialised = [len(profile.to_bytes()) for profile in profiles]

    try:
        before = used_memory(client)
        started = time.perf_counter()
        for profile in profiles:
            store.put(profile)
        write_s = time.perf_counter() - started
        after = used_memory(client)
        sample_ids = [profile.customer_id for profile in profiles[: arguments.sample]]
        usage = [int(client.memory_usage(f"{prefix}profile:{customer_id}", samples=0)) for customer_id in sample_ids]
    finally:
        deleted = delete_prefix(client, prefix)

    median_usage = statistics.median(usage)
    info_per_profile = (after - before) / len(profiles)
    median_index = sorted(range(len(profiles)), key=lambda index: serialised[index])[len(profiles) // 2]
    print(f"customers: {len(profiles)}, days: {arguments.days}, seed: {arguments.seed}, Redis: {settings.url}")
    print(f"events applied per profile: median {statistics.median(events_applied):.0f}")
    print(f"build {build_s:.1f} s; {len(profiles) / write_s:.0f} profiles/s written through RedisProfileStore.put")
    print(
        f"serialised profile (msgpack): median {statistics.median(serialised):.0f} B, "
        f"p90 {np.percentile(serialised, 90):.0f} B, max {max(serialised)} B"
    )
    print(f"MEMORY USAGE (sample of {len(usage)}): median {median_usage:.0f} B, p90 {np.percentile(usage, 90):.0f} B")
    print(f"INFO used_memory growth: {info_per_profile:.0f} B per profile")
    print(
        f"projection for {MILLION:,} customers: {median_usage * MILLION / 2**30:.2f} GiB (MEMORY USAGE), "
        f"{info_per_profile * MILLION / 2**30:.2f} GiB (used_memory)"
    )
    print("bytes per field of the median profile (msgpack):")
    for name, size in field_sizes(profiles[median_index]).items():
        print(f"  {name:36s} {size:7d}")
    print("size of the median profile under other encodings (bytes):")
    for name, size in alternative_sizes(profiles[median_index]).items():
        print(f"  {name:52s} {size:7d}")
    print(f"deleted {deleted} keys under prefix {prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
