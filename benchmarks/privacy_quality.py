"""Quality of the DP propensity model against its privacy budget, centralised and federated.

Trains the model of policies/dp_propensity.py on UCI Bank Marketing (``bank-full.csv``)
and on the synthetic bank's logs, at epsilon 1, 3 and 8 (delta from configs/privacy.yaml)
and without privacy. Each setting runs once on all training rows and once federated
across silos (engine/federated.py): UCI rows by random branch, simulator rows by home
region. Reports test AUC and log-loss, the epsilon each run actually spent, and a
constant predictor's log-loss for reference. Writes a Markdown table, a JSON file and a
PNG plot.

Usage::

    OFFERLOOP_BANK_MARKETING_CSV=path/to/bank-full.csv python benchmarks/privacy_quality.py

Ray starts locally on 127.0.0.1 with ``--cpus`` CPUs. The split is a seeded random 80/20
split stratified by label; UCI rows are in time order and the acceptance rate drifts
from 7% to 32% over time, so a time split would measure that drift, not privacy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.federated import train_federated
from policies.dp_propensity import (
    PrivacyConfig,
    PropensityDataset,
    load_bank_marketing,
    load_privacy_config,
    simulator_logs,
    train_dp_propensity,
)

EPSILONS: tuple[float | None, ...] = (1.0, 3.0, 8.0, None)


def _config(base: PrivacyConfig, epsilon: float | None, **changes: Any) -> PrivacyConfig:
    data = base.model_dump()
    data.update(changes)
    if epsilon is None:
        data.update(enabled=False)
    else:
        data.update(enabled=True, target_epsilon=epsilon, noise_multiplier=None)
    return PrivacyConfig.model_validate(data)


def _constant_log_loss(train: PropensityDataset, test: PropensityDataset) -> float:
    rate = float(np.clip(train.label.mean(), 1e-7, 1 - 1e-7))
    labels = test.label
    return float(-np.mean(labels * math.log(rate) + (1 - labels) * math.log(1 - rate)))


def run(
    datasets: dict[str, PropensityDataset], base: PrivacyConfig, *, cpus: int, sim_overrides: dict[str, Any]
) -> list[dict[str, Any]]:
    """Train every (dataset, setting, epsilon) combination and return one row per run."""
    # Ray reads this when it is first imported; with it, Ray keeps its listeners on 127.0.0.1.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False, _node_ip_address="127.0.0.1")
    rows: list[dict[str, Any]] = []
    try:
        for name, data in datasets.items():
            train, test = data.split(0.2, seed=base.seed)
            silos = train.by_group()
            constant = _constant_log_loss(train, test)
            overrides = sim_overrides if name == "synthetic-bank" else {}
            for epsilon in EPSILONS:
                config = _config(base, epsilon, **overrides)
                for setting in ("centralised", "federated"):
                    started = time.perf_counter()
                    if setting == "centralised":
                        model = train_dp_propensity(train, config, test=test)
                        spent = model.card.epsilon
                    else:
                        result = train_federated(silos, config, test=test)
                        model, spent = result.model, result.epsilon
                    rows.append(
                        {
                            "dataset": name,
                            "setting": setting,
                            "silos": len(silos) if setting == "federated" else 1,
                            "target_epsilon": epsilon,
                            "epsilon_spent": spent,
                            "delta": config.delta if epsilon is not None else None,
                            "noise_multiplier": model.card.noise_multiplier,
                            "auc": model.card.metrics["auc"],
                            "log_loss": model.card.metrics["log_loss"],
                            "constant_log_loss": constant,
                            "n_train": len(train),
                            "n_test": len(test),
                            "seconds": time.perf_counter() - started,
                        }
                    )
                    print(_format_row(rows[-1]), file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
    return rows


def _format_row(row: dict[str, Any]) -> str:
    target = "none" if row["target_epsilon"] is None else f"{row['target_epsilon']:g}"
    spent = "-" if row["epsilon_spent"] is None else f"{row['epsilon_spent']:.2f}"
    return (
        f"| {row['dataset']} | {row['setting']} | {target} | {spent} | {row['auc']:.4f} | {row['log_loss']:.4f} "
        f"| {row['constant_log_loss']:.4f} | {row['seconds']:.0f} |"
    )


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Return the results as a Markdown table."""
    header = (
        "| dataset | setting | target epsilon | epsilon spent | AUC | log-loss | constant log-loss | seconds |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([header, *(_format_row(row) for row in rows)])


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Save AUC and log-loss against epsilon, one line per dataset and setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["1", "3", "8", "no privacy"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for (dataset, setting) in sorted({(row["dataset"], row["setting"]) for row in rows}):
        chosen = [row for row in rows if row["dataset"] == dataset and row["setting"] == setting]
        style = "-o" if setting == "centralised" else "--s"
        for axis, metric in zip(axes, ("auc", "log_loss")):
            axis.plot(range(len(chosen)), [row[metric] for row in chosen], style, label=f"{dataset}, {setting}")
    for axis, title in zip(axes, ("test AUC (higher is better)", "test log-loss (lower is better)")):
        axis.set_xticks(range(len(labels)), labels)
        axis.set_xlabel("epsilon (delta from configs/privacy.yaml)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bank-csv", type=Path, default=None, help="bank-full.csv (default: $OFFERLOOP_BANK_MARKETING_CSV).")
    parser.add_argument("--sim-rows", type=int, default=20_000, help="Rows of synthetic-bank logs.")
    parser.add_argument("--sim-customers", type=int, default=2_000, help="Customers in the synthetic bank.")
    parser.add_argument("--config", type=Path, default=None, help="Privacy config YAML (default configs/privacy.yaml).")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray instance.")
    parser.add_argument("--out", type=Path, default=Path("out/privacy_quality"), help="Output path without suffix.")
    args = parser.parse_args(argv)

    base = load_privacy_config(args.config)
    datasets = {"uci-bank-marketing": load_bank_marketing(args.bank_csv, seed=base.seed)}
    started = time.perf_counter()
    datasets["synthetic-bank"] = simulator_logs(args.sim_rows, seed=base.seed, n_customers=args.sim_customers)
    print(f"simulated {args.sim_rows} logged offers in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # The simulator logs have 16,000 training rows against 36,000 for UCI: smaller batches
    # keep the number of steps, and delta stays below 1 / n.
    rows = run(datasets, base, cpus=args.cpus, sim_overrides={"batch_size": 256})
    table = markdown_table(rows)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out.with_suffix('.md')}, .json and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
