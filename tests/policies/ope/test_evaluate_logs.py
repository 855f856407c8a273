from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from engine.cli_rl import evaluate
from engine.config.rewards import RewardConfig
from engine.errors import InvalidInputError
from engine.evaluate import evaluate_logs
from engine.features import FeatureEncoder
from engine.ope_logs import LoggedDecision, read_decision_logs, rescore_rewards, to_bandit_feedback, write_decision_logs
from policies.ope import OPEWarning


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(evaluate)
    app.command("unused")(lambda: None)
    return app


def test_logs_round_trip(random_logs: list[LoggedDecision], tmp_path: Path) -> None:
    path = write_decision_logs(tmp_path / "logs.jsonl", random_logs[:20])
    back = read_decision_logs(path)
    assert [entry.decision.decision_id for entry in back] == [entry.decision.decision_id for entry in random_logs[:20]]
    assert back[3].feedback == random_logs[3].feedback
    assert back[3].rewards == random_logs[3].rewards


def test_every_shown_offer_has_reward_and_feedback(random_logs: list[LoggedDecision]) -> None:
    for entry in random_logs:
        shown = {offer.offer_id for offer in entry.decision.shown}
        assert set(entry.rewards) == shown
        assert set(entry.feedback) == shown
        assert entry.segment
        assert entry.offer_history is not None


def test_rescoring_with_logged_config_reproduces_rewards(random_logs, shipped_catalog, shipped_rewards) -> None:
    values = {offer.id: offer.business_value for offer in shipped_catalog.offers}
    for entry in random_logs[:200]:
        shown = [offer.offer_id for offer in entry.decision.shown]
        assert rescore_rewards(entry.feedback, shown, shipped_rewards, values) == pytest.approx(entry.rewards)


def test_rescoring_applies_windows_and_terminal_types(shipped_rewards) -> None:
    feedback = {"card": (("impression", 1.0), ("click", 30.0), ("reject", 40.0), ("accept", 50.0))}
    rewards = rescore_rewards(feedback, ["card"], shipped_rewards, {"card": 2.0})
    assert rewards["card"] == pytest.approx(0.1 * 2.0)
    windows = {name: f"{int(window.total_seconds())}s" for name, window in shipped_rewards.attribution_window.items()}
    short = RewardConfig.model_validate(
        {**shipped_rewards.model_dump(), "attribution_window": {**windows, "click": "10s"}}
    )
    # The click falls outside its 10 s window; the reject settles the offer: max(impression 0, reject -0.05) = 0.
    assert rescore_rewards(feedback, ["card"], short, {"card": 2.0})["card"] == 0.0


def test_feedback_arrays_use_first_position(random_logs, shipped_catalog) -> None:
    feedback = to_bandit_feedback(random_logs, shipped_catalog, FeatureEncoder.from_names("default"))
    assert feedback.n_events + feedback.skipped == len(random_logs)
    assert np.all(feedback.logging_dist[np.arange(feedback.n_events), feedback.action] == pytest.approx(feedback.pscore))
    np.testing.assert_allclose(feedback.logging_dist.sum(axis=1), 1.0)
    assert feedback.oracle is not None
    assert feedback.history is not None
    assert (np.diff(feedback.timestamps) >= 0).all()


def test_candidate_estimates_bracket_true_value(random_logs, shipped_catalog, shipped_rewards) -> None:
    report = evaluate_logs(random_logs, catalog=shipped_catalog, reward_config=shipped_rewards, policy="lints")
    overall = report.segments["all"]
    assert overall.true_value is not None
    assert overall.estimates["dr"].ci_low <= overall.true_value <= overall.estimates["dr"].ci_high
    assert set(overall.estimates) == {"ips", "snips", "dm", "dr"}
    assert report.logging_policies == ["random"]
    assert len(report.segments) > 1


def test_random_candidate_matches_logged_value(random_logs, shipped_catalog, shipped_rewards) -> None:
    report = evaluate_logs(random_logs, catalog=shipped_catalog, reward_config=shipped_rewards, policy="random")
    overall = report.segments["all"]
    assert overall.estimates["ips"].value == pytest.approx(overall.logged.value, rel=1e-9)


def test_what_if_rescoring_raises_click_value(random_logs, shipped_catalog, shipped_rewards) -> None:
    generous = shipped_rewards.model_copy(update={"weights": {**shipped_rewards.weights, "click": 0.5}})
    report = evaluate_logs(random_logs, catalog=shipped_catalog, reward_config=generous, what_if=True)
    overall = report.segments["all"]
    assert overall.logged_original is not None
    assert overall.logged.value > overall.logged_original.value
    assert overall.estimates == {}


def test_evaluate_command_json_and_plot(random_logs_path: Path, tmp_path: Path) -> None:
    plot = tmp_path / "estimates.png"
    result = CliRunner().invoke(
        _app(), ["evaluate", "--logs", str(random_logs_path), "--policy", "linucb", "--plot", str(plot), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["policy"] == "linucb"
    assert set(report["segments"]["all"]["estimates"]) == {"ips", "snips", "dm", "dr"}
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_command_table(random_logs_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["evaluate", "--logs", str(random_logs_path), "--rewards", "configs/rewards.yaml", "--plot", str(tmp_path / "p.png")],
    )
    assert result.exit_code == 0, result.output
    assert "as logged" in result.output
    assert "plot:" in result.output


def test_evaluate_command_needs_logs() -> None:
    result = CliRunner().invoke(_app(), ["evaluate", "--policy", "lints"])
    assert isinstance(result.exception, InvalidInputError)
    assert "--logs is required" in str(result.exception)


def test_invalid_log_line_names_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"decision": {"decision_id": "d1"}}\n')
    with pytest.raises(InvalidInputError, match="line 1 is not a logged decision"):
        read_decision_logs(path)


def test_greedy_candidate_on_thin_logs_warns(random_logs, shipped_catalog, shipped_rewards) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_logs(random_logs[:120], catalog=shipped_catalog, reward_config=shipped_rewards, policy="linucb")
    assert any(issubclass(item.category, OPEWarning) for item in caught)


def test_logs_command_writes_evaluable_log(tmp_path: Path) -> None:
    from engine.cli import app

    path = tmp_path / "logged.jsonl"
    written = CliRunner().invoke(
        app, ["logs", "--out", str(path), "--decisions", "120", "--customers", "60", "--seed", "3"]
    )
    assert written.exit_code == 0, written.output
    assert f"wrote 120 decisions logged by random to {path}" in written.output

    logged = read_decision_logs(path)
    assert len(logged) == 120
    assert {item.decision.policy_id for item in logged} == {"random"}

    evaluated = CliRunner().invoke(
        app, ["evaluate", "--logs", str(path), "--policy", "linucb", "--plot", str(tmp_path / "p.png"), "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["n_events"] == 120


def test_feedback_arrays_carry_feedback_types(random_logs, shipped_catalog) -> None:
    feedback = to_bandit_feedback(random_logs, shipped_catalog, FeatureEncoder.from_names("default"))
    shown_offers = [entry for decision in feedback.shown_rewards for entry in decision]
    kinds = {kind for _, _, types in shown_offers for kind in types}
    assert "impression" in kinds
    assert "click" in kinds
    # An accepted offer's entry has its accept among its types and the accept reward.
    accepted = [(reward, types) for _, reward, types in shown_offers if "accept" in types]
    assert accepted
    assert all(reward > 0 for reward, _ in accepted)


def test_funnel_candidate_learns_from_logged_feedback(random_logs, shipped_catalog, shipped_rewards) -> None:
    from engine.config.loader import load_policy_config
    from engine.evaluate import candidate_action_dist, resolve_candidate

    funnel = load_policy_config("lints").model_copy(update={"id": "lints-funnel-test", "model": "funnel"})
    candidate = resolve_candidate(funnel)
    with_types, _ = candidate_action_dist(candidate, random_logs, shipped_catalog, shipped_rewards, what_if=False)
    # The same logs and rewards without the feedback types: the engagement model learns nothing.
    stripped = [entry.model_copy(update={"feedback": {}}) for entry in random_logs]
    without_types, _ = candidate_action_dist(candidate, stripped, shipped_catalog, shipped_rewards, what_if=False)
    np.testing.assert_allclose(with_types.sum(axis=1), 1.0)
    assert not np.allclose(with_types, without_types)
