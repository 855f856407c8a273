"""Tests of the embedded Tansu broker launcher and its command line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from engine.errors import InvalidInputError
from engine.io.broker import EmbeddedBroker, find_tansu_binary, pick_free_port, wait_until_ready
from engine.io.errors import BusError

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_find_tansu_binary_is_executable() -> None:
    binary = find_tansu_binary()

    assert binary.name == "tansu"
    assert os.access(binary, os.X_OK)


def test_broker_starts_answers_and_stops() -> None:
    broker = EmbeddedBroker()

    with broker:
        pid = broker.pid
        port = int(broker.bootstrap_servers.rsplit(":", 1)[1])
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        topics = admin.list_topics()
        admin.close()
        assert broker.is_running()

    assert pid is not None
    assert isinstance(topics, list)
    assert broker.pid is None
    assert not broker.is_running()
    assert not accepts_connections(port)


def test_broker_uses_requested_port() -> None:
    port = pick_free_port()

    with EmbeddedBroker(port) as broker:
        assert broker.bootstrap_servers == f"127.0.0.1:{port}"
        assert accepts_connections(port)


def test_broker_port_in_use_raises() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        with pytest.raises(BusError, match=f"port {port} on 127.0.0.1 is already in use"):
            EmbeddedBroker(port).start()


def test_broker_invalid_port_raises() -> None:
    with pytest.raises(InvalidInputError, match=r"port must be in \[1, 65535\] or None to pick a free one; got 70000"):
        EmbeddedBroker(70000)


def test_broker_missing_binary_raises(tmp_path: Path) -> None:
    broker = EmbeddedBroker(binary=tmp_path / "no-such-tansu")

    with pytest.raises(BusError, match="cannot run the broker binary"):
        broker.start()
    assert not broker.is_running()


def test_bootstrap_servers_before_start_raises() -> None:
    with pytest.raises(BusError, match="has not been started"):
        EmbeddedBroker().bootstrap_servers


def test_wait_until_ready_times_out() -> None:
    port = pick_free_port()

    with pytest.raises(BusError, match=f"127.0.0.1:{port} did not respond to a metadata request within 0.3 s"):
        wait_until_ready(f"127.0.0.1:{port}", timeout_s=0.3)


def test_broker_cli_runs_until_sigterm() -> None:
    port = pick_free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine.io.broker", "--port", str(port)],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().decode().strip()
        serving = accepts_connections(port)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert first_line == f"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:{port}"
    assert serving
    assert process.returncode == 0, stderr.decode()
    assert "broker_stopped" in stderr.decode()
    assert not accepts_connections(port)
