"""API keys, scopes, token buckets, query limits and the runner's generated admin key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api.auth import (
    ApiKeyConfig,
    AuthenticationError,
    KeyRing,
    PermissionDeniedError,
    generate_admin_key,
    hash_key,
    key_from_headers,
    load_api_keys_file,
    parse_api_keys,
)
from api.graphql_http import DocumentCache
from api.rate_limit import RateLimiter, TokenBucket
from api.runner import RunningService, prepare_security
from api.schema import schema
from api.security import security_config_from_settings
from engine.errors import ConfigError
from engine.settings import ServiceSettings

SECRET = "a-long-enough-secret-0001"


def ring(*keys: ApiKeyConfig) -> KeyRing:
    return KeyRing(keys, default_rate_per_s=10.0, default_burst=20)


def test_key_ring_authenticates_by_hash() -> None:
    keys = ring(ApiKeyConfig(name="app", key_sha256=hash_key(SECRET), scopes=("dashboard:read",), rate_per_s=3.0))

    principal = keys.authenticate(SECRET)

    assert (principal.name, principal.rate_per_s, principal.burst) == ("app", 3.0, 20)
    assert principal.allows("dashboard:read")
    assert not principal.allows("admin")
    with pytest.raises(AuthenticationError, match="API key not recognised"):
        keys.authenticate(SECRET + "x")
    with pytest.raises(AuthenticationError, match="missing API key"):
        keys.authenticate(None)


def test_admin_scope_allows_everything() -> None:
    principal = ring(ApiKeyConfig(name="ops", key=SECRET, scopes=("admin",))).authenticate(SECRET)

    assert all(principal.allows(scope) for scope in ("dashboard:read", "feedback:write", "admin"))


def test_permission_error_names_key_scope_and_operation() -> None:
    principal = ring(ApiKeyConfig(name="app", key=SECRET, scopes=("dashboard:read",))).authenticate(SECRET)

    with pytest.raises(PermissionDeniedError, match=r"API key 'app' lacks scope 'admin', which eraseCustomer requires; it has dashboard:read"):
        principal.require("admin", "eraseCustomer")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": f"Bearer {SECRET}"}, SECRET),
        ({"authorization": f"bearer   {SECRET} "}, SECRET),
        ({"x-api-key": SECRET}, SECRET),
        ({"authorization": f"Basic {SECRET}"}, None),
        ({}, None),
    ],
)
def test_key_from_headers(headers: dict[str, str], expected: str | None) -> None:
    assert key_from_headers(headers) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", r"OFFERLOOP_API_KEYS is not valid JSON"),
        ('{"name": "x"}', r"must be a list of API key entries .*; got dict"),
        ('[{"name": "x", "scopes": ["admin"]}]', r"\[0\] is not a valid API key entry: .*exactly one of 'key'"),
        ('[{"name": "x", "key": "short", "scopes": ["admin"]}]', r"key: must be a string of at least 16 characters"),
        ('[{"name": "x", "key": "%s", "scopes": ["root"]}]' % SECRET, r"scopes\.0: Input should be 'dashboard:read'"),
    ],
)
def test_parse_api_keys_rejects_invalid_entries(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_api_keys(text)
    assert SECRET not in str(caught.value)
    assert "'short'" not in str(caught.value)


def test_key_ring_rejects_duplicates() -> None:
    with pytest.raises(ConfigError, match="API key name 'a' is configured twice"):
        ring(ApiKeyConfig(name="a", key=SECRET, scopes=("admin",)), ApiKeyConfig(name="a", key=SECRET + "2", scopes=("admin",)))
    with pytest.raises(ConfigError, match="API keys 'a' and 'b' have the same secret"):
        ring(ApiKeyConfig(name="a", key=SECRET, scopes=("admin",)), ApiKeyConfig(name="b", key=SECRET, scopes=("admin",)))


def test_load_api_keys_file_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text(f"keys:\n  - name: app\n    key_sha256: {hash_key(SECRET)}\n    scopes: [dashboard:read, feedback:write]\n")

    (key,) = load_api_keys_file(path)

    assert key.scopes == ("dashboard:read", "feedback:write")
    with pytest.raises(ConfigError, match="not found; set OFFERLOOP_API_KEYS_FILE"):
        load_api_keys_file(tmp_path / "missing.yaml")


def test_hashed_key_keeps_no_secret() -> None:
    hashed = ApiKeyConfig(name="app", key=SECRET, scopes=("admin",)).hashed()

    assert hashed.key is None
    assert hashed.key_sha256 == hash_key(SECRET)
    assert SECRET not in hashed.model_dump_json()
    assert SECRET not in repr(ApiKeyConfig(name="app", key=SECRET, scopes=("admin",)))


def test_token_bucket_refills_at_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2, tokens=2.0, updated_at=0.0)

    waits = [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0), bucket.take(0.5)]

    assert waits == [0.0, 0.0, 0.5, 0.0]


def test_rate_limiter_keeps_one_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(lambda: now[0])

    first = [limiter.check("a", rate_per_s=0.5, burst=1) for _ in range(2)]
    other = limiter.check("b", rate_per_s=0.5, burst=1)

    assert first == [0, 2]
    assert other == 0


def test_document_cache_validates_each_query_once() -> None:
    cache = DocumentCache(schema.graphql_schema, max_depth=2)
    query = '{ personalizedDashboard(userId: "u") { decisionId } }'
    deep = '{ personalizedDashboard(userId: "u") { offers { id } } }'

    first, second = cache.get(query), cache.get(query)
    rejected_first, rejected_second = cache.get(deep), cache.get(deep)

    assert first[0] is not None
    assert second[0] is first[0]
    assert rejected_first[0] is None
    assert rejected_second[1] == rejected_first[1]
    assert (cache.hits, cache.misses) == (2, 2)


def test_depth_counts_fragments() -> None:
    cache = DocumentCache(schema.graphql_schema, max_depth=2)
    query = 'fragment F on Dashboard { offers { id } } { personalizedDashboard(userId: "u") { ...F } }'

    document, errors = cache.get(query)

    assert document is None
    assert "query depth 3 exceeds the maximum of 2" in errors[0].message


def test_settings_turn_introspection_off_in_production() -> None:
    assert ServiceSettings(mode="production").introspection_enabled is False
    assert ServiceSettings(mode="development").introspection_enabled is True
    assert ServiceSettings(mode="production", graphql_introspection=True).introspection_enabled is True


def test_security_config_hashes_configured_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"name": "file-key", "key": SECRET + "f", "scopes": ["admin"]}]))
    settings = ServiceSettings(
        api_keys=json.dumps([{"name": "env-key", "key": SECRET, "scopes": ["dashboard:read"], "burst": 5}]),
        api_keys_file=path,
        graphql_max_depth=5,
    )

    config = security_config_from_settings(settings)

    assert [key.name for key in config.keys] == ["env-key", "file-key"]
    assert all(key.key is None for key in config.keys)
    assert config.max_depth == 5
    assert config.introspection is False
    assert config.key_ring().authenticate(SECRET).burst == 5


def test_prepare_security_generates_admin_key_when_none_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFERLOOP_API_KEYS", raising=False)
    monkeypatch.delenv("OFFERLOOP_API_KEYS_FILE", raising=False)

    security, admin_key = prepare_security(ServiceSettings())

    assert admin_key is not None
    assert len(admin_key) >= 40
    principal = security.key_ring().authenticate(admin_key)
    assert principal.allows("admin")
    assert admin_key not in security.model_dump_json()
    running = RunningService(url="http://127.0.0.1:1", bootstrap_servers="", broker=None, owns_ray=False, admin_key=admin_key)
    assert running.admin_key_generated
    assert admin_key not in repr(running)


def test_prepare_security_uses_configured_keys_only() -> None:
    settings = ServiceSettings(api_keys=json.dumps([{"name": "ops", "key": SECRET, "scopes": ["admin"]}]))

    security, admin_key = prepare_security(settings)

    assert admin_key is None
    assert [key.name for key in security.keys] == ["ops"]


def test_generated_keys_differ() -> None:
    assert generate_admin_key()[0] != generate_admin_key()[0]


def test_bad_policy_config_stops_start_before_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config mistake is raised by start_service itself, before the bundled broker or Ray start."""
    import api.runner
    import engine.io.broker

    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nalgorithm: lints\nfeatures: [balance:linaer]\n")
    started = []
    monkeypatch.setattr(engine.io.broker, "EmbeddedBroker", lambda **kwargs: started.append(kwargs))
    monkeypatch.setattr(api.runner, "_start_serve", lambda *args: started.append(args))

    with pytest.raises(ConfigError, match=r"bad.yaml: features: .*unknown suffix ':linaer'"):
        api.runner.start_service(ServiceSettings(policy=str(bad), kafka_bootstrap_servers=None))
    assert started == []


def test_decision_engine_failure_stops_start_before_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config that loads but cannot build a decision engine is reported before anything starts."""
    import api.runner
    import engine.decisions
    import engine.io.broker

    def fail_to_build(self, **kwargs) -> None:
        raise ValueError("the static copy of this policy is invalid")

    started = []
    monkeypatch.setattr(engine.decisions.DecisionEngine, "__init__", fail_to_build)
    monkeypatch.setattr(engine.io.broker, "EmbeddedBroker", lambda **kwargs: started.append(kwargs))
    monkeypatch.setattr(api.runner, "_start_serve", lambda *args: started.append(args))

    message = r"policy 'lints': a decision engine cannot be built from these configs: the static copy"
    with pytest.raises(ConfigError, match=message):
        api.runner.start_service(ServiceSettings(policy="lints", kafka_bootstrap_servers=None))
    assert started == []


def test_funnel_policy_with_own_settings_passes_check(tmp_path: Path) -> None:
    from engine.config.loader import CONFIG_DIR
    from engine.runtime import check_decision_engine, load_configs

    custom = tmp_path / "custom.yaml"
    custom.write_text((CONFIG_DIR / "policies" / "lints.yaml").read_text().replace("prior_strength: 300", "prior_strength: 30"))
    configs = load_configs(ServiceSettings(policy=str(custom)))
    assert configs.policy.funnel.prior_strength == 30
    check_decision_engine(configs, str(custom))


def test_failed_start_stops_the_bundled_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.runner
    import engine.io.broker

    stopped = []

    class FakeBroker:
        bootstrap_servers = "127.0.0.1:1"

        def __init__(self, **kwargs) -> None:
            pass

        def start(self) -> "FakeBroker":
            return self

        def stop(self) -> None:
            stopped.append(True)

    def fail(*args) -> None:
        raise TimeoutError("service did not become healthy")

    monkeypatch.setattr(engine.io.broker, "EmbeddedBroker", FakeBroker)
    monkeypatch.setattr(api.runner, "_start_serve", fail)
    with pytest.raises(TimeoutError):
        api.runner.start_service(ServiceSettings(kafka_bootstrap_servers=None))
    assert stopped == [True]
