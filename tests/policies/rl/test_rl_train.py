from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from engine.cli_rl import train
from engine.errors import InvalidInputError
from engine.rl_train import ITERATION_FIELDS, POLICY_METADATA_FILE, TrainResult, train_policy

SMOKE = str(Path(__file__).resolve().parents[3] / "configs" / "train" / "smoke.yaml")


def _metrics(run: TrainResult) -> list[dict]:
    lines = (Path(run.output_dir) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.ray
def test_ppo_run_writes_metrics_and_checkpoint(ppo_run: TrainResult) -> None:
    rows = _metrics(ppo_run)
    assert [row["iteration"] for row in rows] == [1, 2]
    for row in rows:
        assert set(ITERATION_FIELDS) <= set(row)
        assert row["env_steps"] > 0
        assert "policy_loss" in row["learner"]
    assert rows[1]["env_steps"] > rows[0]["env_steps"]
    checkpoint = Path(ppo_run.checkpoint)
    assert checkpoint.name == "iter_000002"
    assert (checkpoint / "rllib_checkpoint.json").is_file()
    metadata = json.loads((checkpoint / POLICY_METADATA_FILE).read_text())
    assert metadata["algo"] == "PPO"
    assert len(metadata["offer_ids"]) == 21
    assert (Path(ppo_run.output_dir) / "latest_checkpoint.txt").read_text().strip() == str(checkpoint)


@pytest.mark.ray
def test_dqn_run_trains(dqn_run: TrainResult) -> None:
    rows = _metrics(dqn_run)
    assert len(rows) == 2
    assert "qf_loss" in rows[-1]["learner"]
    assert (Path(dqn_run.checkpoint) / POLICY_METADATA_FILE).is_file()


@pytest.mark.ray
def test_resume_continues_counting(ppo_run: TrainResult, smoke_config, tmp_path: Path) -> None:
    resumed = train_policy(
        smoke_config.model_copy(update={"iterations": 3}),
        "PPO",
        output_dir=tmp_path,
        resume=ppo_run.checkpoint,
        progress=False,
    )
    assert [metrics.iteration for metrics in resumed.iterations] == [3]
    assert resumed.iterations[0].env_steps > ppo_run.iterations[-1].env_steps
    assert Path(resumed.checkpoint).name == "iter_000003"


def test_resume_requires_checkpoint(smoke_config, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="--resume must be an RLlib checkpoint folder"):
        train_policy(smoke_config, "PPO", output_dir=tmp_path, resume=tmp_path)


@pytest.mark.ray
def test_train_command_prints_json(ray_session, tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(train)
    app.command("unused")(lambda: None)
    result = CliRunner().invoke(
        app, ["train", "--algo", "ppo", "--config", SMOKE, "--output", str(tmp_path), "--iterations", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["algo"] == "PPO"
    assert summary["iterations"] == 1
    assert Path(summary["checkpoint"]).is_dir()
