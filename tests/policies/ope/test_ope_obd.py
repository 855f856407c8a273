"""The estimators on real logs: the Open Bandit Dataset sample in tests/data/obd (Apache-2.0)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from engine.cli_rl import evaluate
from engine.errors import InvalidInputError
from engine.obd import OBD_DIR_ENV, default_obd_dir, evaluate_obd, read_obd_logs

OBD_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "obd"


@pytest.fixture(scope="module")
def obd_report():
    return evaluate_obd(OBD_SAMPLE, campaign="men")


def test_ground_truth_is_bts_click_rate(obd_report) -> None:
    bts = read_obd_logs(OBD_SAMPLE, "bts", "men")
    assert obd_report.ground_truth.value == pytest.approx(bts.click.mean())
    assert obd_report.n_random == 10_000
    assert obd_report.n_bts == 10_000


def test_estimates_land_near_observed_click_rate(obd_report) -> None:
    truth = obd_report.ground_truth.value
    for name, estimate in obd_report.estimates.items():
        assert obd_report.relative_errors[name] == pytest.approx(abs(estimate.value - truth) / truth)
        assert obd_report.relative_errors[name] < 0.35, name
    # The DM interval ignores the reward model's error (see estimate_dm), so only these three must cover.
    for name in ("ips", "snips", "dr"):
        estimate = obd_report.estimates[name]
        assert estimate.ci_low <= truth <= estimate.ci_high, name


def test_random_logs_are_uniform() -> None:
    random_logs = read_obd_logs(OBD_SAMPLE, "random", "men")
    np.testing.assert_allclose(random_logs.pscore, 1.0 / random_logs.n_items)


def test_evaluate_command_prints_relative_errors() -> None:
    app = typer.Typer()
    app.command()(evaluate)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(app, ["evaluate", "--obd", str(OBD_SAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["relative_errors"]) == {"ips", "snips", "dm", "dr"}
    assert all(0.0 <= value < 1.0 for value in report["relative_errors"].values())


def test_obd_dir_comes_from_environment(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(OBD_DIR_ENV, str(tmp_path))
    assert default_obd_dir() == tmp_path
    monkeypatch.delenv(OBD_DIR_ENV)
    assert default_obd_dir() == OBD_SAMPLE


def test_missing_obd_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no OBD log at .*random/men/men.csv"):
        evaluate_obd(tmp_path, campaign="men")
