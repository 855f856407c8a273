"""The Ray Serve application: the policy, the stream workers and the GraphQL ingress.

Deployments, by ``policy_placement``:

* ``ingress`` (default): ``GraphQLIngress`` is FastAPI with the Graphene schema,
  /healthz, /metrics and /ping, and each of its replicas also hosts the policy: it
  decides in process, polls the snapshot store and swaps new snapshot versions in
  without failing requests in flight. Replicas scale with ``ingress_replicas``.
* ``deployment``: the ingress forwards to a separate ``Policy`` deployment that scales
  with ``policy_replicas``; for policies that need their own resources (a large
  network on GPU nodes), at the cost of one hop between replicas per request.
* ``Workers``: the profile, feedback and learner workers (one replica). It publishes the
  snapshots the policy replicas load.

With ``REDIS_URL`` unset the stores are in memory, so the workers run inside the single
replica that hosts the policy instead of a deployment of their own.

The consent registry and the audit store follow the same rule (Redis when configured).
The profile worker gets the registry, so that it records consent events and drops events
of erased customers.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle

from api.http_app import LocalServiceClient, create_app, service_stats
from api.security import ApiSecurityConfig
from api.service import DashboardService
from engine.audit_store import audit_store_from_settings
from engine.consent import consent_registry_from_settings
from engine.errors import InvalidInputError
from engine.runtime import build_bus, build_stores, load_configs, restore_learner
from engine.settings import ServiceSettings

__all__ = [
    "PolicyReplica",
    "WorkersReplica",
    "GraphQLIngress",
    "GraphQLPolicyIngress",
    "build_application",
    "build_replica_service",
]

logger = logging.getLogger(__name__)


def _error(err: InvalidInputError) -> dict[str, Any]:
    return {"__error__": str(err)}


def _initial_snapshot(configs: Any, stores: Any) -> Any:
    """Return the serving snapshot: an RLlib checkpoint, or the learner's latest state."""
    from policies.registry import make_snapshot

    if configs.policy.algorithm == "rllib":
        return make_snapshot(configs.policy)
    return restore_learner(configs, stores.snapshots)[0].snapshot()


def parse_traffic_split(text: str) -> list[tuple[str, float]]:
    """Parse 'policy=weight,policy=weight' into pairs.

    Raises:
        InvalidInputError: an entry is not ``name=weight`` with a non-negative number.
    """
    pairs = []
    for entry in text.split(","):
        name, separator, weight = entry.strip().partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not separator or not name or value < 0:
            raise InvalidInputError(
                f"OFFERLOOP_TRAFFIC_SPLIT entry {entry.strip()!r} is invalid; write policy=weight pairs "
                "separated by commas, for example 'lints=0.9,ppo=0.1'"
            )
        pairs.append((name.strip(), value))
    return pairs


def build_routing(settings: ServiceSettings, configs: Any, serving: Any) -> tuple[Any, Any]:
    """Build the shadow snapshot and the traffic split named in ``settings`` (None when unset)."""
    from engine.config.loader import load_policy_config
    from engine.features import FeatureEncoder
    from policies.offer_features import offer_feature_vector
    from policies.registry import make_snapshot
    from policies.routing import TrafficSplit

    features = {offer.id: offer_feature_vector(offer) for offer in configs.catalog.offers}

    def snapshot_of(name: str) -> Any:
        config = load_policy_config(name)
        if config.id == configs.policy.id:
            return serving
        return make_snapshot(config, dim=FeatureEncoder.from_names(config.features).dim, offer_features=features)

    shadow = snapshot_of(settings.shadow_policy) if settings.shadow_policy else None
    split = None
    if settings.traffic_split:
        split = TrafficSplit([(weight, snapshot_of(name)) for name, weight in parse_traffic_split(settings.traffic_split)])
    return shadow, split


def _freeze_heap() -> None:
    """Move start-up objects out of the garbage collector's sight.

    Full collections over the objects built at start-up (configs, models, Ray) took about
    10 ms each and set the latency tail; frozen objects are never scanned again.
    """
    gc.collect()
    gc.freeze()


def build_replica_service(settings: ServiceSettings, bootstrap_servers: str) -> tuple[DashboardService, Any]:
    """Build one replica's DashboardService, and the stream workers when the stores are in memory.

    Returns the service and the StreamProcessors running in this replica (None when the
    stores are shared and the workers run in their own deployment).
    """
    from engine.stream import StreamProcessors

    configs = load_configs(settings)
    stores = build_stores(settings)
    bus = build_bus(bootstrap_servers)
    # The registry shares the profile store's Redis client, so one round trip reads both.
    consent = consent_registry_from_settings(settings, client=getattr(stores.profiles, "client", None))
    audit = audit_store_from_settings(settings, attribution_window_s=configs.rewards.max_window.total_seconds())
    streams: StreamProcessors | None = None
    if settings.embedded_stores:
        streams = StreamProcessors(configs, stores, bus, group_prefix=settings.consumer_group_prefix, consent=consent)
        streams.publish_initial_snapshot()
        streams.start()
    latest = stores.snapshots.load(configs.policy.id)
    if latest is not None:
        from policies.registry import load_snapshot

        initial = load_snapshot(latest[1])
    else:
        initial = _initial_snapshot(configs, stores)
    shadow, split = build_routing(settings, configs, initial)
    service = DashboardService(
        catalog=configs.catalog,
        policy_config=configs.policy,
        reward_config=configs.rewards,
        profiles=stores.profiles,
        decisions=stores.decisions,
        snapshots=stores.snapshots,
        bus=bus,
        initial_snapshot=initial,
        currency=settings.default_currency,
        consent=consent,
        audit=audit,
        shadow=shadow,
        split=split,
        cache_customers=settings.cache_customers,
    )
    service.start_refresher(settings.snapshot_poll_s)
    return service, streams


class PolicyReplica:
    """One replica of the policy deployment (``policy_placement: deployment``)."""

    def __init__(self, settings: dict[str, Any], bootstrap_servers: str) -> None:
        self.settings = ServiceSettings.model_validate(settings)
        self.service, self.streams = build_replica_service(self.settings, bootstrap_servers)
        _freeze_heap()

    def dashboard(self, user_id: str, channel: str) -> dict[str, Any]:
        try:
            return self.service.dashboard(user_id, channel)
        except InvalidInputError as err:
            return _error(err)

    def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]:
        try:
            return self.service.record_feedback(decision_id, offer_id, feedback_type)
        except InvalidInputError as err:
            return _error(err)

    def set_consent(self, user_id: str, marketing: bool | None, personalisation: bool | None) -> dict[str, Any]:
        try:
            return self.service.set_consent(user_id, marketing, personalisation)
        except InvalidInputError as err:
            return _error(err)

    def erase_customer(self, user_id: str) -> dict[str, Any]:
        try:
            return self.service.erase_customer(user_id)
        except InvalidInputError as err:
            return _error(err)

    def decision(self, decision_id: str) -> dict[str, Any]:
        try:
            return {"__value__": self.service.decision(decision_id)}
        except InvalidInputError as err:
            return _error(err)

    def health(self) -> dict[str, Any]:
        return self.service.health()

    def stats(self) -> dict[str, Any]:
        stats = service_stats(self.service)
        if self.streams is not None:
            stats.update(self.streams.stats())
        return stats

    def __del__(self) -> None:
        if getattr(self, "streams", None) is not None:
            self.streams.stop()
        if getattr(self, "service", None) is not None:
            self.service.stop()


class WorkersReplica:
    """The stream workers when stores are shared (Redis)."""

    def __init__(self, settings: dict[str, Any], bootstrap_servers: str) -> None:
        from engine.stream import StreamProcessors

        service_settings = ServiceSettings.model_validate(settings)
        configs = load_configs(service_settings)
        stores = build_stores(service_settings)
        self.streams = StreamProcessors(
            configs,
            stores,
            build_bus(bootstrap_servers),
            group_prefix=service_settings.consumer_group_prefix,
            consent=consent_registry_from_settings(service_settings),
        )
        self.streams.publish_initial_snapshot()
        self.streams.start()

    def stats(self) -> dict[str, Any]:
        return self.streams.stats()


class _HandleClient:
    """Forwards the API's calls to the policy (and workers) deployments."""

    def __init__(self, policy: DeploymentHandle, workers: DeploymentHandle | None) -> None:
        self.policy = policy
        self.workers = workers

    @staticmethod
    def _unwrap(result: dict[str, Any]) -> dict[str, Any]:
        if "__error__" in result:
            raise InvalidInputError(result["__error__"])
        return result

    async def dashboard(self, user_id: str, channel: str) -> dict[str, Any]:
        return self._unwrap(await self.policy.dashboard.remote(user_id, channel))

    async def record_feedback(self, decision_id: str, offer_id: str, feedback_type: str) -> dict[str, Any]:
        return self._unwrap(await self.policy.record_feedback.remote(decision_id, offer_id, feedback_type))

    async def set_consent(self, user_id: str, marketing: bool | None, personalisation: bool | None) -> dict[str, Any]:
        return self._unwrap(await self.policy.set_consent.remote(user_id, marketing, personalisation))

    async def erase_customer(self, user_id: str) -> dict[str, Any]:
        return self._unwrap(await self.policy.erase_customer.remote(user_id))

    async def decision(self, decision_id: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = self._unwrap(await self.policy.decision.remote(decision_id))["__value__"]
        return value

    async def health(self) -> dict[str, Any]:
        return await self.policy.health.remote()

    async def stats(self) -> dict[str, Any]:
        stats = await self.policy.stats.remote()
        if self.workers is not None:
            stats.update(await self.workers.stats.remote())
        return stats


class _ColocatedClient(LocalServiceClient):
    """Calls the DashboardService in the ingress replica; worker stats come from their deployment."""

    def __init__(self, service: DashboardService, streams: Any, workers: DeploymentHandle | None) -> None:
        super().__init__(service, extra_stats=streams.stats if streams is not None else None)
        self.workers = workers

    async def stats(self) -> dict[str, Any]:
        stats = await super().stats()
        if self.workers is not None:
            stats.update(await self.workers.stats.remote())
        return stats


@serve.ingress()
class GraphQLPolicyIngress:
    """HTTP entry point that also hosts the policy (``policy_placement: ingress``).

    Each replica decides in its own process, so a request costs no hop to another
    replica; replicas scale with ``ingress_replicas`` and each hot-swaps snapshots like
    a policy replica.
    """

    def __init__(
        self,
        settings: dict[str, Any],
        bootstrap_servers: str,
        workers: DeploymentHandle | None = None,
        security: dict[str, Any] | None = None,
    ) -> None:
        service_settings = ServiceSettings.model_validate(settings)
        self.service, self.streams = build_replica_service(service_settings, bootstrap_servers)
        self.client = _ColocatedClient(self.service, self.streams, workers)
        self.security = ApiSecurityConfig.model_validate(security or {})
        _freeze_heap()

    def __serve_build_asgi_app__(self) -> Any:
        return create_app(self.client, security=self.security)

    def __del__(self) -> None:
        if getattr(self, "streams", None) is not None:
            self.streams.stop()
        if getattr(self, "service", None) is not None:
            self.service.stop()


@serve.ingress()
class GraphQLIngress:
    """HTTP entry point; builds the FastAPI app on the replica."""

    def __init__(
        self, policy: DeploymentHandle, workers: DeploymentHandle | None = None, security: dict[str, Any] | None = None
    ) -> None:
        self.client = _HandleClient(policy, workers)
        self.security = ApiSecurityConfig.model_validate(security or {})

    def __serve_build_asgi_app__(self) -> Any:
        return create_app(self.client, security=self.security)


def build_application(settings: ServiceSettings, bootstrap_servers: str, security: ApiSecurityConfig | None = None) -> Any:
    """Bind the deployments into one Serve application.

    Args:
        settings: service settings, passed to every replica.
        bootstrap_servers: Kafka bootstrap servers.
        security: the ingress's keys (hashes only) and limits; without it the ingress
            has no key and rejects every GraphQL request.
    """
    data = settings.model_dump(mode="json", by_alias=False)
    security_data = (security or ApiSecurityConfig()).model_dump(mode="json")
    workers = None
    if not settings.embedded_stores:
        workers = serve.deployment(WorkersReplica, name="Workers", num_replicas=1, ray_actor_options={"num_cpus": 0}).bind(
            data, bootstrap_servers
        )
    if settings.policy_placement == "ingress":
        colocated = serve.deployment(
            GraphQLPolicyIngress,
            name="GraphQLIngress",
            # In-memory stores and their workers live in one replica.
            num_replicas=1 if settings.embedded_stores else settings.ingress_replicas,
            max_ongoing_requests=settings.max_ongoing_requests,
            ray_actor_options={"num_cpus": 0},
        )
        return colocated.bind(data, bootstrap_servers, workers, security_data)
    replicas = 1 if settings.embedded_stores else settings.policy_replicas
    policy = serve.deployment(
        PolicyReplica,
        name="Policy",
        num_replicas=replicas,
        max_ongoing_requests=settings.max_ongoing_requests,
        ray_actor_options={"num_cpus": 0},
    ).bind(data, bootstrap_servers)
    ingress = serve.deployment(
        GraphQLIngress,
        name="GraphQLIngress",
        num_replicas=settings.ingress_replicas,
        max_ongoing_requests=settings.max_ongoing_requests,
        ray_actor_options={"num_cpus": 0},
    )
    return ingress.bind(policy, workers, security_data)
