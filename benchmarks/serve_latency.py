"""Benchmark: personalizedDashboard over HTTP through Ray Serve, with Redis and Kafka in the path.

Starts the embedded broker and the service (Redis database 15 under a unique key prefix,
Serve's throughput-optimised mode), loads synthetic customers' transactions through
Kafka, then measures at concurrency 1 and 16:

* the GraphQL dashboard query, and
* GET /ping, a trivial endpoint on the same ingress, as the floor Serve itself sets;

and the freshness of learning: the median time from a feedback event published on Kafka
to the first dashboard decided with a snapshot that includes it. For each load step it
also prints CPU time per request, read from the operating system: of the ingress
replicas (all their threads), of this load generator, and of the whole machine (every
process, so it means something only on an otherwise quiet machine). The machine figure
bounds the throughput: two cores give 2,000 ms of CPU per second.

    python benchmarks/serve_latency.py [--seconds 10] [--customers 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import datetime, timezone

import aiohttp
import numpy as np
import psutil
import redis
from tqdm import tqdm

from api.runner import start_service
from engine.bus import TOPIC_CUSTOMER_EVENTS, TOPIC_FEEDBACK
from engine.config import load_catalog, load_reward_config
from engine.events import OfferFeedbackEvent, event_to_json, new_id
from engine.io.broker import EmbeddedBroker, pick_free_port
from engine.privacy import pseudonymize
from engine.runtime import build_bus
from engine.settings import ServiceSettings
from envs.bank import SyntheticBank

QUERY = (
    "query D($u: ID!) { personalizedDashboard(userId: $u, channel: web) "
    "{ decisionId policyVersion offers { id title actionUrl score reason decisionId } "
    "insights { category prediction reason } } }"
)


async def run_load(
    url: str, *, concurrency: int, seconds: float, users: list[str] | None, headers: dict[str, str]
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    rng = np.random.default_rng(concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            if users is None:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
            else:
                payload = {"query": QUERY, "variables": {"u": users[int(rng.integers(len(users)))]}}
                async with session.post(url, json=payload) as response:
                    body = await response.json()
                    ok = response.status == 200 and "errors" not in body
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    values = np.array(latencies)
    return {
        "requests": len(values),
        "errors": errors,
        "p50_ms": float(np.quantile(values, 0.5) * 1e3),
        "p99_ms": float(np.quantile(values, 0.99) * 1e3),
        "per_s": len(values) / elapsed,
    }


def ingress_processes() -> list[psutil.Process]:
    """Return the processes of this machine's GraphQL ingress replicas."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or ())
        if "ServeReplica:offerloop:GraphQLIngress" in cmdline:
            found.append(process)
    return found


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """Return the user and system CPU time of the processes so far."""
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def machine_busy_seconds() -> float:
    """Return the CPU time all cores of this machine spent outside idle and I/O wait so far."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def load_customers(bootstrap: str, customers: int) -> tuple[list[str], int]:
    """Publish the customers' histories on customer-events and return their ids and the event count."""
    # Histories end now, as a live customer's do: decisions then see recent windows, not a
    # profile whose last event is months old and whose windows must all be emptied first.
    now = datetime.now(timezone.utc)
    bank = SyntheticBank(
        load_catalog(), load_reward_config(), n_customers=customers, seed=7, warmup_days=45, start=now
    )
    bus = build_bus(bootstrap)
    users = []
    published = 0
    for raw_id in tqdm(bank.customer_ids, desc="publishing customer histories", unit="customer"):
        customer = pseudonymize(raw_id)
        for event in bank.events_until(raw_id, now):
            payload = event.model_copy(update={"customer_id": customer})
            bus.publish(TOPIC_CUSTOMER_EVENTS, event_to_json(payload), key=customer.encode())
            published += 1
        users.append(raw_id)
    bus.flush()
    bus.close()
    return users, published


def worker_messages(url: str, worker: str) -> float:
    """Return how many messages one stream worker has handled so far, read from /metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    handled = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "offerloop_worker_messages_total" and labels.get("worker") == worker and labels.get("outcome") == "messages":
                handled += sample.value
    return handled


def wait_for_profiles(url: str, published: int, timeout_s: float = 600.0) -> None:
    """Wait until the profile worker has handled every published event, so the load runs on a quiet service.

    Loading the histories is a backfill. Measured during it, the dashboard would share the
    CPU with the worker folding tens of thousands of events.
    """
    deadline = time.monotonic() + timeout_s
    with tqdm(total=published, desc="profile worker", unit="event") as bar:
        while True:
            handled = worker_messages(url, "profile-worker")
            bar.update(int(handled) - bar.n)
            if handled >= published:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the profile worker handled {handled:.0f} of {published} events in {timeout_s:.0f} s")
            time.sleep(0.5)


def measure_freshness(url: str, bootstrap: str, rounds: int, headers: dict[str, str]) -> list[float]:
    """Publish accept feedback on Kafka and time until a dashboard is served by a newer snapshot."""
    import httpx

    bus = build_bus(bootstrap)
    delays = []
    with httpx.Client(timeout=10, headers=headers) as client:
        for _ in range(rounds):
            user = f"fresh-{uuid.uuid4().hex[:8]}"
            body = client.post(url, json={"query": QUERY, "variables": {"u": user}}).json()
            dashboard = body["data"]["personalizedDashboard"]
            version = dashboard["policyVersion"]
            event = OfferFeedbackEvent(
                event_id=new_id(),
                customer_id=pseudonymize(user),
                ts=datetime.now(timezone.utc),
                decision_id=dashboard["decisionId"],
                offer_id=dashboard["offers"][0]["id"],
                feedback="accept",
            )
            published = time.perf_counter()
            bus.publish(TOPIC_FEEDBACK, event_to_json(event), key=event.customer_id.encode())
            bus.flush()
            while True:
                served = client.post(url, json={"query": QUERY, "variables": {"u": user}}).json()
                if served["data"]["personalizedDashboard"]["policyVersion"] > version:
                    delays.append(time.perf_counter() - published)
                    break
                if time.perf_counter() - published > 30:
                    raise TimeoutError("no new snapshot served within 30 s of the feedback")
                time.sleep(0.01)
            time.sleep(0.3)
    bus.close()
    return delays


def cache_lookups(url: str) -> dict[str, float]:
    """Return the insight cache's hits and misses so far, read from /metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    counts = {"hit": 0.0, "miss": 0.0}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "offerloop_cache_lookups_total" and sample.labels.get("cache") == "insights":
                counts[sample.labels["result"]] += sample.value
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load step")
    parser.add_argument("--customers", type=int, default=500, help="synthetic customers loaded through Kafka")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--policy-replicas", type=int, default=1, help="Policy replicas (placement deployment)")
    parser.add_argument("--ingress-replicas", type=int, default=1)
    parser.add_argument(
        "--placement", choices=("ingress", "deployment"), default="ingress", help="where the policy decides (see api/serve_app.py)"
    )
    parser.add_argument(
        "--cache-customers", type=int, default=50_000, help="insight cache size per replica; 0 computes insights on every request"
    )
    parser.add_argument("--freshness-rounds", type=int, default=15)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 16], help="concurrency of each load step; the targets apply at 16"
    )
    parser.add_argument(
        "--endpoints", nargs="+", choices=("dashboard", "ping"), default=["dashboard", "ping"], help="endpoints to load at each concurrency"
    )
    args = parser.parse_args()

    prefix = f"ol-bench-{uuid.uuid4().hex[:8]}:"
    with EmbeddedBroker() as broker:
        settings = ServiceSettings(
            kafka_bootstrap_servers=broker.bootstrap_servers,
            redis_url=args.redis_url,
            redis_key_prefix=prefix,
            consumer_group_prefix=f"bench-{uuid.uuid4().hex[:6]}",
            http_port=pick_free_port(),
            policy_replicas=args.policy_replicas,
            ingress_replicas=args.ingress_replicas,
            policy_placement=args.placement,
            cache_customers=args.cache_customers,
            high_throughput=True,
            rate_per_s=100_000.0,
            rate_burst=100_000,
        )
        running = start_service(settings)
        try:
            users, published = load_customers(broker.bootstrap_servers, args.customers)
            wait_for_profiles(running.url, published)
            headers = {"Authorization": f"Bearer {running.admin_key}"}
            asyncio.run(run_load(running.graphql_url, concurrency=4, seconds=2, users=users, headers=headers))  # warm-up
            rows = []
            ingress = ingress_processes()
            targets = {"dashboard": (running.graphql_url, users), "ping": (f"{running.url}/ping", None)}
            for concurrency in args.concurrency:
                for name in args.endpoints:
                    url, step_users = targets[name]
                    # On stderr with the process ids, so that a profiler can be attached to one step.
                    pids = [process.pid for process in ingress]
                    print(f"step {name} at concurrency {concurrency} starts; ingress pids {pids}", file=sys.stderr, flush=True)
                    cpu_before = cpu_seconds(ingress)
                    client_before = cpu_seconds([psutil.Process()])
                    machine_before = machine_busy_seconds()
                    result = asyncio.run(
                        run_load(url, concurrency=concurrency, seconds=args.seconds, users=step_users, headers=headers)
                    )
                    requests = max(result["requests"], 1)
                    result["ingress_cpu_ms"] = (cpu_seconds(ingress) - cpu_before) / requests * 1e3
                    result["client_cpu_ms"] = (cpu_seconds([psutil.Process()]) - client_before) / requests * 1e3
                    result["machine_cpu_ms"] = (machine_busy_seconds() - machine_before) / requests * 1e3
                    rows.append((name, concurrency, result))
            lookups = cache_lookups(running.url)
            delays = measure_freshness(running.graphql_url, broker.bootstrap_servers, args.freshness_rounds, headers)
        finally:
            running.stop()
            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                client.delete(key)

    if args.placement == "ingress":
        layout = f"{args.ingress_replicas} ingress replica(s) deciding in process"
    else:
        layout = f"{args.ingress_replicas} ingress + {args.policy_replicas} policy replica(s)"
    cache = f"insight cache {args.cache_customers} customers" if args.cache_customers else "no insight cache"
    print(f"\nRay Serve (throughput mode), {layout}, {cache}, Redis and Kafka in the path")
    print(
        f"{'endpoint':<12}{'concurrency':>12}{'requests':>10}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}"
        f"{'CPU ms/req: ingress':>21}{'client':>8}{'machine':>9}"
    )
    for name, concurrency, result in rows:
        print(
            f"{name:<12}{concurrency:>12}{result['requests']:>10}{result['errors']:>8}"
            f"{result['p50_ms']:>9.2f}{result['p99_ms']:>9.2f}{result['per_s']:>9.0f}{result['ingress_cpu_ms']:>21.2f}"
            f"{result['client_cpu_ms']:>8.2f}{result['machine_cpu_ms']:>9.2f}"
        )
    total = lookups["hit"] + lookups["miss"]
    if total:
        print(f"insight cache: {lookups['hit'] / total:.1%} of {total:.0f} lookups were hits")
    print(f"freshness (feedback on Kafka -> first decision with the new snapshot): median {statistics.median(delays):.2f} s, max {max(delays):.2f} s over {len(delays)} rounds")
    busy = next((result for name, concurrency, result in rows if name == "dashboard" and concurrency == 16), None)
    checks = [("freshness median < 2 s", statistics.median(delays) < 2.0)]
    if busy is not None:
        checks[:0] = [
            ("dashboard p99 at concurrency 16 <= 30 ms", busy["p99_ms"] <= 30.0),
            ("dashboards per second at concurrency 16 >= 1,000", busy["per_s"] >= 1000.0),
        ]
    for target, met in checks:
        print(f"target {target}: {'met' if met else 'NOT met'}")
    print(json.dumps({"rows": [{"endpoint": n, "concurrency": c, **r} for n, c, r in rows], "freshness_median_s": statistics.median(delays)}))


if __name__ == "__main__":
    main()
