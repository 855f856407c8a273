"""Commands ``offerloop train`` and ``offerloop evaluate``: plain typed functions for engine.cli to register.

Registration in ``engine/cli.py``::

    from engine.cli_rl import evaluate, train

    app.command()(train)
    app.command()(evaluate)
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.errors import InvalidInputError

__all__ = ["train", "evaluate"]

logger = logging.getLogger(__name__)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def train(
    algo: Annotated[str, typer.Option("--algo", help="Algorithm: PPO or DQN.")],
    config: Annotated[Path, typer.Option("--config", help="Training YAML, e.g. configs/train/ppo.yaml.")],
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (ray://host:10001 or host:6379); default: a local instance on 127.0.0.1.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Algorithm checkpoint folder to continue from.")] = None,
    output: Annotated[Optional[Path], typer.Option(help="Folder for metrics.jsonl and checkpoints; default <output_dir>/<algo> of the config.")] = None,
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Total training iterations, overriding the config's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Train a PPO or DQN policy on the customer-journey simulator with RLlib; write metrics and checkpoints."""
    _setup_logging(verbose)
    from engine.rl_config import load_train_config
    from engine.rl_train import train_policy

    train_config = load_train_config(config)
    if iterations is not None:
        train_config = train_config.model_copy(update={"iterations": iterations})
    result = train_policy(
        train_config,
        algo,
        output_dir=output,
        resume=resume,
        address=address,
        progress=sys.stderr.isatty(),
        on_iteration=None if as_json else _print_iteration,
    )
    summary = {
        "algo": result.algo,
        "iterations": result.iterations[-1].iteration if result.iterations else None,
        "env_steps": result.iterations[-1].env_steps if result.iterations else None,
        "final_episode_return_mean": result.final_return,
        "seconds": round(result.seconds, 1),
        "checkpoint": result.checkpoint,
        "metrics": str(Path(result.output_dir) / "metrics.jsonl"),
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(
        f"trained {summary['algo']} for {summary['iterations']} iterations, {summary['env_steps']} env steps, "
        f"{summary['seconds']} s; last mean return {summary['final_episode_return_mean']}"
    )
    typer.echo(f"checkpoint: {summary['checkpoint']}")
    typer.echo(f"metrics: {summary['metrics']}")


def _print_iteration(metrics: object) -> None:
    from engine.rl_train import IterationMetrics

    assert isinstance(metrics, IterationMetrics)
    mean = f"{metrics.episode_return_mean:.3f}" if metrics.episode_return_mean is not None else "-"
    typer.echo(
        f"iter {metrics.iteration:>5}  env steps {metrics.env_steps:>9}  episodes {metrics.episodes:>7}  "
        f"return {mean:>9}  {metrics.time_this_iter_s:.1f} s",
        err=True,
    )


def evaluate(
    logs: Annotated[Optional[Path], typer.Option("--logs", help="Decision log, JSON lines (format: engine/ope_logs.py).")] = None,
    policy: Annotated[Optional[str], typer.Option("--policy", help="Candidate policy: name, YAML, RLlib checkpoint folder or snapshot file.")] = None,
    rewards: Annotated[Optional[Path], typer.Option("--rewards", help="Candidate reward config YAML: re-score the logged traffic under it (what-if).")] = None,
    catalog: Annotated[Optional[Path], typer.Option(help="Offer catalog YAML of the logs (default configs/offers.yaml).")] = None,
    obd: Annotated[Optional[Path], typer.Option("--obd", help="Open Bandit Dataset folder: estimate BTS's click rate from the random logs instead.")] = None,
    campaign: Annotated[str, typer.Option(help="OBD campaign with --obd: all, men or women.")] = "men",
    plot: Annotated[Path, typer.Option(help="Where to save the estimates plot (PNG).")] = Path("out/evaluate.png"),
    seed: Annotated[int, typer.Option(help="Seed of the candidate's draws and of the cross-fitting folds.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Estimate off-policy how a candidate policy or reward config would have done on logged decisions."""
    _setup_logging(verbose)
    if obd is not None:
        _evaluate_obd(obd, campaign, seed, as_json)
        return
    if logs is None:
        raise InvalidInputError("--logs is required unless --obd is given; write a decision log with `offerloop logs --out FILE`")
    if policy is None and rewards is None:
        raise InvalidInputError("pass --policy (a candidate policy), --rewards (a candidate reward config) or both")
    from engine.config.loader import load_catalog, load_reward_config
    from engine.evaluate import evaluate_logs
    from engine.ope_logs import read_decision_logs

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate_logs(
            read_decision_logs(logs),
            catalog=load_catalog(catalog),
            reward_config=load_reward_config(rewards),
            policy=policy,
            what_if=rewards is not None,
            reward_label=str(rewards) if rewards is not None else "logged",
            seed=seed,
            plot_path=plot,
        )
    for warning in caught:
        typer.echo(f"warning ({warning.category.__name__}): {warning.message}", err=True)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    typer.echo(
        f"{report.n_events} decisions ({report.skipped} skipped), logged by {', '.join(report.logging_policies)}; "
        f"policy {report.policy or '-'}; rewards {report.reward_config}"
    )
    typer.echo(f"{'segment':<20}{'n':>6}{'logged':>10}{'as logged':>11}  estimates (95% CI)")
    for segment in report.segments.values():
        original = f"{segment.logged_original.value:.4f}" if segment.logged_original else "-"
        parts = [f"{name} {e.value:.4f} [{e.ci_low:.4f}, {e.ci_high:.4f}]" for name, e in segment.estimates.items()]
        truth = f"  true {segment.true_value:.4f}" if segment.true_value is not None else ""
        typer.echo(f"{segment.segment:<20}{segment.n_events:>6}{segment.logged.value:>10.4f}{original:>11}  {'; '.join(parts)}{truth}")
    typer.echo(f"plot: {report.plot}")


def logs(
    out: Annotated[Path, typer.Option("--out", help="Where to write the decision log (JSON lines).")],
    policy: Annotated[str, typer.Option("--policy", help="Logging policy: name or YAML. A policy that explores (random, lints) gives the evaluation overlap.")] = "random",
    decisions: Annotated[int, typer.Option(min=1, help="Decisions to log.")] = 5000,
    customers: Annotated[int, typer.Option(min=1, help="Customers in the synthetic population.")] = 500,
    slate_size: Annotated[int, typer.Option(min=1, max=20, help="Offers per decision.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic bank and of the policy's draws.")] = 0,
    catalog: Annotated[Optional[Path], typer.Option(help="Offer catalog YAML (default configs/offers.yaml).")] = None,
    rewards: Annotated[Optional[Path], typer.Option(help="Reward config YAML the logged rewards are settled with (default configs/rewards.yaml).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Write a decision log from the synthetic bank, for `offerloop evaluate --logs`.

    Each record contains the decision with its exact propensities, the feedback and settled
    rewards, and the simulator's true expected rewards, so evaluate can print how close
    each estimate came.
    """
    _setup_logging(verbose)
    from engine.config.loader import load_catalog, load_reward_config
    from engine.log_simulation import simulate_decision_logs
    from engine.ope_logs import write_decision_logs

    logged = simulate_decision_logs(
        policy,
        catalog=load_catalog(catalog),
        reward_config=load_reward_config(rewards),
        decisions=decisions,
        seed=seed,
        customers=customers,
        slate_size=slate_size,
        progress=True,
    )
    path = write_decision_logs(out, logged)
    typer.echo(f"wrote {len(logged)} decisions logged by {policy} to {path}")


def _evaluate_obd(directory: Path, campaign: str, seed: int, as_json: bool) -> None:
    from engine.obd import evaluate_obd

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = evaluate_obd(directory, campaign=campaign, seed=seed)
    for warning in caught:
        typer.echo(f"warning ({warning.category.__name__}): {warning.message}", err=True)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    truth = report.ground_truth
    typer.echo(
        f"OBD {campaign}: BTS click rate observed {truth.value:.5f} [{truth.ci_low:.5f}, {truth.ci_high:.5f}] "
        f"on {report.n_bts} impressions; estimated from {report.n_random} random-policy impressions:"
    )
    for name, estimate in report.estimates.items():
        typer.echo(
            f"  {name:<6}{estimate.value:.5f} [{estimate.ci_low:.5f}, {estimate.ci_high:.5f}]  "
            f"relative error {report.relative_errors[name]:.1%}"
        )
