"""`offerloop replay` against the test broker: its summary counts what it published."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.errors import InvalidInputError

pytestmark = pytest.mark.kafka


def test_replay_summary_counts_lines_left_for_dead_letter(tmp_path: Path, kafka_bootstrap_servers: str) -> None:
    topic = f"replay-test-{uuid.uuid4().hex[:8]}"
    events = tmp_path / "events.jsonl"
    events.write_text(
        '{"type":"login","event_id":"l1","customer_id":"alice","ts":"2026-12-01T10:00:00Z"}\n'
        "this line is not JSON\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(
        app, ["replay", str(events), "--topic", topic, "--bootstrap-servers", kafka_bootstrap_servers]
    )

    assert result.exit_code == 0, result.output
    assert f"published 2 lines to {topic}" in result.output
    assert "1 of them are not JSON objects with a customer_id" in result.output


def test_replay_missing_file_fails_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_connection(servers: str) -> None:
        raise AssertionError(f"replay connected to {servers} before checking its file")

    monkeypatch.setattr("engine.runtime.build_bus", no_connection)

    result = CliRunner().invoke(app, ["replay", str(tmp_path / "nofile.jsonl"), "--bootstrap-servers", "127.0.0.1:9"])

    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidInputError)
    assert "nofile.jsonl not found" in str(result.exception)
