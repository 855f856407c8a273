"""`offerloop serve` stops with one clear line when its port is taken."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import ConfigError


@pytest.fixture
def taken_port() -> Iterator[int]:
    """Yield a loopback port that a listening socket of this test holds."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_serve_busy_http_port_names_the_setting(taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # no bundled broker to check

    result = CliRunner().invoke(app, ["serve", "--port", str(taken_port)])

    assert isinstance(result.exception, ConfigError)
    message = str(result.exception)
    assert f"127.0.0.1:{taken_port}" in message
    assert "--port or OFFERLOOP_HTTP_PORT" in message


def test_serve_busy_broker_port_names_the_setting(taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # skips the HTTP port check
    monkeypatch.setenv("OFFERLOOP_BROKER_PORT", str(taken_port))

    result = CliRunner().invoke(app, ["serve"])

    assert isinstance(result.exception, ConfigError)
    assert f"127.0.0.1:{taken_port}" in str(result.exception)
    assert "OFFERLOOP_BROKER_PORT" in str(result.exception)
