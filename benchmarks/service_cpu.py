"""Benchmark: CPU time of one dashboard in the service's own code, without HTTP or GraphQL.

Builds one replica's DashboardService as the Ray Serve app does (profiles, consent,
pending decisions and audit records in Redis, the decision log on Kafka), stores
synthetic customers' profiles in Redis directly, then requests dashboards one after
another. It prints the CPU time of this process per dashboard, over all its threads
(the request path, the decision writer, the Kafka producer), once the writer has stored
every decision. The difference to the ingress CPU per request printed by
benchmarks/serve_latency.py is what HTTP, Ray Serve and GraphQL add.

    python benchmarks/service_cpu.py [--dashboards 3000] [--customers 300]

It starts its own broker, and uses Redis database 15 under a unique key prefix that it
deletes at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import datetime, timezone

import psutil
import redis
from tqdm import tqdm

from api.serve_app import build_replica_service
from api.service import DashboardService
from engine.config import load_catalog, load_reward_config
from engine.io.broker import EmbeddedBroker
from engine.privacy import pseudonymize
from engine.profile import CustomerProfile
from engine.settings import ServiceSettings
from envs.bank import SyntheticBank


def store_profiles(service: DashboardService, customers: int) -> list[str]:
    """Build 45-day profiles of synthetic customers, store them, and return the raw customer ids."""
    now = datetime.now(timezone.utc)
    bank = SyntheticBank(load_catalog(), load_reward_config(), n_customers=customers, seed=7, warmup_days=45, start=now)
    for raw_id in tqdm(bank.customer_ids, desc="storing profiles", unit="customer"):
        profile = CustomerProfile(pseudonymize(raw_id))
        for event in bank.events_until(raw_id, now):
            profile.apply(event.model_copy(update={"customer_id": profile.customer_id}))
        service.profiles.put(profile)
    return list(bank.customer_ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dashboards", type=int, default=3000, help="dashboards per measured round")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds; the median is printed")
    parser.add_argument("--customers", type=int, default=300, help="synthetic customers stored in Redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()

    prefix = f"ol-cpu-{uuid.uuid4().hex[:8]}:"
    process = psutil.Process()
    with EmbeddedBroker() as broker:
        settings = ServiceSettings(
            kafka_bootstrap_servers=broker.bootstrap_servers, redis_url=args.redis_url, redis_key_prefix=prefix
        )
        service, _ = build_replica_service(settings, broker.bootstrap_servers)
        try:
            users = store_profiles(service, args.customers)
            for user in users[:200]:  # warm-up: caches, connections, the first snapshot
                service.dashboard(user, "web")
            service.writer.flush()
            per_dashboard = []
            for round_index in range(args.rounds):
                times = process.cpu_times()
                started_cpu, started = times.user + times.system, time.perf_counter()
                for i in range(args.dashboards):
                    service.dashboard(users[(i * 7 + round_index) % len(users)], "web")
                service.writer.flush()
                times = process.cpu_times()
                cpu_ms = (times.user + times.system - started_cpu) / args.dashboards * 1e3
                wall_ms = (time.perf_counter() - started) / args.dashboards * 1e3
                per_dashboard.append(cpu_ms)
                print(f"round {round_index + 1}: {cpu_ms:.2f} ms CPU and {wall_ms:.2f} ms wall time per dashboard")
        finally:
            service.stop()
            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)
    print(
        f"median CPU per dashboard, all threads of the service process: {statistics.median(per_dashboard):.2f} ms "
        f"({args.rounds} rounds of {args.dashboards}); two cores give 2,000 ms of CPU per second"
    )


if __name__ == "__main__":
    main()
