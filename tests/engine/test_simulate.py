import json
import subprocess
import sys

import pytest

from engine.config import load_catalog, load_reward_config
from engine.simulate import run_simulation, simulate_policy


def test_same_seed_same_result():
    catalog, rewards = load_catalog(), load_reward_config()
    first = simulate_policy("lints", catalog=catalog, reward_config=rewards, decisions=300, seed=5, customers=80, progress=False)
    second = simulate_policy("lints", catalog=catalog, reward_config=rewards, decisions=300, seed=5, customers=80, progress=False)
    other = simulate_policy("lints", catalog=catalog, reward_config=rewards, decisions=300, seed=6, customers=80, progress=False)
    assert first.cumulative_reward == second.cumulative_reward
    assert first.accept_rate == second.accept_rate
    assert first.cumulative_reward != other.cumulative_reward


def test_report_has_baselines_and_plot(tmp_path):
    report = run_simulation(["lints"], decisions=300, seed=1, customers=80, plot_path=tmp_path / "plot.png", progress=False)
    names = [result.policy for result in report.results]
    assert names == ["lints", "random", "static", "oracle"]
    by_name = {result.policy: result for result in report.results}
    assert by_name["oracle"].share_of_oracle == pytest.approx(1.0)
    assert by_name["random"].ratio_to_random == pytest.approx(1.0)
    assert by_name["oracle"].mean_reward > by_name["random"].mean_reward
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_cli_simulate_json(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "engine.cli", "simulate", "--policy", "lints", "--decisions", "200", "--customers", "60",
         "--seed", "2", "--json", "--plot", str(tmp_path / "s.png")],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    data = json.loads(completed.stdout)
    assert set(data["policies"]) == {"lints", "random", "static", "oracle"}
    for figures in data["policies"].values():
        assert {"mean_reward", "accept_rate", "share_of_oracle"} <= set(figures)
    assert data["decisions"] == 200


def test_bad_policy_config_fails_before_simulating(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nalgorithm: lints\nfeatures: [has_salary:linear]\n")
    calls = []
    monkeypatch.setattr("engine.simulate.simulate_policy", lambda name, **_: calls.append(name))
    from engine.errors import ConfigError

    with pytest.raises(ConfigError, match="has_salary:linear"):
        run_simulation(["lints", str(bad)], decisions=100, seed=1, customers=50, progress=False, workers=2)
    assert calls == []


def test_quiet_run_logs_progress_tenths(caplog):
    catalog, rewards = load_catalog(), load_reward_config()
    with caplog.at_level("INFO", logger="engine.simulate"):
        simulate_policy("random", catalog=catalog, reward_config=rewards, decisions=50, seed=1, customers=30, progress=False)
    lines = [record.getMessage() for record in caplog.records if record.name == "engine.simulate"]
    assert len(lines) == 10
    assert lines[0] == "simulate random: 5 of 50 decisions"
    assert lines[-1] == "simulate random: 50 of 50 decisions"


def test_policy_path_labelled_by_id(tmp_path):
    from engine.config.loader import CONFIG_DIR

    path = tmp_path / "mine.yaml"
    path.write_text((CONFIG_DIR / "policies" / "lints.yaml").read_text().replace("id: lints\n", "id: my-lints\n"))
    report = run_simulation([str(path)], decisions=40, customers=30, seed=2, progress=False)
    assert set(report.to_dict()["policies"]) == {"my-lints", "random", "static", "oracle"}


def test_funnel_settings_other_than_defaults_run(tmp_path):
    from engine.config.loader import CONFIG_DIR

    text = (CONFIG_DIR / "policies" / "lints.yaml").read_text().replace("id: lints\n", "id: strong-prior\n")
    text = text.replace("prior_strength: 300", "prior_strength: 30").replace("{click: 1.0, reject: -1.0}", "{click: 1.0, reject: -0.5}")
    path = tmp_path / "strong.yaml"
    path.write_text(text)
    result = simulate_policy(str(path), catalog=load_catalog(), reward_config=load_reward_config(), decisions=60, seed=3, customers=30, progress=False)
    assert result.policy == "strong-prior"
    assert result.decisions == 60


def test_duplicate_policy_ids_rejected(tmp_path):
    from engine.config.loader import CONFIG_DIR
    from engine.errors import ConfigError

    path = tmp_path / "copy.yaml"
    path.write_text((CONFIG_DIR / "policies" / "lints.yaml").read_text())
    with pytest.raises(ConfigError, match=r"both have id 'lints'; give each compared policy its own id"):
        run_simulation(["lints", str(path)], decisions=10, customers=10, progress=False)
