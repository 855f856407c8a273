"""Start and stop the whole service: broker (when needed), Ray, and the Serve application.

API keys come from ``OFFERLOOP_API_KEYS`` or ``OFFERLOOP_API_KEYS_FILE``. With neither
set, :func:`start_service` generates a random admin key, so that a fresh machine still
gets a usable service. The key is returned once on :attr:`RunningService.admin_key`
(the CLI prints it, like a notebook token), and only its hash reaches the replicas.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.auth import generate_admin_key
from api.security import ApiSecurityConfig, configured_keys, security_config_from_settings
from engine.runtime import check_decision_engine, load_configs
from engine.settings import ServiceSettings

__all__ = ["RunningService", "prepare_security", "start_service"]

logger = logging.getLogger(__name__)

APP_NAME = "offerloop"


@dataclass
class RunningService:
    """A started service; call :meth:`stop` to shut it down."""

    url: str
    bootstrap_servers: str
    broker: Any | None
    owns_ray: bool
    admin_key: str | None = field(default=None, repr=False)
    """The generated admin API key, or None when keys were configured. Never logged."""

    @property
    def admin_key_generated(self) -> bool:
        """Whether no key was configured and :attr:`admin_key` was generated for this run."""
        return self.admin_key is not None

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def stop(self) -> None:
        """Remove the application and stop what this process started (Ray, the broker).

        When this process started Ray, ``ray.shutdown`` ends the replicas with it; a
        graceful ``serve.delete`` first would block if Ray's processes already received
        the same Ctrl-C or SIGTERM.
        """
        import ray

        if self.owns_ray:
            ray.shutdown()
        else:
            from ray import serve

            try:
                serve.delete(APP_NAME)
            except Exception as err:  # noqa: BLE001 - shutting down anyway.
                logger.warning("serve.delete failed: %r", err)
        if self.broker is not None:
            self.broker.stop()
        logger.info("service stopped")


def _configure_ray_environment(settings: ServiceSettings) -> None:
    # These must be set before Ray starts; Serve reads them once at import in each process.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if settings.high_throughput:
        os.environ.setdefault("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1")
        os.environ.setdefault("RAY_SERVE_ENABLE_HA_PROXY", "1")
        # NOTE: Ray 2.60's HAProxy template binds its stats and metrics listeners to every
        # interface, whatever http_host is; only their ports can be changed.
        logger.warning(
            "high_throughput: HAProxy also listens on all interfaces on ports %s (statistics) and %s "
            "(Prometheus); firewall them or set OFFERLOOP_HIGH_THROUGHPUT=false on an exposed host",
            os.environ.get("RAY_SERVE_HAPROXY_STATS_PORT", "8404"),
            os.environ.get("RAY_SERVE_HAPROXY_METRICS_PORT", "9101"),
        )


def prepare_security(settings: ServiceSettings) -> tuple[ApiSecurityConfig, str | None]:
    """Return the ingress security config and, when no key is configured, a generated admin key.

    Raises:
        ConfigError: an API key source is invalid.
    """
    admin_key: str | None = None
    extra_keys = []
    if not configured_keys(settings):
        admin_key, entry = generate_admin_key()
        extra_keys.append(entry)
        logger.warning("api_key_generated: no API key configured; generated an admin key for this run")
    return security_config_from_settings(settings, extra_keys=extra_keys), admin_key


def start_service(settings: ServiceSettings | None = None, *, wait_ready_s: float = 120.0) -> RunningService:
    """Start the service as configured and wait until /healthz responds.

    With no Kafka configured the bundled broker is started on ``settings.broker_port``;
    with no Ray address a local Ray instance is started (or the one this process already
    started is reused). With no API key configured an admin key is generated and
    returned on the result (see the module docstring).

    Raises:
        ConfigError: an API key source or a config file is invalid (checked before
            anything starts).
        TimeoutError: the service did not become healthy within ``wait_ready_s``; the
            bundled broker is stopped again.
    """
    settings = settings or ServiceSettings()
    security, admin_key = prepare_security(settings)
    # Replicas load the configs and build their decision engine again, but a mistake found
    # there only shows in Ray's logs.
    check_decision_engine(load_configs(settings), settings.policy)
    broker = None
    bootstrap = settings.kafka_bootstrap_servers
    if bootstrap is None:
        from engine.io.broker import EmbeddedBroker

        broker = EmbeddedBroker(port=settings.broker_port).start()
        bootstrap = broker.bootstrap_servers
        logger.info("bundled broker started at %s", bootstrap)
    try:
        return _start_serve(settings, bootstrap, broker, security, admin_key, wait_ready_s)
    except BaseException:
        if broker is not None:
            broker.stop()
            logger.info("bundled broker stopped because the service failed to start")
        raise


def _start_serve(
    settings: ServiceSettings,
    bootstrap: str,
    broker: Any,
    security: ApiSecurityConfig,
    admin_key: str | None,
    wait_ready_s: float,
) -> RunningService:
    _configure_ray_environment(settings)
    import ray
    from ray import serve

    from api.serve_app import build_application

    owns_ray = False
    if not ray.is_initialized():
        ray.init(
            address=settings.ray_address,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _node_ip_address="127.0.0.1" if settings.ray_address is None else None,
        )
        owns_ray = True
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
    serve.run(build_application(settings, bootstrap, security), name=APP_NAME, route_prefix="/")
    url = f"http://{settings.http_host}:{settings.http_port}"
    deadline = time.monotonic() + wait_ready_s
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"service at {url} did not become healthy within {wait_ready_s:g} s")
        time.sleep(0.25)
    logger.info("service ready at %s/graphql", url)
    return RunningService(url=url, bootstrap_servers=bootstrap, broker=broker, owns_ray=owns_ray, admin_key=admin_key)
