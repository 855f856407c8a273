import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.dashboard import build_dashboard

STATEMENTS = Path(__file__).resolve().parents[1] / "data" / "statements"
FILES = sorted(
    path for path in STATEMENTS.rglob("*") if path.is_file() and path.parent.name in {"ofx", "camt053", "mt940", "csv"}
)


def test_fixture_files_present():
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_dashboard_for_every_statement(path):
    result = build_dashboard([path], seed=1)
    (imported,) = result.files
    assert imported.imported + len(imported.errors) == imported.source_count
    assert imported.imported > 0
    assert result.offers
    for offer in result.offers:
        assert offer["reason"].endswith(".")
        assert len(offer["reason"]) > 20
        assert offer["decisionId"] == result.decision_id


def test_same_file_twice_counts_once():
    path = STATEMENTS / "mt940" / "jejik-ing.sta"
    result = build_dashboard([path, path])
    first, second = result.files
    assert first.imported == first.source_count
    assert second.imported == 0
    assert second.duplicates == first.source_count


def test_malformed_row_reported_and_import_continues(tmp_path):
    source = (STATEMENTS / "csv" / "csv2ofx-default.csv").read_text().splitlines()
    broken = [source[0], source[1].replace("2015-02-08", "not-a-date", 1), *source[2:]]
    path = tmp_path / "broken.csv"
    path.write_text("\n".join(broken) + "\n")
    result = build_dashboard([path])
    (imported,) = result.files
    assert imported.errors
    assert imported.errors[0]["line"] == 2
    assert imported.imported == imported.source_count - 1


def test_cli_dashboard_json():
    path = STATEMENTS / "csv" / "bank2ynab-bunq.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "engine.cli", "dashboard", "--statement", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    data = json.loads(completed.stdout)
    assert data["files"][0]["imported"] == 7
    # Two of the five charges were refunded. The refunds lower spend and are not income.
    assert data["insights"]["spend_by_category_90d"]["subscriptions"] == pytest.approx(23.82)
    subscriptions = next(item for item in data["insights"]["items"] if item["category"] == "subscriptions")
    assert subscriptions["prediction"] == "23.82 EUR"
    assert all(offer["reason"] for offer in data["offers"])
