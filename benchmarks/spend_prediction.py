"""Backtest the daily spend prediction against the naive baseline on statements and on the simulator.

For every local day that has the same weekday a week earlier in the customer's history,
the model predicts the day's spend from the events before it, and the baseline predicts
the spend of the same weekday last week (engine.insights.backtest). The script prints
the mean absolute error of both, per data source, and the share of days inside the
model's 80 % interval.

Usage:

    python benchmarks/spend_prediction.py --customers 300 --days 120 --seed 31

The statement source is every file under tests/data/statements, each file one customer
with days in UTC. The simulator source is ``--customers`` simulated customers with
``--days`` days of history each, with days in each customer's own time zone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from engine.insights.backtest import BacktestResult, backtest_simulator, backtest_statements

STATEMENTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "statements"


def statement_files() -> list[Path]:
    """Return the statement fixtures in every supported format."""
    return sorted(
        path for path in STATEMENTS.rglob("*") if path.is_file() and path.parent.name in {"ofx", "camt053", "mt940", "csv"}
    )


def row(result: BacktestResult, seconds: float) -> str:
    return (
        f"{result.source:<12}{result.units:>7}{result.days:>8}{result.model_mae:>12.2f}{result.baseline_mae:>14.2f}"
        f"{result.improvement:>9.1%}{result.interval_coverage:>11.1%}{seconds:>9.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300, help="simulated customers (default 300)")
    parser.add_argument("--days", type=int, default=120, help="days of history per simulated customer (default 120)")
    parser.add_argument("--seed", type=int, default=31, help="seed of the simulated population (default 31)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    statements = backtest_statements(statement_files())
    statement_seconds = time.perf_counter() - started
    started = time.perf_counter()
    simulator = backtest_simulator(args.customers, days=args.days, seed=args.seed)
    simulator_seconds = time.perf_counter() - started

    if args.json:
        print(
            json.dumps(
                {
                    result.source: {
                        "units": result.units,
                        "days": result.days,
                        "model_mae": result.model_mae,
                        "baseline_mae": result.baseline_mae,
                        "interval_coverage": result.interval_coverage,
                    }
                    for result in (statements, simulator)
                },
                indent=2,
            )
        )
    else:
        print(f"spend prediction backtest: simulator {args.customers} customers x {args.days} days, seed {args.seed}")
        print(f"{'source':<12}{'units':>7}{'days':>8}{'model MAE':>12}{'baseline MAE':>14}{'better':>9}{'in 80 %':>11}{'seconds':>9}")
        print(row(statements, statement_seconds))
        print(row(simulator, simulator_seconds))
    beaten = all(result.model_mae < result.baseline_mae for result in (statements, simulator))
    return 0 if beaten else 1


if __name__ == "__main__":
    sys.exit(main())
