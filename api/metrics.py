"""Prometheus metrics of the API.

Request latency is measured in the ingress process. Counters that live in other
processes (policy replicas, stream workers, the learner) are collected on each scrape
through :class:`StatsCollector`, which requests their current values from the service client.

Each ingress replica serves ``/metrics`` from its own registry. With several replicas
behind one address, one scrape shows one replica's request latency and, when the policy
decides in the ingress, that replica's decision counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["ApiMetrics", "StatsCollector"]


class StatsCollector:
    """Turns a stats snapshot (nested dicts of numbers) into Prometheus metrics."""

    def __init__(self, read_stats: Callable[[], dict[str, Any]]) -> None:
        self.read_stats = read_stats

    def collect(self) -> Iterable[Metric]:
        stats = self.read_stats()
        service = stats.get("service", {})
        decisions = CounterMetricFamily("offerloop_decisions", "Dashboards decided.")
        decisions.add_metric([], service.get("dashboards", 0))
        yield decisions
        cold = CounterMetricFamily("offerloop_cold_starts", "Dashboards for customers without a profile.")
        cold.add_metric([], service.get("cold_starts", 0))
        yield cold
        feedback = CounterMetricFamily("offerloop_feedback_received", "Feedback events accepted by the API.")
        feedback.add_metric([], service.get("feedback", 0))
        yield feedback
        privacy = CounterMetricFamily(
            "offerloop_privacy_events", "Consent-limited dashboards, consent changes and erasures.", labels=["kind"]
        )
        for kind in ("non_personalised", "service_only", "consent_changes", "erasures"):
            privacy.add_metric([kind], service.get(kind, 0))
        yield privacy
        version = GaugeMetricFamily("offerloop_snapshot_version", "Policy snapshot version served.", labels=["policy"])
        version.add_metric([str(service.get("policy", ""))], service.get("snapshot_version", 0))
        yield version
        joined = CounterMetricFamily("offerloop_feedback_join", "Feedback join outcomes.", labels=["status"])
        for status, count in stats.get("join", {}).items():
            joined.add_metric([status], count)
        yield joined
        rewards = CounterMetricFamily("offerloop_rewards", "Rewards applied by the learner, by offer.", labels=["offer"])
        reward_sum = CounterMetricFamily("offerloop_reward_sum", "Sum of rewards applied, by offer.", labels=["offer"])
        for offer, (count, total) in stats.get("rewards_by_offer", {}).items():
            rewards.add_metric([offer], count)
            reward_sum.add_metric([offer], total)
        yield rewards
        yield reward_sum
        lookups = CounterMetricFamily(
            "offerloop_cache_lookups", "Insight cache lookups in this replica, by cache and result.", labels=["cache", "result"]
        )
        for cache, results in stats.get("caches", {}).items():
            for result, count in results.items():
                lookups.add_metric([cache, result], count)
        yield lookups
        writer = stats.get("decision_writer", {})
        written = CounterMetricFamily(
            "offerloop_decision_writer", "Decisions stored and published, write batches and retried batches.", labels=["kind"]
        )
        for kind in ("written", "batches", "retries"):
            written.add_metric([kind], writer.get(kind, 0))
        yield written
        backlog = GaugeMetricFamily("offerloop_decision_writer_backlog", "Decisions waiting to be stored.")
        backlog.add_metric([], writer.get("backlog", 0))
        yield backlog
        workers = CounterMetricFamily("offerloop_worker_messages", "Messages handled by stream workers.", labels=["worker", "outcome"])
        for worker, counters in stats.get("workers", {}).items():
            for outcome, count in counters.items():
                workers.add_metric([worker, outcome], count)
        yield workers


class ApiMetrics:
    """The registry of one ingress process."""

    def __init__(self, read_stats: Callable[[], dict[str, Any]]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "offerloop_request_seconds",
            "GraphQL request latency in the ingress.",
            ["operation"],
            registry=self.registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self.rejections = Counter(
            "offerloop_api_rejections",
            "Requests rejected before execution, by reason (unauthenticated, rate_limited).",
            ["reason"],
            registry=self.registry,
        )
        # Every known label set is created up front, so each replica exports all series
        # (at zero) from its first scrape, whichever replica served the traffic so far.
        for operation in ("query", "mutation"):
            self.latency.labels(operation)
        for reason in ("unauthenticated", "rate_limited"):
            self.rejections.labels(reason)
        self.registry.register(StatsCollector(read_stats))  # type: ignore[arg-type]
